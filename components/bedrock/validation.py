"""Input validation for the dynamic providers' `check`.

Two passes, both before anything is created:

1. the inputs' shape and types (pydantic models over the AWS API's value types of
   `components.bedrock.values`, reported in the stack config's words: `components.problems`);
2. the request the provider will send, built by the same function `create` uses and
   checked member by member against the service model's lengths, patterns, enums and
   ranges (`components.bedrock.api`). botocore checks only minimums on the client, so
   without this a bad value fails only at the Create call. Each failure names the input
   the offending member comes from.

Values that are unknown during a preview are skipped, never reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from pulumi.dynamic import CheckFailure
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rft_env.components.bedrock.api import request_problems
from rft_env.components.bedrock.common import is_unknown
from rft_env.components.bedrock.values import (
    BaseModelId,
    Commitment,
    ExternalId,
    HyperParameters,
    IamRoleArn,
    ModelUnits,
    Region,
    S3Uri,
    SecurityGroupId,
    SubnetId,
    TagKey,
    TagValue,
    patterned,
)
from rft_env.components.problems import problems_from_validation_error, show_value
from rft_env.graders.endpoints import endpoint_url_problem

# Our own form for the prefix of derived names; the names themselves are checked as the
# requests' jobName, customModelName... by the second pass.
NamePrefix = patterned(
    r"[a-zA-Z0-9](-?[a-zA-Z0-9])*", "letters and digits, single '-' between them", 40
)
# What the API accepts for these is checked in the request (second pass).
LambdaArn = Annotated[str, Field(min_length=1)]
KmsKeyRef = Annotated[str, Field(min_length=1)]
ResourceName = Annotated[str, Field(min_length=1)]
ModelArnOrPending = str  # "" while the job has not produced a model
Tags = dict[TagKey, TagValue]


class _Inputs(BaseModel):
    # Outputs and `__provider` travel with the inputs: ignore what is not an input.
    model_config = ConfigDict(extra="ignore", strict=True, alias_generator=to_camel)


def _endpoint_url(value: str) -> str:
    # One rule for every endpoint override (graders.endpoints): loopback test endpoints.
    problem = endpoint_url_problem(value)
    if problem is not None:
        raise PydanticCustomError("endpoint_url", problem)
    return value


class ConnectionInputs(_Inputs):
    region: Region
    role_arn: IamRoleArn | None = None
    external_id: ExternalId | None = None
    endpoint_url: Annotated[str, AfterValidator(_endpoint_url)] | None = None


class WaitInputs(_Inputs):
    enabled: bool = False
    timeout_seconds: Annotated[int, Field(gt=0)] | None = None
    initial_poll_seconds: Annotated[float, Field(gt=0)] | None = None
    max_poll_seconds: Annotated[float, Field(gt=0)] | None = None


class VpcInputs(_Inputs):
    subnet_ids: Annotated[list[SubnetId], Field(min_length=1, max_length=16)]
    security_group_ids: Annotated[list[SecurityGroupId], Field(min_length=1, max_length=5)]


class JobInputs(_Inputs):
    connection: ConnectionInputs
    identity: Annotated[str, Field(min_length=1)]
    revision: Annotated[int, Field(ge=1)] = 1
    name_prefix: NamePrefix
    base_model_identifier: BaseModelId
    service_role_arn: IamRoleArn
    training_data_uri: S3Uri
    validation_data_uri: S3Uri | None = None
    output_data_uri: S3Uri
    grader_arn: LambdaArn
    hyper_parameters: HyperParameters
    kms_key_id: KmsKeyRef | None = None
    vpc_config: VpcInputs | None = None
    job_tags: Tags = {}
    model_tags: Tags = {}
    wait: WaitInputs = WaitInputs()


class ThroughputInputs(_Inputs):
    connection: ConnectionInputs
    identity: Annotated[str, Field(min_length=1)]
    name: ResourceName
    model_id: ModelArnOrPending = ""
    model_units: ModelUnits
    commitment: Commitment = "none"
    tags: Tags = {}
    wait: WaitInputs = WaitInputs()


class DeploymentInputs(_Inputs):
    connection: ConnectionInputs
    identity: Annotated[str, Field(min_length=1)]
    name: ResourceName
    model_arn: ModelArnOrPending = ""
    description: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    tags: Tags = {}
    wait: WaitInputs = WaitInputs()


Sha256Hex = patterned(r"[0-9a-f]{64}", "64 lowercase hex digits (a sha256)", 64)


class EvaluationInputs(_Inputs):
    """The promotion gate's (bedrock.evaluation). The deployment's name and tags are
    checked in its CreateCustomModelDeployment request (second pass)."""

    connection: ConnectionInputs
    identity: Annotated[str, Field(min_length=1)]
    model_arn: ModelArnOrPending = ""
    deployment_name: ResourceName
    keep_deployment: bool = False
    base_model_id: Annotated[str, Field(min_length=1)]
    samples_file: Annotated[str, Field(min_length=1)]
    project_dir: Annotated[str, Field(min_length=1)]
    dataset_sha256: Sha256Hex
    samples: Annotated[int, Field(ge=1)]
    graders: Annotated[dict[str, dict[str, Any]], Field(min_length=1)]
    primary_grader: Annotated[str, Field(min_length=1)]
    grader_code_digests: dict[str, str] = {}
    min_reward_gain: Annotated[float, Field(ge=-1, le=1)]
    guard_graders: list[str] = []
    concurrency: Annotated[int, Field(ge=1)]
    requests_per_second: Annotated[float, Field(gt=0)]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_failure_share: Annotated[float, Field(ge=0, le=1)]
    topic_arn: str = ""
    environment: str = ""
    tags: Tags = {}
    wait: WaitInputs = WaitInputs()


def _unknown_at(props: Any, key: str) -> bool:
    """Is the value at `key` (a path like `hyperParameters.epochCount`), or one of its
    parents, unknown? Then a problem there is preview noise."""
    value = props
    for part in key.replace("[", ".").replace("]", "").split("."):
        if is_unknown(value):
            return True
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return is_unknown(value)


def check_failures(model: type[_Inputs], props: dict[str, Any]) -> list[CheckFailure]:
    """One CheckFailure per bad field, each naming the value and what the API allows."""
    try:
        model.model_validate(props, by_alias=True)
    except ValidationError as error:
        return [
            CheckFailure(problem.key, str(problem).split(": ", 1)[1])
            for problem in problems_from_validation_error(error, model)
            if not _unknown_at(props, problem.key)
        ]
    return []


def check_with_request(
    model: type[_Inputs],
    props: dict[str, Any],
    operation: str,
    build: Callable[[dict[str, Any]], dict[str, Any] | None],
    sources: Sequence[tuple[str, str]],
) -> list[CheckFailure]:
    """Both passes: the inputs (`model`), then the request `build` makes from them (None:
    nothing will be sent), each refused member reported against the input it comes from.
    An input already reported by the first pass is not reported again."""
    failures = check_failures(model, props)
    try:
        request = build(props)
    except (KeyError, TypeError, ValueError, AttributeError):
        return failures  # too broken to build: the first pass has said why
    if request is None:
        return failures
    reported = {failure.property for failure in failures}
    for problem in request_problems(operation, request, skip=is_unknown):
        source = next(
            (
                key
                for prefix, key in sources
                if problem.path == prefix or problem.path.startswith((f"{prefix}.", f"{prefix}["))
            ),
            problem.path,
        )
        if not any(source == key or key.startswith(f"{source}.") for key in reported):
            failures.append(
                CheckFailure(
                    source,
                    f"got {show_value(problem.value)}; "
                    f"{problem.reason}: {problem.constraint.message()}",
                )
            )
    return failures
