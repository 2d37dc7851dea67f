"""Grader code is packaged deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.packaging import (
    PackagingError,
    code_digest,
    custom_grader_files,
    grader_archive,
    grader_code_files,
    merge_archive_files,
    requirements_file,
    vendor_requirements,
    vendored_files,
)

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


# --- custom graders -------------------------------------------------------------------------
def make_wheel(directory: Path, name: str = "tinydep", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, built by hand so the test needs no index or build."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ),
        f"{name}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_custom_grader_files_and_requirements(tmp_path: Path) -> None:
    directory = tmp_path / "mine"
    (directory / "__pycache__").mkdir(parents=True)
    (directory / "grader.py").write_text("def grade(s):\n    return 1.0\n")
    (directory / "__pycache__" / "grader.cpython-311.pyc").write_bytes(b"\0")
    assert list(custom_grader_files(directory)) == ["custom_grader/grader.py"]
    assert requirements_file(directory) is None
    (directory / "requirements.txt").write_text("# nothing yet\n\n")
    assert requirements_file(directory) is None
    (directory / "requirements.txt").write_text("tinydep==1.0  # pinned\n")
    assert requirements_file(directory) == directory / "requirements.txt"
    with pytest.raises(PackagingError, match="not found"):
        custom_grader_files(tmp_path / "missing")


def test_requirements_are_vendored_for_lambda_deterministically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: the wheel is local
    wheel = make_wheel(tmp_path)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"tinydep @ {wheel.as_uri()}\n")
    first = vendor_requirements(
        requirements, tmp_path / "cache-a", architecture="arm64", python_version="3.13"
    )
    second = vendor_requirements(
        requirements, tmp_path / "cache-b", architecture="arm64", python_version="3.13"
    )
    files_a, files_b = vendored_files(first), vendored_files(second)
    assert "tinydep/__init__.py" in files_a
    # Install records (paths, installer) are dropped: two installs, one archive hash.
    assert not any(name.endswith(("direct_url.json", "INSTALLER", "RECORD")) for name in files_a)
    assert list(files_a) == list(files_b)
    assert code_digest(files_a) == code_digest(files_b)
    # Cached: an unchanged requirements file is not installed again.
    (first / "tinydep" / "__init__.py").write_text("VALUE = 'cached'\n")
    again = vendor_requirements(
        requirements, tmp_path / "cache-a", architecture="arm64", python_version="3.13"
    )
    assert (again / "tinydep" / "__init__.py").read_text() == "VALUE = 'cached'\n"


def test_an_uninstallable_requirement_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("surely-not-a-package-rft-env==9.9\n")
    with pytest.raises(PackagingError, match=r"could not install .*arm64, Python 3\.13"):
        vendor_requirements(
            requirements, tmp_path / "cache", architecture="arm64", python_version="3.13"
        )
    assert not any((tmp_path / "cache").iterdir())  # nothing half-installed left behind


def test_archive_parts_may_not_overlap(tmp_path: Path) -> None:
    one, two = tmp_path / "1.py", tmp_path / "2.py"
    one.write_text("a")
    two.write_text("b")
    assert list(merge_archive_files({"b.py": two}, {"a.py": one})) == ["a.py", "b.py"]
    with pytest.raises(PackagingError, match=r"two sources for graders/x\.py"):
        merge_archive_files({"graders/x.py": one}, {"graders/x.py": two})
