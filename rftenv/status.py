"""`rftenv status <stack>`: the stack's RFT job and inference, read from AWS.

It reads AWS, not Pulumi state, so it works without the Pulumi CLI and shows what is true
now (a job that finished after the last `pulumi up`, a throughput someone deleted). The
exit code lets scripts gate on the job: 0 while it runs or once it has completed, 1 once it
cannot produce a model (or the inference resource failed).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from rft_env.components.naming import JOB_NAME_SEPARATOR
from rft_env.rftenv import display, jobs
from rft_env.rftenv.command import Command, about

DESCRIPTION = (
    f"Show STACK's RFT customization job - the newest job named <prefix>{JOB_NAME_SEPARATOR}"
    "<hash>, or the one --job names - and its inference resource, read from AWS (no Pulumi "
    "state or CLI "
    "needed): the job's status, times, duration, failure message, output model and output "
    "S3 folder; the provisioned throughput's or deployment's name, ARN and status, and a "
    "throughput's model units, commitment and expiry. Exit codes: 0 when the job is "
    "InProgress or Completed; 1 when it is Failed, Stopping or Stopped, when the inference "
    "resource is Failed, when the stack has no job yet, or when an AWS call fails; 2 on "
    "unusable input (unknown stack, invalid config). Needs bedrock:ListModelCustomizationJobs, "
    "GetModelCustomizationJob and, with inference, List/Get ProvisionedModelThroughput(s) or "
    "CustomModelDeployment(s)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: fits 80 columns (long ARNs shortened); json: every field, whole "
        "(default: table)",
    )
    parser.add_argument(
        "--job",
        metavar="NAME_OR_ARN",
        help="report this job instead of the stack's newest (an earlier revision, say)",
    )
    parser.add_argument(
        "--endpoint-url",
        type=jobs.endpoint_url,
        metavar="URL",
        help="send Bedrock requests (and STS AssumeRole, when the stack has a deployment "
        "role) to URL instead of AWS's public endpoint: a loopback test endpoint (a fake); "
        "VPC endpoints need no override, private DNS resolves the default name to them",
    )


def _now() -> datetime:
    """The current time; tests replace it to match the fake's clock."""
    return datetime.now(UTC)


def run(args: argparse.Namespace) -> int:
    """The handler: print the report, return the exit code."""
    with about(args.stack):
        report = collect(args.stack, job=args.job, endpoint_url=args.endpoint_url, now=_now())
    if args.format == "json":
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render_table(report))
    return report["exitCode"]


COMMAND = Command(
    "status",
    help="show a stack's RFT job and inference, read from AWS",
    description=DESCRIPTION,
    add_arguments=add_arguments,
    handler=run,
)


def collect(
    stack_name: str, *, job: str | None, endpoint_url: str | None, now: datetime
) -> dict[str, Any]:
    """Everything the report shows, as plain JSON-ready data."""
    stack = jobs.open_stack(stack_name)
    bedrock = jobs.client(stack.connection(endpoint_url), "bedrock")
    found = jobs.find_job(bedrock, stack, job)
    inference = jobs.find_inference(bedrock, stack)
    job_report = describe_job(found, now)
    inference_report = describe_inference(stack, inference, job_report)
    failed = job_report["status"] in jobs.UNSUCCESSFUL_JOB_STATUSES or (
        inference_report.get("status") == "Failed"
    )
    return {
        "stack": stack.name,
        "environment": stack.config.environment,
        "account": stack.config.account.id,
        "region": stack.config.region,
        "job": job_report,
        "inference": inference_report,
        "exitCode": 1 if failed else 0,
    }


def describe_job(job: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The job fields the report shows; the duration runs to now while the job runs."""
    created: datetime = job["creationTime"]
    ended: datetime | None = job.get("endTime")
    validation = [m["validationLoss"] for m in job.get("validationMetrics") or []]
    return {
        "name": job["jobName"],
        "arn": job["jobArn"],
        "status": job.get("status", "unknown"),
        "creationTime": _iso(created),
        "endTime": _iso(ended),
        "durationSeconds": round(((ended or now) - created).total_seconds(), 3),
        "running": ended is None,
        "failureMessage": job.get("failureMessage"),
        "baseModelArn": job.get("baseModelArn"),
        "outputModelName": job.get("outputModelName"),
        "outputModelArn": job.get("outputModelArn"),
        "outputDataUri": job["outputDataConfig"]["s3Uri"],
        "artifactsUri": jobs.artifacts_uri(job),
        "trainingLoss": (job.get("trainingMetrics") or {}).get("trainingLoss"),
        "validationLoss": validation[0] if validation else None,
    }


def describe_inference(
    stack: jobs.Stack, inference: jobs.Inference | None, job: dict[str, Any]
) -> dict[str, Any]:
    """The inference fields the report shows, for whichever kind the stack configures."""
    if inference is None:
        return {"mode": "none"}
    report: dict[str, Any] = {"mode": inference.mode, "kind": inference.kind}
    record = inference.record
    if record is None:
        report.update(name=inference.name, found=False)
        return report
    if inference.mode == "provisioned":
        commitment = record.get("commitmentDuration")
        report.update(
            name=record["provisionedModelName"],
            arn=record["provisionedModelArn"],
            status=record["status"],
            modelArn=record["modelArn"],
            desiredModelArn=record.get("desiredModelArn"),
            modelUnits=record["modelUnits"],
            desiredModelUnits=record.get("desiredModelUnits"),
            commitment=commitment or "none",
            commitmentExpirationTime=_iso(record.get("commitmentExpirationTime")),
        )
    else:
        update = record.get("updateDetails") or {}
        report.update(
            name=record["modelDeploymentName"],
            arn=record["customModelDeploymentArn"],
            status=record["status"],
            modelArn=record["modelArn"],
            updateStatus=update.get("updateStatus"),
            updateModelArn=update.get("modelArn"),
        )
    report.update(
        found=True,
        failureMessage=record.get("failureMessage"),
        servesJobModel=bool(job["outputModelArn"]) and record["modelArn"] == job["outputModelArn"],
    )
    return report


def render_table(report: dict[str, Any]) -> str:
    """The human-readable report: one aligned `label  value` line per field."""
    job = report["job"]
    lines = [
        f"stack {report['stack']}: environment {report['environment']}, "
        f"account {report['account']}, {report['region']}",
        "",
        "RFT job",
    ]
    duration = format_duration(job["durationSeconds"])
    rows: list[tuple[str, Any]] = [
        ("name", job["name"]),
        ("arn", job["arn"]),
        ("status", job["status"]),
        ("created", job["creationTime"]),
        ("ended", job["endTime"]),
        ("elapsed" if job["running"] else "duration", duration),
        ("failure", job["failureMessage"]),
        ("output model", job["outputModelName"]),
        ("model arn", job["outputModelArn"]),
        ("output", job["artifactsUri"]),
    ]
    if job["trainingLoss"] is not None:
        rows.append(("training loss", job["trainingLoss"]))
    if job["validationLoss"] is not None:
        rows.append(("validation loss", job["validationLoss"]))
    lines += _rows(rows)
    lines += ["", *_inference_lines(report["inference"], job)]
    if display.any_shortened(lines):
        lines += ["", display.SHORTENED_NOTE]
    return "\n".join(lines)


def _inference_lines(inference: dict[str, Any], job: dict[str, Any]) -> list[str]:
    if inference["mode"] == "none":
        return ["inference: none configured (rft-env:inference.mode is none)"]
    header = f"inference: {inference['kind']}"
    if not inference["found"]:
        if job["status"] == "Completed":
            hint = "run `pulumi up --refresh` to create it for the completed job"
        elif job["status"] == "InProgress":
            hint = "it is created once the job has Completed (then run `pulumi up --refresh`)"
        else:
            hint = f"the job is {job['status']}, so there is no model to serve"
        return [header, *_rows([("name", inference["name"]), ("status", f"not found: {hint}")])]
    rows: list[tuple[str, Any]] = [
        ("name", inference["name"]),
        ("arn", inference["arn"]),
        ("status", inference["status"]),
        ("failure", inference["failureMessage"]),
    ]
    if inference["mode"] == "provisioned":
        units = inference["modelUnits"]
        if inference["desiredModelUnits"] not in (None, units):
            units = f"{units} (changing to {inference['desiredModelUnits']})"
        commitment = inference["commitment"]
        if commitment == "none":
            commitment = "none (billed hourly; can be deleted at any time)"
        rows += [
            ("model units", units),
            ("commitment", commitment),
            ("expires", inference["commitmentExpirationTime"]),
        ]
    elif inference["updateStatus"]:
        rows.append(("update", f"{inference['updateStatus']} to {inference['updateModelArn']}"))
    served = inference["modelArn"]
    which = "this job's model" if inference["servesJobModel"] else "not this job's model"
    rows.append(("model", f"{served} ({which})"))
    return [header, *_rows(rows)]


def _rows(rows: list[tuple[str, Any]]) -> list[str]:
    # Within 80 columns: long values wrap under themselves, ARNs are shortened.
    return display.fields([(label, "-" if value is None else str(value)) for label, value in rows])


def format_duration(seconds: float) -> str:
    """A duration as operators read it: `2d 03h 04m`, `1h 02m 03s`, `4m 05s`, `42s`."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
