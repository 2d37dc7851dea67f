"""Cross-account rule: another account's principals and keys only when allow-listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from tests.policies.helpers import (
    ACCOUNT,
    KEY_ARN,
    ROOT_ARN,
    doc,
    policy_named,
    provider,
    pulumi_config,
    resource_args,
    run,
)

RULE = policy_named("cross-account-allow-listed")
KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
PERMISSION = "aws:lambda/permission:Permission"

OTHER = "999999999999"
ATTACKER = f"arn:aws:iam::{OTHER}:role/attacker"
FOREIGN_KEY = f"arn:aws:kms:us-east-1:{OTHER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/rft-env-deployer"


def key_use(*principal_arns: str) -> dict[str, Any]:
    """The key policy's operator statement: the account root, narrowed by aws:PrincipalArn."""
    return {
        "Sid": "OperatorUsesKeyThroughBedrock",
        "Effect": "Allow",
        "Principal": {"AWS": ROOT_ARN},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": list(principal_arns)}},
    }


def trust(principal: Any, **extra: Any) -> str:
    return doc({"Sid": "Assume", "Effect": "Allow", "Principal": principal, **extra})


@pytest.fixture(autouse=True)
def stack_config() -> Iterator[None]:
    """The dev stack's account, and no allow-list."""
    with pulumi_config(
        {"rft-env:account": json.dumps({"id": ACCOUNT}), "rft-env:crossAccount": None}
    ):
        yield


def allowing(*entries: dict[str, Any]) -> Any:
    return pulumi_config({"rft-env:crossAccount": json.dumps(list(entries))})


# --------------------------------------------------------------------------------------
# Key policies: the red team's foreign key user
# --------------------------------------------------------------------------------------
def test_own_account_key_users_comply() -> None:
    assert run(RULE, resource_args(KEY, {"policy": doc(key_use(OPERATOR))})) == []


def test_foreign_key_user_through_principal_arn_is_blocked() -> None:
    args = resource_args(KEY, {"policy": doc(key_use(OPERATOR, ATTACKER))}, name="rft-kms-key")
    (message,) = run(RULE, args)
    assert "KMS key 'rft-kms-key' (policy), statement 'OperatorUsesKeyThroughBedrock'" in message
    assert ATTACKER in message and "Condition aws:PrincipalArn" in message
    assert f"account {OTHER}" in message and ACCOUNT in message
    assert "rft-env:crossAccount" in message


def test_foreign_key_user_listed_with_a_reason_complies() -> None:
    args = resource_args(KEY, {"policy": doc(key_use(ATTACKER))})
    with allowing({"arn": ATTACKER, "reason": "the data team's pipeline reads job output"}):
        assert run(RULE, args) == []


@pytest.mark.parametrize(
    "entry",
    [
        {"arn": ATTACKER},
        {"arn": ATTACKER, "reason": ""},
        {"arn": ATTACKER, "reason": "   "},
        {"arn": ATTACKER, "reason": 5},
        {"arn": f"arn:aws:s3:::{OTHER}", "reason": "not an allowed form"},
        "arn:aws:iam::999999999999:role/attacker",
    ],
)
def test_an_entry_without_a_reason_or_of_another_form_allows_nothing(entry: Any) -> None:
    args = resource_args(KEY, {"policy": doc(key_use(ATTACKER))})
    with pulumi_config({"rft-env:crossAccount": json.dumps([entry])}):
        assert len(run(RULE, args)) == 1


def test_an_account_root_entry_covers_its_principals_and_keys() -> None:
    root = {"arn": f"arn:aws:iam::{OTHER}:root", "reason": "the analytics account"}
    with allowing(root):
        assert run(RULE, resource_args(KEY, {"policy": doc(key_use(ATTACKER))})) == []
        identity = doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": FOREIGN_KEY})
        assert run(RULE, resource_args(ROLE_POLICY, {"policy": identity})) == []


def test_a_role_entry_covers_that_role_only() -> None:
    with allowing({"arn": ATTACKER, "reason": "one role"}):
        other_role = f"arn:aws:iam::{OTHER}:role/someone-else"
        (message,) = run(RULE, resource_args(KEY, {"policy": doc(key_use(other_role))}))
    assert other_role in message


def test_denies_and_negated_conditions_grant_nothing() -> None:
    deny = {**key_use(ATTACKER), "Effect": "Deny"}
    negated = {
        **key_use(OPERATOR),
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": OTHER}},
    }
    assert run(RULE, resource_args(KEY, {"policy": doc(deny, negated)})) == []


@pytest.mark.parametrize(
    ("condition", "value"),
    [
        ({"StringEquals": {"kms:CallerAccount": OTHER}}, OTHER),
        ({"StringEquals": {"AWS:SourceAccount": OTHER}}, OTHER),
        ({"ForAnyValue:StringEquals": {"aws:PrincipalAccount": [OTHER]}}, OTHER),
        ({"ArnLikeIfExists": {"aws:PrincipalArn": f"arn:aws:iam::{OTHER}:*"}}, OTHER),
    ],
)
def test_principal_conditions_naming_another_account_are_blocked(
    condition: dict[str, Any], value: str
) -> None:
    statement = {**key_use(OPERATOR), "Condition": condition}
    (message,) = run(RULE, resource_args(KEY, {"policy": doc(statement)}))
    assert value in message


def test_a_wildcard_account_can_never_be_listed() -> None:
    anyone = "arn:aws:iam::*:role/attacker"
    with allowing({"arn": f"arn:aws:iam::{OTHER}:root", "reason": "r"}):
        (message,) = run(RULE, resource_args(KEY, {"policy": doc(key_use(anyone))}))
    assert "of account *" in message


# --------------------------------------------------------------------------------------
# Trust, bucket and topic policies, Lambda permissions
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "principal",
    [{"AWS": ATTACKER}, {"AWS": [OPERATOR, OTHER]}, ATTACKER, {"Federated": ATTACKER}],
)
def test_a_role_trusting_another_account_is_blocked(principal: Any) -> None:
    args = resource_args(ROLE, {"assumeRolePolicy": trust(principal)}, name="deployer")
    (message,) = run(RULE, args)
    assert "IAM role 'deployer' (assumeRolePolicy), statement 'Assume'" in message


def test_services_and_own_principals_comply() -> None:
    service = trust(
        {"Service": "bedrock.amazonaws.com"},
        Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    )
    assert run(RULE, resource_args(ROLE, {"assumeRolePolicy": service})) == []
    assert run(RULE, resource_args(ROLE, {"assumeRolePolicy": trust({"AWS": ACCOUNT})})) == []


def test_a_bucket_or_topic_policy_for_another_account_is_blocked() -> None:
    read = {
        "Sid": "Read",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::rft-env-dev-data/*",
    }
    (bucket,) = run(RULE, resource_args(BUCKET_POLICY, {"policy": doc(read)}, name="data"))
    assert "BucketPolicy 'data' (policy)" in bucket
    (topic,) = run(RULE, resource_args(TOPIC_POLICY, {"policy": doc(read)}, name="t"))
    assert "SNS topic policy 't'" in topic


def test_a_lambda_permission_for_another_account_is_blocked() -> None:
    props = {"function": "grader", "action": "lambda:InvokeFunction", "principal": OTHER}
    (message,) = run(RULE, resource_args(PERMISSION, props, name="invoke"))
    assert "Lambda permission 'invoke'" in message and OTHER in message
    service = {**props, "principal": "bedrock.amazonaws.com", "sourceAccount": ACCOUNT}
    assert run(RULE, resource_args(PERMISSION, service)) == []


# --------------------------------------------------------------------------------------
# Identity policies: another account's key
# --------------------------------------------------------------------------------------
def test_an_identity_policy_on_another_accounts_key_is_blocked_unless_listed() -> None:
    identity = doc(
        {"Sid": "UseKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": FOREIGN_KEY}
    )
    args = resource_args(ROLE_POLICY, {"policy": identity}, name="rft-customization-policy")
    (message,) = run(RULE, args)
    assert "IAM role policy 'rft-customization-policy', statement 'UseKey'" in message
    assert f"'{FOREIGN_KEY}' (Resource)" in message
    with allowing({"arn": FOREIGN_KEY, "reason": "the platform team's shared key"}):
        assert run(RULE, args) == []
    own = doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN})
    assert run(RULE, resource_args(ROLE_POLICY, {"policy": own})) == []


def test_aws_owned_and_account_less_resources_comply() -> None:
    identity = doc(
        {
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "s3:GetObject"],
            "Resource": [
                "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
                "arn:aws:s3:::someone-elses-bucket/*",
                "*",
            ],
        }
    )
    assert run(RULE, resource_args(ROLE_POLICY, {"policy": identity})) == []


# --------------------------------------------------------------------------------------
# Whose account
# --------------------------------------------------------------------------------------
def test_the_providers_account_decides_before_the_stack_config() -> None:
    policy = {"assumeRolePolicy": trust({"AWS": ATTACKER})}
    assert run(RULE, resource_args(ROLE, policy, provider_=provider(accounts=[OTHER]))) == []
    # The stack's root is then the foreign one.
    (message,) = run(
        RULE, resource_args(KEY, {"policy": doc(key_use())}, provider_=provider(accounts=[OTHER]))
    )
    assert ROOT_ARN in message


def test_without_the_providers_accounts_the_stack_config_decides() -> None:
    args = resource_args(KEY, {"policy": doc(key_use(ATTACKER))}, provider_=None)
    assert len(run(RULE, args)) == 1


def test_unknown_documents_are_not_swallowed() -> None:
    with pytest.raises(UnknownValueError):
        run(RULE, resource_args(ROLE, {"assumeRolePolicy": UNKNOWN_STRING_VALUE}))
