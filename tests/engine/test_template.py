"""The `pulumi new` template through the real CLI: `pulumi new templates/rft-env`, the
quickstart's two settings, then `pulumi up` deploys the environment (stand-in aws plugin,
fake Bedrock). tests/test_template.py instantiates it offline the same way."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.engine.conftest import MakeEngine
from tests.engine.harness import Engine
from tests.test_template import TEMPLATE, configure, instantiate, quickstart_settings

pytestmark = pytest.mark.engine

ACCOUNT = "111122223333"  # the quickstart's example account


@pytest.fixture
def engine(make_engine: MakeEngine) -> Engine:
    engine = make_engine(account_id=ACCOUNT, program=TEMPLATE)
    # The template's Pulumi.yaml names its virtualenv `venv`: this interpreter's, linked
    # before `pulumi new` checks it.
    (engine.project / "venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    engine.pulumi(
        *("new", str(TEMPLATE), "--dir", str(engine.project), "--force", "--yes"),
        *("--name", "acme-rft", "--description", "ACME's RFT environment", "--stack", "dev"),
    )
    for path, value, value_type in quickstart_settings():
        flags = ["--path", *(["--type", value_type] if value_type else [])]
        engine.config_set("dev", path, value, *flags)
    return engine


def test_pulumi_new_gives_the_project_the_offline_instantiation_describes(
    engine: Engine, tmp_path: Path
) -> None:
    offline = instantiate(tmp_path / "offline", {})
    configure(offline, quickstart_settings())
    real_project = yaml.safe_load((engine.project / "Pulumi.yaml").read_text())
    real_project["config"].pop("pulumi:tags")  # pulumi new records the template's path
    assert real_project == yaml.safe_load((offline / "Pulumi.yaml").read_text())
    real_stack = yaml.safe_load((engine.project / "Pulumi.dev.yaml").read_text())
    assert (
        real_stack["config"] == yaml.safe_load((offline / "Pulumi.dev.yaml").read_text())["config"]
    )


def test_a_project_from_the_template_deploys(engine: Engine) -> None:
    engine.up("dev")
    outputs = engine.outputs("dev")
    assert outputs["environment"] == "dev"
    assert outputs["accountId"] == ACCOUNT
    assert outputs["jobName"].startswith("rft-env-dev-")
    assert list(outputs["graderFunctionArns"]) == ["answer"]
    assert engine.fake.count("CreateModelCustomizationJob") == 1
