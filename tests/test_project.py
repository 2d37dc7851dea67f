"""Project files that the Pulumi CLI and the installer read."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from itertools import pairwise
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


def pip_installs(script: str) -> list[list[str]]:
    """Every `pip install` command in a Makefile or shell script, as its words (a line
    continued with a backslash is one command)."""
    commands = [
        shlex.split(line, comments=True) for line in script.replace("\\\n", " ").splitlines()
    ]
    return [
        words
        for words in commands
        if any(re.fullmatch(r"(.*/)?pip3?", a) and b == "install" for a, b in pairwise(words))
    ]


def shows_progress(words: list[str]) -> bool:
    quiet = any(w == "--quiet" or re.fullmatch(r"-[a-zA-Z]*q[a-zA-Z]*", w) for w in words)
    bar = " ".join(words)
    return not quiet and ("--progress-bar on" in bar or "--progress-bar=on" in bar)


@pytest.mark.parametrize(
    ("line", "shows"),
    [
        ("pip install --progress-bar on -e .", True),
        ("python -m pip install --progress-bar=on x", True),
        ("pip install -e .", False),
        ("$(BIN)/pip3 install \\\n  -e .", False),
        ("pip install --progress-bar on -q x", False),
        ("pip install --progress-bar on -qU x", False),
        ("pip install --quiet --progress-bar on x", False),
        ("pip install --progress-bar off x", False),
    ],
)
def test_what_counts_as_showing_progress(line: str, shows: bool) -> None:
    assert [shows_progress(words) for words in pip_installs(line)] == [shows]


def test_every_install_shows_pips_progress() -> None:
    """A first install downloads a few hundred MB: silent, it looks hung."""
    found = 0
    for name in ("Makefile", ".ci/run"):
        for words in pip_installs((REPO / name).read_text()):
            found += 1
            assert shows_progress(words), f"{name}: {' '.join(words)}"
    assert found, "no `pip install` found: has the install moved?"


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
