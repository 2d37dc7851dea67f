"""The deployment role's permissions for evaluating the trained model (`rftenv evaluate`)
and for the promotion gate: exactly what they call, and nothing without inference."""

from __future__ import annotations

from typing import Any

import pytest

from rft_env.components.deployment_role import (
    DeploymentScope,
    EvaluationScope,
    deployment_role_policy,
    evaluation_scope,
)
from rft_env.components.documents import Document, statement_purpose
from rft_env.components.environment import deployment_role_documents
from rft_env.components.naming import Names
from tests.components.test_config import stack_config
from tests.components.test_promotion_config import load, promoted
from tests.iam_evaluator import Request, identity_allows

NAMES = Names("dev", "111122223333", "us-east-1")
BEDROCK = "arn:aws:bedrock:us-east-1:111122223333"
DEPLOYMENTS = f"{BEDROCK}:custom-model-deployment/*"
THROUGHPUTS = f"{BEDROCK}:provisioned-model/*"
BASE_PROFILE = f"{BEDROCK}:inference-profile/us.amazon.nova-2-lite-v1:0"
BASE_MODEL = "arn:aws:bedrock:*::foundation-model/amazon.nova-2-lite-v1:0"
JUDGE_PROFILE = f"{BEDROCK}:inference-profile/us.amazon.nova-pro-v1:0"
ROLE = "arn:aws:iam::111122223333:role/rft-env-deployer"
EVALUATION_SIDS = {
    "EvaluateModels",
    "EvaluateBaseModel",
    "EvaluateBaseInferenceProfile",
    "EvaluateBaseModelThroughProfile",
    "DeployModelForEvaluation",
    "ManageEvaluationDeployment",
    "PublishEvaluationResults",
    "UseStackKeyForEvaluationResults",
}
GATE_SIDS = {
    "DeployModelForEvaluation",
    "ManageEvaluationDeployment",
    "PublishEvaluationResults",
    "UseStackKeyForEvaluationResults",
}


def policy(
    mode: str, evaluation: EvaluationScope | None, existing_key_arn: str | None = None
) -> Document:
    return deployment_role_policy(
        NAMES,
        DeploymentScope(
            graders=["arithmetic"],
            base_model_arn=NAMES.foundation_model_arn("amazon.nova-2-lite-v1:0:256k"),
            existing_key_arn=existing_key_arn,
            inference_mode=mode,
            production=False,
            evaluation=evaluation,
        ),
    )


def by_sid(document: Document) -> dict[str, dict[str, Any]]:
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert len(sids) == len(set(sids)), sids  # IAM needs them unique
    return {statement["Sid"]: statement for statement in document["Statement"]}


def evaluation_sids(document: Document) -> set[str]:
    """The Sids of the evaluation's and the gate's statements."""
    return {sid for sid in by_sid(document) if sid in EVALUATION_SIDS or "EvaluationJudge" in sid}


def gate(**evaluation: Any) -> EvaluationScope:
    return EvaluationScope(
        **{"base_model_id": "us.amazon.nova-2-lite-v1:0", "promotion": True, **evaluation}
    )


def invoke(resource: str, **context: str) -> Request:
    return Request(ROLE, "bedrock:InvokeModel", resource, context)


# --- the gate, with provisioned throughput ------------------------------------------------------
def test_the_gate_gets_exactly_its_statements() -> None:
    statements = by_sid(policy("provisioned", gate()))
    assert evaluation_sids(policy("provisioned", gate())) == EVALUATION_SIDS - {"EvaluateBaseModel"}
    assert statements["EvaluateModels"] == {
        "Sid": "EvaluateModels",
        "Effect": "Allow",
        "Action": ["bedrock:InvokeModel"],
        "Resource": [DEPLOYMENTS, THROUGHPUTS],
    }
    assert statements["EvaluateBaseInferenceProfile"] == {
        "Sid": "EvaluateBaseInferenceProfile",
        "Effect": "Allow",
        "Action": "bedrock:InvokeModel",
        "Resource": "arn:aws:bedrock:us-east-1:111122223333:inference-profile/"
        "us.amazon.nova-2-lite-v1:0",
    }
    assert statements["EvaluateBaseModelThroughProfile"] == {
        "Sid": "EvaluateBaseModelThroughProfile",
        "Effect": "Allow",
        "Action": "bedrock:InvokeModel",
        "Resource": BASE_MODEL,
        "Condition": {"ArnEquals": {"bedrock:InferenceProfileArn": BASE_PROFILE}},
    }
    assert statements["DeployModelForEvaluation"] == {
        "Sid": "DeployModelForEvaluation",
        "Effect": "Allow",
        "Action": ["bedrock:CreateCustomModelDeployment", "bedrock:UpdateCustomModelDeployment"],
        "Resource": [f"{BEDROCK}:custom-model-deployment/*", f"{BEDROCK}:custom-model/*"],
    }
    assert statements["ManageEvaluationDeployment"] == {
        "Sid": "ManageEvaluationDeployment",
        "Effect": "Allow",
        "Action": [
            "bedrock:DeleteCustomModelDeployment",
            "bedrock:GetCustomModelDeployment",
            "bedrock:TagResource",
            "bedrock:UntagResource",
        ],
        "Resource": f"{BEDROCK}:custom-model-deployment/*",
    }
    assert statements["PublishEvaluationResults"] == {
        "Sid": "PublishEvaluationResults",
        "Effect": "Allow",
        "Action": ["sns:Publish"],
        "Resource": NAMES.notification_topic_arn,
    }
    assert (
        NAMES.notification_topic_arn
        == "arn:aws:sns:us-east-1:111122223333:rft-env-dev-notifications"
    )


def test_the_gate_publishes_through_the_stack_key_for_its_topic_only() -> None:
    created = by_sid(policy("provisioned", gate()))["UseStackKeyForEvaluationResults"]
    assert created["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert created["Resource"] == "arn:aws:kms:us-east-1:111122223333:key/*"
    assert created["Condition"] == {
        "StringEquals": {
            # A key the stack creates is found by its tags, like every other use of it.
            "aws:ResourceTag/Project": "rft-env",
            "aws:ResourceTag/Environment": "dev",
            "kms:ViaService": "sns.us-east-1.amazonaws.com",
            "kms:EncryptionContext:aws:sns:topicArn": NAMES.notification_topic_arn,
        }
    }
    key = "arn:aws:kms:us-east-1:111122223333:key/0b7c1a2d-1111-2222-3333-444455556666"
    existing = by_sid(policy("provisioned", gate(), key))["UseStackKeyForEvaluationResults"]
    assert existing["Resource"] == key
    assert "aws:ResourceTag/Project" not in existing["Condition"]["StringEquals"]


def test_what_the_gate_may_call_and_what_it_may_not() -> None:
    document = policy("provisioned", gate())
    deployment = f"{BEDROCK}:custom-model-deployment/abcdefabcdef"
    assert identity_allows(invoke(deployment), document)
    assert identity_allows(invoke(f"{BEDROCK}:provisioned-model/abcdefabcdef"), document)
    assert identity_allows(invoke(BASE_PROFILE), document)
    # The base model's foundation model in a region the profile routes to: only through it.
    regional = "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-2-lite-v1:0"
    assert identity_allows(
        invoke(regional, **{"bedrock:InferenceProfileArn": BASE_PROFILE}), document
    )
    assert not identity_allows(invoke(regional), document)
    # Another model, another account's deployment, another topic: no.
    assert not identity_allows(
        invoke("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"), document
    )
    assert not identity_allows(
        invoke("arn:aws:bedrock:us-east-1:210987654321:custom-model-deployment/abcdefabcdef"),
        document,
    )
    other_topic = "arn:aws:sns:us-east-1:111122223333:rft-env-prod-notifications"
    assert identity_allows(Request(ROLE, "sns:Publish", NAMES.notification_topic_arn), document)
    assert not identity_allows(Request(ROLE, "sns:Publish", other_topic), document)
    create = Request(ROLE, "bedrock:CreateCustomModelDeployment", deployment)
    assert identity_allows(create, document)
    assert not identity_allows(create, policy("provisioned", gate(promotion=False)))


# --- evaluation without the gate ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "served"), [("on_demand", [DEPLOYMENTS]), ("provisioned", [THROUGHPUTS])]
)
def test_rftenv_evaluate_may_call_the_stacks_inference_and_base_model(
    mode: str, served: list[str]
) -> None:
    document = policy(mode, gate(promotion=False))
    statements = by_sid(document)
    assert statements["EvaluateModels"]["Resource"] == served
    assert statements["EvaluateBaseInferenceProfile"]["Resource"] == BASE_PROFILE
    # Nothing of the gate's: no deployment of its own, no notification.
    assert not GATE_SIDS & set(statements)


def test_without_inference_nothing_is_evaluated() -> None:
    raw = stack_config("dev")
    assert raw.get("inference", {}).get("mode", "none") == "none"
    config = load(raw)
    assert evaluation_scope(config) is None
    document, _ = deployment_role_documents(config, [])
    assert not evaluation_sids(document)
    assert not any("bedrock:InvokeModel" in str(s["Action"]) for s in document["Statement"])


def test_an_unknown_base_model_is_not_granted() -> None:
    statements = by_sid(policy("on_demand", gate(base_model_id=None, promotion=False)))
    assert "EvaluateModels" in statements
    assert not {s for s in statements if s.startswith("EvaluateBase")}


def test_a_foundation_model_base_is_one_arn() -> None:
    statements = by_sid(policy("provisioned", gate(base_model_id="amazon.nova-lite-v1:0")))
    assert statements["EvaluateBaseModel"]["Resource"] == (
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"
    )
    assert "EvaluateBaseInferenceProfile" not in statements


# --- from the stack config ----------------------------------------------------------------------
def test_the_config_scopes_the_gate() -> None:
    config = load(promoted())
    assert evaluation_scope(config) == EvaluationScope(
        base_model_id="us.amazon.nova-2-lite-v1:0", judges=[], promotion=True
    )
    document, _ = deployment_role_documents(config, [])
    assert evaluation_sids(document) == EVALUATION_SIDS - {"EvaluateBaseModel"}
    assert by_sid(document)["PublishEvaluationResults"]["Resource"] == (
        "arn:aws:sns:us-east-1:111122223333:rft-env-dev-notifications"
    )


def test_an_on_demand_stack_may_evaluate_but_has_no_gate() -> None:
    raw = stack_config("dev")
    raw["inference"] = {"mode": "on_demand"}
    document, _ = deployment_role_documents(load(raw), [])
    statements = by_sid(document)
    assert statements["EvaluateModels"]["Resource"] == [DEPLOYMENTS]
    assert statements["EvaluateBaseModelThroughProfile"]["Condition"] == {
        "ArnEquals": {"bedrock:InferenceProfileArn": BASE_PROFILE}
    }
    assert not GATE_SIDS & set(statements)


def test_a_judge_among_the_extra_graders_adds_its_model() -> None:
    without, _ = deployment_role_documents(load(promoted()), [])
    assert not {sid for sid in by_sid(without) if sid.startswith("EvaluationJudge")}
    document, _ = deployment_role_documents(load(promoted(graders=["judged"])), [])
    statements = by_sid(document)
    assert statements["EvaluationJudgeInferenceProfile"]["Resource"] == JUDGE_PROFILE
    assert statements["EvaluationJudgeModelThroughProfile"] == {
        "Sid": "EvaluationJudgeModelThroughProfile",
        "Effect": "Allow",
        "Action": "bedrock:InvokeModel",
        "Resource": "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
        "Condition": {"ArnEquals": {"bedrock:InferenceProfileArn": JUDGE_PROFILE}},
    }


def test_judges_inside_composites_and_of_the_job_grader_count_once_each() -> None:
    raw = promoted(graders=["mixed"])
    judge = {"type": "llm_judge", "rubric": "{question} {answer} {reference}"}
    raw["graders"]["mixed"] = {
        "type": "composite",
        "parts": [
            {"name": "pro", "weight": 1, "grader": {**judge, "modelId": "amazon.nova-pro-v1:0"}},
            {"name": "again", "weight": 1, "grader": {**judge, "modelId": "amazon.nova-pro-v1:0"}},
        ],
    }
    # The job's grader grades the evaluation too.
    raw["job"]["grader"] = "judged"
    scope = evaluation_scope(load(raw))
    assert scope is not None
    assert scope.judges == [("amazon.nova-pro-v1:0", None), ("us.amazon.nova-pro-v1:0", None)]
    statements = by_sid(deployment_role_documents(load(raw), [])[0])
    assert statements["EvaluationJudgeModel0"]["Resource"] == (
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"
    )
    assert statements["EvaluationJudgeInferenceProfile1"]["Resource"] == JUDGE_PROFILE
    assert "EvaluationJudgeModelThroughProfile1" in statements


def test_a_judge_on_the_base_models_profile_is_covered_by_its_grant() -> None:
    same = gate(
        judges=[("us.amazon.nova-2-lite-v1:0", None), ("us.amazon.nova-2-lite-v1:0", "us-east-1")]
    )
    statements = by_sid(policy("provisioned", same))
    assert not {sid for sid in statements if sid.startswith("EvaluationJudge")}
    elsewhere = gate(judges=[("us.amazon.nova-2-lite-v1:0", "us-west-2")])
    statements = by_sid(policy("provisioned", elsewhere))
    assert statements["EvaluationJudgeInferenceProfile"]["Resource"] == (
        "arn:aws:bedrock:us-west-2:111122223333:inference-profile/us.amazon.nova-2-lite-v1:0"
    )


def test_the_statements_are_deterministic_and_explained() -> None:
    judges = [("us.amazon.nova-pro-v1:0", None), ("amazon.nova-lite-v1:0", "us-west-2")]
    one = policy("provisioned", gate(judges=judges))
    other = policy("provisioned", gate(judges=list(reversed(judges))))
    assert one == other
    for document in (one, policy("on_demand", gate(promotion=False))):
        for statement in document["Statement"]:
            assert statement_purpose(statement["Sid"]), statement["Sid"]
