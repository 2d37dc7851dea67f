"""Input validation for the dynamic providers' `check`.

botocore checks only minimums client-side; the API's maximums, enums and patterns are
checked here, with the same models and wording as the stack config. Values that are
unknown during a preview are skipped, never reported.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pulumi.dynamic import CheckFailure
from pulumi.runtime import rpc
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from components.config import (
    BaseModelId,
    HyperParameters,
    IamRoleArn,
    Region,
    S3Uri,
    SecurityGroupId,
    SubnetId,
    TagKey,
    TagValue,
    patterned,
    problems_from_validation_error,
)

LambdaArn = patterned(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_.-]{1,64}"
    r"(:(\$LATEST|[a-zA-Z0-9_-]{1,128}))?",
    "a Lambda function ARN (at most 512 characters)",
    max_length=512,
)
KmsKeyRef = patterned(
    r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[a-zA-Z0-9/_-]{1,256}"
    r"|alias/[a-zA-Z0-9/_-]{1,250}|[a-zA-Z0-9-]{1,128}",
    "a KMS key ARN, key id, alias ARN or alias/<name>",
    max_length=2048,
)
NamePrefix = patterned(
    r"[a-zA-Z0-9](-?[a-zA-Z0-9])*", "letters and digits, single '-' between them", 40
)
ResourceName = patterned(
    r"([0-9a-zA-Z][_-]?){1,63}", "1-63 letters and digits, single '_' or '-' between them", 63
)
CustomModelArn = patterned(
    r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:custom-model/[a-z0-9.:-]+/[a-z0-9]{12}",
    "a custom-model ARN, or empty while the job has not produced one",
)
DeploymentName = patterned(
    r"[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    "1-63 letters, digits and '-', starting with a letter or digit",
    63,
)
Tags = Annotated[dict[TagKey, TagValue], Field(max_length=200)]


class _Inputs(BaseModel):
    # Outputs and `__provider` travel with the inputs: ignore what is not an input.
    model_config = ConfigDict(extra="ignore", strict=True, alias_generator=to_camel)


class ConnectionInputs(_Inputs):
    region: Region
    role_arn: IamRoleArn | None = None
    external_id: Annotated[str, Field(min_length=2, max_length=1224)] | None = None
    endpoint_url: Annotated[str, Field(pattern=r"^https?://")] | None = None


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
    model_id: CustomModelArn | Literal[""] = ""
    model_units: Annotated[int, Field(ge=1)]
    commitment: Literal["none", "OneMonth", "SixMonths"] = "none"
    tags: Tags = {}
    wait: WaitInputs = WaitInputs()


class DeploymentInputs(_Inputs):
    connection: ConnectionInputs
    identity: Annotated[str, Field(min_length=1)]
    name: DeploymentName
    model_arn: CustomModelArn | Literal[""] = ""
    description: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    tags: Tags = {}
    wait: WaitInputs = WaitInputs()


def _unknown_at(props: Any, key: str) -> bool:
    """Is the value at `key` (a path like `hyperParameters.epochCount`), or one of its
    parents, unknown? Then a problem there is preview noise."""
    value = props
    for part in key.replace("[", ".").replace("]", "").split("."):
        if value == rpc.UNKNOWN:
            return True
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return value == rpc.UNKNOWN


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
