"""The dynamic providers (components/bedrock/) and the rollout planner (rftenv/rollout.py)
never import the user config model (components/config.py): they take the AWS API's value
types and ranges from components.bedrock.values and report problems through
components.problems. So a change to the stack config cannot change what a provider checks
(and their module paths stay what Pulumi's state pickled)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.imports import REPO, imported_names, imports_of, is_within, module_of

CONFIG = "rft_env.components.config"
KEPT_APART = sorted(
    [*(REPO / "components" / "bedrock").glob("*.py"), REPO / "rftenv" / "rollout.py"]
)


@pytest.mark.parametrize("path", KEPT_APART, ids=lambda p: str(p.relative_to(REPO)))
def test_kept_apart_from_the_config_model(path: Path) -> None:
    imported = sorted(name for name in imports_of(path) if is_within(name, CONFIG))
    assert not imported, f"{path.relative_to(REPO)} imports {imported}"


def test_the_providers_and_the_planner_are_all_checked() -> None:
    modules = {module_of(path) for path in KEPT_APART}
    assert {
        "rft_env.components.bedrock.job",
        "rft_env.components.bedrock.inference",
        "rft_env.components.bedrock.validation",
        "rft_env.components.bedrock.values",
        "rft_env.rftenv.rollout",
    } <= modules


@pytest.mark.parametrize(
    "source",
    [
        "from rft_env.components.config import StackConfig",
        "from rft_env.components import config",
        "import rft_env.components.config as config",
        "def lazily():\n    from rft_env.components.config import ConfigError",
        "from ..config import StackConfig",
    ],
)
def test_every_form_of_the_import_is_seen(source: str) -> None:
    names = imported_names(source, "rft_env.components.bedrock.validation")
    assert any(is_within(name, CONFIG) for name in names), names


def test_not_even_through_another_module() -> None:
    modules = ", ".join(module_of(path) for path in KEPT_APART)
    code = f"import sys, {modules}; print({CONFIG!r} in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "False"
