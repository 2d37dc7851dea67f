"""Tests for components/config.py: the typed, validated `rft-env:*` stack config."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft_env.components.config import (
    DEFAULT_BASE_MODEL,
    MISSING,
    ConfigError,
    ConfigProblem,
    StackConfig,
    decode_config_values,
    load_stack_config,
)
from rft_env.rftenv.stack_files import load_yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS_DIR = PROJECT_DIR / "stacks"
STACKS = ("dev", "staging", "prod")
NAMESPACE = "rft-env:"


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
@cache
def _stack_config_cached(stack: str) -> dict[str, Any]:
    document = load_yaml(STACKS_DIR / f"Pulumi.{stack}.yaml")
    return {
        key[len(NAMESPACE) :]: value
        for key, value in document["config"].items()
        if key.startswith(NAMESPACE)
    }


def stack_config(stack: str) -> dict[str, Any]:
    """The `rft-env:*` config of an example stack, prefix stripped, as a fresh deep copy."""
    return copy.deepcopy(_stack_config_cached(stack))


def load(raw: dict[str, Any], project_dir: Path = PROJECT_DIR) -> StackConfig:
    return load_stack_config(raw, project_dir)


def problems_of(raw: dict[str, Any]) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load(raw)
    return info.value.problems


def _parent(config: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    return node, last


Mutation = Callable[[dict[str, Any], Path], None]


def set_at(path: str, value: Any) -> Mutation:
    """Set the value at a dotted path (e.g. `job.hyperparameters.epochCount`)."""

    def mutate(config: dict[str, Any], _tmp_path: Path) -> None:
        node, last = _parent(config, path)
        node[last] = copy.deepcopy(value)

    return mutate


def drop(path: str) -> Mutation:
    def mutate(config: dict[str, Any], _tmp_path: Path) -> None:
        node, last = _parent(config, path)
        del node[last]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(config: dict[str, Any], tmp_path: Path) -> None:
        for mutation in mutations:
            mutation(config, tmp_path)

    return mutate


# --------------------------------------------------------------------------------------
# decode_config_values
# --------------------------------------------------------------------------------------
def test_decode_config_values_engine_style() -> None:
    values = {
        "rft-env:environment": "dev",
        "rft-env:region": "us-east-1",
        "rft-env:logRetentionDays": "30",
        "rft-env:production": "true",
        "rft-env:account": json.dumps({"id": "111122223333"}),
        "rft-env:notificationEmails": json.dumps(["a@example.com"]),
        "rft-env:job": '{"hyperparameters": {"learningRate": 1e-05}}',
        "aws:region": "eu-west-1",
        "pulumi:disable-default-providers": '["aws"]',
        "other:environment": "prod",
    }
    decoded = decode_config_values(values)
    assert decoded == {
        "environment": "dev",
        "region": "us-east-1",
        "logRetentionDays": 30,
        "production": True,
        "account": {"id": "111122223333"},
        "notificationEmails": ["a@example.com"],
        "job": {"hyperparameters": {"learningRate": 1e-05}},
    }
    assert type(decoded["logRetentionDays"]) is int
    assert decoded["production"] is True
    # the 12-digit id inside a JSON object stays a string
    assert decoded["account"]["id"] == "111122223333"


def test_decode_config_values_keeps_plain_strings_and_non_json() -> None:
    decoded = decode_config_values(
        {
            "rft-env:environment": "dev",
            "rft-env:a": "null",  # JSON null is not a structured value: stays a string
            "rft-env:b": '"quoted"',  # a JSON string stays the original text
            "rft-env:c": "{not json",
            "rft-env:d": "false",
            "rft-env:e": "1.5",
            "rft-env:f": 7,  # already decoded values pass through
        }
    )
    assert decoded == {
        "environment": "dev",
        "a": "null",
        "b": '"quoted"',
        "c": "{not json",
        "d": False,
        "e": 1.5,
        "f": 7,
    }


def test_decode_config_values_other_namespace() -> None:
    assert decode_config_values({"x:k": "1", "rft-env:k": "2"}, namespace="x") == {"k": 1}


@pytest.mark.parametrize("stack", STACKS)
def test_engine_config_decodes_to_the_same_stack_config(stack: str) -> None:
    from rft_env.rftenv.stack_files import engine_config

    via_engine = load(decode_config_values(engine_config(stack, PROJECT_DIR)))
    direct = load(stack_config(stack))
    assert via_engine.model_dump() == direct.model_dump()


# --------------------------------------------------------------------------------------
# Secrets (`pulumi config set --secret`)
# --------------------------------------------------------------------------------------
def test_notification_emails_may_be_secret() -> None:
    config = load_stack_config(
        stack_config("prod"), PROJECT_DIR, secret_keys=["notificationEmails"]
    )
    assert config.is_secret("notificationEmails")
    assert not config.is_secret("tags")
    assert not load(stack_config("prod")).is_secret("notificationEmails")


def test_a_secret_that_would_leak_into_names_is_refused_without_showing_it() -> None:
    raw = stack_config("prod")
    with pytest.raises(ConfigError) as info:
        load_stack_config(
            raw, PROJECT_DIR, source="stack prod", secret_keys=["tags", "environment"]
        )
    keys = [problem.key for problem in info.value.problems]
    assert keys == ["rft-env:environment", "rft-env:tags"]
    message = str(info.value)
    assert "only rft-env:notificationEmails may be secret" in message
    # The secret's value never appears in the error.
    assert "ml-platform-prod" not in message and "got" not in message


# --------------------------------------------------------------------------------------
# The example stacks
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_example_stacks_load(stack: str) -> None:
    config = load(stack_config(stack))
    assert isinstance(config, StackConfig)
    assert config.environment == stack
    assert config.region == "us-east-1"
    assert config.job.base_model == DEFAULT_BASE_MODEL
    report = config.dataset("training")
    assert report is not None
    assert report.ok
    assert report.records == 200


def test_dev_stack_typed_values_and_defaults() -> None:
    config = load(stack_config("dev"))
    assert config.account.id == "111122223333"
    assert config.account.deployment_role_arn == "arn:aws:iam::111122223333:role/rft-env-deployer"
    assert config.account.external_id is None
    assert config.production is False
    assert config.job.base_model == "amazon.nova-2-lite-v1:0:256k"
    assert config.job.grader == "arithmetic"
    assert config.job.hyperparameters.api_shape() == {
        "epochCount": 1,  # from the stack
        "batchSize": 64,
        "learningRate": 1e-5,
        "maxPromptLength": 4096,  # defaults from here on
        "trainingSamplePerPrompt": 4,
        "inferenceMaxTokens": 8192,
        "reasoningEffort": "low",
        "evalInterval": 10,
    }
    assert isinstance(config.job.hyperparameters.learning_rate, float)
    assert config.job_grader.timeout_seconds == 120
    assert config.job_grader.memory_mb == 512  # default
    assert config.job_grader.spec == {
        "type": "exact_match",
        "operation": "eq",
        "answerFrom": "last_line",
    }
    assert config.inference.mode == "none"
    assert config.inference.model_units is None
    assert config.kms.create_key is True
    assert config.kms.deletion_window_days == 7
    assert config.kms.key_user_arns == []
    assert config.vpc is None
    assert config.log_retention_days == 30
    assert config.notification_emails == []
    assert config.tags == {"CostCenter": "ml-platform-dev"}
    training, validation = config.dataset("training"), config.dataset("validation")
    assert training is not None and validation is not None
    assert training.records == 200
    assert validation.records == 100
    assert training.path == PROJECT_DIR / "stacks/data/arithmetic-train.jsonl"


def test_staging_stack_typed_values() -> None:
    config = load(stack_config("staging"))
    assert config.account.external_id == "rft-env-staging"
    assert config.inference.mode == "on_demand"
    assert config.inference.commitment == "none"
    assert config.kms.deletion_window_days == 14
    assert config.notification_emails == ["ml-platform-staging@example.com"]
    assert config.job.hyperparameters.reasoning_effort == "medium"
    assert config.job.hyperparameters.epoch_count == 2
    assert config.dataset("validation") is not None


def test_prod_stack_typed_values() -> None:
    config = load(stack_config("prod"))
    assert config.production is True
    assert config.data.validation is not None
    assert config.data.validation.s3_uri == (
        "s3://example-ml-datasets-777788889999/rft/arithmetic/validation.jsonl"
    )
    assert config.data.validation.file is None
    assert config.dataset("validation") is None  # comes from S3: nothing validated locally
    assert config.dataset("training") is not None
    assert sorted(config.graders) == ["arithmetic", "arithmetic-contains"]
    assert config.job_grader.memory_mb == 1024
    assert config.graders["arithmetic-contains"].spec == {
        "type": "exact_match",
        "operation": "contains",
        "ignorePunctuation": True,
    }
    assert config.inference.mode == "provisioned"
    assert config.inference.model_units == 1
    assert config.kms.create_key is True
    assert config.kms.deletion_window_days == 30
    assert config.kms.key_user_arns == ["arn:aws:iam::777788889999:role/ml-platform-data-engineer"]
    assert config.vpc is not None
    assert config.vpc.subnet_ids == ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
    assert config.vpc.security_group_ids == ["sg-0a1b2c3d4e5f60003"]
    assert config.log_retention_days == 365
    assert config.job.hyperparameters.training_sample_per_prompt == 8


def test_the_outside_audits_values_are_refused_naming_the_key() -> None:
    """Both passed validation before, and would have failed only at the Create call."""
    config = stack_config("dev")
    config["data"] = {**config["data"], "validation": {"s3Uri": "s3://bucket/v2+final.jsonl"}}
    config["tags"] = {"Équipe": "données"}
    with pytest.raises(ConfigError) as raised:
        load(config)
    assert {p.key for p in raised.value.problems} == {
        "rft-env:data.validation.s3Uri",
        'rft-env:tags["\\u00c9quipe"]',  # keys are quoted as ASCII, so paths stay one line
    }
    assert "CreateModelCustomizationJob trainingDataConfig.s3Uri accepts" in str(raised.value)


def test_existing_key_means_no_created_key() -> None:
    config = stack_config("dev")
    config["kms"] = {"existingKeyArn": KEY_IN_REGION}
    loaded = load(config)
    assert loaded.kms.create_key is False
    assert loaded.kms.existing_key_arn == KEY_IN_REGION


def test_stack_files_are_not_mutated_by_helpers() -> None:
    first = stack_config("dev")
    first["job"]["hyperparameters"]["epochCount"] = 99
    assert stack_config("dev")["job"]["hyperparameters"]["epochCount"] == 1


# --------------------------------------------------------------------------------------
# Bad configs: one problem each, with its exact key and what is allowed
# --------------------------------------------------------------------------------------
NO_VALUE = object()


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Mutation | dict[str, Any]  # a mutation of the dev stack, or a raw config
    key: str  # the full key the problem must name
    allowed: str  # a substring of str(problem)
    value: Any = NO_VALUE  # the value the problem must report, if it reports one


def _hp(name: str, value: Any, allowed: str) -> Case:
    return Case(
        f"{name}={value!r}",
        set_at(f"job.hyperparameters.{name}", value),
        f"rft-env:job.hyperparameters.{name}",
        allowed,
        value,
    )


def _missing(path: str) -> Case:
    return Case(f"missing-{path}", drop(path), f"rft-env:{path}", "required key is missing")


ROLE = "arn:aws:iam::111122223333:role/rft-env-deployer"
KEY_IN_REGION = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

CASES: list[Any] = [
    # --- wrong types (strict) ---------------------------------------------------------
    _hp("epochCount", "2", "allowed: an integer from 1 to 50"),
    _hp("epochCount", True, "allowed: an integer from 1 to 50"),
    _hp("epochCount", 2.0, "allowed: an integer from 1 to 50"),
    _hp("learningRate", "1e-5", "allowed: a number from 1e-07 to 0.001"),
    _hp("learningRate", float("inf"), "allowed: a number from 1e-07 to 0.001"),
    Case("production-int", set_at("production", 1), "rft-env:production", "true or false", 1),
    Case(
        "production-string",
        set_at("production", "yes"),
        "rft-env:production",
        "allowed: true or false",
        "yes",
    ),
    Case(
        "hyperparameters-list",
        set_at("job.hyperparameters", [1, 2]),
        "rft-env:job.hyperparameters",
        "allowed: a mapping of keys to values",
        [1, 2],
    ),
    Case(
        "account-list",
        set_at("account", ["111122223333"]),
        "rft-env:account",
        "allowed: a mapping of keys to values",
        ["111122223333"],
    ),
    Case(
        "tags-list",
        set_at("tags", ["CostCenter"]),
        "rft-env:tags",
        "allowed: a mapping of keys to values",
        ["CostCenter"],
    ),
    Case(
        "emails-string",
        set_at("notificationEmails", "a@example.com"),
        "rft-env:notificationEmails",
        "allowed: a list",
        "a@example.com",
    ),
    Case(
        "environment-int",
        set_at("environment", 5),
        "rft-env:environment",
        "valid string",
        5,
    ),
    Case(
        "logRetentionDays-bool",
        set_at("logRetentionDays", True),
        "rft-env:logRetentionDays",
        "allowed: an integer",
        True,
    ),
    Case(
        "timeoutSeconds-string",
        set_at("graders.arithmetic.timeoutSeconds", "120"),
        "rft-env:graders.arithmetic.timeoutSeconds",
        "allowed: an integer from 1 to 900",
        "120",
    ),
    # --- hyperparameter ranges ------------------------------------------------------------
    _hp("epochCount", 0, "allowed: an integer from 1 to 50"),
    _hp("epochCount", 51, "allowed: an integer from 1 to 50"),
    _hp("batchSize", 15, "allowed: an integer from 16 to 512"),
    _hp("batchSize", 513, "allowed: an integer from 16 to 512"),
    _hp("learningRate", 1e-8, "allowed: a number from 1e-07 to 0.001"),
    _hp("learningRate", 0.002, "allowed: a number from 1e-07 to 0.001"),
    _hp("trainingSamplePerPrompt", 1, "allowed: an integer from 2 to 16"),
    _hp("trainingSamplePerPrompt", 17, "allowed: an integer from 2 to 16"),
    _hp("evalInterval", 0, "allowed: an integer from 1 to 100"),
    _hp("evalInterval", 101, "allowed: an integer from 1 to 100"),
    _hp("maxPromptLength", 0, "allowed: an integer from 1 to 256000"),
    _hp("inferenceMaxTokens", -1, "allowed: an integer from 1 to 64000"),
    # The service model sets no maximum; the base model's context does (README).
    _hp("maxPromptLength", 10**12, "allowed: an integer from 1 to 256000"),
    _hp("inferenceMaxTokens", 10**9, "allowed: an integer from 1 to 64000"),
    Case(
        "prompt-and-response-exceed-the-context",
        set_at("job.hyperparameters", {"maxPromptLength": 250_000, "inferenceMaxTokens": 8192}),
        "rft-env:job.hyperparameters.inferenceMaxTokens",
        "allowed: at most 6,000 with maxPromptLength 250,000 (a prompt and its response share "
        "the model's 256,000-token context)",
        8192,
    ),
    _hp("reasoningEffort", "extreme", "allowed: 'low', 'medium' or 'high'"),
    pytest.param(
        _hp("learningRate", 0, "allowed: a number from 1e-07 to 0.001"),
        id="learningRate=0-int-message",
    ),
    # --- unknown keys -------------------------------------------------------------------
    Case(
        "unknown-top-level",
        set_at("bogus", 1),
        "rft-env:bogus",
        "unknown key; allowed keys: account, crossAccount, data, environment, graders,",
    ),
    Case(
        "unknown-hyperparameter",
        set_at("job.hyperparameters.epochs", 2),
        "rft-env:job.hyperparameters.epochs",
        "unknown key; allowed keys: batchSize, epochCount, evalInterval",
    ),
    Case(
        "unknown-account-key",
        set_at("account.role", ROLE),
        "rft-env:account.role",
        "unknown key; allowed keys: deploymentRoleArn, externalId, id",
    ),
    Case(
        "unknown-kms-key",
        set_at("kms.deletionWindow", 7),
        "rft-env:kms.deletionWindow",
        "allowed keys: deletionWindowDays, existingKeyArn, keyUserArns",
    ),
    Case(
        "unknown-grader-key",
        set_at("graders.arithmetic.answerForm", "last_line"),
        "rft-env:graders.arithmetic.answerForm",
        "unknown key (did you mean 'answerFrom'?)",
    ),
    # --- missing required keys ------------------------------------------------------------
    _missing("environment"),
    _missing("account"),
    _missing("account.id"),
    _missing("region"),
    _missing("data"),
    _missing("data.training"),
    _missing("job"),
    _missing("job.grader"),
    _missing("graders"),
    _missing("graders.arithmetic.type"),
    Case("empty-config", {}, "rft-env:job", "required key is missing"),
    # --- graders ----------------------------------------------------------------------------
    Case(
        "grader-not-defined",
        set_at("job.grader", "fuzzy"),
        "rft-env:job.grader",
        "allowed: the name of a grader under rft-env:graders (arithmetic, judged)",
        "fuzzy",
    ),
    Case(
        "graders-empty",
        set_at("graders", {}),
        "rft-env:graders",
        "allowed: 1 to",
        {},
    ),
    Case(
        "graders-empty-job-ref",
        set_at("graders", {}),
        "rft-env:job.grader",
        "none are defined",
        "arithmetic",
    ),
    Case(
        "grader-bad-type",
        set_at("graders.arithmetic.type", "fuzzy_match"),
        "rft-env:graders.arithmetic.type",
        "got 'fuzzy_match'; allowed: composite, custom, exact_match, format, json_format",
    ),
    Case(
        "grader-bad-operation",
        set_at("graders.arithmetic.operation", "equals"),
        "rft-env:graders.arithmetic.operation",
        "got 'equals'; allowed: eq, ne, contains, regex",
    ),
    Case(
        "grader-bad-bool",
        set_at("graders.arithmetic.caseSensitive", "yes"),
        "rft-env:graders.arithmetic.caseSensitive",
        "allowed: true, false",
    ),
    Case(
        "grader-name-uppercase",
        set_at("graders.Arithmetic", {"type": "exact_match"}),
        "rft-env:graders.Arithmetic",
        "1-24 characters: lowercase letters",
        "Arithmetic",
    ),
    Case(
        "grader-timeout-901",
        set_at("graders.arithmetic.timeoutSeconds", 901),
        "rft-env:graders.arithmetic.timeoutSeconds",
        "allowed: an integer from 1 to 900",
        901,
    ),
    Case(
        "grader-memory-64",
        set_at("graders.arithmetic.memoryMb", 64),
        "rft-env:graders.arithmetic.memoryMb",
        "allowed: an integer from 128 to 10240",
        64,
    ),
    pytest.param(
        Case(
            "grader-pattern-repetition-too-large",
            both(
                set_at("graders.arithmetic.operation", "regex"),
                set_at("graders.arithmetic.pattern", "a{99999999999}"),
            ),
            "rft-env:graders.arithmetic.pattern",
            "not a valid regex",
        ),
        id="grader-pattern-repetition-too-large",
    ),
    # --- account ----------------------------------------------------------------------------
    Case(
        "account-id-11-digits",
        set_at("account.id", "11112222333"),
        "rft-env:account.id",
        'allowed: a 12-digit AWS account id, e.g. "111122223333"',
        "11112222333",
    ),
    Case(
        "account-id-non-ascii-digits",
        set_at("account.id", "11112222333\u0660"),
        "rft-env:account.id",
        "allowed: a 12-digit AWS account id",
    ),
    Case(
        "account-id-letters",
        set_at("account.id", "11112222333a"),
        "rft-env:account.id",
        "allowed: a 12-digit AWS account id",
        "11112222333a",
    ),
    Case(
        "account-id-unquoted-number",
        set_at("account.id", 111122223333),
        "rft-env:account.id",
        "as a quoted string",
        111122223333,
    ),
    Case(
        "account-externalId-too-short",
        set_at("account.externalId", "x"),
        "rft-env:account.externalId",
        "AssumeRole ExternalId accepts 2-1224 characters",
        "x",
    ),
    Case(
        "deploymentRoleArn-user-not-role",
        set_at("account.deploymentRoleArn", "arn:aws:iam::111122223333:user/deployer"),
        "rft-env:account.deploymentRoleArn",
        "allowed: an IAM role ARN",
        "arn:aws:iam::111122223333:user/deployer",
    ),
    Case(
        "deploymentRoleArn-other-account",
        set_at("account.deploymentRoleArn", "arn:aws:iam::444455556666:role/rft-env-deployer"),
        "rft-env:account.deploymentRoleArn",
        "allowed: a role in the target account 111122223333",
        "arn:aws:iam::444455556666:role/rft-env-deployer",
    ),
    # --- region and environment -------------------------------------------------------------
    Case(
        "region-format",
        set_at("region", "US-East-1"),
        "rft-env:region",
        "allowed: an AWS region name, e.g. us-east-1",
        "US-East-1",
    ),
    Case(
        "region-unsupported",
        set_at("region", "eu-west-1"),
        "rft-env:region",
        "allowed: a region where Bedrock RFT for Nova is offered: us-east-1",
        "eu-west-1",
    ),
    Case(
        "environment-uppercase",
        set_at("environment", "Dev"),
        "rft-env:environment",
        "1-16 characters: lowercase letters and digits, single '-' between them",
        "Dev",
    ),
    Case(
        "environment-double-hyphen",
        set_at("environment", "dev--1"),
        "rft-env:environment",
        "single '-' between them",
        "dev--1",
    ),
    Case(
        "environment-too-long",
        set_at("environment", "a" * 17),
        "rft-env:environment",
        "1-16 characters",
        "a" * 17,
    ),
    # --- job lifecycle ----------------------------------------------------------------------
    Case("job-wait-string", set_at("job.wait", "yes"), "rft-env:job.wait", "true or false", "yes"),
    Case("job-revision-0", set_at("job.revision", 0), "rft-env:job.revision", "at least 1", 0),
    Case(
        "job-wait-timeout-0",
        set_at("job.waitTimeoutMinutes", 0),
        "rft-env:job.waitTimeoutMinutes",
        "an integer from 1 to 10080",
        0,
    ),
    Case(
        "job-max-poll-5",
        set_at("job.maxPollSeconds", 5),
        "rft-env:job.maxPollSeconds",
        "an integer from 10 to 3600",
        5,
    ),
    Case(
        "inference-wait-timeout-1441",
        set_at("inference", {"mode": "on_demand", "waitTimeoutMinutes": 1441}),
        "rft-env:inference.waitTimeoutMinutes",
        "an integer from 1 to 1440",
        1441,
    ),
    # --- data -------------------------------------------------------------------------------
    Case(
        "training-file-missing",
        set_at("data.training.file", "stacks/data/no-such.jsonl"),
        "rft-env:data.training.file",
        f"no such file: {PROJECT_DIR / 'stacks/data/no-such.jsonl'}",
        "stacks/data/no-such.jsonl",
    ),
    # An invalid dataset's content: tests/components/test_config_paths.py (a file inside a
    # project of its own, as data files must be).
    Case(
        "training-file-empty-string",
        set_at("data.training.file", ""),
        "rft-env:data.training.file",
        "at least 1 character",
        "",
    ),
    Case(
        "training-file-and-s3Uri",
        set_at("data.training.s3Uri", "s3://my-bucket/rft/train.jsonl"),
        "rft-env:data.training",
        "set exactly one of 'file'",
    ),
    Case(
        "training-neither-file-nor-s3Uri",
        set_at("data.training", {}),
        "rft-env:data.training",
        "set exactly one of 'file'",
    ),
    Case(
        "validation-s3Uri-malformed",
        set_at("data.validation", {"s3Uri": "https://my-bucket/rft/validation.jsonl"}),
        "rft-env:data.validation.s3Uri",
        "allowed: an S3 object URI",
        "https://my-bucket/rft/validation.jsonl",
    ),
    Case(
        "validation-s3Uri-no-key",
        set_at("data.validation", {"s3Uri": "s3://my-bucket"}),
        "rft-env:data.validation.s3Uri",
        "allowed: an S3 object URI",
        "s3://my-bucket",
    ),
    Case(
        "data-unknown-purpose",
        set_at("data.test", {"file": "stacks/data/arithmetic-train.jsonl"}),
        "rft-env:data.test",
        "unknown key; allowed keys: training, validation",
    ),
    pytest.param(
        Case(
            "training-file-null",
            set_at("data.training.file", None),
            "rft-env:data.training",
            "set exactly one of 'file'",
        ),
        id="training-file-null",
    ),
    # --- inference ----------------------------------------------------------------------
    Case(
        "modelUnits-with-on_demand",
        set_at("inference", {"mode": "on_demand", "modelUnits": 1}),
        "rft-env:inference.modelUnits",
        "allowed: only with inference.mode 'provisioned'",
        1,
    ),
    Case(
        "commitment-with-default-mode",
        set_at("inference", {"commitment": "OneMonth"}),
        "rft-env:inference.commitment",
        "allowed: only with inference.mode 'provisioned'",
        "OneMonth",
    ),
    Case(
        "inference-mode-invalid",
        set_at("inference", {"mode": "serverless"}),
        "rft-env:inference.mode",
        "allowed: 'none', 'on_demand' or 'provisioned'",
        "serverless",
    ),
    Case(
        "inference-commitment-invalid",
        set_at("inference", {"mode": "provisioned", "modelUnits": 1, "commitment": "OneYear"}),
        "rft-env:inference.commitment",
        "allowed: 'none', 'OneMonth' or 'SixMonths'",
        "OneYear",
    ),
    pytest.param(
        Case(
            "inference-modelUnits-0",
            set_at("inference", {"mode": "provisioned", "modelUnits": 0}),
            "rft-env:inference.modelUnits",
            "allowed: an integer from 1 to 50",
            0,
        ),
        id="inference-modelUnits-0",
    ),
    Case(
        "inference-modelUnits-1e9",
        set_at("inference", {"mode": "provisioned", "modelUnits": 10**9, "commitment": "OneMonth"}),
        "rft-env:inference.modelUnits",
        "allowed: an integer from 1 to 50",
        10**9,
    ),
    # --- kms --------------------------------------------------------------------------------
    Case(
        "deletionWindowDays-6",
        set_at("kms.deletionWindowDays", 6),
        "rft-env:kms.deletionWindowDays",
        "allowed: an integer from 7 to 30",
        6,
    ),
    Case(
        "deletionWindowDays-31",
        set_at("kms.deletionWindowDays", 31),
        "rft-env:kms.deletionWindowDays",
        "allowed: an integer from 7 to 30",
        31,
    ),
    Case(
        "production-deletionWindowDays-7",
        set_at("production", True),  # dev has deletionWindowDays: 7
        "rft-env:kms.deletionWindowDays",
        "allowed: 30 for a production stack",
        7,
    ),
    Case(
        "deletionWindowDays-with-existingKeyArn",
        set_at("kms.existingKeyArn", KEY_IN_REGION),
        "rft-env:kms.deletionWindowDays",
        "allowed: only when rft-env creates the key",
        7,
    ),
    Case(
        "existingKeyArn-malformed",
        set_at("kms", {"existingKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/rft"}),
        "rft-env:kms.existingKeyArn",
        "allowed: a KMS key ARN",
        "arn:aws:kms:us-east-1:111122223333:alias/rft",
    ),
    Case(
        "existingKeyArn-other-region",
        set_at("kms", {"existingKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd"}),
        "rft-env:kms.existingKeyArn",
        "allowed: a key in the stack's region us-east-1",
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd",
    ),
    Case(
        "keyUserArns-entry-malformed",
        set_at("kms.keyUserArns", [ROLE, "arn:aws:iam::111122223333:group/admins"]),
        "rft-env:kms.keyUserArns[1]",
        "allowed: an IAM role or user ARN",
        "arn:aws:iam::111122223333:group/admins",
    ),
    Case(
        "keyUserArns-required-without-deployment-role",
        drop("account.deploymentRoleArn"),
        "rft-env:kms.keyUserArns",
        "required when data files are uploaded without account.deploymentRoleArn",
    ),
    # --- vpc --------------------------------------------------------------------------------
    Case(
        "vpc-no-subnets",
        set_at("vpc", {"subnetIds": [], "securityGroupIds": ["sg-0abc12345"]}),
        "rft-env:vpc.subnetIds",
        "allowed: 1 to 16 items",
        [],
    ),
    Case(
        "vpc-17-subnets",
        set_at(
            "vpc",
            {
                "subnetIds": [f"subnet-0abc{i:04d}" for i in range(17)],
                "securityGroupIds": ["sg-0abc12345"],
            },
        ),
        "rft-env:vpc.subnetIds",
        "allowed: 1 to 16 items",
    ),
    Case(
        "vpc-6-security-groups",
        set_at(
            "vpc",
            {
                "subnetIds": ["subnet-0abc1234"],
                "securityGroupIds": [f"sg-0abc{i:04d}" for i in range(6)],
            },
        ),
        "rft-env:vpc.securityGroupIds",
        "allowed: 1 to 5 items",
    ),
    Case(
        "vpc-subnet-malformed",
        set_at("vpc", {"subnetIds": ["subnet-xyz"], "securityGroupIds": ["sg-0abc12345"]}),
        "rft-env:vpc.subnetIds[0]",
        "allowed: a subnet id, e.g. subnet-0abc1234",
        "subnet-xyz",
    ),
    Case(
        "vpc-missing-security-groups",
        set_at("vpc", {"subnetIds": ["subnet-0abc1234"]}),
        "rft-env:vpc.securityGroupIds",
        "required key is missing",
    ),
    # --- logs, notifications, tags ----------------------------------------------------------
    Case(
        "logRetentionDays-42",
        set_at("logRetentionDays", 42),
        "rft-env:logRetentionDays",
        "allowed: one of CloudWatch's retention periods in days: 1, 3, 5, 7, 14, 30",
        42,
    ),
    Case(
        "notificationEmails-bad",
        set_at("notificationEmails", ["ops@example.com", "ops-at-example.com"]),
        "rft-env:notificationEmails[1]",
        "allowed: an e-mail address",
        "ops-at-example.com",
    ),
    Case(
        "tags-reserved-Environment",
        set_at("tags", {"Environment": "dev"}),
        "rft-env:tags.Environment",
        "reserved: Project, Environment, Stack, ManagedBy, aws:*",
    ),
    Case(
        "tags-aws-prefix",
        set_at("tags", {"aws:createdBy": "me"}),
        "rft-env:tags.aws:createdBy",
        "this tag key is set by rft-env or reserved by AWS",
    ),
    Case(
        "tags-value-not-string",
        set_at("tags", {"CostCenter": 42}),
        "rft-env:tags.CostCenter",
        "valid string",
        42,
    ),
    Case(
        "baseModel-malformed",
        set_at("job.baseModel", "Nova Lite"),
        "rft-env:job.baseModel",
        "allowed: a Bedrock foundation-model id or ARN",
        "Nova Lite",
    ),
]


def _case_params() -> list[Any]:
    return [pytest.param(c, id=c.id) if isinstance(c, Case) else c for c in CASES]


def test_case_ids_are_unique_and_plentiful() -> None:
    ids = [p.id for p in _case_params()]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 30


@pytest.mark.parametrize("case", _case_params())
def test_bad_config_is_reported_with_key_value_and_allowed(case: Case, tmp_path: Path) -> None:
    if isinstance(case.mutate, dict):
        raw = copy.deepcopy(case.mutate)
    else:
        raw = stack_config("dev")
        case.mutate(raw, tmp_path)
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, PROJECT_DIR)
    error = info.value
    at_key = [p for p in error.problems if p.key == case.key]
    assert at_key, f"no problem at {case.key}; got:\n{error}"
    texts = [str(p) for p in at_key]
    assert any(case.allowed in text for text in texts), texts
    if case.value is not NO_VALUE:
        matching = [p for p in at_key if case.allowed in str(p)]
        assert any(p.value == case.value and type(p.value) is type(case.value) for p in matching), [
            (p.value, type(p.value)) for p in matching
        ]
        shown = json.dumps(case.value, sort_keys=True)
        assert any(f"got {shown}" in str(p) for p in matching), texts
    # Every problem is also in the message.
    for problem in error.problems:
        assert f"  - {problem}" in str(error)


def test_file_path_with_nul_byte_is_a_config_error() -> None:
    raw = stack_config("dev")
    raw["data"]["training"]["file"] = "stacks/data/train\x00.jsonl"
    assert "rft-env:data.training.file" in {p.key for p in problems_of(raw)}


def test_file_path_too_long_is_a_config_error() -> None:
    raw = stack_config("dev")
    raw["data"]["training"]["file"] = "stacks/data/" + "x" * 300 + ".jsonl"
    assert "rft-env:data.training.file" in {p.key for p in problems_of(raw)}


# --------------------------------------------------------------------------------------
# Many problems at once
# --------------------------------------------------------------------------------------
def test_all_problems_are_reported_together_sorted_by_key() -> None:
    raw = stack_config("dev")
    raw["environment"] = "Dev"
    raw["region"] = "eu-west-1"
    raw["account"]["externalId"] = "x"
    raw["job"]["hyperparameters"]["epochCount"] = 0
    raw["job"]["hyperparameters"]["batchSize"] = "64"
    raw["graders"]["arithmetic"]["operation"] = "equals"
    raw["graders"]["arithmetic"]["memoryMb"] = 64
    raw["inference"] = {"mode": "always"}
    raw["kms"]["deletionWindowDays"] = 31
    raw["logRetentionDays"] = 42
    raw["notificationEmails"] = ["nobody"]
    raw["tags"] = {"Environment": "dev"}
    raw["vpc"] = {"subnetIds": [], "securityGroupIds": ["sg-0abc12345"]}
    raw["data"]["validation"] = {"file": "stacks/data/absent.jsonl"}
    raw["surprise"] = True

    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, PROJECT_DIR, source="stack dev")
    error = info.value
    expected = [
        "rft-env:account.externalId",
        "rft-env:data.validation.file",
        "rft-env:environment",
        "rft-env:graders.arithmetic.memoryMb",
        "rft-env:graders.arithmetic.operation",
        "rft-env:inference.mode",
        "rft-env:job.hyperparameters.batchSize",
        "rft-env:job.hyperparameters.epochCount",
        "rft-env:kms.deletionWindowDays",
        "rft-env:logRetentionDays",
        "rft-env:notificationEmails[0]",
        "rft-env:region",
        "rft-env:surprise",
        "rft-env:tags.Environment",
        "rft-env:vpc.subnetIds",
    ]
    keys = [p.key for p in error.problems]
    assert keys == expected  # each once, and sorted by key
    assert keys == sorted(keys)
    lines = str(error).splitlines()
    assert lines[0] == f"invalid rft-env stack config (stack dev): {len(expected)} problems"
    assert lines[1:] == [f"  - {p}" for p in error.problems]
    assert error.source == "stack dev"


def test_error_message_singular_and_without_source() -> None:
    raw = stack_config("dev")
    raw["logRetentionDays"] = 42
    with pytest.raises(ConfigError) as info:
        load(raw)
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid rft-env stack config: 1 problem"
    assert len(lines) == 2
    assert lines[1].startswith("  - rft-env:logRetentionDays: got 42; allowed: one of")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    raw = stack_config("dev")
    raw["environment"] = "Dev"
    with pytest.raises(ValueError, match=r"rft-env:environment: got \"Dev\""):
        load(raw)


def test_problem_str_with_and_without_value() -> None:
    assert str(ConfigProblem("rft-env:a", MISSING, "required key is missing")) == (
        "rft-env:a: required key is missing"
    )
    assert str(ConfigProblem("rft-env:a", "x" * 200, "m")).startswith('rft-env:a: got "xxx')
    assert str(ConfigProblem("rft-env:a", "x" * 200, "m")).endswith("...; m")
    assert str(ConfigProblem("rft-env:a", None, "m")) == "rft-env:a: got null; m"


# --------------------------------------------------------------------------------------
# Property: any JSON-like value anywhere gives a StackConfig or a ConfigError
# --------------------------------------------------------------------------------------
POSITIONS = (
    "environment",
    "region",
    "production",
    "account.id",
    "account.deploymentRoleArn",
    "job.grader",
    "job.hyperparameters.epochCount",
    "job.hyperparameters.learningRate",
    "graders.arithmetic.operation",
    "graders.arithmetic.timeoutSeconds",
    "inference",
    "kms",
    "vpc",
    "logRetentionDays",
    "notificationEmails",
    "tags",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["none", "on_demand", "provisioned", "us-east-1", "arithmetic", "eq"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=12)
            | st.sampled_from(["mode", "modelUnits", "existingKeyArn", "subnetIds", "Environment"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(POSITIONS), json_values, min_size=1, max_size=4))
def test_any_json_value_gives_config_or_config_error(substitutions: dict[str, Any]) -> None:
    raw = stack_config("dev")
    for path, value in substitutions.items():
        node, last = _parent(raw, path)
        node[last] = value
    try:
        config = load(raw)
    except ConfigError as error:
        assert error.problems
        assert all(p.key.startswith("rft-env:") for p in error.problems)
        keys = [p.key for p in error.problems]
        assert keys == sorted(keys)
        assert len(str(error).split("\n")) == len(error.problems) + 1
    else:
        assert isinstance(config, StackConfig)


def test_provisioned_model_units_default_to_one() -> None:
    raw = stack_config("dev")
    raw["inference"] = {"mode": "provisioned"}
    assert load_stack_config(raw, PROJECT_DIR).inference.provisioned_model_units == 1
    raw["inference"]["modelUnits"] = 2
    assert load_stack_config(raw, PROJECT_DIR).inference.provisioned_model_units == 2


def test_at_most_six_extra_tags_because_s3_objects_carry_ten() -> None:
    raw = stack_config("dev")
    raw["tags"] = {f"Team{i}": "x" for i in range(6)}
    load_stack_config(raw, PROJECT_DIR)
    raw["tags"]["Team6"] = "x"
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, PROJECT_DIR)
    (problem,) = info.value.problems
    assert problem.key == "rft-env:tags"
    assert "at most 6 tags" in str(problem)


def test_custom_grader_directories_are_checked_inside_composites_too() -> None:
    raw = stack_config("dev")
    raw["graders"]["own"] = {"type": "custom", "path": "stacks/graders/nope"}
    raw["graders"]["mix"] = {
        "type": "composite",
        "parts": [
            {
                "name": "ok",
                "weight": 1,
                "grader": {"type": "custom", "path": "stacks/graders/concise"},
            },
            {
                "name": "typo",
                "weight": 1,
                "grader": {
                    "type": "custom",
                    "path": "stacks/graders/concise",
                    "entry": "gradr:grade",
                },
            },
        ],
    }
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, PROJECT_DIR)
    found = {p.key: str(p) for p in info.value.problems}
    assert set(found) == {
        "rft-env:graders.own.path",
        "rft-env:graders.mix.parts[1].grader.entry",
        # One Lambda ships one custom directory (tests/program/test_archives.py).
        "rft-env:graders.mix.parts[1].grader",
    }
    assert "no such directory" in found["rft-env:graders.own.path"]
    assert "no module gradr.py" in found["rft-env:graders.mix.parts[1].grader.entry"]
    assert (
        "allowed: one custom grader per grader Lambda"
        in found["rft-env:graders.mix.parts[1].grader"]
    )


# --------------------------------------------------------------------------------------
# Another account's principals and keys (rft-env:crossAccount)
# --------------------------------------------------------------------------------------
ATTACKER = "arn:aws:iam::999999999999:role/attacker"
FOREIGN_KEY = "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RELEASE = "arn:aws:iam::123456789012:role/rft-env-release"


def _with_foreign_key(raw: dict[str, Any]) -> dict[str, Any]:
    raw["kms"] = {"existingKeyArn": FOREIGN_KEY}  # no deletionWindowDays for a given key
    return raw


def test_a_foreign_key_user_is_refused_naming_the_key() -> None:
    raw = stack_config("dev")
    raw["kms"]["keyUserArns"] = ["arn:aws:iam::111122223333:role/x", ATTACKER]
    problems = {p.key: p for p in problems_of(raw)}
    assert set(problems) == {"rft-env:kms.keyUserArns[1]"}
    problem = problems["rft-env:kms.keyUserArns[1]"]
    assert problem.value == ATTACKER
    assert "account 999999999999, not the stack's account 111122223333" in str(problem)
    assert "rft-env:crossAccount" in str(problem)


def test_a_foreign_existing_key_is_refused_naming_the_key() -> None:
    (problem,) = problems_of(_with_foreign_key(stack_config("dev")))
    assert problem.key == "rft-env:kms.existingKeyArn"
    assert problem.value == FOREIGN_KEY
    assert "account 999999999999" in str(problem)


@pytest.mark.parametrize("arn", [ATTACKER, "arn:aws:iam::999999999999:root"])
def test_foreign_key_user_and_key_are_accepted_when_listed_with_a_reason(arn: str) -> None:
    raw = _with_foreign_key(stack_config("dev"))
    raw["kms"]["keyUserArns"] = [ATTACKER]
    raw["crossAccount"] = [
        *raw.get("crossAccount", []),
        {"arn": arn, "reason": "the shared ML platform account reads job output"},
    ]
    if arn == ATTACKER:  # a role's entry does not cover its account's key
        raw["crossAccount"].append({"arn": FOREIGN_KEY, "reason": "the platform's shared key"})
    config = load(raw)
    allowed = config.cross_account_allow_list
    assert allowed.reason_for(ATTACKER) == "the shared ML platform account reads job output"
    assert allowed.reason_for(FOREIGN_KEY) is not None
    assert allowed.reason_for("arn:aws:iam::888888888888:role/attacker") is None


@pytest.mark.parametrize(
    ("entry", "key", "allowed"),
    [
        ({"arn": ATTACKER}, "rft-env:crossAccount[0].reason", "required key is missing"),
        ({"arn": ATTACKER, "reason": ""}, "rft-env:crossAccount[0].reason", "non-empty reason"),
        ({"arn": ATTACKER, "reason": " \n"}, "rft-env:crossAccount[0].reason", "non-empty"),
        ({"arn": ATTACKER, "reason": 7}, "rft-env:crossAccount[0].reason", "a string"),
        (
            {"arn": "arn:aws:s3:::other-bucket", "reason": "r"},
            "rft-env:crossAccount[0].arn",
            "an account root (arn:aws:iam::<account>:root), an IAM role or user ARN",
        ),
    ],
)
def test_an_entry_without_a_reason_is_refused_and_allows_nothing(
    entry: dict[str, Any], key: str, allowed: str
) -> None:
    raw = stack_config("dev")
    raw["kms"]["keyUserArns"] = [ATTACKER]
    raw["crossAccount"] = [entry]
    problems = {p.key: str(p) for p in problems_of(raw)}
    assert allowed in problems[key]
    assert "rft-env:kms.keyUserArns[0]" in problems


def test_entries_name_other_accounts_once_each() -> None:
    raw = stack_config("dev")
    own = "arn:aws:iam::111122223333:role/data-engineer"
    raw["crossAccount"] = [
        {"arn": RELEASE, "reason": "rollouts"},
        {"arn": own, "reason": "not needed"},
        {"arn": RELEASE, "reason": "again"},
    ]
    problems = {p.key: str(p) for p in problems_of(raw)}
    assert set(problems) == {"rft-env:crossAccount[1].arn", "rft-env:crossAccount[2].arn"}
    assert (
        "stack's account 111122223333, which needs no entry"
        in problems["rft-env:crossAccount[1].arn"]
    )
    assert "listed twice" in problems["rft-env:crossAccount[2].arn"]


@pytest.mark.parametrize("stack", STACKS)
def test_example_stacks_list_the_release_role_with_a_reason(stack: str) -> None:
    config = load(stack_config(stack))
    reason = config.cross_account_allow_list.reason_for(RELEASE)
    assert reason is not None and "rollout" in reason


def test_a_judge_profile_of_another_account_is_refused_unless_its_root_is_listed() -> None:
    profile = "arn:aws:bedrock:us-east-1:999999999999:application-inference-profile/abc123"
    raw = stack_config("dev")
    raw["graders"]["mix"] = {
        "type": "composite",
        "parts": [
            {"name": "judge", "weight": 1, "grader": {**raw["graders"]["judged"]}},
        ],
    }
    raw["graders"]["mix"]["parts"][0]["grader"].pop("timeoutSeconds")
    raw["graders"]["mix"]["parts"][0]["grader"]["modelId"] = profile
    (problem,) = problems_of(raw)
    assert problem.key == "rft-env:graders.mix.parts[0].grader.modelId"
    assert "account 999999999999" in str(problem) and "its account's root" in str(problem)
    raw["crossAccount"].append(
        {"arn": "arn:aws:iam::999999999999:root", "reason": "the shared judge account"}
    )
    assert load(raw).cross_account_allow_list.reason_for(profile) == "the shared judge account"


def test_an_invalid_account_id_is_one_problem_on_one_line() -> None:
    """Found by the property test: an id of "\\n" also failed the role's account check, whose
    message quoted the id raw and broke the one-line-per-problem rule."""
    raw = stack_config("dev")
    raw["account"]["id"] = "\n"
    raw["region"] = "us-east-1\n"
    with pytest.raises(ConfigError) as info:
        load(raw)
    assert {p.key for p in info.value.problems} == {"rft-env:account.id", "rft-env:region"}
    assert len(str(info.value).splitlines()) == len(info.value.problems) + 1
