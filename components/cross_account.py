"""Access from outside the stack's account: the `rft-env:crossAccount` allow-list.

A principal or KMS key of another account may appear in a stack's config, or in a policy
document the stack creates, only when the stack lists it under `rft-env:crossAccount`
with a reason. Config validation (`components.config`), the policy pack
(`policies.rules.cross_account`) and `rftenv audit` all decide with the functions here.

An entry names an account root (`arn:aws:iam::<id>:root`), an IAM role or user, or a KMS
key. A root entry covers every principal and key of that account: granting an account's
root already lets that account's administrators hand the access to any of its principals
(IAM User Guide, "AWS JSON policy elements: Principal", AWS account principals).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CROSS_ACCOUNT_KEY = "crossAccount"
# What an entry's `arn` may be, as a regular expression and in words (for the error).
ENTRY_ARN_PATTERN = (
    r"arn:aws[a-z-]*:(iam::\d{12}:(root|(role|user)/[\w+=,.@/-]{1,512})"
    r"|kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]{1,128})"
)
ENTRY_ARN_ALLOWED = (
    "an account root (arn:aws:iam::<account>:root), an IAM role or user ARN, or a KMS key ARN"
)
_ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)
_ARN = re.compile(r"arn:[^:]*:[^:]*:[^:]*:(?P<account>[^:]*)(:|$)")
_ROOT = re.compile(r"arn:[^:]*:iam::(?P<account>\d{12}):root", re.ASCII)
# The owner field of ARNs that belong to AWS itself (`arn:aws:iam::aws:policy/...`).
AWS_OWNED = "aws"


def is_account_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ACCOUNT_ID.fullmatch(value))


def account_of(value: str) -> str | None:
    """The account a principal or resource names: the account field of an ARN, or a bare
    12-digit account id. None when it names no account (a service principal, `*`, an S3
    or foundation-model ARN, an AWS-owned ARN). A wildcard account (`*`) is returned as
    written: it is some other account, and no entry can cover it."""
    value = value.strip()
    if _ACCOUNT_ID.fullmatch(value):
        return value
    match = _ARN.match(value)
    if not match:
        return None
    account = match.group("account")
    return account if account and account != AWS_OWNED else None


def foreign_account(value: str, own_accounts: Iterable[str]) -> str | None:
    """The account of `value` when it is not one of `own_accounts`, else None."""
    account = account_of(value)
    return account if account is not None and account not in set(own_accounts) else None


def is_reason(value: Any) -> bool:
    """A reason a reviewer can read: a string with more than white space."""
    return isinstance(value, str) and bool(value.strip())


@dataclass(frozen=True)
class AllowList:
    """Entry ARN -> reason."""

    entries: Mapping[str, str]

    def reason_for(self, value: str) -> str | None:
        """The reason `value` (a principal or key) may be used, or None when no entry
        covers it: an entry with exactly that ARN, or the root of its account."""
        value = value.strip()
        if value in self.entries:
            return self.entries[value]
        account = account_of(value)
        if account is None or not _ACCOUNT_ID.fullmatch(account):
            return None
        for arn, reason in self.entries.items():
            root = _ROOT.fullmatch(arn)
            if root and root.group("account") == account:
                return reason
        return None


def allow_list(entries: Iterable[tuple[str, str]]) -> AllowList:
    return AllowList({arn.strip(): " ".join(reason.split()) for arn, reason in entries})


def allow_list_from_raw(raw: Any) -> AllowList:
    """The allow-list from raw config (as the policy pack reads it): only entries with an
    ARN of an allowed form and a reason count, so a malformed entry allows nothing."""
    pattern = re.compile(ENTRY_ARN_PATTERN, re.ASCII)
    found: list[tuple[str, str]] = []
    for entry in raw if isinstance(raw, Sequence) and not isinstance(raw, str) else []:
        if not isinstance(entry, Mapping):
            continue
        arn, reason = entry.get("arn"), entry.get("reason")
        if isinstance(arn, str) and pattern.fullmatch(arn.strip()) and is_reason(reason):
            found.append((arn, reason))
    return allow_list(found)
