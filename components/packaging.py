"""Deterministic packaging of the grader code for Lambda.

The archive holds the `graders` package's Python sources only, in sorted order; Pulumi
hashes archive contents, so the same sources always give the same archive hash and
`pulumi up` shows no change until the code really changes. The graders use only the
standard library, so one archive serves every architecture.
"""

from __future__ import annotations

import hashlib
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


def grader_archive(files: dict[str, Path]) -> pulumi.AssetArchive:
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in files.items()})
