"""FakeBedrockRuntime as a model evaluation meets it: several models scripted apart, custom
model deployments and PTs that must exist and be ready in an attached FakeBedrock, per-model
faults, a throttling storm paced on the fake clock, SNS Publish, and one endpoint for all."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.fakes import FakeBedrock, FakeClock
from tests.fakes._wire import match_route, routes
from tests.fakes.bedrock_runtime import DEFAULT_REPLY, FakeBedrockRuntime, request_text

ACCOUNT = "111122223333"
BASE = "us.amazon.nova-2-lite-v1:0"
OTHER = "amazon.nova-micro-v1:0"
BASE_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-2-lite-v1:0:256k"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/rft-env-dev-bedrock"
GRADER = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rft-env-dev-grader"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:rft-env-dev-promotion"
HOUR = 3600


@cache
def _session(access_key: str, secret_key: str, token: str | None) -> boto3.session.Session:
    # Cached: a session caches the service models it loads, so clients build fast.
    return boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        region_name="us-east-1",
    )


def _client(service: str, endpoint_url: str, **keys: str) -> Any:
    session = _session(
        keys.get("AccessKeyId", "testing"),
        keys.get("SecretAccessKey", "testing"),
        keys.get("SessionToken"),
    )
    # One attempt: every refusal surfaces as one ClientError, and nothing sleeps.
    config = botocore.config.Config(retries={"total_max_attempts": 1})
    return session.client(service, endpoint_url=endpoint_url, config=config)


def _error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def _ask(client: Any, model_id: str, text: str = "What is 2 + 2?", **extra: Any) -> str:
    response = client.converse(
        modelId=model_id, messages=[{"role": "user", "content": [{"text": text}]}], **extra
    )
    return response["output"]["message"]["content"][0]["text"]


def _refusal(client: Any, model_id: str) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        _ask(client, model_id)
    return _error(info)


@pytest.fixture
def runtime(clock: FakeClock) -> Iterator[FakeBedrockRuntime]:
    with FakeBedrockRuntime(clock) as served:
        yield served


@pytest.fixture
def attached(fake: FakeBedrock) -> FakeBedrockRuntime:
    """A runtime served through `fake`'s endpoint. Its own clock reads another time, so a
    test sees whether attaching switched it to the control plane's."""
    runtime = FakeBedrockRuntime(FakeClock(start=0.0))
    fake.attach_runtime(runtime)
    return runtime


def _custom_model(fake: FakeBedrock, clock: FakeClock) -> str:
    """Run an RFT job to completion through the control plane; the custom model's ARN."""
    bedrock = _client("bedrock", fake.endpoint_url)
    job = bedrock.create_model_customization_job(
        jobName="job-1",
        customModelName="model-1",
        roleArn=ROLE,
        baseModelIdentifier=BASE_ARN,
        customizationType="REINFORCEMENT_FINE_TUNING",
        customizationConfig={
            "rftConfig": {"graderConfig": {"lambdaGrader": {"lambdaArn": GRADER}}}
        },
        trainingDataConfig={"s3Uri": "s3://rft-env-dev-data/train/data.jsonl"},
        outputDataConfig={"s3Uri": "s3://rft-env-dev-output/jobs/"},
    )
    clock.advance(fake.job_duration)
    return bedrock.get_model_customization_job(jobIdentifier=job["jobArn"])["outputModelArn"]


def _deployment(fake: FakeBedrock, clock: FakeClock) -> str:
    bedrock = _client("bedrock", fake.endpoint_url)
    return bedrock.create_custom_model_deployment(
        modelDeploymentName="dep-1", modelArn=_custom_model(fake, clock)
    )["customModelDeploymentArn"]


def _throughput(fake: FakeBedrock, clock: FakeClock) -> str:
    bedrock = _client("bedrock", fake.endpoint_url)
    return bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=_custom_model(fake, clock)
    )["provisionedModelArn"]


# ---------------------------------------------------------------- answers per model


def test_models_scripted_apart_answer_apart(runtime: FakeBedrockRuntime) -> None:
    runtime.script(BASE, lambda request: "base: " + request_text(request))
    runtime.script(OTHER, lambda request: "4")
    client = _client("bedrock-runtime", runtime.endpoint_url)
    assert _ask(client, BASE, "2 + 2?") == "base: 2 + 2?"
    assert _ask(client, OTHER) == "4"
    assert _ask(client, OTHER) == "4"
    # An unscripted model still gets the judge's reply.
    assert _ask(client, "amazon.nova-pro-v1:0") == DEFAULT_REPLY
    assert (runtime.calls_for(BASE), runtime.calls_for(OTHER)) == (1, 2)
    assert runtime.calls_for("amazon.nova-pro-v1:0") == 1


def test_usage_counts_system_and_message_text(runtime: FakeBedrockRuntime) -> None:
    runtime.script(BASE, lambda request: "x" * 40)
    client = _client("bedrock-runtime", runtime.endpoint_url)
    response = client.converse(
        modelId=BASE,
        system=[{"text": "s" * 100}],
        messages=[{"role": "user", "content": [{"text": "q" * 20}]}],
    )
    assert response["usage"] == {"inputTokens": 30, "outputTokens": 10, "totalTokens": 40}


def test_known_models_refuse_an_unknown_base_model_id(runtime: FakeBedrockRuntime) -> None:
    client = _client("bedrock-runtime", runtime.endpoint_url)
    assert _ask(client, "amazon.made-up-v9:0") == DEFAULT_REPLY  # None: any id is served
    runtime.known_models = {BASE}
    assert _ask(client, BASE) == DEFAULT_REPLY
    code, status, message = _refusal(client, "amazon.made-up-v9:0")
    assert (code, status, message) == (
        "ValidationException",
        400,
        "The provided model identifier is invalid.",
    )


# ---------------------------------------------------------------- deployments and PTs


def test_a_deployment_answers_once_active_and_not_while_creating(
    fake: FakeBedrock, clock: FakeClock, attached: FakeBedrockRuntime
) -> None:
    assert attached.clock is clock and attached.control is fake
    arn = _deployment(fake, clock)
    attached.script(arn, lambda request: "trained answer")
    client = _client("bedrock-runtime", fake.endpoint_url)
    code, status, _ = _refusal(client, arn)
    assert (code, status) == ("ModelNotReadyException", 429)
    clock.advance(fake.deployment_duration)
    assert _ask(client, arn) == "trained answer"
    # botocore sends the ARN percent-encoded as one path segment; the fake records it decoded.
    assert attached.calls_for(arn) == 2
    assert attached.calls[-1]["modelId"] == arn


def test_a_deleted_or_unknown_deployment_is_not_found(
    fake: FakeBedrock, clock: FakeClock, attached: FakeBedrockRuntime
) -> None:
    arn = _deployment(fake, clock)
    clock.advance(fake.deployment_duration)
    client = _client("bedrock-runtime", fake.endpoint_url)
    assert _ask(client, arn) == DEFAULT_REPLY
    fake.delete_out_of_band(arn)
    code, status, _ = _refusal(client, arn)
    assert (code, status) == ("ResourceNotFoundException", 404)
    never = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model-deployment/abcdefghijkl"
    assert _refusal(client, never)[:2] == ("ResourceNotFoundException", 404)


def test_a_provisioned_throughput_answers_in_service(
    fake: FakeBedrock, clock: FakeClock, attached: FakeBedrockRuntime
) -> None:
    arn = _throughput(fake, clock)
    attached.script(arn, lambda request: "pt answer")
    client = _client("bedrock-runtime", fake.endpoint_url)
    assert _refusal(client, arn)[:2] == ("ModelNotReadyException", 429)
    clock.advance(fake.pt_duration)
    assert fake.throughputs[arn]["status"] == "InService"
    assert _ask(client, arn) == "pt answer"
    never = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/abcdefghijkl"
    assert _refusal(client, never)[:2] == ("ResourceNotFoundException", 404)


# ---------------------------------------------------------------- faults and throttling


def test_a_fault_aimed_at_one_model_is_met_only_by_it(runtime: FakeBedrockRuntime) -> None:
    runtime.inject("ModelTimeoutException", model=BASE)
    client = _client("bedrock-runtime", runtime.endpoint_url)
    assert _ask(client, OTHER) == DEFAULT_REPLY
    assert runtime.pending_faults == 1
    assert _refusal(client, BASE)[:2] == ("ModelTimeoutException", 408)
    assert _ask(client, BASE) == DEFAULT_REPLY
    assert runtime.pending_faults == 0


def test_only_errors_converse_can_answer_are_injectable(runtime: FakeBedrockRuntime) -> None:
    with pytest.raises(ValueError, match="Converse never answers"):
        runtime.inject("ConflictException", model=BASE)
    assert runtime.pending_faults == 0


def test_rate_limit_throttles_beyond_the_burst_until_the_clock_refills_it(
    runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    runtime.rate_limit(2.0, burst=3)
    client = _client("bedrock-runtime", runtime.endpoint_url)
    for _ in range(3):
        assert _ask(client, BASE) == DEFAULT_REPLY
    assert _refusal(client, BASE)[:2] == ("ThrottlingException", 429)
    clock.advance(0.5)  # one token back at 2 per second
    assert _ask(client, BASE) == DEFAULT_REPLY
    assert _refusal(client, BASE)[:2] == ("ThrottlingException", 429)
    clock.advance(60)  # the bucket holds no more than its burst
    for _ in range(3):
        _ask(client, BASE)
    assert _refusal(client, BASE)[:2] == ("ThrottlingException", 429)
    assert runtime.throttled == 3
    assert len(runtime.calls) == len(runtime.call_times) == 10  # throttled ones included
    runtime.rate_limit(None)
    for _ in range(5):
        _ask(client, BASE)
    assert runtime.throttled == 3


# ---------------------------------------------------------------- SNS Publish


def test_sns_publish_is_recorded_and_checked(runtime: FakeBedrockRuntime) -> None:
    runtime.topics = {TOPIC}
    sns = _client("sns", runtime.endpoint_url)
    subject = "S" * 99  # the longest subject SNS accepts: "less than 100 characters"
    response = sns.publish(TopicArn=TOPIC, Subject=subject, Message="promoted: model-1")
    assert len(response["MessageId"]) == 36
    sns.publish(TopicArn=TOPIC, Message="no subject")
    assert runtime.published == [
        {"TopicArn": TOPIC, "Subject": subject, "Message": "promoted: model-1"},
        {"TopicArn": TOPIC, "Message": "no subject"},
    ]

    with pytest.raises(ClientError) as info:
        sns.publish(TopicArn=TOPIC + "-other", Message="m")
    assert _error(info)[:2] == ("NotFound", 404)
    for bad in ("S" * 100, "line\nbreak", "caf\u00e9"):
        with pytest.raises(ClientError) as info:
            sns.publish(TopicArn=TOPIC, Subject=bad, Message="m")
        assert _error(info) == ("InvalidParameter", 400, "Invalid parameter: Subject")
    assert len(runtime.published) == 2


# ---------------------------------------------------------------- one endpoint


def test_runtime_and_control_routes_never_overlap() -> None:
    def sample(segments: tuple[str, ...]) -> str:
        return "/" + "/".join("x%3Ay" if s.startswith("{") else s for s in segments)

    pairs = [("bedrock", "bedrock-runtime"), ("bedrock-runtime", "bedrock")]
    overlaps = [
        (route.operation, mine)
        for mine, other in pairs
        for route in routes(mine)
        if match_route(route.method, sample(route.segments), other) is not None
    ]
    assert routes("bedrock-runtime") and routes("bedrock")
    assert overlaps == []


def test_without_a_runtime_the_control_plane_serves_no_converse(fake: FakeBedrock) -> None:
    client = _client("bedrock-runtime", fake.endpoint_url)
    assert _refusal(client, BASE)[:2] == ("NotImplemented", 501)


def test_one_endpoint_serves_all_and_refuses_expired_keys_everywhere(
    fake: FakeBedrock, clock: FakeClock, attached: FakeBedrockRuntime
) -> None:
    sts = _client("sts", fake.endpoint_url)
    keys = sts.assume_role(RoleArn=ROLE, RoleSessionName="rft-env-eval")["Credentials"]
    runtime_client = _client("bedrock-runtime", fake.endpoint_url, **keys)
    sns = _client("sns", fake.endpoint_url, **keys)
    attached.script(BASE, lambda request: "via control endpoint")
    assert _ask(runtime_client, BASE) == "via control endpoint"
    sns.publish(TopicArn=TOPIC, Subject="Promoted", Message="ok")
    assert attached.published == [{"TopicArn": TOPIC, "Subject": "Promoted", "Message": "ok"}]
    assert attached.signers[0][0] == keys["AccessKeyId"]

    clock.advance(HOUR)
    code, status, _ = _refusal(runtime_client, BASE)
    assert (code, status) == ("ExpiredTokenException", 403)
    with pytest.raises(ClientError) as info:
        sns.publish(TopicArn=TOPIC, Message="late")
    assert _error(info)[0] == "ExpiredTokenException"
    assert fake.refused() == ["Converse", "Publish"]
    # Refused at the door: the runtime never saw them.
    assert len(attached.calls) == 1
    assert len(attached.published) == 1
