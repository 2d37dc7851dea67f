"""The API's own constraints (components.bedrock.api): read from botocore's service model,
applied by config validation and by the providers' `check` to every member we send."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rft_env.components.bedrock import api
from rft_env.components.bedrock.api import (
    ASSUME_ROLE,
    CREATE_DEPLOYMENT,
    CREATE_JOB,
    CREATE_THROUGHPUT,
    STS,
    constrained_members,
    constraint,
    generic_path,
    request_members,
    request_problems,
)
from rft_env.components.bedrock.inference import (
    CustomModelDeploymentProvider,
    ProvisionedThroughputProvider,
)
from rft_env.components.bedrock.job import create_request
from rft_env.components.bedrock.session import Connection
from rft_env.components.config import ConfigError, decode_config_values, load_stack_config
from rft_env.components.datasets import content_key
from rft_env.components.naming import Names
from rft_env.rftenv import stack_files, synth
from tests.conftest import REPO, STACKS, Graph

PROJECT_DIR = REPO
HYPER = "customizationConfig.rftConfig.hyperParameters."
# A custom model as the job will name it, for requests that wait on one (pending in synth).
MODEL = (
    "arn:aws:bedrock:us-east-1:111122223333:custom-model/amazon.nova-2-lite-v1:0:256k/a1b2c3d4e5f6"
)


# --- reading the model ------------------------------------------------------------------------
def test_constraints_are_read_from_the_model_botocore_ships() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock")
    shape = model.operation_model(CREATE_JOB).input_shape.members["jobName"]
    rule = constraint(CREATE_JOB, "jobName")
    assert (rule.min, rule.max, rule.pattern) == (
        shape.metadata["min"],
        shape.metadata["max"],
        shape.metadata["pattern"],
    )
    assert constraint(CREATE_JOB, HYPER + "epochCount").describe() == "an integer from 1 to 50"
    assert constraint(CREATE_THROUGHPUT, "commitmentDuration").enum == ("OneMonth", "SixMonths")


def test_patterns_match_the_whole_value_with_ascii_classes() -> None:
    tag_key = constraint(CREATE_JOB, "jobTags[].key")
    assert tag_key.problem("Team name") is None
    assert tag_key.problem("Équipe") == "does not match the pattern"
    # Java's \s is ASCII whitespace: a no-break space is not in it (Python's Unicode \s is).
    assert tag_key.problem("Team\u00a0name") == "does not match the pattern"
    # Whole value, not a prefix: a valid start does not carry a bad end.
    assert constraint(CREATE_JOB, "jobName").problem("rft-env_dev") == "does not match the pattern"
    assert constraint(CREATE_JOB, "jobName").problem("a" * 64) == "too long"


def test_numbers_keep_their_type_and_range() -> None:
    epochs = constraint(CREATE_JOB, HYPER + "epochCount")
    assert epochs.problem(50) is None
    assert epochs.problem(51) == "out of range"
    assert epochs.problem(2.0) == "not an integer"  # botocore refuses a float for an integer
    assert epochs.problem(True) == "not an integer"
    rate = constraint(CREATE_JOB, HYPER + "learningRate")
    assert rate.problem(1e-5) is None and rate.problem(1e-2) == "out of range"


def test_every_pattern_we_send_compiles_in_python() -> None:
    for operation, service in OPERATIONS:
        for path, rule in constrained_members(operation, service).items():
            if rule.pattern and (operation, path) in SOURCES:
                assert api._compiled(rule.pattern) is not None, (operation, path)


def test_request_problems_name_the_concrete_member() -> None:
    request = {"jobTags": [{"key": "ok", "value": "ok"}, {"key": "Équipe", "value": "x"}]}
    (problem,) = request_problems(CREATE_JOB, request)
    assert problem.path == "jobTags[1].key" and generic_path(problem.path) == "jobTags[].key"
    assert "CreateModelCustomizationJob jobTags[].key accepts 1-128 characters" in str(problem)
    unknown = pulumi.runtime.rpc.UNKNOWN
    assert request_problems(CREATE_JOB, {"jobName": unknown}, skip=lambda v: v == unknown) == []


# --- where each constrained member we send comes from ------------------------------------------
OPERATIONS = ((CREATE_JOB, api.BEDROCK), (CREATE_THROUGHPUT, api.BEDROCK))
OPERATIONS += ((CREATE_DEPLOYMENT, api.BEDROCK), (ASSUME_ROLE, STS))

# Members whose value the user writes in stack config: config validation applies the model's
# constraint, naming the key. Each with the key and a value the model refuses that a user might
# well write (the first two are the outside audit's).
CONFIG_SOURCES: dict[tuple[str, str], tuple[tuple[str, ...], Any, Any]] = {
    # member: (config key, config value, the value the member would get)
    (CREATE_JOB, "trainingDataConfig.s3Uri"): (
        ("data", "training"),
        {"s3Uri": "s3://rft-data-bucket/v2+final.jsonl"},
        "s3://rft-data-bucket/v2+final.jsonl",
    ),
    (CREATE_JOB, "jobTags[].key"): (("tags",), {"Équipe": "ml"}, "Équipe"),
    (CREATE_JOB, "jobTags[].value"): (("tags",), {"Team": "données"}, "données"),
    (CREATE_JOB, "validationDataConfig.validators[].s3Uri"): (
        ("data", "validation"),
        {"s3Uri": "s3://rft-data-bucket/held-out=v1.jsonl"},
        "s3://rft-data-bucket/held-out=v1.jsonl",
    ),
    (CREATE_JOB, "baseModelIdentifier"): (
        ("job", "baseModel"),
        "amazon.nova-2-lite-v1:0:256k:latest",
        "amazon.nova-2-lite-v1:0:256k:latest",
    ),
    (CREATE_JOB, "customModelKmsKeyId"): (
        ("kms", "existingKeyArn"),
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab",
    ),
    (CREATE_JOB, "vpcConfig.subnetIds"): (
        ("vpc",),
        {"subnetIds": [f"subnet-{i:08x}" for i in range(17)], "securityGroupIds": ["sg-0abc1234"]},
        [f"subnet-{i:08x}" for i in range(17)],
    ),
    (CREATE_JOB, "vpcConfig.subnetIds[]"): (
        ("vpc",),
        {"subnetIds": ["subnet-0abc_1234"], "securityGroupIds": ["sg-0abc1234"]},
        "subnet-0abc_1234",
    ),
    (CREATE_JOB, "vpcConfig.securityGroupIds"): (
        ("vpc",),
        {"subnetIds": ["subnet-0abc1234"], "securityGroupIds": [f"sg-{i:08x}" for i in range(6)]},
        [f"sg-{i:08x}" for i in range(6)],
    ),
    (CREATE_JOB, "vpcConfig.securityGroupIds[]"): (
        ("vpc",),
        {"subnetIds": ["subnet-0abc1234"], "securityGroupIds": ["sg-0abc 1234"]},
        "sg-0abc 1234",
    ),
    (CREATE_JOB, HYPER + "epochCount"): (("job", "hyperparameters", "epochCount"), 51, 51),
    (CREATE_JOB, HYPER + "batchSize"): (("job", "hyperparameters", "batchSize"), 1024, 1024),
    (CREATE_JOB, HYPER + "learningRate"): (("job", "hyperparameters", "learningRate"), 0.5, 0.5),
    (CREATE_JOB, HYPER + "trainingSamplePerPrompt"): (
        ("job", "hyperparameters", "trainingSamplePerPrompt"),
        1,
        1,
    ),
    (CREATE_JOB, HYPER + "reasoningEffort"): (
        ("job", "hyperparameters", "reasoningEffort"),
        "extreme",
        "extreme",
    ),
    (CREATE_JOB, HYPER + "evalInterval"): (("job", "hyperparameters", "evalInterval"), 0, 0),
    (CREATE_THROUGHPUT, "modelUnits"): (
        ("inference",),
        {"mode": "provisioned", "modelUnits": 0},
        0,
    ),
    (CREATE_THROUGHPUT, "commitmentDuration"): (
        ("inference",),
        {"mode": "provisioned", "commitment": "OneYear"},
        "OneYear",
    ),
    (ASSUME_ROLE, "ExternalId"): (("account", "externalId"), "rft env prod", "rft env prod"),
    (ASSUME_ROLE, "RoleArn"): (
        ("account", "deploymentRoleArn"),
        "arn:aws:iam::444455556666:role/" + "d" * 2100,
        "arn:aws:iam::444455556666:role/" + "d" * 2100,
    ),
}
# The same config values reach these members too (the stack's tags are on every resource).
SAME_AS = {
    (CREATE_JOB, "customModelTags[].key"): (CREATE_JOB, "jobTags[].key"),
    (CREATE_JOB, "customModelTags[].value"): (CREATE_JOB, "jobTags[].value"),
    (CREATE_THROUGHPUT, "tags[].key"): (CREATE_JOB, "jobTags[].key"),
    (CREATE_THROUGHPUT, "tags[].value"): (CREATE_JOB, "jobTags[].value"),
    (CREATE_DEPLOYMENT, "tags[].key"): (CREATE_JOB, "jobTags[].key"),
    (CREATE_DEPLOYMENT, "tags[].value"): (CREATE_JOB, "jobTags[].value"),
}
# Members rft-env derives itself, each from validated config, with the test that shows the
# derivation always satisfies the model (besides every stack's requests passing below).
DERIVED = {
    (CREATE_JOB, "jobName"): "test_naming: job and model names fit the API",
    (CREATE_JOB, "customModelName"): "test_naming: job and model names fit the API",
    (CREATE_JOB, "clientRequestToken"): "64 hex digits (common.client_token)",
    (CREATE_JOB, "roleArn"): "test_derived_names_fit_the_api",
    (CREATE_JOB, "customizationType"): "the constant REINFORCEMENT_FINE_TUNING",
    (CREATE_JOB, "outputDataConfig.s3Uri"): "test_derived_names_fit_the_api",
    (CREATE_JOB, "customizationConfig.rftConfig.graderConfig.lambdaGrader.lambdaArn"): (
        "test_derived_names_fit_the_api"
    ),
    (CREATE_JOB, "validationDataConfig.validators"): "at most one validator is sent",
    (CREATE_JOB, "jobTags"): "at most 10 tags (config: tags)",
    (CREATE_JOB, "customModelTags"): "at most 10 tags (config: tags)",
    (CREATE_THROUGHPUT, "provisionedModelName"): "test_derived_names_fit_the_api",
    (CREATE_THROUGHPUT, "modelId"): "the job's output model ARN",
    (CREATE_THROUGHPUT, "clientRequestToken"): "64 hex digits (common.client_token)",
    (CREATE_THROUGHPUT, "tags"): "at most 10 tags (config: tags)",
    (CREATE_DEPLOYMENT, "modelDeploymentName"): "test_derived_names_fit_the_api",
    (CREATE_DEPLOYMENT, "modelArn"): "the job's output model ARN",
    (CREATE_DEPLOYMENT, "description"): "a fixed sentence with the environment name",
    (CREATE_DEPLOYMENT, "clientRequestToken"): "64 hex digits (common.client_token)",
    (CREATE_DEPLOYMENT, "tags"): "at most 10 tags (config: tags)",
    (ASSUME_ROLE, "RoleSessionName"): "the constant session.SESSION_NAME",
}
SOURCES = {**CONFIG_SOURCES, **SAME_AS, **DERIVED}


def requests_of(graph: Graph) -> list[tuple[str, str, dict[str, Any]]]:
    """(operation, service, request) for every call the stack's providers will make, built by
    the providers' own request functions from the inputs the program registers."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for resource in graph.resources:
        inputs = resource["inputs"]
        if resource["type"].endswith(":RftCustomizationJob"):
            found.append((CREATE_JOB, api.BEDROCK, create_request(inputs)))
            connection = Connection.from_props(inputs)
            if connection.role_arn:
                sts = {"RoleArn": connection.role_arn, **connection.assume_role_request()}
                found.append((ASSUME_ROLE, STS, sts))
        elif resource["type"].endswith(":ProvisionedThroughput"):
            request = ProvisionedThroughputProvider().request({**inputs, "modelId": MODEL})
            found.append((CREATE_THROUGHPUT, api.BEDROCK, request))
        elif resource["type"].endswith(":CustomModelDeployment"):
            request = CustomModelDeploymentProvider().request({**inputs, "modelArn": MODEL})
            found.append((CREATE_DEPLOYMENT, api.BEDROCK, request))
    return found


def test_every_stacks_requests_satisfy_the_model(graph: Graph) -> None:
    requests = requests_of(graph)
    assert {operation for operation, _, _ in requests} >= {CREATE_JOB}
    for operation, service, request in requests:
        assert request_problems(operation, request, service) == [], operation


def test_every_constrained_member_we_send_has_a_checked_source() -> None:
    """The walk: every member of the Create calls (and AssumeRole) that the model constrains
    and any stack sends is checked by config (with the key named) or derived by us."""
    sent: set[tuple[str, str]] = set()
    for stack in STACKS:
        for operation, service, request in requests_of(Graph(synth.synthesize(stack))):
            sent |= {(operation, path) for path in request_members(operation, request, service)}
    # The example stacks use each kind of call, so the walk covers all three.
    assert {operation for operation, _ in sent} == {
        CREATE_JOB,
        CREATE_THROUGHPUT,
        CREATE_DEPLOYMENT,
        ASSUME_ROLE,
    }
    unaccounted = sorted(sent - set(SOURCES))
    assert unaccounted == []
    # Optional members no example stack sends, but config can: still accounted for.
    for operation, path in CONFIG_SOURCES:
        service = STS if operation == ASSUME_ROLE else api.BEDROCK
        assert path in constrained_members(operation, service), (operation, path)


def raw_config(stack: str) -> dict[str, Any]:
    """A stack's `rft-env:*` config as the program decodes it, before validation."""
    return decode_config_values(stack_files.engine_config(stack))


def set_in(config: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    target = changed
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value
    return changed


def config_key(path: tuple[str, ...]) -> str:
    return "rft-env:" + ".".join(path)


@pytest.mark.parametrize(
    ("operation", "member"), sorted(CONFIG_SOURCES), ids=lambda v: v.replace(HYPER, "hp.")
)
def test_config_refuses_what_the_model_refuses_naming_the_key(operation: str, member: str) -> None:
    path, value, sent = CONFIG_SOURCES[(operation, member)]
    service = STS if operation == ASSUME_ROLE else api.BEDROCK
    # The API really refuses it, so this test cannot pass vacuously.
    assert constraint(operation, member, service).problem(sent), (member, sent)
    config = set_in(raw_config("prod"), path, value)
    with pytest.raises(ConfigError) as raised:
        load_stack_config(config, PROJECT_DIR)
    keys = [problem.key for problem in raised.value.problems]
    assert any(key.startswith(config_key(path)) for key in keys), keys


@pytest.mark.parametrize(("operation", "member"), sorted(CONFIG_SOURCES)[:6])
def test_a_refused_value_registers_nothing(operation: str, member: str) -> None:
    path, value, _ = CONFIG_SOURCES[(operation, member)]
    values = stack_files.engine_config("prod")
    changed = set_in(raw_config("prod"), path, value)
    values[f"rft-env:{path[0]}"] = json.dumps(changed[path[0]])  # as the engine passes it
    monitor = synth.RecordingMonitor(synth.SynthMocks("444455556666", "us-east-1"))
    with pytest.raises(pulumi.RunError, match=re.escape(config_key(path))):
        synth.run_program("prod", values, monitor)
    assert monitor.registrations == []


# --- property tests: any value that breaks a pattern is refused --------------------------------
def breaking(member: tuple[str, str]) -> st.SearchStrategy[str]:
    operation, path = member
    rule = constraint(operation, path, STS if operation == ASSUME_ROLE else api.BEDROCK)
    assert rule.pattern
    pattern = api._compiled(rule.pattern)
    assert pattern is not None
    return st.text(min_size=1, max_size=40).filter(lambda text: not pattern.fullmatch(text))


BASE = raw_config("dev")


def refused_at(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_stack_config(config, PROJECT_DIR)
    assert any(problem.key.startswith(key) for problem in raised.value.problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(key=breaking((CREATE_JOB, "jobTags[].key")))
def test_any_tag_key_outside_the_pattern_is_refused(key: str) -> None:
    refused_at(set_in(BASE, ("tags",), {key: "x"}), "rft-env:tags")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(value=breaking((CREATE_JOB, "jobTags[].value")))
def test_any_tag_value_outside_the_pattern_is_refused(value: str) -> None:
    refused_at(set_in(BASE, ("tags",), {"Team": value}), "rft-env:tags")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(key=breaking((CREATE_JOB, "trainingDataConfig.s3Uri")))
def test_any_s3_key_outside_the_pattern_is_refused(key: str) -> None:
    uri = f"s3://rft-data-bucket/{key}"
    if api._compiled(constraint(CREATE_JOB, "trainingDataConfig.s3Uri").pattern).fullmatch(uri):
        return  # the generated text made a valid key after all (e.g. it holds no bad character)
    for purpose in ("training", "validation"):
        refused_at(set_in(BASE, ("data", purpose), {"s3Uri": uri}), f"rft-env:data.{purpose}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    member=st.sampled_from(
        [
            ((CREATE_JOB, "baseModelIdentifier"), ("job", "baseModel")),
            ((CREATE_JOB, "customModelKmsKeyId"), ("kms", "existingKeyArn")),
            ((CREATE_JOB, "vpcConfig.subnetIds[]"), ("vpc", "subnetIds")),
            ((ASSUME_ROLE, "ExternalId"), ("account", "externalId")),
        ]
    ),
    data=st.data(),
)
def test_any_identifier_outside_the_pattern_is_refused(member: Any, data: Any) -> None:
    (operation, path), key = member
    value = data.draw(breaking((operation, path)))
    if key == ("vpc", "subnetIds"):
        changed = set_in(
            BASE, ("vpc",), {"subnetIds": [value], "securityGroupIds": ["sg-0abc1234"]}
        )
    else:
        changed = set_in(BASE, key, value)
    refused_at(changed, config_key(key))


# --- members we derive: every valid config gives values the model accepts -----------------------
ENVIRONMENTS = st.from_regex(r"[a-z](-?[a-z0-9]){0,15}", fullmatch=True).filter(
    lambda name: len(name) <= 16
)
ACCOUNTS = st.from_regex(r"[0-9]{12}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(environment=ENVIRONMENTS, account=ACCOUNTS, file_name=st.text(min_size=1, max_size=60))
def test_derived_names_fit_the_api(environment: str, account: str, file_name: str) -> None:
    names = Names(environment, account, "us-east-1")
    bucket = names.bucket("data")
    derived = {
        (CREATE_JOB, "roleArn"): names.role_arn(names.customization_role),
        (
            CREATE_JOB,
            "customizationConfig.rftConfig.graderConfig.lambdaGrader.lambdaArn",
        ): names.function_arn(names.grader_function("a-grader-name-of-24-char")),
        (CREATE_JOB, "outputDataConfig.s3Uri"): f"s3://{names.bucket('output')}/rft-output/",
        (CREATE_THROUGHPUT, "provisionedModelName"): f"{names.prefix}-pt",
        (CREATE_DEPLOYMENT, "modelDeploymentName"): f"{names.prefix}-on-demand",
    }

    class Report:
        sha256 = "0" * 64
        path = type("P", (), {"name": file_name})()

    derived[(CREATE_JOB, "trainingDataConfig.s3Uri")] = (
        f"s3://{bucket}/{content_key(Report(), 'training')}"  # type: ignore[arg-type]
    )
    for (operation, member), value in derived.items():
        assert constraint(operation, member).problem(value) is None, (member, value)
