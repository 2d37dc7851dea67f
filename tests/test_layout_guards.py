"""Guards for the project's structural splits: each holds one thing in one place, and these
fail when a later change puts it back in two (read from the syntax tree, nothing run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.imports import REPO, imports_of, is_within

SOURCES = ("components", "rftenv", "policies", "graders")


def python_sources() -> list[Path]:
    files = [path for folder in SOURCES for path in sorted((REPO / folder).rglob("*.py"))]
    return [*files, REPO / "__main__.py"]


def assignments(tree: ast.AST, name: str) -> int:
    """How often `tree` binds `name` by assignment (`=`, annotated or augmented)."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        else:
            continue
        count += sum(
            isinstance(inner, ast.Name) and inner.id == name
            for target in targets
            for inner in ast.walk(target)
        )
    return count


@pytest.mark.parametrize("name", ["PROJECT", "CONFIG_NAMESPACE"])
def test_the_project_name_and_config_namespace_are_assigned_once(name: str) -> None:
    """Everything else imports them from components/naming.py: two assignments could
    name different namespaces."""
    where = {
        str(path.relative_to(REPO)): found
        for path in python_sources()
        if (found := assignments(ast.parse(path.read_text(encoding="utf-8")), name))
    }
    assert where == {"components/naming.py": 1}


def test_assignments_counts_every_binding_form() -> None:
    source = "A = 1\nB: str = 'x'\nA += 'y'\nA, C = 1, 2\nf(A=1)\nfrom m import A\n"
    assert assignments(ast.parse(source), "A") == 3
    assert assignments(ast.parse(source), "B") == 1


def test_documents_leaves_the_deployment_role_to_its_module() -> None:
    """The deployment role's policies live in components/deployment_role.py."""
    tree = ast.parse((REPO / "components" / "documents.py").read_text(encoding="utf-8"))
    defined = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("deployment_role")
    ]
    assert defined == []


# What reads YAML: the parsers themselves, and the project's bounded loader over them.
YAML_READERS = ("yaml", "ruamel", "rft_env.rftenv.yamlfile")
YAML_LOADERS = {"load_yaml", "load_mapping", "safe_load"}  # also as stack_files.load_yaml


def test_synth_reads_stack_files_through_stack_files() -> None:
    """rftenv/synth.py gets a stack's config from rftenv/stack_files.py (engine_config,
    project_settings), which reads Pulumi.yaml and stack files the way the engine does;
    synth reading YAML itself would be a second, diverging reader."""
    path = REPO / "rftenv" / "synth.py"
    imported = imports_of(path)
    assert [name for name in imported if any(is_within(name, r) for r in YAML_READERS)] == []
    assert "rft_env.rftenv.stack_files.engine_config" in imported
    calls = [
        ast.unparse(node.func)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else ast.unparse(node.func))
        in YAML_LOADERS
    ]
    assert calls == []
