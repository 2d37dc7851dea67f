"""Paths in stack config stay inside the project: data files (`data.*.file`) and custom
grader directories (`graders.*.path`, composites' parts too), symlinks followed. A grader
directory holds code only: not the project, not a stack config folder, not a dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rft_env.components.config import ConfigError, load_stack_config
from tests.components.test_config import PROJECT_DIR, stack_config

GRADE = "def grade(sample):\n    return 1.0\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project of its own: the dev stack file and its datasets, and one custom grader."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "stacks" / "data", root / "stacks" / "data")
    shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.dev.yaml", root / "stacks")
    (root / "Pulumi.yaml").write_text("name: rft-env\nruntime: python\nstackConfigDir: stacks\n")
    (root / "graders" / "mine").mkdir(parents=True)
    (root / "graders" / "mine" / "grader.py").write_text(GRADE)
    return root


def problems_at(raw: dict[str, Any], project: Path, key: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, project)
    found = [str(p) for p in info.value.problems if p.key == key]
    assert found, f"no problem at {key}:\n{info.value}"
    return found


def with_custom(path: str) -> dict[str, Any]:
    raw = stack_config("dev")
    raw["graders"]["own"] = {"type": "custom", "path": path}
    return raw


def test_the_project_as_given_loads(project: Path) -> None:
    config = load_stack_config(with_custom("graders/mine"), project)
    assert config.graders["own"].spec["path"] == "graders/mine"


# --- data files -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("/etc/hostname", "allowed: a path relative to the project directory"),
        ("../outside.jsonl", "outside the project"),
        ("stacks/../../outside.jsonl", "outside the project"),
    ],
)
def test_data_files_outside_the_project_are_refused(
    project: Path, value: str, allowed: str
) -> None:
    (project.parent / "outside.jsonl").write_text("{}\n")
    raw = stack_config("dev")
    raw["data"]["training"]["file"] = value
    (problem,) = problems_at(raw, project, "rft-env:data.training.file")
    assert f"got {json.dumps(value)}" in problem and allowed in problem


def test_a_symlink_out_of_the_project_is_followed_and_refused(project: Path) -> None:
    secret = project.parent / "credentials.jsonl"
    secret.write_text("aws_secret_access_key=...\n")
    (project / "stacks" / "data" / "train.jsonl").symlink_to(secret)
    raw = stack_config("dev")
    raw["data"]["training"]["file"] = "stacks/data/train.jsonl"
    (problem,) = problems_at(raw, project, "rft-env:data.training.file")
    assert f"resolves to {secret}, outside the project" in problem


def test_a_symlink_inside_the_project_is_fine(project: Path) -> None:
    (project / "stacks" / "data" / "train.jsonl").symlink_to("arithmetic-train.jsonl")
    raw = stack_config("dev")
    raw["data"]["training"]["file"] = "stacks/data/train.jsonl"
    assert load_stack_config(raw, project).dataset("training") is not None


def test_an_invalid_dataset_in_the_project_is_reported_by_line(project: Path) -> None:
    bad = project / "stacks" / "data" / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "1+1?"}]}) + "\n")
    raw = stack_config("dev")
    raw["data"]["training"]["file"] = "stacks/data/bad.jsonl"
    problems = problems_at(raw, project, "rft-env:data.training.file")
    assert any("invalid dataset: line 1: reference_answer: missing" in p for p in problems)
    assert any(
        "invalid dataset: dataset has 1 records; allowed: 100 to 20,000" in p for p in problems
    )


# --- custom grader directories --------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/tmp", "allowed: a path relative to the project directory"),
        ("../", "outside the project"),
        (".", "is the project or holds Pulumi stack files"),
        ("stacks", "is the project or holds Pulumi stack files"),
        ("stacks/data", "would ship the stack's data file"),
    ],
)
def test_grader_directories_that_would_ship_more_than_code_are_refused(
    project: Path, path: str, allowed: str
) -> None:
    problems = problems_at(with_custom(path), project, "rft-env:graders.own.path")
    assert any(allowed in p for p in problems), problems


def test_a_nested_stack_file_or_vcs_folder_is_refused(project: Path) -> None:
    nested = project / "graders" / "mine" / "config"
    nested.mkdir()
    (nested / "Pulumi.prod.yaml").write_text("config: {}\n")
    (problem,) = problems_at(with_custom("graders/mine"), project, "rft-env:graders.own.path")
    assert "would ship the Pulumi file" in problem and ".rftenvignore" in problem
    # Listed in the grader's ignore file, it is left out, and the folder is fine.
    (project / "graders" / "mine" / ".rftenvignore").write_text("config/\n")
    load_stack_config(with_custom("graders/mine"), project)
    (project / ".git" / "hooks").mkdir(parents=True)
    (project / ".git" / "hooks" / "grader.py").write_text(GRADE)
    problems = problems_at(with_custom(".git/hooks"), project, "rft-env:graders.own.path")
    assert any("is in .git, which is never packaged" in p for p in problems)


def test_a_symlink_out_of_a_grader_directory_is_refused(project: Path) -> None:
    secret = project.parent / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (project / "graders" / "mine" / "helpers.py").symlink_to(secret)
    (problem,) = problems_at(with_custom("graders/mine"), project, "rft-env:graders.own.path")
    assert f"links to {secret}, not to a file inside" in problem
    # The grader folder itself may not be a symlink out of the project either.
    (project / "graders" / "elsewhere").symlink_to(project.parent)
    problems = problems_at(with_custom("graders/elsewhere"), project, "rft-env:graders.own.path")
    assert any("outside the project" in p for p in problems)


def test_composite_parts_are_checked_too(project: Path) -> None:
    raw = stack_config("dev")
    raw["graders"]["mix"] = {
        "type": "composite",
        "parts": [
            {"name": "ok", "weight": 1, "grader": {"type": "custom", "path": "graders/mine"}},
            {"name": "leak", "weight": 1, "grader": {"type": "custom", "path": "/tmp"}},
        ],
    }
    (problem,) = problems_at(raw, project, "rft-env:graders.mix.parts[1].grader.path")
    assert 'got "/tmp"; allowed: a path relative to the project directory' in problem
