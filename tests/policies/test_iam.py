"""IAM policies over the Bedrock service role, grader roles and any attachment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rft_env.components.documents import VPC_DESCRIBE_ACTIONS
from rft_env.policies.rules.iam import ALLOWED_WILDCARD_RESOURCE_ACTIONS
from tests.policies.helpers import ACCOUNT, doc, policy_named, resource_args, run

WILDCARD_ACTIONS = policy_named("iam-no-wildcard-actions")
WILDCARD_RESOURCES = policy_named("iam-no-unlisted-wildcard-resources")
PASS_ROLE = policy_named("iam-no-passrole-on-wildcard")
TRUST = policy_named("iam-bedrock-trust-confused-deputy")
MANAGED = policy_named("iam-no-aws-managed-policies")
DOCUMENT_POLICIES = (WILDCARD_ACTIONS, WILDCARD_RESOURCES, PASS_ROLE)

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/rft-env-dev-bedrock-customization"
LOG_GROUP_ARN = (
    f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/rft-env-dev-grader-arithmetic"
)
WRITE_LOGS = {
    "Sid": "WriteOwnLogs",
    "Effect": "Allow",
    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": f"{LOG_GROUP_ARN}:log-stream:*",
}
DESCRIBE_NETWORK = {
    "Sid": "DescribeNetwork",
    "Effect": "Allow",
    "Action": list(VPC_DESCRIBE_ACTIONS),
    "Resource": "*",
}
BEDROCK_TRUST = {
    "Sid": "BedrockCustomizationJobs",
    "Effect": "Allow",
    "Principal": {"Service": "bedrock.amazonaws.com"},
    "Action": "sts:AssumeRole",
    "Condition": {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {
            "aws:SourceArn": f"arn:aws:bedrock:us-east-1:{ACCOUNT}:model-customization-job/*"
        },
    },
}
LAMBDA_TRUST = {
    "Sid": "LambdaExecution",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole",
}


def role_policy(*statements: dict[str, Any], name: str = "rft-customization-policy") -> Any:
    props = {"role": "rft-env-dev-bedrock-customization", "name": "p", "policy": doc(*statements)}
    return resource_args(ROLE_POLICY, props, name=name)


def role(trust: dict[str, Any], name: str = "rft-customization-role", **props: Any) -> Any:
    return resource_args(
        ROLE, {"name": "rft-env-dev", "assumeRolePolicy": doc(trust), **props}, name=name
    )


# --------------------------------------------------------------------------------------
# The program's documents comply
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", DOCUMENT_POLICIES, ids=lambda p: p.name)
def test_program_role_policies_comply(policy: Any) -> None:
    assert run(policy, role_policy(WRITE_LOGS, DESCRIBE_NETWORK)) == []


@pytest.mark.parametrize("policy", DOCUMENT_POLICIES, ids=lambda p: p.name)
def test_deny_statements_are_ignored(policy: Any) -> None:
    deny = {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::x", "Sid": "D"}
    assert run(policy, role_policy(WRITE_LOGS, deny)) == []


@pytest.mark.parametrize("policy", DOCUMENT_POLICIES, ids=lambda p: p.name)
def test_malformed_policy_json_is_reported(policy: Any) -> None:
    args = resource_args(ROLE_POLICY, {"role": "r", "policy": "{'Statement': []}"}, name="bad")
    (message,) = run(policy, args)
    assert "IAM role policy 'bad': policy is not valid JSON" in message


@pytest.mark.parametrize(
    "type_",
    ["aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"],
)
def test_every_identity_policy_type_is_read(type_: str) -> None:
    wide = {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}
    (message,) = run(WILDCARD_ACTIONS, resource_args(type_, {"policy": doc(wide)}, name="p"))
    assert "'p', statement 'All'" in message


def test_role_inline_policies_are_read() -> None:
    wide = {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    inline = [
        {"name": "ok", "policy": doc(WRITE_LOGS)},
        {"name": "wide", "policy": doc(wide)},
    ]
    (message,) = run(WILDCARD_ACTIONS, role(LAMBDA_TRUST, name="r", inlinePolicies=inline))
    assert "IAM role 'r', inline policy 'wide', statement 'All'" in message
    assert "'s3:*'" in message


def test_role_without_inline_policies_has_no_documents() -> None:
    assert run(WILDCARD_ACTIONS, role(LAMBDA_TRUST)) == []


def test_policy_given_as_mapping() -> None:
    document = {"Statement": {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "x"}}
    args = resource_args(ROLE_POLICY, {"role": "r", "policy": document}, name="p")
    assert len(run(WILDCARD_ACTIONS, args)) == 1


# --------------------------------------------------------------------------------------
# Wildcard actions
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["*", "s3:*", ["s3:GetObject", "Bedrock:*"]])
def test_wildcard_action_is_rejected(action: Any) -> None:
    statement = {"Sid": "Wide", "Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::b"}
    (message,) = run(WILDCARD_ACTIONS, role_policy(statement))
    assert "IAM role policy 'rft-customization-policy', statement 'Wide'" in message
    assert "wildcard action" in message


def test_not_action_is_rejected() -> None:
    statement = {"Sid": "Most", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    (message,) = run(WILDCARD_ACTIONS, role_policy(statement))
    assert "statement 'Most' allows NotAction" in message


def test_partial_wildcard_is_not_a_wildcard_action() -> None:
    statement = {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}
    assert run(WILDCARD_ACTIONS, role_policy(statement)) == []


# --------------------------------------------------------------------------------------
# Wildcard resources
# --------------------------------------------------------------------------------------
def test_the_pack_allows_the_vpc_lookups_on_star() -> None:
    assert set(VPC_DESCRIBE_ACTIONS) <= set(ALLOWED_WILDCARD_RESOURCE_ACTIONS)
    assert run(WILDCARD_RESOURCES, role_policy(DESCRIBE_NETWORK)) == []


def test_unlisted_actions_on_star_are_named() -> None:
    statement = {
        "Sid": "Mixed",
        "Effect": "Allow",
        "Action": ["ec2:DescribeSubnets", "s3:GetObject", "kms:Decrypt"],
        "Resource": ["arn:aws:s3:::b/*", "*"],
    }
    (message,) = run(WILDCARD_RESOURCES, role_policy(statement))
    assert "statement 'Mixed' allows 's3:GetObject', 'kms:Decrypt' on Resource '*'" in message
    assert "ec2:DescribeSubnets" not in message


def test_listed_actions_match_case_insensitively() -> None:
    statement = {**DESCRIBE_NETWORK, "Action": [a.lower() for a in VPC_DESCRIBE_ACTIONS]}
    assert run(WILDCARD_RESOURCES, role_policy(statement)) == []


def test_not_resource_counts_as_star() -> None:
    statement = {
        "Sid": "Almost",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "NotResource": "arn:aws:s3:::secret/*",
    }
    (message,) = run(WILDCARD_RESOURCES, role_policy(statement))
    assert "'s3:GetObject' on NotResource" in message


def test_not_action_on_star_is_rejected() -> None:
    statement = {"Sid": "N", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    (message,) = run(WILDCARD_RESOURCES, role_policy(statement))
    assert "statement 'N' allows NotAction on Resource '*'" in message


def test_config_allows_more_actions() -> None:
    statement = {"Sid": "X", "Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"}
    props = {"role": "r", "policy": doc(statement)}
    assert len(run(WILDCARD_RESOURCES, resource_args(ROLE_POLICY, props))) == 1
    config = {"allowedWildcardActions": {"xray:PutTraceSegments": "X-Ray has no resources"}}
    assert run(WILDCARD_RESOURCES, resource_args(ROLE_POLICY, props, config=config)) == []


def test_arn_with_wildcards_is_not_star() -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    assert run(WILDCARD_RESOURCES, role_policy(statement)) == []


# --------------------------------------------------------------------------------------
# iam:PassRole
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["iam:PassRole", "iam:passrole", "iam:Pass*", "iam:*", "*"])
@pytest.mark.parametrize(
    "resource",
    ["*", f"arn:aws:iam::{ACCOUNT}:role/*", f"arn:aws:iam::{ACCOUNT}:role/rft-env-*"],
)
def test_pass_role_on_wildcard_is_rejected(action: str, resource: str) -> None:
    statement = {"Sid": "Pass", "Effect": "Allow", "Action": action, "Resource": resource}
    (message,) = run(PASS_ROLE, role_policy(statement))
    assert "statement 'Pass' allows iam:PassRole on" in message
    assert resource in message


def test_pass_role_through_not_action() -> None:
    statement = {"Sid": "P", "Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}
    assert len(run(PASS_ROLE, role_policy(statement))) == 1
    excluded = {**statement, "NotAction": "iam:*"}
    assert run(PASS_ROLE, role_policy(excluded)) == []


def test_pass_role_on_not_resource() -> None:
    statement = {"Sid": "P", "Effect": "Allow", "Action": "iam:PassRole", "NotResource": ROLE_ARN}
    (message,) = run(PASS_ROLE, role_policy(statement))
    assert "NotResource" in message


def test_pass_role_on_exact_role_complies() -> None:
    statement = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE_ARN}
    assert run(PASS_ROLE, role_policy(statement)) == []


def test_account_wildcard_is_not_the_role_part() -> None:
    """Only the role part matters: a `*` account still names one role."""
    statement = {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": "arn:aws:iam::*:role/rft-env-dev-bedrock-customization",
    }
    assert run(PASS_ROLE, role_policy(statement)) == []


def test_other_actions_on_star_are_not_pass_role() -> None:
    assert run(PASS_ROLE, role_policy(DESCRIBE_NETWORK)) == []


# --------------------------------------------------------------------------------------
# Bedrock trust
# --------------------------------------------------------------------------------------
def test_program_bedrock_trust_complies() -> None:
    assert run(TRUST, role(BEDROCK_TRUST)) == []


def test_non_bedrock_trust_is_not_checked() -> None:
    assert run(TRUST, role(LAMBDA_TRUST)) == []


@pytest.mark.parametrize(
    ("condition", "missing"),
    [
        (None, "aws:SourceAccount and aws:SourceArn"),
        ({"StringEquals": {"aws:SourceAccount": ACCOUNT}}, "aws:SourceArn"),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:bedrock:*"}}, "aws:SourceAccount"),
    ],
)
def test_missing_confused_deputy_conditions(condition: Any, missing: str) -> None:
    trust = {k: v for k, v in BEDROCK_TRUST.items() if k != "Condition"}
    if condition:
        trust["Condition"] = condition
    (message,) = run(TRUST, role(trust))
    assert "IAM role 'rft-customization-role', assumeRolePolicy statement" in message
    assert f"without a condition on {missing};" in message


def test_conditions_under_any_operator_and_case() -> None:
    trust = {
        **BEDROCK_TRUST,
        "Principal": {"Service": ["lambda.amazonaws.com", "Bedrock.amazonaws.com"]},
        "Condition": {
            "StringLike": {"AWS:SourceAccount": [ACCOUNT]},
            "ArnLike": {"aws:sourcearn": "arn:aws:bedrock:us-east-1:*:model-customization-job/*"},
        },
    }
    assert run(TRUST, role(trust)) == []


def test_wildcard_source_account_is_rejected() -> None:
    trust = {
        **BEDROCK_TRUST,
        "Condition": {**BEDROCK_TRUST["Condition"], "StringLike": {"aws:SourceAccount": "*"}},
    }
    (message,) = run(TRUST, role(trust))
    assert "aws:SourceAccount against '*'" in message


def test_trust_policy_without_sid_and_as_mapping() -> None:
    trust = {k: v for k, v in BEDROCK_TRUST.items() if k not in ("Sid", "Condition")}
    args = resource_args(ROLE, {"assumeRolePolicy": {"Statement": [trust]}}, name="r")
    (message,) = run(TRUST, args)
    assert "statement #1 (no Sid)" in message


def test_malformed_trust_policy() -> None:
    args = resource_args(ROLE, {"assumeRolePolicy": "not json"}, name="r")
    (message,) = run(TRUST, args)
    assert "IAM role 'r': assumeRolePolicy is not valid JSON" in message


# --------------------------------------------------------------------------------------
# AWS-managed policies
# --------------------------------------------------------------------------------------
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (ROLE, {"managedPolicyArns": [ADMIN]}),
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": ADMIN}),
        ("aws:iam/policyAttachment:PolicyAttachment", {"roles": ["r"], "policyArn": ADMIN}),
        (
            "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
            {"roleName": "r", "policyArns": [f"arn:aws:iam::{ACCOUNT}:policy/mine", ADMIN]},
        ),
    ],
)
def test_aws_managed_attachment_is_rejected(type_: str, props: dict[str, Any]) -> None:
    (message,) = run(MANAGED, resource_args(type_, props, name="attach"))
    assert "'attach' attaches the AWS-managed policy" in message
    assert ADMIN in message
    assert "least privilege inline" in message


def test_customer_managed_and_empty_comply() -> None:
    mine = f"arn:aws:iam::{ACCOUNT}:policy/mine"
    assert run(MANAGED, resource_args(ROLE, {"managedPolicyArns": [mine]})) == []
    assert run(MANAGED, resource_args(ROLE, {"managedPolicyArns": []})) == []
    assert run(MANAGED, resource_args(ROLE, {})) == []


def test_other_partitions_are_aws_managed_too() -> None:
    arn = "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess"
    args = resource_args("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"policyArn": arn})
    assert len(run(MANAGED, args)) == 1


def test_config_allows_listed_managed_policies() -> None:
    config = {"allowedManagedPolicies": {BASIC: "reviewed: logs only"}}
    props = {"managedPolicyArns": [BASIC, ADMIN]}
    (message,) = run(MANAGED, resource_args(ROLE, props, config=config))
    assert ADMIN in message
    assert BASIC not in message


def test_trust_json_is_not_read_by_managed_policy_rule() -> None:
    args = resource_args(ROLE, {"assumeRolePolicy": json.dumps({"Statement": []})})
    assert run(MANAGED, args) == []
