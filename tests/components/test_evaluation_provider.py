"""The promotion gate (components.bedrock.evaluation) against one fake endpoint serving the
Bedrock control plane, Converse and SNS Publish, on the fake clock; and the program's wiring
of it between the RFT job and the provisioned throughput, under mocks."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from rft_env.components.bedrock.evaluation import (
    NOT_PROMOTED,
    PROMOTED,
    EvaluationError,
    RftEvaluationProvider,
    subject,
)
from rft_env.components.bedrock.inference import PENDING
from rft_env.components.bedrock.job import RftCustomizationJobProvider
from rft_env.components.bedrock.session import Connection
from rft_env.components.training import inference_status
from rft_env.rftenv import stack_files, synth
from tests.components.bedrock.conftest import completed_job
from tests.conftest import Graph
from tests.fakes import offline
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.bedrock_runtime import FakeBedrockRuntime, request_text
from tests.fakes.clock import FakeClock

BASE = "us.amazon.nova-2-lite-v1:0"
TOPIC = "arn:aws:sns:us-east-1:111122223333:rft-env-dev-notifications"
ARITHMETIC = {"type": "exact_match", "operation": "eq", "answerFrom": "last_line"}
# A second grader that only checks the answer is a number: a guard that never gets worse.
NUMERIC = {"type": "format", "forbiddenPatterns": ["[a-z]"]}
SAMPLES = 30
QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")
Answer = Callable[[dict[str, Any]], str]


@pytest.fixture(autouse=True)
def offline_aws_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, tmp_path: Path
) -> None:
    offline.offline_aws(monkeypatch, tmp_path, clock)


@pytest.fixture
def runtime(fake: FakeBedrock, clock: FakeClock) -> FakeBedrockRuntime:
    """Converse and SNS at the control plane's endpoint; the base model answers every other
    question (a = 1, 3, 5... wrong), so its mean is 0.5."""
    served = FakeBedrockRuntime(clock)
    fake.attach_runtime(served)
    served.script(BASE, answers(lambda a: a % 2 == 0))
    return served


@pytest.fixture
def provider(clock: FakeClock) -> RftEvaluationProvider:
    return RftEvaluationProvider(clock=clock)


@pytest.fixture
def jobs(clock: FakeClock) -> RftCustomizationJobProvider:
    return RftCustomizationJobProvider(clock=clock)


def answers(right: Callable[[int], bool]) -> Answer:
    """A model that answers `What is a + b?` right when `right(a)`, else off by one."""

    def answer(request: dict[str, Any]) -> str:
        a, b = map(int, QUESTION.search(request_text(request)).groups())  # type: ignore[union-attr]
        return str(a + b if right(a) else a + b + 1)

    return answer


def serve(fake: FakeBedrock, runtime: FakeBedrockRuntime, models: dict[str, Answer]) -> None:
    """Every deployment answers as the model it serves does (its ARN is only known once the
    gate has made it)."""

    def answer(request: dict[str, Any]) -> str:
        served = fake.deployments[request["modelId"]]["modelArn"]
        return models[served](request)

    runtime.judge = answer


GOOD = answers(lambda a: True)
BAD = answers(lambda a: a % 5 == 0)


def write_prompts(path: Path, count: int = SAMPLES, offset: int = 10) -> str:
    """`count` held-out arithmetic prompts (as stacks/data/arithmetic-validation.jsonl);
    returns the file's sha256."""
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Reply with the final number only."},
                    {"role": "user", "content": f"What is {a} + {offset}?"},
                ],
                "reference_answer": str(a + offset),
                "id": f"held-out-{a:03d}",
            }
        )
        for a in range(1, count + 1)
    ]
    path.write_text("\n".join(lines) + "\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def props(fake: FakeBedrock, project: Path, model: str, **overrides: Any) -> dict[str, Any]:
    samples = project / "held-out.jsonl"
    sha = write_prompts(samples) if not samples.exists() else _sha(samples)
    values: dict[str, Any] = {
        "connection": {"region": "us-east-1", "endpointUrl": fake.endpoint_url},
        "identity": "rft-env/dev/rft-training-evaluation",
        "modelArn": model,
        "deploymentName": "rft-env-dev-evaluation",
        "keepDeployment": False,
        "baseModelId": BASE,
        "samplesFile": "held-out.jsonl",
        "projectDir": str(project),
        "datasetSha256": sha,
        "samples": SAMPLES,
        "graders": {"arithmetic": ARITHMETIC},
        "primaryGrader": "arithmetic",
        "graderCodeDigests": {},
        "minRewardGain": 0.05,
        "guardGraders": [],
        "concurrency": 4,
        "requestsPerSecond": 5.0,
        "maxTokens": 256,
        "maxFailureShare": 0.05,
        "topicArn": TOPIC,
        "environment": "dev",
        "tags": {"Environment": "dev"},
        "wait": {"timeoutSeconds": 3600, "maxPollSeconds": 60},
        "__provider": "serialized-provider",
    }
    values.update(overrides)
    return values


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


def converse_calls(runtime: FakeBedrockRuntime) -> int:
    return len(runtime.calls)


# ------------------------------------------------------------------------- the gate decides


def test_a_better_model_is_promoted_once_and_its_deployment_removed(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    created = provider.create(props(fake, project, model))
    outs = created.outs
    assert outs["status"] == PROMOTED and outs["promoted"] is True
    assert outs["promotedModelArn"] == model == outs["evaluatedModelArn"]
    summary = outs["summary"]
    assert summary["baselineMean"] == pytest.approx(0.5)
    assert summary["candidateMean"] == pytest.approx(1.0)
    assert summary["gain"] == pytest.approx(0.5)
    assert summary["interval"][0] > 0.05
    assert (summary["wins"], summary["ties"], summary["losses"]) == (15, 15, 0)
    assert summary["sampleCount"] == SAMPLES and summary["pValue"] < 0.001
    assert outs["reason"].startswith("gain meets minRewardGain 0.05: on arithmetic, trained")
    assert "samples" not in outs["report"]  # no per-sample answers in state
    assert outs["datasetSha256"] == _sha(project / "held-out.jsonl")
    # Both models got every prompt, the trained one through its deployment, with maxTokens.
    assert runtime.calls_for(BASE) == SAMPLES and converse_calls(runtime) == 2 * SAMPLES
    assert {c["inferenceConfig"]["maxTokens"] for c in runtime.calls} == {256}
    # One message, naming the verdict and the numbers; the deployment is gone, the model not.
    (published,) = runtime.published
    assert published["TopicArn"] == TOPIC
    assert published["Subject"] == "rft-env dev: trained model promoted"
    assert outs["reason"] in published["Message"] and '"gain": 0.5' in published["Message"]
    assert outs["notification"] and not outs["notification"].startswith("not published")
    assert fake.count("CreateCustomModelDeployment") == 1
    assert fake.deployments == {} and outs["deploymentArn"] == ""
    assert model in fake.custom_models
    json.dumps(outs, allow_nan=False)  # state is JSON: no NaN anywhere


def test_a_worse_model_is_not_promoted_and_the_reason_has_the_numbers(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: BAD})
    outs = provider.create(props(fake, project, model)).outs
    assert outs["status"] == NOT_PROMOTED and outs["promoted"] is False
    assert outs["promotedModelArn"] == ""
    reason = outs["reason"]
    assert reason.startswith("gain below minRewardGain 0.05: on arithmetic, trained 0.200 vs ")
    assert "base 0.500: gain -0.300 (95% CI" in reason and "30 prompts" in reason
    (published,) = runtime.published
    assert published["Subject"] == "rft-env dev: trained model not promoted"
    assert reason in published["Message"]
    assert fake.deployments == {}


def test_a_guard_grader_that_got_worse_blocks_promotion(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    # Right more often, but in words half of the time: the numeric-format guard gets worse.
    wordy = answers(lambda a: True)
    serve(
        fake, runtime, {model: lambda r: wordy(r) + (" apples" if "1" in request_text(r) else "")}
    )
    graders = {"arithmetic": ARITHMETIC, "numeric": NUMERIC}
    outs = provider.create(
        props(fake, project, model, graders=graders, guardGraders=["numeric"], minRewardGain=-1)
    ).outs
    assert outs["status"] == NOT_PROMOTED
    assert "numeric gain" in outs["reason"] and ": worse" in outs["reason"]
    assert outs["summary"]["guards"]["numeric"]["interval"][1] < 0


# ------------------------------------------------------------------------- what re-evaluates


def test_unchanged_inputs_are_not_evaluated_again(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
    tmp_path: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    news = props(fake, project, model)
    created = provider.create(news)
    calls, creates = converse_calls(runtime), fake.count("CreateCustomModelDeployment")
    assert not provider.diff(created.id, created.outs, news).changes
    # Another checkout of the project is no change either.
    elsewhere = {**news, "projectDir": str(tmp_path / "other-checkout")}
    assert not provider.diff(created.id, created.outs, elsewhere).changes
    updated = provider.update(created.id, created.outs, news).outs
    assert converse_calls(runtime) == calls
    assert fake.count("CreateCustomModelDeployment") == creates
    assert len(runtime.published) == 1
    assert {k: updated[k] for k in ("status", "summary", "evaluatedAt", "report")} == {
        k: created.outs[k] for k in ("status", "summary", "evaluatedAt", "report")
    }


def test_a_dataset_change_is_evaluated_again_and_a_stale_hash_refused(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    first = props(fake, project, model)
    created = provider.create(first)
    calls = converse_calls(runtime)
    sha = write_prompts(project / "held-out.jsonl", offset=20)
    second = {**first, "datasetSha256": sha}
    diff = provider.diff(created.id, created.outs, second)
    assert diff.changes and diff.replaces == []
    outs = provider.update(created.id, created.outs, second).outs
    assert converse_calls(runtime) == calls + 2 * SAMPLES
    assert any("+ 20?" in request_text(call) for call in runtime.calls[calls:])
    assert outs["datasetSha256"] == sha and outs["status"] == PROMOTED
    assert len(runtime.published) == 2
    # The file changed after the program hashed it: refused, naming both hashes.
    write_prompts(project / "held-out.jsonl", offset=30)
    with pytest.raises(EvaluationError, match=f"read it with sha256 {sha}"):
        provider.update(created.id, outs, {**second, "samples": 20})
    assert converse_calls(runtime) == calls + 2 * SAMPLES


def test_a_new_threshold_or_fewer_guards_are_decided_again_without_calling_a_model(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    graders = {"arithmetic": ARITHMETIC, "numeric": NUMERIC}
    # The guard's code digest stands for a custom grader's: dropping the guard drops it too.
    first = props(
        fake,
        project,
        model,
        graders=graders,
        guardGraders=["numeric"],
        graderCodeDigests={"numeric": "0" * 64},
    )
    created = provider.create(first)
    assert created.outs["status"] == PROMOTED
    calls, control = converse_calls(runtime), len(fake.calls)

    stricter = {**first, "minRewardGain": 0.9}
    assert provider.diff(created.id, created.outs, stricter).changes
    refused = provider.update(created.id, created.outs, stricter).outs
    assert refused["status"] == NOT_PROMOTED and refused["promotedModelArn"] == ""
    assert refused["reason"].startswith("gain below minRewardGain 0.9: on arithmetic")
    assert refused["evaluatedAt"] == created.outs["evaluatedAt"]

    no_guard = {
        **first,
        "graders": {"arithmetic": ARITHMETIC},
        "guardGraders": [],
        "graderCodeDigests": {},
    }
    again = provider.update(created.id, refused, no_guard).outs
    assert again["status"] == PROMOTED and again["promotedModelArn"] == model
    assert again["summary"]["guards"] == {}
    # No model and no control-plane call; each turned decision is told, as an evaluation is.
    assert converse_calls(runtime) == calls and len(fake.calls) == control
    assert [m["Subject"] for m in runtime.published] == [
        "rft-env dev: trained model promoted",
        "rft-env dev: trained model not promoted",
        "rft-env dev: trained model promoted",
    ]
    # The same decision again (another threshold it still meets) sends nothing.
    lower = {**no_guard, "minRewardGain": 0.0}
    assert provider.update(created.id, again, lower).outs["status"] == PROMOTED
    assert len(runtime.published) == 3


def test_a_new_model_is_evaluated_again(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    bad = completed_job(jobs, fake)["customModelArn"]
    good = completed_job(jobs, fake, revision=2)["customModelArn"]
    serve(fake, runtime, {bad: BAD, good: GOOD})
    first = props(fake, project, bad)
    created = provider.create(first)
    assert created.outs["promotedModelArn"] == ""
    second = {**first, "modelArn": good}
    outs = provider.update(created.id, created.outs, second).outs
    assert outs["status"] == PROMOTED and outs["promotedModelArn"] == good
    assert converse_calls(runtime) == 4 * SAMPLES
    assert fake.deployments == {}


# ------------------------------------------------------------------------- hard conditions


def test_a_throttling_storm_completes_with_the_right_scores_at_the_paced_rate(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    rate, concurrency = 4.0, 4
    # The account allows 2 requests a second, half of what the gate starts with.
    runtime.rate_limit(2.0, burst=2)
    outs = provider.create(
        props(fake, project, model, requestsPerSecond=rate, concurrency=concurrency)
    ).outs
    assert runtime.throttled > 0
    assert outs["status"] == PROMOTED
    assert outs["summary"]["baselineMean"] == pytest.approx(0.5)
    assert outs["summary"]["candidateMean"] == pytest.approx(1.0)
    models = outs["report"]["models"]
    assert [m["failedCalls"] for m in models] == [0, 0]
    assert sum(m["attempts"] for m in models) == len(runtime.calls)
    # Request starts (retries included) never exceed the configured rate: the k-th request
    # comes at least (k - concurrency) / rate seconds after the first (a start is recorded
    # when it arrives, which other workers' pacing can delay by less than one round).
    times = sorted(runtime.call_times)
    for k, moment in enumerate(times):
        assert moment - times[0] >= (k - concurrency) / rate - 1e-9, (k, moment - times[0])


def test_the_pacer_spaces_every_start_by_the_rate_one_worker_at_a_time(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    runtime.rate_limit(1.0, burst=1)
    rate = 3.0
    outs = provider.create(props(fake, project, model, requestsPerSecond=rate, concurrency=1)).outs
    assert runtime.throttled > 0 and outs["status"] == PROMOTED
    # Each model's run is paced on its own (their quotas are their own): within a run, no
    # two starts, retries included, are closer than 1 / rate.
    for model_id in (BASE, outs["report"]["models"][1]["modelId"]):
        times = [
            t
            for c, t in zip(runtime.calls, runtime.call_times, strict=True)
            if c["modelId"] == model_id
        ]
        assert len(times) > SAMPLES  # throttled requests were retried
        assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / rate - 1e-6


def test_a_deployment_that_vanishes_mid_evaluation_fails_it_and_leaves_nothing(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    answered: list[str] = []

    def then_gone(request: dict[str, Any]) -> str:
        answered.append(request["modelId"])
        if len(answered) == 5:  # someone deletes the deployment after five answers
            fake.delete_out_of_band(request["modelId"])
        return GOOD(request)

    runtime.judge = then_gone
    with pytest.raises(EvaluationError) as raised:
        provider.create(props(fake, project, model))
    message = str(raised.value)
    assert "could not complete" in message and "stopped answering" in message
    assert "ResourceNotFoundException" in message and "of 30 prompts" in message
    assert "`pulumi up` will evaluate again" in message
    assert fake.deployments == {} and runtime.published == []
    assert model in fake.custom_models


def test_too_many_failed_calls_fail_the_evaluation_with_the_numbers(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    runtime.inject("AccessDeniedException", times=3, model=BASE)
    with pytest.raises(EvaluationError) as raised:
        provider.create(props(fake, project, model))
    message = str(raised.value)
    assert "10.0% of a model's prompts have no usable reward" in message
    assert "above maxFailureShare 5.0%" in message
    assert "base (us.amazon.nova-2-lite-v1:0): 3 of 30 calls failed, 0 answers ungradable" in (
        message
    )
    assert "AccessDeniedException" in message and "will evaluate again" in message
    assert fake.deployments == {} and runtime.published == []


# ------------------------------------------------------------------------- the deployment


def test_a_kept_deployment_is_reused_swapped_removed_on_request_and_by_delete(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    first_model = completed_job(jobs, fake)["customModelArn"]
    second_model = completed_job(jobs, fake, revision=2)["customModelArn"]
    serve(fake, runtime, {first_model: GOOD, second_model: GOOD})
    kept = props(fake, project, first_model, keepDeployment=True)
    created = provider.create(kept)
    arn = created.outs["deploymentArn"]
    assert list(fake.deployments) == [arn]
    assert fake.deployments[arn]["modelArn"] == first_model
    assert provider.read(created.id, created.outs).outs["deploymentArn"] == arn

    # A new model is swapped into the same deployment, in place.
    swapped = provider.update(created.id, created.outs, {**kept, "modelArn": second_model}).outs
    assert swapped["deploymentArn"] == arn and swapped["promotedModelArn"] == second_model
    assert fake.deployments[arn]["modelArn"] == second_model
    assert fake.count("CreateCustomModelDeployment") == 1
    assert fake.count("UpdateCustomModelDeployment") == 1
    assert first_model in fake.custom_models  # the gate never deletes a model

    # keepDeployment true -> false: removed, without calling a model.
    calls = converse_calls(runtime)
    released = provider.update(
        created.id, swapped, {**kept, "modelArn": second_model, "keepDeployment": False}
    ).outs
    assert released["deploymentArn"] == "" and fake.deployments == {}
    assert converse_calls(runtime) == calls

    # And delete removes a kept one.
    again = provider.create({**kept, "modelArn": second_model})
    assert again.outs["deploymentArn"] in fake.deployments
    provider.delete(again.id, again.outs)
    assert fake.deployments == {}
    provider.delete(again.id, again.outs)  # a second delete finds nothing, quietly


def test_a_kept_deployment_deleted_out_of_band_reads_as_none(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    created = provider.create(props(fake, project, model, keepDeployment=True))
    fake.delete_out_of_band(created.outs["deploymentArn"])
    read = provider.read(created.id, created.outs)
    assert read.id == created.id and read.outs["deploymentArn"] == ""
    assert read.outs["status"] == PROMOTED


def test_a_failed_evaluation_removes_even_a_deployment_it_was_to_keep(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    """Nothing is stored for a failed evaluation, so no state would know a kept deployment."""
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    runtime.inject("AccessDeniedException", times=30, model=BASE)
    with pytest.raises(EvaluationError):
        provider.create(props(fake, project, model, keepDeployment=True))
    assert fake.count("CreateCustomModelDeployment") == 1
    assert fake.deployments == {}


def test_a_leftover_deployment_of_an_interrupted_run_is_adopted(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
    clock: FakeClock,
) -> None:
    """A run killed after its deployment was created leaves it in no state: the next run
    finds it by name and evaluates through it, instead of failing on the taken name."""
    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    kept = props(fake, project, model, keepDeployment=True)
    bedrock = Connection.from_props(kept).client(clock=clock)
    leftover = bedrock.create_custom_model_deployment(
        modelDeploymentName=kept["deploymentName"], modelArn=model
    )["customModelDeploymentArn"]
    outs = provider.create(kept).outs
    assert outs["status"] == PROMOTED and outs["deploymentArn"] == leftover
    assert fake.count("CreateCustomModelDeployment") == 1


# ------------------------------------------------------------------------- pending, check


def test_pending_while_the_job_has_no_model_then_evaluated_once_it_has(
    fake: FakeBedrock,
    runtime: FakeBedrockRuntime,
    provider: RftEvaluationProvider,
    jobs: RftCustomizationJobProvider,
    project: Path,
) -> None:
    pending = props(fake, project, "")
    created = provider.create(pending)
    assert created.outs["status"] == PENDING and created.outs["promotedModelArn"] == ""
    assert created.outs["promoted"] is False
    assert fake.calls == [] and runtime.calls == [] and runtime.published == []
    assert provider.read(created.id, created.outs).outs == created.outs
    provider.delete(created.id, created.outs)
    assert fake.calls == []

    model = completed_job(jobs, fake)["customModelArn"]
    serve(fake, runtime, {model: GOOD})
    news = {**pending, "modelArn": model}
    assert provider.diff(created.id, created.outs, news).changes
    outs = provider.update(created.id, created.outs, news).outs
    assert outs["status"] == PROMOTED and outs["promotedModelArn"] == model
    # A retrain whose job has no model yet: pending again, and nothing promoted.
    again = provider.update(created.id, outs, pending).outs
    assert again["status"] == PENDING and again["promotedModelArn"] == ""


def test_check_names_the_bad_inputs(provider: RftEvaluationProvider, project: Path) -> None:
    fake_endpoint = type("Endpoint", (), {"endpoint_url": "http://127.0.0.1:1"})()
    bad = props(
        fake_endpoint,  # type: ignore[arg-type]
        project,
        "arn:aws:bedrock:us-east-1:111122223333:custom-model/x",
        samples=0,
        primaryGrader="missing",
        guardGraders=["also-missing"],
        deploymentName="bad--name",
    )
    failures = {f.property: f.reason for f in provider.check({}, bad).failures}
    assert set(failures) >= {"samples", "primaryGrader", "guardGraders", "deploymentName"}
    good = props(fake_endpoint, project, "")  # type: ignore[arg-type]
    assert provider.check({}, good).failures == []


def test_the_provider_pickles_by_reference() -> None:
    provider = RftEvaluationProvider()
    assert vars(provider) == {"clock": None}
    raw = base64.b64decode(serialize_provider(provider))
    assert len(raw) < 500 and b"rft_env.components.bedrock.evaluation" in raw


def test_the_subject_fits_sns() -> None:
    assert subject("dev", True) == "rft-env dev: trained model promoted"
    long = subject("é" + "x" * 200, False)
    assert len(long) < 100 and long.isascii() and long.endswith("trained model not promoted")


# ------------------------------------------------------------------------- the program


class GateMocks(synth.SynthMocks):
    """SynthMocks, plus the gate: a model is promoted (the program's view of a pass)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ == "pulumi-python:dynamic/bedrock:RftEvaluation":
            model = args.inputs.get("modelArn") or ""
            state = {
                **args.inputs,
                "status": PROMOTED if model else PENDING,
                "promoted": bool(model),
                "promotedModelArn": model,
                "reason": "promoted in the mocks",
                "summary": {"gain": 0.5},
                "notification": "",
            }
            return f"evaluation-{args.name}", state
        return super().new_resource(args)


def promotion_config(**promotion: Any) -> dict[str, str]:
    values = stack_files.engine_config("dev")
    values["rft-env:inference"] = json.dumps(
        {"mode": "provisioned", "promotion": {"minRewardGain": 0.05, **promotion}}
    )
    job = json.loads(values["rft-env:job"])
    values["rft-env:job"] = json.dumps({**job, "wait": True})
    return values


@pytest.fixture
def gate_mocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(synth, "SynthMocks", GateMocks)
    yield


EVALUATION = "pulumi-python:dynamic/bedrock:RftEvaluation"
THROUGHPUT = "pulumi-python:dynamic/bedrock:ProvisionedThroughput"
JOB = "pulumi-python:dynamic/bedrock:RftCustomizationJob"


def test_the_program_puts_the_gate_between_the_job_and_the_throughput(gate_mocks: None) -> None:
    graph = Graph(synth.synthesize("dev", config=promotion_config(samples=20, graders=["judged"])))
    (evaluation,) = graph.of_type(EVALUATION)
    (throughput,) = graph.of_type(THROUGHPUT)
    (job,) = graph.of_type(JOB)
    assert evaluation["propertyDependencies"]["modelArn"] == [job["urn"]]
    assert throughput["propertyDependencies"]["modelId"] == [evaluation["urn"]]
    assert throughput["inputs"]["modelId"] == job["outputs"]["customModelArn"]
    inputs = evaluation["inputs"]
    assert inputs["primaryGrader"] == "arithmetic"
    assert set(inputs["graders"]) == {"arithmetic", "judged"}
    assert inputs["guardGraders"] == ["judged"]
    assert inputs["samplesFile"] == "stacks/data/arithmetic-validation.jsonl"
    data = Path(inputs["projectDir"]) / inputs["samplesFile"]
    assert inputs["datasetSha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert inputs["baseModelId"] == BASE and inputs["deploymentName"] == "rft-env-dev-evaluation"
    assert (
        inputs["topicArn"]
        == graph.one("aws:sns/topic:Topic", "rft-observability-topic")["outputs"]["arn"]
    )
    assert evaluation["parent"] == graph.one("rftenv:bedrock:RftTraining", "rft-training")["urn"]
    output = graph.outputs["evaluation"]
    assert output["promoted"] is True and output["gain"] == 0.5


def test_without_promotion_the_job_feeds_the_throughput_directly() -> None:
    values = stack_files.engine_config("dev")
    values["rft-env:inference"] = json.dumps({"mode": "provisioned"})
    graph = Graph(synth.synthesize("dev", config=values))
    assert graph.of_type(EVALUATION) == []
    (throughput,) = graph.of_type(THROUGHPUT)
    (job,) = graph.of_type(JOB)
    assert throughput["propertyDependencies"]["modelId"] == [job["urn"]]
    assert "evaluation" not in graph.outputs


def test_inference_status_says_why_nothing_was_created() -> None:
    job = "arn:aws:bedrock:us-east-1:111122223333:model-customization-job/m/abc"
    pt = "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abc"
    old = "arn:aws:bedrock:us-east-1:111122223333:custom-model/m/old"
    why = "gain below minRewardGain 0.05: on arithmetic, trained 0.200 vs base 0.500"
    gate = (NOT_PROMOTED, why)
    fresh = inference_status("provisioned", job, "Completed", PENDING, "", "", False, gate=gate)
    assert fresh == f"not promoted: {why}; no provisioned throughput was created"
    kept = inference_status("provisioned", job, "Completed", "InService", pt, old, True, gate=gate)
    assert kept == f"not promoted: {why}; {pt} keeps serving {old}"
    passed = (PROMOTED, "gain meets minRewardGain 0.05")
    assert inference_status(
        "provisioned", job, "Completed", "InService", pt, old, False, gate=passed
    ) == (f"InService: {pt}")
