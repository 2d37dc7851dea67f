"""Providers against the fake Bedrock control plane, with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from rft_env.components.bedrock.inference import (
    CustomModelDeploymentProvider,
    ProvisionedThroughputProvider,
)
from rft_env.components.bedrock.job import RftCustomizationJobProvider
from tests.fakes import offline
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/rft-env-dev-bedrock-customization"
GRADER = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rft-env-dev-grader-arithmetic"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0b7c1a2d-1111-2222-3333-444455556666"


@pytest.fixture(autouse=True)
def offline_aws_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, tmp_path: Any
) -> None:
    """Static test credentials, no shared config, and botocore's retry back-off on the fake
    clock (botocore sleeps with time.sleep between attempts)."""
    offline.offline_aws(monkeypatch, tmp_path, clock)


def connection(fake: FakeBedrock, **extra: str) -> dict[str, str]:
    return {"region": "us-east-1", "endpointUrl": fake.endpoint_url, **extra}


def job_props(fake: FakeBedrock, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "connection": connection(fake),
        "identity": "rft-env/dev/rft-training-job",
        "revision": 1,
        "namePrefix": "rft-env-dev",
        "baseModelIdentifier": "amazon.nova-2-lite-v1:0:256k",
        "serviceRoleArn": ROLE,
        "trainingDataUri": "s3://rft-env-dev-data-111122223333-us-east-1/datasets/training/a/t.jsonl",
        "validationDataUri": "s3://rft-env-dev-data-111122223333-us-east-1/datasets/validation/b/v.jsonl",
        "outputDataUri": "s3://rft-env-dev-output-111122223333-us-east-1/rft-output/",
        "graderArn": GRADER,
        "hyperParameters": {
            "epochCount": 1,
            "batchSize": 64,
            "learningRate": 1e-05,
            "maxPromptLength": 4096,
            "trainingSamplePerPrompt": 4,
            "inferenceMaxTokens": 8192,
            "reasoningEffort": "low",
            "evalInterval": 10,
        },
        "kmsKeyId": KEY,
        "jobTags": {"Environment": "dev", "Project": "rft-env"},
        "modelTags": {"Environment": "dev", "Project": "rft-env"},
        "wait": {"enabled": False, "timeoutSeconds": 86400, "maxPollSeconds": 300},
        "__provider": "serialized-provider",
    }
    props.update(overrides)
    return props


def inference_props(fake: FakeBedrock, model: str, *, kind: str, **overrides: Any) -> dict:
    props: dict[str, Any] = {
        "connection": connection(fake),
        "identity": f"rft-env/dev/rft-training-{kind}",
        "name": "rft-env-dev-pt" if kind == "throughput" else "rft-env-dev-on-demand",
        "tags": {"Environment": "dev"},
        "wait": {"timeoutSeconds": 3600, "maxPollSeconds": 60},
        "__provider": "serialized-provider",
    }
    if kind == "throughput":
        props.update(modelId=model, modelUnits=1, commitment="none")
    else:
        props.update(modelArn=model, description="the RFT job's custom model")
    props.update(overrides)
    return props


@pytest.fixture
def jobs(clock: FakeClock) -> RftCustomizationJobProvider:
    return RftCustomizationJobProvider(clock=clock)


@pytest.fixture
def throughputs(clock: FakeClock) -> ProvisionedThroughputProvider:
    return ProvisionedThroughputProvider(clock=clock)


@pytest.fixture
def deployments(clock: FakeClock) -> CustomModelDeploymentProvider:
    return CustomModelDeploymentProvider(clock=clock)


def completed_job(
    jobs: RftCustomizationJobProvider, fake: FakeBedrock, **overrides: Any
) -> dict[str, Any]:
    """A job created with wait, so it has a model; returns the create outputs."""
    props = job_props(fake, wait={"enabled": True, "timeoutSeconds": 86400}, **overrides)
    return jobs.create(props).outs
