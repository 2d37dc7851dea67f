"""What `rftenv status` and `rftenv metrics` look up on AWS is what the program creates.

Both commands work without Pulumi state: they derive the stack's names and connection from
its config (rftenv.jobs, through components.naming) and ask AWS what exists under them.
For every example stack, these tests synthesize the real program and check the commands'
own lookups against the resources it registered: the job-name pattern against the job
name and the notification rule, the inference name, the connection (region, deployment
role, external id) against the providers', and, end to end against the fake Bedrock and
moto's S3, that each command finds exactly the program's job, inference and output.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rft_env.components.bedrock.inference import (
    CustomModelDeploymentProvider,
    ProvisionedThroughputProvider,
)
from rft_env.components.bedrock.job import create_request
from rft_env.components.bedrock.session import Connection
from rft_env.rftenv import jobs, metrics, status
from tests.conftest import STACKS, Graph
from tests.fakes import FakeBedrock, FakeClock, offline

JOB_TYPE = "pulumi-python:dynamic/bedrock:RftCustomizationJob"
THROUGHPUT_TYPE = "pulumi-python:dynamic/bedrock:ProvisionedThroughput"
DEPLOYMENT_TYPE = "pulumi-python:dynamic/bedrock:CustomModelDeployment"
INFERENCE_TYPES = (THROUGHPUT_TYPE, DEPLOYMENT_TYPE)
TRAINING_CSV = b"step_number,training_loss\n1,2.5\n2,1.25\n"


@pytest.fixture(autouse=True)
def offline_aws_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, tmp_path: Path
) -> None:
    """Static test credentials, and the assumed-role credentials' expiry on the fake clock."""
    offline.offline_aws(monkeypatch, tmp_path, clock)
    monkeypatch.setattr(jobs, "credentials_clock", clock)


def inputs(resource: dict[str, Any]) -> dict[str, Any]:
    """A dynamic resource's inputs as its provider receives them, without the pickled provider."""
    return {key: value for key, value in resource["inputs"].items() if key != "__provider"}


def program_job(graph: Graph) -> dict[str, Any]:
    (job,) = graph.of_type(JOB_TYPE)
    return job


def program_inference(graph: Graph) -> dict[str, Any] | None:
    found = [r for r in graph.resources if r["type"] in INFERENCE_TYPES]
    assert len(found) <= 1, f"{graph.stack}: more than one inference resource"
    return found[0] if found else None


def provider_assume_role(graph: Graph) -> dict[str, Any]:
    """The role the stack's aws provider assumes ({} when it assumes none)."""
    provider = graph.one("pulumi:providers:aws", "target-account")
    roles = json.loads(provider["inputs"].get("assumeRoles") or "[]")
    return roles[0] if roles else {}


# ------------------------------------------------------------------- the names themselves


def test_status_looks_for_the_job_name_the_program_gives(graph: Graph) -> None:
    stack = jobs.open_stack(graph.stack)
    job = program_job(graph)
    assert inputs(job)["namePrefix"] == stack.prefix
    assert stack.job_name_pattern.fullmatch(job["outputs"]["jobName"])
    assert graph.outputs["jobName"] == job["outputs"]["jobName"]
    # `status` lists jobs with this as nameContains; the notification rule selects the
    # stack's jobs by the same prefix.
    assert job["outputs"]["jobName"].startswith(stack.job_name_prefix)
    (rule,) = graph.of_type("aws:cloudwatch/eventRule:EventRule")
    pattern = json.loads(rule["inputs"]["eventPattern"])
    assert pattern["detail"]["jobName"] == [{"prefix": stack.job_name_prefix}]


def test_status_selects_no_other_environments_job(graph: Graph, graphs: dict[str, Graph]) -> None:
    stack = jobs.open_stack(graph.stack)
    for other in graphs.values():
        if other.config.environment != graph.config.environment:
            assert not stack.job_name_pattern.fullmatch(program_job(other)["outputs"]["jobName"])


def test_status_looks_for_the_inference_name_the_program_gives(graph: Graph) -> None:
    inference = program_inference(graph)
    expected = None if inference is None else inputs(inference)["name"]
    assert jobs.open_stack(graph.stack).inference_name() == expected
    assert (inference is None) == (graph.config.inference.mode == "none")


def test_the_commands_connect_as_the_program_does(graph: Graph) -> None:
    """Region, deployment role and external id: the dynamic providers' and the aws
    provider's (which reads and writes the output bucket that `metrics` reads)."""
    connection = jobs.open_stack(graph.stack).connection()
    dynamic = [program_job(graph), *filter(None, [program_inference(graph)])]
    for resource in dynamic:
        assert Connection.from_props(inputs(resource)) == connection, resource["name"]
    role = provider_assume_role(graph)
    assert (role.get("roleArn"), role.get("externalId")) == (
        connection.role_arn,
        connection.external_id,
    )
    assert graph.outputs["region"] == connection.region == graph.result["region"]


def test_metrics_reads_the_output_bucket_the_program_creates(graph: Graph) -> None:
    """The folder `metrics` reads is under the output the program gives the job, in the
    output bucket it creates."""
    job = program_job(graph)
    record = {"jobArn": job["id"], "outputDataConfig": {"s3Uri": inputs(job)["outputDataUri"]}}
    bucket, prefix = jobs.split_s3_uri(jobs.artifacts_uri(record))
    assert bucket == graph.outputs["outputBucket"]
    assert [r["id"] for r in graph.of_type("aws:s3/bucket:Bucket") if r["id"] == bucket]
    output_prefix = jobs.split_s3_uri(graph.outputs["outputDataUri"])[1]
    assert prefix == f"{output_prefix}model-customization-job-{jobs.job_id(job['id'])}/"


# ------------------------------------------------------- end to end, against fake AWS


@pytest.fixture
def s3() -> Iterator[None]:
    """moto's S3 (and STS, for the stack's AssumeRole); Bedrock requests go to the fake."""
    with mock_aws():
        yield


def bedrock_client(fake: FakeBedrock) -> Any:
    session = boto3.session.Session(region_name=fake.region)
    return session.client("bedrock", endpoint_url=fake.endpoint_url)


def deploy_like_the_program(fake: FakeBedrock, graph: Graph) -> dict[str, Any]:
    """Start the program's job and, once it has completed, its inference, with the requests
    the providers send for the synthesized inputs. Returns the created ARNs and job record."""
    bedrock = bedrock_client(fake)
    request = create_request(inputs(program_job(graph)))
    assert request["jobName"] == program_job(graph)["outputs"]["jobName"]
    job_arn = bedrock.create_model_customization_job(**request)["jobArn"]
    fake.clock.advance(fake.job_duration + 1)
    job = bedrock.get_model_customization_job(jobIdentifier=job_arn)
    assert job["status"] == "Completed"
    created: dict[str, Any] = {"job": job, "inference": None}
    inference = program_inference(graph)
    if inference is None:
        return created
    model = job["outputModelArn"]
    if inference["type"] == THROUGHPUT_TYPE:
        pt = ProvisionedThroughputProvider().request({**inputs(inference), "modelId": model})
        assert pt is not None
        response = bedrock.create_provisioned_model_throughput(**pt)
        created["inference"] = response["provisionedModelArn"]
    else:
        deployment = CustomModelDeploymentProvider().request(
            {**inputs(inference), "modelArn": model}
        )
        assert deployment is not None
        response = bedrock.create_custom_model_deployment(**deployment)
        created["inference"] = response["customModelDeploymentArn"]
    return created


@pytest.mark.parametrize("stack", STACKS)
def test_status_and_metrics_find_what_the_program_creates(
    stack: str,
    graphs: dict[str, Graph],
    clock: FakeClock,
    s3: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    graph = graphs[stack]
    config = graph.config
    with FakeBedrock(clock, account_id=config.account.id, region=config.region) as fake:
        created = deploy_like_the_program(fake, graph)
        job = created["job"]

        now = datetime.fromtimestamp(clock.time(), UTC)
        report = status.collect(stack, job=None, endpoint_url=fake.endpoint_url, now=now)
        assert (report["job"]["name"], report["job"]["arn"]) == (job["jobName"], job["jobArn"])
        if created["inference"] is None:
            assert report["inference"] == {"mode": "none"}
        else:
            assert report["inference"]["found"], report["inference"]
            assert report["inference"]["arn"] == created["inference"]
            assert report["inference"]["servesJobModel"]
        # Both commands assume the role the aws provider assumes, with its external id.
        role = provider_assume_role(graph)
        assumed = [params for name, params in fake.calls if name == "AssumeRole"]
        assert [(p["RoleArn"], p.get("ExternalId")) for p in assumed] == (
            [(role["roleArn"], role.get("externalId"))] if role else []
        )

        # Bedrock writes the metrics under the job's output folder, in the program's bucket.
        bucket = graph.outputs["outputBucket"]
        s3_client = boto3.client("s3", region_name=config.region)
        s3_client.create_bucket(Bucket=bucket)
        _, output_prefix = jobs.split_s3_uri(job["outputDataConfig"]["s3Uri"])
        folder = f"{output_prefix.rstrip('/')}/model-customization-job-{jobs.job_id(job['jobArn'])}"
        s3_client.put_object(
            Bucket=bucket, Key=f"{folder}/{metrics.TRAINING_FILE}", Body=TRAINING_CSV
        )
        parser = argparse.ArgumentParser(prog="rftenv")
        metrics.COMMAND.register(parser.add_subparsers(dest="command", required=True))
        out = tmp_path / "metrics"
        argv = ["metrics", stack, "--endpoint-url", fake.endpoint_url, "--out", str(out)]
        args = parser.parse_args(argv)
        capsys.readouterr()
        assert args.handler(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == [
        f"stack {stack}: job {job['jobName']} (Completed)",
        f"artifacts: s3://{bucket}/{folder}/",
    ]
    assert (out / metrics.TRAINING_FILE).read_bytes() == TRAINING_CSV
