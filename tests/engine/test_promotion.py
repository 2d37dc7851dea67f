"""The promotion gate through the real engine: a trained model that does worse than its
base model gets no provisioned throughput; a retrain that does better gets one; a new
threshold is decided again from state without calling a model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.engine.conftest import MakeEngine
from tests.engine.harness import Engine
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.bedrock_runtime import FakeBedrockRuntime, request_text

pytestmark = pytest.mark.engine

STACK = "dev"
BASE = "us.amazon.nova-2-lite-v1:0"  # nova-2-lite's Converse id (naming.base_inference_id)
SAMPLES = 20
Answer = Callable[[dict[str, Any]], str]


def references(engine: Engine) -> dict[str, str]:
    """The dev stack's held-out prompts (its validation file): question -> reference."""
    path = engine.project / "stacks" / "data" / "arithmetic-validation.jsonl"
    found = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        found[record["messages"][-1]["content"]] = record["reference_answer"]
    return found


def model(references: dict[str, str], right_every: int) -> Answer:
    """Answers the n-th question (in file order) right when n % right_every == 0."""
    order = {question: index for index, question in enumerate(references)}

    def answer(request: dict[str, Any]) -> str:
        question = request_text(request)
        reference = references[question]
        return reference if order[question] % right_every == 0 else reference + "1"

    return answer


def serve(fake: FakeBedrock, runtime: FakeBedrockRuntime, refs: dict[str, str]) -> None:
    """The base model is right every other time; the first trained model only every fifth
    time, every later one always. A deployment answers as the model it serves."""
    runtime.script(BASE, model(refs, 2))
    bad, good = model(refs, 5), model(refs, 1)

    def by_served_model(request: dict[str, Any]) -> str:
        served = fake.deployments[request["modelId"]]["modelArn"]
        first = next(iter(fake.custom_models))
        return (bad if served == first else good)(request)

    runtime.judge = by_served_model


# `config set --path` stores only integers and booleans as such: a fraction needs its type.
FLOAT_TYPED = {
    "rft-env:inference.promotion.minRewardGain": ("--type", "float"),
}


def configure(engine: Engine) -> None:
    engine.init(STACK)
    for key, value in {
        "rft-env:job.wait": "true",
        "rft-env:inference.mode": "provisioned",
        "rft-env:inference.promotion.minRewardGain": "0.05",
        "rft-env:inference.promotion.samples": str(SAMPLES),
        # Real-clock pacing in the engine's provider process: keep it quick.
        "rft-env:inference.promotion.requestsPerSecond": "50",
    }.items():
        engine.config_set(STACK, key, value, "--path", *FLOAT_TYPED.get(key, ()))


def test_only_a_model_that_beats_its_base_gets_provisioned_throughput(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    fake = engine.fake
    # The job completes at its first poll, so one `pulumi up` trains and evaluates.
    fake.job_duration = 0.0
    runtime = FakeBedrockRuntime(fake.clock)
    fake.attach_runtime(runtime)
    serve(fake, runtime, references(engine))
    configure(engine)

    # 1. The first model does worse than its base: no throughput is created.
    engine.up(STACK)
    first = engine.outputs(STACK)
    assert first["jobStatus"] == "Completed" and first["customModelArn"]
    status = first["inferenceStatus"]
    assert status.startswith("not promoted: gain below minRewardGain 0.05: on arithmetic, ")
    assert "trained 0.200 vs base 0.500: gain -0.300" in status
    assert status.endswith("no provisioned throughput was created")
    assert first["inferenceArn"] == "" and fake.throughputs == {}
    evaluation = first["evaluation"]
    assert evaluation["promoted"] is False and evaluation["sampleCount"] == SAMPLES
    assert evaluation["gain"] == pytest.approx(-0.3)
    assert runtime.calls_for(BASE) == SAMPLES and len(runtime.calls) == 2 * SAMPLES
    (message,) = runtime.published
    assert message["Subject"] == "rft-env dev: trained model not promoted"
    assert message["TopicArn"] == first["notificationTopicArn"]
    assert evaluation["reason"] in message["Message"]
    assert fake.deployments == {}  # the evaluation deployment was removed

    # 2. A retrain does better: the throughput is created, serving the new model.
    engine.config_set(STACK, "rft-env:job.revision", "2", "--path")
    engine.up(STACK)
    second = engine.outputs(STACK)
    new_model = second["customModelArn"]
    assert new_model and new_model != first["customModelArn"]
    (throughput,) = fake.throughputs.values()
    assert throughput["modelArn"] == new_model and throughput["status"] == "InService"
    assert second["inferenceArn"] == throughput["provisionedModelArn"]
    assert second["inferenceStatus"] == f"InService: {throughput['provisionedModelArn']}"
    assert second["evaluation"]["promoted"] is True
    assert second["evaluation"]["gain"] == pytest.approx(0.5)
    assert len(runtime.calls) == 4 * SAMPLES
    assert [m["Subject"] for m in runtime.published] == [
        "rft-env dev: trained model not promoted",
        "rft-env dev: trained model promoted",
    ]
    assert fake.deployments == {}
    # The rejected model went with its job; the promoted one is served.
    assert list(fake.custom_models) == [new_model]

    # 3. Nothing changed: nothing is evaluated again.
    engine.up(STACK)
    assert len(runtime.calls) == 4 * SAMPLES and len(runtime.published) == 2

    # 4. A stricter threshold is decided again from state, calling no model: the throughput
    # keeps serving the model it has, the status says why it is not promoted now, and the
    # topic hears of the turned decision.
    engine.config_set(
        STACK, "rft-env:inference.promotion.minRewardGain", "0.9", "--path", "--type", "float"
    )
    engine.up(STACK)
    stricter = engine.outputs(STACK)
    assert len(runtime.calls) == 4 * SAMPLES
    assert runtime.published[-1]["Subject"] == "rft-env dev: trained model not promoted"
    assert len(runtime.published) == 3
    assert stricter["evaluation"]["promoted"] is False
    assert stricter["inferenceStatus"].startswith("not promoted: gain below minRewardGain 0.9")
    assert stricter["inferenceStatus"].endswith(
        f"{throughput['provisionedModelArn']} keeps serving {new_model}"
    )
    assert [pt["modelArn"] for pt in fake.throughputs.values()] == [new_model]
    assert fake.count("CreateProvisionedModelThroughput") == 1
