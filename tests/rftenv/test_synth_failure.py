"""A program that fails under synth leaves nothing behind in the process: no task still
pending and no never-retrieved error logged later, at some unrelated moment. Such logging,
when the collector ran inside a later `ast.parse`, broke it with "AST constructor
recursion depth mismatch" (Python 3.11 tracebacks parse source for their carets)."""

from __future__ import annotations

import ast
import gc
import logging
from pathlib import Path

import pytest

from tests.components.test_environment_inputs import synthesize
from tests.conftest import REPO

BAD_KEY = {"kms_key_arn": "arn:aws:kms:us-east-1:111122223333:alias/data"}


def test_a_failed_program_leaves_nothing_running_or_to_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for _ in range(3):
            with pytest.raises(ValueError, match=r"RftEnvironmentArgs\.kms_key_arn"):
                synthesize("dev", BAD_KEY, tmp_path)
        synthesize("dev", {}, tmp_path)
        gc.collect()
        for path in sorted((REPO / "components").rglob("*.py")):
            ast.parse(path.read_text())
    assert [r.getMessage()[:60] for r in caplog.records if r.name == "asyncio"] == []
