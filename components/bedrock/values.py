"""The AWS API's value types and ranges, as pydantic types: the values rft-env sends to AWS.

They live apart from the user config model (`components.config`, which is built from
them), so that the dynamic providers (`components.bedrock`) and the rollout planner
(`rftenv.rollout`) check the same values in the same words without importing the stack
config. Each type says in words what it allows, because that text is what a user reads in
the error. API constraints come from botocore's service model (`components.bedrock.api`),
never from a hand copy.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rft_env.components.bedrock.api import (
    ASSUME_ROLE,
    CREATE_JOB,
    CREATE_THROUGHPUT,
    STS,
    api_bounds,
    api_checked,
    api_enum,
)

# RFT trains amazon.nova-2-lite-v1:0:256k, the variant AWS lists for customization: a
# 256K-token context, shared by a prompt and its response. AWS states no range for
# maxPromptLength or inferenceMaxTokens; these bounds are the safe choice (README,
# "Unconfirmed AWS behaviour").
RFT_CONTEXT_TOKENS = 256_000
RFT_MAX_INFERENCE_TOKENS = 64_000
# Model units of one provisioned throughput. AWS documents quotas (by default 2 units
# without a commitment, which can be raised; committed units as AWS Support grants them),
# not a maximum, so rft-env caps them where a typo cannot commit to a bill for hundreds
# (README). A quota is the account's business: beyond it AWS answers
# ServiceQuotaExceededException, which names it.
MAX_MODEL_UNITS = 50


def patterned(regex: str, allowed: str, max_length: int | None = None) -> Any:
    """A string type that fully matches `regex` (and is at most `max_length` long); its
    error says `allowed: <allowed>`."""
    # ASCII: AWS identifiers are ASCII, and Python's Unicode `\d` would take an Arabic-Indic "0"
    compiled = re.compile(regex, re.ASCII)

    def check(value: str) -> str:
        if not compiled.fullmatch(value) or (max_length is not None and len(value) > max_length):
            raise PydanticCustomError("pattern", "allowed: {allowed}", {"allowed": allowed})
        return value

    return Annotated[str, AfterValidator(check)]


Region = patterned(
    r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}", "an AWS region name, e.g. us-east-1"
)
IamRoleArn = patterned(
    r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
    "an IAM role ARN, e.g. arn:aws:iam::111122223333:role/deployer",
)
# The role the providers assume (STS AssumeRole) and the external id they send with it.
DeploymentRoleArn = api_checked(IamRoleArn, ASSUME_ROLE, "RoleArn", STS)
ExternalId = api_checked(str, ASSUME_ROLE, "ExternalId", STS)
IamPrincipalArn = patterned(
    r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}",
    "an IAM role or user ARN, e.g. arn:aws:iam::111122223333:role/data-engineer",
)
# Values that reach a Bedrock request are checked twice: against our own, narrower form
# (what rft-env supports), then against the service model's constraint on that member
# (what the API accepts: botocore does not check patterns or maximums on the client).
KmsKeyArn = api_checked(
    patterned(
        r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]{1,128}",
        "a KMS key ARN, e.g. arn:aws:kms:us-east-1:111122223333:key/1234abcd-...",
    ),
    CREATE_JOB,
    "customModelKmsKeyId",
)
S3Uri = api_checked(
    patterned(
        r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+",
        "an S3 object URI, e.g. s3://my-bucket/rft/train.jsonl",
    ),
    CREATE_JOB,
    "trainingDataConfig.s3Uri",
)
BaseModelId = api_checked(
    patterned(
        r"[a-z0-9-]+\.[a-z0-9.:-]+|arn:aws[a-z-]*:bedrock:[a-z0-9-]+::foundation-model/[a-z0-9.:-]+",
        "a Bedrock foundation-model id or ARN, e.g. amazon.nova-2-lite-v1:0:256k",
    ),
    CREATE_JOB,
    "baseModelIdentifier",
)
SubnetId = api_checked(
    patterned(r"subnet-[0-9a-f]{8,17}", "a subnet id, e.g. subnet-0abc1234"),
    CREATE_JOB,
    "vpcConfig.subnetIds[]",
)
SecurityGroupId = api_checked(
    patterned(r"sg-[0-9a-f]{8,17}", "a security group id, e.g. sg-0abc1234"),
    CREATE_JOB,
    "vpcConfig.securityGroupIds[]",
)
# Every resource gets the stack's tags; Bedrock's tag pattern is the narrowest of them
# (ASCII letters and digits only), so it is the one config checks.
TagKey = api_checked(str, CREATE_JOB, "jobTags[].key")
TagValue = api_checked(str, CREATE_JOB, "jobTags[].value")


# The models' settings here and in the stack config's models (components/config.py):
# camelCase keys, strict types, unknown keys rejected.
STRICT_CAMEL_CASE = ConfigDict(
    extra="forbid",
    strict=True,
    alias_generator=to_camel,
    populate_by_name=False,
    validate_default=False,
)


class _ApiModel(BaseModel):
    model_config = STRICT_CAMEL_CASE


_HYPER = "customizationConfig.rftConfig.hyperParameters."


class HyperParameters(_ApiModel):
    """RFT hyperparameters with the API's full ranges (from the service model); defaults
    are the AWS docs' example."""

    epoch_count: Annotated[int, Field(**api_bounds(CREATE_JOB, _HYPER + "epochCount"))] = 2
    batch_size: Annotated[int, Field(**api_bounds(CREATE_JOB, _HYPER + "batchSize"))] = 64
    learning_rate: Annotated[
        float, Field(**api_bounds(CREATE_JOB, _HYPER + "learningRate"), allow_inf_nan=False)
    ] = 1e-5
    # The service model sets no range for these two: bounds from the base model's context
    # (RFT_CONTEXT_TOKENS, RFT_MAX_INFERENCE_TOKENS; UNCONFIRMED, see the README).
    max_prompt_length: Annotated[int, Field(ge=1, le=RFT_CONTEXT_TOKENS)] = 4096
    training_sample_per_prompt: Annotated[
        int, Field(**api_bounds(CREATE_JOB, _HYPER + "trainingSamplePerPrompt"))
    ] = 4
    inference_max_tokens: Annotated[int, Field(ge=1, le=RFT_MAX_INFERENCE_TOKENS)] = 8192
    reasoning_effort: Literal[api_enum(CREATE_JOB, _HYPER + "reasoningEffort")] = "high"  # type: ignore[valid-type]
    eval_interval: Annotated[int, Field(**api_bounds(CREATE_JOB, _HYPER + "evalInterval"))] = 10

    @field_validator("inference_max_tokens")
    @classmethod
    def _fits_the_context(cls, tokens: int, info: ValidationInfo) -> int:
        # A prompt and the response generated for it share the model's context window.
        prompt = info.data.get("max_prompt_length")
        if isinstance(prompt, int) and prompt + tokens > RFT_CONTEXT_TOKENS:
            raise PydanticCustomError(
                "context_window",
                "allowed: at most {room} with maxPromptLength {prompt} (a prompt and its "
                "response share the model's {context}-token context)",
                {
                    "room": f"{RFT_CONTEXT_TOKENS - prompt:,}",
                    "prompt": f"{prompt:,}",
                    "context": f"{RFT_CONTEXT_TOKENS:,}",
                },
            )
        return tokens

    def api_shape(self) -> dict[str, Any]:
        """The `rftConfig.hyperParameters` object of CreateModelCustomizationJob."""
        return self.model_dump(by_alias=True)


ModelUnits = Annotated[
    int, Field(**api_bounds(CREATE_THROUGHPUT, "modelUnits")), Field(le=MAX_MODEL_UNITS)
]
# "none" omits commitmentDuration: no commitment, billed by the hour.
Commitment = Literal[("none", *api_enum(CREATE_THROUGHPUT, "commitmentDuration"))]  # type: ignore[valid-type]
