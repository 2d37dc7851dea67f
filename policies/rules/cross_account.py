"""Cross-account rule: a policy document names a principal or key of another account only
when the stack lists it, with a reason, under `rft-env:crossAccount`.

The allow-list is read from the stack's config, which the engine hands to policy packs in
ConfigureStack (see `accept_engine_config`; `is_production` reads `rft-env:production` the
same way). One list then serves config validation, this rule and `rftenv audit`, and an
operator cannot widen it with a `--policy-pack-config` that no reviewer sees in the stack
file.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from rft_env.components.cross_account import (
    CROSS_ACCOUNT_KEY,
    AllowList,
    allow_list_from_raw,
    foreign_account,
)
from rft_env.policies.rules import documents as docs
from rft_env.policies.rules.common import (
    IAM_ROLE,
    KMS_KEY,
    PROJECT,
    config_value,
    get,
    provider_allowed_accounts,
    text,
)
from rft_env.policies.rules.iam import identity_documents

KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
# Resource policies: type -> (label, prop holding the document).
RESOURCE_POLICIES = {
    KMS_KEY: ("KMS key", "policy"),
    KEY_POLICY: ("KMS key policy", "policy"),
    IAM_ROLE: ("IAM role", "assumeRolePolicy"),
    BUCKET_POLICY: ("BucketPolicy", "policy"),
    TOPIC_POLICY: ("SNS topic policy", "policy"),
}
# Condition keys whose values name the principal, or the account a service acts for: a
# statement on the stack's own account root can still single out another account's role
# through them (the key policy names operators through aws:PrincipalArn).
PRINCIPAL_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "aws:ResourceAccount",
        "kms:CallerAccount",
        "kms:GranteePrincipal",
        "kms:RetiringPrincipal",
    )
)
# Principal types whose values are ARNs or account ids (Service names no account, and a
# CanonicalUser id cannot be mapped to one).
ACCOUNT_PRINCIPAL_TYPES = ("aws", "federated")


@dataclass(frozen=True)
class ForeignReference:
    """A principal or resource of another account named by one Allow statement."""

    statement: str  # how messages name the statement: "statement 'Sid'" or its position
    sid: str  # "" when the statement has none
    value: str  # the principal, key or resource as written
    account: str  # its account ("*" when the ARN leaves it open)
    via: str  # "Principal", "Resource" or "Condition <key>"


def _grants(operator: str) -> bool:
    """Whether a condition operator admits the values it lists (negated ones exclude them)."""
    name = operator.split(":", 1)[-1].lower().removesuffix("ifexists")
    return "not" not in name and name != "null"


def foreign_references(
    document: docs.Document | None, own_accounts: Collection[str]
) -> list[ForeignReference]:
    """Every principal (in Principal or a principal condition) and resource of an account
    outside `own_accounts` that an Allow statement of `document` names."""
    found: list[ForeignReference] = []
    for index, statement in enumerate(docs.statements(document)):
        if not docs.is_allow(statement):
            continue
        candidates = [
            ("Principal", value)
            for kind, values in docs.principals(statement).items()
            if kind.lower() in ACCOUNT_PRINCIPAL_TYPES
            for value in values
        ]
        candidates += [("Resource", value) for value in docs.resources(statement)]
        candidates += [
            (f"Condition {key}", str(value))
            for operator, key, values in docs.conditions(statement)
            if key.lower() in PRINCIPAL_CONDITION_KEYS and _grants(operator)
            for value in values
        ]
        sid = statement.get("Sid")
        for via, value in candidates:
            account = foreign_account(value, own_accounts)
            if account is not None:
                found.append(
                    ForeignReference(
                        docs.statement_label(statement, index),
                        sid if isinstance(sid, str) else "",
                        value.strip(),
                        account,
                        via,
                    )
                )
    return found


def _stack_config_object(key: str) -> Any:
    value = config_value(key)
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None  # malformed: config validation names it; nothing is allow-listed


def stack_accounts(args: ResourceValidationArgs) -> list[str]:
    """The stack's account: the provider's allowedAccountIds, else rft-env:account.id."""
    accounts = provider_allowed_accounts(args.provider)
    if accounts:
        return accounts
    account_id = text(get(_stack_config_object("account"), "id"))
    return [account_id] if account_id else []


def stack_allow_list() -> AllowList:
    return allow_list_from_raw(_stack_config_object(CROSS_ACCOUNT_KEY))


def _documents(args: ResourceValidationArgs) -> list[tuple[str, Any]]:
    """(where, raw document) for every policy document the resource carries."""
    found = list(identity_documents(args))
    if args.resource_type in RESOURCE_POLICIES:
        label, prop = RESOURCE_POLICIES[args.resource_type]
        found.append((f"{label} '{args.name}' ({prop})", args.props.get(prop)))
    if args.resource_type == LAMBDA_PERMISSION:
        # The statement Lambda adds: the principal, and the source it may call for.
        condition = {
            "StringEquals": {"aws:SourceAccount": text(args.props.get("sourceAccount"))},
            "ArnLike": {"aws:SourceArn": text(args.props.get("sourceArn"))},
        }
        statement = {
            "Effect": "Allow",
            "Principal": {"AWS": text(args.props.get("principal"))},
            "Condition": condition,
        }
        found.append((f"Lambda permission '{args.name}'", {"Statement": [statement]}))
    return found


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    documents = _documents(args)
    if not documents:
        return
    own = stack_accounts(args)
    if not own:
        return  # without the stack's account nothing can be called foreign
    listed = stack_allow_list()
    for where, raw in documents:
        if docs.document_error(raw):
            continue  # the rule for that document type reports it
        for ref in foreign_references(docs.parse_document(raw), own):
            if listed.reason_for(ref.value) is not None:
                continue
            report_violation(
                f"{where}, {ref.statement} names '{ref.value}' ({ref.via}) of account "
                f"{ref.account}, outside the stack's account ({', '.join(own)}), and "
                f"{PROJECT}:{CROSS_ACCOUNT_KEY} does not list it; list it there with the "
                "reason it needs access, or remove it.",
                None,
            )


POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="cross-account-allow-listed",
        description="Key, trust, bucket and topic policies and Lambda permissions name a "
        "principal of another account (in Principal or a principal condition such as "
        "aws:PrincipalArn), and identity policies a resource such as a KMS key of another "
        "account, only when the stack config lists it with a reason under "
        "rft-env:crossAccount.",
        validate=_validate,
    ),
]
