"""Installing the stand-in as the `aws` resource plugin of a test-only PULUMI_HOME.

The engine looks for the plugin the pulumi_aws SDK asks for (its pulumi-plugin.json names
`aws` and an exact version) in `$PULUMI_HOME/plugins/resource-aws-v<version>/` and runs the
executable `pulumi-resource-aws` in it (sdk/go/common/workspace/plugins.go). A directory
counts as installed when no `resource-aws-v<version>.partial` file sits next to it; the
engine's own installs (pkg/util/atomicinstall) hold an exclusive flock on the
`.lock` file beside it, create the `.partial` marker, fill the directory and remove the
marker. `install` follows the same protocol, so it can share a PULUMI_HOME with a running
engine or with another test process installing at the same time.

Nothing else is needed: no PulumiPlugin.yaml (that is only for plugins that are not
executables), no registry entry. A `pulumi-resource-aws` on PATH would win over the cache,
so the engine tests keep such a thing off their PATH.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.util
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_NAME = "aws"
EXECUTABLE = f"pulumi-resource-{PLUGIN_NAME}"


@functools.cache
def plugin_version() -> str:
    """The exact `aws` plugin version the installed pulumi_aws SDK requests."""
    spec = importlib.util.find_spec("pulumi_aws")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pulumi_aws is not installed")
    manifest = Path(next(iter(spec.submodule_search_locations))) / "pulumi-plugin.json"
    document = json.loads(manifest.read_text())
    if document.get("name") != PLUGIN_NAME or not document.get("version"):
        raise RuntimeError(f"{manifest} does not name an `{PLUGIN_NAME}` plugin version")
    return str(document["version"])


def _launcher(python: str) -> str:
    root = shlex.quote(str(REPO_ROOT))
    return (
        "#!/bin/sh\n"
        "# The rft-env engine tests' stand-in for the pulumi-aws plugin (tests/standin_aws).\n"
        "# It never talks to AWS. Written by tests.standin_aws.install.\n"
        f'PYTHONPATH={root}"${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        "export PYTHONPATH\n"
        # -P: no working directory on sys.path, where a project's own `tests` package
        # could shadow this one; -u: the port line must not wait in a buffer.
        f'exec {shlex.quote(python)} -P -u -m tests.standin_aws "$@"\n'
    )


def install(pulumi_home: Path, python: str | None = None) -> Path:
    """Installs the stand-in into `pulumi_home` (never the user's ~/.pulumi) and returns the
    launcher. The launcher runs this package with `python` (default: this interpreter) and
    the repository root on PYTHONPATH. Reinstalling replaces the previous install."""
    pulumi_home = Path(pulumi_home).absolute()
    if pulumi_home.resolve() == (Path.home() / ".pulumi").resolve():
        raise ValueError(f"refusing to install the stand-in into the real {pulumi_home}")
    plugins = pulumi_home / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    entry = f"resource-{PLUGIN_NAME}-v{plugin_version()}"
    directory = plugins / entry
    partial = plugins / f"{entry}.partial"
    lock = os.open(plugins / f"{entry}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_marker(partial)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(mode=0o700)
        launcher = directory / EXECUTABLE
        launcher.write_text(_launcher(python or sys.executable))
        launcher.chmod(0o755)
        partial.unlink()
    finally:
        os.close(lock)  # closing releases the lock; the lock file itself stays, as the engine's do
    return launcher


def _write_marker(path: Path) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
