"""Helpers shared by the Bedrock dynamic providers."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from rft_env.components.bedrock.waiting import Clock, PollPolicy, call_with_retries, error_code

NOT_FOUND = "ResourceNotFoundException"
CONFLICT = "ConflictException"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def client_token(*parts: Any) -> str:
    """A deterministic clientRequestToken (64 hex characters): the same resource with the
    same inputs always sends the same token, so a repeated create is a no-op on AWS."""
    return hashlib.sha256(canonical(parts).encode()).hexdigest()


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None: state and reports are JSON, which has none."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def is_unknown(value: Any) -> bool:
    """Is an input not known yet (preview)? The engine's dynamic provider server hands
    `check` and `diff` `pulumi.output.Unknown` objects (it deserializes with keep_unknowns);
    the sentinel string is how an unknown travels on the wire, and what the SDK's mocks give."""
    return isinstance(value, Unknown) or value == rpc.UNKNOWN


def changed(olds: dict[str, Any], news: dict[str, Any], key: str) -> bool:
    """Has an input changed? An unknown new value (preview) counts as a change."""
    new = news.get(key)
    return is_unknown(new) or canonical(olds.get(key)) != canonical(new)


# Where pulumi.dynamic keeps a resource's pickled provider, in its inputs and its state.
PROVIDER_KEY = "__provider"


def provider_moved(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Was the stored provider pickled from another place than the new one? A provider
    class is pickled by reference (module path and name), so the same code pickles the
    same; a move (0.1's top-level `components.bedrock` to `rft_env.components.bedrock`)
    changes it. `pulumi refresh` and `pulumi destroy` unpickle the stored one, which can
    no longer be imported: an in-place update, which calls nothing on AWS, stores the
    new one (the dynamic provider server records the new `__provider` after an update)."""
    old, new = olds.get(PROVIDER_KEY), news.get(PROVIDER_KEY)
    return isinstance(old, str) and isinstance(new, str) and not is_unknown(new) and old != new


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in sorted((tags or {}).items())]


def sync_tags(
    client: Any, arn: str, old: dict[str, str] | None, new: dict[str, str] | None
) -> None:
    """Bring the tags of `arn` from `old` to `new` with TagResource/UntagResource."""
    old, new = old or {}, new or {}
    removed = sorted(set(old) - set(new))
    if removed:
        client.untag_resource(resourceARN=arn, tagKeys=removed)
    added = {key: value for key, value in new.items() if old.get(key) != value}
    if added:
        client.tag_resource(resourceARN=arn, tags=tag_list(added))


def is_not_found(error: BaseException) -> bool:
    return error_code(error) == NOT_FOUND


def is_conflict(error: BaseException) -> bool:
    return error_code(error) == CONFLICT


def from_engine(value: Any) -> Any:
    """Props as the engine delivers them, with numbers restored.

    Pulumi passes properties through protobuf Structs, whose only number type is a double:
    an `epochCount` of 2 arrives as 2.0, and botocore refuses a float for an integer
    member. Integral floats become ints again (a float member takes an int as well), so
    requests validate and diffs do not see 2 and 2.0 as a change.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: from_engine(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_engine(item) for item in value]
    return value


@dataclass(frozen=True)
class Server:
    """A provisioned throughput or custom model deployment serving a custom model."""

    kind: str  # "provisioned throughput" | "custom model deployment"
    name: str
    arn: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.arn})"


# (List operation, summaries key, name member, ARN member) per kind of server.
_SERVER_LISTS = (
    (
        "provisioned throughput",
        "list_provisioned_model_throughputs",
        "provisionedModelSummaries",
        "provisionedModelName",
        "provisionedModelArn",
    ),
    (
        "custom model deployment",
        "list_custom_model_deployments",
        "modelDeploymentSummaries",
        "customModelDeploymentName",
        "customModelDeploymentArn",
    ),
)


def model_servers(client: Any, model_arn: str, policy: PollPolicy, clock: Clock) -> list[Server]:
    """Every provisioned throughput and deployment whose model is `model_arn`
    (ListProvisionedModelThroughputs / ListCustomModelDeployments with modelArnEquals, all
    pages, throttling ridden out): a model with any of them must not be deleted."""
    servers: list[Server] = []
    for kind, operation, key, name_member, arn_member in _SERVER_LISTS:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"modelArnEquals": model_arn}
            if token:
                params["nextToken"] = token
            page = call_with_retries(
                functools.partial(getattr(client, operation), **params),
                policy,
                clock,
                what=f"listing what serves custom model {model_arn}",
            )
            servers += [Server(kind, s[name_member], s[arn_member]) for s in page.get(key) or []]
            token = page.get("nextToken")
            if not token:
                break
    return servers


class ModelInUseError(RuntimeError):
    """A custom model rft-env would delete is still served by something: it is kept."""


def in_use(model_arn: str, servers: list[Server], advice: str) -> ModelInUseError:
    named = ", ".join(str(server) for server in servers) or "a provisioned throughput or deployment"
    return ModelInUseError(
        f"custom model {model_arn} is still served by {named}, so it was not deleted: {advice}"
    )


def delete_custom_model(
    client: Any, model_arn: str, policy: PollPolicy, clock: Clock, *, advice: str
) -> None:
    """DeleteCustomModel, riding out throttling; a model already gone is fine. Callers check
    `model_servers` first; should AWS still refuse because the model is in use
    (ConflictException), the error names what serves it."""
    try:
        call_with_retries(
            lambda: client.delete_custom_model(modelIdentifier=model_arn),
            policy,
            clock,
            what=f"deleting custom model {model_arn}",
        )
    except Exception as error:
        if is_not_found(error):
            return
        if is_conflict(error):
            servers = model_servers(client, model_arn, policy, clock)
            raise in_use(model_arn, servers, advice) from error
        raise
