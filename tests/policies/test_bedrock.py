"""Bedrock policies over the training component's dynamic resources."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.helpers import (
    ACCOUNT,
    KEY_ARN,
    KEY_ID,
    policy_named,
    resource,
    resource_args,
    run,
    run_with_urns,
    stack_args,
    storage_stack,
    urn,
)

JOB_POLICY = policy_named("bedrock-job-stack-key-and-role")
THROUGHPUT = policy_named("bedrock-committed-throughput-protected")

JOB_TYPE = "pulumi-python:dynamic/bedrock:RftCustomizationJob"
THROUGHPUT_TYPE = "pulumi-python:dynamic/bedrock:ProvisionedThroughput"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/rft-env-dev-bedrock-customization"
OTHER_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"


def stack_key() -> Any:
    return resource(
        "aws:kms/key:Key",
        "rft-kms-key",
        {"enableKeyRotation": True, "arn": KEY_ARN, "keyId": KEY_ID},
    )


def service_role() -> Any:
    return resource(
        "aws:iam/role:Role",
        "rft-customization-role",
        {"name": "rft-env-dev-bedrock-customization", "arn": ROLE_ARN},
    )


def job(deps: dict[str, list[Any]] | None = None, **props: Any) -> Any:
    base = {
        "kmsKeyId": KEY_ARN,
        "serviceRoleArn": ROLE_ARN,
        "baseModelIdentifier": "amazon.nova-2-lite-v1:0:256k",
        "namePrefix": "rft-env-dev",
    }
    base.update(props)
    return resource(
        JOB_TYPE,
        "rft-training-job",
        {k: v for k, v in base.items() if v is not None},
        provider_=None,
        deps=deps,
    )


# --------------------------------------------------------------------------------------
# Job key and role
# --------------------------------------------------------------------------------------
def test_program_job_complies() -> None:
    assert run(JOB_POLICY, stack_args([stack_key(), service_role(), job()])) == []


def test_key_id_form_complies() -> None:
    assert run(JOB_POLICY, stack_args([stack_key(), service_role(), job(kmsKeyId=KEY_ID)])) == []


def test_dependencies_link_key_and_role() -> None:
    key, role = stack_key(), service_role()
    linked = job(
        {"kmsKeyId": [key], "serviceRoleArn": [role]},
        kmsKeyId="computed",
        serviceRoleArn="computed",
    )
    assert run(JOB_POLICY, stack_args([key, role, linked])) == []


def test_missing_key_is_rejected() -> None:
    found = run_with_urns(JOB_POLICY, stack_args([stack_key(), service_role(), job(kmsKeyId="")]))
    assert len(found) == 1
    message, where = found[0]
    assert "Bedrock customization job 'rft-training-job' sets no kmsKeyId" in message
    assert where == urn(JOB_TYPE, "rft-training-job")


def test_outside_key_is_rejected() -> None:
    stack = [stack_key(), service_role(), job(kmsKeyId=OTHER_KEY)]
    (message,) = run(JOB_POLICY, stack_args(stack))
    assert f"uses kmsKeyId '{OTHER_KEY}', which is not the stack's KMS key ('rft-kms-key')" in (
        message
    )


def test_without_a_stack_key_the_bucket_key_counts() -> None:
    """A stack on an external key (kms.keyArn) has no Key resource: the job must use the
    key its buckets are encrypted with."""
    stack = [*storage_stack(), service_role()]
    assert run(JOB_POLICY, stack_args([*stack, job()])) == []
    (message,) = run(JOB_POLICY, stack_args([*stack, job(kmsKeyId=OTHER_KEY)]))
    assert "not the key the stack's buckets are encrypted with" in message
    assert KEY_ARN in message


def test_without_any_key_in_the_stack() -> None:
    (message,) = run(JOB_POLICY, stack_args([service_role(), job()]))
    assert "(none is configured)" in message


@pytest.mark.parametrize(
    ("role_arn", "expected"),
    [
        (None, "sets no serviceRoleArn"),
        (f"arn:aws:iam::{ACCOUNT}:role/someone-else", "which is not the ARN of an IAM role"),
    ],
)
def test_role_outside_the_stack_is_rejected(role_arn: str | None, expected: str) -> None:
    (message,) = run(
        JOB_POLICY, stack_args([stack_key(), service_role(), job(serviceRoleArn=role_arn)])
    )
    assert "Bedrock customization job 'rft-training-job'" in message
    assert expected in message
    assert "serviceRoleArn" in message


def test_role_dependency_on_another_type_does_not_count() -> None:
    key = stack_key()
    stack = [key, service_role(), job({"serviceRoleArn": [key]}, serviceRoleArn="x")]
    (message,) = run(JOB_POLICY, stack_args(stack))
    assert "runs as 'x'" in message


# --------------------------------------------------------------------------------------
# Committed throughput
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("commitment", ["OneMonth", "SixMonths"])
def test_unprotected_commitment_is_rejected(commitment: str) -> None:
    args = resource_args(
        THROUGHPUT_TYPE, {"commitment": commitment, "modelUnits": 1.0}, name="rft-inference"
    )
    (message,) = run(THROUGHPUT, args)
    assert f"Provisioned throughput 'rft-inference' has commitment '{commitment}'" in message
    assert "protect=True" in message


def test_protected_commitment_complies() -> None:
    args = resource_args(THROUGHPUT_TYPE, {"commitment": "SixMonths"}, protect=True)
    assert run(THROUGHPUT, args) == []


@pytest.mark.parametrize("props", [{"commitment": "none"}, {"commitment": ""}, {}])
def test_no_commitment_needs_no_protection(props: dict[str, Any]) -> None:
    assert run(THROUGHPUT, resource_args(THROUGHPUT_TYPE, props)) == []
