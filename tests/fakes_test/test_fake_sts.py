"""The fake's STS: AssumeRole refuses what STS refuses, and the credentials it issues expire on
the fake clock, after which the fake control plane refuses calls signed with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.fakes import FakeBedrock, FakeClock
from tests.fakes.bedrock import COMMON_AUTH_ERRORS
from tests.fakes.bedrock_runtime import FakeBedrockRuntime

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/rft-env-deployer"
HOUR = 3600


def _config(**extra: Any) -> botocore.config.Config:
    # One attempt: every refusal surfaces as one ClientError, and nothing sleeps.
    return botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}, **extra)


def _client(service: str, fake: FakeBedrock, **keys: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=keys.get("AccessKeyId", "testing"),
        aws_secret_access_key=keys.get("SecretAccessKey", "testing"),
        aws_session_token=keys.get("SessionToken"),
        region_name="us-east-1",
    )
    return session.client(service, endpoint_url=fake.endpoint_url, config=_config())


@pytest.fixture
def sts(fake: FakeBedrock) -> Any:
    return _client("sts", fake)


@pytest.fixture
def raw_sts(fake: FakeBedrock) -> Any:
    """Without botocore's client-side checks (it checks minimums only), so the fake's own
    server-side checks are what refuses."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    config = _config(parameter_validation=False)
    return session.client("sts", endpoint_url=fake.endpoint_url, config=config)


def _error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def _assume(sts: Any, **extra: Any) -> dict[str, Any]:
    return sts.assume_role(RoleArn=ROLE, RoleSessionName="rft-env-bedrock", **extra)


def test_assumed_credentials_expire_one_fake_hour_after_they_are_issued(
    sts: Any, fake: FakeBedrock, clock: FakeClock
) -> None:
    """The old provider session: fixed keys from one AssumeRole. They work for an hour of
    fake time, and then the control plane refuses them as AWS does."""
    issued = datetime.fromtimestamp(clock.time(), UTC)
    credentials = _assume(sts)["Credentials"]
    assert credentials["Expiration"] == issued + timedelta(hours=1)  # AWS's default duration
    bedrock = _client("bedrock", fake, **credentials)
    bedrock.list_model_customization_jobs()
    clock.advance(HOUR - 1)
    bedrock.list_model_customization_jobs()
    clock.advance(1)
    with pytest.raises(ClientError) as info:
        bedrock.list_model_customization_jobs()
    assert _error(info) == (
        "ExpiredTokenException",
        403,
        "The security token included in the request is expired",
    )
    assert fake.refused() == ["ListModelCustomizationJobs"]
    assert fake.count("ListModelCustomizationJobs") == 3  # the refused call is logged too
    # Keys the fake did not issue (the tests' long-term ones) never expire.
    _client("bedrock", fake).list_model_customization_jobs()
    assert fake.refused() == ["ListModelCustomizationJobs"]


def test_a_requested_duration_sets_the_expiry(
    sts: Any, fake: FakeBedrock, clock: FakeClock
) -> None:
    credentials = _assume(sts, DurationSeconds=900)["Credentials"]
    bedrock = _client("bedrock", fake, **credentials)
    clock.advance(899)
    bedrock.list_custom_model_deployments()
    clock.advance(1)
    with pytest.raises(ClientError) as info:
        bedrock.list_custom_model_deployments()
    assert _error(info)[0] == "ExpiredTokenException"


def test_sts_refuses_expired_credentials_in_its_own_format(
    sts: Any, fake: FakeBedrock, clock: FakeClock
) -> None:
    """Role chaining with expired keys: STS's model declares ExpiredTokenException (400)."""
    chained = _client("sts", fake, **_assume(sts)["Credentials"])
    clock.advance(HOUR)
    with pytest.raises(ClientError) as info:
        _assume(chained)
    assert _error(info)[:2] == ("ExpiredTokenException", 400)
    assert fake.refused() == ["AssumeRole"]


def test_a_refused_call_does_not_use_up_an_injected_fault(
    sts: Any, fake: FakeBedrock, clock: FakeClock
) -> None:
    bedrock = _client("bedrock", fake, **_assume(sts)["Credentials"])
    fake.inject("ListModelCustomizationJobs", "ThrottlingException")
    clock.advance(HOUR)
    with pytest.raises(ClientError) as info:
        bedrock.list_model_customization_jobs()
    assert _error(info)[0] == "ExpiredTokenException"
    with pytest.raises(ClientError) as info:
        _client("bedrock", fake).list_model_customization_jobs()
    assert _error(info)[0] == "ThrottlingException"


def test_the_common_auth_errors_are_not_declared_by_bedrock_operations() -> None:
    """Why COMMON_AUTH_ERRORS exists: no Bedrock operation's model lists these errors."""
    model = botocore.session.get_session().get_service_model("bedrock")
    declared = {
        shape.name
        for name in model.operation_names
        for shape in model.operation_model(name).error_shapes
    }
    assert COMMON_AUTH_ERRORS and not COMMON_AUTH_ERRORS & declared


@pytest.mark.parametrize("duration", [900, 3600])
def test_durations_within_the_range_and_the_role_maximum_are_accepted(
    raw_sts: Any, duration: int
) -> None:
    assert _assume(raw_sts, DurationSeconds=duration)["Credentials"]["AccessKeyId"]


def test_the_role_maximum_session_duration_can_be_raised_to_12_hours(
    raw_sts: Any, fake: FakeBedrock
) -> None:
    fake.role_max_session_duration = 43_200
    assert _assume(raw_sts, DurationSeconds=43_200)["Credentials"]["AccessKeyId"]


@pytest.mark.parametrize(
    ("extra", "member", "role_maximum"),
    [
        ({"DurationSeconds": 899}, "DurationSeconds", 43_200),
        ({"DurationSeconds": 43_201}, "DurationSeconds", 43_200),
        ({"DurationSeconds": 7200}, "MaxSessionDuration", 3600),
        ({"ExternalId": "x"}, "ExternalId", 3600),
        ({"ExternalId": "x" * 1225}, "ExternalId", 3600),
        ({"ExternalId": "rft env dev"}, "ExternalId", 3600),
        ({"ExternalId": "rft-env;dev"}, "ExternalId", 3600),
        ({"RoleSessionName": "x"}, "RoleSessionName", 3600),
    ],
)
def test_assume_role_refuses_what_sts_refuses(
    raw_sts: Any,
    fake: FakeBedrock,
    extra: dict[str, Any],
    member: str,
    role_maximum: int,
) -> None:
    """The ranges, lengths and patterns of STS's service model, and the role's
    MaxSessionDuration, answered as STS answers: a ValidationError in query-XML."""
    fake.role_max_session_duration = role_maximum
    request = {"RoleArn": ROLE, "RoleSessionName": "rft-env-bedrock", **extra}
    with pytest.raises(ClientError) as info:
        raw_sts.assume_role(**request)
    code, status, message = _error(info)
    assert (code, status) == ("ValidationError", 400)
    assert member in message
    assert fake.count("AssumeRole") == 1


@pytest.mark.parametrize(
    ("extra", "member"),
    [
        ({"DurationSeconds": 899}, "DurationSeconds"),
        ({"ExternalId": "x"}, "ExternalId"),
        ({"ExternalId": "rft env dev"}, "ExternalId"),
        ({"RoleSessionName": "x"}, "RoleSessionName"),
        ({"RoleArn": "arn:aws:iam::111122223333:user/someone"}, "RoleArn"),
    ],
)
def test_the_runtime_fakes_assume_role_refuses_what_sts_refuses(
    clock: FakeClock, extra: dict[str, Any], member: str
) -> None:
    """`rftenv grade --endpoint-url` sends the judge's AssumeRole to the Bedrock Runtime
    fake: it checks the same service model as FakeBedrock's STS."""
    with FakeBedrockRuntime(clock) as runtime:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        config = _config(parameter_validation=False)
        raw = session.client("sts", endpoint_url=runtime.endpoint_url, config=config)
        request = {"RoleArn": ROLE, "RoleSessionName": "rft-env-bedrock", **extra}
        with pytest.raises(ClientError) as info:
            raw.assume_role(**request)
        code, status, message = _error(info)
        assert (code, status) == ("ValidationError", 400)
        assert member in message
        assert runtime.assumed == []
        # A valid request is answered.
        assert raw.assume_role(RoleArn=ROLE, RoleSessionName="rft-env-bedrock")["Credentials"]
