"""Deterministic packaging of the grader code for Lambda.

The archive holds the `graders` package's Python sources in sorted order, plus, for a
custom grader, the user's directory (as `custom_grader/`) and its requirements vendored
for the Lambda's architecture. Pulumi hashes archive contents, so the same inputs always
give the same archive hash and `pulumi up` shows no change until the code really changes.
The built-in graders use only the standard library, so their archive fits every
architecture.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
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


# --- custom graders ---------------------------------------------------------------------
CUSTOM_PACKAGE = "custom_grader"  # graders.custom.PACKAGE: the user's code in the archive
# pip platform tags for the Lambda architectures (manylinux2014 is what Lambda's
# Amazon Linux 2023 runs).
LAMBDA_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
# Written last into a vendored directory: its absence means an interrupted install.
_COMPLETE = ".rft-env-complete"
# Files pip writes that say where and how a package was installed, not what it is: they
# would make the archive differ between machines.
_INSTALL_NOISE = ("direct_url.json", "INSTALLER", "REQUESTED", "RECORD")


class PackagingError(RuntimeError):
    pass


def custom_grader_files(directory: Path) -> dict[str, Path]:
    """The user's directory as the `custom_grader` package, sorted, without bytecode."""
    if not directory.is_dir():
        raise PackagingError(f"custom grader directory not found: {directory}")
    files = {
        f"{CUSTOM_PACKAGE}/{path.relative_to(directory).as_posix()}": path
        for path in directory.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    return dict(sorted(files.items()))


def requirements_file(directory: Path) -> Path | None:
    """The directory's requirements.txt, if it names anything to install."""
    path = directory / "requirements.txt"
    if not path.is_file():
        return None
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return path if any(lines) else None


def vendor_requirements(
    requirements: Path, cache_root: Path, *, architecture: str, python_version: str
) -> Path:
    """Install `requirements` for the Lambda's platform into a cached directory.

    Binary wheels only, for the Lambda's architecture and Python, so what is vendored runs
    there whatever machine deploys. The cache key is the requirements file and the target,
    so an unchanged file is installed once. Pin versions in requirements.txt: an unpinned
    requirement resolves to whatever is newest when the cache is first filled.
    """
    platform_tag = LAMBDA_PLATFORMS[architecture]
    key = hashlib.sha256(
        requirements.read_bytes() + f"\0{platform_tag}\0{python_version}".encode()
    ).hexdigest()[:20]
    target = cache_root / key
    if (target / _COMPLETE).is_file():
        return target
    staging = cache_root / f"{key}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-input", "--no-compile", "--only-binary=:all:", "--platform", platform_tag,
        "--implementation", "cp", "--python-version", python_version,
        "--target", str(staging), "-r", str(requirements),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        detail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
        raise PackagingError(
            f"could not install {requirements} for Lambda ({architecture}, Python "
            f"{python_version}, binary wheels only): " + " | ".join(detail)
        )
    for noise in _INSTALL_NOISE:
        for path in staging.glob(f"*.dist-info/{noise}"):
            path.unlink()
    (staging / _COMPLETE).write_text(f"{requirements}\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def vendored_files(directory: Path) -> dict[str, Path]:
    return dict(
        sorted(
            (path.relative_to(directory).as_posix(), path)
            for path in directory.rglob("*")
            if path.is_file() and path.name != _COMPLETE and "__pycache__" not in path.parts
        )
    )


def merge_archive_files(*parts: dict[str, Path]) -> dict[str, Path]:
    """One archive from several parts; two parts claiming one path is an error, not a
    silent overwrite (a requirement named like a grader module, say)."""
    merged: dict[str, Path] = {}
    for part in parts:
        clash = sorted(set(merged) & set(part))
        if clash:
            raise PackagingError(f"two sources for {', '.join(clash[:3])} in the grader archive")
        merged.update(part)
    return dict(sorted(merged.items()))
