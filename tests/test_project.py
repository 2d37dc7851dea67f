"""Project files that the Pulumi CLI and the installer read."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic.alias_generators import to_snake

from rft_env.components.config import StackConfig
from rft_env.rftenv.stack_files import available_stacks, load_yaml

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


def test_one_version_everywhere() -> None:
    """pyproject.toml writes the version; the installed metadata, `rftenv --version`, the
    component provider and the policy pack's manifest (Pulumi reads a pack's version only
    from PulumiPolicy.yaml) all say the same."""
    from rft_env.components.multilang import package_version
    from rft_env.components.naming import installed_version

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert installed_version() == version
    assert package_version() == version
    assert load_yaml(REPO / "policies" / "PulumiPolicy.yaml")["version"] == version
    result = subprocess.run(
        [sys.executable, "-m", "rft_env.rftenv.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"rftenv {version}\n"


def test_constraints_pin_every_installed_distribution() -> None:
    """`make` installs from constraints.txt: every line pins one exact version, and
    everything pyproject.toml requires (with the dev and audit extras) is pinned."""
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, separator, version = line.partition("==")
        assert separator and version, line
        pins[name.lower().replace("_", "-")] = version
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    required = [*pyproject["dependencies"], *pyproject["optional-dependencies"]["audit"]]
    required += [r for r in pyproject["optional-dependencies"]["dev"] if not r.startswith("rft")]
    for requirement in required:
        name = re.split(r"[<>=\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"
    assert "setuptools" not in " ".join(pyproject["dependencies"])
    makefile = (REPO / "Makefile").read_text()
    assert "-c constraints.txt -e '.[dev]'" in makefile


def test_the_repository_references_nothing_outside_itself() -> None:
    """Every file git tracks stands alone: no path to a folder beside the checkout."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    outside = re.compile(rb"\.\./shared|/work/shared|reference/bedrock-rft|pulumi-notes\.md")
    offenders = [
        name.decode()
        for name in tracked
        if name
        and (REPO / name.decode()).is_file()
        and outside.search((REPO / name.decode()).read_bytes())
        and name.decode() != "tests/test_project.py"
    ]
    assert offenders == []


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
