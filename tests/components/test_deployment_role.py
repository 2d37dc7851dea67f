"""Unit tests of the deployment role's documents: the role you create in each target
account before the first `pulumi up`, scoped to one stack's own names."""

from __future__ import annotations

from rft_env.components.deployment_role import (
    DEPLOYMENT_WILDCARD_RESOURCE_ACTIONS,
    DeploymentScope,
    deployment_role_policy,
    deployment_role_trust_policy,
)
from rft_env.components.documents import Document, statement_purpose
from rft_env.components.naming import Names

NAMES = Names("dev", "111122223333", "us-east-1")


def deployment_policy(**overrides: object) -> Document:
    scope: dict = {
        "graders": ["b", "a"],
        "base_model_arn": NAMES.foundation_model_arn("amazon.nova-2-lite-v1:0:256k"),
        "existing_key_arn": None,
        "inference_mode": "none",
        "production": False,
    }
    scope.update(overrides)
    return deployment_role_policy(NAMES, DeploymentScope(**scope))


def test_deployment_role_touches_only_the_stacks_own_names() -> None:
    policy = deployment_policy()
    statements = {s["Sid"]: s for s in policy["Statement"]}
    for statement in policy["Statement"]:
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        ):
            if resource == "*":
                # Only actions with no resource-level permissions, each with its reason.
                assert set(statement["Action"]) <= set(DEPLOYMENT_WILDCARD_RESOURCE_ACTIONS)
            elif resource.startswith(
                ("arn:aws:s3", "arn:aws:iam", "arn:aws:lambda", "arn:aws:logs")
            ):
                assert "rft-env-dev-" in resource, (statement["Sid"], resource)
    # Roles are passed one by one, and only to the service that uses them.
    assert statements["PassCustomizationRoleToBedrock"] == {
        "Sid": "PassCustomizationRoleToBedrock",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": NAMES.role_arn("rft-env-dev-bedrock-customization"),
        "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
    }
    assert statements["PassGraderRolesToLambda"]["Resource"] == [
        NAMES.role_arn("rft-env-dev-grader-a"),
        NAMES.role_arn("rft-env-dev-grader-b"),
    ]
    # A new key is found by the stack's tags, and only created with them.
    assert statements["CreateStackKey"]["Condition"] == {
        "StringEquals": {"aws:RequestTag/Environment": "dev", "aws:RequestTag/Project": "rft-env"}
    }
    assert statements["AdministerStackKey"]["Condition"]["StringEquals"] == {
        "aws:ResourceTag/Environment": "dev",
        "aws:ResourceTag/Project": "rft-env",
    }
    assert "EmptyStackBucketsOnDestroy" in statements
    assert not {"ManageProvisionedThroughput", "ManageCustomModelDeployment"} & set(statements)


def test_deployment_role_follows_the_stacks_choices() -> None:
    key = "arn:aws:kms:us-east-1:111122223333:key/0b7c1a2d-1111-2222-3333-444455556666"
    policy = deployment_policy(existing_key_arn=key, production=True, inference_mode="provisioned")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    # An existing key: no key is created or administered, and use names that key.
    assert not {"CreateStackKey", "AdministerStackKey", "ManageStackKeyAlias"} & set(statements)
    assert statements["UseStackKeyForDeployment"]["Resource"] == key
    # Production buckets are never emptied.
    assert "EmptyStackBucketsOnDestroy" not in statements
    assert "ManageProvisionedThroughput" in statements
    on_demand = {s["Sid"] for s in deployment_policy(inference_mode="on_demand")["Statement"]}
    assert "ManageCustomModelDeployment" in on_demand


def test_deployment_role_trust_names_the_rollout_principals_and_external_id() -> None:
    release = "arn:aws:iam::123456789012:role/rft-env-release"
    (statement,) = deployment_role_trust_policy([release, release], "rft-env-prod")["Statement"]
    assert statement["Principal"] == {"AWS": [release]}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "rft-env-prod"}}
    (plain,) = deployment_role_trust_policy([release], None)["Statement"]
    assert "Condition" not in plain


def test_every_statement_of_every_document_has_a_purpose() -> None:
    produced = [
        deployment_policy(inference_mode="provisioned"),
        deployment_policy(inference_mode="on_demand", production=True),
        deployment_role_trust_policy(["arn:aws:iam::123456789012:role/r"], "x"),
    ]
    for document in produced:
        for statement in document["Statement"]:
            assert statement_purpose(statement["Sid"]), statement["Sid"]


def test_deployer_may_have_bedrock_grant_on_the_stack_key_only() -> None:
    created = {s["Sid"]: s for s in deployment_policy()["Statement"]}
    grant = created["DeployerGrantsStackKeyToBedrock"]
    assert grant["Action"] == ["kms:CreateGrant"]
    assert grant["Resource"] == "arn:aws:kms:us-east-1:111122223333:key/*"
    assert grant["Condition"] == {
        # A key the stack creates is found by its tags, like every other use of it.
        "StringEquals": {
            "aws:ResourceTag/Environment": "dev",
            "aws:ResourceTag/Project": "rft-env",
            "kms:ViaService": "bedrock.us-east-1.amazonaws.com",
        },
        "Bool": {"kms:GrantIsForAWSResource": "true"},
    }
    key = "arn:aws:kms:us-east-1:111122223333:key/0b7c1a2d-1111-2222-3333-444455556666"
    existing = {s["Sid"]: s for s in deployment_policy(existing_key_arn=key)["Statement"]}
    assert existing["DeployerGrantsStackKeyToBedrock"]["Resource"] == key
    assert existing["DeployerGrantsStackKeyToBedrock"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "bedrock.us-east-1.amazonaws.com"
    }


def test_throughput_is_granted_on_the_stacks_base_model_only() -> None:
    base = NAMES.foundation_model_arn("amazon.nova-2-lite-v1:0:256k")
    provisioned = {
        s["Sid"]: s for s in deployment_policy(inference_mode="provisioned")["Statement"]
    }
    assert provisioned["ThroughputOfTheBaseModel"] == {
        "Sid": "ThroughputOfTheBaseModel",
        "Effect": "Allow",
        "Action": [
            "bedrock:CreateProvisionedModelThroughput",
            "bedrock:UpdateProvisionedModelThroughput",
        ],
        "Resource": base,
    }
    for mode in ("none", "on_demand"):
        sids_of_mode = {s["Sid"] for s in deployment_policy(inference_mode=mode)["Statement"]}
        assert "ThroughputOfTheBaseModel" not in sids_of_mode
