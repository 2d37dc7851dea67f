"""`rftenv status`: the example stacks' jobs and inference, against the fake Bedrock."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from rft_env.components.bedrock.job import create_request
from rft_env.rftenv import display, jobs, stack_files, status
from rft_env.rftenv.cli import main
from tests.fakes import FakeBedrock, FakeClock, offline

ROLE = "arn:aws:iam::{account}:role/rft-env-{env}-bedrock-customization"
GRADER = "arn:aws:lambda:us-east-1:{account}:function:rft-env-{env}-grader-arithmetic"
ACCOUNTS = {"dev": "111122223333", "staging": "444455556666", "prod": "777788889999"}
HYPER = {
    "epochCount": 1,
    "batchSize": 64,
    "learningRate": 1e-05,
    "maxPromptLength": 4096,
    "trainingSamplePerPrompt": 4,
    "inferenceMaxTokens": 8192,
    "reasoningEffort": "low",
    "evalInterval": 10,
}


@pytest.fixture(autouse=True)
def offline_aws_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, tmp_path: Path
) -> None:
    """Static test credentials, no shared config, botocore's back-off and the expiry of
    assumed-role credentials on the fake clock, and the command's idea of now taken from the
    same clock."""
    offline.offline_aws(monkeypatch, tmp_path, clock)
    monkeypatch.setattr(jobs, "credentials_clock", clock)
    monkeypatch.setattr(status, "_now", lambda: datetime.fromtimestamp(clock.time(), UTC))


def make_fake(clock: FakeClock, env: str) -> FakeBedrock:
    return FakeBedrock(clock, account_id=ACCOUNTS[env])


@pytest.fixture
def dev(clock: FakeClock) -> Iterator[FakeBedrock]:
    with make_fake(clock, "dev") as fake:
        yield fake


def bedrock_client(fake: FakeBedrock) -> Any:
    session = boto3.session.Session(region_name="us-east-1")
    return session.client("bedrock", endpoint_url=fake.endpoint_url)


def start_job(fake: FakeBedrock, env: str, revision: int = 1, **overrides: Any) -> dict:
    """Start a job exactly as the stack's provider would (same request, same names)."""
    account = ACCOUNTS[env]
    props = {
        "connection": {"region": "us-east-1"},
        "identity": f"rft-env/{env}/rft-training-job",
        "revision": revision,
        "namePrefix": f"rft-env-{env}",
        "baseModelIdentifier": "amazon.nova-2-lite-v1:0:256k",
        "serviceRoleArn": ROLE.format(account=account, env=env),
        "trainingDataUri": f"s3://rft-env-{env}-data-{account}-us-east-1/datasets/t.jsonl",
        "outputDataUri": f"s3://rft-env-{env}-output-{account}-us-east-1/rft-output/",
        "graderArn": GRADER.format(account=account, env=env),
        "hyperParameters": HYPER,
    }
    request = create_request(props)
    request.update(overrides)
    arn = bedrock_client(fake).create_model_customization_job(**request)["jobArn"]
    return {"arn": arn, "name": request["jobName"], "model": request["customModelName"]}


def cli(*argv: str) -> int:
    """Through the CLI's main: it prints the handler's errors."""
    return main(list(argv))


def run_status(
    fake: FakeBedrock, stack: str, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = cli("status", stack, "--endpoint-url", fake.endpoint_url, *extra)
    captured = capsys.readouterr()
    if "json" not in extra:  # the table fits an 80-column terminal
        assert all(len(line) <= 80 for line in captured.out.splitlines()), captured.out
    return code, captured.out, captured.err


def inference_lines(out: str) -> list[str]:
    """The table's last block (the inference), without the note on shortened values."""
    blocks = [block for block in out.split("\n\n") if block.strip() != display.SHORTENED_NOTE]
    return blocks[-1].splitlines()


def json_status(fake: FakeBedrock, stack: str, *extra: str, capsys: Any) -> tuple[int, dict]:
    code, out, _ = run_status(fake, stack, "--format", "json", *extra, capsys=capsys)
    return code, json.loads(out)


# ---------------------------------------------------------------------------- the job


def test_no_job_yet_exits_1_and_says_so(dev: FakeBedrock, capsys: Any) -> None:
    code, out, err = run_status(dev, "dev", capsys=capsys)
    assert code == 1 and out == ""
    assert err.strip() == (
        "rftenv status dev: stack dev: no RFT job named rft-env-dev--rft-<hash> in account "
        "111122223333, us-east-1: `pulumi up` has not started one yet"
    )
    listed = [params for name, params in dev.calls if name == "ListModelCustomizationJobs"]
    assert listed == [
        {"nameContains": "rft-env-dev--rft-", "sortBy": "CreationTime", "sortOrder": "Descending"}
    ]


def test_running_job_table(dev: FakeBedrock, clock: FakeClock, capsys: Any) -> None:
    dev.job_duration = 7200
    job = start_job(dev, "dev")
    clock.advance(3725)
    code, out, err = run_status(dev, "dev", capsys=capsys)
    assert (code, err) == (0, "")
    job_id = job["arn"].rsplit("/", 1)[-1]
    assert out.splitlines() == [
        "stack dev: environment dev, account 111122223333, us-east-1",
        "",
        "RFT job",
        f"  name          {job['name']}",
        f"  arn           {display.shorten(job['arn'], 64)}",
        "  status        InProgress",
        "  created       2026-01-01T00:00:00Z",
        "  ended         -",
        "  elapsed       1h 02m 05s",
        "  failure       -",
        f"  output model  {job['model']}",
        "  model arn     -",
        "  output        "
        + display.shorten(
            "s3://rft-env-dev-output-111122223333-us-east-1/rft-output/"
            f"model-customization-job-{job_id}/",
            64,
        ),
        "",
        "inference: none configured (rft-env:inference.mode is none)",
        "",
        display.SHORTENED_NOTE,
    ]


def test_the_stack_assumes_its_deployment_role(clock: FakeClock, capsys: Any) -> None:
    with make_fake(clock, "staging") as fake:
        start_job(fake, "staging")
        assert run_status(fake, "staging", capsys=capsys)[0] == 0
    assume = [params for name, params in fake.calls if name == "AssumeRole"]
    assert assume == [
        {
            "RoleArn": "arn:aws:iam::444455556666:role/rft-env-deployer",
            "RoleSessionName": "rft-env-bedrock",
            "ExternalId": "rft-env-staging",
        }
    ]


def test_completed_job_json(dev: FakeBedrock, clock: FakeClock, capsys: Any) -> None:
    job = start_job(dev, "dev")
    clock.advance(dev.job_duration + 500)
    code, report = json_status(dev, "dev", capsys=capsys)
    assert code == 0
    model_arn = dev.jobs[job["arn"]]["outputModelArn"]
    assert report["job"] == {
        "name": job["name"],
        "arn": job["arn"],
        "status": "Completed",
        "creationTime": "2026-01-01T00:00:00Z",
        "endTime": "2026-01-01T01:00:00Z",
        "durationSeconds": 3600.0,
        "running": False,
        "failureMessage": None,
        "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-2-lite-v1:0:256k",
        "outputModelName": job["model"],
        "outputModelArn": model_arn,
        "outputDataUri": "s3://rft-env-dev-output-111122223333-us-east-1/rft-output/",
        "artifactsUri": "s3://rft-env-dev-output-111122223333-us-east-1/rft-output/"
        f"model-customization-job-{job['arn'].rsplit('/', 1)[-1]}/",
        "trainingLoss": 0.12,
        "validationLoss": 0.15,
    }
    assert report["inference"] == {"mode": "none"}
    assert (report["stack"], report["account"], report["exitCode"]) == ("dev", "111122223333", 0)


@pytest.mark.parametrize(
    ("outcome", "stop", "expected"),
    [("Failed", False, "Failed"), ("Completed", True, "Stopping"), ("Completed", True, "Stopped")],
)
def test_unsuccessful_jobs_exit_1(
    dev: FakeBedrock, clock: FakeClock, capsys: Any, outcome: str, stop: bool, expected: str
) -> None:
    dev.job_outcome = outcome
    job = start_job(dev, "dev")
    if stop:
        bedrock_client(dev).stop_model_customization_job(jobIdentifier=job["arn"])
        if expected == "Stopped":
            clock.advance(dev.stop_duration)
    else:
        clock.advance(dev.job_duration)
    code, out, _ = run_status(dev, "dev", capsys=capsys)
    assert code == 1
    assert f"  status        {expected}\n" in out
    if expected == "Failed":
        assert f"  failure       {dev.job_failure_message}\n" in out


def test_newest_matching_job_wins_across_pages(
    dev: FakeBedrock, clock: FakeClock, capsys: Any
) -> None:
    old = start_job(dev, "dev", revision=1)
    clock.advance(60)
    current = start_job(dev, "dev", revision=2)
    clock.advance(60)
    # Newer jobs that contain the prefix but are not this stack's, and another environment's.
    for index, name in enumerate(
        ["x-rft-env-dev--rft-0123456789ab", "rft-env-dev--rft-manual-test", "rft-env-dev--rft-abc"]
    ):
        start_job(dev, "dev", revision=10 + index, jobName=name, customModelName=f"m{index}")
        clock.advance(60)
    start_job(dev, "staging")
    dev.list_page_size = 1

    code, report = json_status(dev, "dev", capsys=capsys)
    assert code == 0
    assert report["job"]["name"] == current["name"] != old["name"]
    # Paged one at a time: the three impostors, then the stack's job; the old job is not read.
    assert dev.count("ListModelCustomizationJobs") == 4
    gets = [params for name, params in dev.calls if name == "GetModelCustomizationJob"]
    assert gets == [{"jobIdentifier": current["arn"]}]


@pytest.fixture
def neighbours(monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """Stacks `dev-rft` and `x-rft-env-dev`: dev's config under environments whose job names
    once started with (`rft-env-dev-rft-rft-…`) or still contain (`rft-env-x-rft-env-dev--rft-…`)
    dev's job-name prefix, all in dev's account."""
    environments = ("dev-rft", "x-rft-env-dev")
    read = stack_files.engine_config

    def engine_config(stack: str, *args: Any, **kwargs: Any) -> dict[str, str]:
        if stack not in environments:
            return read(stack, *args, **kwargs)
        return {**read("dev", *args, **kwargs), "rft-env:environment": stack}

    monkeypatch.setattr(stack_files, "engine_config", engine_config)
    for environment in environments:
        monkeypatch.setitem(ACCOUNTS, environment, ACCOUNTS["dev"])
    return environments


def test_each_environment_finds_its_own_newest_job_in_a_shared_account(
    dev: FakeBedrock, clock: FakeClock, neighbours: tuple[str, ...], capsys: Any
) -> None:
    environments = ("dev", *neighbours)
    newest: dict[str, dict] = {}
    # Interleaved revisions; the neighbours' jobs are always newer than dev's.
    for revision in (1, 2):
        for environment in environments:
            newest[environment] = start_job(dev, environment, revision=revision)
            clock.advance(60)
    assert newest["dev-rft"]["name"].startswith("rft-env-dev-rft--rft-")
    for environment in environments:
        code, report = json_status(dev, environment, capsys=capsys)
        assert code == 0
        assert report["job"]["name"] == newest[environment]["name"]
        assert report["job"]["arn"] == newest[environment]["arn"]
    # dev's lookup: ListModelCustomizationJobs(nameContains) also returns x-rft-env-dev's
    # jobs, which contain dev's prefix; only the whole-name match keeps them out.
    listed = [p for name, p in dev.calls if name == "ListModelCustomizationJobs"]
    assert [p["nameContains"] for p in listed] == [
        "rft-env-dev--rft-",
        "rft-env-dev-rft--rft-",
        "rft-env-x-rft-env-dev--rft-",
    ]


@pytest.mark.parametrize("by", ["name", "arn"])
def test_job_option_picks_an_earlier_job(
    dev: FakeBedrock, clock: FakeClock, capsys: Any, by: str
) -> None:
    dev.job_outcome = "Failed"
    old = start_job(dev, "dev", revision=1)
    clock.advance(dev.job_duration)
    dev.job_outcome = "Completed"
    start_job(dev, "dev", revision=2)
    code, report = json_status(dev, "dev", "--job", old[by], capsys=capsys)
    assert (code, report["job"]["arn"], report["job"]["status"]) == (1, old["arn"], "Failed")
    assert dev.count("ListModelCustomizationJobs") == 0


def test_unknown_job_option(dev: FakeBedrock, capsys: Any) -> None:
    code, out, err = run_status(dev, "dev", "--job", "rft-env-dev--rft-000000000000", capsys=capsys)
    assert code == 1 and out == ""
    assert "no RFT job 'rft-env-dev--rft-000000000000' in account 111122223333, us-east-1" in err
    assert "GetModelCustomizationJob" in err and "ResourceNotFoundException" in err


# ---------------------------------------------------------------------------- inference


def complete_job(fake: FakeBedrock, clock: FakeClock, env: str) -> dict:
    job = start_job(fake, env)
    clock.advance(fake.job_duration)
    job["modelArn"] = fake.jobs[job["arn"]]["outputModelArn"]
    return job


def test_provisioned_throughput_in_service(clock: FakeClock, capsys: Any) -> None:
    with make_fake(clock, "prod") as fake:
        job = complete_job(fake, clock, "prod")
        bedrock = bedrock_client(fake)
        # Another stack's throughput whose name contains this one's must not be picked.
        bedrock.create_provisioned_model_throughput(
            provisionedModelName="rft-env-prod-pt-old", modelId=job["modelArn"], modelUnits=1
        )
        arn = bedrock.create_provisioned_model_throughput(
            provisionedModelName="rft-env-prod-pt", modelId=job["modelArn"], modelUnits=1
        )["provisionedModelArn"]
        clock.advance(fake.pt_duration)
        code, out, _ = run_status(fake, "prod", capsys=capsys)
    assert code == 0
    assert inference_lines(out) == [
        "inference: provisioned throughput",
        "  name         rft-env-prod-pt",
        f"  arn          {display.shorten(arn, 65)}",
        "  status       InService",
        "  failure      -",
        "  model units  1",
        "  commitment   none (billed hourly; can be deleted at any time)",
        "  expires      -",
        f"  model        {display.shorten(job['modelArn'], 65)}",
        "               (this job's model)",
    ]


def test_committed_throughput_shows_its_expiry(clock: FakeClock, capsys: Any) -> None:
    with make_fake(clock, "prod") as fake:
        job = complete_job(fake, clock, "prod")
        bedrock_client(fake).create_provisioned_model_throughput(
            provisionedModelName="rft-env-prod-pt",
            modelId=job["modelArn"],
            modelUnits=2,
            commitmentDuration="SixMonths",
        )
        code, report = json_status(fake, "prod", capsys=capsys)
    assert code == 0
    inference = report["inference"]
    assert inference["status"] == "Creating"
    assert (inference["modelUnits"], inference["commitment"]) == (2, "SixMonths")
    # Created one hour into 2026 (when the job completed), for 180 days.
    assert inference["commitmentExpirationTime"] == "2026-06-30T01:00:00Z"
    assert inference["servesJobModel"] is True


def test_missing_throughput_is_reported_not_failed(clock: FakeClock, capsys: Any) -> None:
    with make_fake(clock, "prod") as fake:
        start_job(fake, "prod")
        code, out, _ = run_status(fake, "prod", capsys=capsys)
    assert code == 0
    assert inference_lines(out) == [
        "inference: provisioned throughput",
        "  name    rft-env-prod-pt",
        "  status  not found: it is created once the job has Completed (then run `pulumi",
        "          up --refresh`)",
    ]


def test_failed_deployment_exits_1(clock: FakeClock, capsys: Any) -> None:
    with make_fake(clock, "staging") as fake:
        job = complete_job(fake, clock, "staging")
        fake.deployment_outcome = "Failed"
        arn = bedrock_client(fake).create_custom_model_deployment(
            modelDeploymentName="rft-env-staging-on-demand", modelArn=job["modelArn"]
        )["customModelDeploymentArn"]
        clock.advance(fake.deployment_duration)
        code, report = json_status(fake, "staging", capsys=capsys)
    assert code == 1 and report["exitCode"] == 1
    assert report["job"]["status"] == "Completed"
    assert report["inference"] == {
        "mode": "on_demand",
        "kind": "on-demand deployment",
        "name": "rft-env-staging-on-demand",
        "arn": arn,
        "status": "Failed",
        "modelArn": job["modelArn"],
        "updateStatus": None,
        "updateModelArn": None,
        "found": True,
        "failureMessage": fake.deployment_failure_message,
        "servesJobModel": True,
    }


def test_deployment_serving_another_model(clock: FakeClock, capsys: Any) -> None:
    with make_fake(clock, "staging") as fake:
        older = complete_job(fake, clock, "staging")
        bedrock_client(fake).create_custom_model_deployment(
            modelDeploymentName="rft-env-staging-on-demand", modelArn=older["modelArn"]
        )
        clock.advance(fake.deployment_duration)
        start_job(fake, "staging", revision=2)
        code, out, _ = run_status(fake, "staging", capsys=capsys)
    assert code == 0
    assert "  status   Active\n" in out
    assert (
        f"  model    {display.shorten(older['modelArn'], 69)}\n           (not this job's model)\n"
    ) in out


# ---------------------------------------------------------------------------- failures


def test_access_denied_names_the_operation(dev: FakeBedrock, capsys: Any) -> None:
    dev.inject("ListModelCustomizationJobs", "AccessDeniedException")
    code, out, err = run_status(dev, "dev", capsys=capsys)
    assert (code, out) == (1, "")
    assert err.strip() == (
        "rftenv status dev: ListModelCustomizationJobs failed: AccessDeniedException: "
        "User is not authorized to perform this action (injected)"
    )


def test_throttling_that_outlasts_the_retries(
    dev: FakeBedrock, clock: FakeClock, capsys: Any
) -> None:
    start_job(dev, "dev")
    dev.inject("GetModelCustomizationJob", "ThrottlingException", times=8)
    code, _, err = run_status(dev, "dev", capsys=capsys)
    assert code == 1
    assert err.strip() == (
        "rftenv status dev: GetModelCustomizationJob failed: ThrottlingException: "
        "Rate exceeded (gave up after 8 attempts)"
    )
    assert dev.count("GetModelCustomizationJob") == 8
    assert len(clock.sleeps) == 7  # botocore backed off between attempts, on the fake clock


def test_throttling_within_the_retries_succeeds(dev: FakeBedrock, capsys: Any) -> None:
    start_job(dev, "dev")
    dev.inject("ListModelCustomizationJobs", "ThrottlingException", times=3)
    assert run_status(dev, "dev", capsys=capsys)[0] == 0


def test_failed_assume_role(dev: FakeBedrock, capsys: Any) -> None:
    dev.inject("AssumeRole", "AccessDeniedException")
    code, _, err = run_status(dev, "dev", capsys=capsys)
    assert code == 1
    assert err.startswith(
        "rftenv status dev: AssumeRole (arn:aws:iam::111122223333:role/rft-env-deployer) "
        "failed: AccessDeniedException"
    )


def test_unknown_stack_exits_2(capsys: Any) -> None:
    assert cli("status", "nope") == 2
    err = capsys.readouterr().err
    assert err.startswith("rftenv status nope: no stack file ")
    assert "Pulumi.nope.yaml (stacks: dev, prod, prod-b, staging)" in err


def test_invalid_config_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    values = stack_files.engine_config("dev")
    job = json.loads(values["rft-env:job"])
    job["hyperparameters"]["epochCount"] = 99
    broken = {**values, "rft-env:job": json.dumps(job)}
    monkeypatch.setattr(stack_files, "engine_config", lambda stack, *a, **k: broken)
    assert cli("status", "dev") == 2
    err = capsys.readouterr().err
    assert err.startswith("rftenv status dev: invalid rft-env stack config (stack dev): 1 problem")
    assert "rft-env:job.hyperparameters.epochCount: got 99" in err


# ---------------------------------------------------------------------------- pure parts


def test_register_documents_the_exit_codes() -> None:
    parser = argparse.ArgumentParser(prog="rftenv")
    commands = parser.add_subparsers(dest="command", required=True)
    status.COMMAND.register(commands)
    help_text = commands.choices["status"].format_help()
    for phrase in ("--format {table,json}", "--job NAME_OR_ARN", "--endpoint-url URL"):
        assert phrase in help_text
    assert "0 when the job is InProgress or Completed; 1 when it is Failed" in " ".join(
        help_text.split()
    )
    args = parser.parse_args(["status", "dev"])
    assert (args.format, args.job, args.endpoint_url, args.handler) == (
        "table",
        None,
        None,
        status.run,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (42.9, "42s"),
        (305, "5m 05s"),
        (3725, "1h 02m 05s"),
        (2 * 86_400 + 3_660, "2d 01h 01m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert status.format_duration(seconds) == text


def test_names_follow_the_program() -> None:
    stack = jobs.open_stack("prod")
    assert stack.prefix == "rft-env-prod"
    assert stack.inference_name() == "rft-env-prod-pt"
    assert jobs.open_stack("staging").inference_name() == "rft-env-staging-on-demand"
    assert jobs.open_stack("dev").inference_name() is None
    assert stack.job_name_prefix == "rft-env-prod--rft-"
    pattern = stack.job_name_pattern
    assert pattern.fullmatch("rft-env-prod--rft-0123456789ab")
    assert not pattern.fullmatch("rft-env-prod-rft--rft-0123456789ab")
    assert not pattern.fullmatch("rft-env-x-prod--rft-0123456789ab")
    assert not pattern.fullmatch("rft-env-prod--rft-0123456789abc")
