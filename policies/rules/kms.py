"""KMS key rules: the stack key encrypts training data, model output, logs and the custom
model, so its rotation, deletion window and policy are guarded."""

from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from rft_env.policies.rules import documents as docs
from rft_env.policies.rules.common import (
    KMS_KEY,
    as_bool,
    as_number,
    fmt_list,
    is_production,
    policy_config,
    provider_allowed_accounts,
)

KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"

DEFAULT_DELETION_WINDOW = 30  # what AWS uses when deletionWindowInDays is not set
MINIMUM_DELETION_WINDOW = 7
PRODUCTION_DELETION_WINDOW = 30


def _key_label(args: ResourceValidationArgs) -> str:
    kind = "KMS key policy" if args.resource_type == KEY_POLICY else "KMS key"
    return f"{kind} '{args.name}'"


def _validate_rotation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != KMS_KEY:
        return
    if as_bool(args.props.get("enableKeyRotation")) is not True:
        report_violation(
            f"{_key_label(args)} does not set enableKeyRotation: true; enable automatic "
            "yearly rotation of the key material.",
            None,
        )


def _validate_deletion_window(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != KMS_KEY:
        return
    config = policy_config(args)
    override = as_number(config.get("minimumDays"))
    if override is not None:
        minimum, why = int(override), "the policy's minimumDays"
    elif is_production(args):
        minimum, why = PRODUCTION_DELETION_WINDOW, "a production stack"
    else:
        minimum, why = MINIMUM_DELETION_WINDOW, "every stack"
    raw = args.props.get("deletionWindowInDays")
    days = DEFAULT_DELETION_WINDOW if raw is None else as_number(raw)
    if days is None or days < minimum:
        shown = f"{days:g}" if days is not None else repr(raw)
        report_violation(
            f"{_key_label(args)} has deletionWindowInDays {shown}; {why} requires at "
            f"least {minimum} days, time to cancel a mistaken deletion before the key and "
            "everything encrypted with it are unrecoverable.",
            None,
        )


def _validate_key_policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (KMS_KEY, KEY_POLICY):
        return
    raw = args.props.get("policy")
    error = docs.document_error(raw)
    if error:
        report_violation(f"{_key_label(args)}: policy {error}.", None)
        return
    allowed_accounts = provider_allowed_accounts(args.provider)
    for index, statement in enumerate(docs.statements(docs.parse_document(raw))):
        if not docs.is_allow(statement):
            continue
        where = f"{_key_label(args)}, {docs.statement_label(statement, index)}"
        if docs.is_public_principal(statement):
            report_violation(
                f"{where} allows Principal '*' (or NotPrincipal); name the account root and "
                "narrow callers with conditions instead.",
                None,
            )
            continue
        wildcard = [a for a in docs.actions(statement) if a.strip().lower() in ("*", "kms:*")]
        if docs.has_not_action(statement):
            wildcard.append("NotAction")
        if not wildcard:
            continue
        principals = docs.principal_values(statement)
        accounts = [docs.account_of_root(p) for p in principals]
        others = [p for p, a in zip(principals, accounts, strict=True) if a is None]
        foreign = [
            p
            for p, a in zip(principals, accounts, strict=True)
            if a is not None and allowed_accounts is not None and a not in allowed_accounts
        ]
        if not principals or others or foreign:
            offenders = others + foreign or ["(no principal)"]
            account_note = (
                f" of the stack's account ({', '.join(allowed_accounts)})"
                if allowed_accounts
                else ""
            )
            report_violation(
                f"{where} grants {fmt_list(wildcard)} to {fmt_list(offenders)}; full key "
                f"access is only for the account root{account_note}. Grant other principals "
                "the specific kms: actions they need.",
                None,
            )


POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="kms-key-rotation-enabled",
        description="KMS keys rotate their key material automatically (enableKeyRotation), "
        "limiting how much data one key version protects.",
        validate=_validate_rotation,
    ),
    ResourceValidationPolicy(
        name="kms-key-deletion-window",
        description="KMS keys keep a deletion window of at least 7 days, and at least 30 "
        "days in a production stack, so a mistaken deletion can be cancelled before the "
        "encrypted data and custom models become unreadable.",
        validate=_validate_deletion_window,
        config_schema=PolicyConfigSchema(
            properties={
                "production": {
                    "type": "boolean",
                    "description": "Treat the stack as production (30-day minimum). Default: "
                    "the stack's rft-env:production config.",
                },
                "minimumDays": {
                    "type": "integer",
                    "minimum": 7,
                    "maximum": 30,
                    "description": "Minimum deletion window in days; overrides both defaults.",
                },
            }
        ),
    ),
    ResourceValidationPolicy(
        name="kms-key-policy-no-wildcard-grants",
        description="A KMS key policy never allows Principal '*', and grants kms:* (or *, "
        "or NotAction) only to the account root of the stack's own account.",
        validate=_validate_key_policy,
    ),
]
