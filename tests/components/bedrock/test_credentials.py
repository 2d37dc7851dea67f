"""Waits that outlive one role session: the deployment role's credentials are refreshable,
refreshed by botocore (AssumeRole again, with the external id) before they expire.

The fake STS issues credentials that expire one fake hour after they are issued, and the fake
control plane refuses calls signed with expired ones (tests/fakes_test/test_fake_sts.py shows
that fixed assumed keys stop working after that hour)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError

from rft_env.components.bedrock.inference import ProvisionedThroughputProvider
from rft_env.components.bedrock.job import RftCustomizationJobProvider
from rft_env.components.bedrock.session import SESSION_NAME, Connection
from rft_env.rftenv import jobs as rftenv_jobs
from tests.components.bedrock.conftest import completed_job, inference_props, job_props
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock

HOUR = 3600.0
DEPLOYER = "arn:aws:iam::111122223333:role/rft-env-deployer"
EXTERNAL_ID = "rft-env-dev"


def with_role(props: dict[str, Any]) -> dict[str, Any]:
    props["connection"] = {**props["connection"], "roleArn": DEPLOYER, "externalId": EXTERNAL_ID}
    return props


def assume_role_calls(fake: FakeBedrock) -> list[dict[str, Any]]:
    return [params for name, params in fake.calls if name == "AssumeRole"]


def assert_every_assume_role_sends_the_external_id(fake: FakeBedrock) -> None:
    assert assume_role_calls(fake)
    for params in assume_role_calls(fake):
        # No DurationSeconds: AWS's default of one hour, which any role's maximum allows.
        assert params == {
            "RoleArn": DEPLOYER,
            "RoleSessionName": SESSION_NAME,
            "ExternalId": EXTERNAL_ID,
        }


def test_a_three_hour_job_wait_outlives_the_one_hour_role_sessions(
    fake: FakeBedrock, clock: FakeClock
) -> None:
    fake.job_duration = 3 * HOUR
    provider = RftCustomizationJobProvider(clock=clock)
    started = clock.time()
    props = job_props(fake, wait={"enabled": True, "timeoutSeconds": 86400, "maxPollSeconds": 300})
    outs = provider.create(with_role(props)).outs
    assert outs["status"] == "Completed"
    assert clock.time() - started >= 3 * HOUR
    # Three hours of one-hour sessions, each renewed before it ends: at least three.
    assert fake.count("AssumeRole") >= 3
    assert fake.refused("ExpiredTokenException") == []
    assert_every_assume_role_sends_the_external_id(fake)
    # Nothing of the session stays on the provider (it is pickled into state).
    assert vars(provider) == {"clock": clock}


def test_a_throughput_wait_longer_than_an_hour_completes(
    jobs: RftCustomizationJobProvider,
    throughputs: ProvisionedThroughputProvider,
    fake: FakeBedrock,
) -> None:
    model = completed_job(jobs, fake)["customModelArn"]
    fake.pt_duration = 2.5 * HOUR
    props = inference_props(
        fake, model, kind="throughput", wait={"timeoutSeconds": 4 * HOUR, "maxPollSeconds": 300}
    )
    created = throughputs.create(with_role(props))
    assert created.outs["status"] == "InService"
    assert fake.count("AssumeRole") >= 3
    assert fake.refused() == []
    assert_every_assume_role_sends_the_external_id(fake)


def test_botocore_refreshes_15_minutes_before_expiry_and_after_a_long_pause(
    fake: FakeBedrock, clock: FakeClock
) -> None:
    """The client assumes the role once; botocore assumes it again in the last 15 minutes of
    a session (its advisory refresh window), or at once when the session has ended."""
    connection = Connection("us-east-1", DEPLOYER, EXTERNAL_ID, fake.endpoint_url)
    client = connection.client(clock=clock)
    assert fake.count("AssumeRole") == 1
    clock.advance(HOUR - 15 * 60 - 1)
    client.list_model_customization_jobs()
    assert fake.count("AssumeRole") == 1
    clock.advance(2)
    client.list_model_customization_jobs()
    assert fake.count("AssumeRole") == 2
    clock.advance(5 * HOUR)  # no call for longer than a session
    client.list_model_customization_jobs()
    assert fake.count("AssumeRole") == 3
    assert fake.refused() == []
    assert_every_assume_role_sends_the_external_id(fake)


def test_without_a_role_the_default_credentials_are_used_as_they_are(
    fake: FakeBedrock, clock: FakeClock
) -> None:
    client = Connection("us-east-1", endpoint_url=fake.endpoint_url).client(clock=clock)
    clock.advance(5 * HOUR)
    client.list_model_customization_jobs()
    assert fake.count("AssumeRole") == 0


def test_no_source_credentials_is_a_clear_error(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(NoCredentialsError):
        Connection("us-east-1", DEPLOYER, EXTERNAL_ID, fake.endpoint_url).client()
    assert fake.count("AssumeRole") == 0


def test_rftenv_clients_use_the_same_refreshable_credentials(
    fake: FakeBedrock, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rftenv status` and `metrics` build their clients through `rftenv.jobs.client`."""
    monkeypatch.setattr(rftenv_jobs, "credentials_clock", clock)
    connection = Connection("us-east-1", DEPLOYER, EXTERNAL_ID, fake.endpoint_url)
    client = rftenv_jobs.client(connection, "bedrock")
    clock.advance(2 * HOUR)
    rftenv_jobs.call(client, "list_model_customization_jobs")
    assert fake.count("AssumeRole") == 2
    assert fake.refused() == []
    assert_every_assume_role_sends_the_external_id(fake)
