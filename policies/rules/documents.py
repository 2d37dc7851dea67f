"""Pure helpers over IAM-style policy documents (identity, trust, key and bucket policies).

Documents reach a policy as JSON strings (what the program passes to the provider) or as
mappings; under CrossGuard every mapping and list is a read-only proxy, so these helpers
test for `Mapping`/`Sequence`, never `dict`/`list`. IAM matches action names and condition
keys case-insensitively, and so do these helpers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

Document = Mapping[str, Any]
Statement = Mapping[str, Any]

_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
_ACCOUNT_ROOT_RE = re.compile(r"^arn:[a-z][a-z0-9-]*:iam::(?P<account>\d{12}):root$")
_AWS_MANAGED_POLICY_RE = re.compile(r"^arn:[a-z][a-z0-9-]*:iam::aws:policy/")


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------
def parse_document(value: Any) -> Document | None:
    """The document as a mapping, or None when it is missing or not a JSON object."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def document_error(value: Any) -> str | None:
    """Why a present value is not a policy document (None when it is one, or is absent).

    A policy the provider would reject, or AWS would read differently than intended, is a
    finding in its own right, so the rules that read documents report this text.
    """
    if value is None or isinstance(value, Mapping):
        return None
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a JSON policy document"
    if not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        return f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    if not isinstance(parsed, Mapping):
        return f"is JSON but not an object (got a {type(parsed).__name__})"
    return None


def as_list(value: Any) -> list[Any]:
    """IAM's "one value or a list of values", always as a list (None is the empty list)."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def statements(document: Document | None) -> list[Statement]:
    """The document's statements as a list of mappings (a lone statement is allowed)."""
    if not document:
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def statement_label(statement: Statement, index: int) -> str:
    """How a message names a statement: its Sid, or its position when it has none."""
    sid = statement.get("Sid")
    if isinstance(sid, str) and sid:
        return f"statement '{sid}'"
    return f"statement #{index + 1} (no Sid)"


# --------------------------------------------------------------------------------------
# Effect, principals
# --------------------------------------------------------------------------------------
def _effect(statement: Statement) -> str:
    effect = statement.get("Effect")
    return effect.strip().lower() if isinstance(effect, str) else ""


def is_allow(statement: Statement) -> bool:
    return _effect(statement) == "allow"


def is_deny(statement: Statement) -> bool:
    return _effect(statement) == "deny"


def principals(statement: Statement) -> dict[str, list[str]]:
    """`Principal` normalized to {type: [values]}; a bare "*" becomes {"*": ["*"]}."""
    principal = statement.get("Principal")
    if principal is None:
        return {}
    if isinstance(principal, str):
        return {"*": [principal]} if principal.strip() == "*" else {"AWS": [principal]}
    if isinstance(principal, Mapping):
        return {str(kind): [str(v) for v in as_list(values)] for kind, values in principal.items()}
    return {}


def principal_values(statement: Statement, kind: str | None = None) -> list[str]:
    """Every principal value of the statement, or only those of one type ("AWS", "Service")."""
    return [
        value
        for principal_kind, values in principals(statement).items()
        if kind is None or principal_kind.lower() == kind.lower()
        for value in values
    ]


def is_public_principal(statement: Statement) -> bool:
    """Anyone: `"*"`, `{"AWS": "*"}` (or "*" among the values), or any `NotPrincipal`."""
    if statement.get("NotPrincipal") is not None:
        return True
    return any(value.strip() == "*" for value in principal_values(statement))


def service_principals(statement: Statement) -> list[str]:
    return [v.strip().lower() for v in principal_values(statement, "Service")]


def account_of_root(principal: str) -> str | None:
    """The account of an account principal (`arn:<p>:iam::<id>:root` or a bare id)."""
    principal = principal.strip()
    if _ACCOUNT_ID_RE.match(principal):
        return principal
    match = _ACCOUNT_ROOT_RE.match(principal)
    return match.group("account") if match else None


def is_aws_managed_policy_arn(arn: Any) -> bool:
    """`arn:<partition>:iam::aws:policy/...`: a policy AWS writes and may widen at will."""
    return isinstance(arn, str) and bool(_AWS_MANAGED_POLICY_RE.match(arn.strip()))


# --------------------------------------------------------------------------------------
# Actions and resources
# --------------------------------------------------------------------------------------
def actions(statement: Statement) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


def not_actions(statement: Statement) -> list[str]:
    return [str(a) for a in as_list(statement.get("NotAction"))]


def has_not_action(statement: Statement) -> bool:
    return statement.get("NotAction") is not None


def resources(statement: Statement) -> list[str]:
    return [str(r) for r in as_list(statement.get("Resource"))]


def has_not_resource(statement: Statement) -> bool:
    return statement.get("NotResource") is not None


@lru_cache(maxsize=1024)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, value: str) -> bool:
    """IAM wildcard matching (`*` any run, `?` one character), case-insensitive."""
    return bool(_wildcard_regex(pattern.strip()).match(value.strip()))


def is_wildcard_action(action: str) -> bool:
    """`*` or `<service>:*`: every action (of a service), present and future."""
    action = action.strip()
    if not action.strip("*"):
        return True
    service, sep, name = action.partition(":")
    return bool(sep) and bool(service) and not name.strip("*")


def allows_action(statement: Statement, action: str) -> bool:
    """Whether the statement's Action (or NotAction) covers `action`."""
    if has_not_action(statement):
        return not any(wildcard_match(p, action) for p in not_actions(statement))
    return any(wildcard_match(p, action) for p in actions(statement))


def lower_set(values: Iterable[str]) -> set[str]:
    return {v.strip().lower() for v in values}


# --------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------
def conditions(statement: Statement) -> list[tuple[str, str, list[Any]]]:
    """(operator, key, values) for every condition of the statement."""
    block = statement.get("Condition")
    if not isinstance(block, Mapping):
        return []
    found: list[tuple[str, str, list[Any]]] = []
    for operator, entries in block.items():
        if not isinstance(entries, Mapping):
            continue
        for key, values in entries.items():
            found.append((str(operator), str(key), as_list(values)))
    return found


def condition_values(
    statement: Statement, key: str, operator: str | None = None
) -> list[Any] | None:
    """Values the statement's conditions give `key` (under `operator`, if given, else any
    operator); None when no condition names the key. Keys and operators are matched
    case-insensitively, as IAM does."""
    found: list[Any] | None = None
    for op, condition_key, values in conditions(statement):
        if condition_key.lower() != key.lower():
            continue
        if operator is not None and op.lower() != operator.lower():
            continue
        found = [*(found or []), *values]
    return found
