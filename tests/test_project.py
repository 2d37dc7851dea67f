"""Project files that the Pulumi CLI and the installer read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from pydantic.alias_generators import to_snake

from rft_env.components.config import StackConfig
from rft_env.rftenv.synth import available_stacks, load_yaml

REPO = Path(__file__).resolve().parents[1]
SIMPLE_TYPES = {"string", "integer", "boolean", "array"}


def test_pulumi_yaml() -> None:
    project = load_yaml(REPO / "Pulumi.yaml")
    assert project["name"] == "rft-env"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert project["stackConfigDir"] == "stacks"
    # Pulumi's project schema: typed declarations only, every one described.
    for key, declaration in project["config"].items():
        assert ":" not in key, key
        assert declaration["type"] in SIMPLE_TYPES, key
        assert declaration["description"], key
        if declaration["type"] == "array":
            assert declaration["items"]["type"] in SIMPLE_TYPES, key
        # The engine refuses a stack without a declared key that has no default (found by
        # the real engine: dev had no notificationEmails), so only required keys lack one.
        if "default" not in declaration:
            assert StackConfig.model_fields[to_snake(key)].is_required(), key
    assert available_stacks() == ["dev", "prod", "prod-b", "staging"]


def test_pyproject_declares_the_console_script_and_lower_bounds() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["rftenv"] == "rft_env.rftenv.cli:run"
    for requirement in pyproject["project"]["dependencies"]:
        assert ">=" in requirement, requirement
    names = " ".join(pyproject["project"]["dependencies"])
    for package in ("pulumi>=", "pulumi-aws>=7", "boto3", "pyyaml", "pydantic>=2"):
        assert package in names
    assert (REPO / "requirements.txt").read_text().split() == ["-e", "."]


def test_readme_starts_with_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    head = readme[: readme.index("\n## ")]
    assert "make demo" in head and "make test" in head
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


@pytest.mark.engine
def test_the_pulumi_cli_reads_the_stack_files(tmp_path: Path) -> None:
    """With the CLI present: Pulumi.yaml and stackConfigDir resolve the example stacks."""
    # A copy: `stack init` writes an encryption salt into the stack file.
    project = tmp_path / "project"
    shutil.copytree(REPO, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__"))
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tmp_path}/state",
        "PULUMI_CONFIG_PASSPHRASE": "rft-env-test",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (tmp_path / "state").mkdir()
    subprocess.run(["pulumi", "stack", "init", "dev"], cwd=project, env=env, check=True)
    shown = subprocess.run(
        ["pulumi", "config", "--stack", "dev", "--json"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    config = json.loads(shown.stdout)
    assert config["rft-env:environment"]["value"] == "dev"
