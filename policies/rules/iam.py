"""IAM rules: least privilege for the Bedrock service role and the grader execution roles.

Identity documents come from RolePolicy/Policy/UserPolicy/GroupPolicy `policy` and a
Role's `inlinePolicies[].policy`; the trust policy is a Role's `assumeRolePolicy`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from rft_env.policies.rules import documents as docs
from rft_env.policies.rules.common import IAM_ROLE, as_sequence, fmt_list, get, policy_config, text

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IDENTITY_POLICY_TYPES = (ROLE_POLICY, MANAGED_POLICY, USER_POLICY, GROUP_POLICY)

# Resource types that attach managed policies, and the prop naming the policy ARN(s).
ATTACHMENT_PROPS: dict[str, str] = {
    IAM_ROLE: "managedPolicyArns",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": "policyArns",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": "policyArns",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": "policyArns",
}

# Identity-policy actions that may apply to `Resource: "*"` (or NotResource), each with the
# reason nothing narrower exists: the pack's own statement, never imported from the code it
# guards, so that no diff widens a component's list and loosens this rule at once.
# tests/policies/test_allow_lists.py fails when components.documents.WILDCARD_RESOURCE_ACTIONS
# goes beyond it; widening this list is a change of its own, for a reviewer to see.
_EC2_DESCRIBE = "EC2 Describe* actions support no resource-level permissions"
ALLOWED_WILDCARD_RESOURCE_ACTIONS: Mapping[str, str] = {
    "ec2:DescribeDhcpOptions": _EC2_DESCRIBE,
    "ec2:DescribeNetworkInterfaces": _EC2_DESCRIBE,
    "ec2:DescribeSecurityGroups": _EC2_DESCRIBE,
    "ec2:DescribeSubnets": _EC2_DESCRIBE,
    "ec2:DescribeVpcs": _EC2_DESCRIBE,
}
# Where an action on "*" is listed: here, or in the policy's config (for a stack's own needs).
_WHERE_LISTED = (
    "ALLOWED_WILDCARD_RESOURCE_ACTIONS (policies/rules/iam.py) or the policy's "
    "allowedWildcardActions"
)

BEDROCK_SERVICE = "bedrock.amazonaws.com"
PASS_ROLE = "iam:PassRole"

_KIND = {
    IAM_ROLE: "IAM role",
    ROLE_POLICY: "IAM role policy",
    MANAGED_POLICY: "IAM policy",
    USER_POLICY: "IAM user policy",
    GROUP_POLICY: "IAM group policy",
}

StatementCheck = Callable[[ResourceValidationArgs, docs.Statement], list[str]]


def _kind(args: ResourceValidationArgs) -> str:
    return _KIND.get(args.resource_type, args.resource_type.rsplit(":", 1)[-1])


def identity_documents(args: ResourceValidationArgs) -> list[tuple[str, Any]]:
    """(where, raw document) for every identity policy the resource defines."""
    if args.resource_type in IDENTITY_POLICY_TYPES:
        return [(f"{_kind(args)} '{args.name}'", args.props.get("policy"))]
    if args.resource_type == IAM_ROLE:
        found = []
        for index, inline in enumerate(as_sequence(args.props.get("inlinePolicies"))):
            name = text(get(inline, "name")) or f"#{index + 1}"
            found.append((f"IAM role '{args.name}', inline policy '{name}'", get(inline, "policy")))
        return found
    return []


def _statement_policy(
    name: str,
    description: str,
    check: StatementCheck,
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    """A policy running `check` on every Allow statement of every identity document."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for where, raw in identity_documents(args):
            error = docs.document_error(raw)
            if error:
                report_violation(f"{where}: policy {error}.", None)
                continue
            for index, statement in enumerate(docs.statements(docs.parse_document(raw))):
                if not docs.is_allow(statement):
                    continue
                label = f"{where}, {docs.statement_label(statement, index)}"
                for problem in check(args, statement):
                    report_violation(f"{label} {problem}", None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, config_schema=config_schema
    )


# --------------------------------------------------------------------------------------
# Wildcard actions
# --------------------------------------------------------------------------------------
def _check_wildcard_actions(_args: ResourceValidationArgs, statement: docs.Statement) -> list[str]:
    problems = []
    if docs.has_not_action(statement):
        problems.append(
            "allows NotAction (every action except those listed); list the allowed actions "
            "in Action instead."
        )
    wildcard = [a for a in docs.actions(statement) if docs.is_wildcard_action(a)]
    if wildcard:
        problems.append(
            f"allows the wildcard action(s) {fmt_list(wildcard)}; list the specific actions "
            "the role needs."
        )
    return problems


# --------------------------------------------------------------------------------------
# Wildcard resources
# --------------------------------------------------------------------------------------
def _allowed_wildcard_actions(args: ResourceValidationArgs) -> set[str]:
    configured = policy_config(args).get("allowedWildcardActions")
    extra = list(configured) if isinstance(configured, Mapping) else []
    return docs.lower_set([*ALLOWED_WILDCARD_RESOURCE_ACTIONS, *extra])


def _check_wildcard_resources(args: ResourceValidationArgs, statement: docs.Statement) -> list[str]:
    not_resource = docs.has_not_resource(statement)
    if not not_resource and not any(r.strip() == "*" for r in docs.resources(statement)):
        return []
    on = "NotResource (every resource except those listed)" if not_resource else "Resource '*'"
    if docs.has_not_action(statement):
        return [
            f"allows NotAction on {on}; only actions listed in "
            f"{_WHERE_LISTED} may apply to every resource."
        ]
    allowed = _allowed_wildcard_actions(args)
    unlisted = [a for a in docs.actions(statement) if a.strip().lower() not in allowed]
    if not unlisted:
        return []
    return [
        f"allows {fmt_list(unlisted)} on {on}; name the resources, or (when the action "
        f"supports no resource-level permissions) add it with the reason to {_WHERE_LISTED}."
    ]


# --------------------------------------------------------------------------------------
# iam:PassRole
# --------------------------------------------------------------------------------------
def _role_part_is_wildcard(resource: str) -> bool:
    resource = resource.strip()
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    return "*" in (parts[5] if len(parts) == 6 else resource)


def _check_pass_role(_args: ResourceValidationArgs, statement: docs.Statement) -> list[str]:
    if not docs.allows_action(statement, PASS_ROLE):
        return []
    if docs.has_not_resource(statement):
        return [
            "allows iam:PassRole on NotResource (every role except those listed); name the "
            "exact role ARNs that may be passed."
        ]
    wildcard = [r for r in docs.resources(statement) if _role_part_is_wildcard(r)]
    if not wildcard:
        return []
    return [
        f"allows iam:PassRole on {fmt_list(wildcard)}; passing any role lets the caller "
        "act with that role's permissions. Name the exact role ARNs."
    ]


# --------------------------------------------------------------------------------------
# Bedrock trust: confused deputy
# --------------------------------------------------------------------------------------
def _validate_bedrock_trust(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != IAM_ROLE:
        return
    raw = args.props.get("assumeRolePolicy")
    error = docs.document_error(raw)
    if error:
        report_violation(f"IAM role '{args.name}': assumeRolePolicy {error}.", None)
        return
    for index, statement in enumerate(docs.statements(docs.parse_document(raw))):
        if not docs.is_allow(statement) or BEDROCK_SERVICE not in docs.service_principals(
            statement
        ):
            continue
        where = f"IAM role '{args.name}', assumeRolePolicy {docs.statement_label(statement, index)}"
        source_account = docs.condition_values(statement, "aws:SourceAccount")
        source_arn = docs.condition_values(statement, "aws:SourceArn")
        required = {"aws:SourceAccount": source_account, "aws:SourceArn": source_arn}
        missing = [key for key, values in required.items() if not values]
        if missing:
            report_violation(
                f"{where} lets bedrock.amazonaws.com assume the role without a condition on "
                f"{' and '.join(missing)}; require both (the stack's account, and its "
                "model-customization-job ARNs) so no other account's job can use the role.",
                None,
            )
        wildcard = [str(v) for v in source_account or [] if "*" in str(v)]
        if wildcard:
            report_violation(
                f"{where} matches aws:SourceAccount against {fmt_list(wildcard)}; name the "
                "stack's account id exactly.",
                None,
            )


# --------------------------------------------------------------------------------------
# AWS-managed policies
# --------------------------------------------------------------------------------------
def _validate_managed_policies(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    prop = ATTACHMENT_PROPS.get(args.resource_type)
    if prop is None:
        return
    configured = policy_config(args).get("allowedManagedPolicies")
    allowed = {str(arn).strip() for arn in configured} if isinstance(configured, Mapping) else set()
    value = args.props.get(prop)
    arns = [value] if isinstance(value, str) else as_sequence(value)
    for arn in arns:
        if docs.is_aws_managed_policy_arn(arn) and arn.strip() not in allowed:
            report_violation(
                f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' attaches the "
                f"AWS-managed policy '{arn.strip()}' ({prop}); it is broader than an rft-env "
                "role needs and AWS may widen it. Grant least privilege inline, or list it "
                "with a reason in the policy's allowedManagedPolicies.",
                None,
            )


_REASONS = {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}}

POLICIES: list[ResourceValidationPolicy] = [
    _statement_policy(
        "iam-no-wildcard-actions",
        "IAM identity policies never allow '*' or '<service>:*' actions, nor NotAction: "
        "every permission is named, so a new AWS action is never granted by accident.",
        _check_wildcard_actions,
    ),
    _statement_policy(
        "iam-no-unlisted-wildcard-resources",
        "IAM identity policies allow Resource '*' (or NotResource) only for actions that "
        "support no resource-level permissions, each listed with its reason in "
        f"{_WHERE_LISTED}.",
        _check_wildcard_resources,
        PolicyConfigSchema(
            properties={
                "allowedWildcardActions": {
                    **_REASONS,
                    "description": "Extra actions allowed on Resource '*': action name to "
                    "the reason it supports no resource-level permissions.",
                }
            }
        ),
    ),
    _statement_policy(
        "iam-no-passrole-on-wildcard",
        "IAM identity policies allow iam:PassRole only on exact role ARNs: passing any role "
        "(Resource '*' or a role name with '*') is privilege escalation.",
        _check_pass_role,
    ),
    ResourceValidationPolicy(
        name="iam-bedrock-trust-confused-deputy",
        description="A role Bedrock may assume conditions its trust policy on aws:SourceAccount "
        "(an exact account) and aws:SourceArn, so Bedrock cannot be made to use it on "
        "another account's behalf (confused deputy).",
        validate=_validate_bedrock_trust,
    ),
    ResourceValidationPolicy(
        name="iam-no-aws-managed-policies",
        description="No AWS-managed policy (arn:<partition>:iam::aws:policy/...) is attached "
        "to rft-env's roles, users or groups: they are broader than rft-env needs and AWS "
        "can widen them; permissions are granted inline with least privilege.",
        validate=_validate_managed_policies,
        config_schema=PolicyConfigSchema(
            properties={
                "allowedManagedPolicies": {
                    **_REASONS,
                    "description": "AWS-managed policy ARNs that may be attached, each with "
                    "the reason.",
                }
            }
        ),
    ),
]
