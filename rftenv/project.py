"""Which project the CLI works on: the directory given with `--project-dir`, or the
working directory, as with `pulumi` itself. Nothing derives it from where the package is
installed, so the same installed `rftenv` serves any project."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_FILE = "Pulumi.yaml"
# The `--project-dir` of the running command, so every function that reads the project
# (synth, status, metrics, audit, rollout) sees it without threading it through each call.
_selected: Path | None = None


class ProjectNotFoundError(LookupError):
    """No Pulumi project where the CLI was asked to look; the message says how to fix it."""


def project_root(given: Path | None = None) -> Path:
    """`given`, or the working directory, resolved. Raises ProjectNotFoundError when it
    holds no Pulumi.yaml."""
    given = given if given is not None else _selected
    root = (given if given is not None else Path.cwd()).resolve()
    if not (root / PROJECT_FILE).is_file():
        where = "--project-dir" if given is not None else "the working directory"
        raise ProjectNotFoundError(
            f"no {PROJECT_FILE} in {root} ({where}): run rftenv in a Pulumi project "
            "directory, or pass --project-dir DIR"
        )
    return root


@contextmanager
def selected_project(given: Path | None) -> Iterator[None]:
    """While a command runs: `project_root()` means `given` (when not None)."""
    global _selected
    previous, _selected = _selected, given
    try:
        yield
    finally:
        _selected = previous
