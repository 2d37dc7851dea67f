"""rft-env as a platform team adopts it: the wheel, installed (not editable) into a fresh
virtual environment, serves a separate Pulumi program of the team's own (tests/consumer).

The fresh environment gets rft-env from the wheel only. Its third-party dependencies
(pulumi, pulumi-aws, boto3, ...) come from the development environment through a `.pth`
line, which adds that site-packages directory to the path without running its `.pth`
files, so the editable install of this repository is not reachable from there.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

CONSUMER = REPO / "tests" / "consumer"
NETWORK = json.loads((CONSUMER / "network-outputs.json").read_text())
NETWORK_STACK = "acme/network/demo"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# What a wheel needs to build: the packaging files and the folders pyproject maps.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "components", "graders", "policies", "rftenv")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (an in-tree build would leave build/
    and egg-info behind in the repository)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--wheel-dir", str(out), str(source)),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("rft_env-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed, not editable."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install"),
            *("--no-deps", "--no-index", "--quiet", str(wheel)),
        ],
        check=True,
        capture_output=True,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "dev_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the consumer project, away from this repository."""
    copy = tmp_path / "acme-rft"
    shutil.copytree(CONSUMER, copy)
    return copy


def run(venv: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / argv[0]), *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def synth_json(venv: Path, project: Path, *flags: str, cwd: Path) -> dict[str, Any]:
    result = run(
        venv,
        "rftenv",
        "synth",
        "demo",
        "--format",
        "json",
        "--stack-reference",
        f"{NETWORK_STACK}={project / 'network-outputs.json'}",
        *flags,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_wheel_installs_one_namespace_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "rft_env",
        f"rft_env-{VERSION}.dist-info",
    }
    for package in ("components", "graders", "policies", "rftenv"):
        assert f"rft_env/{package}/py.typed" in names
        assert f"rft_env/{package}/__init__.py" in names
    assert "rft_env/graders/handler.py" in names
    assert f"rft_env-{VERSION}.dist-info/licenses/LICENSE" in names
    metadata = Parser().parsestr(
        zipfile.ZipFile(wheel).read(f"rft_env-{VERSION}.dist-info/METADATA").decode()
    )
    assert metadata["License-Expression"] == "Apache-2.0"
    requirements = metadata.get_all("Requires-Dist") or []
    # The setuptools pin parliament needs stays in the `audit` extra.
    assert [r for r in requirements if r.startswith("setuptools")] == [
        'setuptools<81,>=77; extra == "audit"'
    ]


def test_the_wheel_ships_the_component_provider_plugin(wheel: Path) -> None:
    """Pulumi runs the multi-language component from the installed package: the plugin
    manifest and schema (package data, not code, so easily left out) must sit next to the
    provider's entry point, as they are in the sources."""
    provider = Path("components", "provider")
    with zipfile.ZipFile(wheel) as archive:
        for name in ("PulumiPlugin.yaml", "schema.json", "__main__.py"):
            shipped = f"rft_env/{provider.as_posix()}/{name}"
            assert shipped in archive.namelist(), f"the wheel lacks {shipped}"
            assert archive.read(shipped) == (REPO / provider / name).read_bytes(), shipped


def test_generic_names_are_not_importable_and_the_version_is_the_packages(
    venv: Path, tmp_path: Path
) -> None:
    code = (
        "import importlib.util, rft_env.components.environment as e; "
        "print(e.__file__); "
        "print([m for m in ('components', 'graders', 'policies', 'rftenv') "
        "if importlib.util.find_spec(m)])"
    )
    result = run(venv, "python", "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    location, generic = result.stdout.splitlines()
    assert Path(location).is_relative_to(venv)
    assert generic == "[]"
    assert run(venv, "rftenv", "--version", cwd=tmp_path).stdout == f"rftenv {VERSION}\n"


def test_the_consumer_program_runs_from_the_wheel_with_another_stacks_outputs(
    venv: Path, project: Path
) -> None:
    """`rftenv synth` runs the consumer's program under the mock runtime: its own config,
    a built-in grader, and the VPC and key of the network stack as Outputs."""
    graph = synth_json(venv, project, "--project-dir", str(project), cwd=project.parent)
    assert graph["project"] == "acme-rft"
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in graph["resources"]:
        by_type.setdefault(resource["type"], []).append(resource)

    (job,) = by_type["pulumi-python:dynamic/bedrock:RftCustomizationJob"]
    assert job["inputs"]["vpcConfig"] == {
        "subnetIds": NETWORK["privateSubnetIds"],
        "securityGroupIds": NETWORK["trainingSecurityGroupIds"],
    }
    assert job["inputs"]["kmsKeyId"] == NETWORK["dataKeyArn"]
    assert "aws:kms/key:Key" not in by_type  # the network stack's key, none of its own
    assert graph["outputs"]["keyArn"] == NETWORK["dataKeyArn"]

    (role_policy,) = [
        p for p in by_type["aws:iam/rolePolicy:RolePolicy"] if "customization" in p["urn"]
    ]
    policy = json.loads(role_policy["inputs"]["policy"])
    resources = json.dumps(policy)
    assert all(subnet in resources for subnet in NETWORK["privateSubnetIds"])
    assert NETWORK["dataKeyArn"] in resources

    # The built-in grader ships from the installed package, not from any project folder.
    (function,) = by_type["aws:lambda/function:Function"]
    archive = function["inputs"]["code"]["$archive"]
    handler = project / archive["graders/handler.py"]["$asset"]
    assert handler.resolve().is_relative_to(venv.resolve())
    assert json.loads(function["inputs"]["environment"]["variables"]["GRADER_SPEC"]) == {
        "type": "math_answer"
    }


def test_the_console_script_takes_the_project_from_the_working_directory(
    venv: Path, project: Path
) -> None:
    from_flag = synth_json(venv, project, "--project-dir", str(project), cwd=project.parent)
    from_cwd = synth_json(venv, project, cwd=project)
    assert from_cwd == from_flag


def test_without_the_referenced_outputs_synth_names_the_stack_and_the_flag(
    venv: Path, project: Path
) -> None:
    result = run(venv, "rftenv", "synth", "demo", cwd=project)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"--stack-reference {NETWORK_STACK}=FILE" in result.stderr


def test_outside_a_project_the_cli_says_where_it_looked(venv: Path, tmp_path: Path) -> None:
    result = run(venv, "rftenv", "synth", "demo", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"rftenv synth: no Pulumi.yaml in {tmp_path.resolve()} (the working directory): run "
        "rftenv in a Pulumi project directory, or pass --project-dir DIR\n"
    )
