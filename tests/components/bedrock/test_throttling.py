"""Reading, updating and deleting inference resources, and the first AssumeRole, ride out a
throttling storm longer than botocore's own 8 attempts, as the job calls do: before, `pulumi
refresh` and `pulumi up` failed there.

20 throttles in a row: botocore's standard mode makes 8 attempts per call, so the call fails
twice (8 + 8 attempts) and succeeds on the 21st attempt, in the third round of the
providers' own retry (components.bedrock.waiting.CALL_POLICY)."""

from __future__ import annotations

from typing import Any

import pytest

from rft_env.components.bedrock.inference import (
    CustomModelDeploymentProvider,
    ProvisionedThroughputProvider,
)
from rft_env.components.bedrock.job import RftCustomizationJobProvider
from rft_env.components.bedrock.session import Connection
from rft_env.components.bedrock.waiting import CALL_POLICY, WaitTimeout
from rft_env.rftenv import jobs as rftenv_jobs
from tests.components.bedrock.conftest import completed_job, inference_props
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock

STORM = 20
ATTEMPTS = STORM + 1  # every throttled attempt, then the one that succeeds
DEPLOYER = "arn:aws:iam::111122223333:role/rft-env-deployer"


def storm(fake: FakeBedrock, *operations: str) -> None:
    for operation in operations:
        fake.inject(operation, "ThrottlingException", times=STORM)


@pytest.fixture
def throughput(
    jobs: RftCustomizationJobProvider, throughputs: ProvisionedThroughputProvider, fake: FakeBedrock
) -> tuple[str, dict[str, Any]]:
    model = completed_job(jobs, fake)["customModelArn"]
    created = throughputs.create(inference_props(fake, model, kind="throughput"))
    return created.id, created.outs


@pytest.fixture
def deployment(
    jobs: RftCustomizationJobProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
) -> tuple[str, dict[str, Any]]:
    model = completed_job(jobs, fake)["customModelArn"]
    created = deployments.create(inference_props(fake, model, kind="deployment"))
    return created.id, created.outs


def test_refresh_of_a_throughput(
    throughputs: ProvisionedThroughputProvider,
    fake: FakeBedrock,
    throughput: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = throughput
    before = fake.count("GetProvisionedModelThroughput")
    storm(fake, "GetProvisionedModelThroughput")
    read = throughputs.read(arn, outs)
    assert read.id == arn and read.outs["status"] == "InService"
    assert fake.count("GetProvisionedModelThroughput") - before == ATTEMPTS


def test_update_of_a_throughput(
    throughputs: ProvisionedThroughputProvider,
    fake: FakeBedrock,
    throughput: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = throughput
    storm(fake, "UpdateProvisionedModelThroughput")
    updated = throughputs.update(arn, outs, {**outs, "name": "rft-env-dev-pt-renamed"})
    assert fake.count("UpdateProvisionedModelThroughput") == ATTEMPTS
    assert updated.outs["status"] == "InService"
    assert fake.throughputs[arn]["provisionedModelName"] == "rft-env-dev-pt-renamed"


def test_delete_of_a_throughput(
    throughputs: ProvisionedThroughputProvider,
    fake: FakeBedrock,
    throughput: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = throughput
    before = fake.count("GetProvisionedModelThroughput")
    storm(fake, "GetProvisionedModelThroughput", "DeleteProvisionedModelThroughput")
    throughputs.delete(arn, outs)
    assert arn not in fake.throughputs
    assert fake.count("GetProvisionedModelThroughput") - before == ATTEMPTS
    assert fake.count("DeleteProvisionedModelThroughput") == ATTEMPTS


def test_refresh_of_a_deployment(
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
    deployment: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = deployment
    before = fake.count("GetCustomModelDeployment")
    storm(fake, "GetCustomModelDeployment")
    read = deployments.read(arn, outs)
    assert read.id == arn and read.outs["status"] == "Active"
    assert fake.count("GetCustomModelDeployment") - before == ATTEMPTS


def test_model_swap_of_a_deployment(
    jobs: RftCustomizationJobProvider,
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
    deployment: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = deployment
    retrained = completed_job(jobs, fake, revision=2)["customModelArn"]
    storm(fake, "UpdateCustomModelDeployment")
    updated = deployments.update(arn, outs, {**outs, "modelArn": retrained})
    assert fake.count("UpdateCustomModelDeployment") == ATTEMPTS
    assert updated.outs["deployedModelArn"] == retrained


def test_delete_of_a_deployment(
    deployments: CustomModelDeploymentProvider,
    fake: FakeBedrock,
    deployment: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = deployment
    storm(fake, "DeleteCustomModelDeployment")
    deployments.delete(arn, outs)
    assert arn not in fake.deployments
    assert fake.count("DeleteCustomModelDeployment") == ATTEMPTS


def test_the_first_assume_role_of_a_provider(
    throughputs: ProvisionedThroughputProvider,
    fake: FakeBedrock,
    throughput: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = throughput
    with_role = {**outs, "connection": {**outs["connection"], "roleArn": DEPLOYER}}
    storm(fake, "AssumeRole", "GetProvisionedModelThroughput")
    assert throughputs.read(arn, with_role).outs["status"] == "InService"
    assert fake.count("AssumeRole") == ATTEMPTS


def test_the_first_assume_role_of_the_cli(
    fake: FakeBedrock, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rftenv status` and `metrics` build their clients the same way."""
    monkeypatch.setattr(rftenv_jobs, "credentials_clock", clock)
    connection = Connection("us-east-1", role_arn=DEPLOYER, endpoint_url=fake.endpoint_url)
    storm(fake, "AssumeRole")
    bedrock = rftenv_jobs.client(connection, "bedrock")
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
    assert fake.count("AssumeRole") == ATTEMPTS


def test_a_storm_that_outlasts_the_retries_fails_in_bounded_time_naming_the_cause(
    throughputs: ProvisionedThroughputProvider,
    fake: FakeBedrock,
    clock: FakeClock,
    throughput: tuple[str, dict[str, Any]],
) -> None:
    arn, outs = throughput
    fake.inject("GetProvisionedModelThroughput", "ThrottlingException", times=10_000)
    started = clock.monotonic()
    with pytest.raises(WaitTimeout) as raised:
        throughputs.read(arn, outs)
    message = str(raised.value)
    assert message.startswith(f"reading provisioned throughput {arn} (last error: ")
    assert "ThrottlingException" in message and "after 300 s" in message
    # The deadline, plus one last round of botocore's attempts and back-off.
    assert clock.monotonic() - started < CALL_POLICY.timeout + 120


def test_the_cli_reports_an_assume_role_storm_in_one_message(
    fake: FakeBedrock, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rftenv_jobs, "credentials_clock", clock)
    connection = Connection("us-east-1", role_arn=DEPLOYER, endpoint_url=fake.endpoint_url)
    fake.inject("AssumeRole", "ThrottlingException", times=10_000)
    with pytest.raises(rftenv_jobs.AwsCallError) as raised:
        rftenv_jobs.client(connection, "bedrock")
    assert str(raised.value) == (
        f"AssumeRole ({DEPLOYER}) failed: ThrottlingException: Rate exceeded (gave up after 8 "
        "attempts)"
    )
