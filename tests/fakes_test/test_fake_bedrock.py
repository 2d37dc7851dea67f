"""FakeBedrock through real boto3 clients: botocore serializes requests and parses responses."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from tests.fakes import FakeBedrock, FakeClock
from tests.fakes._wire import (
    COMMON_ERRORS,
    ServiceError,
    allowed_errors,
    error_status,
    service_model,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "111122223333"
BASE_ID = "amazon.nova-2-lite-v1:0:256k"
BASE_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{BASE_ID}"
OTHER_BASE_ID = "amazon.nova-micro-v1:0:128k"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/rft-env-dev-bedrock"
GRADER = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rft-env-dev-grader"
JOB_ARN = re.compile(
    rf"arn:aws:bedrock:us-east-1:{ACCOUNT}:model-customization-job/"
    rf"{re.escape(BASE_ID)}/[a-z0-9]{{12}}"
)
MODEL_ARN = re.compile(
    rf"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/{re.escape(BASE_ID)}/[a-z0-9]{{12}}"
)


@pytest.fixture(scope="module")
def session() -> boto3.session.Session:
    # One session per module: it caches the loaded service models, so clients build fast.
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def _config() -> botocore.config.Config:
    # How the provider builds its clients. Note: `max_attempts` counts retries, so this still
    # makes up to two attempts per call.
    return botocore.config.Config(retries={"mode": "standard", "max_attempts": 1})


@pytest.fixture
def bedrock(session: boto3.session.Session, fake: FakeBedrock) -> Any:
    return session.client("bedrock", endpoint_url=fake.endpoint_url, config=_config())


@pytest.fixture
def single_shot(session: boto3.session.Session, fake: FakeBedrock) -> Any:
    """A client that never retries, so each injected fault surfaces as one ClientError."""
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
    return session.client("bedrock", endpoint_url=fake.endpoint_url, config=config)


@pytest.fixture
def sts(session: boto3.session.Session, fake: FakeBedrock) -> Any:
    return session.client("sts", endpoint_url=fake.endpoint_url, config=_config())


def job_request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "jobName": "rft-env-dev-job-1",
        "customModelName": "rft-env-dev-model-1",
        "roleArn": ROLE,
        "baseModelIdentifier": BASE_ARN,
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "customizationConfig": {
            "rftConfig": {
                "graderConfig": {"lambdaGrader": {"lambdaArn": GRADER}},
                "hyperParameters": {
                    "epochCount": 2,
                    "batchSize": 64,
                    "learningRate": 1e-5,
                    "maxPromptLength": 4096,
                    "trainingSamplePerPrompt": 4,
                    "inferenceMaxTokens": 8192,
                    "reasoningEffort": "high",
                    "evalInterval": 10,
                },
            }
        },
        "trainingDataConfig": {"s3Uri": "s3://rft-env-dev-data/train/data.jsonl"},
        "outputDataConfig": {"s3Uri": "s3://rft-env-dev-output/jobs/"},
    }
    request.update(overrides)
    return request


def hyper(**values: Any) -> dict[str, Any]:
    """A customizationConfig whose hyperparameters are overridden by `values`."""
    config = job_request()["customizationConfig"]
    config["rftConfig"]["hyperParameters"].update(values)
    return config


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def completed_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock, n: int, base: str = BASE_ARN
) -> str:
    """Run a job to completion and return its custom model's ARN."""
    arn = bedrock.create_model_customization_job(
        **job_request(jobName=f"job-{n}", customModelName=f"model-{n}", baseModelIdentifier=base)
    )["jobArn"]
    clock.advance(fake.job_duration)
    return bedrock.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]


# ---------------------------------------------------------------- customization jobs


def test_job_runs_to_completion_and_model_exists_only_afterwards(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    assert JOB_ARN.fullmatch(arn)

    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "InProgress"
    assert "outputModelArn" not in job
    assert "endTime" not in job
    assert job["creationTime"] == START
    assert fake.custom_models == {}
    with pytest.raises(ClientError) as info:
        bedrock.get_custom_model(modelIdentifier="rft-env-dev-model-1")
    assert error_of(info)[:2] == ("ResourceNotFoundException", 404)

    clock.advance(3599)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "InProgress"
    clock.advance(1)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Completed"
    assert MODEL_ARN.fullmatch(job["outputModelArn"])
    assert job["endTime"] == START + timedelta(hours=1)
    assert job["trainingMetrics"] == {"trainingLoss": 0.12}
    assert job["validationMetrics"] == [{"validationLoss": 0.15}]

    model = bedrock.get_custom_model(modelIdentifier=job["outputModelArn"])
    assert model["modelStatus"] == "Active"
    assert model["modelName"] == "rft-env-dev-model-1"
    assert model["jobArn"] == arn
    assert model["baseModelArn"] == BASE_ARN
    assert model["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    assert "modelKmsKeyArn" not in model
    assert set(fake.custom_models) == {job["outputModelArn"]}


def test_get_job_echoes_the_request(bedrock: Any) -> None:
    kms = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0123abcd-0123-4567-89ab-0123456789ab"
    vpc = {"subnetIds": ["subnet-1", "subnet-2"], "securityGroupIds": ["sg-1"]}
    validation = {"validators": [{"s3Uri": "s3://rft-env-dev-data/val/data.jsonl"}]}
    request = job_request(
        baseModelIdentifier=BASE_ID,  # a plain id resolves to the foundation-model ARN
        clientRequestToken="token-1",
        customModelKmsKeyId=kms,
        vpcConfig=vpc,
        validationDataConfig=validation,
    )
    arn = bedrock.create_model_customization_job(**request)["jobArn"]
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["jobName"] == request["jobName"]
    assert job["outputModelName"] == request["customModelName"]
    assert job["roleArn"] == ROLE
    assert job["clientRequestToken"] == "token-1"
    assert job["baseModelArn"] == BASE_ARN
    assert job["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    assert job["customizationConfig"] == request["customizationConfig"]
    assert job["trainingDataConfig"] == request["trainingDataConfig"]
    assert job["outputDataConfig"] == request["outputDataConfig"]
    assert job["validationDataConfig"] == validation
    assert job["vpcConfig"] == vpc
    assert job["outputModelKmsKeyArn"] == kms


def test_kms_key_flows_to_the_custom_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    key_id = "0123abcd-0123-4567-89ab-0123456789ab"
    arn = bedrock.create_model_customization_job(**job_request(customModelKmsKeyId=key_id))[
        "jobArn"
    ]
    clock.advance(fake.job_duration)
    model_arn = bedrock.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]
    model = bedrock.get_custom_model(modelIdentifier=model_arn)
    assert model["modelKmsKeyArn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"


def test_failed_job_reports_message_and_makes_no_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    fake.job_outcome = "Failed"
    fake.job_duration = 120
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    clock.advance(120)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed"
    assert job["failureMessage"] == "Grader Lambda returned invalid output"
    assert job["endTime"] == START + timedelta(seconds=120)
    assert "outputModelArn" not in job
    assert fake.custom_models == {}


def test_stop_goes_through_stopping_to_stopped_without_a_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    clock.advance(100)
    bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Stopping"

    with pytest.raises(ClientError) as info:
        bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert error_of(info)[:2] == ("ConflictException", 400)

    clock.advance(59)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Stopping"
    clock.advance(1)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Stopped"
    assert job["endTime"] == START + timedelta(seconds=160)

    clock.advance(10 * fake.job_duration)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Stopped"
    assert "outputModelArn" not in job
    assert fake.custom_models == {}


def test_stop_of_a_completed_job_is_a_conflict(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    clock.advance(fake.job_duration)
    with pytest.raises(ClientError) as info:
        bedrock.stop_model_customization_job(jobIdentifier=arn)
    code, status, message = error_of(info)
    assert (code, status) == ("ConflictException", 400)
    assert "Completed" in message
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Completed"


def test_same_client_request_token_returns_the_same_job(bedrock: Any, fake: FakeBedrock) -> None:
    first = bedrock.create_model_customization_job(**job_request(clientRequestToken="abc-123"))
    second = bedrock.create_model_customization_job(**job_request(clientRequestToken="abc-123"))
    assert first["jobArn"] == second["jobArn"]
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert len(fake.jobs) == 1
    assert fake.count("CreateModelCustomizationJob") == 2


def test_job_name_stays_taken_after_completion(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    bedrock.create_model_customization_job(**job_request())
    clock.advance(fake.job_duration)
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(**job_request(customModelName="another-model"))
    code, _, message = error_of(info)
    assert code == "ConflictException"
    assert "rft-env-dev-job-1" in message
    assert len(fake.jobs) == 1


def test_model_name_is_taken_by_a_running_job_and_by_an_existing_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    bedrock.create_model_customization_job(**job_request())
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(**job_request(jobName="job-2"))
    assert error_of(info)[0] == "ConflictException"

    clock.advance(fake.job_duration)  # the model now exists
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(**job_request(jobName="job-3"))
    assert error_of(info)[0] == "ConflictException"
    assert len(fake.jobs) == 1


def test_model_name_is_free_again_after_a_failed_job(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    fake.job_outcome = "Failed"
    bedrock.create_model_customization_job(**job_request())
    clock.advance(fake.job_duration)
    fake.job_outcome = "Completed"
    arn = bedrock.create_model_customization_job(**job_request(jobName="job-retry"))["jobArn"]
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "InProgress"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customizationConfig": hyper(epochCount=100)}, "hyperParameters.epochCount"),
        ({"customizationConfig": hyper(batchSize=1024)}, "hyperParameters.batchSize"),
        ({"customizationConfig": hyper(learningRate=0.5)}, "hyperParameters.learningRate"),
        (
            {"customizationConfig": hyper(trainingSamplePerPrompt=17)},
            "hyperParameters.trainingSamplePerPrompt",
        ),
        ({"customizationConfig": hyper(evalInterval=101)}, "hyperParameters.evalInterval"),
        (
            {"customizationConfig": hyper(reasoningEffort="extreme")},
            "hyperParameters.reasoningEffort",
        ),
        ({"customizationConfig": hyper(maxPromptLength=0)}, "hyperParameters.maxPromptLength"),
        (
            {"customizationConfig": hyper(inferenceMaxTokens=-1)},
            "hyperParameters.inferenceMaxTokens",
        ),
        # Beyond the base model's context (UNCONFIRMED bounds: the README's safe choice).
        ({"customizationConfig": hyper(maxPromptLength=10**12)}, "maxPromptLength 10000"),
        ({"customizationConfig": hyper(inferenceMaxTokens=10**9)}, "inferenceMaxTokens 10000"),
        ({"jobName": "bad_job_name"}, "jobName"),
        ({"jobName": "j" * 64}, "jobName"),
        ({"customModelName": "bad.model"}, "customModelName"),
        ({"roleArn": f"arn:aws:iam::{ACCOUNT}:user/someone"}, "roleArn"),
        (
            {
                "customizationConfig": {
                    "rftConfig": {
                        "graderConfig": {"lambdaGrader": {"lambdaArn": "arn:aws:s3:::bucket"}}
                    }
                }
            },
            "lambdaGrader.lambdaArn",
        ),
        ({"customizationType": "FINE_TUNING"}, "customizationType"),
        ({"customizationConfig": {"rftConfig": {}}}, "lambdaArn"),
        ({"trainingDataConfig": {"s3Uri": "https://example.com/data.jsonl"}}, "s3Uri"),
        ({"outputDataConfig": {"s3Uri": "/tmp/out"}}, "outputDataConfig.s3Uri"),
    ],
)
def test_server_side_validation_names_the_field(
    bedrock: Any, fake: FakeBedrock, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(**job_request(**overrides))
    code, status, message = error_of(info)
    assert (code, status) == ("ValidationException", 400)
    assert field in message
    # The request reached the fake (botocore let it through) and created nothing.
    assert fake.count("CreateModelCustomizationJob") == 1
    assert fake.jobs == {}


def test_botocore_rejects_minimums_before_the_request_is_sent(
    bedrock: Any, fake: FakeBedrock
) -> None:
    with pytest.raises(ParamValidationError):
        bedrock.create_model_customization_job(
            **job_request(customizationConfig=hyper(batchSize=8))
        )
    assert fake.count("CreateModelCustomizationJob") == 0


def test_too_many_tags_is_refused_before_anything_is_created(
    bedrock: Any, fake: FakeBedrock
) -> None:
    tags = [{"key": f"k{i}", "value": "v"} for i in range(201)]
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(**job_request(jobTags=tags))
    assert error_of(info)[:2] == ("TooManyTagsException", 400)
    assert fake.jobs == {}


def test_get_job_by_name_and_by_arn(bedrock: Any, fake: FakeBedrock) -> None:
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    by_arn = bedrock.get_model_customization_job(jobIdentifier=arn)
    by_name = bedrock.get_model_customization_job(jobIdentifier="rft-env-dev-job-1")
    assert by_arn["jobArn"] == by_name["jobArn"] == arn
    # The ARN travelled URL-encoded in the path and was decoded for `calls`.
    assert ("GetModelCustomizationJob", {"jobIdentifier": arn}) in fake.calls


def test_get_custom_model_by_name_and_by_arn(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    assert bedrock.get_custom_model(modelIdentifier="model-1")["modelArn"] == model_arn
    assert bedrock.get_custom_model(modelIdentifier=model_arn)["modelName"] == "model-1"


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("get_model_customization_job", {"jobIdentifier": "no-such-job"}),
        (
            "get_model_customization_job",
            {
                "jobIdentifier": f"arn:aws:bedrock:us-east-1:{ACCOUNT}:"
                f"model-customization-job/{BASE_ID}/abcdefabcdef"
            },
        ),
        ("stop_model_customization_job", {"jobIdentifier": "no-such-job"}),
        ("get_custom_model", {"modelIdentifier": "no-such-model"}),
        ("delete_custom_model", {"modelIdentifier": "no-such-model"}),
        ("get_provisioned_model_throughput", {"provisionedModelId": "no-such-pt"}),
        ("delete_provisioned_model_throughput", {"provisionedModelId": "no-such-pt"}),
        ("get_custom_model_deployment", {"customModelDeploymentIdentifier": "nope"}),
        ("delete_custom_model_deployment", {"customModelDeploymentIdentifier": "nope"}),
        (
            "list_tags_for_resource",
            {"resourceARN": f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/abcdefabcdef"},
        ),
    ],
)
def test_unknown_resources_are_not_found(bedrock: Any, method: str, kwargs: dict) -> None:
    with pytest.raises(ClientError) as info:
        getattr(bedrock, method)(**kwargs)
    assert error_of(info)[:2] == ("ResourceNotFoundException", 404)


def test_tags_on_jobs_models_pts_and_deployments(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    job_arn = bedrock.create_model_customization_job(
        **job_request(
            jobTags=[{"key": "project", "value": "rft-env"}],
            customModelTags=[{"key": "stage", "value": "dev"}],
        )
    )["jobArn"]
    assert bedrock.list_tags_for_resource(resourceARN=job_arn)["tags"] == [
        {"key": "project", "value": "rft-env"}
    ]
    bedrock.tag_resource(resourceARN=job_arn, tags=[{"key": "owner", "value": "me"}])
    bedrock.untag_resource(resourceARN=job_arn, tagKeys=["project"])
    assert bedrock.list_tags_for_resource(resourceARN=job_arn)["tags"] == [
        {"key": "owner", "value": "me"}
    ]

    clock.advance(fake.job_duration)
    model_arn = bedrock.get_model_customization_job(jobIdentifier=job_arn)["outputModelArn"]
    assert bedrock.list_tags_for_resource(resourceARN=model_arn)["tags"] == [
        {"key": "stage", "value": "dev"}
    ]

    pt_arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1,
        provisionedModelName="pt-1",
        modelId=model_arn,
        tags=[{"key": "a", "value": "1"}],
    )["provisionedModelArn"]
    dep_arn = bedrock.create_custom_model_deployment(
        modelDeploymentName="dep-1", modelArn=model_arn, tags=[{"key": "b", "value": "2"}]
    )["customModelDeploymentArn"]
    assert bedrock.list_tags_for_resource(resourceARN=pt_arn)["tags"] == [
        {"key": "a", "value": "1"}
    ]
    bedrock.tag_resource(resourceARN=dep_arn, tags=[{"key": "b", "value": "3"}])
    assert bedrock.list_tags_for_resource(resourceARN=dep_arn)["tags"] == [
        {"key": "b", "value": "3"}
    ]

    with pytest.raises(ClientError) as info:
        bedrock.tag_resource(
            resourceARN=f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model-deployment/zzzzzzzzzzzz",
            tags=[{"key": "k", "value": "v"}],
        )
    assert error_of(info)[:2] == ("ResourceNotFoundException", 404)


# ---------------------------------------------------------------- provisioned throughput


def test_provisioned_throughput_becomes_in_service(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    created = clock.time()
    response = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId="model-1"
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = response["provisionedModelArn"]
    assert re.fullmatch(
        rf"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/[a-z0-9]{{12}}", arn
    )

    pt = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert pt["status"] == "Creating"
    assert pt["provisionedModelName"] == "pt-1"
    assert pt["modelArn"] == pt["desiredModelArn"] == model_arn
    assert pt["foundationModelArn"] == BASE_ARN
    assert pt["modelUnits"] == pt["desiredModelUnits"] == 1
    assert pt["creationTime"] == datetime.fromtimestamp(created, UTC)
    assert "commitmentDuration" not in pt

    clock.advance(fake.pt_duration)
    pt = bedrock.get_provisioned_model_throughput(provisionedModelId="pt-1")
    assert pt["status"] == "InService"
    assert "failureMessage" not in pt


def test_provisioned_throughput_can_fail(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    fake.pt_outcome = "Failed"
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn
    )["provisionedModelArn"]
    clock.advance(fake.pt_duration)
    pt = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert pt["status"] == "Failed"
    assert pt["failureMessage"]


def test_provisioned_throughput_create_checks(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    first = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn, clientRequestToken="t1"
    )
    again = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn, clientRequestToken="t1"
    )
    assert first["provisionedModelArn"] == again["provisionedModelArn"]
    assert len(fake.throughputs) == 1

    with pytest.raises(ClientError) as info:
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pt-1", modelId=model_arn
        )
    # CreateProvisionedModelThroughput declares no ConflictException.
    assert error_of(info)[0] == "ValidationException"

    with pytest.raises(ClientError) as info:
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pt-2", modelId="no-such-model"
        )
    assert error_of(info)[:2] == ("ResourceNotFoundException", 404)

    with pytest.raises(ClientError) as info:
        bedrock.create_provisioned_model_throughput(
            modelUnits=1,
            provisionedModelName="pt-2",
            modelId=model_arn,
            commitmentDuration="OneYear",
        )
    code, _, message = error_of(info)
    assert code == "ValidationException"
    assert "commitmentDuration" in message
    assert len(fake.throughputs) == 1


def test_model_units_beyond_the_quota_are_refused(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    for units, commitment in ((3, {}), (51, {"commitmentDuration": "OneMonth"})):
        with pytest.raises(ClientError) as info:
            bedrock.create_provisioned_model_throughput(
                modelUnits=units, provisionedModelName="pt", modelId=model_arn, **commitment
            )
        assert error_of(info)[0] == "ServiceQuotaExceededException"
    assert fake.throughputs == {}


def test_provisioned_throughput_update_switches_name_and_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    first = completed_model(bedrock, clock, fake, 1)
    second = completed_model(bedrock, clock, fake, 2)
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=first
    )["provisionedModelArn"]
    clock.advance(fake.pt_duration)

    bedrock.update_provisioned_model_throughput(
        provisionedModelId=arn, desiredProvisionedModelName="pt-renamed", desiredModelId="model-2"
    )
    pt = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert pt["status"] == "Updating"
    assert pt["modelArn"] == first
    assert pt["desiredModelArn"] == second
    assert pt["provisionedModelName"] == "pt-1"

    clock.advance(fake.pt_update_duration)
    pt = bedrock.get_provisioned_model_throughput(provisionedModelId="pt-renamed")
    assert pt["status"] == "InService"
    assert pt["modelArn"] == pt["desiredModelArn"] == second
    assert pt["provisionedModelArn"] == arn


def test_provisioned_throughput_update_needs_the_same_base_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    first = completed_model(bedrock, clock, fake, 1)
    other = completed_model(
        bedrock, clock, fake, 2, base=f"arn:aws:bedrock:us-east-1::foundation-model/{OTHER_BASE_ID}"
    )
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=first
    )["provisionedModelArn"]
    clock.advance(fake.pt_duration)
    with pytest.raises(ClientError) as info:
        bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=other)
    assert error_of(info)[:2] == ("ValidationException", 400)
    assert bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"] == (
        "InService"
    )


def test_committed_throughput_cannot_be_deleted_before_expiry(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    created = clock.time()
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn, commitmentDuration="OneMonth"
    )["provisionedModelArn"]
    pt = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    expires = datetime.fromtimestamp(created, UTC) + timedelta(days=30)
    assert pt["commitmentDuration"] == "OneMonth"
    assert pt["commitmentExpirationTime"] == expires

    clock.advance(fake.pt_duration)
    with pytest.raises(ClientError) as info:
        bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    code, _, message = error_of(info)
    assert code == "ValidationException"
    assert expires.strftime("%Y-%m-%dT%H:%M:%S") in message
    assert arn in fake.throughputs

    clock.advance(30 * 86_400)
    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    assert fake.throughputs == {}


def test_six_month_commitment_expires_after_180_days(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    created = datetime.fromtimestamp(clock.time(), UTC)
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn, commitmentDuration="SixMonths"
    )["provisionedModelArn"]
    pt = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert pt["commitmentExpirationTime"] == created + timedelta(days=180)


def test_uncommitted_throughput_deletes_at_once(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn
    )["provisionedModelArn"]
    response = bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as info:
        bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert error_of(info)[0] == "ResourceNotFoundException"


def test_custom_model_in_use_cannot_be_deleted(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    pt_arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn
    )["provisionedModelArn"]
    with pytest.raises(ClientError) as info:
        bedrock.delete_custom_model(modelIdentifier=model_arn)
    code, status, message = error_of(info)
    assert (code, status) == ("ConflictException", 400)
    assert pt_arn in message

    bedrock.delete_provisioned_model_throughput(provisionedModelId=pt_arn)
    dep_arn = bedrock.create_custom_model_deployment(
        modelDeploymentName="dep-1", modelArn=model_arn
    )["customModelDeploymentArn"]
    with pytest.raises(ClientError) as info:
        bedrock.delete_custom_model(modelIdentifier="model-1")
    assert error_of(info)[0] == "ConflictException"

    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=dep_arn)
    response = bedrock.delete_custom_model(modelIdentifier="model-1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert fake.custom_models == {}


# ---------------------------------------------------------------- deployments


def test_deployment_lifecycle(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    first = completed_model(bedrock, clock, fake, 1)
    second = completed_model(bedrock, clock, fake, 2)
    response = bedrock.create_custom_model_deployment(
        modelDeploymentName="dep-1", modelArn=first, description="RFT model"
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    arn = response["customModelDeploymentArn"]
    assert re.fullmatch(
        rf"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model-deployment/[a-z0-9]{{12}}", arn
    )

    dep = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
    assert dep["status"] == "Creating"
    assert dep["modelDeploymentName"] == "dep-1"
    assert dep["modelArn"] == first
    assert dep["description"] == "RFT model"
    assert "updateDetails" not in dep

    clock.advance(fake.deployment_duration)
    dep = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier="dep-1")
    assert dep["status"] == "Active"

    update = bedrock.update_custom_model_deployment(
        customModelDeploymentIdentifier=arn, modelArn=second
    )
    assert update["ResponseMetadata"]["HTTPStatusCode"] == 202
    dep = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
    assert dep["updateDetails"] == {"modelArn": second, "updateStatus": "Updating"}
    assert dep["modelArn"] == first

    clock.advance(fake.deployment_update_duration)
    dep = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
    assert dep["updateDetails"] == {"modelArn": second, "updateStatus": "UpdateCompleted"}
    assert dep["modelArn"] == second
    assert dep["status"] == "Active"

    assert (
        bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)[
            "ResponseMetadata"
        ]["HTTPStatusCode"]
        == 200
    )
    assert fake.deployments == {}


def test_deployment_failure_conflict_and_missing_model(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    fake.deployment_outcome = "Failed"
    arn = bedrock.create_custom_model_deployment(modelDeploymentName="dep-1", modelArn=model_arn)[
        "customModelDeploymentArn"
    ]
    clock.advance(fake.deployment_duration)
    dep = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
    assert dep["status"] == "Failed"
    assert dep["failureMessage"]

    with pytest.raises(ClientError) as info:
        bedrock.create_custom_model_deployment(modelDeploymentName="dep-1", modelArn=model_arn)
    # CreateCustomModelDeployment declares no ConflictException.
    assert error_of(info)[0] == "ValidationException"

    missing = model_arn[:-12] + "zzzzzzzzzzzz"
    with pytest.raises(ClientError) as info:
        bedrock.create_custom_model_deployment(modelDeploymentName="dep-2", modelArn=missing)
    assert error_of(info)[:2] == ("ResourceNotFoundException", 404)


def test_deployment_token_is_idempotent(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    arns = {
        bedrock.create_custom_model_deployment(
            modelDeploymentName="dep-1", modelArn=model_arn, clientRequestToken="same"
        )["customModelDeploymentArn"]
        for _ in range(2)
    }
    assert len(arns) == 1
    assert len(fake.deployments) == 1


# ---------------------------------------------------------------- listing


def names(page: dict[str, Any], key: str, member: str) -> list[str]:
    return [summary[member] for summary in page[key]]


def test_list_jobs_summaries_newest_first(
    bedrock: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    fake.job_duration = 600
    done = bedrock.create_model_customization_job(
        **job_request(jobName="rft-env-dev-rft-aaa", customModelName="m-a")
    )["jobArn"]
    clock.advance(fake.job_duration)
    fake.job_outcome = "Failed"
    bedrock.create_model_customization_job(
        **job_request(jobName="rft-env-dev-rft-bbb", customModelName="m-b")
    )
    clock.advance(60)
    fake.job_duration = 3600
    bedrock.create_model_customization_job(
        **job_request(jobName="rft-env-prod-rft-ccc", customModelName="m-c")
    )
    clock.advance(600)  # the second job has failed by now, the third still runs

    page = bedrock.list_model_customization_jobs()
    assert names(page, "modelCustomizationJobSummaries", "jobName") == [
        "rft-env-prod-rft-ccc",
        "rft-env-dev-rft-bbb",
        "rft-env-dev-rft-aaa",
    ]
    assert "nextToken" not in page
    newest, failed, completed = page["modelCustomizationJobSummaries"]
    assert newest["status"] == "InProgress" and "endTime" not in newest
    assert "customModelArn" not in newest and newest["customModelName"] == "m-c"
    assert failed["status"] == "Failed" and "customModelArn" not in failed
    assert completed["jobArn"] == done
    assert completed["status"] == "Completed"
    assert completed["customModelArn"] == fake.jobs[done]["outputModelArn"]
    assert completed["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    assert completed["baseModelArn"] == BASE_ARN
    assert completed["creationTime"] == START
    assert completed["endTime"] == START + timedelta(seconds=600)

    ascending = bedrock.list_model_customization_jobs(sortBy="CreationTime", sortOrder="Ascending")
    assert names(ascending, "modelCustomizationJobSummaries", "jobName") == [
        "rft-env-dev-rft-aaa",
        "rft-env-dev-rft-bbb",
        "rft-env-prod-rft-ccc",
    ]


def test_list_jobs_filters(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    for index, name in enumerate(["rft-env-dev-rft-aaa", "rft-env-dev-rft-bbb", "other-job"]):
        bedrock.create_model_customization_job(
            **job_request(jobName=name, customModelName=f"m-{index}")
        )
        clock.advance(100)
    key = "modelCustomizationJobSummaries"

    dev = bedrock.list_model_customization_jobs(nameContains="env-dev-rft-")
    assert names(dev, key, "jobName") == ["rft-env-dev-rft-bbb", "rft-env-dev-rft-aaa"]

    bedrock.stop_model_customization_job(jobIdentifier="rft-env-dev-rft-aaa")
    stopping = bedrock.list_model_customization_jobs(statusEquals="Stopping")
    assert names(stopping, key, "jobName") == ["rft-env-dev-rft-aaa"]

    after = bedrock.list_model_customization_jobs(creationTimeAfter=START + timedelta(seconds=50))
    assert names(after, key, "jobName") == ["other-job", "rft-env-dev-rft-bbb"]
    before = bedrock.list_model_customization_jobs(
        creationTimeBefore=START + timedelta(seconds=200)
    )
    assert names(before, key, "jobName") == ["rft-env-dev-rft-bbb", "rft-env-dev-rft-aaa"]
    window = bedrock.list_model_customization_jobs(
        creationTimeAfter=START, creationTimeBefore=START + timedelta(seconds=200)
    )
    assert names(window, key, "jobName") == ["rft-env-dev-rft-bbb"]  # both bounds exclusive


def test_jobs_created_at_the_same_instant_list_in_creation_order(bedrock: Any) -> None:
    for index in range(3):
        bedrock.create_model_customization_job(
            **job_request(jobName=f"job-{index}", customModelName=f"m-{index}")
        )
    key = "modelCustomizationJobSummaries"
    assert names(bedrock.list_model_customization_jobs(), key, "jobName") == [
        "job-2",
        "job-1",
        "job-0",
    ]


def test_list_jobs_pages_with_next_token(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    for index in range(5):
        bedrock.create_model_customization_job(
            **job_request(jobName=f"job-{index}", customModelName=f"m-{index}")
        )
        clock.advance(1)
    key = "modelCustomizationJobSummaries"
    seen: list[str] = []
    request: dict[str, Any] = {"maxResults": 2, "sortOrder": "Ascending"}
    sizes = []
    while True:
        page = bedrock.list_model_customization_jobs(**request)
        sizes.append(len(page[key]))
        seen += names(page, key, "jobName")
        if "nextToken" not in page:
            break
        request["nextToken"] = page["nextToken"]
    assert sizes == [2, 2, 1]
    assert seen == [f"job-{index}" for index in range(5)]

    # Without maxResults the fake's default page size applies; boto3's paginator follows it.
    fake.list_page_size = 3
    assert len(bedrock.list_model_customization_jobs()[key]) == 3
    paginator = bedrock.get_paginator("list_model_customization_jobs")
    pages = list(paginator.paginate(nameContains="job-"))
    assert [len(page[key]) for page in pages] == [3, 2]
    assert [s["jobName"] for page in pages for s in page[key]] == [
        f"job-{index}" for index in reversed(range(5))
    ]


def test_list_rejects_bad_tokens_and_sizes(bedrock: Any, fake: FakeBedrock) -> None:
    bedrock.create_model_customization_job(**job_request())
    pt_token = base64.urlsafe_b64encode(
        json.dumps({"operation": "ListProvisionedModelThroughputs", "offset": 1}).encode()
    ).decode()
    for token in ("not-a-token", pt_token):
        with pytest.raises(ClientError) as info:
            bedrock.list_model_customization_jobs(nextToken=token)
        assert error_of(info) == (
            "ValidationException",
            400,
            "Invalid pagination token for ListModelCustomizationJobs.",
        )
    with pytest.raises(ClientError) as info:
        bedrock.list_model_customization_jobs(maxResults=1001)
    assert "maxResults" in error_of(info)[2]
    with pytest.raises(ParamValidationError):
        bedrock.list_model_customization_jobs(maxResults=0)
    with pytest.raises(ClientError) as info:
        bedrock.list_model_customization_jobs(nameContains="no spaces allowed")
    assert error_of(info)[0] == "ValidationException" and "nameContains" in error_of(info)[2]


def test_list_provisioned_throughputs(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    first = completed_model(bedrock, clock, fake, 1)
    second = completed_model(bedrock, clock, fake, 2)
    created = START + timedelta(seconds=2 * fake.job_duration)
    committed = bedrock.create_provisioned_model_throughput(
        provisionedModelName="rft-env-prod-pt",
        modelId=first,
        modelUnits=2,
        commitmentDuration="OneMonth",
    )["provisionedModelArn"]
    clock.advance(fake.pt_duration)
    bedrock.create_provisioned_model_throughput(
        provisionedModelName="rft-env-dev-pt", modelId=second, modelUnits=1
    )
    key = "provisionedModelSummaries"

    page = bedrock.list_provisioned_model_throughputs()
    assert names(page, key, "provisionedModelName") == ["rft-env-dev-pt", "rft-env-prod-pt"]
    creating, in_service = page[key]
    assert creating["status"] == "Creating"
    assert "commitmentDuration" not in creating and "commitmentExpirationTime" not in creating
    assert in_service == {
        "provisionedModelName": "rft-env-prod-pt",
        "provisionedModelArn": committed,
        "modelArn": first,
        "desiredModelArn": first,
        "foundationModelArn": BASE_ARN,
        "modelUnits": 2,
        "desiredModelUnits": 2,
        "status": "InService",
        "commitmentDuration": "OneMonth",
        "commitmentExpirationTime": created + timedelta(days=30),
        "creationTime": created,
        "lastModifiedTime": created + timedelta(seconds=fake.pt_duration),
    }

    by_name = bedrock.list_provisioned_model_throughputs(nameContains="env-prod")
    assert names(by_name, key, "provisionedModelArn") == [committed]
    by_status = bedrock.list_provisioned_model_throughputs(statusEquals="Creating")
    assert names(by_status, key, "provisionedModelName") == ["rft-env-dev-pt"]
    by_model = bedrock.list_provisioned_model_throughputs(modelArnEquals=second)
    assert names(by_model, key, "provisionedModelName") == ["rft-env-dev-pt"]
    paged = bedrock.list_provisioned_model_throughputs(maxResults=1, sortOrder="Ascending")
    assert names(paged, key, "provisionedModelName") == ["rft-env-prod-pt"]
    rest = bedrock.list_provisioned_model_throughputs(
        maxResults=1, sortOrder="Ascending", nextToken=paged["nextToken"]
    )
    assert names(rest, key, "provisionedModelName") == ["rft-env-dev-pt"]
    assert "nextToken" not in rest


def test_list_custom_model_deployments(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    fake.deployment_outcome = "Failed"
    failed = bedrock.create_custom_model_deployment(
        modelDeploymentName="rft-env-dev-on-demand", modelArn=model_arn
    )["customModelDeploymentArn"]
    clock.advance(fake.deployment_duration)
    fake.deployment_outcome = "Active"
    bedrock.create_custom_model_deployment(
        modelDeploymentName="rft-env-staging-on-demand", modelArn=model_arn
    )
    key = "modelDeploymentSummaries"

    page = bedrock.list_custom_model_deployments()
    assert names(page, key, "customModelDeploymentName") == [
        "rft-env-staging-on-demand",
        "rft-env-dev-on-demand",
    ]
    creating, broken = page[key]
    assert creating["status"] == "Creating" and "failureMessage" not in creating
    assert broken["customModelDeploymentArn"] == failed
    assert broken["status"] == "Failed"
    assert broken["failureMessage"] == fake.deployment_failure_message
    assert broken["modelArn"] == model_arn
    assert broken["createdAt"] < broken["lastUpdatedAt"]

    by_name = bedrock.list_custom_model_deployments(nameContains="dev-on-demand")
    assert names(by_name, key, "customModelDeploymentArn") == [failed]
    by_status = bedrock.list_custom_model_deployments(statusEquals="Creating")
    assert names(by_status, key, "customModelDeploymentName") == ["rft-env-staging-on-demand"]
    later = bedrock.list_custom_model_deployments(createdAfter=broken["createdAt"])
    assert names(later, key, "customModelDeploymentName") == ["rft-env-staging-on-demand"]
    assert (
        bedrock.list_custom_model_deployments(modelArnEquals=model_arn[:-12] + "zzzzzzzzzzzz")[key]
        == []
    )


# ---------------------------------------------------------------- faults and observation


def test_throttling_n_times_then_success(single_shot: Any, fake: FakeBedrock) -> None:
    arn = single_shot.create_model_customization_job(**job_request())["jobArn"]
    fake.inject("GetModelCustomizationJob", "ThrottlingException", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            single_shot.get_model_customization_job(jobIdentifier=arn)
        assert error_of(info)[:2] == ("ThrottlingException", 429)
    assert single_shot.get_model_customization_job(jobIdentifier=arn)["status"] == "InProgress"
    assert fake.count("GetModelCustomizationJob") == 3


def test_standard_client_retries_an_injected_throttle_once(
    bedrock: Any, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    # botocore sleeps between attempts with time.sleep; record instead of waiting.
    monkeypatch.setattr("botocore.endpoint.time.sleep", delays.append)
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    fake.inject("GetModelCustomizationJob", "ThrottlingException", times=3)
    with pytest.raises(ClientError) as info:
        bedrock.get_model_customization_job(jobIdentifier=arn)
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    response = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert fake.count("GetModelCustomizationJob") == 4
    assert len(delays) == 2


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("InternalServerException", 500),
        ("ServiceUnavailable", 503),
        ("ValidationException", 400),
        ("ServiceQuotaExceededException", 400),
        ("AccessDeniedException", 403),
    ],
)
def test_injected_errors_carry_their_status(
    single_shot: Any, fake: FakeBedrock, error: str, status: int
) -> None:
    fake.inject("CreateModelCustomizationJob", error)
    with pytest.raises(ClientError) as info:
        single_shot.create_model_customization_job(**job_request())
    assert error_of(info)[:2] == (error, status)
    assert fake.jobs == {}  # apply=False: the service did nothing


def test_applied_fault_creates_the_job_and_still_raises(
    single_shot: Any, fake: FakeBedrock
) -> None:
    fake.inject("CreateModelCustomizationJob", "InternalServerException", apply=True)
    with pytest.raises(ClientError) as info:
        single_shot.create_model_customization_job(**job_request(clientRequestToken="retry-me"))
    assert error_of(info)[:2] == ("InternalServerException", 500)
    assert len(fake.jobs) == 1
    (created,) = fake.jobs
    # A retry with the same token finds the job the lost response was about.
    again = single_shot.create_model_customization_job(**job_request(clientRequestToken="retry-me"))
    assert again["jobArn"] == created
    assert len(fake.jobs) == 1


def test_inject_rejects_typos(fake: FakeBedrock) -> None:
    with pytest.raises(ValueError, match="operation"):
        fake.inject("GetModelCustomisationJob", "ThrottlingException")
    with pytest.raises(ValueError, match="error"):
        fake.inject("GetModelCustomizationJob", "Throttled")


def test_calls_record_every_request_including_failures(bedrock: Any, fake: FakeBedrock) -> None:
    with pytest.raises(ClientError):
        bedrock.get_custom_model(modelIdentifier="missing")
    bedrock.create_model_customization_job(**job_request(clientRequestToken="tok"))
    assert [name for name, _ in fake.calls] == ["GetCustomModel", "CreateModelCustomizationJob"]
    assert fake.calls[0][1] == {"modelIdentifier": "missing"}
    sent = fake.calls[1][1]
    assert sent["clientRequestToken"] == "tok"
    assert sent["customizationConfig"]["rftConfig"]["hyperParameters"]["epochCount"] == 2
    assert fake.count("GetCustomModel") == 1
    assert fake.count("DeleteCustomModel") == 0


def test_unimplemented_operation_fails_loudly(bedrock: Any, fake: FakeBedrock) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.list_foundation_models()
    code, status, message = error_of(info)
    assert (code, status) == ("NotImplemented", 501)
    assert "ListFoundationModels" in message
    assert fake.count("ListFoundationModels") == 1


def test_error_wire_format(fake: FakeBedrock) -> None:
    request = urllib.request.Request(f"{fake.endpoint_url}/custom-models/missing")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 404
    assert info.value.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert "missing" in json.loads(info.value.read())["message"]

    unknown = urllib.request.Request(f"{fake.endpoint_url}/no/such/path", method="GET")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(unknown, timeout=5)
    assert info.value.code == 501


def test_delete_out_of_band(bedrock: Any, clock: FakeClock, fake: FakeBedrock) -> None:
    model_arn = completed_model(bedrock, clock, fake, 1)
    fake.delete_out_of_band(model_arn)
    with pytest.raises(ClientError) as info:
        bedrock.get_custom_model(modelIdentifier=model_arn)
    assert error_of(info)[0] == "ResourceNotFoundException"
    # The job still says Completed; it does not resurrect the model.
    assert fake.custom_models == {}
    with pytest.raises(KeyError):
        fake.delete_out_of_band(model_arn)


def test_state_dicts_can_be_mutated_by_tests(bedrock: Any, fake: FakeBedrock) -> None:
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    assert fake.jobs[arn]["status"] == "InProgress"
    del fake.jobs[arn]
    with pytest.raises(ClientError) as info:
        bedrock.get_model_customization_job(jobIdentifier=arn)
    assert error_of(info)[0] == "ResourceNotFoundException"


def test_concurrent_requests(bedrock: Any, fake: FakeBedrock) -> None:
    arns: list[str] = []
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            request = job_request(jobName=f"job-{i}", customModelName=f"model-{i}")
            arns.append(bedrock.create_model_customization_job(**request)["jobArn"])
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(set(arns)) == 8
    assert len(fake.jobs) == 8
    assert fake.count("CreateModelCustomizationJob") == 8


# ---------------------------------------------------------------- STS


def test_assume_role_returns_parsed_credentials(
    sts: Any, clock: FakeClock, fake: FakeBedrock
) -> None:
    clock.advance(42)
    response = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer",
        RoleSessionName="rft-env",
        ExternalId="ext-1",
    )
    creds = response["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIAFAKE")
    assert creds["SecretAccessKey"]
    assert creds["SessionToken"]
    assert creds["Expiration"] == START + timedelta(seconds=42, hours=1)
    assert response["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/rft-env"
    )
    assert fake.calls == [
        (
            "AssumeRole",
            {
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/deployer",
                "RoleSessionName": "rft-env",
                "ExternalId": "ext-1",
            },
        )
    ]
    assert fake.count("AssumeRole") == 1


def test_assume_role_faults(sts: Any, fake: FakeBedrock) -> None:
    fake.inject("AssumeRole", "AccessDeniedException")
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer", RoleSessionName="s1")
    assert error_of(info)[:2] == ("AccessDeniedException", 403)
    sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer", RoleSessionName="s1")
    assert fake.count("AssumeRole") == 2


def test_assumed_credentials_work_against_the_fake(sts: Any, fake: FakeBedrock) -> None:
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer", RoleSessionName="rft-env"
    )["Credentials"]
    assumed = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    client = assumed.client("bedrock", endpoint_url=fake.endpoint_url, config=_config())
    assert JOB_ARN.fullmatch(client.create_model_customization_job(**job_request())["jobArn"])


# ---------------------------------------------------------------- clock


def test_fake_clock() -> None:
    clock = FakeClock()
    assert clock.time() == clock.monotonic() == START.timestamp()
    clock.sleep(1.5)
    clock.sleep(2)
    clock.advance(10)
    assert clock.sleeps == [1.5, 2]
    assert clock.time() == START.timestamp() + 13.5
    with pytest.raises(ValueError):
        clock.sleep(-1)


def test_start_and_stop_are_repeatable(clock: FakeClock) -> None:
    fake = FakeBedrock(clock, account_id="444455556666", region="us-west-2")
    url = fake.start()
    assert url == fake.endpoint_url
    assert url.startswith("http://127.0.0.1:")
    assert fake.start() == url
    fake.stop()
    fake.stop()


# --- errors: only what each operation's model declares, plus AWS's common errors ---------------
SERVED = sorted(FakeBedrock(FakeClock())._handlers)


@pytest.mark.parametrize("operation", SERVED)
def test_faults_can_only_be_errors_the_operation_declares(operation: str) -> None:
    fake = FakeBedrock(FakeClock())
    op = service_model("bedrock").operation_model(operation)
    declared = {shape.name for shape in op.error_shapes}
    for error in declared | set(COMMON_ERRORS):
        fake.inject(operation, error)
    for error in set(error_status()) - declared - set(COMMON_ERRORS) - {"NotImplemented"}:
        with pytest.raises(ValueError, match="never answers"):
            fake.inject(operation, error)


def test_the_error_sets_the_fake_may_answer() -> None:
    """Pinned from the model: an answer outside these sets is refused by the fake itself."""
    common = set(COMMON_ERRORS)
    expected_extra = {
        "CreateModelCustomizationJob": {
            "ConflictException",
            "ResourceNotFoundException",
            "ServiceQuotaExceededException",
            "TooManyTagsException",
        },
        "CreateProvisionedModelThroughput": {
            "ResourceNotFoundException",
            "ServiceQuotaExceededException",
            "TooManyTagsException",
        },
        "CreateCustomModelDeployment": {
            "ResourceNotFoundException",
            "ServiceQuotaExceededException",
            "TooManyTagsException",
        },
        "StopModelCustomizationJob": {"ConflictException", "ResourceNotFoundException"},
        "DeleteCustomModel": {"ConflictException", "ResourceNotFoundException"},
        "DeleteProvisionedModelThroughput": {"ConflictException", "ResourceNotFoundException"},
        "DeleteCustomModelDeployment": {"ConflictException", "ResourceNotFoundException"},
        "TagResource": {"ResourceNotFoundException", "TooManyTagsException"},
        "ListModelCustomizationJobs": set(),
        "ListProvisionedModelThroughputs": set(),
        "ListCustomModelDeployments": set(),
    }
    base = {"AccessDeniedException", "InternalServerException", "ThrottlingException"}
    base |= {"ValidationException"}
    for operation in SERVED:
        extra = expected_extra.get(operation, {"ResourceNotFoundException"})
        assert allowed_errors("bedrock", operation) == base | extra | common, operation


def test_an_undeclared_error_fails_the_call_and_the_test(
    bedrock: Any, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def conflicting(_params: dict) -> dict:
        raise ServiceError("ConflictException", "name taken")

    monkeypatch.setitem(fake._handlers, "GetProvisionedModelThroughput", conflicting)
    with pytest.raises(ClientError) as info:
        bedrock.get_provisioned_model_throughput(provisionedModelId="pt-1")
    assert error_of(info)[0] == "FakeBedrockUndeclaredError"
    assert fake.undeclared == [("GetProvisionedModelThroughput", "ConflictException")]
    with pytest.raises(AssertionError, match="undeclared errors"):
        fake.__exit__(None, None, None)
    fake.undeclared.clear()
