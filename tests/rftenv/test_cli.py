"""The CLI as a whole: every subcommand declared and failing the same way, help for every
option, usage on a wrong call, output that fits 80 columns and survives `| head`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rft_env.rftenv import cli, grading, rollout
from rft_env.rftenv.cli import main
from rft_env.rftenv.command import Command, CommandError

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "stacks" / "data" / "arithmetic-train.jsonl"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


# --- one way to declare, one way to fail ----------------------------------------------------
def test_every_subcommand_is_a_command_declared_the_same_way() -> None:
    declared = cli.commands()
    assert all(isinstance(command, Command) for command in declared)
    parsers = subcommands()
    assert list(parsers) == [command.name for command in declared]
    for command in declared:
        assert parsers[command.name].get_default("handler") is command.handler


def test_a_command_error_is_printed_once_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rft_env.rftenv import synth

    def fails(stack: str, **options: object) -> None:
        raise CommandError("the message", 3, subject=stack)

    monkeypatch.setattr(synth, "synthesize", fails)
    assert main(["synth", "dev"]) == 3
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "rftenv synth dev: the message\n")


# --- help ------------------------------------------------------------------------------------
def test_every_option_of_every_subcommand_has_help() -> None:
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in subcommands().items()
        for action in parser._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


# --- usage errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["synth"], "rftenv synth: error: the following arguments are required: stack"),
        (
            ["grade", "--spec", "{}", "--samples", "x", "--bogus"],
            "rftenv grade: error: unrecognized arguments: --bogus",
        ),
        # Checked by the handler, reported like argparse's own errors.
        (
            ["grade", "--stack", "dev", "--samples", str(TRAIN)],
            "rftenv grade: error: --stack needs --grader",
        ),
    ],
)
def test_a_wrong_call_prints_the_subcommands_usage_then_the_error(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"usage: rftenv {argv[0]} ")
    assert lines[-1] == f"{error} (see `rftenv {argv[0]} --help`)"
    assert len(lines) <= 4  # short: the usage (wrapped to the terminal) and one line


# --- --spec ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{bad", "rftenv grade: --spec is not valid JSON: Expecting property name"),
        (
            '{"type": "nope"}',
            "rftenv grade: --spec: invalid grader spec: type: got 'nope'; allowed: composite",
        ),
        (
            '{"type": "exact_match", "x": 1}',
            "rftenv grade: --spec: invalid grader spec: x: unknown key",
        ),
    ],
)
def test_a_bad_spec_names_the_option(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["grade", "--spec", spec, "--samples", str(TRAIN)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1


# --- 80 columns ------------------------------------------------------------------------------
def test_the_grade_report_fits_80_columns(tmp_path: Path) -> None:
    long_name = "a_metric_name_long_enough_to_need_shortening_in_the_middle (Metric)"
    stats = {"count": 2, "mean": 0.5, "stdev": 0.5, "min": 0.0, "p50": 0.5, "max": 1.0}
    stats["histogram"] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    summary = {
        "seconds": 12.5,
        "samples": 123_456,
        "prompts": 12_345,
        "reward": stats,
        "metrics": {long_name: stats},
        "promptsWithSeveralCandidates": 12_345,
        "promptsWithoutSignal": 1_234,
        "errors": {"grader_error": 1},
        "errorExamples": [{"id": "sample-1", "error": "ValueError: " + "x " * 60}],
    }
    lines = grading.render("dev/a-grader-with-a-long-name (custom)", summary).splitlines()
    assert [line for line in lines if len(line) > 80] == []
    (row,) = [line for line in lines if line.startswith("  a_metric")]
    assert "…" in row and row.endswith("|▄        ▄|")
    header = next(line for line in lines if line.lstrip().startswith("metric"))
    assert header.split() == ["metric", "n", "mean", "sd", "min", "p50", "max", "histogram"]


def test_the_rollout_summary_fits_80_columns() -> None:
    info = rollout.StackInfo("777788889999", "ap-southeast-2", production=True)
    results = [
        rollout.StackResult(
            "a-rather-long-production-stack-name",
            "production-wave",
            info,
            result="not confirmed",
            changes={"create": 12, "update": 3, "replace": 1, "delete": 2},
            seconds=1234,
        ),
        rollout.StackResult("dev", "dev", info, result="updated", changes={"create": 1}),
    ]
    text = rollout.render_summary(rollout.RolloutReport(results, halted="x " * 50))
    lines = text.splitlines()
    assert [line for line in lines if len(line) > 80] == []
    assert lines[1].split() == [
        "STACK",
        "WAVE",
        "ACCOUNT",
        "REGION",
        "CHANGES",
        "RESULT",
        "DURATION",
    ]
    assert lines[3].split() == [
        "dev",
        "dev",
        "777788889999",
        "ap-southeast-2",
        "+1",
        "updated",
        "0s",
    ]


def test_the_audit_report_fits_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "dev", "--out", str(tmp_path / ("a-long-directory-name" * 3))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "rftenv audit dev (account 111122223333, us-east-1): PASS"
    assert [line for line in lines if len(line) > 80] == []


# --- | head ----------------------------------------------------------------------------------
def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """`rftenv synth dev | head -1`. The reader here closes its end before reading at all,
    which makes the broken pipe certain: synth's output fits in a pipe's buffer, so a
    reader that took one line first might close after the writer had finished."""
    child = subprocess.Popen(
        [sys.executable, "-m", "rft_env.rftenv.cli", "synth", "dev"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert err == ""


def test_json_output_is_not_shortened(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "dev", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "…" not in json.dumps(result, ensure_ascii=False)
