"""Unusable input fails in one line on stderr, with exit code 2: never a traceback, never a
hang. Each case here printed a traceback (or blocked for ever) before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rft_env.graders import custom
from rft_env.rftenv.cli import main

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "stacks" / "data" / "arithmetic-train.jsonl"
SPEC = '{"type": "exact_match"}'


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """argparse's way out: SystemExit(2), the subcommand's usage, then the error in one
    line (returned)."""
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    usage, _, error = err.partition(f"\nrftenv {argv[0]}: error: ")
    assert usage.startswith(f"usage: rftenv {argv[0]} "), err
    assert error.count("\n") == 1, err
    return f"rftenv {argv[0]}: error: {error}"


def samples_file(tmp_path: Path) -> Path:
    record = json.loads(TRAIN.read_text().splitlines()[0])
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps({**record, "candidates": ["1", "2"]}) + "\n")
    return path


# --- validate-data -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--max-problems", "0"],
            "rftenv validate-data: error: argument --max-problems: got '0'; allowed: an "
            "integer >= 1 (see `rftenv validate-data --help`)",
        ),
        (["--min-records", "-1"], "argument --min-records: got '-1'; allowed: an integer >= 0"),
        (["--max-records", "-3"], "argument --max-records: got '-3'; allowed: an integer >= 0"),
        (["--max-bytes", "-1"], "argument --max-bytes: got '-1'; allowed: an integer >= 0"),
        (["--min-records", "many"], "argument --min-records: got 'many'"),
    ],
)
def test_validate_data_bad_limits(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in usage_error(["validate-data", str(TRAIN), *args], capsys)


def test_validate_data_min_above_max(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["validate-data", str(TRAIN), "--min-records", "5", "--max-records", "1"]
    assert main(argv) == 2
    assert one_line_error(capsys) == (
        "rftenv validate-data: --min-records 5 is above --max-records 1\n"
    )


# --- grade ---------------------------------------------------------------------------------
def test_grade_deeply_nested_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "[" * 100_000 + "]" * 100_000
    assert main(["grade", "--spec", spec, "--samples", str(samples_file(tmp_path))]) == 2
    assert one_line_error(capsys) == "rftenv grade: --spec is nested too deeply to read\n"


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_grade_deeply_nested_samples(
    opening: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "deep.json"
    closing = "]" if opening == "[" else "}"
    samples.write_text(opening * 100_000 + ("" if opening == "[" else "1") + closing * 100_000)
    assert main(["grade", "--spec", SPEC, "--samples", str(samples)]) == 2
    assert one_line_error(capsys) == f"rftenv grade: {samples}: nested too deeply to read\n"


def test_grade_samples_that_are_not_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "binary.jsonl"
    samples.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    assert main(["grade", "--spec", SPEC, "--samples", str(samples)]) == 2
    assert one_line_error(capsys) == (
        f"rftenv grade: {samples}: line 2: not UTF-8 text (invalid start byte)\n"
    )


@pytest.fixture
def fresh_custom_package() -> Iterator[None]:
    def drop() -> None:
        for name in [m for m in sys.modules if m.split(".")[0] == custom.PACKAGE]:
            del sys.modules[name]

    drop()
    yield
    drop()


@pytest.mark.usefixtures("fresh_custom_package")
def test_grade_custom_grader_with_a_syntax_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "grader.py").write_text("def grade(sample) return 1.0\n")
    spec = json.dumps({"type": "custom", "path": str(directory)})
    assert main(["grade", "--spec", spec, "--samples", str(samples_file(tmp_path))]) == 2
    assert one_line_error(capsys) == (
        "rftenv grade: custom grader: entry: importing grader failed: SyntaxError: expected "
        "':' (grader.py, line 1)\n"
    )


# --- FIFOs: refused, not read (reading one blocks until a writer comes) ----------------------
def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """In a child process with a deadline, so a regression fails instead of hanging CI."""
    return subprocess.run(
        [sys.executable, "-m", "rft_env.rftenv.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


def test_validate_data_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "data.jsonl"
    os.mkfifo(fifo)
    done = run_cli("validate-data", str(fifo))
    assert done.returncode == 1  # like any file that cannot be read: the report says why
    assert "cannot read file: not a regular file (a FIFO)" in done.stdout
    assert done.stderr == ""


def test_grade_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "samples.jsonl"
    os.mkfifo(fifo)
    done = run_cli("grade", "--spec", SPEC, "--samples", str(fifo))
    assert done.returncode == 2
    assert done.stderr == f"rftenv grade: [Errno 22] not a regular file (a FIFO): '{fifo}'\n"


def test_a_directory_is_refused_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", "--spec", SPEC, "--samples", str(tmp_path)]) == 2
    assert "not a regular file (a directory)" in one_line_error(capsys)


# --- audit ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "policy config: got array; allowed: an object of policy names"),
        ('"mandatory"', "policy config: got string; allowed: an object of policy names"),
        ("{not json", "Expecting property name enclosed in double quotes"),
        ("[" * 100_000, "nested too deeply to read"),
    ],
)
def test_audit_policy_pack_config_that_is_not_an_object(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.json"
    config.write_text(content)
    argv = ["audit", "dev", "--out", str(tmp_path), "--policy-pack-config", str(config)]
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert err.startswith(f"rftenv audit: {config}: ")
    assert message in err


def test_audit_out_where_no_directory_can_be(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "dev", "--out", "/dev/null/x"]) == 2
    assert one_line_error(capsys) == (
        "rftenv audit dev: cannot write /dev/null/x/dev: [Errno 20] Not a directory: "
        "'/dev/null/x/dev'\n"
    )


# --- rollout -------------------------------------------------------------------------------
def test_rollout_plan_that_is_a_binary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(b"waves:\n" + bytes(range(128, 256)))
    assert main(["rollout", "--plan", str(plan)]) == 2
    assert one_line_error(capsys) == (
        f"rftenv rollout: invalid rollout plan {plan}: line 2: not UTF-8 text (invalid start "
        "byte)\n"
    )


# --- status and metrics --------------------------------------------------------------------
@pytest.mark.parametrize("command", ["status", "metrics"])
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("notaurl", ""),
        ("ftp://fake", ""),
        ("http://", ""),
        ("http://127.0.0.1:99999", "port 99999 is out of range; "),
        ("http://169.254.169.254/", "host 169.254.169.254 is link-local "),
    ],
)
def test_endpoint_url_that_is_not_allowed(
    command: str, url: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared rule for endpoint overrides (graders.endpoints), as a usage error: before,
    botocore raised `ValueError: Invalid endpoint` from deep inside the client."""
    err = usage_error([command, "dev", "--endpoint-url", url], capsys)
    assert err.startswith(f"rftenv {command}: error: argument --endpoint-url: got {url!r}; {why}")
    assert err.endswith(f"e.g. http://127.0.0.1:8080 (see `rftenv {command} --help`)\n")


def test_metrics_s3_endpoint_url_is_checked_too(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["metrics", "dev", "--s3-endpoint-url", "notaurl"], capsys)
    assert "argument --s3-endpoint-url: got 'notaurl'" in err


# --- the boundary --------------------------------------------------------------------------
def test_any_input_too_deep_for_a_parser_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever parser meets it (JSON, YAML, a repr in a message), a RecursionError is input
    nested too deeply: the CLI reports it in one line."""
    from rft_env.rftenv import synth

    def too_deep(stack: str, **options: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(synth, "synthesize", too_deep)
    assert main(["synth", "dev"]) == 2
    assert one_line_error(capsys) == "rftenv synth: input nested too deeply to read\n"
