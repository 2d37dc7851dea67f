"""A YAML program uses rft-env's Environment component through the real engine.

The program (tests/engine/programs/yaml-environment) adds the component provider with
`pulumi package add components/provider`, as a TypeScript, Go or YAML user does. The
engine then runs that plugin through the Python language host's RunPlugin (GetSchema,
Construct), and the component's children through the stand-in aws plugin and the fake
Bedrock, as the other engine tests do.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from rft_env.components.multilang import TOKEN
from rft_env.components.provider import plugin_directory
from tests.conftest import REQUIRE_ENGINE
from tests.engine.conftest import MakeEngine
from tests.engine.harness import PROGRAMS, REPO, Engine

pytestmark = pytest.mark.engine

PROGRAM = PROGRAMS / "yaml-environment"
ACCOUNT = "111122223333"


def yaml_language_host() -> str | None:
    """The `pulumi-language-yaml` the engine would run: beside the CLI, or on PATH."""
    cli = shutil.which("pulumi")
    beside = Path(cli).resolve().parent / "pulumi-language-yaml" if cli else None
    if beside is not None and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("pulumi-language-yaml")


@pytest.fixture
def engine(make_engine: MakeEngine) -> Engine:
    if yaml_language_host() is None:
        reason = "needs pulumi-language-yaml beside the CLI: `make pulumi-cli` builds it"
        if os.environ.get(REQUIRE_ENGINE) == "1":
            pytest.fail(f"{REQUIRE_ENGINE}=1, but this test {reason}")
        pytest.skip(reason)
    engine = make_engine(account_id=ACCOUNT, program=PROGRAM)
    (engine.project / "data").mkdir()
    shutil.copy(
        REPO / "stacks" / "data" / "arithmetic-train.jsonl", engine.project / "data" / "train.jsonl"
    )
    added = engine.pulumi("package", "add", str(plugin_directory()))
    assert "Added package rftenv" in added.stdout + added.stderr
    return engine


def test_a_yaml_program_deploys_an_environment_through_the_component_provider(
    engine: Engine,
) -> None:
    project = yaml.safe_load((engine.project / "Pulumi.yaml").read_text())
    assert project["packages"] == {"rftenv": str(plugin_directory())}

    engine.init("dev")
    preview = engine.preview("dev")
    assert TOKEN in preview.stdout and "rft-training-job" in preview.stdout
    engine.up("dev")

    outputs = engine.outputs("dev")
    assert outputs["environment"] == "yamlenv"
    assert outputs["dataBucket"] == f"rft-env-yamlenv-data-{ACCOUNT}-us-east-1"
    assert outputs["trainingDataUri"].startswith(f"s3://{outputs['dataBucket']}/")
    function = "rft-env-yamlenv-grader-arithmetic"
    assert outputs["graderFunctionArns"] == {
        "arithmetic": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}"
    }
    assert outputs["jobName"].startswith("rft-env-yamlenv--rft-")
    assert outputs["jobStatus"] == "InProgress"
    assert engine.fake.count("CreateModelCustomizationJob") == 1

    resources = engine.resources("dev")
    by_type: dict[str, list[dict]] = {}
    for resource in resources:
        by_type.setdefault(resource["type"], []).append(resource)
    [component] = by_type[TOKEN]
    [environment] = by_type["rftenv:index:RftEnvironment"]
    assert environment["parent"] == component["urn"]
    # One aws provider, the one the component made for the account, under the component;
    # every aws resource uses it (the stack disables the default provider).
    [provider] = by_type["pulumi:providers:aws"]
    assert provider["urn"].endswith("::rft-target-account")
    assert provider["parent"] == component["urn"]
    aws_resources = [r for r in resources if r["type"].startswith("aws:")]
    assert len(aws_resources) > 30
    assert {r["provider"].rsplit("::", 1)[0] for r in aws_resources} == {provider["urn"]}


def test_invalid_args_fail_naming_the_arg_before_anything_is_created(engine: Engine) -> None:
    engine.init("bad")
    engine.config_set("bad", "grader", "nope")
    failed = engine.preview("bad", check=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert f"invalid {TOKEN} args" in output
    assert 'job.grader: got "nope"' in output
    assert "pulumi:providers:aws" not in output
