"""graders/composite.py holds the one walk over composite parts (`nested_specs` over specs,
`nested_graders` over built graders): a second walk elsewhere would drift from it the day
composites change (a new key, a depth rule), so no other module reads parts itself."""

from __future__ import annotations

import ast
import re

import pytest

from rft_env.graders.composite import CompositeGrader, nested_graders
from rft_env.graders.contract import Grader, Sample
from tests.imports import REPO

SCANNED = ("components", "rftenv", "policies", "graders")
WALKER = REPO / "graders" / "composite.py"
# `.parts` on these is pathlib's (components/packaging.py), not a composite's.
PATH_LIKE = re.compile(r"path|dir|relative_to|Path\b", re.IGNORECASE)


def parts_reads(source: str) -> list[str]:
    """Every place `source` reads composite parts: `x["parts"]`, `x.get("parts", ...)` (or
    `pop`/`setdefault`), or `x.parts` on something not path-like; each as its code."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript):
            key = node.slice
            hit = isinstance(key, ast.Constant) and key.value == "parts"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            first = node.args[0] if node.args else None
            hit = (
                node.func.attr in ("get", "pop", "setdefault")
                and isinstance(first, ast.Constant)
                and first.value == "parts"
            )
        elif isinstance(node, ast.Attribute):
            hit = node.attr == "parts" and not PATH_LIKE.search(ast.unparse(node.value))
        else:
            hit = False
        if hit:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    ("code", "reads"),
    [
        ('spec["parts"]', True),
        ('spec.get("parts", [])', True),
        ("grader.parts", True),
        ("self.parts", True),
        ("path.parts", False),
        ("directory.relative_to(root).parts", False),
        ('token.split(":")', False),
        ("parts[0]", False),
    ],
)
def test_the_scan_tells_parts_reads_from_other_code(code: str, reads: bool) -> None:
    assert bool(parts_reads(code)) is reads


def test_only_graders_composite_walks_composite_parts() -> None:
    offenders = {
        str(path.relative_to(REPO)): reads
        for folder in SCANNED
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != WALKER and (reads := parts_reads(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "walk parts with graders.composite.nested_specs/nested_graders"


def _plain(sample: Sample) -> float:
    return 1.0


def test_nested_graders_yields_every_grader_depth_first() -> None:
    a, b, c = _plain, (lambda s: 0.5), (lambda s: 0.0)
    inner = CompositeGrader([("b", 1.0, b), ("c", 1.0, c)])
    outer = CompositeGrader([("a", 1.0, a), ("inner", 2.0, inner)])
    expected: list[Grader] = [outer, a, inner, b, c]
    assert list(nested_graders(outer)) == expected
    assert list(nested_graders(a)) == [a]
