"""RftCustomizationJobProvider against the fake control plane."""

from __future__ import annotations

import base64
import math

import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

from rft_env.components.bedrock.common import ModelInUseError
from rft_env.components.bedrock.inference import (
    CustomModelDeploymentProvider,
    ProvisionedThroughputProvider,
)
from rft_env.components.bedrock.job import (
    JobFailedError,
    RftCustomizationJobProvider,
    create_request,
    job_identity,
)
from rft_env.components.bedrock.waiting import WaitTimeout
from tests.components.bedrock.conftest import completed_job, inference_props, job_props
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock


# --- check ----------------------------------------------------------------------------------
def test_check_reports_every_bad_field_with_the_api_range(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    props = job_props(fake)
    props["hyperParameters"] = {**props["hyperParameters"], "epochCount": 100, "batchSize": 8}
    props["hyperParameters"]["reasoningEffort"] = "extreme"
    props["graderArn"] = "arn:aws:lambda:us-east-1:111122223333:layer:x"
    failures = {f.property: f.reason for f in jobs.check({}, props).failures}
    assert {k: v for k, v in failures.items() if k != "graderArn"} == {
        "hyperParameters.epochCount": "got 100; allowed: an integer from 1 to 50",
        "hyperParameters.batchSize": "got 8; allowed: an integer from 16 to 512",
        "hyperParameters.reasoningEffort": "got \"extreme\"; allowed: 'low', 'medium' or 'high'",
    }
    # The grader ARN is judged in the request, by the service model's pattern.
    assert failures["graderArn"].startswith(
        'got "arn:aws:lambda:us-east-1:111122223333:layer:x"; does not match the pattern: '
        "CreateModelCustomizationJob customizationConfig.rftConfig.graderConfig.lambdaGrader"
        ".lambdaArn accepts 1-512 characters matching `arn:(aws[a-zA-Z-]*)?:lambda:"
    )
    assert jobs.check({}, job_props(fake)).failures == []


# The engine's dynamic provider server hands check and diff `Unknown` objects; the sentinel
# string is what the SDK's mocks give. The real engine found that only the string was handled.
@pytest.mark.parametrize("unknown", [Unknown(), rpc.UNKNOWN], ids=["engine", "sentinel"])
def test_check_tolerates_unknowns_during_preview(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, unknown: object
) -> None:
    props = job_props(fake, serviceRoleArn=unknown, trainingDataUri=unknown)
    props["hyperParameters"] = {**props["hyperParameters"], "epochCount": unknown}
    assert jobs.check({}, props).failures == []


# --- create ---------------------------------------------------------------------------------
def test_create_without_wait_returns_at_once_in_progress(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    props = job_props(fake)
    result = jobs.create(props)
    assert result.outs["status"] == "InProgress"
    assert result.outs["customModelArn"] == ""
    assert clock.sleeps == []
    (job,) = fake.jobs.values()
    token, job_name, model_name = job_identity(props)
    assert result.id == job["jobArn"]
    assert job["jobName"] == job_name and job["outputModelName"] == model_name
    assert job["clientRequestToken"] == token
    # The full RFT request reached the service through botocore.
    request = fake.calls[[c[0] for c in fake.calls].index("CreateModelCustomizationJob")][1]
    assert request["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    rft = request["customizationConfig"]["rftConfig"]
    assert rft["graderConfig"]["lambdaGrader"]["lambdaArn"] == props["graderArn"]
    assert rft["hyperParameters"] == props["hyperParameters"]
    assert request["customModelKmsKeyId"] == props["kmsKeyId"]
    assert request["validationDataConfig"] == {
        "validators": [{"s3Uri": props["validationDataUri"]}]
    }
    assert {"key": "Environment", "value": "dev"} in request["jobTags"]
    # Inputs are echoed into the outputs (delete gets only those); the server re-adds
    # the pickled provider itself.
    assert result.outs["trainingDataUri"] == props["trainingDataUri"]
    assert "__provider" not in result.outs


def test_create_with_wait_returns_the_completed_model(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    outs = completed_job(jobs, fake)
    assert outs["status"] == "Completed"
    assert outs["customModelArn"] in fake.custom_models
    assert outs["trainingMetrics"] == {"trainingLoss": pytest.approx(0.12)}
    assert outs["endTime"]


def test_waiting_costs_about_log2_cap_over_initial_plus_t_over_cap_calls(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    fake.job_duration = 5 * 3600.0
    cap, initial = 300.0, 10.0
    wait = {
        "enabled": True,
        "timeoutSeconds": 86400,
        "maxPollSeconds": cap,
        "initialPollSeconds": initial,
    }
    jobs.create(job_props(fake, wait=wait))
    calls = fake.count("GetModelCustomizationJob")
    bound = math.log2(cap / initial) + fake.job_duration / cap + 2
    assert calls <= bound, (calls, bound)
    assert calls >= fake.job_duration / cap  # and it did poll, not sleep through


def test_a_failed_job_surfaces_its_arn_and_message(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    fake.job_outcome = "Failed"
    fake.job_failure_message = "Grader Lambda returned invalid output for 12% of samples"
    with pytest.raises(JobFailedError) as raised:
        completed_job(jobs, fake)
    (arn,) = fake.jobs
    assert arn in str(raised.value)
    assert "invalid output for 12% of samples" in str(raised.value)


def test_waiting_has_a_deadline_and_the_job_is_adopted_on_rerun(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    fake.job_duration = 10 * 3600.0
    props = job_props(fake, wait={"enabled": True, "timeoutSeconds": 3600, "maxPollSeconds": 300})
    with pytest.raises(WaitTimeout) as raised:
        jobs.create(props)
    assert "still InProgress" in str(raised.value)
    assert "pulumi up" in str(raised.value)
    # Rerun with a longer deadline: the same job, not a second one.
    outs = jobs.create({**props, "wait": {"enabled": True, "timeoutSeconds": 86400}}).outs
    assert len(fake.jobs) == 1 and outs["status"] == "Completed"


def test_throttling_storms_are_survived(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    # More throttles than botocore's own attempts, on create and on every kind of poll.
    fake.inject("CreateModelCustomizationJob", "ThrottlingException", times=20)
    fake.inject("GetModelCustomizationJob", "ThrottlingException", times=40)
    fake.inject("GetCustomModel", "InternalServerException", times=3)
    outs = completed_job(jobs, fake)
    assert outs["status"] == "Completed"
    assert len(fake.jobs) == 1


def test_a_crash_after_create_then_retry_creates_no_duplicate(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    # The service starts the job, then the caller never sees the answer (a crash).
    fake.inject("CreateModelCustomizationJob", "AccessDeniedException", apply=True)
    props = job_props(fake)
    with pytest.raises(Exception, match="AccessDenied"):
        jobs.create(props)
    assert len(fake.jobs) == 1
    # `pulumi up` again, in a new process: same inputs, same token, same job.
    again = RftCustomizationJobProvider(clock=jobs.clock).create(props)
    assert len(fake.jobs) == 1
    assert again.id == next(iter(fake.jobs))


def test_a_retry_after_the_idempotency_window_adopts_the_job_by_name_and_token(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    """Bedrock documents no idempotency window. Past it, the same token is a new request,
    whose job name is taken: the provider finds the job by name, sees its own token echoed,
    and adopts it. Never a second paid job, whenever the retry comes."""
    fake.idempotency_window = 60.0
    fake.inject("CreateModelCustomizationJob", "InternalServerException", apply=True)
    props = job_props(fake)
    clock.advance(0)
    first = jobs.create(props)  # botocore retries the lost answer within the window
    clock.advance(3600)
    again = RftCustomizationJobProvider(clock=clock).create(props)
    assert again.id == first.id and len(fake.jobs) == 1
    assert fake.count("CreateModelCustomizationJob") == 3


def test_a_dead_job_is_not_adopted_silently(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    fake.job_outcome = "Failed"
    props = job_props(fake)
    jobs.create(props)
    clock.advance(fake.job_duration + 1)
    with pytest.raises(JobFailedError, match=r"bump rft-env:job\.revision"):
        jobs.create(props)
    # A new revision is a new job with new names.
    fake.job_outcome = "Completed"
    outs = jobs.create({**props, "revision": 2}).outs
    assert len(fake.jobs) == 2 and outs["jobName"] != job_identity(props)[1]


# --- diff / update ----------------------------------------------------------------------------
def test_diff_replaces_on_training_changes_and_updates_tags_in_place(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    olds = jobs.create(job_props(fake)).outs
    same = jobs.diff("id", olds, job_props(fake))
    assert same.changes is False and same.replaces == []
    hp = {**olds["hyperParameters"], "epochCount": 3}
    retrain = jobs.diff("id", olds, job_props(fake, hyperParameters=hp))
    assert retrain.changes and retrain.replaces == ["hyperParameters"]
    tags = jobs.diff("id", olds, job_props(fake, jobTags={"Environment": "dev", "Team": "ml"}))
    assert tags.changes and tags.replaces == []
    waiting = jobs.diff("id", olds, job_props(fake, wait={"enabled": True}))
    assert waiting.changes and waiting.replaces == []
    moved = job_props(fake)
    moved["connection"] = {**moved["connection"], "region": "us-west-2"}
    assert jobs.diff("id", olds, moved).replaces == ["connection"]
    unknown = jobs.diff("id", olds, job_props(fake, trainingDataUri=rpc.UNKNOWN))
    assert unknown.replaces == ["trainingDataUri"]


def test_a_new_definition_gets_new_names(fake: FakeBedrock) -> None:
    one = create_request(job_props(fake))
    two = create_request(job_props(fake, graderArn=job_props(fake)["graderArn"] + "-v2"))
    assert one["jobName"] != two["jobName"]
    assert one["customModelName"] != two["customModelName"]
    assert one["clientRequestToken"] != two["clientRequestToken"]
    # Credentials and wait settings do not define the run.
    three = create_request(job_props(fake, wait={"enabled": True}))
    assert three["clientRequestToken"] == one["clientRequestToken"]


def test_update_changes_tags_on_job_and_model(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    olds = completed_job(jobs, fake)
    news = job_props(fake, jobTags={"Environment": "dev", "Team": "ml"}, modelTags={"Team": "ml"})
    outs = jobs.update(olds["jobArn"], olds, news).outs
    assert fake.jobs[olds["jobArn"]]["_tags"] == {"Environment": "dev", "Team": "ml"}
    assert fake.custom_models[olds["customModelArn"]]["_tags"] == {"Team": "ml"}
    assert outs["customModelArn"] == olds["customModelArn"]
    assert fake.count("CreateModelCustomizationJob") == 1


def test_model_tags_changed_while_the_job_runs_reach_the_model_after_refresh(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    """The model does not exist while the job runs, so `update` can only store its tags.
    Once it exists, refresh reads the model's real tags, diff sees the difference from the
    program, and update applies it."""
    created = jobs.create(job_props(fake))
    wanted = {"Environment": "dev", "Project": "rft-env", "CostCenter": "ml-42"}
    news = job_props(fake, modelTags=wanted)
    assert jobs.diff(created.id, created.outs, news).replaces == []
    stored = jobs.update(created.id, created.outs, news).outs
    assert stored["modelTags"] == wanted and fake.custom_models == {}

    clock.advance(fake.job_duration + 1)  # the job completes with the tags it was created with
    refreshed = jobs.read(created.id, stored).outs
    model_arn = refreshed["customModelArn"]
    assert fake.custom_models[model_arn]["_tags"] == {"Environment": "dev", "Project": "rft-env"}
    assert refreshed["modelTags"] == {"Environment": "dev", "Project": "rft-env"}

    diff = jobs.diff(created.id, refreshed, news)
    assert diff.changes and diff.replaces == []
    jobs.update(created.id, refreshed, news)
    assert fake.custom_models[model_arn]["_tags"] == wanted
    # Converged: the next refresh and diff see nothing to do.
    again = jobs.read(created.id, jobs.update(created.id, refreshed, news).outs).outs
    assert again["modelTags"] == wanted
    assert not jobs.diff(created.id, again, news).changes


def test_refresh_reports_job_tags_changed_outside_pulumi(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    outs = completed_job(jobs, fake)
    fake.jobs[outs["jobArn"]]["_tags"]["Owner"] = "someone-else"
    refreshed = jobs.read(outs["jobArn"], outs).outs
    assert refreshed["jobTags"]["Owner"] == "someone-else"
    assert jobs.diff(outs["jobArn"], refreshed, job_props(fake)).changes
    jobs.update(outs["jobArn"], refreshed, job_props(fake))
    assert "Owner" not in fake.jobs[outs["jobArn"]]["_tags"]


# --- read -----------------------------------------------------------------------------------
def test_read_refreshes_status_model_and_metrics(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    created = jobs.create(job_props(fake))
    clock.advance(fake.job_duration + 1)
    read = jobs.read(created.id, created.outs)
    assert read.id == created.id
    assert read.outs["status"] == "Completed"
    assert read.outs["customModelArn"] in fake.custom_models
    assert read.outs["graderArn"] == created.outs["graderArn"]


def test_vanished_job_or_model_reads_as_gone(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    outs = completed_job(jobs, fake)
    fake.delete_out_of_band(outs["customModelArn"])
    assert jobs.read(outs["jobArn"], outs).id is None
    fake.delete_out_of_band(outs["jobArn"])
    gone = jobs.read(outs["jobArn"], outs)
    assert gone.id is None and gone.outs == {}


# --- delete ---------------------------------------------------------------------------------
def test_delete_while_running_stops_the_job_and_waits_until_it_has_stopped(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    created = jobs.create(job_props(fake))
    started = clock.time()
    jobs.delete(created.id, created.outs)
    assert fake.count("StopModelCustomizationJob") == 1
    assert fake.jobs[created.id]["status"] == "Stopped"
    assert clock.time() - started >= fake.stop_duration
    assert fake.custom_models == {}


@pytest.mark.parametrize("fault", ["ThrottlingException", "ConflictException"])
def test_a_job_that_completes_while_it_is_being_stopped_loses_its_model_too(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock, fault: str
) -> None:
    """`destroy` just before the job ends: Stop is throttled (or answers ConflictException,
    as when the job has just ended), the job completes meanwhile and produces a model.
    Delete waits until the job has ended, then deletes that model: nothing stays billed."""
    created = jobs.create(job_props(fake))
    clock.advance(fake.job_duration - 1)  # one second before the job completes
    fake.inject("StopModelCustomizationJob", fault, times=5)
    jobs.delete(created.id, created.outs)
    assert fake.jobs[created.id]["status"] == "Completed"
    assert fake.jobs[created.id]["outputModelArn"]
    assert fake.custom_models == {}
    assert fake.count("DeleteCustomModel") == 1


def test_delete_waits_for_a_job_someone_else_is_stopping(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    created = jobs.create(job_props(fake))
    fake.jobs[created.id].update(status="Stopping", _stopAt=clock.time())
    jobs.delete(created.id, created.outs)
    assert fake.count("StopModelCustomizationJob") == 0
    assert fake.jobs[created.id]["status"] == "Stopped"


def test_delete_fails_naming_the_job_when_it_does_not_end_in_time(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, clock: FakeClock
) -> None:
    fake.stop_duration = 3 * 3600  # longer than delete waits
    created = jobs.create(job_props(fake))
    with pytest.raises(JobFailedError) as failed:
        jobs.delete(created.id, created.outs)
    message = str(failed.value)
    assert created.id in message and created.outs["customModelName"] in message
    assert "Stopping" in message and "nothing was deleted" in message
    # A later `pulumi destroy` finds it stopped and finishes.
    clock.advance(fake.stop_duration)
    jobs.delete(created.id, created.outs)
    assert fake.jobs[created.id]["status"] == "Stopped"


def test_delete_removes_the_model_and_double_delete_succeeds(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    outs = completed_job(jobs, fake)
    jobs.delete(outs["jobArn"], outs)
    assert fake.custom_models == {}
    assert fake.count("StopModelCustomizationJob") == 0
    jobs.delete(outs["jobArn"], outs)  # already gone: fine
    fake.delete_out_of_band(outs["jobArn"])
    jobs.delete(outs["jobArn"], outs)


@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_delete_never_deletes_a_model_something_else_serves(
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
    kind: str,
) -> None:
    """Checked before DeleteCustomModel is called: not left to AWS refusing it."""
    outs = completed_job(jobs, fake)
    model = outs["customModelArn"]
    provider = throughputs if kind == "throughput" else deployments
    served_by = provider.create(inference_props(fake, model, kind=kind, name="someone-elses"))
    with pytest.raises(ModelInUseError) as refused:
        jobs.delete(outs["jobArn"], outs)
    message = str(refused.value)
    assert model in message and "someone-elses" in message and served_by.id in message
    assert model in fake.custom_models
    assert fake.count("DeleteCustomModel") == 0


def test_a_model_the_stacks_own_inference_serves_is_handed_over_not_deleted(
    jobs: RftCustomizationJobProvider, throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> None:
    """The replaced job of a retrain whose new job has no model yet: serving goes on, and
    the inference deletes the model once it has swapped (test_inference)."""
    outs = completed_job(jobs, fake)
    throughputs.create(inference_props(fake, outs["customModelArn"], kind="throughput"))
    jobs.delete(outs["jobArn"], outs)
    assert outs["customModelArn"] in fake.custom_models
    assert fake.count("DeleteCustomModel") == 0


def test_delete_reports_a_model_aws_refuses_to_delete_as_in_use(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    """A server the List calls do not show yet (a throughput switching to the model): AWS
    refuses with ConflictException, and delete says so, naming the model."""
    outs = completed_job(jobs, fake)
    fake.inject("DeleteCustomModel", "ConflictException")
    with pytest.raises(ModelInUseError, match=outs["customModelArn"]):
        jobs.delete(outs["jobArn"], outs)


def test_a_wait_only_change_calls_nothing_on_bedrock(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    olds = jobs.create(job_props(fake)).outs
    before = len(fake.calls)
    outs = jobs.update(olds["jobArn"], olds, job_props(fake, wait={"enabled": True})).outs
    assert fake.calls[before:] == []
    assert outs["wait"] == {"enabled": True} and outs["jobArn"] == olds["jobArn"]


def test_numbers_as_the_engine_delivers_them_are_restored(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    """Pulumi passes props through protobuf, where every number is a double: 2 arrives as
    2.0, and botocore refuses a float for an integer member."""
    props = job_props(fake)

    def as_engine(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | dict | list):
            return value
        if isinstance(value, int):
            return float(value)
        if isinstance(value, dict):
            return {k: as_engine(v) for k, v in value.items()}
        return [as_engine(v) for v in value]

    engine_props = as_engine(props)
    assert engine_props["hyperParameters"]["epochCount"] == 1.0
    assert isinstance(engine_props["hyperParameters"]["epochCount"], float)
    assert jobs.check({}, engine_props).failures == []
    created = jobs.create(engine_props)
    request = fake.calls[[c[0] for c in fake.calls].index("CreateModelCustomizationJob")][1]
    sent = request["customizationConfig"]["rftConfig"]["hyperParameters"]
    assert sent["epochCount"] == 1 and sent["learningRate"] == pytest.approx(1e-05)
    # State (ints) against the next run's inputs (doubles) is no change.
    assert jobs.diff(created.id, created.outs, as_engine(job_props(fake))).changes is False


def test_a_provider_pickled_from_another_module_is_rewritten_in_place(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock
) -> None:
    """State written before the packages moved into `rft_env` holds providers pickled as
    `components.bedrock.job`, which refresh and destroy could not import: the next
    `pulumi up` updates the resource in place (no AWS call) to store the new pickle."""
    from pulumi.dynamic.dynamic import serialize_provider

    pickled = serialize_provider(RftCustomizationJobProvider())
    # By reference, so the same code always pickles the same (no update on every `up`).
    assert pickled == serialize_provider(RftCustomizationJobProvider())
    assert b"rft_env.components.bedrock.job" in base64.b64decode(pickled)
    created = jobs.create(job_props(fake)).outs
    olds = {**created, "__provider": "a pickle of components.bedrock.job (0.1)"}
    news = {**job_props(fake), "__provider": pickled}
    moved = jobs.diff("id", olds, news)
    assert moved.changes and moved.replaces == []
    assert jobs.diff("id", {**olds, "__provider": pickled}, news).changes is False
    calls = len(fake.calls)
    jobs.update(created["jobArn"], olds, news)
    assert [n for n, _ in fake.calls[calls:] if not n.startswith(("Get", "List"))] == []
