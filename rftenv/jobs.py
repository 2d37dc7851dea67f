"""What `rftenv status` and `rftenv metrics` share: a stack's config, its AWS clients, and
finding its RFT job and inference on AWS without Pulumi state.

Neither command needs the Pulumi CLI or the stack's state. Names and the connection come
from the stack config through the functions the program's components call
(`components/naming.py`: `stack_names`, `stack_inference_name`, `stack_connection`), and AWS
is asked what exists under them; tests/rftenv/test_names_agree.py checks that they agree
with the synthesized program for every stack. boto3 and the config models are imported inside
functions, so that `rftenv --help` and the other commands do not pay for them.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rft_env.components import naming
from rft_env.rftenv.command import CommandError  # the CLI's one error type, used here too

if TYPE_CHECKING:
    from rft_env.components.bedrock.session import Connection
    from rft_env.components.bedrock.waiting import Clock
    from rft_env.components.config import StackConfig

# Job statuses that mean the stack's training did not (and will not) produce a model.
UNSUCCESSFUL_JOB_STATUSES = frozenset({"Failed", "Stopping", "Stopped"})

INFERENCE_KINDS = {"provisioned": "provisioned throughput", "on_demand": "on-demand deployment"}


class AwsCallError(CommandError):
    """An AWS call that failed (after botocore's retries): names the operation and what it
    was about, so the operator knows which permission or resource to look at."""

    def __init__(self, operation: str, code: str, message: str, target: str | None) -> None:
        about = f" ({target})" if target else ""
        super().__init__(f"{operation}{about} failed: {code}: {message}".rstrip(": "))
        self.operation = operation
        self.code = code


@dataclass(frozen=True)
class Stack:
    """A stack's validated config, and what its resources are named on AWS."""

    name: str
    config: StackConfig

    @property
    def names(self) -> naming.Names:
        return naming.stack_names(self.config)

    @property
    def prefix(self) -> str:
        return self.names.prefix

    @property
    def job_name_prefix(self) -> str:
        return self.names.job_name_prefix

    @property
    def job_name_pattern(self) -> re.Pattern[str]:
        # ListModelCustomizationJobs' nameContains matches anywhere in the name: environment
        # `x-rft-env-dev`'s jobs (`rft-env-x-rft-env-dev--rft-…`) contain dev's prefix too.
        return self.names.job_name_pattern

    def connection(self, endpoint_url: str | None = None) -> Connection:
        """How the stack's Bedrock providers connect: region, deployment role, external id."""
        return naming.stack_connection(self.config, endpoint_url)

    def inference_name(self) -> str | None:
        """The inference resource's name as `RftTraining` builds it; None without inference."""
        return naming.stack_inference_name(self.config)


def endpoint_url(text: str) -> str:
    """An argparse type for --endpoint-url: the one rule for endpoint overrides
    (`graders.endpoints`), checked while parsing so a bad URL is a usage error, not a
    traceback from deep inside botocore."""
    from rft_env.graders.endpoints import endpoint_url_problem

    problem = endpoint_url_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"got {text!r}; {problem}")
    return text


def open_stack(name: str) -> Stack:
    """Load and validate a stack's config; unusable input exits 2, like `rftenv synth`."""
    import yaml

    from rft_env.components.config import ConfigError
    from rft_env.rftenv import stack_files

    try:
        config = stack_files.stack_config(name)
    except (stack_files.StackNotFoundError, ConfigError) as error:
        raise CommandError(str(error), exit_code=2) from error
    except (OSError, ValueError, yaml.YAMLError) as error:  # unreadable or malformed file
        raise CommandError(f"stack {name}: {error}", exit_code=2) from error
    return Stack(name, config)


# What assumed-role credentials expire on: the system clock unless a test puts its fake
# clock here (the fake STS issues credentials that expire on the fake clock).
credentials_clock: Clock | None = None


def client(connection: Connection, service: str) -> Any:
    """A boto3 client, with the providers' refreshable deployment-role credentials; a failed
    AssumeRole or missing credentials become a CommandError."""
    from botocore.exceptions import BotoCoreError, ClientError

    from rft_env.components.bedrock.waiting import WaitTimeout

    try:
        return connection.client(service, clock=credentials_clock)
    except WaitTimeout as timeout:
        # AssumeRole kept failing (throttled, 5xx, unreachable) past the retries: its last
        # failure says why.
        error: BaseException = timeout.__cause__ or timeout
    except (ClientError, BotoCoreError) as failure:
        error = failure
    if isinstance(error, ClientError):
        target = connection.role_arn or service
        raise _aws_error(error.operation_name, error, target) from error
    if isinstance(error, BotoCoreError):
        operation = "AssumeRole" if connection.role_arn else f"creating a {service} client"
        raise AwsCallError(
            operation, type(error).__name__, str(error), connection.role_arn
        ) from error
    raise CommandError(str(error)) from error


def call(aws: Any, method: str, *, target: str | None = None, **request: Any) -> dict[str, Any]:
    """Call `method` on a boto3 client; any failure becomes an AwsCallError that names the
    API operation (botocore's standard retry mode has already retried throttling)."""
    from botocore.exceptions import BotoCoreError, ClientError

    operation = aws.meta.method_to_api_mapping.get(method, method)
    try:
        return getattr(aws, method)(**request)
    except ClientError as error:
        raise _aws_error(operation, error, target) from error
    except BotoCoreError as error:
        raise AwsCallError(operation, type(error).__name__, str(error), target) from error


def _aws_error(operation: str, error: Any, target: str | None) -> AwsCallError:
    details = error.response.get("Error", {})
    code = details.get("Code") or "Unknown"
    message = details.get("Message") or ""
    retries = error.response.get("ResponseMetadata", {}).get("RetryAttempts") or 0
    if retries:
        message = f"{message} (gave up after {retries + 1} attempts)".lstrip()
    return AwsCallError(operation, code, message, target)


def paginate(aws: Any, method: str, key: str, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Bedrock List operation, page by page (lazily: callers that find what
    they look for early make no more calls)."""
    token: str | None = None
    seen: set[str] = set()
    while True:
        page = call(aws, method, **request, **({"nextToken": token} if token else {}))
        yield from page.get(key) or []
        token = page.get("nextToken")
        if not token:
            return
        if token in seen:
            operation = aws.meta.method_to_api_mapping.get(method, method)
            raise CommandError(f"{operation} returned the same nextToken twice; giving up")
        seen.add(token)


def find_job(bedrock: Any, stack: Stack, job: str | None = None) -> dict[str, Any]:
    """The GetModelCustomizationJob response for `job` (a name or ARN), or else for the
    stack's newest job: AWS never frees a job name, so each retraining makes a new one."""
    region = stack.config.region
    if job is None:
        wanted = stack.job_name_pattern
        summaries = paginate(
            bedrock,
            "list_model_customization_jobs",
            "modelCustomizationJobSummaries",
            nameContains=stack.job_name_prefix,
            sortBy="CreationTime",
            sortOrder="Descending",
        )
        newest = next((s for s in summaries if wanted.fullmatch(s["jobName"])), None)
        if newest is None:
            raise CommandError(
                f"stack {stack.name}: no RFT job named {stack.job_name_prefix}<hash> in account "
                f"{stack.config.account.id}, {region}: `pulumi up` has not started one yet"
            )
        job = newest["jobArn"]
    try:
        return call(bedrock, "get_model_customization_job", jobIdentifier=job)
    except AwsCallError as error:
        if error.code in ("ResourceNotFoundException", "ValidationException"):
            raise CommandError(
                f"stack {stack.name}: no RFT job {job!r} in account {stack.config.account.id}, "
                f"{region} ({error})"
            ) from error
        raise


def job_id(job_arn: str) -> str:
    """The job id Bedrock names its output folder after: the ARN's last segment."""
    return job_arn.rsplit("/", 1)[-1]


def artifacts_uri(job: dict[str, Any]) -> str:
    """Where the job writes its artifacts: `<output s3Uri>/model-customization-job-<id>/`."""
    base = job["outputDataConfig"]["s3Uri"].rstrip("/")
    return f"{base}/model-customization-job-{job_id(job['jobArn'])}/"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3:// URI."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri)
    if match is None:
        raise CommandError(f"not an s3:// URI: {uri!r}")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class Inference:
    """The stack's inference resource: what its config asks for, and what AWS has."""

    mode: str  # provisioned | on_demand
    name: str
    record: dict[str, Any] | None  # the Get response; None when AWS has none by that name

    @property
    def kind(self) -> str:
        return INFERENCE_KINDS[self.mode]


def find_inference(bedrock: Any, stack: Stack) -> Inference | None:
    """The stack's provisioned throughput or deployment; None when inference.mode is none."""
    name = stack.inference_name()
    if name is None:
        return None
    mode = stack.config.inference.mode
    if mode == "provisioned":
        summaries = paginate(
            bedrock,
            "list_provisioned_model_throughputs",
            "provisionedModelSummaries",
            nameContains=name,
        )
        found = next((s for s in summaries if s["provisionedModelName"] == name), None)
        if found is None:
            return Inference(mode, name, None)
        arn = found["provisionedModelArn"]
        record = call(bedrock, "get_provisioned_model_throughput", provisionedModelId=arn)
        return Inference(mode, name, record)
    return Inference(mode, name, find_deployment(bedrock, name))


def find_deployment(bedrock: Any, name: str) -> dict[str, Any] | None:
    """The custom model deployment named exactly `name` (GetCustomModelDeployment), or None."""
    summaries = paginate(
        bedrock,
        "list_custom_model_deployments",
        "modelDeploymentSummaries",
        nameContains=name,
    )
    found = next((s for s in summaries if s["customModelDeploymentName"] == name), None)
    if found is None:
        return None
    arn = found["customModelDeploymentArn"]
    return call(bedrock, "get_custom_model_deployment", customModelDeploymentIdentifier=arn)
