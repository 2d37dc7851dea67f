"""Lifecycles through the real engine: state and diffs across runs, replacement, adoption
after a crash, refresh, protection and teardown."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rft_env.components.bedrock.job import RftCustomizationJobProvider
from tests import standin_aws
from tests.components.bedrock.conftest import completed_job
from tests.engine.conftest import MakeEngine
from tests.engine.harness import COMMAND_TIMEOUT, JOB_SECONDS, PROGRAMS, Engine, kill_session
from tests.engine.test_stacks import account_of
from tests.fakes import offline

pytestmark = pytest.mark.engine


def trained_model(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    """A custom model in the engine's fake, trained by a job the provider ran in-process."""
    offline.offline_aws(monkeypatch, engine.root)
    fake = engine.fake
    return completed_job(RftCustomizationJobProvider(clock=fake.clock), fake)["customModelArn"]


def test_renaming_a_provisioned_throughput_updates_it_in_place(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(program=PROGRAMS / "throughput")
    fake = engine.fake
    fake.pt_duration = fake.pt_update_duration = 0.0
    model = trained_model(engine, monkeypatch)
    engine.init("pt")
    engine.config_set("pt", "name", "rft-env-engine-pt")
    engine.config_set("pt", "modelArn", model)
    engine.up("pt")
    first = engine.outputs("pt")
    assert first["status"] == "InService" and first["modelArn"] == model

    engine.config_set("pt", "name", "rft-env-engine-pt-renamed")
    preview = engine.preview("pt")
    assert "~ 1 to update" in preview.stdout and "replace" not in preview.stdout
    engine.up("pt")
    second = engine.outputs("pt")
    assert second["provisionedModelArn"] == first["provisionedModelArn"]
    assert [pt["provisionedModelName"] for pt in fake.throughputs.values()] == [
        "rft-env-engine-pt-renamed"
    ]
    assert fake.count("CreateProvisionedModelThroughput") == 1
    assert fake.count("UpdateProvisionedModelThroughput") == 1


def test_an_up_killed_right_after_the_job_was_requested_adopts_that_job_on_rerun(
    make_engine: MakeEngine,
) -> None:
    """`pulumi up` dies (SIGKILL, every process) the moment Bedrock has accepted
    CreateModelCustomizationJob, before the answer arrives. The rerun must adopt that job:
    one paid job, even with the client-token window already past."""
    engine = make_engine()
    fake = engine.fake
    engine.init("dev")
    running: list[subprocess.Popen[str]] = []
    killed: list[int] = []

    def crash() -> None:
        killed.extend(kill_session(running[0]))

    fake.after_apply["CreateModelCustomizationJob"] = crash
    running.append(engine.start("up", "--yes", "--skip-preview", stack="dev"))
    output, _ = running[0].communicate(timeout=COMMAND_TIMEOUT)
    assert running[0].returncode == -signal.SIGKILL, output
    assert len(killed) >= 3  # the CLI, the language host, the plugins
    (job,) = fake.jobs.values()
    del fake.after_apply["CreateModelCustomizationJob"]
    # The repeated request is not a no-op any more: the name is taken.
    fake.idempotency_window = 0.0

    locked = engine.up("dev", check=False)
    assert locked.returncode != 0 and "locked" in locked.stderr
    # What a user does after a crash: remove the dead update's lock, then run again.
    engine.pulumi("cancel", "--yes", stack="dev")
    rerun = engine.up("dev")
    assert "interrupted while creating" in rerun.stdout
    assert list(fake.jobs) == [job["jobArn"]]
    assert engine.outputs("dev")["jobArn"] == job["jobArn"]
    assert fake.count("CreateModelCustomizationJob") == 2


def test_refresh_then_retrain_inference_follows_the_job(make_engine: MakeEngine) -> None:
    """dev with on-demand inference, as a user runs it:
    1. `pulumi up`: the job runs, inference waits (no deployment yet);
    2. the job completes; `pulumi refresh` + `pulumi up`, with no config change, deploy it;
    3. a hyperparameter changes: the job is replaced under a new name, and the deployment
       keeps serving the old model, in place, until the new job completes;
    4. `pulumi up --refresh` after that swaps the new model in, in place."""
    engine = make_engine()
    fake = engine.fake
    engine.init("dev")
    engine.config_set("dev", "rft-env:inference.mode", "on_demand", "--path")

    engine.up("dev")
    first = engine.outputs("dev")
    assert first["jobStatus"] == "InProgress" and first["inferenceArn"] == ""
    assert first["inferenceStatus"].startswith("pending")
    assert fake.deployments == {}

    fake.clock.advance(JOB_SECONDS)
    engine.refresh("dev")
    # Refresh reads the resources (stack outputs change only with the next `up`).
    (job,) = [r for r in engine.resources("dev") if r["type"].endswith("RftCustomizationJob")]
    assert job["outputs"]["status"] == "Completed" and job["outputs"]["customModelArn"]
    engine.up("dev")
    deployed = engine.outputs("dev")
    first_model = deployed["customModelArn"]
    (deployment,) = fake.deployments.values()
    assert deployed["inferenceArn"] == deployment["customModelDeploymentArn"]
    assert deployment["modelArn"] == first_model and deployment["status"] == "Active"

    engine.config_set("dev", "rft-env:job.hyperparameters.epochCount", "2", "--path")
    preview = engine.preview("dev")
    assert "+-" in preview.stdout and "rft-training-job" in preview.stdout
    engine.up("dev")
    retraining = engine.outputs("dev")
    assert retraining["jobName"] != deployed["jobName"]
    assert retraining["jobStatus"] == "InProgress"
    assert retraining["inferenceArn"] == deployed["inferenceArn"]
    assert fake.deployments[deployed["inferenceArn"]]["modelArn"] == first_model

    fake.clock.advance(JOB_SECONDS)
    engine.up("dev", "--refresh")
    swapped = engine.outputs("dev")
    assert swapped["jobStatus"] == "Completed" and swapped["customModelArn"] != first_model
    assert swapped["inferenceArn"] == deployed["inferenceArn"]
    assert fake.deployments[deployed["inferenceArn"]]["modelArn"] == swapped["customModelArn"]
    assert fake.count("CreateCustomModelDeployment") == 1
    assert fake.count("CreateModelCustomizationJob") == 2


def deploy_with_a_trained_model(engine: Engine, stack: str) -> dict[str, Any]:
    """`pulumi up`, the job completes, `pulumi up --refresh`: inference now serves the model.
    Returns the stack outputs."""
    engine.up(stack)
    engine.fake.clock.advance(JOB_SECONDS)
    engine.up(stack, "--refresh")
    return engine.outputs(stack)


def test_a_committed_throughput_cannot_be_destroyed(make_engine: MakeEngine) -> None:
    engine = make_engine()
    fake = engine.fake
    engine.init("dev")
    engine.config_set("dev", "rft-env:inference.mode", "provisioned", "--path")
    engine.config_set("dev", "rft-env:inference.commitment", "OneMonth", "--path")
    outputs = deploy_with_a_trained_model(engine, "dev")
    (throughput,) = fake.throughputs.values()
    assert outputs["inferenceArn"] == throughput["provisionedModelArn"]
    assert throughput["commitmentDuration"] == "OneMonth"

    destroy = engine.destroy("dev", check=False)
    assert destroy.returncode != 0
    assert "protected" in destroy.stdout + destroy.stderr
    assert "rft-training-throughput" in destroy.stdout + destroy.stderr
    assert list(fake.throughputs) == [throughput["provisionedModelArn"]]
    assert fake.count("DeleteProvisionedModelThroughput") == 0


def test_destroy_deletes_in_a_safe_order_and_leaves_only_what_is_retained(
    make_engine: MakeEngine,
) -> None:
    """prod-b (production, on-demand inference), torn down as the README says: unprotect,
    then destroy. Inference and the job go before the role, key, grader and buckets they
    use; what production retains on purpose (the job with its model, the key) stays."""
    stack = "prod-b"
    engine = make_engine(account_of(stack))
    fake = engine.fake
    engine.init(stack)
    outputs = deploy_with_a_trained_model(engine, stack)
    model = outputs["customModelArn"]
    assert model and outputs["inferenceArn"] in fake.deployments

    engine.pulumi("state", "unprotect", "--all", "--yes", stack=stack)
    events = engine.root / "destroy-events.jsonl"
    engine.destroy(stack, "--event-log", str(events))

    deleted = deletions_in_order(events)
    first_deleted = {urn.rsplit("::", 1)[1]: index for index, urn in enumerate(deleted)}
    for user in ("rft-training-deployment",):
        for used in (
            "rft-customization-role",
            "rft-grader-arithmetic-function",
            "rft-storage-data",
        ):
            assert first_deleted[user] < first_deleted[used], (user, used, deleted)
    assert fake.deployments == {}
    assert list(fake.custom_models) == [model]  # production retains models
    cloud = standin_aws.load_cloud(engine.root / "aws-cloud.json")
    assert [r.type for r in cloud.resources] == ["aws:kms/key:Key"]
    assert engine.resources(stack) == []


# What the job and inference use while they exist: deleted only after them.
USED_BY_BEDROCK = (
    "rft-customization-role",
    "rft-customization-policy",
    "rft-grader-arithmetic-function",
    "rft-storage-data",
    "rft-storage-output",
    "rft-kms-key",
)


def deletions_in_order(event_log: Path) -> list[str]:
    """URNs of the resources an engine event log shows deleted, in the order they were."""
    urns = []
    for line in event_log.read_text().splitlines():
        event = json.loads(line).get("resOutputsEvent")
        if event and event["metadata"]["op"] in ("delete", "discard"):
            urns.append(event["metadata"]["urn"])
    return urns
