"""`rftenv validate-data` and `rftenv grade`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft_env.rftenv.cli import main

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "stacks" / "data" / "arithmetic-train.jsonl"


def records(count: int) -> list[dict]:
    return [json.loads(line) for line in TRAIN.read_text().splitlines()[:count]]


def test_validate_data_accepts_the_example_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-data", str(TRAIN)]) == 0
    out = capsys.readouterr().out
    assert "200 records" in out and out.rstrip().endswith("valid")


def test_validate_data_size_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-data", str(TRAIN), "--max-bytes", "1000"]) == 1
    assert "bytes; allowed: at most 1,000" in capsys.readouterr().out
    assert main(["validate-data", str(TRAIN), "--max-bytes", str(TRAIN.stat().st_size)]) == 0


def test_validate_data_reports_every_problem_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = TRAIN.read_text().splitlines()[:3]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], "{not json", lines[0], lines[2]]) + "\n")
    assert main(["validate-data", str(bad), "--min-records", "1"]) == 1
    out = capsys.readouterr().out
    assert "line 2: invalid JSON" in out
    assert "line 3: duplicate prompt: the same messages as line 1" in out
    assert "invalid: 2 problem(s)" in out
    assert main(["validate-data", str(bad), "--min-records", "1", "--allow-duplicates"]) == 1
    assert main(["validate-data", str(bad)]) == 1  # and 4 records is too few
    assert "dataset has 4 records; allowed: 100 to 20,000" in capsys.readouterr().out


def candidates_file(tmp_path: Path) -> Path:
    """Four candidates per prompt: two prompts all right, two with mixed answers."""
    path = tmp_path / "candidates.jsonl"
    rows = []
    for index, record in enumerate(records(4)):
        answer = record["reference_answer"]
        record["candidates"] = (
            [answer] * 4 if index < 2 else [answer, f"Working...\n{answer}", "0", "no idea"]
        )
        rows.append(json.dumps(record))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_grade_a_stack_grader_on_candidates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = candidates_file(tmp_path)
    assert (
        main(["grade", "--stack", "dev", "--grader", "arithmetic", "--samples", str(samples)]) == 0
    )
    out = capsys.readouterr().out
    assert "dev/arithmetic" in out and "16 samples from 4 prompts" in out
    assert "prompts without learning signal (every candidate scored the same): 2 of 4 (50%)" in out
    assert "errors: none" in out


def test_grade_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = json.dumps({"type": "exact_match", "answerFrom": "last_line"})
    samples = candidates_file(tmp_path)
    assert main(["grade", "--spec", spec, "--samples", str(samples), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 16 and report["prompts"] == 4
    assert report["reward"]["mean"] == pytest.approx(12 / 16)
    assert report["promptsWithoutSignal"] == 2
    assert report["metrics"]["exact_match (Reward)"]["count"] == 16


def test_grade_a_lambda_event_and_exit_1_when_the_grader_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = tmp_path / "g"
    code.mkdir()
    (code / "grader.py").write_text(
        "def grade(s):\n"
        "    if s['answer'] == 'boom':\n"
        "        raise ValueError('bad')\n"
        "    return 1.0\n"
    )
    event = [
        {
            "id": "a",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "ok"}],
            "metadata": {"reference_answer": 1},
        },
        {
            "id": "b",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "boom"},
            ],
            "metadata": {"reference_answer": 1},
        },
        {"id": "c", "messages": []},
    ]
    samples = tmp_path / "event.json"
    samples.write_text(json.dumps(event))
    spec = json.dumps({"type": "custom", "path": str(code)})
    assert main(["grade", "--spec", spec, "--samples", str(samples)]) == 1
    out = capsys.readouterr().out
    assert "errors: grader_error 1, invalid_sample 1" in out
    assert "b: ValueError: bad" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spec", '{"type": "nope"}'], "allowed: composite, custom"),
        (["--spec", "{not json"], "Expecting property name"),
        (
            ["--stack", "dev", "--grader", "missing"],
            "no grader 'missing' (graders: arithmetic, judged)",
        ),
        (["--stack", "nope", "--grader", "x"], "Pulumi.nope.yaml"),
    ],
)
def test_grade_usage_errors_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = candidates_file(tmp_path)
    assert main(["grade", *args, "--samples", str(samples)]) == 2
    assert message in capsys.readouterr().err


def test_grade_rejects_records_without_candidates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "records.jsonl"
    samples.write_text("\n".join(json.dumps(r) for r in records(2)) + "\n")
    assert main(["grade", "--spec", '{"type": "exact_match"}', "--samples", str(samples)]) == 2
    assert "line 1: a training record needs `candidates`" in capsys.readouterr().err
