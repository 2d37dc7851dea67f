"""The Pulumi SDK internals rftenv relies on, behind one small adapter.

Offline synthesis runs the real program under the SDK's mock runtime, and the stand-in
AWS provider of the tests speaks the engine's wire format. Both need names the SDK does
not promise to keep: private functions (`_sync_await`, `_get_stack_trace`), modules that
are not part of its documented API (`pulumi.runtime.rpc`, `.settings`, `.stack`,
`.mocks.MockMonitor`, the generated `proto` stubs) and wire constants
(`rpc._special_secret_sig`, ...). Every such name is imported here and nowhere else, so an
SDK upgrade that changes one breaks one file, and `tests/rftenv/test_pulumi_internals.py`
says which name changed. The program's components (which do not depend on rftenv) use a
few directly (`pulumi.runtime.config`, `rpc.UNKNOWN`, `pulumi.output.Unknown`); that test
checks those too, and fails on any such name in components/ it does not check.

Checked against pulumi `SDK_VERSION` (pyproject.toml allows `>=3.200,<4`).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

# The SDK version every name below was checked against.
SDK_VERSION = "3.272.0"

try:
    from pulumi.runtime import proto
    from pulumi.runtime import resource as _resource
    from pulumi.runtime import rpc as _rpc
    from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.proto import provider_pb2_grpc, source_pb2
    from pulumi.runtime.settings import set_root_resource
    from pulumi.runtime.stack import run_in_stack
    from pulumi.runtime.sync_await import _sync_await
except ImportError as error:  # loudly, wherever rftenv is imported: name the change
    raise ImportError(
        f"a Pulumi SDK internal rftenv uses is gone ({error}); rftenv/pulumi_internals.py "
        f"was checked against pulumi {SDK_VERSION}, installed is pulumi "
        f"{importlib.metadata.version('pulumi')}"
    ) from error

__all__ = [
    "ARCHIVE_SIGNATURE",
    "ASSET_SIGNATURE",
    "GRPC_CHANNEL_OPTIONS",
    "SDK_VERSION",
    "SECRET_SIGNATURE",
    "SIGNATURE_KEY",
    "UNKNOWN",
    "MockMonitor",
    "deserialize_properties",
    "is_secret",
    "proto",
    "provider_pb2_grpc",
    "run_program_in_stack",
    "start_without_root_stack",
    "unwrap_secret",
    "with_stack_traces_skipped",
    "wrap_secret",
]

# The engine's wire encoding: `{SIGNATURE_KEY: SECRET_SIGNATURE, "value": ...}` is a secret.
SIGNATURE_KEY: str = _rpc._special_sig_key
SECRET_SIGNATURE: str = _rpc._special_secret_sig
ASSET_SIGNATURE: str = _rpc._special_asset_sig
ARCHIVE_SIGNATURE: str = _rpc._special_archive_sig
UNKNOWN: str = _rpc.UNKNOWN
# The SDK's own gRPC options (message sizes), for a provider served the way the SDK serves.
GRPC_CHANNEL_OPTIONS: list[tuple[str, Any]] = list(_GRPC_CHANNEL_OPTIONS)

deserialize_properties = _rpc.deserialize_properties


def is_secret(value: Any) -> bool:
    """Whether a deserialized property value is the SDK's wrapped secret."""
    return bool(_rpc.is_rpc_secret(value))


def unwrap_secret(value: Any) -> Any:
    """A wrapped secret's value (anything else unchanged)."""
    return _rpc.unwrap_rpc_secret(value)


def wrap_secret(value: Any) -> dict[str, Any]:
    """`value` wrapped as a secret, as the engine encodes it."""
    return _rpc.wrap_rpc_secret(value)


def run_program_in_stack(program: Callable[[], Any]) -> None:
    """Run `program` inside a root `pulumi:pulumi:Stack`, to completion (every registration
    and output resolved), as the language host runs `__main__.py`."""
    awaitable: Awaitable[Any] = run_in_stack(program)
    _sync_await(awaitable)


def start_without_root_stack() -> None:
    """Forget the current root stack resource (`set_mocks` creates and finishes one), so
    that the next `run_program_in_stack` registers a live one the program's exports go to."""
    set_root_resource(None)  # type: ignore[arg-type]


@contextmanager
def with_stack_traces_skipped() -> Iterator[None]:
    """The SDK walks the Python stack at every registration to tell the engine where a
    resource was declared; a mock monitor discards it, so skip the walk (an empty trace)."""
    with patch.object(_resource, "_get_stack_trace", source_pb2.StackTrace):
        yield
