"""Every Bedrock call the deployment role makes is allowed by the deployment-role policy
and the key policy together, as AWS documents the call's needs (components.bedrock_calls),
for every example stack. Also: the README's table is the rows', and the rows are the calls
the code makes. prod with a promotion gate built here is evaluated too, so that the gate's
rows are exercised whatever the example stacks configure."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from rft_env.components import bedrock_calls, documents
from rft_env.components.bedrock_calls import BEDROCK_CALLS, BedrockCall
from rft_env.components.config import StackConfig
from rft_env.components.environment import (
    deployment_role_documents,
    key_policy_document,
    stack_names,
)
from rft_env.components.naming import base_inference_id
from rft_env.components.tags import default_tags
from rft_env.graders.judge_models import judge_model
from rft_env.rftenv import stack_files
from tests.iam_evaluator import Request, allowed, identity_allows

REPO = Path(__file__).resolve().parents[2]
STACKS = stack_files.available_stacks()
ASSIGNED_ID = "a1b2c3d4e5f6"  # the 12-character ids Bedrock gives its resources
NEW_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
# prod (mode provisioned) with a promotion gate of the test's own.
PROMOTED = "prod+promotion"
CASES = [*STACKS, PROMOTED]
# A Region besides the stack's that a cross-Region profile may route the request to.
OTHER_REGION = "us-west-2"


def _config(case: str) -> StackConfig:
    if case != PROMOTED:
        return stack_files.stack_config(case)
    values = stack_files.engine_config("prod")
    inference = json.loads(values["rft-env:inference"])
    inference["promotion"] = {
        "minRewardGain": 0.05,
        "graders": ["arithmetic-contains"],
        # prod's validation data is in S3: the held-out prompts are a project file.
        "samplesFile": "stacks/data/arithmetic-validation.jsonl",
    }
    values["rft-env:inference"] = json.dumps(inference)
    config = stack_files.stack_config("prod", values=values)
    assert config.inference.mode == "provisioned" and config.inference.promotion
    return config


def _stack(case: str) -> str:
    return "prod" if case == PROMOTED else case


def _calls(config: StackConfig) -> tuple[BedrockCall, ...]:
    return bedrock_calls.calls_for(
        config.inference.mode, promotion=config.inference.promotion is not None
    )


def _base_model_requests(role: str, config: StackConfig) -> list[Request]:
    """Converse on the base model's Converse id: on a cross-Region profile, the profile,
    and the foundation model in each Region it routes to, with the profile in the request
    context (bedrock:InferenceProfileArn); on a foundation-model id, that model."""
    names = stack_names(config)
    model_id = base_inference_id(config)
    assert model_id, "the rows assume a base model Converse id"
    model = judge_model(
        model_id, region=names.region, account_id=names.account_id, partition=names.partition
    )
    if not model.is_profile:
        return [Request(role, "bedrock:InvokeModel", model.arn)]
    through = {"bedrock:InferenceProfileArn": model.arn}
    routed = [
        route.replace(":*:", f":{region}:", 1)
        for route in model.routes_to
        for region in sorted({names.region, OTHER_REGION})
    ]
    return [
        Request(role, "bedrock:InvokeModel", model.arn),
        *(Request(role, "bedrock:InvokeModel", arn, through) for arn in routed),
    ]


def _requests(row: BedrockCall, config: StackConfig, stack: str) -> list[tuple[Request, bool]]:
    """The requests AWS authorizes for one call of this stack, and whether each one is on
    the stack key (so the key policy must allow it as well)."""
    names = stack_names(config)
    bedrock = f"arn:{names.partition}:bedrock:{names.region}:{names.account_id}"
    scope_model = config.job.base_model
    base_arn = (
        scope_model if scope_model.startswith("arn:") else names.foundation_model_arn(scope_model)
    )
    base_id = base_arn.rsplit("/", 1)[1]
    arns = {
        bedrock_calls.FOUNDATION_MODEL: base_arn,
        bedrock_calls.CUSTOM_MODEL: f"{bedrock}:custom-model/{base_id}/{ASSIGNED_ID}",
        bedrock_calls.JOB: f"{bedrock}:model-customization-job/{base_id}/{ASSIGNED_ID}",
        bedrock_calls.PROVISIONED_MODEL: f"{bedrock}:provisioned-model/{ASSIGNED_ID}",
        bedrock_calls.DEPLOYMENT: f"{bedrock}:custom-model-deployment/{ASSIGNED_ID}",
        bedrock_calls.NO_RESOURCE: "*",
    }
    role = config.account.deployment_role_arn
    assert role, f"stack {stack} names no deployment role"
    if row.through_profile:
        assert row.actions == ("bedrock:InvokeModel",)
        requests = [(request, False) for request in _base_model_requests(role, config)]
    else:
        requests = [
            (Request(role, action, arns[resource]), False)
            for action in row.actions
            for resource in row.resources
        ]
    if row.passes_role:
        requests.append(
            (
                Request(
                    role,
                    "iam:PassRole",
                    names.role_arn(names.customization_role),
                    {"iam:PassedToService": "bedrock.amazonaws.com"},
                ),
                False,
            )
        )
    key = config.kms.existing_key_arn or (
        f"arn:{names.partition}:kms:{names.region}:{names.account_id}:key/{NEW_KEY_ID}"
    )
    # A key rft-env creates carries the provider's default tags.
    tags = default_tags(project=names.project, environment=names.environment, stack=stack)
    for action in row.key_actions:
        context: dict[str, str] = {
            "kms:ViaService": names.service_endpoint("bedrock"),
            "kms:CallerAccount": names.account_id,
            **{f"aws:ResourceTag/{k}": v for k, v in tags.items()},
        }
        if action == "kms:CreateGrant":
            context["kms:GrantIsForAWSResource"] = "true"
        requests.append((Request(role, action, key, context), True))
    return requests


def _denied(config: StackConfig, stack: str, policy: documents.Document) -> list[str]:
    key_policy = None if config.kms.existing_key_arn else key_policy_document(config)
    denied = []
    for row in _calls(config):
        for request, on_key in _requests(row, config, stack):
            if not allowed(request, [policy], key_policy if on_key else None):
                denied.append(f"{row.call}: {request.action} on {request.resource}")
    return denied


@pytest.mark.parametrize("case", CASES)
def test_deployment_role_and_key_policy_together_allow_every_call(case: str) -> None:
    config = _config(case)
    policy, _ = deployment_role_documents(config, [])
    assert _denied(config, _stack(case), policy) == []


@pytest.mark.parametrize("case", CASES)
def test_every_statement_the_rows_rely_on_is_needed(case: str) -> None:
    """Not vacuous: without the grant statement, or the base model, rows are denied."""
    config, stack = _config(case), _stack(case)
    policy, _ = deployment_role_documents(config, [])
    without_grant = {
        **policy,
        "Statement": [
            s for s in policy["Statement"] if s["Sid"] != "DeployerGrantsStackKeyToBedrock"
        ],
    }
    assert any("kms:CreateGrant" in d for d in _denied(config, stack, without_grant))
    without_base_model = {
        **policy,
        "Statement": [
            {**s, "Resource": [r for r in _list(s["Resource"]) if "foundation-model" not in r]}
            for s in policy["Statement"]
        ],
    }
    denied = _denied(config, stack, without_base_model)
    assert "CreateModelCustomizationJob: bedrock:CreateModelCustomizationJob on " in "".join(denied)
    if config.inference.mode == "provisioned":
        assert any(d.startswith("CreateProvisionedModelThroughput:") for d in denied)
        assert any(d.startswith("UpdateProvisionedModelThroughput:") for d in denied)


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _without(policy: documents.Document, *sids: str) -> documents.Document:
    return {**policy, "Statement": [s for s in policy["Statement"] if s["Sid"] not in sids]}


def test_the_gate_rows_apply_to_promotion_stacks_only() -> None:
    only_gate = {row for row in BEDROCK_CALLS if row.needs_promotion}
    assert only_gate
    for row in only_gate:
        assert bedrock_calls.PROMOTION_GATE in row.made_by
        assert row.modes == bedrock_calls.PROVISIONED  # config allows promotion there only
    assert only_gate <= set(bedrock_calls.calls_for("provisioned", promotion=True))
    for mode in bedrock_calls.ALWAYS:
        assert not only_gate & set(bedrock_calls.calls_for(mode, promotion=False))
    for case in CASES:
        config = _config(case)
        applied = bool(only_gate & set(_calls(config)))
        assert applied is (config.inference.promotion is not None), case


def test_the_gate_rows_rely_on_the_evaluation_statements() -> None:
    """Not vacuous: each evaluation statement carries rows of the promotion stack."""
    config = _config(PROMOTED)
    policy, _ = deployment_role_documents(config, [])
    assert _denied(config, "prod", policy) == []
    expected = {
        "DeployModelForEvaluation": [
            "CreateCustomModelDeployment (the evaluation deployment)",
            "UpdateCustomModelDeployment (the evaluation deployment)",
        ],
        "ManageEvaluationDeployment": [
            "DeleteCustomModelDeployment (the evaluation deployment)",
            "TagResource, UntagResource (the evaluation deployment)",
        ],
        "EvaluateModels": ["Converse (the evaluation deployment)", "Converse (the throughput)"],
        "EvaluateBaseInferenceProfile": ["Converse (the base model)"],
        "EvaluateBaseModelThroughProfile": ["Converse (the base model)"],
    }
    for sid, calls in expected.items():
        denied = _denied(config, "prod", _without(policy, sid))
        for call in calls:
            assert any(d.startswith(f"{call}: ") for d in denied), (sid, call)


def test_the_base_model_is_allowed_through_its_profile_only() -> None:
    """The foundation model behind the profile is refused without the profile in the
    request context, and through another profile."""
    config = _config(PROMOTED)
    policy, _ = deployment_role_documents(config, [])
    role = config.account.deployment_role_arn or ""
    profile, *routed = _base_model_requests(role, config)
    assert routed, "the base model id should be a cross-Region inference profile"
    for request in routed:
        assert identity_allows(request, policy)
        assert not identity_allows(dataclasses.replace(request, context={}), policy)
        other = profile.resource.replace("us.amazon.nova-2-lite", "us.amazon.nova-pro")
        assert not identity_allows(
            dataclasses.replace(request, context={"bedrock:InferenceProfileArn": other}), policy
        )


def test_the_key_policy_must_name_the_deployer_too() -> None:
    """A grant allowed by the role alone is still refused when the key policy lacks it."""
    config = _config("dev")
    policy, _ = deployment_role_documents(config, [])
    key_policy = key_policy_document(config)
    stripped = {
        **key_policy,
        "Statement": [s for s in key_policy["Statement"] if s["Sid"] != "OperatorGrantsToBedrock"],
    }
    [row] = [r for r in BEDROCK_CALLS if r.call == "CreateModelCustomizationJob"]
    [grant] = [r for r, _ in _requests(row, config, "dev") if r.action == "kms:CreateGrant"]
    assert allowed(grant, [policy], key_policy)
    assert not allowed(grant, [policy], stripped)
    # Bedrock must be the one asking, and only for an AWS resource.
    for missing in ("kms:ViaService", "kms:GrantIsForAWSResource"):
        context = {k: v for k, v in grant.context.items() if k != missing}
        assert not allowed(dataclasses.replace(grant, context=context), [policy], key_policy), (
            missing
        )


def test_the_throughput_is_granted_the_stacks_base_model_only() -> None:
    config = _config("prod")
    assert config.inference.mode == "provisioned"
    policy, _ = deployment_role_documents(config, [])
    role = config.account.deployment_role_arn or ""
    base = stack_names(config).foundation_model_arn(config.job.base_model)
    other = base.replace(config.job.base_model, "amazon.nova-pro-v1:0")
    create = "bedrock:CreateProvisionedModelThroughput"
    assert identity_allows(Request(role, create, base), policy)
    assert not identity_allows(Request(role, create, other), policy)
    assert not any(
        "foundation-model/*" in r for s in policy["Statement"] for r in _list(s["Resource"])
    )


# --- the README table and the code's calls -------------------------------------------------
README_BEGIN = "<!-- bedrock-calls:begin (python -m components.bedrock_calls) -->\n"
README_END = "<!-- bedrock-calls:end -->"


def test_readme_table_is_rendered_from_the_rows() -> None:
    readme = (REPO / "README.md").read_text()
    assert README_BEGIN in readme and README_END in readme
    block = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert block == bedrock_calls.markdown(), (
        "README table is stale: replace it with `.venv/bin/python -m components.bedrock_calls`"
    )


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


# A Bedrock control-plane method called on a client, or named for a helper (paginate, call).
_CALL = re.compile(
    r"(?:client\.|[\"'])((?:create|get|list|update|delete|stop|tag|untag)_[a-z_]+)\b"
)
# A Bedrock runtime call on a client (the evaluation's Converse).
_RUNTIME_CALL = re.compile(r"client\.(converse)\(")


def test_the_rows_are_the_calls_the_code_makes() -> None:
    sources = [*sorted((REPO / "components" / "bedrock").glob("*.py")), REPO / "rftenv" / "jobs.py"]
    made = {
        _camel(name)
        for path in sources
        for name in _CALL.findall(path.read_text())
        if not name.startswith(("get_paginator", "create_or_select"))
    } | {_camel(name) for path in sources for name in _RUNTIME_CALL.findall(path.read_text())}
    rows = {
        call
        for row in BEDROCK_CALLS
        for call in re.findall(r"[A-Z][A-Za-z]+", row.call.split(" (")[0])
    }
    assert made == rows
