"""Tests for components/multilang.py and components/provider/: the Environment component
that TypeScript, Go and YAML programs use through the component provider.

Offline: the schema is inferred by the SDK's own analyzer, exactly as the provider serves
it (no CLI), and the component runs under synth's mocks. The engine test
(tests/engine/test_multilang.py) runs a YAML program through the real engine."""

from __future__ import annotations

import asyncio
import json
import os
import typing
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from rft_env.components import multilang
from rft_env.components.config import (
    AccountConfig,
    CrossAccountEntry,
    DataConfig,
    DataSource,
    HyperParameters,
    InferenceConfig,
    JobConfig,
    KmsConfig,
    PromotionConfig,
    StackConfig,
    VpcConfig,
    decode_config_values,
    load_stack_config,
)
from rft_env.components.multilang import (
    GRADER_KEYS,
    OUTPUT_ATTRIBUTES,
    PACKAGE,
    TOKEN,
    EnvironmentArgs,
    EnvironmentArgsError,
    args_path,
    raw_config,
    served_schema,
    split_wired_inputs,
    validate_args,
)
from rft_env.components.provider import plugin_directory
from rft_env.rftenv import stack_files, synth
from tests.conftest import STACKS, Graph

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "components" / "provider" / "schema.json"
UPDATE_ENV = "RFTENV_UPDATE_SCHEMA"
# The stack config model each args TypedDict mirrors.
MIRRORS: dict[Any, type] = {
    EnvironmentArgs: StackConfig,
    multilang.AccountArgs: AccountConfig,
    multilang.DataArgs: DataConfig,
    multilang.DataSourceArgs: DataSource,
    multilang.JobArgs: JobConfig,
    multilang.HyperparametersArgs: HyperParameters,
    multilang.InferenceArgs: InferenceConfig,
    multilang.PromotionArgs: PromotionConfig,
    multilang.KmsArgs: KmsConfig,
    multilang.VpcArgs: VpcConfig,
    multilang.CrossAccountEntryArgs: CrossAccountEntry,
}


# --------------------------------------------------------------------------------------
# Helpers: a stack's config as Environment args (the inverse of raw_config)
# --------------------------------------------------------------------------------------
def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def as_args(value: Any, annotation: Any = EnvironmentArgs) -> Any:
    """Stack config (camelCase keys) as the args a caller writes (snake_case fields,
    grader options under `options`), every number a float as the engine delivers it."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if annotation is multilang.GraderArgs:
        own = {_snake(k): as_args(v, Any) for k, v in value.items() if k in GRADER_KEYS}
        options = {k: as_args(v, Any) for k, v in value.items() if k not in GRADER_KEYS}
        return {**own, **({"options": options} if options else {})}
    if typing.is_typeddict(annotation):
        fields = typing.get_type_hints(annotation)
        return {_snake(k): as_args(v, fields[_snake(k)]) for k, v in value.items()}
    origin, params = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(value, dict):
        return {k: as_args(v, params[1] if origin is dict else Any) for k, v in value.items()}
    return [as_args(v, params[0] if origin is list else Any) for v in value]


def stack_raw(stack: str) -> dict[str, Any]:
    """An example stack's `rft-env:*` config, decoded as the program decodes it."""
    return decode_config_values(stack_files.engine_config(stack, REPO))


def problems(args: Any) -> dict[str, str]:
    with pytest.raises(EnvironmentArgsError) as info:
        validate_args(args, REPO, "test")
    return {p.key: str(p) for p in info.value.problems}


# --------------------------------------------------------------------------------------
# The schema, inferred offline
# --------------------------------------------------------------------------------------
def test_the_served_schema_is_the_committed_one() -> None:
    schema = served_schema()
    if os.environ.get(UPDATE_ENV) == "1":
        SCHEMA_FILE.write_text(json.dumps(schema, indent=2) + "\n")
    assert schema == json.loads(SCHEMA_FILE.read_text()), (
        f"The schema inferred from components/multilang.py is not {SCHEMA_FILE}, the "
        "interface TypeScript, Go and YAML programs are written against. If the change is "
        f"meant, regenerate it with `{UPDATE_ENV}=1 .venv/bin/pytest "
        "tests/components/test_multilang.py` and review its diff."
    )


def test_the_token_is_in_the_package_of_the_other_components() -> None:
    schema = served_schema()
    assert schema["name"] == PACKAGE == "rftenv"
    assert list(schema["resources"]) == [TOKEN] == ["rftenv:index:Environment"]
    assert schema["resources"][TOKEN]["isComponent"] is True
    graph = synth.synthesize("dev", REPO)
    packages = {r["type"].split(":")[0] for r in graph["resources"] if r["type"].count(":") == 2}
    assert PACKAGE in packages  # rftenv:index:RftEnvironment, rftenv:graders:GraderFunction...
    # Nothing from another package: a consumer needs no aws schema to use it.
    assert schema.get("dependencies", []) == []


def test_required_inputs_and_input_types() -> None:
    resource = served_schema()["resources"][TOKEN]
    inputs = resource["inputProperties"]
    assert sorted(resource["requiredInputs"]) == [
        "account",
        "data",
        "environment",
        "graders",
        "job",
        "region",
    ]
    assert inputs["environment"]["type"] == inputs["region"]["type"] == "string"
    assert inputs["production"]["type"] == "boolean"
    assert inputs["logRetentionDays"]["type"] == "integer"
    assert inputs["account"]["$ref"] == "#/types/rftenv:index:AccountArgs"
    assert inputs["graders"]["type"] == "object"
    assert inputs["graders"]["additionalProperties"]["$ref"] == "#/types/rftenv:index:GraderArgs"
    assert inputs["tags"]["additionalProperties"]["type"] == "string"
    assert inputs["notificationEmails"]["items"]["type"] == "string"
    assert inputs["crossAccount"]["items"]["$ref"] == "#/types/rftenv:index:CrossAccountEntryArgs"
    # Every input is plain: config values shape names, so they must be known up front.
    assert all(prop.get("plain") is True for prop in inputs.values())


def test_nested_types() -> None:
    types = served_schema()["types"]
    grader = types["rftenv:index:GraderArgs"]
    assert grader["required"] == ["type"]
    assert grader["properties"]["timeoutSeconds"]["type"] == "integer"
    assert grader["properties"]["options"]["additionalProperties"]["$ref"] == "pulumi.json#/Any"
    hyper = types["rftenv:index:HyperparametersArgs"]
    assert hyper["properties"]["learningRate"]["type"] == "number"
    assert hyper["properties"]["epochCount"]["type"] == "integer"
    assert "required" not in hyper
    job = types["rftenv:index:JobArgs"]
    assert job["required"] == ["grader"]
    assert job["properties"]["hyperparameters"]["$ref"] == (
        "#/types/rftenv:index:HyperparametersArgs"
    )
    vpc = types["rftenv:index:VpcArgs"]
    assert sorted(vpc["required"]) == ["securityGroupIds", "subnetIds"]
    assert vpc["properties"]["subnetIds"]["items"]["type"] == "string"
    assert types["rftenv:index:KmsArgs"]["properties"]["existingKeyArn"]["type"] == "string"
    mode = types["rftenv:index:InferenceMode"]
    modes = typing.get_args(InferenceConfig.model_fields["mode"].annotation)
    assert [member["value"] for member in mode["enum"]] == list(modes)


def test_outputs_are_the_stack_outputs_with_their_types(graphs: dict[str, Graph]) -> None:
    resource = served_schema()["resources"][TOKEN]
    outputs = resource["properties"]
    # Every output an example stack exports is served, and nothing else.
    exported = set().union(*(set(graph.outputs) for graph in graphs.values()))
    assert set(outputs) == set(OUTPUT_ATTRIBUTES) == exported
    assert outputs["keyArn"]["type"] == "string"
    assert outputs["production"]["type"] == "boolean"
    assert outputs["graderFunctionArns"]["additionalProperties"]["type"] == "string"
    optional = {"keyAlias", "validationDataUri", "jobFailureMessage", "customModelArn"}
    assert optional.isdisjoint(resource["required"])
    assert {"keyArn", "dataBucket", "jobName", "customizationRoleArn"} <= set(resource["required"])


def test_every_args_field_is_a_stack_config_key_and_every_key_an_args_field() -> None:
    """The args mirror the stack config: a key added to the config must be added here."""
    for args_type, model in MIRRORS.items():
        fields = {multilang._camel(name) for name in typing.get_type_hints(args_type)}
        keys = {field.alias or name for name, field in model.model_fields.items()}
        assert fields == keys, f"{args_type.__name__} vs {model.__name__}"
    grader = set(map(multilang._camel, typing.get_type_hints(multilang.GraderArgs)))
    assert grader == {*GRADER_KEYS, "options"}


# --------------------------------------------------------------------------------------
# Args -> stack config, through the program's validator
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_example_stack_is_expressible_as_args(stack: str) -> None:
    raw = stack_raw(stack)
    converted, found = raw_config(as_args(raw))
    assert found == []
    assert converted == raw
    config = validate_args(as_args(raw), REPO, "test")
    assert config == load_stack_config(raw, REPO)


def test_wire_floats_become_integers_where_the_config_wants_them() -> None:
    args = as_args(stack_raw("dev"))
    assert args["job"]["hyperparameters"]["epoch_count"] == 1.0
    config = validate_args(args, REPO, "test")
    assert config.job.hyperparameters.epoch_count == 1
    assert isinstance(config.job.hyperparameters.epoch_count, int)
    assert config.job.hyperparameters.learning_rate == 1e-5
    assert config.graders["judged"].model_extra == {
        "modelId": "us.amazon.nova-pro-v1:0",
        "rubric": stack_raw("dev")["graders"]["judged"]["rubric"],
        "concurrency": 8,  # an option: arrived as 8.0
    }


def test_problems_name_the_arg_path() -> None:
    args = as_args(stack_raw("dev"))
    args["job"]["hyperparameters"]["epoch_count"] = 99.0
    args["job"]["grader"] = "nope"
    args["graders"]["arithmetic"]["options"]["operation"] = "sideways"
    args["graders"]["arithmetic"]["timeout_seconds"] = 5000.0
    args["inference"] = {"mode": multilang.InferenceMode.PROVISIONED, "model_units": 0.0}
    found = problems(args)
    assert set(found) == {
        "job.hyperparameters.epochCount",
        "job.grader",
        "graders.arithmetic.options.operation",
        "graders.arithmetic.timeoutSeconds",
        "inference.modelUnits",
    }
    assert found["job.hyperparameters.epochCount"].startswith(
        "job.hyperparameters.epochCount: got 99"
    )


def test_options_may_not_shadow_a_graders_own_keys() -> None:
    args = as_args(stack_raw("dev"))
    args["graders"]["arithmetic"]["options"]["timeoutSeconds"] = 10.0
    found = problems(args)
    assert list(found) == ["graders.arithmetic.options.timeoutSeconds"]
    assert "set it as graders.arithmetic.timeoutSeconds" in found[next(iter(found))]


def test_an_output_is_refused_where_a_plain_value_is_needed() -> None:
    args = as_args(stack_raw("dev"))

    async def validate() -> dict[str, str]:
        # A secret, or another resource's output, arrives at the provider as an Output.
        environment = pulumi.Output.secret("dev")
        args["environment"] = environment
        found = problems(split_wired_inputs(args)[0])
        await environment.future()  # let the Output settle before the loop closes
        return found

    found = asyncio.run(validate())
    assert list(found) == ["environment"]
    assert "a plain value known before deployment" in found["environment"]


def test_the_vpc_and_the_key_may_be_outputs_of_another_stack() -> None:
    """What a StackReference gives in YAML, TypeScript or Go: RftEnvironmentArgs' Inputs."""
    args = as_args(stack_raw("dev"))

    async def split() -> tuple[dict[str, Any], dict[str, Any]]:
        subnets = pulumi.Output.from_input(["subnet-0abc1234"])
        key = pulumi.Output.from_input("arn:aws:kms:us-east-1:111122223333:key/k")
        args["vpc"] = {"subnet_ids": subnets, "security_group_ids": ["sg-0abc1234"]}
        args["kms"] = {**args.get("kms", {}), "existing_key_arn": key}
        plain, wired = split_wired_inputs(args)
        await subnets.future()
        await key.future()
        return plain, wired

    plain, wired = asyncio.run(split())
    assert "vpc" not in plain and "existing_key_arn" not in plain["kms"]
    assert set(wired) == {"subnet_ids", "security_group_ids", "kms_key_arn"}
    assert wired["security_group_ids"] == ["sg-0abc1234"]
    # Plain values stay config, validated at once as before.
    plain_args = {**as_args(stack_raw("dev")), "vpc": {"subnet_ids": ["s"]}}
    assert split_wired_inputs(plain_args) == (plain_args, {})


@pytest.mark.parametrize(
    ("config_key", "arg"),
    [
        ("rft-env:job.grader", "job.grader"),
        ("rft-env:graders.g.type", "graders.g.type"),
        ("rft-env:graders.g.memoryMb", "graders.g.memoryMb"),
        ("rft-env:graders.g", "graders.g"),
        ("rft-env:graders.g.operation", "graders.g.options.operation"),
        ("rft-env:graders.g.parts[0].grader.type", "graders.g.options.parts[0].grader.type"),
        ('rft-env:graders.g["a b"]', 'graders.g.options["a b"]'),
        ('rft-env:graders["A b"].rubric', 'graders["A b"].options.rubric'),
        ("rft-env:tags.team", "tags.team"),
    ],
)
def test_args_path(config_key: str, arg: str) -> None:
    assert args_path(config_key) == arg


# --------------------------------------------------------------------------------------
# The component under synth's mocks: its child environment and the one aws provider
# --------------------------------------------------------------------------------------
PROGRAM = """
import json
import pulumi
import pulumi_aws as aws
from rft_env.components.multilang import OUTPUT_ATTRIBUTES, Environment

args = json.loads({args!r})
opts = None
if {given!r}:
    given = aws.Provider("given", region="us-east-1", allowed_account_ids=["111122223333"])
    opts = pulumi.ResourceOptions(providers={{"aws": given}})
environment = Environment("rft", args, opts)
for output, attribute in OUTPUT_ATTRIBUTES.items():
    value = getattr(environment, attribute, None)
    if value is not None:
        pulumi.export(output, value)
"""


def synthesize_component(tmp_path: Path, *, given: bool) -> dict[str, Any]:
    program = tmp_path / "component.py"
    args = json.dumps(as_args(stack_raw("dev")))
    program.write_text(PROGRAM.format(args=args, given=given))
    # The dev stack's config for synth's mock identity; the program reads only its args.
    return synth.synthesize("dev", REPO, program=program)


def test_without_a_provider_it_makes_one_for_the_account_under_itself(
    tmp_path: Path, graphs: dict[str, Graph]
) -> None:
    graph = synthesize_component(tmp_path, given=False)
    by_type = {r["type"]: r for r in graph["resources"]}
    component = by_type[TOKEN]
    providers = [r for r in graph["resources"] if r["type"] == "pulumi:providers:aws"]
    assert [(p["name"], p["parent"]) for p in providers] == [
        ("rft-target-account", component["urn"])
    ]
    provider = providers[0]
    # Provider config crosses the wire as JSON strings.
    assert json.loads(provider["inputs"]["allowedAccountIds"]) == ["111122223333"]
    assert by_type["rftenv:index:RftEnvironment"]["parent"] == component["urn"]
    aws_resources = [r for r in graph["resources"] if r["type"].startswith("aws:")]
    assert aws_resources
    assert {r["provider"].rsplit("::", 1)[0] for r in aws_resources} == {provider["urn"]}
    # The same environment as the dev stack's program: the same outputs.
    assert graph["outputs"] == graphs["dev"].outputs


def test_a_given_provider_is_used_and_no_other_is_made(tmp_path: Path) -> None:
    graph = synthesize_component(tmp_path, given=True)
    providers = [r for r in graph["resources"] if r["type"] == "pulumi:providers:aws"]
    assert [p["name"] for p in providers] == ["given"]
    aws_resources = [r for r in graph["resources"] if r["type"].startswith("aws:")]
    assert {r["provider"].rsplit("::", 1)[0] for r in aws_resources} == {providers[0]["urn"]}


def test_outputs_for_the_vpc_reach_the_job(tmp_path: Path) -> None:
    """Under the mocks, as a StackReference's outputs would: the job runs in that VPC."""
    program = tmp_path / "component.py"
    args = json.dumps(as_args(stack_raw("dev")))
    program.write_text(
        PROGRAM.format(args=args, given=False).replace(
            "environment = Environment(",
            'args["vpc"] = {"subnet_ids": pulumi.Output.from_input(["subnet-0abc1234"]), '
            '"security_group_ids": pulumi.Output.from_input(["sg-0abc1234"])}\n'
            "environment = Environment(",
        )
    )
    graph = synth.synthesize("dev", REPO, program=program)
    (job,) = [r for r in graph["resources"] if r["type"].endswith(":RftCustomizationJob")]
    assert job["inputs"]["vpcConfig"] == {
        "subnetIds": ["subnet-0abc1234"],
        "securityGroupIds": ["sg-0abc1234"],
    }


def test_invalid_args_register_nothing(tmp_path: Path) -> None:
    program = tmp_path / "component.py"
    args = as_args(stack_raw("dev"))
    args["region"] = "eu-west-1"
    program.write_text(PROGRAM.format(args=json.dumps(args), given=False))
    with pytest.raises(Exception, match=r"region: got \"eu-west-1\"") as info:
        synth.synthesize("dev", REPO, program=program)
    assert TOKEN in str(info.value)


# --------------------------------------------------------------------------------------
# The plugin directory
# --------------------------------------------------------------------------------------
def test_the_plugin_directory_is_a_python_plugin_that_hosts_the_component() -> None:
    directory = plugin_directory()
    assert directory == REPO / "components" / "provider"
    manifest = yaml.safe_load((directory / "PulumiPlugin.yaml").read_text())
    assert manifest == {"runtime": "python"}
    main = (directory / "__main__.py").read_text()
    assert "component_provider_host([Environment], PACKAGE" in main


def test_the_wheel_ships_the_plugin_directory() -> None:
    settings = (REPO / "pyproject.toml").read_text()
    assert '"rft_env.components.provider",' in settings
    assert '"rft_env.components.provider" = ["PulumiPlugin.yaml", "schema.json"]' in settings
