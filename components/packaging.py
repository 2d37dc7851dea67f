"""Deterministic packaging of the grader code for Lambda.

The archive holds the `graders` package's Python sources in sorted order, plus, for a
custom grader, the user's directory (as `custom_grader/`) and its requirements vendored
for the Lambda's architecture. Pulumi hashes archive contents, so the same inputs always
give the same archive hash and `pulumi up` shows no change until the code really changes.
The built-in graders use only the standard library, so their archive fits every
architecture.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rft_env.components.files import read_text

if TYPE_CHECKING:
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
    # Imported here: config validation uses this module, and the CLI need not load Pulumi.
    import pulumi

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


# Patterns of the grader directory's own files to leave out, one per line, gitignore-style
# (`#` comments, `!` re-includes, a trailing `/` for folders, `*`, `?`, `[...]`, `**`).
IGNORE_FILE = ".rftenvignore"
# What a custom grader's archive never carries, whatever the ignore file says
# (gitignore-style patterns, matched against paths relative to the grader directory):
EXCLUDED_ALWAYS = (
    # keys and credentials
    "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "id_rsa*", "id_dsa*", "id_ecdsa*",
    "id_ed25519*", ".aws/", ".ssh/", ".netrc", ".pypirc", ".npmrc",
    # environment files
    ".env", ".env.*", "*.env",
    # version control
    ".git", ".hg", ".svn",
    # caches and local environments
    "__pycache__/", "*.pyc", "*.pyo", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/",
    ".venv/", ".tox/",
    # the ignore file itself
    IGNORE_FILE,
)  # fmt: skip
# Pulumi's project and stack files (which name accounts, roles and keys): never shipped.
PULUMI_FILES = ("Pulumi.yaml", "Pulumi.yml", "Pulumi.*.yaml", "Pulumi.*.yml")


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    directories_only: bool


def _glob_regex(glob: str) -> str:
    """A gitignore glob as a regex over '/'-separated paths (`*` stays within one part)."""
    out, index = [], 0
    while index < len(glob):
        if glob.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif glob.startswith("/**", index) and index + 3 == len(glob):
            out.append("/.*")
            index += 3
        elif glob[index] == "*":
            out.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            out.append("[^/]")
            index += 1
        elif glob[index] == "[" and (close := glob.find("]", index + 2)) != -1:
            members = glob[index + 1 : close]
            negate = members.startswith(("!", "^"))
            members = members[1:] if negate else members
            escaped = members.replace("\\", "\\\\")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            index = close + 1
        else:
            out.append(re.escape(glob[index]))
            index += 1
    return "".join(out)


def ignore_rules(lines: Iterable[str]) -> list[_Rule]:
    """Gitignore-style lines as rules; blank lines and `#` comments are skipped."""
    rules = []
    for raw in lines:
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        line = line[1:] if line.startswith("\\") else line  # \# and \! are literal
        directories_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        # A pattern with a '/' (other than a trailing one) is anchored at the directory.
        anchored = "/" in line
        body = _glob_regex(line.lstrip("/"))
        regex = re.compile(body if anchored else f"(?:.*/)?{body}", re.DOTALL)
        rules.append(_Rule(regex, negated, directories_only))
    return rules


_ALWAYS = ignore_rules(EXCLUDED_ALWAYS)


def _matches(rules: Sequence[_Rule], relative: str, is_dir: bool) -> bool:
    """Whether `rules` leave `relative` out: the last rule that matches decides. (As in
    git, a `!` rule cannot re-include a path whose folder is left out: the walk never
    enters such a folder.)"""
    verdict = False
    for rule in rules:
        if (is_dir or not rule.directories_only) and rule.regex.fullmatch(relative):
            verdict = not rule.negated
    return verdict


def custom_grader_files(directory: Path) -> dict[str, Path]:
    """The user's directory as the `custom_grader` package, sorted: its code, not its
    secrets. Left out: whatever EXCLUDED_ALWAYS matches, then whatever the directory's
    IGNORE_FILE lists. A symlink must point at a file inside the directory (it is packaged
    as that file); a symlink out of it, or to a folder, is a PackagingError."""
    if not directory.is_dir():
        raise PackagingError(f"custom grader directory not found: {directory}")
    root = directory.resolve()
    ignore = directory / IGNORE_FILE
    user_rules: list[_Rule] = []
    if ignore.exists():
        try:
            user_rules = ignore_rules(read_text(ignore).splitlines())
        except (OSError, ValueError) as error:  # not a regular file, not UTF-8
            raise PackagingError(f"cannot read {ignore}: {error}") from None

    def left_out(relative: str, is_dir: bool) -> bool:
        return _matches(_ALWAYS, relative, is_dir) or _matches(user_rules, relative, is_dir)

    files: dict[str, Path] = {}

    def unreadable(error: OSError) -> None:
        raise PackagingError(f"cannot read {error.filename}: {error.strerror}")

    # Symlinks are not followed; an unreadable folder fails rather than goes missing.
    for current, dirnames, filenames in os.walk(directory, onerror=unreadable):
        base = Path(current)
        prefix = base.relative_to(directory).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        kept = []
        for name in sorted(dirnames):
            if left_out(prefix + name, is_dir=True):
                continue
            if (base / name).is_symlink():
                raise PackagingError(
                    f"{base / name} is a symlink to a folder: link the files, or list it in "
                    f"{IGNORE_FILE}"
                )
            kept.append(name)
        dirnames[:] = kept  # a folder left out is not entered
        for name in sorted(filenames):
            path, relative = base / name, prefix + name
            if left_out(relative, is_dir=False):
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root) or not target.is_file():
                    raise PackagingError(
                        f"{path} links to {target}, not to a file inside {root}: only the "
                        "grader directory's own files are packaged"
                    )
                if left_out(target.relative_to(root).as_posix(), is_dir=False):
                    raise PackagingError(f"{path} links to {target}, which is never packaged")
            elif not path.is_file():
                continue  # sockets, FIFOs: not code
            files[f"{CUSTOM_PACKAGE}/{relative}"] = path
    return dict(sorted(files.items()))


def grader_directory_problems(
    directory: Path, project_dir: Path, data_files: Iterable[Path] = ()
) -> list[str]:
    """Why `directory` (resolved, inside the project) may not hold a custom grader's code:
    it is the project itself or holds Pulumi project or stack files (a stack config
    folder), it is or lies in a folder that is never packaged (`.git`, `.venv`, ...), or
    its archive would carry a Pulumi file or one of the stack's `data_files`, or it cannot
    be packaged at all (a symlink out of it, say)."""
    root = project_dir.resolve()
    allowed = "allowed: a folder inside the project holding only the grader's code"
    if directory == root or any(any(directory.glob(pattern)) for pattern in PULUMI_FILES):
        return [f"{directory} is the project or holds Pulumi stack files; {allowed}"]
    parts = directory.relative_to(root).parts
    for depth in range(1, len(parts) + 1):
        if _matches(_ALWAYS, "/".join(parts[:depth]), is_dir=True):
            return [f"{directory} is in {'/'.join(parts[:depth])}, which is never packaged"]
    try:
        files = custom_grader_files(directory)
    except PackagingError as error:
        return [str(error)]
    except OSError as error:
        return [f"cannot read {directory}: {error}"]
    data = {path.resolve() for path in data_files}
    problems = []
    for archive_path, path in files.items():
        if any(fnmatch.fnmatchcase(path.name, pattern) for pattern in PULUMI_FILES):
            problems.append(f"would ship the Pulumi file {path}; list it in {IGNORE_FILE}")
        elif path.resolve() in data:
            problems.append(f"would ship the stack's data file {path} as {archive_path}")
    return problems


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
