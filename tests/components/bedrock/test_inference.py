"""Provisioned throughput and on-demand deployments against the fake control plane."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pulumi.output import Unknown

from rft_env.components.bedrock.common import ModelInUseError
from rft_env.components.bedrock.inference import (
    PENDING,
    CustomModelDeploymentProvider,
    InferenceError,
    ProvisionedThroughputProvider,
)
from rft_env.components.bedrock.job import RftCustomizationJobProvider
from tests.components.bedrock.conftest import completed_job, inference_props, job_props
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock


def test_throughput_waits_for_in_service(
    jobs: RftCustomizationJobProvider, throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    created = throughputs.create(inference_props(fake, model, kind="throughput"))
    assert created.outs["status"] == "InService"
    assert created.outs["modelArn"] == model
    assert fake.throughputs[created.id]["_tags"] == {"Environment": "dev"}
    assert created.outs["commitmentExpirationTime"] == ""


def test_a_failed_throughput_raises_with_its_message(
    jobs: RftCustomizationJobProvider, throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    fake.pt_outcome = "Failed"
    with pytest.raises(InferenceError, match="failed"):
        throughputs.create(inference_props(fake, model, kind="throughput"))


def test_throughput_create_is_idempotent_after_a_crash(
    jobs: RftCustomizationJobProvider, throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    fake.inject("CreateProvisionedModelThroughput", "AccessDeniedException", apply=True)
    props = inference_props(fake, model, kind="throughput")
    with pytest.raises(Exception, match="AccessDenied"):
        throughputs.create(props)
    created = throughputs.create(props)
    assert list(fake.throughputs) == [created.id]


@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_a_create_repeated_after_the_idempotency_window_makes_no_second_resource(
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
    clock: FakeClock,
    kind: str,
) -> None:
    """Past the window (undocumented for Bedrock) the token no longer makes a repeat a
    no-op: the name is taken, the create fails naming it, and nothing new is billed."""
    provider = throughputs if kind == "throughput" else deployments
    model = completed_job(jobs, fake)["customModelArn"]
    props = inference_props(fake, model, kind=kind)
    provider.create(props)
    fake.idempotency_window = 60.0
    clock.advance(3600)
    with pytest.raises(ClientError, match=f"named '{props['name']}' already exists"):
        provider.create(props)
    assert len(fake.throughputs if kind == "throughput" else fake.deployments) == 1


def test_throughput_renames_and_swaps_model_in_place_but_replaces_on_units(
    jobs: RftCustomizationJobProvider, throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> None:
    first = completed_job(jobs, fake)["customModelArn"]
    second = completed_job(jobs, fake, revision=2)["customModelArn"]
    olds = throughputs.create(inference_props(fake, first, kind="throughput")).outs
    news = inference_props(fake, second, kind="throughput", name="rft-env-dev-pt-2")
    diff = throughputs.diff(olds["provisionedModelArn"], olds, news)
    assert diff.changes and diff.replaces == []
    outs = throughputs.update(olds["provisionedModelArn"], olds, news).outs
    pt = fake.throughputs[olds["provisionedModelArn"]]
    assert pt["modelArn"] == second and pt["provisionedModelName"] == "rft-env-dev-pt-2"
    assert outs["modelArn"] == second and outs["status"] == "InService"
    more_units = inference_props(fake, second, kind="throughput", modelUnits=2)
    assert throughputs.diff("id", outs, more_units).replaces == ["modelUnits"]
    committed = inference_props(fake, second, kind="throughput", commitment="OneMonth")
    replace = throughputs.diff("id", outs, committed)
    assert replace.replaces == ["commitment"] and replace.delete_before_replace
    # The model it stopped serving was the replaced job's: deleted (models not retained).
    assert first not in fake.custom_models and second in fake.custom_models


def test_committed_throughput_delete_is_refused_until_the_term_ends(
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    fake: FakeBedrock,
    clock: FakeClock,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    props = inference_props(fake, model, kind="throughput", commitment="OneMonth")
    created = throughputs.create(props)
    expiry = created.outs["commitmentExpirationTime"]
    assert expiry
    with pytest.raises(InferenceError) as refused:
        throughputs.delete(created.id, created.outs)
    assert expiry in str(refused.value) and "OneMonth" in str(refused.value)
    assert created.id in fake.throughputs
    clock.advance(31 * 24 * 3600)
    throughputs.delete(created.id, created.outs)
    assert fake.throughputs == {}
    throughputs.delete(created.id, created.outs)  # double delete


def test_vanished_throughput_reads_as_gone(
    jobs: RftCustomizationJobProvider, throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    created = throughputs.create(inference_props(fake, model, kind="throughput"))
    assert throughputs.read(created.id, created.outs).outs["status"] == "InService"
    fake.delete_out_of_band(created.id)
    assert throughputs.read(created.id, created.outs).id is None


def test_deployment_lifecycle_and_model_swap(
    jobs: RftCustomizationJobProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> None:
    first = completed_job(jobs, fake)["customModelArn"]
    second = completed_job(jobs, fake, revision=2)["customModelArn"]
    created = deployments.create(inference_props(fake, first, kind="deployment"))
    assert created.outs["status"] == "Active" and created.outs["deployedModelArn"] == first
    news = inference_props(fake, second, kind="deployment")
    diff = deployments.diff(created.id, created.outs, news)
    assert diff.changes and diff.replaces == []
    outs = deployments.update(created.id, created.outs, news).outs
    assert outs["deployedModelArn"] == second
    renamed = inference_props(fake, second, kind="deployment", name="other")
    assert deployments.diff(created.id, outs, renamed).replaces == ["name"]
    deployments.delete(created.id, outs)
    assert fake.deployments == {}
    deployments.delete(created.id, outs)  # double delete
    assert deployments.read(created.id, outs).id is None


def test_a_failed_deployment_raises(
    jobs: RftCustomizationJobProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    fake.deployment_outcome = "Failed"
    with pytest.raises(InferenceError, match="failed"):
        deployments.create(inference_props(fake, model, kind="deployment"))


def test_check_reports_bad_inference_inputs(
    throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> None:
    props = inference_props(fake, "", kind="throughput", modelUnits=0, commitment="TwoYears")
    failures = {f.property: f.reason for f in throughputs.check({}, props).failures}
    assert set(failures) == {"modelUnits", "commitment"}
    assert "an integer from 1 to 50" in failures["modelUnits"]


@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_pending_inference_is_created_after_the_job_completes(
    kind: str,
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
    clock: FakeClock,
) -> None:
    """The engine's calls for: `pulumi up` (job without wait) -> the job completes ->
    `pulumi up --refresh`, with no config change in between."""
    provider = throughputs if kind == "throughput" else deployments

    # First `pulumi up`: the job starts; its model ARN is still empty.
    job = jobs.create(job_props(fake))
    assert job.outs["customModelArn"] == ""
    pending = provider.create(inference_props(fake, job.outs["customModelArn"], kind=kind))
    assert pending.outs["status"] == PENDING
    assert pending.id.startswith("pending-")
    assert fake.throughputs == {} and fake.deployments == {}
    # Refreshing a placeholder calls nothing and keeps it.
    assert provider.read(pending.id, pending.outs).id == pending.id

    # The job completes. `pulumi up --refresh`: refresh reads the model into the job's state...
    clock.advance(fake.job_duration + 1)
    refreshed = jobs.read(job.id, job.outs)
    model = refreshed.outs["customModelArn"]
    assert model in fake.custom_models
    # ...the job has no changes, so its refreshed model ARN flows into the inference inputs...
    assert jobs.diff(job.id, refreshed.outs, job_props(fake)).changes is False
    news = inference_props(fake, model, kind=kind)
    diff = provider.diff(pending.id, pending.outs, news)
    assert diff.changes and diff.replaces == []
    # ...and an update turns the placeholder into the real resource: not a replacement, which
    # the engine refuses for a protected (committed) throughput. It keeps the placeholder's id.
    real = provider.update(pending.id, pending.outs, news).outs
    assert real["status"] in ("InService", "Active")
    arn_key = "provisionedModelArn" if kind == "throughput" else "deploymentArn"
    table = fake.throughputs if kind == "throughput" else fake.deployments
    assert list(table) == [real[arn_key]] and len(fake.throughputs) + len(fake.deployments) == 1
    # Every later call finds it by the ARN in its outputs, not by the placeholder id.
    assert provider.read(pending.id, real).outs[arn_key] == real[arn_key]
    renamed = {**news, "tags": {"Environment": "dev", "Owner": "ml"}}
    assert provider.update(pending.id, real, renamed).outs[arn_key] == real[arn_key]
    assert table[real[arn_key]]["_tags"] == {"Environment": "dev", "Owner": "ml"}
    provider.delete(pending.id, real)
    assert fake.throughputs == {} and fake.deployments == {}


# --- retraining: serving never stops ---------------------------------------------------------
@pytest.mark.parametrize("retained", [False, True], ids=["non-production", "production"])
@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_a_retrain_keeps_serving_the_old_model_then_swaps_in_place(
    kind: str,
    retained: bool,
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
    clock: FakeClock,
) -> None:
    """The engine's calls for a retrain (a job.revision bump) of a stack whose job does not
    wait: preview; `pulumi up` (create the new job, update inference, delete the old job,
    unless retained); the new job completes; `pulumi up --refresh`."""
    provider = throughputs if kind == "throughput" else deployments
    served_key = "modelArn" if kind == "throughput" else "deployedModelArn"
    table = fake.throughputs if kind == "throughput" else fake.deployments
    old_job = completed_job(jobs, fake)
    old_model = old_job["customModelArn"]
    serving = provider.create(
        inference_props(fake, old_model, kind=kind, retainModels=retained)
    ).outs
    arn = serving["provisionedModelArn" if kind == "throughput" else "deploymentArn"]

    def news(model: str) -> dict:
        return inference_props(fake, model, kind=kind, retainModels=retained)

    # Preview: the replaced job's model ARN is unknown. In place, never a replacement.
    # (As the engine's dynamic provider server gives it: an Unknown object.)
    preview = provider.diff(arn, serving, news(Unknown()))
    assert preview.changes and preview.replaces == []
    # `pulumi up`: the new job has no model yet; the old one keeps serving.
    new_job = jobs.create(job_props(fake, revision=2))
    assert new_job.outs["customModelArn"] == ""
    up = provider.diff(arn, serving, news(""))
    assert up.changes and up.replaces == []
    waiting = provider.update(arn, serving, news("")).outs
    assert waiting["awaitingModel"] is True and waiting[served_key] == old_model
    assert table[arn]["modelArn"] == old_model  # AWS's record: what it serves
    if not retained:  # production never calls delete (retain_on_delete)
        jobs.delete(old_job["jobArn"], old_job)
    assert old_model in fake.custom_models  # still served: handed over, not deleted
    assert provider.read(arn, waiting).outs["awaitingModel"] is True

    # The new job completes; `pulumi up --refresh` swaps the new model in, in place.
    clock.advance(fake.job_duration + 1)
    new_model = jobs.read(new_job.id, new_job.outs).outs["customModelArn"]
    swap = provider.diff(arn, waiting, news(new_model))
    assert swap.changes and swap.replaces == []
    swapped = provider.update(arn, waiting, news(new_model)).outs
    assert swapped["awaitingModel"] is False and swapped[served_key] == new_model
    assert list(table) == [arn]  # the same resource throughout: serving never stopped
    # The old model is deleted once nothing serves it, unless the stack retains models.
    assert (old_model in fake.custom_models) is retained
    assert provider.diff(arn, swapped, news(new_model)).changes is False


@pytest.mark.parametrize("retained", [False, True], ids=["non-production", "production"])
@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_deleting_inference_that_serves_a_handed_over_model_deletes_that_model(
    kind: str,
    retained: bool,
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> None:
    """`pulumi destroy` after a retrain, before the swap: the inference still serves the old
    job's model, which no job owns any more. Nothing stays behind, unless retained."""
    provider = throughputs if kind == "throughput" else deployments
    old_job = completed_job(jobs, fake)
    old_model = old_job["customModelArn"]
    serving = provider.create(inference_props(fake, old_model, kind=kind, retainModels=retained))
    waiting = provider.update(
        serving.id, serving.outs, inference_props(fake, "", kind=kind, retainModels=retained)
    ).outs
    jobs.delete(old_job["jobArn"], old_job)  # handed over
    provider.delete(serving.id, waiting)
    assert fake.throughputs == {} and fake.deployments == {}
    assert (old_model in fake.custom_models) is retained


def test_inference_never_deletes_a_model_something_else_serves(
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> None:
    old_model = completed_job(jobs, fake)["customModelArn"]
    serving = throughputs.create(inference_props(fake, old_model, kind="throughput"))
    waiting = throughputs.update(
        serving.id, serving.outs, inference_props(fake, "", kind="throughput")
    ).outs
    other = deployments.create(inference_props(fake, old_model, kind="deployment", name="other"))
    with pytest.raises(ModelInUseError) as refused:
        throughputs.delete(serving.id, waiting)
    assert old_model in str(refused.value) and other.id in str(refused.value)
    assert old_model in fake.custom_models


@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_a_placeholder_is_updated_even_when_the_model_is_unknown_at_preview(
    kind: str,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> None:
    """The first deploy: the preview shows the placeholder changing in place."""
    provider = throughputs if kind == "throughput" else deployments
    pending = provider.create(inference_props(fake, "", kind=kind))
    assert pending.outs["awaitingModel"] is False
    diff = provider.diff(pending.id, pending.outs, inference_props(fake, Unknown(), kind=kind))
    assert diff.changes and diff.replaces == []
    assert (
        provider.diff(pending.id, pending.outs, inference_props(fake, "", kind=kind)).changes
        is False
    )


@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_check_tolerates_a_model_unknown_at_preview(
    kind: str,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> None:
    """The engine's dynamic provider server gives check an Unknown object for the model of
    a job that is not created yet (the real engine found it refused as "not a string")."""
    provider = throughputs if kind == "throughput" else deployments
    assert provider.check({}, inference_props(fake, Unknown(), kind=kind)).failures == []


@pytest.mark.parametrize("kind", ["throughput", "deployment"])
def test_a_provider_pickled_from_another_module_is_rewritten_in_place(
    kind: str,
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> None:
    """As for the job: a stored provider pickled as `components.bedrock.inference` (0.1)
    is replaced by an in-place update that leaves the serving resource alone."""
    from pulumi.dynamic.dynamic import serialize_provider

    provider = throughputs if kind == "throughput" else deployments
    pickled = serialize_provider(type(provider)())
    model = completed_job(jobs, fake)["customModelArn"]
    created = provider.create(inference_props(fake, model, kind=kind))
    olds = {**created.outs, "__provider": "a pickle of components.bedrock.inference (0.1)"}
    news = {**inference_props(fake, model, kind=kind), "__provider": pickled}
    moved = provider.diff(created.id, olds, news)
    assert moved.changes and moved.replaces == []
    assert provider.diff(created.id, {**olds, "__provider": pickled}, news).changes is False
    calls = len(fake.calls)
    outs = provider.update(created.id, olds, news).outs
    assert [n for n, _ in fake.calls[calls:] if not n.startswith(("Get", "List"))] == []
    assert outs["modelArn"] == model
