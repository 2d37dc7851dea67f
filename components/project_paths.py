"""Paths in stack config stay inside the project.

A data file (`data.*.file`) is uploaded and a custom grader directory (`graders.*.path`)
is shipped to Lambda, so a path that reaches outside the project (`/tmp/...`, `../..`, or
a symlink pointing out) would upload or ship whatever it reaches. Paths are given relative
to the project directory and must resolve, every symlink followed, to a path inside it.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any


class ProjectPathError(ValueError):
    """A path that does not stay inside the project; the message says what is allowed."""


def resolve_in_project(project_dir: Path, value: str) -> Path:
    """`value`, relative to `project_dir`, resolved with every symlink followed. Raises
    ProjectPathError if it is absolute or resolves outside the project, and OSError or
    ValueError if it is no usable path at all (a NUL byte, a name too long, a loop)."""
    if PurePath(value).is_absolute():
        raise ProjectPathError("allowed: a path relative to the project directory")
    root = project_dir.resolve()
    try:
        resolved = (root / value).resolve()
    except RuntimeError as error:  # a symlink loop (Python 3.11)
        raise OSError(str(error)) from None
    if not resolved.is_relative_to(root):
        raise ProjectPathError(
            f"resolves to {resolved}, outside the project {root}; allowed: a path inside "
            "the project (symlinks are followed)"
        )
    return resolved


def with_code_paths_resolved(spec: dict[str, Any], project_dir: Path) -> dict[str, Any]:
    """A copy of a grader spec whose custom graders' directories (composites' parts too)
    are absolute, resolved against `project_dir`, for grading outside the Lambda: `rftenv
    grade` and `evaluate`, and the promotion gate. The spec given is left as it is."""
    import copy

    from rft_env.graders.composite import nested_specs

    resolved = copy.deepcopy(spec)  # the walk hands out the copy's own dicts to change
    for _, custom in nested_specs(resolved, of_type="custom"):
        custom["path"] = str((project_dir / custom["path"]).resolve())
    return resolved
