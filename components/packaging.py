"""Deterministic packaging of the grader code for Lambda.

The archive holds the `graders` package's Python sources only, in sorted order; Pulumi
hashes archive contents, so the same sources always give the same archive hash and
`pulumi up` shows no change until the code really changes. The graders use only the
standard library, so one archive serves every architecture.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pulumi


def grader_code_files(graders_dir: Path) -> dict[str, Path]:
    """Archive path -> file, for every .py file of the graders package (sorted)."""
    package = graders_dir.name
    files = {
        f"{package}/{path.relative_to(graders_dir).as_posix()}": path
        for path in graders_dir.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    if f"{package}/handler.py" not in files:
        raise FileNotFoundError(f"{graders_dir} has no handler.py: not a graders package")
    return dict(sorted(files.items()))


def code_digest(files: dict[str, Path]) -> str:
    """sha256 over archive paths and contents: changes exactly when the package changes."""
    digest = hashlib.sha256()
    for archive_path, path in sorted(files.items()):
        digest.update(archive_path.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def grader_archive(files: dict[str, Path], project_dir: Path) -> pulumi.AssetArchive:
    """The archive, with file paths relative to the project directory (Pulumi's working
    directory): state records asset paths, and an absolute path would differ from one
    checkout to the next and show the functions as changed."""
    return pulumi.AssetArchive(
        {name: pulumi.FileAsset(relative_path(path, project_dir)) for name, path in files.items()}
    )


def relative_path(path: Path, project_dir: Path) -> str:
    return Path(os.path.relpath(path, project_dir)).as_posix()
