"""A small IAM policy evaluator for tests: is one request allowed by an identity policy,
and (for KMS) by the key policy too?

It covers what rft-env's documents use, and refuses anything else rather than guess:
- Action/NotAction and Resource/NotResource with `*` and `?` wildcards (actions
  case-insensitive, resources case-sensitive);
- an explicit Deny wins; otherwise some Allow must apply;
- conditions: String(Not)Equals, StringLike, ArnEquals, ArnLike, Bool, each optionally
  with ForAnyValue:/ForAllValues: and IfExists. Blocks, keys and operators are ANDed,
  the values of one key ORed. A key the request lacks fails the condition (except
  IfExists and ForAllValues), so a test must state every condition key it relies on;
- key policies: a statement whose principal is the account root only delegates to the
  caller's identity policy (both must allow); one naming the caller allows on its own.
Not covered (so not used by these tests): permission boundaries, SCPs, sessions
policies, grants, NotPrincipal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rft_env.policies.rules.documents import (
    Document,
    Statement,
    account_of_root,
    as_list,
    is_allow,
    is_deny,
    principal_values,
    statements,
)


@dataclass(frozen=True)
class Request:
    principal: str  # the caller's role ARN (aws:PrincipalArn)
    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"^{body}$", (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_pattern(pattern, ignore_case).match(value))


def _matches_action(statement: Statement, action: str) -> bool:
    if "NotAction" in statement:
        return not any(like(p, action, ignore_case=True) for p in as_list(statement["NotAction"]))
    return any(like(p, action, ignore_case=True) for p in as_list(statement.get("Action")))


def _matches_resource(statement: Statement, resource: str) -> bool:
    if "NotResource" in statement:
        return not any(like(p, resource) for p in as_list(statement["NotResource"]))
    return any(like(p, resource) for p in as_list(statement.get("Resource")))


def _context_values(request: Request, key: str) -> list[str] | None:
    for name, value in request.context.items():
        if name.lower() == key.lower():
            return [str(v) for v in as_list(value)]
    if key.lower() == "aws:principalarn":
        return [request.principal]
    return None


_BASE_OPERATORS = {
    "stringequals": lambda pattern, value: pattern == value,
    "stringnotequals": lambda pattern, value: pattern != value,
    "stringlike": lambda pattern, value: like(pattern, value),
    "arnequals": lambda pattern, value: like(pattern, value),
    "arnlike": lambda pattern, value: like(pattern, value),
    "bool": lambda pattern, value: pattern.lower() == value.lower(),
}


def _condition_holds(operator: str, wanted: list[Any], actual: list[str] | None) -> bool:
    name = operator.lower()
    qualifier = ""
    if ":" in name:
        qualifier, name = name.split(":", 1)
        if qualifier not in ("foranyvalue", "forallvalues"):
            raise ValueError(f"unsupported condition qualifier in {operator!r}")
    if_exists = name.endswith("ifexists")
    name = name.removesuffix("ifexists")
    if name not in _BASE_OPERATORS:
        raise ValueError(f"unsupported condition operator {operator!r}")
    test = _BASE_OPERATORS[name]
    patterns = [str(w).lower() if isinstance(w, bool) else str(w) for w in wanted]
    negated = name.startswith("stringnot")

    def one(value: str) -> bool:
        # A negated operator holds when the value matches none; the others, any.
        hits = [test(p, value) for p in patterns]
        return all(hits) if negated else any(hits)

    if actual is None:
        return if_exists or qualifier == "forallvalues"
    if qualifier == "forallvalues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)


def conditions_hold(statement: Statement, request: Request) -> bool:
    block = statement.get("Condition") or {}
    return all(
        _condition_holds(operator, as_list(values), _context_values(request, key))
        for operator, entries in block.items()
        for key, values in entries.items()
    )


def _applies(statement: Statement, request: Request) -> bool:
    return (
        _matches_action(statement, request.action)
        and _matches_resource(statement, request.resource)
        and conditions_hold(statement, request)
    )


def _principal_match(statement: Statement, principal: str) -> str | None:
    """ "direct" when the statement names the caller (or anyone), "account" when it names
    the caller's account root, None otherwise."""
    if "NotPrincipal" in statement:
        raise ValueError("NotPrincipal is not supported")
    caller_account = principal.split(":")[4]
    found: str | None = None
    for value in principal_values(statement, "AWS") + principal_values(statement, "*"):
        if value == "*" or value == principal:
            return "direct"
        if account_of_root(value) == caller_account:
            found = "account"
    return found


def identity_allows(request: Request, *policies: Document) -> bool:
    applying = [s for policy in policies for s in statements(policy) if _applies(s, request)]
    return not any(is_deny(s) for s in applying) and any(is_allow(s) for s in applying)


def allowed(request: Request, identity: Sequence[Document], key_policy: Document | None) -> bool:
    """Whether the caller may make the request: its identity policies, and for a KMS key
    the key policy as well (no key policy: identity policies decide alone)."""
    by_identity = identity_allows(request, *identity)
    if key_policy is None:
        return by_identity
    verdicts = []
    for statement in statements(key_policy):
        how = _principal_match(statement, request.principal)
        if how is None or not _applies(statement, request):
            continue
        if is_deny(statement):
            return False
        if is_allow(statement):
            verdicts.append(how == "direct" or by_identity)
    return any(verdicts) and not any(
        is_deny(s) for p in identity for s in statements(p) if _applies(s, request)
    )
