#!/usr/bin/env bash
# Builds the Pulumi CLI, a Python language host and the YAML language host from the Go
# module proxy, for machines that cannot download Pulumi's release archives. Users install
# the CLI the normal way (https://www.pulumi.com/docs/iac/download-install/); this is
# `make pulumi-cli`.
#
#   tools/pulumi-cli/build.sh            build into .tools/pulumi/bin (or reuse it)
#   PULUMI_CLI_DIR=DIR build.sh          build into DIR/bin instead
#   PULUMI_CLI_BUILD=always build.sh     build even when a `pulumi` is already on PATH
#
# Versions come from this folder's go.mod (github.com/pulumi/pulumi/pkg/v3 and
# github.com/pulumi/pulumi-yaml). The build is
# cached: when the binaries exist and nothing they are built from has changed, it takes
# well under a second; Go's own module and build caches make a rebuild faster too.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dest="${PULUMI_CLI_DIR:-$repo/.tools/pulumi}"
bin="$dest/bin"

existing="$(command -v pulumi || true)"
if [ -n "$existing" ] && [ "$(cd "$(dirname "$existing")" && pwd)" != "$bin" ] \
    && [ "${PULUMI_CLI_BUILD:-}" != "always" ]; then
    echo "Using the pulumi already on PATH: $existing ($("$existing" version))"
    exit 0
fi

if ! command -v go >/dev/null; then
    echo "error: building the Pulumi CLI needs Go (1.26 or newer) on PATH" >&2
    exit 1
fi

required() {
    awk -v module="$1" '{ if ($1 == "require") $1 = ""; $0 = $0 } $1 == module {print $2}' "$here/go.mod"
}
version="$(required github.com/pulumi/pulumi/pkg/v3)"
yaml_version="$(required github.com/pulumi/pulumi-yaml)"
if [ -z "$version" ] || [ -z "$yaml_version" ]; then
    echo "error: $here/go.mod must require github.com/pulumi/pulumi/pkg/v3 and github.com/pulumi/pulumi-yaml" >&2
    exit 1
fi

# Everything the binaries are built from; a change to any of them rebuilds.
stamp="$bin/.built-from"
inputs="$(cd "$here" && cat go.mod go.sum tools.go pulumi-language-python/*.go shims/* | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] \
    && [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-python" ] \
    && [ -x "$bin/pulumi-language-yaml" ]; then
    echo "Pulumi CLI $version is up to date in $bin"
    exit 0
fi

echo "Building the Pulumi CLI $version, pulumi-language-python and pulumi-language-yaml $yaml_version into $bin (the first build downloads about 1.4 GB of Go modules and takes about 5 minutes on 2 cores)"
mkdir -p "$bin"
rm -f "$stamp"
start=$SECONDS
(
    cd "$here"
    # -mod=readonly: build exactly what go.mod and go.sum pin.
    go build -mod=readonly -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version -X main.version=${version#v} -X github.com/pulumi/pulumi-yaml/pkg/version.Version=$yaml_version" \
        -o "$bin/" \
        github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ./pulumi-language-python \
        github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
)
# The launchers the Python runtime needs beside the binaries (our own, see shims/).
cp "$here"/shims/* "$bin/"
chmod +x "$bin/pulumi-resource-pulumi-python" "$bin/pulumi-analyzer-policy-python"
echo "$inputs" > "$stamp"
echo "Built in $((SECONDS - start)) s: $(du -sh "$bin" | cut -f1) in $bin"
"$bin/pulumi" version
