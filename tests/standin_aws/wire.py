"""Property values as they travel between the engine and a provider, kept losslessly.

The stand-in works on the wire encoding itself (a protobuf Struct read as JSON), not on
SDK objects: a secret stays `{sig: secret, value: ...}`, an unknown stays the engine's
unknown string, an asset keeps the hash the engine computed. (The SDK's deserializers lose
some of that: `pulumi.runtime.rpc.deserialize_properties` drops asset hashes and nulls,
and `pulumi.provider.experimental.PropertyValue` reads an unknown as an ordinary string.)
The signature constants are the SDK's own, from `pulumi.runtime.rpc`, through rftenv's
adapter for the SDK's internals (`rftenv.pulumi_internals`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2

from rft_env.rftenv import pulumi_internals as internals

SIGNATURE = internals.SIGNATURE_KEY
SECRET = internals.SECRET_SIGNATURE
ASSET = internals.ASSET_SIGNATURE
ARCHIVE = internals.ARCHIVE_SIGNATURE
UNKNOWN = internals.UNKNOWN
# What a secret looks like wherever the stand-in writes to disk or to its log.
REDACTED = "[secret]"

Props = dict[str, Any]


def from_struct(struct: struct_pb2.Struct | None) -> Props:
    if struct is None:
        return {}
    return json_format.MessageToDict(struct)


def to_struct(props: Props) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def is_secret(value: Any) -> bool:
    return internals.is_secret(value)


def secret(value: Any) -> dict[str, Any]:
    return internals.wrap_secret(value)


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value == UNKNOWN


def is_asset(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIGNATURE) == ASSET


def is_archive(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIGNATURE) == ARCHIVE


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if is_asset(value) or is_archive(value):
        return False
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def contains_secret(value: Any) -> bool:
    if is_secret(value):
        return True
    if is_asset(value) or is_archive(value):
        return False
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def plain(value: Any) -> Any:
    """The value with every secret wrapper removed (assets and unknowns kept as they are):
    what validation and id computation look at."""
    if is_secret(value):
        return plain(value.get("value"))
    if is_asset(value) or is_archive(value):
        return value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def comparable(value: Any) -> Any:
    """What decides whether a property changed: secrets unwrapped, assets and archives by
    their content hash only (the engine elides their contents in Diff), nulls dropped
    from maps (pulumi-aws treats a null as unset)."""
    if is_secret(value):
        return comparable(value.get("value"))
    if is_asset(value) or is_archive(value):
        return {"$hash": content_digest(value)}
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def content_digest(value: dict[str, Any]) -> str:
    """The hex SHA-256 the engine attached to an asset or archive, or, when there is none
    (values built in-process by tests), one computed the same way for files and text.
    File contents are hashed, never kept."""
    given = value.get("hash")
    if isinstance(given, str) and given:
        return given
    if is_asset(value):
        if isinstance(value.get("text"), str):
            return hashlib.sha256(value["text"].encode()).hexdigest()
        if isinstance(value.get("path"), str):
            return _file_digest(Path(value["path"]))
        return hashlib.sha256(str(value.get("uri", "")).encode()).hexdigest()
    if isinstance(value.get("assets"), dict):
        members = {name: content_digest(member) for name, member in value["assets"].items()}
        return hashlib.sha256(json.dumps(members, sort_keys=True).encode()).hexdigest()
    if isinstance(value.get("path"), str):
        path = Path(value["path"])
        if path.is_dir():
            members = {
                str(file.relative_to(path)): _file_digest(file)
                for file in sorted(path.rglob("*"))
                if file.is_file()
            }
            return hashlib.sha256(json.dumps(members, sort_keys=True).encode()).hexdigest()
        return _file_digest(path)
    return hashlib.sha256(str(value.get("uri", "")).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def with_digests(value: Any) -> Any:
    """Assets and archives with their `hash` filled in, so that what is stored and diffed
    later never needs the files again."""
    if is_asset(value) or is_archive(value):
        return {**value, "hash": content_digest(value)}
    if isinstance(value, dict):
        return {k: with_digests(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_digests(v) for v in value]
    return value


def shown(value: Any) -> str:
    """A value for a human-readable message: secrets never appear."""
    if contains_secret(value):
        return REDACTED
    if is_unknown(value):
        return "<unknown>"
    return repr(value)


# --- secrets at rest -----------------------------------------------------------------------
# The fake cloud keeps a keyed digest of each secret instead of its value; Read puts the
# value back from what the engine sends (the resource's last state), matched by digest.
def _secret_digest(salt: str, value: Any) -> str:
    canonical = json.dumps(comparable(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{salt}\0{canonical}".encode()).hexdigest()


def redact_secrets(value: Any, salt: str) -> Any:
    if is_secret(value):
        return {SIGNATURE: SECRET, "sha256": _secret_digest(salt, value.get("value"))}
    if is_asset(value) or is_archive(value):
        return value
    if isinstance(value, dict):
        return {k: redact_secrets(v, salt) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v, salt) for v in value]
    return value


def restore_secrets(stored: Any, salt: str, *sources: Any) -> Any:
    """`stored` with each redacted secret replaced by the value at the same place in the
    first of `sources` whose digest matches; "[secret]" (still secret) when none does."""
    if is_secret(stored) and "sha256" in stored and "value" not in stored:
        for source in sources:
            candidate = plain(source)
            if _secret_digest(salt, candidate) == stored["sha256"]:
                return secret(candidate)
        return secret(REDACTED)
    if is_asset(stored) or is_archive(stored):
        return stored
    if isinstance(stored, dict):
        return {
            k: restore_secrets(v, salt, *(_child(source, k) for source in sources))
            for k, v in stored.items()
        }
    if isinstance(stored, list):
        return [
            restore_secrets(v, salt, *(_child(source, i) for source in sources))
            for i, v in enumerate(stored)
        ]
    return stored


def _child(source: Any, key: str | int) -> Any:
    source = source.get("value") if is_secret(source) else source
    if isinstance(key, str) and isinstance(source, dict):
        return source.get(key)
    if isinstance(key, int) and isinstance(source, list) and key < len(source):
        return source[key]
    return None


def readable(value: Any) -> Any:
    """Stored values for test assertions: secrets as "[secret]", assets as their hash."""
    if is_secret(value):
        return REDACTED
    if is_asset(value) or is_archive(value):
        kind = "asset" if is_asset(value) else "archive"
        return {f"${kind}": value.get("path") or value.get("uri") or "", "hash": value.get("hash")}
    if isinstance(value, dict):
        return {k: readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [readable(v) for v in value]
    return value


def env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None
