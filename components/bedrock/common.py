"""Helpers shared by the Bedrock dynamic providers."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pulumi.runtime import rpc

from components.bedrock.waiting import error_code

NOT_FOUND = "ResourceNotFoundException"
CONFLICT = "ConflictException"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def client_token(*parts: Any) -> str:
    """A deterministic clientRequestToken (64 hex characters): the same resource with the
    same inputs always sends the same token, so a repeated create is a no-op on AWS."""
    return hashlib.sha256(canonical(parts).encode()).hexdigest()


def is_unknown(value: Any) -> bool:
    return value == rpc.UNKNOWN


def changed(olds: dict[str, Any], news: dict[str, Any], key: str) -> bool:
    """Has an input changed? An unknown new value (preview) counts as a change."""
    new = news.get(key)
    return is_unknown(new) or canonical(olds.get(key)) != canonical(new)


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
