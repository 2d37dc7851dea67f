"""The Pulumi SDK internals rft-env relies on are still there, with the shape it uses them
in: rftenv's, all behind `rftenv/pulumi_internals.py`, and the few the program's components
use directly (components/ does not depend on rftenv). An SDK upgrade that changes one fails
here, naming the internal and the SDK version the adapter was checked against."""

from __future__ import annotations

import ast
import asyncio
import contextvars
import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ADAPTER = REPO / "rftenv" / "pulumi_internals.py"
# Read from the adapter's text, so that this test still says which SDK the adapter was
# checked against when the adapter itself no longer imports.
_PINNED = re.search(r'^SDK_VERSION = "([^"]+)"$', ADAPTER.read_text(), re.MULTILINE)
assert _PINNED, f"{ADAPTER} must state SDK_VERSION"
SDK_VERSION = _PINNED.group(1)
INSTALLED = importlib.metadata.version("pulumi")


def changed(internal: str, problem: str) -> str:
    return (
        f"Pulumi SDK internal {internal} {problem}. rftenv/pulumi_internals.py was checked "
        f"against pulumi {SDK_VERSION} (installed: pulumi {INSTALLED}); adapt it, or the "
        "component using the internal directly, to this SDK "
        "and update the expectation here."
    )


def resolve(dotted: str) -> Any:
    """`pulumi.runtime.rpc._special_sig_key`, `pulumi.runtime.mocks.MockMonitor.make_urn`:
    the longest importable module prefix, then attributes; fails naming the internal."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for index, attribute in enumerate(parts[cut:], start=cut):
            if not hasattr(found, attribute):
                where = ".".join(parts[:index])
                pytest.fail(changed(dotted, f"is gone ({where} has no {attribute})"))
            found = getattr(found, attribute)
        return found
    pytest.fail(changed(dotted, "is gone (its module does not import)"))


# name -> the parameters rftenv calls it with (in order)
SIGNATURES = {
    "pulumi.runtime.sync_await._sync_await": ["awaitable"],
    "pulumi.runtime.stack.run_in_stack": ["func"],
    "pulumi.runtime.settings.set_root_resource": ["root"],
    "pulumi.runtime.resource._get_stack_trace": [],
    "pulumi.runtime.rpc.deserialize_properties": ["props_struct", "keep_unknowns", "keep_internal"],
    "pulumi.runtime.rpc.is_rpc_secret": ["value"],
    "pulumi.runtime.rpc.unwrap_rpc_secret": ["value"],
    "pulumi.runtime.rpc.wrap_rpc_secret": ["value"],
    "pulumi.runtime.mocks.MockMonitor": ["mocks"],
    "pulumi.runtime.mocks.MockMonitor.make_urn": ["self", "parent", "type_", "name"],
    "pulumi.runtime.mocks.MockMonitor.RegisterResource": ["self", "request"],
    "pulumi.runtime.mocks.MockMonitor.RegisterResourceOutputs": ["self", "request"],
    "pulumi.runtime.mocks.MockMonitor.Invoke": ["self", "request"],
    "pulumi.runtime.proto.provider_pb2_grpc.add_ResourceProviderServicer_to_server": [
        "servicer",
        "server",
    ],
    # components/config.py (load_from_pulumi) reads the running program's config with these.
    "pulumi.runtime.config.get_config_env": [],
    "pulumi.runtime.config.is_config_secret": ["k"],
}

# name -> the kind of object it must stay (components use these directly).
OBJECTS: dict[str, type] = {
    "pulumi.runtime.config.CONFIG": contextvars.ContextVar,  # of the config map
    "pulumi.output.Unknown": type,  # components/bedrock/common.py: isinstance(v, Unknown)
}

# The engine's wire encoding (the Go SDK defines the same strings): a change here would
# mean the engine changed, not only the Python SDK.
CONSTANTS = {
    "pulumi.runtime.rpc._special_sig_key": "4dabf18193072939515e22adb298388d",
    "pulumi.runtime.rpc._special_secret_sig": "1b47061264138c4ac30d75fd1eb44270",
    "pulumi.runtime.rpc._special_asset_sig": "c44067f5952c0a294b673a41bacd8c17",
    "pulumi.runtime.rpc._special_archive_sig": "0def7320c3a5731c473e5ecbe6d01bc7",
    "pulumi.runtime.rpc.UNKNOWN": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
}

# Generated gRPC messages the stand-in provider builds.
PROTO_MESSAGES = [
    "CheckResponse",
    "CheckFailure",
    "DiffResponse",
    "PropertyDiff",
    "ProviderHandshakeResponse",
    "PluginInfo",
    "ConfigureResponse",
    "CreateResponse",
    "ReadResponse",
    "UpdateResponse",
]


@pytest.mark.parametrize("internal", sorted(SIGNATURES))
def test_each_internal_function_keeps_its_signature(internal: str) -> None:
    found = resolve(internal)
    if not callable(found):
        pytest.fail(changed(internal, f"is no longer callable ({type(found).__name__})"))
    parameters = list(inspect.signature(found).parameters)
    expected = SIGNATURES[internal]
    if parameters[: len(expected)] != expected or any(
        p.default is inspect.Parameter.empty
        for p in list(inspect.signature(found).parameters.values())[len(expected) :]
    ):
        pytest.fail(
            changed(internal, f"takes ({', '.join(parameters)}), not ({', '.join(expected)})")
        )


@pytest.mark.parametrize("internal", sorted(CONSTANTS))
def test_each_wire_constant_keeps_its_value(internal: str) -> None:
    value = resolve(internal)
    if value != CONSTANTS[internal]:
        pytest.fail(changed(internal, f"is {value!r}, not {CONSTANTS[internal]!r}"))


@pytest.mark.parametrize("internal", sorted(OBJECTS))
def test_each_internal_object_keeps_its_kind(internal: str) -> None:
    found = resolve(internal)
    if not isinstance(found, OBJECTS[internal]):
        pytest.fail(changed(internal, f"is a {type(found).__name__}, no {OBJECTS[internal]}"))


@pytest.mark.parametrize("message", PROTO_MESSAGES)
def test_the_provider_messages_are_generated(message: str) -> None:
    resolve(f"pulumi.runtime.proto.{message}")


def test_the_shapes_rftenv_relies_on() -> None:
    options = resolve("pulumi.runtime._grpc_settings._GRPC_CHANNEL_OPTIONS")
    if not (
        isinstance(options, list) and all(isinstance(o, tuple) and len(o) == 2 for o in options)
    ):
        pytest.fail(
            changed(
                "pulumi.runtime._grpc_settings._GRPC_CHANNEL_OPTIONS", "is no list of (name, value)"
            )
        )
    trace = resolve("pulumi.runtime.proto.source_pb2.StackTrace")
    if "frames" not in trace.DESCRIPTOR.fields_by_name:
        pytest.fail(changed("pulumi.runtime.proto.source_pb2.StackTrace", "has no `frames`"))
    servicer = resolve("pulumi.runtime.proto.provider_pb2_grpc.ResourceProviderServicer")
    assert isinstance(servicer, type)
    registration = resolve("pulumi.runtime.mocks.MockMonitor.ResourceRegistration")
    if getattr(registration, "_fields", None) != ("urn", "id", "state"):
        pytest.fail(
            changed(
                "pulumi.runtime.mocks.MockMonitor.ResourceRegistration",
                f"has fields {getattr(registration, '_fields', None)}, not (urn, id, state)",
            )
        )
    if not isinstance(resolve("pulumi.runtime.config.CONFIG").get(), dict):
        pytest.fail(changed("pulumi.runtime.config.CONFIG", "holds no dict of config values"))
    monitor = resolve("pulumi.runtime.mocks.MockMonitor")(mocks=object())
    if not isinstance(getattr(monitor, "resources", None), dict):
        pytest.fail(changed("pulumi.runtime.mocks.MockMonitor.resources", "is no dict"))


def test_the_behaviour_rftenv_relies_on() -> None:
    from rft_env.rftenv import pulumi_internals as internals

    async def answer() -> int:
        return 42

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        if resolve("pulumi.runtime.sync_await._sync_await")(answer()) != 42:
            pytest.fail(changed("pulumi.runtime.sync_await._sync_await", "no longer returns"))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    wrapped = internals.wrap_secret(["a"])
    assert internals.is_secret(wrapped) and internals.unwrap_secret(wrapped) == ["a"], changed(
        "pulumi.runtime.rpc.wrap_rpc_secret", "no longer round-trips through is/unwrap"
    )
    assert wrapped == {internals.SIGNATURE_KEY: internals.SECRET_SIGNATURE, "value": ["a"]}


def test_the_adapter_imports() -> None:
    try:
        importlib.import_module("rft_env.rftenv.pulumi_internals")
    except (ImportError, AttributeError) as error:
        pytest.fail(changed("(imported by rftenv/pulumi_internals.py)", f"is gone: {error}"))


def test_nothing_else_imports_the_sdks_internals() -> None:
    """Only the adapter reaches into `pulumi.runtime`'s modules: rftenv and the stand-in
    provider use the adapter (public `pulumi.runtime.X` calls are fine)."""
    reaching = re.compile(r"^\s*(from pulumi\.runtime[. ]|import pulumi\.runtime\.)", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("rftenv", "tests/standin_aws")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != ADAPTER and reaching.search(path.read_text())
    ]
    assert offenders == [], (
        f"import the SDK's internals through rftenv/pulumi_internals.py: {offenders}"
    )


# Modules whose names the SDK does not promise to keep: `pulumi.runtime`'s, and whatever of
# `pulumi.output` the `pulumi` package does not re-export (its `Output` it does).
# `pulumi.dynamic` and `pulumi.provider` are documented APIs.
UNPROMISED = ("pulumi.runtime", "pulumi.output")


def _unpromised(name: str) -> bool:
    import pulumi

    module, _, attribute = name.rpartition(".")
    if module == "pulumi.output" and hasattr(pulumi, attribute):
        return False
    return any(name == m or name.startswith(f"{m}.") for m in UNPROMISED)


def sdk_internals_used(source: str) -> set[str]:
    """Every unpromised SDK name `source` uses: imported (`from pulumi.runtime.config
    import CONFIG`), an attribute of an imported module (`rpc.UNKNOWN` after `from
    pulumi.runtime import rpc`), or reached from `pulumi` (`pulumi.runtime.rpc.UNKNOWN`)."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> the SDK module it is
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pulumi"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                if _is_module(name):
                    modules[alias.asname or alias.name] = name
                else:
                    used.add(name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pulumi.") or alias.name == "pulumi":
                    modules[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else "pulumi"
                    )
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = ast.unparse(node).split(".")
            if chain[0] in modules and all(part.isidentifier() for part in chain):
                # Down to the first name that is no module: `rpc.UNKNOWN`, not its `.lower`.
                name = modules[chain[0]]
                for part in chain[1:]:
                    name = f"{name}.{part}"
                    if not _is_module(name):
                        break
                used.add(name)
    # A module imported and used whole (not only through attributes) is a use of its own.
    used |= {name for local, name in modules.items() if _used_whole(tree, local)}
    return {name for name in used if _unpromised(name)}


def _is_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _used_whole(tree: ast.AST, local: str) -> bool:
    attributes = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return any(
        isinstance(n, ast.Name) and n.id == local and id(n) not in attributes
        for n in ast.walk(tree)
    )


CHECKED = {*SIGNATURES, *CONSTANTS, *OBJECTS}


@pytest.mark.parametrize(
    ("source", "used"),
    [
        ("from pulumi.runtime.config import CONFIG\n", {"pulumi.runtime.config.CONFIG"}),
        ("from pulumi.runtime import rpc\nrpc.UNKNOWN\n", {"pulumi.runtime.rpc.UNKNOWN"}),
        ("import pulumi\npulumi.runtime.rpc.UNKNOWN\n", {"pulumi.runtime.rpc.UNKNOWN"}),
        ("from pulumi.runtime import rpc\nrpc.UNKNOWN.lower()\n", {"pulumi.runtime.rpc.UNKNOWN"}),
        ("import pulumi.runtime.config as c\nc.CONFIG.get()\n", {"pulumi.runtime.config.CONFIG"}),
        ("from pulumi.output import Unknown, Output\n", {"pulumi.output.Unknown"}),
        ("from pulumi.runtime import rpc\nf(rpc)\n", {"pulumi.runtime.rpc"}),
        ("import pulumi\npulumi.export('a', 1)\npulumi.Output.all()\n", set()),
        ("from pulumi.dynamic import CheckFailure\n", set()),
    ],
)
def test_the_scan_finds_the_sdk_internals_a_module_uses(source: str, used: set[str]) -> None:
    assert sdk_internals_used(source) == used


def test_every_sdk_internal_the_components_use_is_checked() -> None:
    """components/ is the deployed program: it may not import rftenv's adapter, so every
    internal it uses directly must be checked above, and an SDK upgrade that drops one
    fails here rather than in a deployment."""
    unchecked = {
        str(path.relative_to(REPO)): sorted(used - CHECKED)
        for path in sorted((REPO / "components").rglob("*.py"))
        if (used := sdk_internals_used(path.read_text())) - CHECKED
    }
    assert unchecked == {}, "add these to SIGNATURES, CONSTANTS or OBJECTS"
