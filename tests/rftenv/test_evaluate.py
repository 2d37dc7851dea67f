"""`rftenv evaluate`: the trained model against its base model, through the CLI, against the
fake Bedrock Runtime (and, where the trained model is looked up, the fake control plane
serving Converse at the same endpoint)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rft_env.components import naming
from rft_env.components.bedrock.converse import Reply
from rft_env.components.evaluation import sign_test
from rft_env.components.prompts import load_prompts, message_text
from rft_env.graders import custom
from rft_env.rftenv import charts, display, evaluate, jobs, stack_files
from rft_env.rftenv.cli import main
from tests.fakes import FakeBedrock, FakeClock, offline
from tests.fakes.bedrock_runtime import FakeBedrockRuntime, injectable_judge, request_text
from tests.rftenv.test_status import ACCOUNTS, bedrock_client, complete_job

REPO = Path(__file__).resolve().parents[2]
VALIDATION = REPO / "stacks" / "data" / "arithmetic-validation.jsonl"
TRAINED = "arn:aws:bedrock:us-east-1:111122223333:custom-model-deployment/abcdefghijkl"
OTHER = "arn:aws:bedrock:us-east-1:111122223333:custom-model-deployment/mnopqrstuvwx"
BASE = "us.amazon.nova-2-lite-v1:0"
JUDGE = "us.amazon.nova-pro-v1:0"  # the dev and prod stacks' `judged` grader's model
PNG = b"\x89PNG\r\n\x1a\n"

# Prompt text -> (position in the file, reference answer): scripted models answer by it.
PROMPTS = {
    message_text(p.messages[-1]["content"]): (index, str(p.reference))
    for index, p in enumerate(load_prompts(VALIDATION))
}


def answers(right: Callable[[int], bool]) -> Callable[[dict[str, Any]], str]:
    """A model that answers the reference where `right(position)`, else one more than it."""

    def answer(request: dict[str, Any]) -> str:
        index, reference = PROMPTS[request_text(request)]
        return reference if right(index) else str(int(reference) + 1)

    return answer


# Over the first 40 prompts: base right on the 20 even ones; trained wrong on 8 (positions
# ending in 3 or 4): 16 wins (odd, not ...3), 4 losses (even, ...4), 20 ties.
def base_right(index: int) -> bool:
    return index % 2 == 0


def trained_right(index: int) -> bool:
    return index % 10 not in (3, 4)


@pytest.fixture(autouse=True)
def offline_aws(clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Static test credentials, no region but the stack's, and every wait on the fake
    clock: botocore's, the assumed role's expiry, and the request pacer's."""
    offline.offline_aws(monkeypatch, tmp_path, clock)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setattr(jobs, "credentials_clock", clock)
    monkeypatch.setattr(evaluate, "clock", clock)


@pytest.fixture
def runtime(clock: FakeClock) -> Iterator[FakeBedrockRuntime]:
    with FakeBedrockRuntime(clock) as fake:
        fake.judge = injectable_judge  # honest: 10 for the reference, 0 otherwise
        fake.script(BASE, answers(base_right))
        fake.script(TRAINED, answers(trained_right))
        yield fake
    assert fake.crashes == [], fake.crashes[0]


def run(fake: Any, tmp_path: Path, *extra: str, stack: str = "dev") -> int:
    return main(
        [
            *("evaluate", stack, "--endpoint-url", fake.endpoint_url),
            *("--out", str(tmp_path / "out"), "--rate", "50", *extra),
        ]
    )


def run_json(
    fake: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str, stack: str = "dev"
) -> tuple[int, dict[str, Any], str]:
    code = run(fake, tmp_path, "--format", "json", *extra, stack=stack)
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def models(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["label"]: m for m in report["models"]}


# ---------------------------------------------------------------------------- a run


def test_a_better_trained_model_shows_in_every_figure(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("--model", TRAINED, "--base-model", BASE, "--limit", "40", "--graders", "judged")
    code, report, err = run_json(runtime, tmp_path, capsys, *argv)
    assert code == 0 and report["exitCode"] == 0
    assert report["graders"] == ["arithmetic", "judged"]
    assert report["prompts"] == 40
    by_label = models(report)
    assert by_label["base"]["modelId"] == BASE and by_label["trained"]["modelId"] == TRAINED
    for name in ("arithmetic", "judged"):  # the honest judge agrees with the exact match
        assert by_label["base"]["graders"][name]["mean"] == pytest.approx(0.5)
        assert by_label["trained"]["graders"][name]["mean"] == pytest.approx(0.8)
        low, high = by_label["trained"]["graders"][name]["interval"]
        assert low < 0.8 < high
        pair = report["comparison"]["graders"][name]
        assert (pair["wins"], pair["ties"], pair["losses"]) == (16, 20, 4)
        assert pair["gain"] == pytest.approx(0.3)
        assert pair["pValue"] == pytest.approx(sign_test(16, 4)) and pair["pValue"] < 0.02
        assert pair["interval"][0] > 0
    assert by_label["trained"]["graders"]["judged"]["metrics"]["llm_judge"] == pytest.approx(0.8)
    assert [m["failedCalls"] for m in report["models"]] == [0, 0]
    assert all(m["tokens"]["input"] > 0 and m["tokens"]["output"] > 0 for m in report["models"])
    # 40 prompts to each model, and the judge once per answer.
    assert (runtime.calls_for(BASE), runtime.calls_for(TRAINED), runtime.calls_for(JUDGE)) == (
        40,
        40,
        80,
    )
    # The files: the same report, the tables, the chart.
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text()) == report
    markdown = (out / "report.md").read_text()
    assert "| grader | n | gain | 95% CI | W/T/L | p |" in markdown
    assert "| arithmetic | 40 | +0.300 | [" in markdown
    assert "| arithmetic | 0.500 [" in markdown
    assert f"| trained | `{TRAINED}` | 40 | 0 | 0 |" in markdown
    assert "## Where the models disagree most (arithmetic)" in markdown
    assert "### `arith-validation-0002`: base 0.000, trained 1.000" in markdown  # a win
    assert "### `arith-validation-0005`: base 1.000, trained 0.000" in markdown  # a loss
    assert (out / "rewards.png").read_bytes().startswith(PNG)
    # Progress went to stderr, a line a tenth of the way for each model (no terminal).
    progress = err.splitlines()
    assert [line.split()[0] for line in progress] == ["base"] * 10 + ["trained"] * 10
    assert progress[-1] == "trained  [####################] 40/40 calls, 0 retries"


def test_the_text_report_fits_80_columns(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("--model", TRAINED, "--base-model", BASE, "--limit", "20", "--graders", "judged")
    assert run(runtime, tmp_path, *argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line for line in lines if len(line) > display.WIDTH] == []
    assert "  base     us.amazon.nova-2-lite-v1:0" in lines
    assert any(line.startswith("  trained  arn:aws:bedrock:") and "…" in line for line in lines)
    assert any(line.startswith("  arithmetic  20  +0.300  [+") for line in lines), out
    assert any(line.startswith("  judged      20  +0.300  [+") for line in lines), out
    assert "failed calls: base 0/20, trained 0/20 (limit 5% per model)" in lines
    assert "[####" not in out  # the progress bar is on stderr only
    written = f"written to {tmp_path / 'out'}/: report.json, report.md, rewards.png"
    assert written in " ".join(out.split())


def test_compare_two_trained_models(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.script(OTHER, answers(lambda index: True))
    argv = ("--compare", TRAINED, OTHER, "--limit", "20")
    code, report, _ = run_json(runtime, tmp_path, capsys, *argv)
    assert code == 0
    assert report["comparison"]["baseline"] == "baseline"
    assert report["comparison"]["candidate"] == "candidate"
    assert [(m["label"], m["modelId"]) for m in report["models"]] == [
        ("baseline", TRAINED),
        ("candidate", OTHER),
    ]
    pair = report["comparison"]["graders"]["arithmetic"]
    assert (pair["wins"], pair["ties"], pair["losses"]) == (4, 16, 0)  # positions 3, 4, 13, 14
    assert runtime.calls_for(BASE) == 0


# ---------------------------------------------------------------------------- failures


def test_failed_calls_beyond_the_threshold_exit_1(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.inject("AccessDeniedException", times=3, model=TRAINED)
    # One call at a time: the first three prompts are the ones that fail.
    argv = ("--model", TRAINED, "--base-model", BASE, "--limit", "20", "--concurrency", "1")
    code, report, err = run_json(runtime, tmp_path, capsys, *argv)
    assert code == 1 and report["exitCode"] == 1
    trained = models(report)["trained"]
    assert (trained["calls"], trained["failedCalls"]) == (20, 3)
    assert models(report)["base"]["failedCalls"] == 0
    assert trained["failures"][0]["error"].startswith("AccessDeniedException: ")
    assert trained["graders"]["arithmetic"]["n"] == 17  # failed calls are not scored as 0
    assert err.splitlines()[-1] == (
        "rftenv evaluate dev: 3 of the trained model's 20 calls failed (15.0%), above "
        "--max-failure-share 0.05"
    )
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "Failed calls: base 0/20, trained 3/20 (limit 5% per model)." in markdown
    assert "- trained `arith-validation-0001`: AccessDeniedException:" in markdown


def test_failed_calls_within_the_threshold_exit_0(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.inject("AccessDeniedException", times=3, model=TRAINED)
    argv = ("--model", TRAINED, "--base-model", BASE, "--limit", "20")
    code, report, _ = run_json(runtime, tmp_path, capsys, *argv, "--max-failure-share", "0.15")
    assert (code, report["failureShare"]) == (0, 0.15)


def test_throttling_is_retried_not_failed(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.inject("ThrottlingException", times=4, model=BASE)
    argv = ("--model", TRAINED, "--base-model", BASE, "--limit", "10")
    code, report, err = run_json(runtime, tmp_path, capsys, *argv)
    assert code == 0
    base = models(report)["base"]
    assert (base["failedCalls"], base["attempts"]) == (0, 14)
    assert "base     [####################] 10/10 calls, 4 retries" in err.splitlines()


def vanishing(fake: FakeBedrock, arn: str, after: int) -> Callable[[dict[str, Any]], str]:
    """The trained model's answers, until its deployment is deleted after `after` of them."""
    served = 0
    right = answers(trained_right)

    def answer(request: dict[str, Any]) -> str:
        nonlocal served
        served += 1
        if served == after:
            fake.delete_out_of_band(arn)
        return right(request)

    return answer


def staging_with_deployment(
    clock: FakeClock, runtime: FakeBedrockRuntime, name: str = "rft-env-staging-on-demand"
) -> tuple[FakeBedrock, str]:
    """The staging stack's account, serving Converse too, with an Active deployment."""
    control = FakeBedrock(clock, account_id=ACCOUNTS["staging"])
    control.attach_runtime(runtime)
    control.start()
    job = complete_job(control, clock, "staging")
    arn = bedrock_client(control).create_custom_model_deployment(
        modelDeploymentName=name, modelArn=job["modelArn"]
    )["customModelDeploymentArn"]
    clock.advance(control.deployment_duration)
    return control, arn


@pytest.fixture
def own_custom_package() -> Iterator[None]:
    """Custom grader code is one package per process (one grader per Lambda): whatever
    another test imported is set aside while the stack's is imported, and put back after."""
    theirs = {n: m for n, m in sys.modules.items() if n.split(".")[0] == custom.PACKAGE}
    for name in theirs:
        del sys.modules[name]
    yield
    for name in [n for n in sys.modules if n.split(".")[0] == custom.PACKAGE]:
        del sys.modules[name]
    sys.modules.update(theirs)


def test_the_stacks_deployment_is_the_trained_model(
    own_custom_package: None,
    clock: FakeClock,
    runtime: FakeBedrockRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    control, arn = staging_with_deployment(clock, runtime)
    runtime.script(arn, answers(trained_right))
    try:
        argv = ("--limit", "10", "--graders", "reasoned")
        code, report, _ = run_json(control, tmp_path, capsys, *argv, stack="staging")
    finally:
        control.stop()
    assert code == 0
    assert report["candidateSource"] == "on-demand deployment rft-env-staging-on-demand"
    assert [m["modelId"] for m in report["models"]] == [BASE, arn]
    # The composite grader with its custom part (a path in the project) graded every answer.
    assert models(report)["trained"]["graders"]["reasoned"]["n"] == 10
    assert models(report)["trained"]["graders"]["arithmetic"]["mean"] == pytest.approx(0.8)
    # The stack's deployment role, with its external id, for the lookup and the calls.
    assumed = [params for name, params in control.calls if name == "AssumeRole"]
    assert assumed and {a["ExternalId"] for a in assumed} == {"rft-env-staging"}


def test_a_model_that_vanishes_mid_run_exits_1(
    clock: FakeClock,
    runtime: FakeBedrockRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    control, arn = staging_with_deployment(clock, runtime)
    runtime.script(arn, vanishing(control, arn, after=5))
    try:
        code = run(control, tmp_path, "--limit", "20", "--concurrency", "1", stack="staging")
    finally:
        control.stop()
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    message = captured.err.splitlines()[-1]
    assert message.startswith(f"rftenv evaluate staging: the trained model {arn} stopped ")
    assert "ResourceNotFoundException" in message and "nothing was scored" in message
    assert not (tmp_path / "out" / "report.json").exists()
    assert runtime.calls_for(arn) == 6  # the call after the deletion stopped the run


def test_a_model_option_naming_no_model_exits_2(
    clock: FakeClock,
    runtime: FakeBedrockRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    control = FakeBedrock(clock)  # dev's account, with no deployment at all
    control.attach_runtime(runtime)
    with control:
        code = run(control, tmp_path, "--model", OTHER, "--base-model", BASE, "--limit", "5")
    assert code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"rftenv evaluate dev: --model {OTHER}: no such model ")
    assert "ResourceNotFoundException" in err


@pytest.mark.parametrize(
    ("deployed", "why"),
    [
        (False, "no on-demand deployment rft-env-staging-on-demand"),
        (True, "on-demand deployment rft-env-staging-on-demand is Creating"),
    ],
)
def test_no_trained_model_found_exits_2(
    deployed: bool,
    why: str,
    clock: FakeClock,
    runtime: FakeBedrockRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    control = FakeBedrock(clock, account_id=ACCOUNTS["staging"])
    control.attach_runtime(runtime)
    with control:
        if deployed:  # not serving yet
            job = complete_job(control, clock, "staging")
            bedrock_client(control).create_custom_model_deployment(
                modelDeploymentName="rft-env-staging-on-demand", modelArn=job["modelArn"]
            )
        assert run(control, tmp_path, stack="staging") == 2
    err = capsys.readouterr().err
    assert err == (
        f"rftenv evaluate staging: no trained model to evaluate ({why}): deploy the stack's "
        "inference (rft-env:inference.mode, then `pulumi up`) or pass --model ID\n"
    )
    assert runtime.calls == []


def test_without_inference_the_dev_stack_needs_model(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(runtime, tmp_path) == 2
    err = capsys.readouterr().err
    assert "(rft-env:inference.mode is none)" in err and "pass --model ID" in err
    assert runtime.calls == [] and runtime.assumed == []


# ---------------------------------------------------------------------------- the stack's promotion


@pytest.fixture
def prod_with_promotion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prod stack, with a promotion gate of the test's own settings."""
    original = stack_files.stack_config
    promotion = {
        "minRewardGain": 0.05,
        "samples": 12,
        "graders": ["arithmetic-contains"],
        "samplesFile": "stacks/data/arithmetic-validation.jsonl",
        "baseModelId": "us.amazon.nova-lite-v1:0",
        "concurrency": 2,
        "requestsPerSecond": 50,
        "maxTokens": 64,
        "maxFailureShare": 0.5,
    }

    def with_promotion(stack: str, project_dir: Path | None = None, values: Any = None) -> Any:
        raw = stack_files.engine_config(stack, project_dir) if values is None else values
        inference = {**json.loads(raw["rft-env:inference"]), "promotion": promotion}
        changed = stack_files.EngineConfig(
            {**raw, "rft-env:inference": json.dumps(inference)}, raw.secret_keys
        )
        return original(stack, project_dir, changed)

    monkeypatch.setattr(stack_files, "stack_config", with_promotion)


def test_the_promotion_config_gives_the_defaults_and_the_evaluation_deployment(
    prod_with_promotion: None,
    clock: FakeClock,
    runtime: FakeBedrockRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Elsewhere than the project, to see the default --out land in the working directory.
    monkeypatch.chdir(tmp_path)
    control = FakeBedrock(clock, account_id=ACCOUNTS["prod"])
    control.attach_runtime(runtime)
    with control:
        job = complete_job(control, clock, "prod")
        arn = bedrock_client(control).create_custom_model_deployment(
            modelDeploymentName="rft-env-prod-evaluation", modelArn=job["modelArn"]
        )["customModelDeploymentArn"]
        clock.advance(control.deployment_duration)
        runtime.script(arn, answers(trained_right))
        runtime.script("us.amazon.nova-lite-v1:0", answers(base_right))
        argv = ["evaluate", "prod", "--project-dir", str(REPO), "--format", "json"]
        code = main([*argv, "--endpoint-url", control.endpoint_url])
        report = json.loads(capsys.readouterr().out)
    assert code == 0
    # Without --out: evaluations/<stack>/<UTC time>/ in the working directory.
    written = Path(report["files"]["json"])
    assert written.parts[:2] == ("evaluations", "prod") and (tmp_path / written).is_file()
    assert report["candidateSource"] == "evaluation deployment rft-env-prod-evaluation"
    assert [m["modelId"] for m in report["models"]] == ["us.amazon.nova-lite-v1:0", arn]
    assert report["graders"] == ["arithmetic", "arithmetic-contains"]
    assert report["prompts"] == 12
    assert report["settings"] == {
        "samplesFile": str(VALIDATION),
        "samplesSource": "rft-env:inference.promotion.samplesFile",
        "limit": 12,
        "concurrency": 2,
        "requestsPerSecond": 50,
        "maxTokens": 64,
        "maxFailureShare": 0.5,
    }
    assert {c["inferenceConfig"]["maxTokens"] for c in runtime.calls} == {64}
    assert runtime.max_in_flight <= 2


# ---------------------------------------------------------------------------- bad input


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--limit", "0"], "argument --limit: --limit: got '0'; allowed: an integer >= 1"),
        (["--concurrency", "0"], "--concurrency: got '0'; allowed: an integer >= 1"),
        (["--rate", "0"], "--rate: got '0'; allowed: a number above 0"),
        (["--rate", "nan"], "--rate: got 'nan'; allowed: a number above 0"),
        (["--max-failure-share", "1.5"], "--max-failure-share: got '1.5'; allowed: 0 to 1"),
        (["--max-tokens", "x"], "--max-tokens: got 'x'; allowed: an integer >= 1"),
        (["--graders", "judged,"], "--graders: got 'judged,'; allowed: grader names"),
        (
            ["--compare", TRAINED, OTHER, "--model", TRAINED],
            "--compare takes both models: not with --model or --base-model",
        ),
        (
            ["--compare", TRAINED, OTHER, "--base-model", BASE],
            "--compare takes both models: not with --model or --base-model",
        ),
    ],
)
def test_unusable_options_are_usage_errors(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = usage_error(["evaluate", "dev", *extra], capsys)
    assert line.startswith("rftenv evaluate: error: ") and message in line


def test_bad_input_exits_2_naming_what_is_wrong(
    runtime: FakeBedrockRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models_given = ("--model", TRAINED, "--base-model", BASE)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(VALIDATION.read_text().splitlines()[0] + "\n{not json\n")
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases: list[tuple[list[str], str, str]] = [
        (["--graders", "nope"], "dev", "--graders: stack dev has no grader 'nope' (graders: "),
        (["--samples", str(tmp_path / "none.jsonl")], "dev", "--samples "),
        (["--samples", str(broken)], "dev", f"--samples: {broken}: line 2: invalid JSON"),
        (["--out", str(a_file / "sub")], "dev", f"--out {a_file / 'sub'}: cannot create"),
    ]
    for extra, stack, message in cases:
        code = main(
            ["evaluate", stack, *models_given, "--endpoint-url", runtime.endpoint_url, *extra]
        )
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert err.startswith(f"rftenv evaluate {stack}: {message}"), err
        assert len(err.splitlines()) == 1
    assert runtime.calls == []


def test_a_stack_without_held_out_prompts_needs_samples(
    runtime: FakeBedrockRuntime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # prod's validation data is in S3; without its promotion's samplesFile nothing is local.
    original = stack_files.stack_config

    def without_promotion(stack: str, project_dir: Path | None = None, values: Any = None) -> Any:
        raw = stack_files.engine_config(stack, project_dir) if values is None else values
        inference = json.loads(raw["rft-env:inference"])
        inference.pop("promotion", None)
        changed = stack_files.EngineConfig(
            {**raw, "rft-env:inference": json.dumps(inference)}, raw.secret_keys
        )
        return original(stack, project_dir, changed)

    monkeypatch.setattr(stack_files, "stack_config", without_promotion)
    argv = ["evaluate", "prod", "--model", TRAINED, "--base-model", BASE]
    code = main([*argv, "--endpoint-url", runtime.endpoint_url])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        "rftenv evaluate prod: no held-out prompts: stack prod has no rft-env:data.validation.file"
    ), err
    assert err.endswith("; pass --samples FILE\n")
    assert runtime.calls == []


def test_an_unknown_base_model_names_the_option_and_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(naming, "BASE_MODEL_INFERENCE_IDS", {})
    assert main(["evaluate", "dev", "--model", TRAINED]) == 2
    assert capsys.readouterr().err == (
        "rftenv evaluate dev: no Converse id known for base model "
        "amazon.nova-2-lite-v1:0:256k: pass --base-model ID or set "
        "rft-env:inference.promotion.baseModelId\n"
    )


# ---------------------------------------------------------------------------- parts


def test_progress_on_a_terminal_is_one_line_redrawn() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = evaluate.Progress(stream, 7)
    progress.start("trained", 4)
    for attempts in (1, 3, 1, 1):
        progress.reply(0, Reply("7", attempts=attempts))
    progress.finish()
    assert stream.getvalue().count("\n") == 1
    assert stream.getvalue().split("\r")[-1] == (
        "trained  [####################] 4/4 calls, 2 retries\n"
    )


def test_progress_in_a_log_is_at_most_ten_lines() -> None:
    stream = io.StringIO()
    progress = evaluate.Progress(stream, 4)
    progress.start("base", 203)
    for index in range(203):
        progress.reply(
            index, Reply(None, error="ValidationException: no") if index % 2 else Reply("1")
        )
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1] == "base  [####################] 203/203 calls, 0 retries, 101 failed"


def test_the_chart_shows_both_models_rewards_side_by_side() -> None:
    figure = charts.evaluation_figure({"base": [0.0, 0.0, 1.0], "trained": [1.0, 1.0, 1.0]}, "t")
    [axes] = figure.axes
    base, trained = axes.containers
    # Ten bins over [0, 1]: base has two answers in the first, one in the last.
    assert [bar.get_height() for bar in base][::9] == [2, 1]
    assert [bar.get_height() for bar in trained][::9] == [0, 3]
    means = {str(line.get_label()): line.get_xdata()[0] for line in axes.get_lines()}
    assert means == {"base mean 0.333": pytest.approx(1 / 3), "trained mean 1.000": 1.0}


def test_nan_means_are_null_in_json() -> None:
    value = {"mean": float("nan"), "interval": [float("nan"), 1.0]}
    assert json.dumps(evaluate.json_ready(value)) == '{"mean": null, "interval": [null, 1.0]}'


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """`rftenv evaluate ... | head`: the reader has gone before the report is printed."""
    clock = FakeClock(time.time())  # the child's credentials expire on the real clock
    with FakeBedrockRuntime(clock) as fake:
        fake.script(BASE, answers(base_right))
        fake.script(TRAINED, answers(trained_right))
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        child = subprocess.Popen(
            [
                *(sys.executable, "-m", "rft_env.rftenv.cli", "evaluate", "dev"),
                *("--model", TRAINED, "--base-model", BASE, "--limit", "4", "--rate", "100"),
                *("--endpoint-url", fake.endpoint_url, "--out", str(tmp_path / "out")),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            env=env,
        )
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()
        err = child.stderr.read().decode()
        assert child.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert (tmp_path / "out" / "report.json").is_file()  # written before the report is printed
    assert fake.calls_for(TRAINED) == 4


def test_the_defaults_without_a_gate_are_the_gates_defaults() -> None:
    """The command's own defaults (it loads no pydantic at start) are PromotionConfig's."""
    from rft_env.components.config import PromotionConfig

    defaults = {name: field.default for name, field in PromotionConfig.model_fields.items()}
    assert (
        defaults["samples"],
        defaults["concurrency"],
        defaults["requests_per_second"],
        defaults["max_failure_share"],
    ) == (
        evaluate.DEFAULT_LIMIT,
        evaluate.DEFAULT_CONCURRENCY,
        evaluate.DEFAULT_RATE,
        evaluate.DEFAULT_MAX_FAILURE_SHARE,
    )
