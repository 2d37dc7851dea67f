"""The `pulumi new` template (templates/rft-env), instantiated offline as `pulumi new`
does it, then configured as its quickstart says, synthesizes a working environment.

tests/engine/test_template.py does the same with the real `pulumi new` where the CLI is.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from rft_env.rftenv import synth
from rft_env.rftenv.cli import main
from rft_env.rftenv.yamlfile import load_yaml
from tests.conftest import REPO

TEMPLATE = REPO / "templates" / "rft-env"
ACCOUNT = "444455556666"
TRAINING = "s3://acme-rft-datasets/math/train.jsonl"


def template_settings() -> dict[str, Any]:
    return load_yaml(TEMPLATE / "Pulumi.yaml")["template"]


def quickstart_settings() -> list[tuple[str, str, str | None]]:
    """(key path, value, --type) of each `pulumi config set --path` line of the quickstart."""
    settings = []
    for line in template_settings()["quickstart"].splitlines():
        words = shlex.split(line) if line.strip().startswith("pulumi config set") else []
        if "--path" not in words:
            continue
        flags = [w for w in words[3:] if w not in ("--path", "--type", "string")]
        value_type = words[words.index("--type") + 1] if "--type" in words else None
        settings.append((flags[0], flags[1], value_type))
    return settings


def path_value(value: str, value_type: str | None) -> Any:
    """The value `pulumi config set --path` stores: as its help says, "true" and "false"
    become booleans and integers numbers, unless `--type string`."""
    if value_type == "string":
        return value
    if value in ("true", "false"):
        return value == "true"
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """`pulumi config set --path`, for the dotted paths the quickstart uses."""
    namespace, _, rest = path.partition(":")
    first, *parts = rest.split(".")
    node = config.setdefault(f"{namespace}:{first}", {})
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def instantiate(target: Path, answers: dict[str, str], stack: str = "dev") -> Path:
    """What `pulumi new TEMPLATE --dir target` does offline: copy the files, substitute the
    project name and description, drop the `template:` section, and write the stack file
    with the answered prompts (defaults unless `answers` says otherwise)."""
    shutil.copytree(TEMPLATE, target)
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text().replace("${PROJECT}", "acme-rft")
            path.write_text(text.replace("${DESCRIPTION}", "ACME's RFT environment"))
    project_file = target / "Pulumi.yaml"
    project = yaml.safe_load(project_file.read_text())
    prompts = project.pop("template")["config"]
    project_file.write_text(yaml.safe_dump(project, sort_keys=False))
    config = {key: answers.get(key, prompt["default"]) for key, prompt in prompts.items()}
    (target / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return target


def configure(
    project: Path, settings: list[tuple[str, str, str | None]], stack: str = "dev"
) -> None:
    stack_file = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(stack_file.read_text())
    for path, value, value_type in settings:
        set_path(document["config"], path, path_value(value, value_type))
    stack_file.write_text(yaml.safe_dump(document))


def synth_json(project: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["synth", "dev", "--project-dir", str(project), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_template_declares_prompts_and_a_quickstart() -> None:
    settings = template_settings()
    assert settings["description"]
    for key, prompt in settings["config"].items():
        assert key.startswith("rft-env:"), key
        assert prompt["description"] and prompt["default"], key
    assert [(path, value_type) for path, _, value_type in quickstart_settings()] == [
        ("rft-env:account.id", "string"),
        ("rft-env:data.training.s3Uri", None),
    ]
    # The program the template ships imports only the installed library.
    imports = re.findall(r"^(?:from|import) (\S+)", (TEMPLATE / "__main__.py").read_text(), re.M)
    assert {name.split(".")[0] for name in imports} == {"pathlib", "pulumi", "rft_env"}
    assert (TEMPLATE / "requirements.txt").read_text().startswith("rft-env")


def test_an_instantiated_template_synthesizes_an_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = instantiate(tmp_path / "acme-rft", {})
    configure(
        project,
        [
            ("rft-env:account.id", ACCOUNT, "string"),
            ("rft-env:data.training.s3Uri", TRAINING, None),
        ],
    )
    graph = synth_json(project, capsys)
    assert graph["project"] == "acme-rft"
    assert graph["accountId"] == ACCOUNT
    types = [r["type"] for r in graph["resources"]]
    assert "pulumi-python:dynamic/bedrock:RftCustomizationJob" in types
    (function,) = [r for r in graph["resources"] if r["type"] == "aws:lambda/function:Function"]
    spec = json.loads(function["inputs"]["environment"]["variables"]["GRADER_SPEC"])
    assert spec == {"type": "math_answer"}
    assert graph["outputs"]["trainingDataUri"] == TRAINING
    # Every aws resource has the explicit provider (the project disables the default one).
    for resource in graph["resources"]:
        if resource["type"].startswith("aws:"):
            assert "pulumi:providers:aws::target-account" in resource["provider"], resource


def test_the_quickstarts_settings_are_what_the_template_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the quickstart's settings, synth names exactly the keys it sets."""
    project = instantiate(tmp_path / "acme-rft", {})
    assert main(["synth", "dev", "--project-dir", str(project)]) == 2
    error = capsys.readouterr().err
    assert "2 problems" in error
    assert "rft-env:account: required key is missing" in error
    assert "rft-env:data: required key is missing" in error
    # The quickstart's example values, as written, satisfy the validation.
    configure(project, quickstart_settings())
    assert synth.synthesize("dev", project)["accountId"] == "111122223333"


def test_a_prompt_answered_differently_is_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = instantiate(tmp_path / "acme-rft", {"rft-env:region": "eu-west-1"})
    configure(project, quickstart_settings())
    assert main(["synth", "dev", "--project-dir", str(project)]) == 2
    assert 'rft-env:region: got "eu-west-1"' in capsys.readouterr().err
