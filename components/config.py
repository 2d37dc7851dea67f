"""Typed stack configuration: the one place that reads and validates `rft-env:*` config.

`load_stack_config(raw, project_dir)` turns the raw `rft-env:*` values into a `StackConfig`
or raises ONE `ConfigError` that lists every problem found, each with its full key path
(`rft-env:job.hyperparameters.epochCount`), the value given and what is allowed. Nothing
is registered with Pulumi before this succeeds.

Validation has two passes over the same input, and both always run so that one error
lists everything:

1. structural: pydantic models (strict types, unknown keys rejected, ranges, enums);
2. semantic: rules that span keys or need the file system (a grader referenced but not
   defined, grader specs, dataset files, ARNs in the wrong account or region, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rft_env.components.bedrock.api import CREATE_JOB, api_bounds, api_checked
from rft_env.components.bedrock.values import (
    STRICT_CAMEL_CASE,
    BaseModelId,
    Commitment,
    DeploymentRoleArn,
    ExternalId,
    HyperParameters,
    IamPrincipalArn,
    KmsKeyArn,
    ModelUnits,
    Region,
    S3Uri,
    SecurityGroupId,
    SubnetId,
    TagKey,
    TagValue,
    patterned,
)
from rft_env.components.cross_account import (
    CROSS_ACCOUNT_KEY,
    ENTRY_ARN_ALLOWED,
    ENTRY_ARN_PATTERN,
    AllowList,
    account_of,
    allow_list,
    allow_list_from_raw,
    foreign_account,
    is_account_id,
    is_reason,
)
from rft_env.components.datasets import DatasetReport, validate_dataset
from rft_env.components.naming import CONFIG_NAMESPACE, base_model_inference_id, is_region
from rft_env.components.packaging import grader_directory_problems
from rft_env.components.problems import (
    MISSING,
    ConfigProblem,
    key_path,
    problems_from_validation_error,
)
from rft_env.components.project_paths import ProjectPathError, resolve_in_project
from rft_env.components.prompts import PromptsError, load_prompts
from rft_env.components.tags import RESERVED_TAG_KEYS
from rft_env.graders.composite import nested_specs
from rft_env.graders.judge_models import model_id_problem
from rft_env.graders.registry import spec_problems

DEFAULT_BASE_MODEL = "amazon.nova-2-lite-v1:0:256k"
# Regions where Bedrock offers reinforcement fine-tuning for Nova: us-east-1 only (AWS user
# guide, "Reinforcement fine-tuning for Amazon Nova models", page rft-nova-models).
RFT_REGIONS = ("us-east-1",)
# The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
MAX_S3_OBJECT_TAGS = 10
# Grader keys that configure the Lambda; everything else in a grader entry is its spec.
GRADER_LAMBDA_KEYS = ("timeoutSeconds", "memoryMb")
# The promotion gate calls the base model and the trained one with Converse: its request
# members are checked against bedrock-runtime's service model.
BEDROCK_RUNTIME = "bedrock-runtime"
CONVERSE = "Converse"


# --------------------------------------------------------------------------------------
# Errors (each problem is a components.problems.ConfigProblem)
# --------------------------------------------------------------------------------------
class ConfigError(ValueError):
    """Every problem in a stack's config, reported together."""

    def __init__(self, problems: list[ConfigProblem], source: str | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: p.key)
        self.source = source
        where = f" ({source})" if source else ""
        count = len(self.problems)
        lines = [f"invalid rft-env stack config{where}: {count} problem{'s' * (count != 1)}"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------
# Constrained value types of rft-env's own. Each says in words what it allows, because
# that text is what a user reads in the error. The AWS API's value types and ranges are in
# components.bedrock.values, apart from this model, so that the providers and the rollout
# planner use them without importing the stack config.
# --------------------------------------------------------------------------------------
def _account_id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # An unquoted 12-digit id in YAML is a number, and leading zeros are silently lost.
        raise PydanticCustomError(
            "account_id_type",
            'allowed: a 12-digit account id as a quoted string, e.g. "012345678901" '
            "(unquoted YAML numbers lose leading zeros)",
        )
    return value


AccountId = Annotated[
    patterned(r"\d{12}", 'a 12-digit AWS account id, e.g. "111122223333"'),
    BeforeValidator(_account_id),
]
EnvironmentName = patterned(
    # No '--' and no trailing '-': Bedrock model and throughput names derive from it.
    r"[a-z](-?[a-z0-9])*",
    "1-16 characters: lowercase letters and digits, single '-' between them, starting "
    "with a letter",
    max_length=16,
)
GraderName = patterned(
    r"[a-z][a-z0-9-]{0,23}",
    "1-24 characters: lowercase letters, digits and '-', starting with a letter",
)
Email = patterned(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address")


def _invocable_model_id(value: str) -> str:
    # Converse accepts more (custom models, prompt routers, ...), but the deployment role's
    # InvokeModel grant is derived from the id, which graders.judge_models must classify.
    problem = model_id_problem(value)
    if problem is not None:
        # Drop its "got '<id>'; " lead: the problem shows the value already.
        reason = problem.partition("; ")[2] or problem
        raise PydanticCustomError("model_id", "{reason}", {"reason": reason})
    return value


def _requests_per_second(value: float) -> float:
    # Its own check: a `gt` bound with an upper bound would read "from 0 to 100".
    if not 0 < value <= 100:
        raise PydanticCustomError("rate", "allowed: a number above 0, at most 100")
    return value


RequestsPerSecond = Annotated[
    float, Field(allow_inf_nan=False), AfterValidator(_requests_per_second)
]


# The base model's id for Converse: the API's own constraint first, then rft-env's.
ConverseModelId = Annotated[
    api_checked(str, CONVERSE, "modelId", BEDROCK_RUNTIME), AfterValidator(_invocable_model_id)
]


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise PydanticCustomError(
            "log_retention",
            "allowed: one of CloudWatch's retention periods in days: {allowed}",
            {"allowed": ", ".join(map(str, LOG_RETENTION_DAYS))},
        )
    return value


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]


# --------------------------------------------------------------------------------------
# Models. Keys are camelCase in the stack file (Pulumi's convention), snake_case here.
# --------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = STRICT_CAMEL_CASE


class AccountConfig(_Model):
    """The AWS account the stack deploys into."""

    id: AccountId
    deployment_role_arn: DeploymentRoleArn | None = None
    external_id: ExternalId | None = None


class DataSource(_Model):
    """One dataset: a local JSONL file to upload, or an S3 object that already exists."""

    file: Annotated[str, Field(min_length=1)] | None = None
    s3_uri: S3Uri | None = None


class DataConfig(_Model):
    training: DataSource
    validation: DataSource | None = None


class GraderConfig(BaseModel):
    """A grader: its Lambda settings plus the grader spec (every other key)."""

    model_config = ConfigDict(extra="allow", strict=True, alias_generator=to_camel)

    type: str
    timeout_seconds: Annotated[int, Field(ge=1, le=900)] = 300
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 512

    @property
    def spec(self) -> dict[str, Any]:
        """The grader spec as the Lambda receives it in GRADER_SPEC."""
        return {"type": self.type, **(self.model_extra or {})}


class JobConfig(_Model):
    base_model: BaseModelId = DEFAULT_BASE_MODEL
    grader: str
    hyperparameters: HyperParameters = HyperParameters()
    # Bump to train again with unchanged inputs (job names can never be reused).
    revision: Annotated[int, Field(ge=1)] = 1
    # Whether `pulumi up` returns only once the job has Completed (and fails if it fails).
    wait: bool = False
    wait_timeout_minutes: Annotated[int, Field(ge=1, le=10080)] = 1440
    max_poll_seconds: Annotated[int, Field(ge=10, le=3600)] = 300


class PromotionConfig(_Model):
    """The promotion gate: the trained model is evaluated against its base model on
    held-out prompts, and the provisioned throughput is created only if it does better."""

    # Trained mean reward minus base mean reward, on the job's grader.
    min_reward_gain: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
    # The first N distinct prompts of the samples file.
    samples: Annotated[int, Field(ge=1, le=10_000)] = 200
    # Graders (besides the job's) whose mean reward must not get worse. Plain strings:
    # _check_promotion refuses any that is not under rft-env:graders, in one problem.
    graders: list[str] = []
    # Held-out prompts (JSONL or JSON) in the project; default: data.validation.file.
    samples_file: Annotated[str, Field(min_length=1)] | None = None
    # Default: naming.base_model_inference_id(job.baseModel).
    base_model_id: ConverseModelId | None = None
    # Keep the on-demand deployment made for the evaluation after the gate.
    keep_deployment: bool = False
    concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    requests_per_second: RequestsPerSecond = 2.0
    max_tokens: (
        Annotated[
            int,
            Field(ge=1),
            Field(**api_bounds(CONVERSE, "inferenceConfig.maxTokens", BEDROCK_RUNTIME)),
        ]
        | None
    ) = None
    # The share of failed model calls above which the evaluation counts as failed.
    max_failure_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.05


class InferenceConfig(_Model):
    mode: Literal["none", "on_demand", "provisioned"] = "none"
    model_units: ModelUnits | None = None
    commitment: Commitment = "none"
    wait_timeout_minutes: Annotated[int, Field(ge=1, le=1440)] = 60
    # Only with mode "provisioned": it gates the throughput.
    promotion: PromotionConfig | None = None

    @property
    def provisioned_model_units(self) -> int:
        """Model units for provisioned throughput: 1 unless set (the default no-commitment
        quota is 2 per account)."""
        return self.model_units or 1


class KmsConfig(_Model):
    """Create the stack's key (default), or use an existing one."""

    existing_key_arn: KmsKeyArn | None = None
    deletion_window_days: Annotated[int, Field(ge=7, le=30)] = 30
    key_user_arns: list[IamPrincipalArn] = []

    @property
    def create_key(self) -> bool:
        return self.existing_key_arn is None


class VpcConfig(_Model):
    subnet_ids: Annotated[list[SubnetId], Field(**api_bounds(CREATE_JOB, "vpcConfig.subnetIds"))]
    security_group_ids: Annotated[
        list[SecurityGroupId], Field(**api_bounds(CREATE_JOB, "vpcConfig.securityGroupIds"))
    ]


def _reason(value: str) -> str:
    if not is_reason(value):
        raise PydanticCustomError(
            "reason", "allowed: a non-empty reason a reviewer can read (why this access is needed)"
        )
    return value


CrossAccountArn = patterned(ENTRY_ARN_PATTERN, ENTRY_ARN_ALLOWED)


class CrossAccountEntry(_Model):
    """A principal or key of another account the stack may use or grant, and why."""

    arn: CrossAccountArn
    reason: Annotated[str, AfterValidator(_reason)]


class StackConfig(_Model):
    """Everything one stack (environment, account, region) is made of."""

    environment: EnvironmentName
    account: AccountConfig
    region: Region
    production: bool = False
    data: DataConfig
    graders: Annotated[dict[GraderName, GraderConfig], Field(min_length=1)]
    job: JobConfig
    inference: InferenceConfig = InferenceConfig()
    kms: KmsConfig = KmsConfig()
    vpc: VpcConfig | None = None
    log_retention_days: LogRetentionDays = 90
    notification_emails: list[Email] = []
    # Principals and keys of other accounts the stack may name (components.cross_account).
    cross_account: list[CrossAccountEntry] = []
    tags: dict[TagKey, TagValue] = {}

    _datasets: dict[str, DatasetReport] = PrivateAttr(default_factory=dict)
    # Top-level keys (without the namespace) set with `pulumi config set --secret`.
    _secret_keys: frozenset[str] = PrivateAttr(default=frozenset())

    def is_secret(self, key: str) -> bool:
        """Whether the stack set top-level `key` (e.g. "notificationEmails") as a secret."""
        return key in self._secret_keys

    def dataset(self, purpose: Literal["training", "validation"]) -> DatasetReport | None:
        """The validated local dataset for `purpose`, or None if it comes from S3 or is absent."""
        return self._datasets.get(purpose)

    @property
    def cross_account_allow_list(self) -> AllowList:
        return allow_list((entry.arn, entry.reason) for entry in self.cross_account)

    @property
    def job_grader(self) -> GraderConfig:
        return self.graders[self.job.grader]

    @property
    def promotion_samples_file(self) -> str | None:
        """The promotion gate's held-out prompts, relative to the project:
        `inference.promotion.samplesFile`, else `data.validation.file`; None without
        promotion (validation ensures one of the two is set with it)."""
        promotion = self.inference.promotion
        if promotion is None:
            return None
        validation = self.data.validation
        return promotion.samples_file or (validation.file if validation else None)


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------
def decode_config_values(values: Mapping[str, Any], namespace: str = CONFIG_NAMESPACE) -> dict:
    """`rft-env:*` values as the engine passes them (strings, objects as JSON) -> plain data."""
    prefix = f"{namespace}:"
    decoded: dict[str, Any] = {}
    for key, value in values.items():
        if not key.startswith(prefix):
            continue
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
            # Only structured values and numbers/booleans are JSON-decoded: a plain string
            # such as "dev" stays a string.
            value = parsed if isinstance(parsed, dict | list | bool | int | float) else value
        decoded[key[len(prefix) :]] = value
    return decoded


# Top-level keys whose values the program keeps secret when the stack sets them with
# `pulumi config set --secret`: it hands them to resources only as secret Outputs. Every
# other value becomes part of physical names, ARNs, tags or policy documents, which no
# provider keeps secret, so a secret there would leak while looking protected.
SECRET_CAPABLE_KEYS = frozenset({"notificationEmails"})


def secret_key_problems(secret_keys: Iterable[str]) -> list[ConfigProblem]:
    """A problem for each key set as a secret that the program could not keep secret (the
    value itself is never shown)."""
    allowed = ", ".join(f"{CONFIG_NAMESPACE}:{key}" for key in sorted(SECRET_CAPABLE_KEYS))
    return [
        ConfigProblem(
            f"{CONFIG_NAMESPACE}:{key}",
            MISSING,
            "is set as a secret, but its value becomes part of names, ARNs, tags or policies "
            "that Pulumi cannot keep secret; set it in plain text (only "
            f"{allowed} may be secret)",
        )
        for key in sorted(set(secret_keys) - SECRET_CAPABLE_KEYS)
    ]


# How a problem shows the value of a key set as a secret.
SECRET_SHOWN = "[secret]"


def _hide_secrets(problems: list[ConfigProblem], secret_keys: Iterable[str]) -> list[ConfigProblem]:
    """`problems` without the value of any key set as a secret: shown as `[secret]`, and for
    a key that may not be secret left out altogether (its refusal says what to do; the
    offline tools, which cannot decrypt it, validate a stand-in)."""
    secret = set(secret_keys)
    hidden: list[ConfigProblem] = []
    for problem in problems:
        top = re.split(r"[.\[]", problem.key.removeprefix(f"{CONFIG_NAMESPACE}:"), maxsplit=1)[0]
        if top in secret - SECRET_CAPABLE_KEYS:
            continue
        if top in secret and problem.value is not MISSING:
            problem = ConfigProblem(problem.key, SECRET_SHOWN, problem.message)
        hidden.append(problem)
    return hidden


# Keys of other namespaces a stack may set expecting them to work. rft-env builds its one
# AWS provider explicitly (components/providers.py), and an explicit provider reads none of
# the `aws:` config, so these would be ignored without a word.
IGNORED_KEYS = {
    "aws:region": (
        "is ignored: the stack's AWS provider takes its region from "
        f"{CONFIG_NAMESPACE}:region; remove it (`pulumi config rm aws:region`) and set "
        f"`pulumi config set {CONFIG_NAMESPACE}:region <region>`"
    ),
    "aws:profile": (
        "is ignored: the stack's AWS provider does not read it; remove it (`pulumi config "
        "rm aws:profile`), choose the local credentials with the AWS_PROFILE environment "
        "variable (or another standard AWS credential source), and the account's role with "
        f"{CONFIG_NAMESPACE}:account.deploymentRoleArn"
    ),
}


def ignored_key_problems(stack_keys: Iterable[str]) -> list[ConfigProblem]:
    """A problem for each key the stack sets that rft-env would silently ignore."""
    return [
        ConfigProblem(key, MISSING, IGNORED_KEYS[key])
        for key in sorted(set(stack_keys) & IGNORED_KEYS.keys())
    ]


def load_stack_config(
    raw: Mapping[str, Any],
    project_dir: Path,
    source: str | None = None,
    secret_keys: Iterable[str] = (),
    stack_keys: Iterable[str] = (),
) -> StackConfig:
    """Validate decoded `rft-env:*` config (keys without the namespace) into a StackConfig.
    `secret_keys` are the top-level keys the stack set as secrets; `stack_keys` every key
    the stack sets, namespace included (`aws:region`), for the keys rft-env would ignore.
    The program and the offline tools both validate here."""
    secret_keys = frozenset(secret_keys)
    problems: list[ConfigProblem] = []
    config: StackConfig | None = None
    try:
        config = StackConfig.model_validate(dict(raw), by_alias=True)
    except ValidationError as error:
        problems += problems_from_validation_error(error, StackConfig, CONFIG_NAMESPACE + ":")
    datasets, semantic = _semantic_problems(raw, project_dir)
    problems = _hide_secrets(problems + semantic, secret_keys)
    problems += secret_key_problems(secret_keys) + ignored_key_problems(stack_keys)
    if problems:
        raise ConfigError(problems, source)
    assert config is not None
    config._datasets = datasets
    config._secret_keys = secret_keys
    return config


def load_from_pulumi(project_dir: Path) -> StackConfig:
    """Read this stack's `rft-env:*` config from the running Pulumi program and validate it."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

    values = {**get_config_env(), **CONFIG.get()}
    source = f"stack {pulumi.get_stack()}"
    prefix = f"{CONFIG_NAMESPACE}:"
    secret_keys = [
        key[len(prefix) :] for key in values if key.startswith(prefix) and is_config_secret(key)
    ]
    return load_stack_config(
        decode_config_values(values), project_dir, source, secret_keys, stack_keys=values.keys()
    )


# --------------------------------------------------------------------------------------
# Turning pydantic errors into problems that name the key and say what is allowed
# --------------------------------------------------------------------------------------
def _key_path(loc: tuple[Any, ...]) -> str:
    """`rft-env:job.hyperparameters.epochCount`: a config key's full path."""
    return key_path(loc, CONFIG_NAMESPACE + ":")


# --------------------------------------------------------------------------------------
# Semantic checks: run on the raw input, so they report even when other keys are invalid
# --------------------------------------------------------------------------------------
def _section(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def _check_region(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    region = raw.get("region")
    if isinstance(region, str) and is_region(region) and region not in RFT_REGIONS:
        offered = ", ".join(RFT_REGIONS)
        return [
            ConfigProblem(
                _key_path(("region",)),
                region,
                f"allowed: a region where Bedrock RFT for Nova is offered: {offered}",
            )
        ]
    return []


def _check_graders(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    graders, job = _section(raw, "graders"), _section(raw, "job")
    grader_ref = job.get("grader")
    if isinstance(grader_ref, str) and grader_ref not in graders:
        defined = ", ".join(sorted(map(str, graders))) or "none are defined"
        problems.append(
            ConfigProblem(
                _key_path(("job", "grader")),
                grader_ref,
                f"allowed: the name of a grader under {CONFIG_NAMESPACE}:graders ({defined})",
            )
        )
    # Each spec is checked by the graders package itself: one source of truth for what the
    # Lambda accepts at run time.
    for name, entry in graders.items():
        if not isinstance(entry, dict) or "type" not in entry:
            continue  # the structural pass reports it
        spec = {k: v for k, v in entry.items() if k not in GRADER_LAMBDA_KEYS}
        for path, message in spec_problems(spec):
            problems.append(
                ConfigProblem(_key_path(("graders", name, *path.split("."))), MISSING, message)
            )
    return problems


def _local_data_files(raw: Mapping[str, Any], project_dir: Path) -> list[Path]:
    """The data files the stack uploads, resolved (those that resolve inside the project)."""
    files = []
    for source in _section(raw, "data").values():
        value = source.get("file") if isinstance(source, dict) else None
        try:
            if isinstance(value, str):
                files.append(resolve_in_project(project_dir, value))
        except (OSError, ValueError):
            continue  # not a usable path: _check_datasets reports it
    return files


def _check_custom_code(raw: Mapping[str, Any], project_dir: Path) -> list[ConfigProblem]:
    """A custom grader's directory must be inside the project, hold only code
    (`components.packaging.grader_directory_problems`), and have the spec's entry module."""
    problems: list[ConfigProblem] = []
    for name, entry in _section(raw, "graders").items():
        customs = nested_specs(entry, of_type="custom", path=("graders", name))
        for path, _ in customs[1:]:
            # The Lambda ships one user directory, as one `custom_grader` package.
            problems.append(
                ConfigProblem(
                    _key_path(path),
                    "custom",
                    f"allowed: one custom grader per grader Lambda ({_key_path(customs[0][0])} "
                    "is one); give the other its own entry under rft-env:graders",
                )
            )
        for path, spec in customs:
            directory, entry_point = spec.get("path"), spec.get("entry", "grader:grade")
            if not isinstance(directory, str) or not isinstance(entry_point, str):
                continue  # the spec check reports the types
            key = _key_path((*path, "path"))
            try:
                resolved = resolve_in_project(project_dir, directory)
                exists = resolved.is_dir()
            except (OSError, ValueError) as error:  # outside the project, NUL bytes, ...
                problems.append(ConfigProblem(key, directory, str(error)))
                continue
            if not exists:
                problems.append(ConfigProblem(key, directory, f"no such directory: {resolved}"))
                continue
            # What ships to Lambda: code only (components.packaging decides).
            problems += [
                ConfigProblem(key, directory, problem)
                for problem in grader_directory_problems(
                    resolved, project_dir, _local_data_files(raw, project_dir)
                )
            ]
            module = entry_point.partition(":")[0].replace(".", "/")
            if not (resolved / f"{module}.py").is_file() and not (resolved / module).is_dir():
                problems.append(
                    ConfigProblem(
                        _key_path((*path, "entry")),
                        entry_point,
                        f"no module {module}.py in {resolved}",
                    )
                )
    return problems


def _arn_field(arn: object, index: int) -> str | None:
    if isinstance(arn, str) and arn.count(":") >= 5:
        return arn.split(":")[index]
    return None


def _check_accounts_and_keys(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """ARNs must point into the stack's own account and region; production keys last."""
    problems: list[ConfigProblem] = []
    account, kms = _section(raw, "account"), _section(raw, "kms")
    account_id, region = account.get("id"), raw.get("region")
    # An invalid id or region has its own problem; comparing ARNs with it (and quoting it
    # in their messages) would only add noise.
    account_id = account_id if is_account_id(account_id) else None
    region = region if isinstance(region, str) and is_region(region) else None
    role = account.get("deploymentRoleArn")
    if isinstance(account_id, str) and _arn_field(role, 4) not in (None, account_id):
        problems.append(
            ConfigProblem(
                _key_path(("account", "deploymentRoleArn")),
                role,
                f"allowed: a role in the target account {account_id} (the provider assumes "
                "it, then refuses any other account)",
            )
        )
    key_arn = kms.get("existingKeyArn")
    if isinstance(region, str) and _arn_field(key_arn, 3) not in (None, region):
        problems.append(
            ConfigProblem(
                _key_path(("kms", "existingKeyArn")),
                key_arn,
                f"allowed: a key in the stack's region {region} (Bedrock, S3 and CloudWatch "
                "Logs need the key in the region they run in)",
            )
        )
    if key_arn is not None and "deletionWindowDays" in kms:
        problems.append(
            ConfigProblem(
                _key_path(("kms", "deletionWindowDays")),
                kms["deletionWindowDays"],
                "allowed: only when rft-env creates the key (kms.existingKeyArn is set)",
            )
        )
    window = kms.get("deletionWindowDays", 30)
    if raw.get("production") is True and key_arn is None and window != 30:
        problems.append(
            ConfigProblem(
                _key_path(("kms", "deletionWindowDays")),
                window,
                "allowed: 30 for a production stack (a deleted key cannot be recovered)",
            )
        )
    return problems


def existing_key_problems(config: StackConfig, key_arn: str) -> list[str]:
    """What the config's own checks say of `key_arn` as the stack's existing key (its
    region, its account against the stack's crossAccount allow-list), for a key that
    reaches the component as an argument rather than as rft-env:kms.existingKeyArn."""
    raw = {
        "region": config.region,
        "account": {"id": config.account.id},
        "kms": {"existingKeyArn": key_arn},
        CROSS_ACCOUNT_KEY: [entry.model_dump(by_alias=True) for entry in config.cross_account],
    }
    found = _check_accounts_and_keys(raw) + _check_cross_account(raw)
    return [problem.message for problem in found if problem.key.endswith(".existingKeyArn")]


def _check_cross_account(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """Key users and an existing key of another account need an allow-list entry with a
    reason; entries name other accounts only, each once."""
    account_id = _section(raw, "account").get("id")
    if not is_account_id(account_id):
        return []  # the structural pass reports it
    problems: list[ConfigProblem] = []
    entries = raw.get(CROSS_ACCOUNT_KEY)
    seen: set[str] = set()
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        arn = entry.get("arn") if isinstance(entry, dict) else None
        if not isinstance(arn, str):
            continue
        key = _key_path((CROSS_ACCOUNT_KEY, index, "arn"))
        if arn in seen:
            problems.append(ConfigProblem(key, arn, "listed twice; allowed: each ARN once"))
        seen.add(arn)
        if account_of(arn) == account_id:
            problems.append(
                ConfigProblem(
                    key,
                    arn,
                    f"allowed: a principal or key of another account (this one is in the "
                    f"stack's account {account_id}, which needs no entry)",
                )
            )
    listed = allow_list_from_raw(entries)
    kms = _section(raw, "kms")
    users = kms.get("keyUserArns")
    named: list[tuple[tuple[Any, ...], Any]] = [
        (("kms", "keyUserArns", index), user)
        for index, user in enumerate(users if isinstance(users, list) else [])
    ]
    named.append((("kms", "existingKeyArn"), kms.get("existingKeyArn")))
    # A judge's inference-profile ARN lands in its grader role's policy as a resource.
    for name, grader in _section(raw, "graders").items():
        for path, spec in nested_specs(grader, of_type="llm_judge", path=("graders", name)):
            named.append(((*path, "modelId"), spec.get("modelId")))
    # So does the promotion gate's base model (the deployment role's policy).
    promotion = _section(_section(raw, "inference"), "promotion")
    named.append((("inference", "promotion", "baseModelId"), promotion.get("baseModelId")))
    for path, value in named:
        if not isinstance(value, str):
            continue
        other = foreign_account(value, [account_id])
        if other is not None and listed.reason_for(value) is None:
            problems.append(
                ConfigProblem(
                    _key_path(path),
                    value,
                    f"in account {other}, not the stack's account {account_id}; allowed: the "
                    f"stack's account, or another account listed with a reason under "
                    f"{CONFIG_NAMESPACE}:{CROSS_ACCOUNT_KEY} (this ARN, or its account's root)",
                )
            )
    return problems


def _check_inference(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    inference = _section(raw, "inference")
    if inference.get("mode", "none") not in ("none", "on_demand"):
        return []
    problems = [
        ConfigProblem(
            _key_path(("inference", field)),
            inference[field],
            "allowed: only with inference.mode 'provisioned'",
        )
        for field in ("modelUnits", "commitment")
        if field in inference and not (field == "commitment" and inference[field] == "none")
    ]
    if inference.get("promotion") is not None:
        problems.append(
            ConfigProblem(
                _key_path(("inference", "promotion")),
                MISSING,
                "allowed: only with inference.mode 'provisioned' (it gates the throughput)",
            )
        )
    return problems


def _check_promotion(raw: Mapping[str, Any], project_dir: Path) -> list[ConfigProblem]:
    """The promotion gate's graders are defined and extra to the job's; its held-out prompts
    and the base model's Converse id are known."""
    promotion = _section(_section(raw, "inference"), "promotion")
    if not promotion:
        return []
    problems: list[ConfigProblem] = []
    graders, job = _section(raw, "graders"), _section(raw, "job")
    job_grader = job.get("grader")
    defined = ", ".join(sorted(map(str, graders))) or "none are defined"
    listed = promotion.get("graders")
    seen: set[str] = set()
    for index, name in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(name, str):
            continue  # the structural pass reports it
        key = _key_path(("inference", "promotion", "graders", index))
        if name not in graders:
            message = f"allowed: the name of a grader under {CONFIG_NAMESPACE}:graders ({defined})"
        elif name == job_grader:
            message = "is the job's grader, which the gate always uses; allowed: other graders"
        elif name in seen:
            message = "listed twice; allowed: each grader once"
        else:
            seen.add(name)
            continue
        problems.append(ConfigProblem(key, name, message))

    if promotion.get("baseModelId") is None:
        base_model = job.get("baseModel", DEFAULT_BASE_MODEL)
        if isinstance(base_model, str) and base_model_inference_id(base_model) is None:
            problems.append(
                ConfigProblem(
                    _key_path(("inference", "promotion", "baseModelId")),
                    MISSING,
                    f"required for base model {base_model} (rft-env knows no Converse id for "
                    "it): the inference profile or model id to evaluate the base model with, "
                    "e.g. us.amazon.nova-2-lite-v1:0",
                )
            )

    samples_file = promotion.get("samplesFile")
    if samples_file is None:
        validation = _section(_section(raw, "data"), "validation")
        # A local validation file is the default; the dataset checks validate it.
        if validation.get("file") is None:
            problems.append(
                ConfigProblem(
                    _key_path(("inference", "promotion", "samplesFile")),
                    MISSING,
                    "required when data.validation is not a local file: a JSONL or JSON file "
                    "of held-out prompts in the project",
                )
            )
    elif isinstance(samples_file, str) and samples_file:
        problems += _samples_file_problems(samples_file, promotion.get("samples"), project_dir)
    return problems


def _samples_file_problems(value: str, samples: object, project_dir: Path) -> list[ConfigProblem]:
    key = _key_path(("inference", "promotion", "samplesFile"))
    try:
        path = resolve_in_project(project_dir, value)
        exists = path.is_file()
    except ProjectPathError as error:  # absolute, or outside the project
        return [ConfigProblem(key, value, str(error))]
    except (OSError, ValueError) as error:  # NUL bytes, names too long, ...
        return [ConfigProblem(key, value, f"not a usable path: {error}")]
    if not exists:
        return [ConfigProblem(key, value, f"no such file: {path}")]
    # Checked as the gate reads it: its first `samples` distinct prompts (an invalid
    # `samples` is reported apart).
    valid = isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1
    limit = samples if valid else PromotionConfig.model_fields["samples"].default
    try:
        load_prompts(path, limit=limit)
    except (PromptsError, OSError) as error:
        return [ConfigProblem(key, value, f"invalid held-out prompts: {error}")]
    return []


def _check_tags(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    tags = _section(raw, "tags")
    reserved = ", ".join(RESERVED_TAG_KEYS)
    problems = [
        ConfigProblem(
            _key_path(("tags", tag)),
            MISSING,
            f"this tag key is set by rft-env or reserved by AWS (reserved: {reserved}, aws:*)",
        )
        for tag in tags
        if isinstance(tag, str) and (tag in RESERVED_TAG_KEYS or tag.startswith("aws:"))
    ]
    room = MAX_S3_OBJECT_TAGS - len(RESERVED_TAG_KEYS)
    if len(tags) > room:
        problems.append(
            ConfigProblem(
                _key_path(("tags",)),
                MISSING,
                f"{len(tags)} tags given; allowed: at most {room} tags (the provider's "
                "default tags reach the uploaded dataset objects, and an S3 object carries "
                f"at most {MAX_S3_OBJECT_TAGS} tags, {len(RESERVED_TAG_KEYS)} of them rft-env's)",
            )
        )
    return problems


def _check_datasets(
    raw: Mapping[str, Any], project_dir: Path
) -> tuple[dict[str, DatasetReport], list[ConfigProblem]]:
    """Local dataset files must exist and be valid RFT data; each is read exactly once."""
    problems: list[ConfigProblem] = []
    datasets: dict[str, DatasetReport] = {}
    data = _section(raw, "data")
    for purpose in ("training", "validation"):
        source = data.get(purpose)
        if not isinstance(source, dict):
            continue
        # A key left empty in YAML (`file:`) is null: it does not count as set.
        if (source.get("file") is not None) == (source.get("s3Uri") is not None):
            problems.append(
                ConfigProblem(
                    _key_path(("data", purpose)),
                    MISSING,
                    "set exactly one of 'file' (a local JSONL file to upload) or 's3Uri'",
                )
            )
            continue
        path_value = source.get("file")
        if not isinstance(path_value, str) or not path_value:
            continue
        file_key = _key_path(("data", purpose, "file"))
        try:
            path = resolve_in_project(project_dir, path_value)
            exists = path.is_file()
        except ProjectPathError as error:  # absolute, or outside the project
            problems.append(ConfigProblem(file_key, path_value, str(error)))
            continue
        except (OSError, ValueError) as error:  # NUL bytes, names too long, ...
            problems.append(ConfigProblem(file_key, path_value, f"not a usable path: {error}"))
            continue
        if not exists:
            problems.append(ConfigProblem(file_key, path_value, f"no such file: {path}"))
            continue
        report = validate_dataset(path)
        if report.ok:
            datasets[purpose] = report
        problems += [
            ConfigProblem(file_key, path_value, f"invalid dataset: {issue}")
            for issue in report.problems
        ]
    return datasets, problems


def _check_uploader_can_encrypt(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """Uploading a dataset encrypts it with the stack's key, so the key policy must name
    the principal that runs `pulumi up`."""
    data, kms, account = _section(raw, "data"), _section(raw, "kms"), _section(raw, "account")
    uploads = any(isinstance(s, dict) and s.get("file") is not None for s in data.values())
    creates_key = "existingKeyArn" not in kms
    named = account.get("deploymentRoleArn") or kms.get("keyUserArns")
    if uploads and creates_key and not named:
        return [
            ConfigProblem(
                _key_path(("kms", "keyUserArns")),
                MISSING,
                "required when data files are uploaded without account.deploymentRoleArn: "
                "the principal that runs `pulumi up` must be allowed to encrypt with the "
                "stack's key (list its role ARN here)",
            )
        ]
    return []


def _semantic_problems(
    raw: Mapping[str, Any], project_dir: Path
) -> tuple[dict[str, DatasetReport], list[ConfigProblem]]:
    datasets, problems = _check_datasets(raw, project_dir)
    problems += _check_custom_code(raw, project_dir)
    problems += _check_promotion(raw, project_dir)
    for check in (
        _check_region,
        _check_graders,
        _check_accounts_and_keys,
        _check_inference,
        _check_tags,
        _check_uploader_can_encrypt,
        _check_cross_account,
    ):
        problems += check(raw)
    return datasets, problems
