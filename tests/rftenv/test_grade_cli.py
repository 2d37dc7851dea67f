"""`rftenv validate-data` and `rftenv grade`: reports, the README's command, per-sample
rewards, and the LLM judge's region, role and fallbacks (against a fake Bedrock Runtime)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from rft_env.rftenv import jobs
from rft_env.rftenv.cli import main
from tests.fakes import offline
from tests.fakes.bedrock_runtime import FakeBedrockRuntime, injectable_judge
from tests.fakes.clock import FakeClock

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


# --- the README's command and the shipped samples file ---------------------------------------

SAMPLES = REPO / "stacks" / "data" / "arithmetic-samples.jsonl"


def readme_grade_command() -> list[str]:
    """The `rftenv grade --stack dev --grader arithmetic --samples ...` command the README
    shows, as argv."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"`rftenv (grade --stack dev --grader arithmetic --samples [^`]+)`", readme)
    assert len(found) == 1, found
    return found[0].split()


def test_the_readme_grade_command_works(capsys: pytest.CaptureFixture[str]) -> None:
    argv = readme_grade_command()
    assert argv[-1] == "stacks/data/arithmetic-samples.jsonl"
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "dev/arithmetic (exact_match): 32 samples from 8 prompts" in out
    assert "prompts without learning signal (every candidate scored the same): 2 of 8 (25%)" in out
    assert "errors: none" in out


def test_the_samples_file_holds_training_records_with_candidates() -> None:
    training = {r["id"]: r for r in map(json.loads, TRAIN.read_text().splitlines())}
    for line in SAMPLES.read_text().splitlines():
        record = json.loads(line)
        candidates = record.pop("candidates")
        # The prompts and references are the training file's, so they cannot drift apart.
        assert record == training[record["id"]]
        assert len(candidates) == 4 and all(isinstance(c, str) for c in candidates)
        assert record["reference_answer"] in candidates


# --- per-sample rewards ------------------------------------------------------------------------


def test_text_report_lists_each_samples_reward_up_to_a_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["grade", "--stack", "dev", "--grader", "arithmetic", "--samples", str(SAMPLES)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("per-sample rewards (first 20 of 32; --format json lists every sample):")
    rows = lines[start + 2 : start + 22]
    assert lines[start + 1].split() == ["sample", "reward"]
    assert [row.split() for row in rows[:4]] == [
        ["arith-train-0001#0", "1.000"],
        ["arith-train-0001#1", "1.000"],  # "Working ...\n570": the last line counts
        ["arith-train-0001#2", "0.000"],
        ["arith-train-0001#3", "0.000"],
    ]
    assert lines[start + 22] == "errors: none"


def test_json_report_lists_every_samples_reward_and_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["grade", "--stack", "dev", "--grader", "arithmetic", "--samples", str(SAMPLES)]
    assert main([*argv, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["scores"]) == 32
    assert report["scores"][2] == {
        "id": "arith-train-0001#2",
        "reward": 0.0,
        "metrics": {"exact_match": 0.0},
    }
    assert [s["reward"] for s in report["scores"][-4:]] == [1.0] * 4


# --- the judge: the stack's region and role; fallbacks are errors ------------------------------

DEV_ROLE = "arn:aws:iam::111122223333:role/rft-env-deployer"


@pytest.fixture
def runtime(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeBedrockRuntime]:
    """A fake Bedrock Runtime (and STS), static test credentials and no region anywhere
    but the stack's config."""
    offline.offline_aws(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setattr(jobs, "credentials_clock", clock)
    with FakeBedrockRuntime(clock) as fake:
        yield fake
    assert fake.crashes == [], fake.crashes[0]


def grade_judged(fake: FakeBedrockRuntime, *extra: str) -> int:
    return main(
        [
            "grade",
            *("--stack", "dev", "--grader", "judged", "--samples", str(SAMPLES)),
            *("--endpoint-url", fake.endpoint_url, *extra),
        ]
    )


def test_a_stack_judge_calls_bedrock_in_the_stack_region_through_its_role(
    runtime: FakeBedrockRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.judge = injectable_judge
    assert grade_judged(runtime, "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == {} and report["judgeFallbacks"] == 0
    assert runtime.assumed == [{"RoleArn": DEV_ROLE, "RoleSessionName": "rft-env-bedrock"}]
    assert len(runtime.calls) == 32
    assert {region for _, region in runtime.signers} == {"us-east-1"}
    assert all(key.startswith("ASIAFAKE") for key, _ in runtime.signers)  # the role's keys
    # The honest judge scores only a bare right answer: 1 per mixed prompt, 3 per other.
    assert report["reward"]["mean"] == pytest.approx((6 * 1 + 2 * 3) / 32)


def test_judge_fallbacks_are_errors_with_their_reasons(
    runtime: FakeBedrockRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.judge = lambda request: "Incorrect. The expected answer was 7."
    assert grade_judged(runtime) == 1
    out = capsys.readouterr().out
    assert "errors: judge_fallback 32" in out
    assert "arith-train-0001#0: judge_fallback: the judge's reply is not one verdict" in out
    assert "errors: none" not in out


def test_a_judge_without_a_region_fails_instead_of_reporting_no_errors(
    runtime: FakeBedrockRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red-team finding: every sample fell back (NoRegionError), yet the report said
    "errors: none" and the command exited 0."""
    spec = {"type": "llm_judge", "modelId": "us.amazon.nova-pro-v1:0", "rubric": "{answer}"}
    argv = ["grade", "--spec", json.dumps(spec), "--samples", str(SAMPLES), "--format", "json"]
    assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == {"judge_fallback": 32}
    assert all("NoRegionError" in s["error"] for s in report["scores"])
    assert runtime.calls == []


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "x", "--endpoint-url", "http://127.0.0.1:9"], "--endpoint-url needs"),
        ([], "--samples is required (except with --probe)"),
        (["--samples", "x", "--threshold", "0.5"], "--threshold and --max-prompts need --probe"),
        (["--probe", "--threshold", "1.5"], "allowed: a number from 0 to 1"),
        (["--probe", "--max-prompts", "0"], "allowed: an integer >= 1"),
        (["--samples", "x", "--endpoint-url", "http://169.254.169.254"], "link-local"),
    ],
)
def test_grade_option_combinations_that_do_not_go_together(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in usage_error(["grade", "--spec", '{"type": "math_answer"}', *args], capsys)
