"""KMS key policies: rotation, deletion window (production-aware) and key-policy grants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.policies.helpers import (
    ACCOUNT,
    ROOT_ARN,
    doc,
    policy_named,
    provider,
    pulumi_config,
    resource_args,
    run,
)

ROTATION = policy_named("kms-key-rotation-enabled")
WINDOW = policy_named("kms-key-deletion-window")
GRANTS = policy_named("kms-key-policy-no-wildcard-grants")
KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"

ADMIN = {
    "Sid": "AccountAdministersKey",
    "Effect": "Allow",
    "Principal": {"AWS": ROOT_ARN},
    "Action": ["kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
    "Resource": "*",
}
LOGS = {
    "Sid": "CloudWatchLogsEncryptsGraderLogs",
    "Effect": "Allow",
    "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
    "Resource": "*",
}


def key(**props: Any) -> dict[str, Any]:
    """The stack key as the encryption component declares it (dev: a 7-day window)."""
    base: dict[str, Any] = {
        "description": "rft-env-dev",
        "enableKeyRotation": True,
        "deletionWindowInDays": 7.0,
        "policy": doc(ADMIN, LOGS),
    }
    base.update(props)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture(autouse=True)
def not_production() -> Iterator[None]:
    """Start every test from a stack config without rft-env:production."""
    with pulumi_config({"rft-env:production": None}):
        yield


# --------------------------------------------------------------------------------------
# Rotation
# --------------------------------------------------------------------------------------
def test_rotation_enabled_complies() -> None:
    assert run(ROTATION, resource_args(KEY, key(), name="rft-kms-key")) == []


@pytest.mark.parametrize("value", [False, None, "false"])
def test_rotation_disabled_or_missing(value: object) -> None:
    (message,) = run(ROTATION, resource_args(KEY, key(enableKeyRotation=value), name="rft-kms-key"))
    assert "KMS key 'rft-kms-key'" in message
    assert "enableKeyRotation" in message


def test_rotation_ignores_other_types() -> None:
    assert run(ROTATION, resource_args(KEY_POLICY, {"policy": doc(ADMIN)})) == []


# --------------------------------------------------------------------------------------
# Deletion window
# --------------------------------------------------------------------------------------
def test_dev_window_of_seven_days_complies() -> None:
    assert run(WINDOW, resource_args(KEY, key(), name="rft-kms-key")) == []


def test_missing_window_is_the_aws_default_of_thirty() -> None:
    with pulumi_config({"rft-env:production": "true"}):
        assert run(WINDOW, resource_args(KEY, key(deletionWindowInDays=None))) == []


def test_window_below_seven_is_rejected_anywhere() -> None:
    (message,) = run(WINDOW, resource_args(KEY, key(deletionWindowInDays=5.0), name="k"))
    assert "KMS key 'k' has deletionWindowInDays 5;" in message
    assert "at least 7 days" in message


def test_production_from_stack_config_requires_thirty() -> None:
    with pulumi_config({"rft-env:production": "true"}):
        (message,) = run(WINDOW, resource_args(KEY, key(), name="rft-kms-key"))
    assert "KMS key 'rft-kms-key' has deletionWindowInDays 7;" in message
    assert "production" in message
    assert "at least 30 days" in message
    with pulumi_config({"rft-env:production": "true"}):
        assert run(WINDOW, resource_args(KEY, key(deletionWindowInDays=30.0))) == []


def test_stack_config_false_is_not_production() -> None:
    with pulumi_config({"rft-env:production": "false"}):
        assert run(WINDOW, resource_args(KEY, key())) == []


def test_policy_config_overrides_stack_config() -> None:
    with pulumi_config({"rft-env:production": "true"}):
        args = resource_args(KEY, key(), config={"production": False})
        assert run(WINDOW, args) == []
    (message,) = run(WINDOW, resource_args(KEY, key(), config={"production": True}))
    assert "at least 30 days" in message


def test_minimum_days_overrides_both() -> None:
    args = resource_args(KEY, key(deletionWindowInDays=14.0), config={"minimumDays": 21})
    (message,) = run(WINDOW, args)
    assert "minimumDays" in message
    assert "at least 21 days" in message
    with pulumi_config({"rft-env:production": "true"}):
        args = resource_args(KEY, key(deletionWindowInDays=14.0), config={"minimumDays": 10})
        assert run(WINDOW, args) == []


def test_non_numeric_window_is_rejected() -> None:
    (message,) = run(WINDOW, resource_args(KEY, key(deletionWindowInDays="soon")))
    assert "'soon'" in message


# --------------------------------------------------------------------------------------
# Key policy grants
# --------------------------------------------------------------------------------------
def test_program_key_policy_complies() -> None:
    assert run(GRANTS, resource_args(KEY, key(), name="rft-kms-key")) == []


def test_missing_policy_is_the_aws_default() -> None:
    assert run(GRANTS, resource_args(KEY, key(policy=None))) == []


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": [ROOT_ARN, "*"]}])
def test_public_principal_is_rejected(principal: object) -> None:
    statement = {**LOGS, "Sid": "Everyone", "Principal": principal, "Action": "kms:Decrypt"}
    (message,) = run(GRANTS, resource_args(KEY, key(policy=doc(ADMIN, statement)), name="k"))
    assert "KMS key 'k', statement 'Everyone'" in message
    assert "Principal '*'" in message


def test_public_principal_in_deny_is_fine() -> None:
    deny = {**LOGS, "Effect": "Deny", "Principal": "*"}
    assert run(GRANTS, resource_args(KEY, key(policy=doc(ADMIN, deny)))) == []


@pytest.mark.parametrize("principal", [ROOT_ARN, ACCOUNT, [ROOT_ARN, ACCOUNT]])
def test_full_access_for_account_root_complies(principal: object) -> None:
    statement = {**ADMIN, "Principal": {"AWS": principal}, "Action": "kms:*"}
    assert run(GRANTS, resource_args(KEY, key(policy=doc(statement)))) == []


@pytest.mark.parametrize(
    ("action", "shown"), [("kms:*", "'kms:*'"), ("*", "'*'"), (["KMS:*"], "'KMS:*'")]
)
def test_full_access_for_a_role_is_rejected(action: object, shown: str) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/admin"
    statement = {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": role}, "Action": action}
    (message,) = run(GRANTS, resource_args(KEY, key(policy=doc(statement)), name="k"))
    assert "statement 'Admins'" in message
    assert shown in message
    assert role in message


def test_not_action_for_a_service_is_rejected() -> None:
    statement = {k: v for k, v in LOGS.items() if k != "Action"}
    statement["NotAction"] = "kms:ScheduleKeyDeletion"
    (message,) = run(GRANTS, resource_args(KEY, key(policy=doc(statement))))
    assert "'NotAction'" in message
    assert "logs.us-east-1.amazonaws.com" in message


def test_root_of_another_account_is_rejected_when_accounts_are_known() -> None:
    other = "arn:aws:iam::444455556666:root"
    statement = {**ADMIN, "Principal": {"AWS": other}, "Action": "kms:*"}
    (message,) = run(GRANTS, resource_args(KEY, key(policy=doc(statement))))
    assert other in message
    assert ACCOUNT in message


def test_any_root_is_accepted_when_accounts_are_unknown() -> None:
    other = "arn:aws:iam::444455556666:root"
    statement = {**ADMIN, "Principal": {"AWS": other}, "Action": "kms:*"}
    for unknown in (None, provider(props={"region": "us-east-1"})):
        args = resource_args(KEY, key(policy=doc(statement)), provider_=unknown)
        assert run(GRANTS, args) == []


def test_key_policy_resource_is_checked() -> None:
    statement = {**ADMIN, "Sid": "Wide", "Principal": {"AWS": "*"}, "Action": "kms:*"}
    args = resource_args(KEY_POLICY, {"keyId": "k", "policy": doc(statement)}, name="kp")
    (message,) = run(GRANTS, args)
    assert "KMS key policy 'kp', statement 'Wide'" in message


def test_malformed_key_policy() -> None:
    (message,) = run(GRANTS, resource_args(KEY, key(policy="{oops"), name="k"))
    assert "KMS key 'k': policy is not valid JSON" in message


def test_statement_without_sid_is_named_by_position() -> None:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}
    (message,) = run(GRANTS, resource_args(KEY, key(policy=doc(ADMIN, statement))))
    assert "statement #2 (no Sid)" in message
