"""`rftenv synth`: the offline view of what `pulumi up` would create."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rft_env.rftenv import stack_files, synth
from rft_env.rftenv.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_table_lists_every_resource_and_the_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "dev"]) == 0
    out = capsys.readouterr().out
    first, second, *_ = out.splitlines()
    assert "account 111122223333, region us-east-1" in first
    result = synth.synthesize("dev")
    assert f"would create {len(result['resources'])} resources" in second
    for resource in result["resources"]:
        assert resource["name"] in out
    assert "rft-env-dev-data-111122223333-us-east-1" in out
    # Too long for one line with its key: the value goes on the next, whole.
    assert (
        "  customizationRoleArn:\n"
        "    arn:aws:iam::111122223333:role/rft-env-dev-bedrock-customization\n"
    ) in out


@pytest.mark.parametrize("stack", stack_files.available_stacks(REPO))
def test_the_table_fits_80_columns(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", stack]) == 0
    lines = capsys.readouterr().out.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert too_long == []
    # What was shortened to fit is said, and stays readable: both ends are kept.
    assert lines[-1] == "(… marks a value shortened to fit; --format json prints it whole)"
    assert "    arn:aws:bedrock:us-east-1:" in "\n".join(lines)


def test_the_headline_counts_the_rft_job_as_a_resource(capsys: pytest.CaptureFixture[str]) -> None:
    """The job is a dynamic resource (`pulumi-python:dynamic/...`): a custom resource on
    AWS, not a component, although its type is not an `aws:` one."""
    result = synth.synthesize("dev")
    types = [resource["type"] for resource in result["resources"]]
    assert "pulumi-python:dynamic/bedrock:RftCustomizationJob" in types
    providers = sum(t.startswith("pulumi:providers:") for t in types)
    components = sum(t.startswith("rftenv:") for t in types)  # the program's own types
    custom = len(types) - providers - components
    assert (providers, custom) == (1, sum(t.startswith("aws:") for t in types) + 1)
    headline = synth.render_table(result).splitlines()[1]
    assert headline == (
        f"pulumi up would create {len(types)} resources: {custom} AWS resources, "
        f"{components} components, 1 provider"
    )


def test_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "staging", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["stack"] == "staging" and result["project"] == "rft-env"
    for resource in result["resources"]:
        assert {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "protect",
            "retainOnDelete",
            "id",
            "inputs",
            "outputs",
            "dependencies",
            "propertyDependencies",
        } <= set(resource)
        assert resource["urn"].startswith("urn:pulumi:staging::rft-env::")
    role = next(r for r in result["resources"] if r["type"] == "aws:iam/role:Role")
    assert role["outputs"]["arn"].startswith("arn:aws:iam::444455556666:role/rft-env-staging-")
    assert isinstance(role["inputs"]["assumeRolePolicy"], str)
    assert result["outputs"]["environment"] == "staging"
    # Links between resources, as the engine passes them to stack policies.
    by_urn = {r["urn"]: r for r in result["resources"]}
    versioning = next(r for r in result["resources"] if r["name"] == "rft-storage-data-versioning")
    (bucket,) = versioning["propertyDependencies"]["bucket"]
    assert by_urn[bucket]["name"] == "rft-storage-data"
    assert bucket in versioning["dependencies"]


def test_the_table_flags_protected_and_retained_resources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["synth", "prod"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # Each resource's flags follow its physical id, on the line below its type and name.
    (job,) = [i for i, line in enumerate(lines) if "dynamic/bedrock:RftCustomizationJob" in line]
    assert lines[job + 1].endswith("[retained on delete]") and "[protected]" not in lines[job + 1]
    (key,) = [i for i, line in enumerate(lines) if "aws:kms:Key  rft-kms-key" in line]
    assert lines[key + 1].endswith("[protected] [retained on delete]")


def test_unknown_stack_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.nope.yaml" in err
    assert "dev, prod, prod-b, staging" in err


def test_invalid_config_exits_2_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    shutil.copytree(
        REPO, project, ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__")
    )
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    text = stack_file.read_text().replace("epochCount: 1", "epochCount: 99")
    stack_file.write_text(text.replace("grader: arithmetic", "grader: nope"))
    monkeypatch.chdir(project)
    assert main(["synth", "dev"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    message = captured.err
    assert "2 problems" in message
    assert (
        "rft-env:job.hyperparameters.epochCount: got 99; allowed: an integer from 1 to 50"
        in message
    )
    assert 'rft-env:job.grader: got "nope"' in message


def test_engine_config_reads_yaml_1_2_floats_and_project_defaults(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: rft-env\nruntime: python\nstackConfigDir: stacks\n"
        "config:\n  logRetentionDays:\n    type: integer\n    default: 90\n"
    )
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.s.yaml").write_text(
        "config:\n  rft-env:job:\n    hyperparameters:\n      learningRate: 1e-5\n"
        "  environment: s\n"
    )
    values = stack_files.engine_config("s", tmp_path)
    assert json.loads(values["rft-env:job"]) == {"hyperparameters": {"learningRate": 1e-05}}
    assert values["rft-env:environment"] == "s"  # bare keys take the project namespace
    assert values["rft-env:logRetentionDays"] == "90"


def test_console_script_runs_from_a_subprocess() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "rft_env.rftenv.cli", "synth", "prod", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert json.loads(completed.stdout)["accountId"] == "777788889999"
