"""Helpers every rule shares: tolerant property access, provider props, resource links.

CrossGuard hands props over as read-only proxies (`Mapping`/`Sequence`, not dict/list);
numbers arrive as floats; a provider's structured props arrive as JSON strings. Reading an
unknown value (during preview) raises `UnknownValueError`, which the framework turns into
"policy skipped", so nothing here catches broad exceptions around property access.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy import policy as policy_module

from rft_env.components.naming import PROJECT as PROJECT  # re-exported: the rules' namespace

BUCKET = "aws:s3/bucket:Bucket"
KMS_KEY = "aws:kms/key:Key"
IAM_ROLE = "aws:iam/role:Role"
SSE_CONFIG = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------
def get(value: Any, *path: str | int, default: Any = None) -> Any:
    """`value[path[0]][path[1]]...`, or `default` when a key is missing or a step is not a
    mapping (or list, for an int step). Never hides an unknown value."""
    current = value
    for step in path:
        if isinstance(step, int):
            if (
                isinstance(current, Sequence)
                and not isinstance(current, str)
                and -len(current) <= step < len(current)
            ):
                current = current[step]
                continue
            return default
        if not isinstance(current, Mapping):
            return default
        current = current.get(step)
        if current is None:
            return default
    return current


def text(value: Any) -> str:
    """A string prop, stripped; "" for anything that is not a non-empty string."""
    return value.strip() if isinstance(value, str) else ""


def as_number(value: Any) -> float | None:
    """Numbers arrive as floats (`30.0`), sometimes as strings; bools are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_bool(value: Any) -> bool | None:
    """A bool prop, also when a provider passes it as "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def decode_json(value: Any) -> Any:
    """Provider props carry structured values as JSON strings; decode those, pass the
    rest (including strings that are not JSON) through unchanged."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def string_list(value: Any) -> list[str]:
    """A list of non-empty strings from a list, a JSON list string, or one string."""
    value = decode_json(value)
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, Sequence):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


def fmt_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# --------------------------------------------------------------------------------------
# Providers
# --------------------------------------------------------------------------------------
def is_default_provider(provider: PolicyProviderResource) -> bool:
    """Pulumi names the provider it makes implicitly `default` or `default_<version>`."""
    return provider.name == "default" or provider.name.startswith("default_")


def provider_default_tags(provider: PolicyProviderResource | None) -> dict[str, Any]:
    """The provider's `defaultTags.tags` (the prop is a JSON string or a mapping)."""
    if provider is None:
        return {}
    default_tags = decode_json(provider.props.get("defaultTags"))
    blocks = as_sequence(default_tags) if not isinstance(default_tags, Mapping) else [default_tags]
    tags: dict[str, Any] = {}
    for block in blocks:
        block_tags = decode_json(get(block, "tags"))
        if isinstance(block_tags, Mapping):
            tags.update(block_tags)
    return tags


def provider_allowed_accounts(provider: PolicyProviderResource | None) -> list[str] | None:
    """The provider's `allowedAccountIds`, or None when they are not known."""
    if provider is None:
        return None
    accounts = string_list(provider.props.get("allowedAccountIds"))
    return accounts or None


def as_sequence(value: Any) -> list[Any]:
    """A list from a list-like prop; [] for anything else (a string is not a list here)."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------
# The stack's config, as the real engine hands it over. The engine gives a policy pack the
# stack's config only in its ConfigureStack request, and pulumi_policy (1.21) keeps only the
# request's tags: it reads config from the PULUMI_CONFIG variable, which the engine does not
# set for an analyzer. Under `pulumi preview --policy-pack policies`, pulumi.Config therefore
# read nothing in a rule: production stacks were judged as non-production, and the
# cross-account allow-list was empty (found by the engine tests). `accept_engine_config`
# makes ConfigureStack record the request's config, and the rules read each key through
# `config_value`. Offline (`rftenv audit`), rftenv.pack_runner sets pulumi.Config itself
# and no ConfigureStack arrives.
_MARK = "_rftenv_records_stack_config"
# Written by ConfigureStack in one gRPC thread, read by the rules in others.
_recorded: dict[str, str] = {}
_lock = threading.Lock()


def record_stack_config(config: Mapping[str, str]) -> None:
    """The engine's config for this run (namespaced keys, string values)."""
    with _lock:
        _recorded.clear()
        _recorded.update(config)


def config_value(key: str) -> str | None:
    """`rft-env:<key>` as the engine gave it to the pack, else from pulumi.Config."""
    with _lock:
        recorded = _recorded.get(f"{PROJECT}:{key}")
    return recorded if recorded is not None else pulumi.Config(PROJECT).get(key)


def accept_engine_config() -> None:
    """Wrap pulumi_policy's analyzer so that ConfigureStack records the stack's config.
    Idempotent."""
    servicer = policy_module._PolicyAnalyzerServicer
    original: Callable[..., Any] = servicer.ConfigureStack
    if getattr(original, _MARK, False):
        return

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        record_stack_config(dict(request.config))
        return original(self, request, context)

    setattr(configure_stack, _MARK, True)
    servicer.ConfigureStack = configure_stack  # type: ignore[method-assign]


def policy_config(args: ResourceValidationArgs | StackValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def is_production(args: ResourceValidationArgs | StackValidationArgs) -> bool:
    """The policy config's `production` if given, else the stack's `rft-env:production`.

    The engine hands the stack's config to the pack in ConfigureStack, which
    `accept_engine_config` records, so the pack reads the same flag the program does. A
    flag that is set but not a bool counts as production: the stricter reading is the
    safe one when a stack's intent is unclear.
    """
    configured = as_bool(policy_config(args).get("production"))
    if configured is not None:
        return configured
    value = config_value("production")
    if value is None:
        return False
    flag = as_bool(value)
    return True if flag is None else flag


# --------------------------------------------------------------------------------------
# Stack resources
# --------------------------------------------------------------------------------------
def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _same(a: PolicyResource, b: PolicyResource) -> bool:
    return a is b or (bool(a.urn) and a.urn == b.urn)


def dependencies_of(resource: PolicyResource, prop: str, *types: str) -> list[PolicyResource]:
    """The resources (of `types`, if given) the value of `resource.props[prop]` came from."""
    deps = (resource.property_dependencies or {}).get(prop) or []
    return [d for d in deps if not types or d.resource_type in types]


def linked(
    resource: PolicyResource,
    prop: str,
    target: PolicyResource,
    target_props: Sequence[str] = ("bucket",),
) -> bool:
    """Whether `resource.props[prop]` refers to `target`.

    Property dependencies decide when they name a resource of the target's type (they are
    exact, and work in preview when names are still unknown); otherwise the prop's value
    must equal one of the target's `target_props` (a bucket's name, a key's ARN...).
    """
    deps = dependencies_of(resource, prop, target.resource_type)
    if deps:
        return any(_same(d, target) for d in deps)
    value = text(resource.props.get(prop))
    return bool(value) and any(value == text(target.props.get(p)) for p in target_props)


def linked_to(
    resources: Iterable[PolicyResource],
    type_: str,
    prop: str,
    target: PolicyResource,
    target_props: Sequence[str] = ("bucket",),
) -> list[PolicyResource]:
    """The resources of `type_` whose `prop` refers to `target`."""
    return [r for r in of_type(resources, type_) if linked(r, prop, target, target_props)]
