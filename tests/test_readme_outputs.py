"""The README documents what a stack exports: its "Stack outputs:" list names every output
key the program has, once, and nothing else. The keys are read from the program itself at
run time, so a new output fails here until the README lists it."""

from __future__ import annotations

import re
from pathlib import Path

from rft_env.rftenv import synth
from tests.conftest import REPO

README = REPO / "README.md"
# What the program declares, exported under a name no output has: the program exports only
# the outputs that have a value (`None` is left out), and the README lists them all.
DECLARED = "__declared_outputs"
PROGRAM = f"""
import runpy

import pulumi

program = runpy.run_path({str(REPO / "__main__.py")!r}, run_name="__main__")
pulumi.export({DECLARED!r}, sorted(program["environment"].outputs))
"""


def readme_outputs(text: str) -> list[str]:
    """The output keys in the README's "Stack outputs:" list, in order."""
    section = text.split("\nStack outputs:\n\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`([A-Za-z]+)`", section)


def program_outputs(tmp_path: Path) -> set[str]:
    """Every output key of the dev stack: the ones it exports and the ones it declares."""
    program = tmp_path / "__main__.py"
    program.write_text(PROGRAM)
    outputs = synth.synthesize("dev", REPO, program=program)["outputs"]
    declared = set(outputs.pop(DECLARED))
    assert declared, "the program declared no outputs: has __main__.py renamed `environment`?"
    return declared | set(outputs)


def test_the_readme_lists_every_stack_output_once(tmp_path: Path) -> None:
    listed = readme_outputs(README.read_text(encoding="utf-8"))
    assert sorted({k for k in listed if listed.count(k) > 1}) == [], "listed more than once"
    assert set(listed) == program_outputs(tmp_path)


def test_the_readme_has_no_empty_code_block() -> None:
    empty = re.findall(r"^```[a-z]*\n```$", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert empty == []
