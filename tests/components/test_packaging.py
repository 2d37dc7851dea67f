"""Grader code is packaged deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest

from rft_env.components.packaging import (
    IGNORE_FILE,
    PackagingError,
    code_digest,
    custom_grader_files,
    grader_archive,
    grader_code_files,
    grader_directory_problems,
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


# --- what a custom grader's archive carries ------------------------------------------------
SECRETS = {
    "server.pem": "-----BEGIN PRIVATE KEY-----",
    "tls/client.key": "key",
    "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "deploy/id_ed25519.pub": "ssh-ed25519 AAAA",
    ".env": "AWS_SECRET_ACCESS_KEY=x",
    ".env.production": "TOKEN=x",
    "settings/prod.env": "TOKEN=x",
    ".aws/credentials": "[default]",
    ".git/config": "[core]",
    ".git/objects/ab/cdef": "blob",
    ".hg/store": "x",
    ".svn/entries": "x",
    "__pycache__/grader.cpython-313.pyc": "x",
    "lib/__pycache__/util.cpython-313.pyc": "x",
    "stale.pyc": "x",
    ".pytest_cache/v/cache/lastfailed": "{}",
    ".venv/bin/python": "x",
}
CODE = {"grader.py": "def grade(s):\n    return 1.0\n", "lib/util.py": "X = 1\n", "data.json": "{}"}


def make_grader_dir(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_keys_env_files_vcs_folders_and_caches_are_never_packaged(tmp_path: Path) -> None:
    directory = make_grader_dir(tmp_path / "mine", {**CODE, **SECRETS})
    assert list(custom_grader_files(directory)) == [
        "custom_grader/data.json",
        "custom_grader/grader.py",
        "custom_grader/lib/util.py",
    ]


def test_the_ignore_file_is_honoured_gitignore_style(tmp_path: Path) -> None:
    files = {
        **CODE,
        "notes/todo.md": "x",
        "fixtures/big.jsonl": "x",
        "fixtures/keep.jsonl": "x",
        "deep/a/b/scratch.tmp": "x",
        "build/out.py": "x",
        "lib/build/keep.py": "x",
    }
    directory = make_grader_dir(tmp_path / "mine", files)
    (directory / IGNORE_FILE).write_text(
        "# scratch\n\nnotes/\nfixtures/*.jsonl\n!fixtures/keep.jsonl\n**/*.tmp\n/build/\n"
        # ignore-file rules cannot bring back what is never packaged
        "!.env\n"
    )
    (directory / ".env").write_text("SECRET=1")
    assert list(custom_grader_files(directory)) == [
        "custom_grader/data.json",
        "custom_grader/fixtures/keep.jsonl",
        "custom_grader/grader.py",
        "custom_grader/lib/build/keep.py",  # `/build/` is anchored at the grader directory
        "custom_grader/lib/util.py",
    ]


def test_packaging_is_deterministic_whatever_the_creation_order(tmp_path: Path) -> None:
    one = make_grader_dir(tmp_path / "one", {**CODE, **SECRETS})
    two = make_grader_dir(tmp_path / "two", dict(reversed({**SECRETS, **CODE}.items())))
    assert list(custom_grader_files(one)) == list(custom_grader_files(two))
    assert code_digest(custom_grader_files(one)) == code_digest(custom_grader_files(two))


def test_symlinks_must_stay_inside_the_grader_directory(tmp_path: Path) -> None:
    directory = make_grader_dir(tmp_path / "mine", CODE)
    (directory / "shared.py").symlink_to("lib/util.py")  # inside: packaged as that file
    assert "custom_grader/shared.py" in custom_grader_files(directory)
    outside = tmp_path / "credentials"
    outside.write_text("[default]")
    (directory / "settings.py").symlink_to(outside)
    with pytest.raises(PackagingError, match=r"settings\.py links to .*credentials, not to a file"):
        custom_grader_files(directory)
    (directory / "settings.py").unlink()
    (directory / ".env").write_text("SECRET=1")
    (directory / "config.py").symlink_to(".env")  # a code name for a file never packaged
    with pytest.raises(PackagingError, match=r"config\.py links to .*\.env, which is never"):
        custom_grader_files(directory)
    (directory / "config.py").unlink()
    (directory / "vendor").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(PackagingError, match=r"vendor is a symlink to a folder"):
        custom_grader_files(directory)


def test_a_grader_directory_inside_the_project_is_judged_by_what_it_would_ship(
    tmp_path: Path,
) -> None:
    project = tmp_path
    (project / "Pulumi.yaml").write_text("name: x\n")
    stacks = make_grader_dir(project / "stacks", {"Pulumi.dev.yaml": "config: {}\n", **CODE})
    data = make_grader_dir(project / "mine", {**CODE, "train.jsonl": "{}\n"})
    assert "is the project" in grader_directory_problems(project, project)[0]
    assert "holds Pulumi stack files" in grader_directory_problems(stacks, project)[0]
    (problem,) = grader_directory_problems(data, project, [data / "train.jsonl"])
    assert "would ship the stack's data file" in problem
    assert grader_directory_problems(data, project, []) == []
