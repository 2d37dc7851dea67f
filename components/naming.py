"""Physical names, ARNs and connections, derived from the stack's identity.

Everything here is a pure function of (project, environment, account, region), or of the
stack's config, so policy documents can name resources before they exist (a KMS key policy
that must list roles created later, for instance) and the audit renders the same names a
real deployment uses. It is the one source of every name: the program's components and
`rftenv status`/`metrics` (rftenv.jobs) both call it, and
tests/rftenv/test_names_agree.py checks that they agree for every stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rft_env.components.bedrock.session import Connection

if TYPE_CHECKING:
    # Type only: config imports this module (PROJECT, is_region).
    from rft_env.components.config import StackConfig

PROJECT = "rft-env"  # also the distribution's name on PyPI
# rft-env's config keys keep this namespace whatever the project is called.
CONFIG_NAMESPACE = PROJECT


def installed_version() -> str:
    """The installed rft-env's version: pyproject.toml's `version`, the one place it is
    written. `rftenv --version` and the component provider report it; the policy pack's
    PulumiPolicy.yaml must repeat it (Pulumi reads a pack's version only from there), and
    tests/test_project.py checks that it does."""
    from importlib.metadata import version

    return version(PROJECT)


# The stack output recording whether a deployment was made as production: the rollout gate
# reads it from the deployed state, so leaving production is seen as a change of its own.
PRODUCTION_OUTPUT = "production"

_REGION_RE = re.compile(r"^(?P<geo>[a-z]{2})(?P<kind>-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")


def partition_for(region: str) -> str:
    """The ARN partition a region belongs to (aws, aws-us-gov, aws-cn, aws-iso...)."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def is_region(value: str) -> bool:
    return bool(_REGION_RE.match(value))


# --- RFT job and model names ----------------------------------------------------------------
# A job name is `<name prefix>--rft-<suffix>`, e.g. `rft-env-dev--rft-0123456789ab`. The
# EventBridge rule and `rftenv status` select a stack's jobs by what precedes the suffix, so
# that must start no other stack's job names. Name prefixes (`rft-env-<environment>`) contain
# no '--' and do not end with '-' (config.EnvironmentName), so a job name's first '--' is
# where its prefix ends. (With `-rft-`, `rft-env-dev-rft-` also started the jobs of
# environment `dev-rft`: `rft-env-dev-rft-rft-...`.) CreateModelCustomizationJob's jobName
# pattern, `[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*` (max 63), allows '--'.
JOB_NAME_SEPARATOR = "--rft-"
# The suffix is this many leading hex digits of the job's client token (bedrock.job).
JOB_SUFFIX_LENGTH = 12


def job_name_prefix(name_prefix: str) -> str:
    """What every RFT job name under `name_prefix` starts with, and no other stack's does."""
    if not name_prefix or "--" in name_prefix or name_prefix.endswith("-"):
        # Either would let one stack's job-name prefix start another stack's job names.
        raise ValueError(f"name prefix {name_prefix!r} must not contain '--' or end with '-'")
    return f"{name_prefix}{JOB_NAME_SEPARATOR}"


def job_suffix(client_token: str) -> str:
    """The part of the job and model names that identifies the training run."""
    return client_token[:JOB_SUFFIX_LENGTH]


def job_name(name_prefix: str, suffix: str) -> str:
    return f"{job_name_prefix(name_prefix)}{suffix}"


def job_name_pattern(name_prefix: str) -> re.Pattern[str]:
    """Exactly the job names `job_name` makes under `name_prefix` (use with fullmatch)."""
    return re.compile(rf"{re.escape(job_name_prefix(name_prefix))}[0-9a-f]{{{JOB_SUFFIX_LENGTH}}}")


def custom_model_name(name_prefix: str, suffix: str) -> str:
    """The model the job creates. customModelName (`([0-9a-zA-Z][_-]?){1,63}`) allows no
    '--', so this keeps a single '-': models are only ever looked up by exact name or ARN,
    never by prefix, and an exact name with a fixed-length suffix is unambiguous."""
    return f"{name_prefix}-model-{suffix}"


# --- Inference names --------------------------------------------------------------------------
# The provisioned throughput or on-demand deployment serving the job's model, by
# `inference.mode`. The job provider recognises the stack's own inference by these names
# (bedrock.job: a model its own inference still serves is handed over, not deleted).
INFERENCE_NAME_SUFFIXES = {"provisioned": "pt", "on_demand": "on-demand"}


def inference_name(name_prefix: str, mode: str) -> str:
    return f"{name_prefix}-{INFERENCE_NAME_SUFFIXES[mode]}"


def inference_names(name_prefix: str) -> frozenset[str]:
    """Every name the stack's inference can have, whatever its mode."""
    return frozenset(inference_name(name_prefix, mode) for mode in INFERENCE_NAME_SUFFIXES)


# The on-demand deployment the promotion gate makes to evaluate the trained model before
# the provisioned throughput exists (`inference.promotion`). Its own name, so that it is
# never taken for the stack's inference. CreateCustomModelDeployment's modelDeploymentName
# (`([0-9a-zA-Z][_-]?){1,63}`) allows no '--': name prefixes have none and do not end with
# '-' (config.EnvironmentName), and at most 24 + 11 characters fit 63.
EVALUATION_DEPLOYMENT_SUFFIX = "evaluation"


def evaluation_deployment_name(name_prefix: str) -> str:
    return f"{name_prefix}-{EVALUATION_DEPLOYMENT_SUFFIX}"


# The id Converse takes for a base model, by the id customization jobs take
# (`job.baseModel`). AWS, "Amazon Nova 2 user guide, Core inference"
# (nova2-userguide/core-inference), lists `us.amazon.nova-2-lite-v1:0` and
# `global.amazon.nova-2-lite-v1:0` as Nova 2 Lite's model ids for inference;
# `amazon.nova-2-lite-v1:0:256k` is the id customization jobs take. The `us.` geographic
# profile: RFT runs only in us-east-1, and it keeps requests in US regions (the safe
# choice). `inference.promotion.baseModelId` overrides it.
BASE_MODEL_INFERENCE_IDS: dict[str, str] = {
    "amazon.nova-2-lite-v1:0:256k": "us.amazon.nova-2-lite-v1:0",
}


def base_model_inference_id(base_model: str) -> str | None:
    """The Converse id of a job's base model (an id or a foundation-model ARN), or None
    when BASE_MODEL_INFERENCE_IDS does not know it."""
    return BASE_MODEL_INFERENCE_IDS.get(base_model.rpartition("foundation-model/")[2])


# Where in the output bucket the RFT job writes (its outputDataConfig), and so where the
# customization role may write and `rftenv metrics` reads.
OUTPUT_PREFIX = "rft-output/"


def provider_identity(stack: str, resource: str) -> str:
    """What a dynamic resource's client tokens derive from (bedrock.common.client_token), and
    so its job and model names: fixed per stack and logical resource name."""
    return f"{PROJECT}/{stack}/{resource}"


@dataclass(frozen=True)
class Names:
    """Names of everything one stack creates. One instance per stack."""

    environment: str
    account_id: str
    region: str
    project: str = PROJECT

    @property
    def partition(self) -> str:
        return partition_for(self.region)

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    # --- S3 -------------------------------------------------------------------------------
    def bucket(self, purpose: str) -> str:
        # Bucket names are global: account and region make them unique without random
        # suffixes, so rendered policies read like the deployed ones.
        return f"{self.prefix}-{purpose}-{self.account_id}-{self.region}"

    def bucket_arn(self, bucket: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}"

    # --- IAM ------------------------------------------------------------------------------
    @property
    def customization_role(self) -> str:
        return f"{self.prefix}-bedrock-customization"

    def grader_role(self, grader: str) -> str:
        return f"{self.prefix}-grader-{grader}"

    def role_arn(self, role_name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{role_name}"

    # --- Lambda and logs ------------------------------------------------------------------
    def grader_function(self, grader: str) -> str:
        return f"{self.prefix}-grader-{grader}"

    def function_arn(self, function_name: str) -> str:
        return (
            f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:function:{function_name}"
        )

    def log_group(self, function_name: str) -> str:
        return f"/aws/lambda/{function_name}"

    def log_group_arn(self, log_group: str) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account_id}:log-group:{log_group}"

    @property
    def grader_log_group_pattern(self) -> str:
        """ARN pattern matching every grader log group of this stack (for the key policy)."""
        return self.log_group_arn(self.log_group(f"{self.prefix}-grader-*"))

    # --- KMS ------------------------------------------------------------------------------
    @property
    def key_alias(self) -> str:
        return f"alias/{self.prefix}"

    # --- Bedrock --------------------------------------------------------------------------
    @property
    def customization_job_arn_pattern(self) -> str:
        return (
            f"arn:{self.partition}:bedrock:{self.region}:{self.account_id}"
            ":model-customization-job/*"
        )

    @property
    def job_name_prefix(self) -> str:
        """What every RFT job name of this stack starts with (see bedrock.job.job_identity)."""
        return job_name_prefix(self.prefix)

    @property
    def job_name_pattern(self) -> re.Pattern[str]:
        """Exactly this stack's RFT job names."""
        return job_name_pattern(self.prefix)

    def foundation_model_arn(self, model_id: str) -> str:
        return f"arn:{self.partition}:bedrock:{self.region}::foundation-model/{model_id}"

    @property
    def evaluation_deployment(self) -> str:
        """The promotion gate's on-demand deployment of the trained model."""
        return evaluation_deployment_name(self.prefix)

    # --- Observability --------------------------------------------------------------------
    @property
    def notification_topic(self) -> str:
        return f"{self.prefix}-notifications"

    def topic_arn(self, topic: str) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account_id}:{topic}"

    @property
    def notification_topic_arn(self) -> str:
        """Known before the topic exists, so the key policy (created first) can name it."""
        return self.topic_arn(self.notification_topic)

    @property
    def job_state_rule(self) -> str:
        return f"{self.prefix}-job-state"

    def event_rule_arn(self, rule: str) -> str:
        """The ARN of a rule on the default event bus."""
        return f"arn:{self.partition}:events:{self.region}:{self.account_id}:rule/{rule}"

    def grader_alarm(self, grader: str, metric: str) -> str:
        return f"{self.prefix}-grader-{grader}-{metric}"

    def alarm_arn(self, alarm: str) -> str:
        return f"arn:{self.partition}:cloudwatch:{self.region}:{self.account_id}:alarm:{alarm}"

    @property
    def dashboard(self) -> str:
        return self.prefix

    @property
    def account_root_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    def service_endpoint(self, service: str) -> str:
        """The `kms:ViaService` value for a regional service (e.g. s3.us-east-1.amazonaws.com)."""
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"{service}.{self.region}.{suffix}"


# --- From a stack's config --------------------------------------------------------------------
# What the program creates and what `rftenv status`/`metrics` look up on AWS both come from
# here, so the two cannot drift apart.
def stack_names(config: StackConfig) -> Names:
    return Names(config.environment, config.account.id, config.region)


def stack_inference_name(config: StackConfig) -> str | None:
    """The name of the stack's provisioned throughput or deployment; None without inference."""
    mode = config.inference.mode
    if mode == "none":
        return None
    return inference_name(stack_names(config).prefix, mode)


def stack_evaluation_deployment_name(config: StackConfig) -> str | None:
    """The name of the promotion gate's evaluation deployment; None without promotion."""
    if config.inference.promotion is None:
        return None
    return stack_names(config).evaluation_deployment


def base_inference_id(config: StackConfig) -> str | None:
    """The Converse id the base model is evaluated with: `inference.promotion.baseModelId`
    if set, else BASE_MODEL_INFERENCE_IDS' entry for `job.baseModel`, else None."""
    promotion = config.inference.promotion
    if promotion is not None and promotion.base_model_id is not None:
        return promotion.base_model_id
    return base_model_inference_id(config.job.base_model)


def stack_connection(config: StackConfig, endpoint_url: str | None = None) -> Connection:
    """How the stack reaches Bedrock: its region, through its deployment role (with the
    external id) when it has one, the role its aws provider assumes too. `endpoint_url` is
    for tests only (a loopback fake)."""
    account = config.account
    return Connection(
        region=config.region,
        role_arn=account.deployment_role_arn,
        external_id=account.external_id,
        endpoint_url=endpoint_url,
    )
