"""Stack files, Pulumi.yaml and rollout plans: bad YAML exits 2 naming the file and line,
and nothing in a small file can make a tool spend minutes or gigabytes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rft_env.rftenv import rollout, stack_files, yamlfile
from rft_env.rftenv.cli import main

PROJECT_YAML = "name: rft-env\nruntime: python\nstackConfigDir: stacks\n"


def anchor_bomb(levels: int) -> str:
    """A stack file of a few hundred bytes whose value, aliases expanded, holds 9**levels
    strings (4.8 million for 7 levels)."""
    lines = ['  rft-env:l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"  rft-env:l{level}: &l{level} [{aliases}]")
    return "config:\n" + "\n".join(lines) + "\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose stack `s` the test writes; `rftenv synth s` reads it."""
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_YAML)
    (tmp_path / "stacks").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def synth_error(project: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    (project / "stacks" / "Pulumi.s.yaml").write_text(text)
    assert main(["synth", "s"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1  # one line
    return captured.err


@pytest.mark.parametrize("levels", [7, 8])
def test_anchor_bombs_are_refused_fast_with_the_line(
    project: Path, capsys: pytest.CaptureFixture[str], levels: int
) -> None:
    started = time.monotonic()
    error = synth_error(project, anchor_bomb(levels), capsys)
    # Generous for a loaded CI machine; unbounded, 7 levels took a minute and 8.7 GB.
    assert time.monotonic() - started < 5
    # The first alias past the limit: *l4 in l5's list, on line 7.
    assert "Pulumi.s.yaml:7: alias *l4: with its aliases expanded, the file holds" in error
    assert f"more than {yamlfile.MAX_NODES:,} values" in error


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("config:\n  rft-env:a: [1, 2\n  rft-env:b: 3\n", 3, "not valid YAML"),
        ("config:\n  rft-env:a: !!binary aGVsbG8=\n", 2, "the tag !!binary is not allowed"),
        ("config:\n  rft-env:a: !!set {x, y}\n", 2, "the tag !!set is not allowed"),
        ("config:\n  rft-env:a: !!timestamp 2020-01-01\n", 2, "the tag !!timestamp"),
        ("config:\n  ? [a, b]\n  : 1\n", 2, "found unhashable key"),
        ("- config\n- 5\n", 1, "expected a mapping at the top, got a list"),
        ("config: 5\n", 1, "config: expected a mapping, got a number (5)"),
        ("config:\n  7: x\n", 2, "config: keys must be strings"),
        ("config:\n  rft-env:a: &a [1, *a]\n", 2, "alias *a is inside its own anchor"),
        ("config:\n  rft-env:a: " + "[" * 80 + "]" * 80 + "\n", 2, "nested more than 64 levels"),
        ("config:\n  rft-env:a: 1\n---\nconfig: {}\n", 3, "found another document"),
        ("config:\n  rft-env:a: \x00\n", 2, "character #x0000 is not allowed"),
        (
            "config:\n  rft-env:graders:\n    arithmetic:\n      type: exact_match\n"
            "    arithmetic:\n      type: llm_judge\n",
            5,
            "key 'arithmetic' is given twice in one mapping (first on line 3)",
        ),
        (
            "config:\n  rft-env:environment: dev\n  rft-env:environment: prod\n",
            3,
            "key 'rft-env:environment' is given twice",
        ),
    ],
)
def test_bad_stack_files_exit_2_with_file_and_line(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, phrase: str
) -> None:
    error = synth_error(project, text, capsys)
    assert f"Pulumi.s.yaml:{line}: " in error
    assert phrase in error


def test_a_binary_stack_file_exits_2_with_the_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "stacks" / "Pulumi.s.yaml").write_bytes(b"config:\n  a: \xff\xfe\n")
    assert main(["synth", "s"]) == 2
    assert "Pulumi.s.yaml:2: not UTF-8 text" in capsys.readouterr().err


def test_a_broken_project_file_exits_2_with_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "stacks" / "Pulumi.s.yaml").write_text("config: {}\n")
    (project / "Pulumi.yaml").write_text(PROJECT_YAML + "config: [a]\n")
    assert main(["synth", "s"]) == 2
    assert "Pulumi.yaml:4: config: expected a mapping, got a list" in capsys.readouterr().err
    (project / "Pulumi.yaml").write_text("name: rft-env\nstackConfigDir: 5\n")
    assert main(["synth", "s"]) == 2
    assert "Pulumi.yaml:2: stackConfigDir: expected a string" in capsys.readouterr().err


def test_dates_stay_strings_as_the_engine_reads_them(project: Path) -> None:
    # YAML 1.2 has no timestamp type; the engine (go-yaml v3) gives the program the text.
    (project / "stacks" / "Pulumi.s.yaml").write_text(
        "config:\n  rft-env:tags:\n    Since: 2020-01-01\n  rft-env:day: 2020-01-01\n"
    )
    values = stack_files.engine_config("s", project)
    assert json.loads(values["rft-env:tags"]) == {"Since": "2020-01-01"}
    assert values["rft-env:day"] == "2020-01-01"


def test_merge_keys_still_work_and_may_override(project: Path) -> None:
    (project / "stacks" / "Pulumi.s.yaml").write_text(
        "base: &base {type: exact_match, operation: eq}\n"
        "config:\n  rft-env:graders:\n    a:\n      <<: *base\n      operation: contains\n"
    )
    values = stack_files.engine_config("s", project)
    assert json.loads(values["rft-env:graders"]) == {
        "a": {"type": "exact_match", "operation": "contains"}
    }


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: '" + "x" * yamlfile.MAX_FILE_BYTES + "'\n")
    with pytest.raises(yamlfile.YamlFileError, match=r"big\.yaml: .* bytes; allowed: at most"):
        yamlfile.load_yaml(path)


def test_aliases_of_long_strings_are_bounded_by_characters(tmp_path: Path) -> None:
    path = tmp_path / "strings.yaml"
    path.write_text("a: &s '" + "x" * 10_000 + "'\nb: [" + ", ".join(["*s"] * 500) + "]\n")
    with pytest.raises(yamlfile.YamlFileError, match=r"strings\.yaml:2: alias \*s: .* characters"):
        yamlfile.load_yaml(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (anchor_bomb(8), "line 7: alias *l4: with its aliases expanded"),
        (
            "waves:\n  - name: a\n    stacks: [dev]\nwaves: []\n",
            "line 4: key 'waves' is given twice",
        ),
        ("waves: [\n", "line 2: not valid YAML"),
    ],
)
def test_rollout_plans_go_through_the_same_loader(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(text)
    with pytest.raises(rollout.PlanError) as raised:
        rollout.load_plan(path, ["dev"])
    assert raised.value.problems[0].startswith(expected)


def test_accepted_findings_go_through_the_same_loader(tmp_path: Path) -> None:
    from rft_env.rftenv import audit

    path = tmp_path / "accepted-findings.yaml"
    path.write_text("- issue: a\n  issue: b\n")
    with pytest.raises(audit.AuditInputError, match=r"accepted-findings\.yaml:2: key 'issue'"):
        audit.load_acceptances(path)
