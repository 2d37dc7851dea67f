"""Grader code is packaged deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.packaging import code_digest, grader_archive, grader_code_files

REPO = Path(__file__).resolve().parents[2]


def make_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "graders"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_the_real_package_is_packaged_with_its_handler() -> None:
    files = grader_code_files(REPO / "graders")
    assert "graders/handler.py" in files
    assert "graders/__init__.py" in files
    assert all(name.endswith(".py") for name in files)
    assert list(files) == sorted(files)


def test_same_sources_same_digest_and_archive(tmp_path: Path) -> None:
    one = make_package(tmp_path / "a", {"handler.py": "x = 1\n", "b.py": "y = 2\n"})
    two = make_package(tmp_path / "b", {"b.py": "y = 2\n", "handler.py": "x = 1\n"})
    assert code_digest(grader_code_files(one)) == code_digest(grader_code_files(two))
    archive = grader_archive(grader_code_files(one), tmp_path / "a")
    assert list(archive.assets) == ["graders/b.py", "graders/handler.py"]
    # Paths relative to the project: the same in every checkout.
    assert [a.path for a in archive.assets.values()] == ["graders/b.py", "graders/handler.py"]


def test_digest_changes_with_content_and_ignores_bytecode(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"handler.py": "x = 1\n"})
    before = code_digest(grader_code_files(package))
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "handler.cpython-311.py").write_text("junk")
    assert code_digest(grader_code_files(package)) == before
    (package / "handler.py").write_text("x = 2\n")
    assert code_digest(grader_code_files(package)) != before


def test_a_folder_without_handler_is_refused(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"other.py": ""})
    with pytest.raises(FileNotFoundError, match=r"handler\.py"):
        grader_code_files(package)
