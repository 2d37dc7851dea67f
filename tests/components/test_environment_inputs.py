"""RftEnvironmentArgs takes another stack's outputs (Pulumi Inputs) for the job's VPC and
the key, checks them against the config's own patterns, and refuses ambiguity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rft_env.rftenv import stack_files, synth
from tests.conftest import REPO

# A program like a consumer's: the stack's config, plus the args the test passes as
# Outputs (unknown to the component until they resolve, like a StackReference's).
PROGRAM = """
import json
from pathlib import Path

import pulumi

from rft_env.components.config import load_from_pulumi
from rft_env.components.environment import RftEnvironment, RftEnvironmentArgs
from rft_env.components.providers import resource_options, target_account_provider

config = load_from_pulumi(Path.cwd())
given = json.loads({given!r})
RftEnvironment(
    "rft",
    RftEnvironmentArgs(
        config=config,
        stack=pulumi.get_stack(),
        project_dir=Path.cwd(),
        **{{name: pulumi.Output.from_input(value) for name, value in given.items()}},
    ),
    opts=resource_options(target_account_provider(config, pulumi.get_stack())),
)
"""
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"]
GROUPS = ["sg-0c1d2e3f4a5b60718"]
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def synthesize(
    stack: str, given: dict[str, Any], tmp_path: Path, config: dict[str, str] | None = None
) -> dict[str, Any]:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM.format(given=json.dumps(given)))
    return synth.synthesize(stack, REPO, program=program, config=config)


def with_existing_key(stack: str) -> dict[str, str]:
    """The stack's config, using an existing key instead of creating one."""
    config = stack_files.engine_config(stack, REPO)
    account = json.loads(config["rft-env:account"])["id"]
    key = KEY.replace("111122223333", account)
    # keyUserArns and deletionWindowDays are only for a key the stack creates.
    return {**config, "rft-env:kms": json.dumps({"existingKeyArn": key})}


def of_type(graph: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_]


def test_outputs_of_another_stack_place_the_job_and_replace_the_key(tmp_path: Path) -> None:
    graph = synthesize(
        "dev",
        {"subnet_ids": SUBNETS, "security_group_ids": GROUPS, "kms_key_arn": KEY},
        tmp_path,
    )
    (job,) = of_type(graph, "pulumi-python:dynamic/bedrock:RftCustomizationJob")
    assert job["inputs"]["vpcConfig"] == {"subnetIds": SUBNETS, "securityGroupIds": GROUPS}
    assert job["inputs"]["kmsKeyId"] == KEY
    assert of_type(graph, "aws:kms/key:Key") == []
    (policy,) = [
        p for p in of_type(graph, "aws:iam/rolePolicy:RolePolicy") if "customization" in p["urn"]
    ]
    statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
    network_interface = statements["CreateNetworkInterfaceInJobSubnets"]
    assert sorted(network_interface["Resource"]) == sorted(
        f"arn:aws:ec2:us-east-1:111122223333:{kind}/{name}"
        for kind, names in (("subnet", SUBNETS), ("security-group", GROUPS))
        for name in names
    )
    encryption = "aws:s3/bucketServerSideEncryptionConfiguration"
    configurations = [r for r in graph["resources"] if r["type"].startswith(encryption)]
    assert configurations
    for configuration in configurations:
        default = configuration["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default["kmsMasterKeyId"] == KEY


def test_without_args_the_config_decides_as_before(tmp_path: Path) -> None:
    assert synthesize("dev", {}, tmp_path)["resources"] == synth.synthesize("dev")["resources"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"subnet_ids": ["subnet-XYZ", SUBNETS[0]], "security_group_ids": GROUPS},
            "RftEnvironmentArgs.subnet_ids[0]: got 'subnet-XYZ'; allowed: a subnet id",
        ),
        (
            {"subnet_ids": SUBNETS, "security_group_ids": []},
            "RftEnvironmentArgs.security_group_ids: got []",
        ),
        (
            {"subnet_ids": SUBNETS},
            "RftEnvironmentArgs.security_group_ids is missing: a VPC needs both subnet_ids "
            "and security_group_ids",
        ),
        (
            {"kms_key_arn": "arn:aws:kms:us-east-1:111122223333:alias/data"},
            "RftEnvironmentArgs.kms_key_arn: got 'arn:aws:kms:us-east-1:111122223333:alias/data'"
            "; allowed: a KMS key ARN",
        ),
        # The config's checks of kms.existingKeyArn hold for the argument too.
        (
            {"kms_key_arn": KEY.replace("us-east-1", "eu-west-1")},
            f"RftEnvironmentArgs.kms_key_arn: got '{KEY.replace('us-east-1', 'eu-west-1')}'; "
            "allowed: a key in the stack's region us-east-1",
        ),
        (
            {"kms_key_arn": KEY.replace("111122223333", "999988887777")},
            "in account 999988887777, not the stack's account 111122223333; allowed: the "
            "stack's account, or another account listed with a reason under "
            "rft-env:crossAccount",
        ),
    ],
)
def test_bad_inputs_are_named(given: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RftEnvironmentArgs") as raised:
        synthesize("dev", given, tmp_path)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"subnet_ids": SUBNETS, "security_group_ids": GROUPS},
            "RftEnvironmentArgs.subnet_ids: the stack config sets rft-env:vpc too; give the "
            "VPC in one place",
        ),
        (
            {"kms_key_arn": KEY},
            "RftEnvironmentArgs.kms_key_arn: the stack config sets rft-env:kms.existingKeyArn "
            "too; give the key in one place",
        ),
    ],
)
def test_the_config_and_the_args_cannot_both_say(
    given: dict[str, Any], message: str, tmp_path: Path
) -> None:
    """prod sets `vpc` (and here an existing key): which one wins would be a guess.
    Refused before anything is registered."""
    with pytest.raises(ValueError) as raised:
        synthesize("prod", given, tmp_path, config=with_existing_key("prod"))
    assert str(raised.value) == message
