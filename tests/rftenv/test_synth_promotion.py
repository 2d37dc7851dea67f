"""`rftenv synth` of a stack with a promotion gate: what `pulumi up` would do before any
evaluation can run. The gate never claims a decision offline, and the throughput behind it
stays a placeholder."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rft_env.components.bedrock.evaluation import (
    NOT_PROMOTED,
    OUTPUT_KEYS,
    PROMOTED,
    RftEvaluationProvider,
)
from rft_env.components.bedrock.inference import PENDING
from rft_env.rftenv import stack_files, synth
from tests.conftest import Graph

GATE = "pulumi-python:dynamic/bedrock:RftEvaluation"
JOB = "pulumi-python:dynamic/bedrock:RftCustomizationJob"
THROUGHPUT = "pulumi-python:dynamic/bedrock:ProvisionedThroughput"
TRAINING = "rftenv:bedrock:RftTraining"
# prod reads its validation data from S3: the gate's held-out prompts are a project file.
PROMOTION = {
    "minRewardGain": 0.05,
    "samples": 50,
    "graders": ["arithmetic-contains"],
    "samplesFile": "stacks/data/arithmetic-validation.jsonl",
}


def prod_config(promotion: dict[str, Any] | None, *, job_waits: bool = False) -> dict[str, str]:
    """prod's engine config (provisioned) with this promotion gate (None: none, whatever
    the stack file has); `job_waits` makes the mocked job Completed with a model (the mocks
    give a model to a waited-for job only)."""
    values = stack_files.engine_config("prod")
    inference = json.loads(values["rft-env:inference"])
    assert inference["mode"] == "provisioned"
    inference.pop("promotion", None)
    if promotion is not None:
        inference["promotion"] = promotion
    values["rft-env:inference"] = json.dumps(inference)
    job = json.loads(values["rft-env:job"])
    values["rft-env:job"] = json.dumps({**job, "wait": job_waits})
    return values


@pytest.fixture(scope="module")
def pending() -> Graph:
    return Graph(synth.synthesize("prod", config=prod_config(PROMOTION)))


@pytest.fixture(scope="module")
def trained() -> Graph:
    return Graph(synth.synthesize("prod", config=prod_config(PROMOTION, job_waits=True)))


def _gate(graph: Graph) -> dict[str, Any]:
    (gate,) = graph.of_type(GATE)
    return gate


def _throughput_is_a_placeholder(graph: Graph, gate: dict[str, Any]) -> None:
    (throughput,) = graph.of_type(THROUGHPUT)
    # The throughput's model is the gate's promotedModelArn, which is "".
    assert throughput["inputs"]["modelId"] == ""
    assert gate["urn"] in throughput["propertyDependencies"]["modelId"]
    assert throughput["outputs"]["status"] == PENDING
    assert throughput["outputs"]["provisionedModelArn"] == ""
    assert throughput["id"].startswith("pending-")
    assert graph.outputs["inferenceArn"] == ""


def test_the_gate_sits_in_the_training_component_between_job_and_throughput(
    pending: Graph,
) -> None:
    gate = _gate(pending)
    parent = pending.by_urn[gate["parent"]]
    assert parent["type"] == TRAINING
    (job,) = pending.of_type(JOB)
    assert job["parent"] == gate["parent"]
    # The gate evaluates the job's model, on the prompts and graders of the config.
    assert job["urn"] in gate["propertyDependencies"]["modelArn"]
    assert gate["inputs"]["samplesFile"] == PROMOTION["samplesFile"]
    assert gate["inputs"]["guardGraders"] == ["arithmetic-contains"]
    assert gate["inputs"]["baseModelId"] == "us.amazon.nova-2-lite-v1:0"


def test_without_a_model_the_gate_is_pending_as_the_provider_reports_it(pending: Graph) -> None:
    (job,) = pending.of_type(JOB)
    assert job["outputs"]["status"] == "InProgress" and job["outputs"]["customModelArn"] == ""
    gate = _gate(pending)
    outputs = gate["outputs"]
    assert gate["inputs"]["modelArn"] == ""
    assert outputs["status"] == PENDING and outputs["promoted"] is False
    assert outputs["promotedModelArn"] == ""
    assert "no model yet" in outputs["reason"]
    # Exactly what the provider's create stores while the job has no model (it calls
    # nothing then), id included.
    real = RftEvaluationProvider().create(dict(gate["inputs"]))
    assert gate["id"] == real.id
    assert {key: outputs.get(key) for key in OUTPUT_KEYS} == {
        key: real.outs[key] for key in OUTPUT_KEYS
    }
    _throughput_is_a_placeholder(pending, gate)


def test_pending_stack_outputs_read_as_waiting_for_the_job(pending: Graph) -> None:
    status = pending.outputs["inferenceStatus"]
    assert status.startswith("pending: provisioned inference waits for RFT job")
    assert "(status InProgress)" in status
    assert pending.outputs["evaluation"] == {
        "status": PENDING,
        "promoted": False,
        "reason": "the RFT job has no model yet",
        "notification": "",
    }


def test_a_trained_model_is_not_evaluated_offline(trained: Graph) -> None:
    (job,) = trained.of_type(JOB)
    model = job["outputs"]["customModelArn"]
    assert job["outputs"]["status"] == "Completed" and model
    gate = _gate(trained)
    assert gate["inputs"]["modelArn"] == model
    outputs = gate["outputs"]
    # Every output key of the provider, none of them a decision or an invented score.
    assert set(OUTPUT_KEYS) <= set(outputs)
    assert outputs["status"] == synth.NOT_EVALUATED
    assert outputs["status"] not in (PROMOTED, NOT_PROMOTED, PENDING)
    assert outputs["promoted"] is False and outputs["promotedModelArn"] == ""
    assert outputs["reason"].startswith("not evaluated yet")
    assert "us.amazon.nova-2-lite-v1:0 on 50 held-out prompts" in outputs["reason"]
    for key in ("summary", "report", "evaluatedGraders"):
        assert outputs[key] is None, key
    for key in ("evaluatedModelArn", "deploymentArn", "evaluatedAt", "notification"):
        assert outputs[key] == "", key
    _throughput_is_a_placeholder(trained, gate)


def test_trained_stack_outputs_claim_no_promotion(trained: Graph) -> None:
    evaluation = trained.outputs["evaluation"]
    assert evaluation["status"] == synth.NOT_EVALUATED and evaluation["promoted"] is False
    assert evaluation["reason"].startswith("not evaluated yet")
    assert set(evaluation) == {"status", "promoted", "reason", "notification"}
    status = trained.outputs["inferenceStatus"]
    # The throughput is not created, and the status says what it waits for.
    assert status == (
        f"pending: provisioned inference waits for the promotion gate: {evaluation['reason']}"
    )


def test_without_promotion_there_is_no_gate() -> None:
    graph = Graph(synth.synthesize("prod", config=prod_config(None)))
    assert graph.of_type(GATE) == []
    assert "evaluation" not in graph.outputs
    # The throughput takes the job's model directly.
    (throughput,) = graph.of_type(THROUGHPUT)
    (job,) = graph.of_type(JOB)
    assert throughput["propertyDependencies"]["modelId"] == [job["urn"]]


def test_an_example_stack_has_a_gate_exactly_with_promotion(graph: Graph) -> None:
    has_promotion = graph.config.inference.promotion is not None
    assert bool(graph.of_type(GATE)) is has_promotion
    assert ("evaluation" in graph.outputs) is has_promotion
