"""`rft-env:inference.promotion`: the promotion gate's config, and the names it derives.

Every mistake is reported under its full key (`rft-env:inference.promotion.samples`) with
what is allowed, together with every other problem, before anything is created."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rft_env.components.bedrock.api import CREATE_DEPLOYMENT, constraint
from rft_env.components.config import (
    ConfigError,
    PromotionConfig,
    StackConfig,
    load_stack_config,
)
from rft_env.components.naming import (
    Names,
    base_inference_id,
    inference_names,
    stack_evaluation_deployment_name,
    stack_names,
)
from tests.components.test_config import PROJECT_DIR, stack_config

PROMOTION = "rft-env:inference.promotion"
PROMPT = {"messages": [{"role": "user", "content": "What is 2+2?"}], "reference_answer": "4"}


def promoted(**promotion: Any) -> dict[str, Any]:
    """The dev stack (a local validation file; graders `arithmetic`, the job's, and
    `judged`) with provisioned inference gated by `promotion`."""
    raw = stack_config("dev")
    raw["inference"] = {"mode": "provisioned", "promotion": {"minRewardGain": 0.05, **promotion}}
    return raw


def load(raw: dict[str, Any], project: Path = PROJECT_DIR) -> StackConfig:
    return load_stack_config(raw, project)


def problems(raw: dict[str, Any], project: Path = PROJECT_DIR) -> dict[str, list[str]]:
    """Every problem's text, by key."""
    with pytest.raises(ConfigError) as info:
        load(raw, project)
    found: dict[str, list[str]] = {}
    for problem in info.value.problems:
        found.setdefault(problem.key, []).append(str(problem))
    return found


def only_problem(raw: dict[str, Any], key: str, project: Path = PROJECT_DIR) -> str:
    found = problems(raw, project)
    assert list(found) == [key], found
    (text,) = found[key]
    return text


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project of its own with the dev stack's datasets, for files the tests write."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "stacks" / "data", root / "stacks" / "data")
    (root / "Pulumi.yaml").write_text("name: rft-env\nruntime: python\n")
    return root


def write_prompts(path: Path, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# --- a valid gate ------------------------------------------------------------------------------
def test_the_defaults_of_a_valid_gate() -> None:
    config = load(promoted())
    promotion = config.inference.promotion
    assert promotion == PromotionConfig.model_validate({"minRewardGain": 0.05}, by_alias=True)
    assert (promotion.min_reward_gain, promotion.samples, promotion.graders) == (0.05, 200, [])
    assert promotion.samples_file is None and promotion.base_model_id is None
    assert promotion.keep_deployment is False
    assert (promotion.concurrency, promotion.requests_per_second) == (4, 2.0)
    assert (promotion.max_tokens, promotion.max_failure_share) == (None, 0.05)
    # Held-out prompts default to the validation file; the base model to its Converse id.
    assert config.promotion_samples_file == "stacks/data/arithmetic-validation.jsonl"
    assert base_inference_id(config) == "us.amazon.nova-2-lite-v1:0"
    assert stack_evaluation_deployment_name(config) == "rft-env-dev-evaluation"


def test_every_setting_of_a_gate_is_read() -> None:
    raw = promoted(
        minRewardGain=0,  # an integer is a number too
        samples=50,
        graders=["judged"],
        samplesFile="stacks/data/arithmetic-train.jsonl",
        baseModelId="global.amazon.nova-2-lite-v1:0",
        keepDeployment=True,
        concurrency=32,
        requestsPerSecond=100,
        maxTokens=512,
        maxFailureShare=0,
    )
    config = load(raw)
    promotion = config.inference.promotion
    assert promotion is not None
    assert promotion.min_reward_gain == 0 and promotion.samples == 50
    assert promotion.graders == ["judged"] and promotion.keep_deployment is True
    assert (promotion.concurrency, promotion.requests_per_second) == (32, 100)
    assert (promotion.max_tokens, promotion.max_failure_share) == (512, 0)
    assert config.promotion_samples_file == "stacks/data/arithmetic-train.jsonl"
    assert base_inference_id(config) == "global.amazon.nova-2-lite-v1:0"


def test_without_promotion_nothing_is_derived() -> None:
    raw = stack_config("dev")
    raw["inference"] = {"mode": "provisioned"}
    config = load(raw)
    assert config.inference.promotion is None
    assert config.promotion_samples_file is None
    assert stack_evaluation_deployment_name(config) is None
    # `rftenv evaluate` still compares with the base model.
    assert base_inference_id(config) == "us.amazon.nova-2-lite-v1:0"


# --- each bad value names its key ------------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "key", "allowed"),
    [
        ({"samples": 0}, "samples", "allowed: an integer from 1 to 10000"),
        ({"samples": 10_001}, "samples", "allowed: an integer from 1 to 10000"),
        ({"samples": 2.5}, "samples", "allowed: an integer from 1 to 10000"),
        ({"minRewardGain": 2}, "minRewardGain", "allowed: a number from -1 to 1"),
        ({"minRewardGain": -1.5}, "minRewardGain", "allowed: a number from -1 to 1"),
        ({"minRewardGain": "0.1"}, "minRewardGain", "allowed: a number from -1 to 1"),
        ({"concurrency": 0}, "concurrency", "allowed: an integer from 1 to 32"),
        ({"concurrency": 33}, "concurrency", "allowed: an integer from 1 to 32"),
        ({"requestsPerSecond": 0}, "requestsPerSecond", "allowed: a number above 0, at most 100"),
        ({"requestsPerSecond": 101}, "requestsPerSecond", "allowed: a number above 0, at most"),
        ({"maxTokens": 0}, "maxTokens", "allowed: an integer of at least 1"),
        ({"maxFailureShare": 1.5}, "maxFailureShare", "allowed: a number from 0 to 1"),
        ({"keepDeployment": "yes"}, "keepDeployment", "allowed: true or false"),
        ({"samplesFile": ""}, "samplesFile", "allowed: a string"),
        ({"bogus": 1}, "bogus", "unknown key; allowed keys: baseModelId, concurrency, graders"),
        ({"graders": "judged"}, "graders", "allowed: a list"),
    ],
)
def test_a_bad_value_names_its_key(setting: dict[str, Any], key: str, allowed: str) -> None:
    text = only_problem(promoted(**setting), f"{PROMOTION}.{key}")
    assert allowed in text


def test_the_minimum_gain_is_required() -> None:
    raw = promoted()
    del raw["inference"]["promotion"]["minRewardGain"]
    text = only_problem(raw, f"{PROMOTION}.minRewardGain")
    assert "required key is missing" in text


@pytest.mark.parametrize(
    ("graders", "index", "allowed"),
    [
        (["nope"], 0, "allowed: the name of a grader under rft-env:graders (arithmetic, judged)"),
        (["Bad Name"], 0, "allowed: the name of a grader under rft-env:graders"),
        (["arithmetic"], 0, "is the job's grader"),
        (["judged", "judged"], 1, "listed twice; allowed: each grader once"),
    ],
)
def test_extra_graders_are_defined_other_graders_each_once(
    graders: list[str], index: int, allowed: str
) -> None:
    text = only_problem(promoted(graders=graders), f"{PROMOTION}.graders[{index}]")
    assert allowed in text
    assert json.dumps(graders[index]) in text  # the value given is shown


@pytest.mark.parametrize("mode", ["on_demand", "none"])
def test_promotion_gates_provisioned_throughput_only(mode: str) -> None:
    raw = promoted()
    raw["inference"]["mode"] = mode
    text = only_problem(raw, PROMOTION)
    assert "allowed: only with inference.mode 'provisioned' (it gates the throughput)" in text


def test_several_problems_are_reported_together() -> None:
    raw = promoted(samples=0, graders=["nope"], bogus=True)
    raw["inference"]["mode"] = "on_demand"
    assert set(problems(raw)) == {
        PROMOTION,
        f"{PROMOTION}.samples",
        f"{PROMOTION}.graders[0]",
        f"{PROMOTION}.bogus",
    }


# --- held-out prompts ---------------------------------------------------------------------------
def test_a_samples_file_in_the_project_is_read(project: Path) -> None:
    write_prompts(project / "holdout" / "prompts.jsonl", json.dumps(PROMPT))
    config = load(promoted(samplesFile="holdout/prompts.jsonl"), project)
    assert config.promotion_samples_file == "holdout/prompts.jsonl"


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("holdout/missing.jsonl", "no such file"),
        ("../outside.jsonl", "outside the project"),
        ("/etc/hostname", "allowed: a path relative to the project directory"),
        ("holdout", "no such file"),  # a directory
    ],
)
def test_a_samples_file_must_be_a_file_in_the_project(
    project: Path, value: str, allowed: str
) -> None:
    (project / "holdout").mkdir()
    (project.parent / "outside.jsonl").write_text(json.dumps(PROMPT) + "\n")
    text = only_problem(promoted(samplesFile=value), f"{PROMOTION}.samplesFile", project)
    assert allowed in text


@pytest.mark.parametrize(
    ("second_line", "reported"),
    [
        ("not json", "line 2: invalid JSON"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "line 2: `reference"),
        (json.dumps({"reference_answer": "4"}), "line 2: `messages` must be a non-empty list"),
    ],
)
def test_a_samples_file_needs_usable_prompts(
    project: Path, second_line: str, reported: str
) -> None:
    second = {**PROMPT, "messages": [{"role": "user", "content": "What is 3+3?"}]}
    write_prompts(project / "holdout.jsonl", json.dumps(PROMPT), second_line, json.dumps(second))
    text = only_problem(promoted(samplesFile="holdout.jsonl"), f"{PROMOTION}.samplesFile", project)
    assert "invalid held-out prompts" in text and reported in text


def test_only_the_prompts_the_gate_uses_are_checked(project: Path) -> None:
    # The first `samples` distinct prompts; a record after them is never sent.
    no_answer = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    write_prompts(project / "holdout.jsonl", json.dumps(PROMPT), no_answer)
    assert load(promoted(samplesFile="holdout.jsonl", samples=1), project)
    with pytest.raises(ConfigError, match="line 2: `reference_answer` is missing"):
        load(promoted(samplesFile="holdout.jsonl", samples=2), project)


def test_an_empty_samples_file_has_no_prompts(project: Path) -> None:
    write_prompts(project / "holdout.jsonl")
    text = only_problem(promoted(samplesFile="holdout.jsonl"), f"{PROMOTION}.samplesFile", project)
    assert "no prompts" in text


@pytest.mark.parametrize(
    "validation",
    [None, {"s3Uri": "s3://example-ml-datasets/rft/validation.jsonl"}],
    ids=["absent", "s3"],
)
def test_without_a_local_validation_file_samples_file_is_required(
    validation: dict[str, str] | None,
) -> None:
    raw = promoted()
    if validation is None:
        del raw["data"]["validation"]
    else:
        raw["data"]["validation"] = validation
    text = only_problem(raw, f"{PROMOTION}.samplesFile")
    assert "required when data.validation is not a local file" in text
    # Setting it is the fix.
    raw["inference"]["promotion"]["samplesFile"] = "stacks/data/arithmetic-validation.jsonl"
    config = load(raw)
    assert config.promotion_samples_file == "stacks/data/arithmetic-validation.jsonl"


# --- the base model's Converse id ------------------------------------------------------------
def test_base_model_id_is_required_for_a_base_model_without_a_known_id() -> None:
    raw = promoted()
    raw["job"]["baseModel"] = "amazon.nova-pro-v1:0"
    text = only_problem(raw, f"{PROMOTION}.baseModelId")
    assert "required for base model amazon.nova-pro-v1:0" in text
    raw["inference"]["promotion"]["baseModelId"] = "us.amazon.nova-pro-v1:0"
    assert base_inference_id(load(raw)) == "us.amazon.nova-pro-v1:0"


def test_a_base_model_given_as_an_arn_has_its_ids_converse_id() -> None:
    raw = promoted()
    raw["job"]["baseModel"] = (
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-2-lite-v1:0:256k"
    )
    assert base_inference_id(load(raw)) == "us.amazon.nova-2-lite-v1:0"


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("sa.amazon.nova-pro-v1:0", "'sa' is not an inference profile prefix"),
        ("not a model", "Converse modelId accepts"),  # the API's own pattern
        ("x" * 2049, "Converse modelId accepts 1-2048 characters"),
        (
            "arn:aws:bedrock:us-east-1:111122223333:custom-model/a.b/abcdefabcdef",
            "allowed: a model",
        ),
    ],
)
def test_base_model_id_is_a_model_converse_and_iam_can_name(value: str, allowed: str) -> None:
    text = only_problem(promoted(baseModelId=value), f"{PROMOTION}.baseModelId")
    assert allowed in text


@pytest.mark.parametrize(
    "value",
    [
        "us.amazon.nova-2-lite-v1:0",
        "amazon.nova-lite-v1:0",
        "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.amazon.nova-2-lite-v1:0",
    ],
)
def test_base_model_id_takes_profiles_models_and_their_arns(value: str) -> None:
    assert base_inference_id(load(promoted(baseModelId=value))) == value


def test_a_base_model_profile_of_another_account_needs_a_cross_account_entry() -> None:
    arn = "arn:aws:bedrock:us-east-1:210987654321:inference-profile/us.amazon.nova-2-lite-v1:0"
    text = only_problem(promoted(baseModelId=arn), f"{PROMOTION}.baseModelId")
    assert "in account 210987654321, not the stack's account 111122223333" in text


# --- names ---------------------------------------------------------------------------------
def test_the_evaluation_deployment_name_is_one_bedrock_takes_and_not_the_inferences() -> None:
    longest = Names("a" * 16, "111122223333", "us-east-1")
    rule = constraint(CREATE_DEPLOYMENT, "modelDeploymentName")
    for names in (longest, Names("dev", "111122223333", "us-east-1")):
        assert rule.problem(names.evaluation_deployment) is None, names.evaluation_deployment
        # Never taken for the stack's own inference (bedrock.job hands models over to it).
        assert names.evaluation_deployment not in inference_names(names.prefix)
    assert Names("dev", "111122223333", "us-east-1").evaluation_deployment == (
        "rft-env-dev-evaluation"
    )


def test_names_come_from_one_place() -> None:
    config = load(promoted())
    names = stack_names(config)
    assert stack_evaluation_deployment_name(config) == names.evaluation_deployment
