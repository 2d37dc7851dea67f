"""Environment: a whole rft-env stack as one component that TypeScript, Go and YAML
programs can use.

The component provider in `components/provider/` serves it (`pulumi package add`), and
Pulumi's Python SDK infers its schema from the annotations here
(`pulumi.provider.experimental.analyzer`). Hence the shape of this module:
- no `from __future__ import annotations`: the analyzer reads annotations as objects;
- the args are TypedDicts in snake_case (the schema camelCases them) that mirror the stack
  config, so `job.hyperparameters.epochCount` means what `rft-env:job.hyperparameters.epochCount`
  means, and a problem names the same key;
- every arg is plain, not an Input: its values become names, ARNs, tags and policies, so
  they must be known before anything is created, exactly as stack config is. The
  exceptions are what another stack's outputs typically give: `vpc` and
  `kms.existingKeyArn` may be Outputs, and reach RftEnvironmentArgs as Inputs;
- the outputs are annotated attributes, named like the stack outputs.

The args are validated by the same validator as the program's stack config
(`config.load_stack_config`); then the component builds `RftEnvironment` as its child.
"""

import dataclasses
import inspect
import json
import re
import typing
from collections.abc import Mapping
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from rft_env.components.config import (
    CONFIG_NAMESPACE,
    GRADER_LAMBDA_KEYS,
    ConfigError,
    StackConfig,
    load_stack_config,
)
from rft_env.components.environment import RftEnvironment, RftEnvironmentArgs
from rft_env.components.naming import installed_version
from rft_env.components.problems import ConfigProblem
from rft_env.components.providers import provider_args, resource_options

# The provider's package name: the same `rftenv` as every other component's type token.
PACKAGE = "rftenv"
# Component providers serve their components in the `index` module only (the SDK's
# ComponentProvider.validate_resource_type).
TOKEN = f"{PACKAGE}:index:Environment"
# Keys of a grader entry that are its own args; every other key is in `options`.
GRADER_KEYS = ("type", *GRADER_LAMBDA_KEYS)
# `graders.<name><tail>` in a problem's key path (components.problems.key_path): the name
# is plain or quoted, the tail starts with `.key`, `["key"]` or `[index]`.
_GRADER_PATH = re.compile(r'graders(?P<name>\.[A-Za-z0-9_:-]+|\["(?:[^"\\]|\\.)*"\])(?P<tail>.*)')
_KEY = re.compile(r"\.([A-Za-z0-9_:-]+)")


def package_version() -> str:
    """The version the provider reports: the installed rft-env's."""
    return installed_version()


# --------------------------------------------------------------------------------------
# Args. Each docstring becomes the property's description in the schema.
# --------------------------------------------------------------------------------------
class AccountArgs(TypedDict):
    """The AWS account the environment deploys into."""

    id: str
    """The 12-digit account id, as a string (the aws provider refuses any other account)."""
    deployment_role_arn: NotRequired[str]
    """A role in the account that the aws provider and the Bedrock calls assume."""
    external_id: NotRequired[str]
    """The external id sent when assuming deploymentRoleArn."""


class DataSourceArgs(TypedDict, total=False):
    """One dataset: a local JSONL file (uploaded) or an S3 object that exists. Set one."""

    file: str
    """A JSONL file, relative to the program's directory: validated, then uploaded."""
    s3_uri: str
    """An existing S3 object, e.g. s3://my-bucket/rft/train.jsonl."""


class DataArgs(TypedDict):
    """The job's datasets."""

    training: DataSourceArgs
    """The training dataset."""
    validation: NotRequired[DataSourceArgs]
    """The validation dataset (optional)."""


class GraderArgs(TypedDict):
    """A grader (reward function), deployed as its own Lambda."""

    type: str
    """exact_match, math_answer, json_format, format_check, text_similarity, llm_judge, ..."""
    timeout_seconds: NotRequired[int]
    """The Lambda timeout (1-900 s, default 300)."""
    memory_mb: NotRequired[int]
    """The Lambda memory (128-10240 MB, default 512)."""
    options: NotRequired[dict[str, Any]]
    """The type's options, as a stack file's grader entry has them (e.g. modelId, rubric)."""


class HyperparametersArgs(TypedDict, total=False):
    """RFT hyperparameters; each defaults as in the stack config."""

    epoch_count: int
    batch_size: int
    learning_rate: float
    max_prompt_length: int
    training_sample_per_prompt: int
    inference_max_tokens: int
    reasoning_effort: str
    """low, medium or high (Bedrock's enum)."""
    eval_interval: int


class JobArgs(TypedDict):
    """The RFT customization job."""

    grader: str
    """The name of the grader (a key of graders) the job uses."""
    base_model: NotRequired[str]
    """The Nova base model id or ARN (default amazon.nova-2-lite-v1:0:256k)."""
    hyperparameters: NotRequired[HyperparametersArgs]
    revision: NotRequired[int]
    """Bump to train again with unchanged inputs."""
    wait: NotRequired[bool]
    """Whether the update returns only once the job has Completed."""
    wait_timeout_minutes: NotRequired[int]
    max_poll_seconds: NotRequired[int]


class InferenceMode(StrEnum):
    """How the trained model is served."""

    NONE = "none"
    ON_DEMAND = "on_demand"
    PROVISIONED = "provisioned"


class PromotionArgs(TypedDict, total=False):
    """The promotion gate: the throughput is bought only for a trained model that beats its
    base model on held-out prompts."""

    min_reward_gain: float
    """Required: the trained mean reward minus the base mean, on the job's grader."""
    samples: int
    """Held-out prompts used (default 200)."""
    graders: list[str]
    """Extra graders (names under graders) that must not get worse."""
    samples_file: str
    """The held-out prompts (default: the validation data file)."""
    base_model_id: str
    """The base model's id for Converse (default: derived from the job's base model)."""
    keep_deployment: bool
    """Keep the on-demand deployment made for the evaluation (default false)."""
    concurrency: int
    """Model calls in flight (default 4)."""
    requests_per_second: float
    """Request rate, shared by all calls (default 2)."""
    max_tokens: int
    """Converse maxTokens per answer (default: the model's)."""
    max_failure_share: float
    """Share of failed calls above which the evaluation fails (default 0.05)."""


class InferenceArgs(TypedDict, total=False):
    """Inference for the trained model."""

    mode: InferenceMode
    """none (default), on_demand or provisioned."""
    model_units: int
    """Model units of a provisioned throughput (default 1)."""
    commitment: str
    """none (default), OneMonth or SixMonths."""
    wait_timeout_minutes: int
    promotion: PromotionArgs
    """Evaluate the trained model before the provisioned throughput is created."""


class KmsArgs(TypedDict, total=False):
    """The environment's KMS key: created (default) or an existing one."""

    existing_key_arn: str
    """Use this key instead of creating one."""
    deletion_window_days: int
    """7-30 days for the created key (30 in production)."""
    key_user_arns: list[str]
    """IAM roles or users that may use the created key (e.g. whoever uploads data)."""


class VpcArgs(TypedDict):
    """The VPC the RFT job runs in."""

    subnet_ids: list[str]
    security_group_ids: list[str]


class CrossAccountEntryArgs(TypedDict):
    """A principal or key of another account the environment may name, and why."""

    arn: str
    reason: str


class EnvironmentArgs(TypedDict):
    """The environment's configuration: the stack config's keys, camelCased alike."""

    environment: str
    """1-16 lowercase letters, digits and single '-'; part of every physical name."""
    region: str
    """The AWS region (one that offers Bedrock RFT for Nova: us-east-1)."""
    account: AccountArgs
    data: DataArgs
    graders: dict[str, GraderArgs]
    """Graders by name (1-24 lowercase letters, digits, '-')."""
    job: JobArgs
    production: NotRequired[bool]
    """Protects the key and buckets, retains models, requires a 30-day key deletion window."""
    inference: NotRequired[InferenceArgs]
    kms: NotRequired[KmsArgs]
    vpc: NotRequired[VpcArgs]
    log_retention_days: NotRequired[int]
    """Retention of grader logs and S3 access logs, in days (a CloudWatch value)."""
    notification_emails: NotRequired[list[str]]
    """Addresses told when a job ends or a grader misbehaves."""
    cross_account: NotRequired[list[CrossAccountEntryArgs]]
    tags: NotRequired[dict[str, str]]
    """Tags on every resource, besides Project, Environment, Stack and ManagedBy."""


# --------------------------------------------------------------------------------------
# Args -> stack config (pure)
# --------------------------------------------------------------------------------------
class EnvironmentArgsError(ValueError):
    """Every problem in an Environment's args, each naming its arg path."""

    def __init__(self, problems: list[ConfigProblem], source: str) -> None:
        self.problems = sorted(problems, key=lambda p: p.key)
        count = len(self.problems)
        lines = [f"invalid {TOKEN} args ({source}): {count} problem{'s' * (count != 1)}"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _whole_numbers(value: Any) -> Any:
    """Integral floats as ints, throughout. Every number crosses the wire as a double, so
    an `epochCount: 2` arrives as 2.0, which the strict validator would refuse as an
    integer (and a float field accepts an int)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_whole_numbers(item) for item in value]
    return value


def _config_value(value: Any, annotation: Any) -> Any:
    """`value` (shaped by `annotation`, snake_case keys) as stack config has it (camelCase
    keys, enum values). Keys of maps (grader names, tags, options) are the caller's and
    stay; keys no annotation knows stay too, so that the validator names them."""
    if isinstance(value, Enum):
        return value.value
    if typing.is_typeddict(annotation) and isinstance(value, Mapping):
        fields = typing.get_type_hints(annotation)
        return {
            (_camel(key) if key in fields else key): _config_value(item, fields.get(key, Any))
            for key, item in value.items()
        }
    origin, params = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and isinstance(value, Mapping):
        return {key: _config_value(item, params[1]) for key, item in value.items()}
    if origin is list and isinstance(value, list | tuple):
        return [_config_value(item, params[0]) for item in value]
    return _whole_numbers(value)


def _outputs_in(value: Any, path: str) -> list[str]:
    """The paths of every Output in `value`: an input that depends on a resource or is a
    secret arrives as one, and stack config values must be plain."""
    if isinstance(value, pulumi.Output):
        return [path]
    if isinstance(value, Mapping):
        return [p for key, item in value.items() for p in _outputs_in(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in _outputs_in(item, f"{path}[{i}]")]
    return []


def split_wired_inputs(args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the args that are stack config, RftEnvironmentArgs' Inputs): a `vpc` holding an
    Output, and an Output `kms.existing_key_arn`, are what another stack's outputs give
    (a StackReference's in YAML, TypeScript or Go); RftEnvironmentArgs takes them as
    Inputs and checks them once known. Plain values stay config, validated at once."""
    plain, wired = dict(args), {}
    vpc = plain.get("vpc")
    if isinstance(vpc, Mapping) and _outputs_in(vpc, "vpc"):
        del plain["vpc"]
        wired["subnet_ids"] = vpc.get("subnet_ids")
        wired["security_group_ids"] = vpc.get("security_group_ids")
    kms = plain.get("kms")
    if isinstance(kms, Mapping) and isinstance(kms.get("existing_key_arn"), pulumi.Output):
        plain["kms"] = {key: value for key, value in kms.items() if key != "existing_key_arn"}
        wired["kms_key_arn"] = kms["existing_key_arn"]
    return plain, wired


def raw_config(args: Mapping[str, Any]) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The stack config (`rft-env:*` keys without the namespace) the args stand for, and
    the problems found on the way: options that shadow a grader's own keys."""
    raw = _config_value(args, EnvironmentArgs)
    problems: list[ConfigProblem] = []
    graders = raw.get("graders")
    for grader, entry in (graders if isinstance(graders, dict) else {}).items():
        if not isinstance(entry, dict):
            continue
        options = entry.pop("options", None) or {}
        for key, value in (options if isinstance(options, dict) else {}).items():
            if key in GRADER_KEYS:
                problems.append(
                    ConfigProblem(
                        f"graders.{grader}.options.{key}",
                        value,
                        f"allowed: set it as graders.{grader}.{key}, not among the options",
                    )
                )
            else:
                entry[key] = value
    return raw, problems


def args_path(config_key: str) -> str:
    """A stack config key path (`rft-env:graders.g.operation`) as the arg path that set it
    (`graders.g.options.operation`): the namespace goes, and a grader's spec keys are
    under its options."""
    path = config_key.removeprefix(f"{CONFIG_NAMESPACE}:")
    grader = _GRADER_PATH.fullmatch(path)
    if grader is None:
        return path
    name, tail = grader.group("name"), grader.group("tail")
    own = _KEY.match(tail)
    if not tail or (own is not None and own.group(1) in GRADER_KEYS):
        return path
    return f"graders{name}.options{tail}"


def validate_args(args: Mapping[str, Any], project_dir: Path, source: str) -> StackConfig:
    """The StackConfig that `args` stand for, validated exactly as a stack's config is
    (files relative to `project_dir`); or one EnvironmentArgsError naming every problem by
    its arg path."""
    dynamic = _outputs_in(args, "args")
    if dynamic:
        raise EnvironmentArgsError(
            [
                ConfigProblem(
                    path.removeprefix("args."),
                    "<output>",
                    "allowed: a plain value known before deployment (not a secret, nor "
                    "another resource's output): it becomes part of names, ARNs, tags or "
                    "policies",
                )
                for path in dynamic
            ],
            source,
        )
    raw, problems = raw_config(args)
    try:
        config = load_stack_config(raw, project_dir, source)
    except ConfigError as error:
        problems += [dataclasses.replace(p, key=args_path(p.key)) for p in error.problems]
        raise EnvironmentArgsError(problems, source) from None
    if problems:
        raise EnvironmentArgsError(problems, source)
    return config


# --------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------
def given_aws_provider(opts: pulumi.ResourceOptions | None) -> pulumi.ProviderResource | None:
    """The aws provider the caller passed (`providers`, or `provider`), if any."""
    if opts is None:
        return None
    providers = opts.providers
    candidates = list(providers.values() if isinstance(providers, Mapping) else providers or [])
    if opts.provider is not None:
        candidates.append(opts.provider)
    return next((p for p in candidates if getattr(p, "package", None) == "aws"), None)


class Environment(pulumi.ComponentResource):
    """A complete Amazon Bedrock reinforcement fine-tuning environment for Amazon Nova
    models: KMS key, encrypted buckets, grader Lambdas, the Bedrock service role, the RFT
    job and its inference, and notifications, alarms and a dashboard. Every AWS resource
    goes through one explicit aws provider: the one passed in the providers option, or one
    the component makes for the account (never the default provider)."""

    environment: pulumi.Output[str]
    production: pulumi.Output[bool]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    key_alias: pulumi.Output[str | None]
    """The alias of the key rft-env creates (none with kms.existingKeyArn)."""
    data_bucket: pulumi.Output[str]
    output_bucket: pulumi.Output[str]
    log_bucket: pulumi.Output[str]
    training_data_uri: pulumi.Output[str]
    validation_data_uri: pulumi.Output[str | None]
    output_data_uri: pulumi.Output[str]
    customization_role_arn: pulumi.Output[str]
    grader_function_arns: pulumi.Output[dict[str, str]]
    grader_role_arns: pulumi.Output[dict[str, str]]
    job_grader_arn: pulumi.Output[str]
    base_model: pulumi.Output[str]
    job_arn: pulumi.Output[str]
    job_name: pulumi.Output[str]
    job_status: pulumi.Output[str]
    job_failure_message: pulumi.Output[str | None]
    custom_model_arn: pulumi.Output[str | None]
    """The trained model, once the job has Completed."""
    inference_arn: pulumi.Output[str | None]
    inference_status: pulumi.Output[str | None]
    evaluation: pulumi.Output[dict[str, Any] | None]
    """The promotion gate's summary and decision (only with inference.promotion)."""
    notification_topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        stack = pulumi.get_stack()
        # The engine starts a provider in the program's working directory (RunPlugin's
        # pwd), which is its project directory: data files and custom graders are
        # relative to it, and so are the asset paths the engine and aws provider read.
        project_dir = Path.cwd()
        # Validated before anything is registered, as the program validates its config.
        plain, wired = split_wired_inputs(args)
        config = validate_args(plain, project_dir, source=f"{TOKEN} {name}, stack {stack}")
        super().__init__(TOKEN, name, None, opts)

        provider = given_aws_provider(opts)
        if provider is None:
            provider = aws.Provider(
                f"{name}-target-account",
                provider_args(config, stack),
                opts=pulumi.ResourceOptions(parent=self),
            )
        environment = RftEnvironment(
            name,
            RftEnvironmentArgs(config=config, stack=stack, project_dir=project_dir, **wired),
            opts=resource_options(provider, parent=self),  # type: ignore[arg-type]
        )
        outputs = {
            key: pulumi.Output.from_input(value)
            for key, value in environment.outputs.items()
            if value is not None
        }
        for key, value in outputs.items():
            # An output this class does not declare is not in the schema: registered with
            # the rest, but not served (a test keeps the two lists equal).
            if key in OUTPUT_ATTRIBUTES:
                setattr(self, OUTPUT_ATTRIBUTES[key], value)
        self.register_outputs(outputs)


# The schema takes a class's docstring as it is: without its source indentation here.
Environment.__doc__ = inspect.cleandoc(Environment.__doc__ or "")

# Stack output name -> attribute (the schema's output is the attribute camelCased).
OUTPUT_ATTRIBUTES = {
    _camel(attribute): attribute
    # Its own annotations only: ComponentResource's are strings of the SDK's namespace.
    for attribute in inspect.get_annotations(Environment)
    if not attribute.startswith("_")
}


def served_schema(version: str | None = None) -> dict[str, Any]:
    """The package schema the provider serves (GetSchema), inferred here exactly as the
    provider infers it: offline, without the CLI."""
    from pulumi.provider.experimental.component import ComponentProvider

    provider = ComponentProvider([Environment], PACKAGE, version=version or package_version())
    return json.loads(provider.schema or "{}")
