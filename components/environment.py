"""RftEnvironment: the top-level component that wires one stack's environment together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pydantic import BaseModel, TypeAdapter, ValidationError

from rft_env.components import documents
from rft_env.components.access import CustomizationRole, CustomizationRoleArgs
from rft_env.components.config import (
    KmsConfig,
    StackConfig,
    VpcConfig,
    existing_key_problems,
)
from rft_env.components.datasets import content_key
from rft_env.components.deployment_role import (
    DeploymentScope,
    deployment_role_policy,
    deployment_role_trust_policy,
    evaluation_scope,
)
from rft_env.components.documents import S3Location
from rft_env.components.encryption import EncryptionKey, EncryptionKeyArgs
from rft_env.components.graders import (
    GraderFunction,
    GraderFunctionArgs,
    grader_files,
    grader_role_statements,
)
from rft_env.components.naming import OUTPUT_PREFIX, PRODUCTION_OUTPUT, PROJECT, stack_names
from rft_env.components.observability import MonitoredGrader, Observability, ObservabilityArgs
from rft_env.components.packaging import code_digest, grader_archive, relative_path
from rft_env.components.storage import DataBuckets, DataBucketsArgs, DatasetUpload
from rft_env.components.tags import default_tags
from rft_env.components.training import RftTraining, RftTrainingArgs, models_retained

PURPOSES = ("training", "validation")


def key_policy_document(config: StackConfig) -> documents.Document:
    """The policy of the key rft-env creates for a stack (pure: the audit renders it too)."""
    names = stack_names(config)
    operators = list(config.kms.key_user_arns)
    if config.account.deployment_role_arn:
        operators.append(config.account.deployment_role_arn)
    return documents.key_policy(
        names,
        bedrock_role_arns=[names.role_arn(names.customization_role)],
        operator_arns=operators,
        logged_bucket_arns=[names.bucket_arn(names.bucket(p)) for p in ("data", "output")],
        # Every stack has the notification topic (components.observability).
        notification_topic_arn=names.notification_topic_arn,
        # The promotion gate publishes its verdict as whoever runs `pulumi up`.
        evaluation_publisher_arns=operators if config.inference.promotion else (),
    )


def deployment_role_documents(
    config: StackConfig, rollout_principals: list[str]
) -> tuple[documents.Document, documents.Document | None]:
    """The permission policy (and, with a deployment role and rollout principals, the
    trust policy) of the role that deploys this stack. You create that role in the target
    account before the first `pulumi up`; the audit renders both documents for it."""
    names = stack_names(config)
    base_model = config.job.base_model
    policy = deployment_role_policy(
        names,
        DeploymentScope(
            graders=list(config.graders),
            base_model_arn=base_model
            if base_model.startswith("arn:")
            else names.foundation_model_arn(base_model),
            existing_key_arn=config.kms.existing_key_arn,
            inference_mode=config.inference.mode,
            production=config.production,
            evaluation=evaluation_scope(config),
        ),
    )
    trust = None
    if config.account.deployment_role_arn and rollout_principals:
        trust = deployment_role_trust_policy(rollout_principals, config.account.external_id)
    return policy, trust


def dataset_locations(config: StackConfig) -> dict[str, S3Location]:
    """Where each dataset lives in S3: uploaded copies in the data bucket, or the given URI."""
    names = stack_names(config)
    locations: dict[str, S3Location] = {}
    for purpose in PURPOSES:
        report = config.dataset(purpose)
        source = getattr(config.data, purpose)
        if report is not None:
            locations[purpose] = S3Location(names.bucket("data"), content_key(report, purpose))
        elif source is not None and source.s3_uri:
            locations[purpose] = S3Location.from_uri(source.s3_uri)
    return locations


@dataclass(frozen=True)
class RftEnvironmentArgs:
    """What an environment is built from: the validated stack config, and optionally
    values another stack exports (a `pulumi.StackReference`'s outputs), which take the
    place of the config's `vpc` and `kms.existingKeyArn`:

    - `subnet_ids` and `security_group_ids` (together): the VPC the RFT job runs in;
    - `kms_key_arn`: an existing key for data, logs and models (no key is created).

    They are checked against the same patterns as the config once their values are known
    (at preview, for another stack's outputs)."""

    config: StackConfig
    stack: str
    project_dir: Path
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None
    kms_key_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class Network:
    """The VPC the RFT job runs in, if any, as Pulumi inputs."""

    subnet_ids: pulumi.Input[Sequence[str]]
    security_group_ids: pulumi.Input[Sequence[str]]


def _checked(argument: str, model: type[BaseModel], field: str, value: Any) -> Any:
    """`value` of RftEnvironmentArgs.`argument`, validated as the config's `model.field`
    (the same patterns and API bounds as the stack config); ValueError naming the argument
    and, for a list, the item."""
    try:
        TypeAdapter(model.model_fields[field].rebuild_annotation()).validate_python(value)
    except ValidationError as error:
        problems = "; ".join(
            f"RftEnvironmentArgs.{argument}"
            + "".join(f"[{part}]" for part in e["loc"] if isinstance(part, int))
            + f": got {e['input']!r}; {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise ValueError(problems) from None
    return value


def network(config: StackConfig, args: RftEnvironmentArgs) -> Network | None:
    """The job's VPC: from the args (another stack's outputs) or from `rft-env:vpc`."""
    given = {"subnet_ids": args.subnet_ids, "security_group_ids": args.security_group_ids}
    if all(value is None for value in given.values()):
        if config.vpc is None:
            return None
        return Network(list(config.vpc.subnet_ids), list(config.vpc.security_group_ids))
    missing = [f"RftEnvironmentArgs.{name}" for name, value in given.items() if value is None]
    if missing:
        raise ValueError(
            f"{missing[0]} is missing: a VPC needs both subnet_ids and security_group_ids"
        )
    if config.vpc is not None:
        raise ValueError(
            "RftEnvironmentArgs.subnet_ids: the stack config sets rft-env:vpc too; give the "
            "VPC in one place"
        )
    return Network(
        pulumi.Output.from_input(args.subnet_ids).apply(
            lambda ids: _checked("subnet_ids", VpcConfig, "subnet_ids", list(ids))
        ),
        pulumi.Output.from_input(args.security_group_ids).apply(
            lambda ids: _checked("security_group_ids", VpcConfig, "security_group_ids", list(ids))
        ),
    )


def existing_key_arn(config: StackConfig, args: RftEnvironmentArgs) -> pulumi.Input[str] | None:
    """The existing key the stack uses (None: the stack creates its own)."""
    if args.kms_key_arn is None:
        return config.kms.existing_key_arn
    if config.kms.existing_key_arn is not None:
        raise ValueError(
            "RftEnvironmentArgs.kms_key_arn: the stack config sets rft-env:kms.existingKeyArn "
            "too; give the key in one place"
        )

    def checked(arn: str) -> str:
        _checked("kms_key_arn", KmsConfig, "existing_key_arn", arn)
        problems = existing_key_problems(config, arn)
        if problems:
            raise ValueError(f"RftEnvironmentArgs.kms_key_arn: got {arn!r}; {problems[0]}")
        return arn

    return pulumi.Output.from_input(args.kms_key_arn).apply(checked)


class RftEnvironment(pulumi.ComponentResource):
    """KMS key, data buckets, grader Lambdas, the Bedrock customization role, the RFT job
    and its inference, and the notifications, alarms and dashboard of a stack."""

    def __init__(
        self, name: str, args: RftEnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rftenv:index:RftEnvironment", name, None, opts)
        config = args.config
        names = stack_names(config)
        child = pulumi.ResourceOptions(parent=self)
        # Checked first: a bad combination stops before anything is registered.
        given_key_arn = existing_key_arn(config, args)
        job_network = network(config, args)

        if given_key_arn is None:
            self.key: EncryptionKey | None = EncryptionKey(
                f"{name}-kms",
                EncryptionKeyArgs(
                    description=f"rft-env {config.environment}: data, logs and custom models",
                    alias=names.key_alias,
                    policy=documents.to_json(key_policy_document(config)),
                    deletion_window_days=config.kms.deletion_window_days,
                    protect=config.production,
                    # A retained model stays encrypted with this key: keep the key too.
                    retain_on_delete=models_retained(config),
                ),
                opts=child,
            )
            key_arn: pulumi.Output[str] = self.key.key_arn
        else:
            self.key = None
            key_arn = pulumi.Output.from_input(given_key_arn)

        locations = dataset_locations(config)
        uploads = [
            DatasetUpload(
                purpose, relative_path(report.path, args.project_dir), locations[purpose].prefix
            )
            for purpose in PURPOSES
            if (report := config.dataset(purpose)) is not None
        ]
        self.storage = DataBuckets(
            f"{name}-storage",
            DataBucketsArgs(
                names=names,
                key_arn=key_arn,
                datasets=uploads,
                log_retention_days=config.log_retention_days,
                protect=config.production,
                force_destroy=not config.production,
            ),
            opts=child,
        )

        self.graders = {}
        for grader, settings in config.graders.items():
            files = grader_files(args.project_dir, settings.spec)
            self.graders[grader] = GraderFunction(
                f"{name}-grader-{grader}",
                GraderFunctionArgs(
                    names=names,
                    grader=grader,
                    spec=settings.spec,
                    code=grader_archive(files, args.project_dir),
                    code_digest=code_digest(files),
                    key_arn=key_arn,
                    timeout_seconds=settings.timeout_seconds,
                    memory_mb=settings.memory_mb,
                    log_retention_days=config.log_retention_days,
                    extra_statements=grader_role_statements(names, settings.spec),
                ),
                opts=child,
            )

        # For every stack, e-mail or not: the topic can get other subscribers later.
        self.observability = Observability(
            f"{name}-observability",
            ObservabilityArgs(
                names=names,
                key_arn=key_arn,
                graders=[
                    MonitoredGrader(
                        grader, self.graders[grader].function_name, settings.timeout_seconds
                    )
                    for grader, settings in config.graders.items()
                ],
                notification_emails=list(config.notification_emails),
                notification_emails_secret=config.is_secret("notificationEmails"),
            ),
            opts=child,
        )

        self.customization = CustomizationRole(
            f"{name}-customization",
            CustomizationRoleArgs(
                names=names,
                data=list(locations.values()),
                output=S3Location(names.bucket("output"), OUTPUT_PREFIX),
                key_arn=key_arn,
                # Bedrock may invoke the job's grader and no other function.
                grader_arns=[self.graders[config.job.grader].function_arn],
                subnet_ids=job_network.subnet_ids if job_network else (),
                security_group_ids=job_network.security_group_ids if job_network else (),
            ),
            opts=child,
        )

        output_uri = pulumi.Output.concat("s3://", self.storage.output_bucket, "/", OUTPUT_PREFIX)
        data_uris = {
            purpose: self.storage.dataset_uris.get(purpose)
            or pulumi.Output.from_input(locations[purpose].uri)
            for purpose in locations
        }
        job_grader = self.graders[config.job.grader]
        self.training = RftTraining(
            f"{name}-training",
            RftTrainingArgs(
                config=config,
                stack=args.stack,
                names=names,
                service_role_arn=self.customization.role_arn,
                grader_arn=job_grader.function_arn,
                training_data_uri=data_uris["training"],
                validation_data_uri=data_uris.get("validation"),
                output_data_uri=output_uri,
                key_arn=key_arn,
                subnet_ids=job_network.subnet_ids if job_network else (),
                security_group_ids=job_network.security_group_ids if job_network else (),
                # Dynamic resources get no provider default tags: tag them the same way.
                tags=default_tags(
                    project=PROJECT,
                    environment=config.environment,
                    stack=args.stack,
                    extra=config.tags,
                ),
                # The job's first state change must find the rule and the topic policy.
                depends_on=[
                    self.customization.policy,
                    job_grader,
                    *self.observability.job_notifications,
                ],
                # The promotion gate's files, and the topic it reports each evaluation to.
                project_dir=args.project_dir,
                topic_arn=self.observability.topic_arn,
            ),
            opts=child,
        )
        self.outputs: dict[str, pulumi.Input[object]] = {
            "environment": config.environment,
            PRODUCTION_OUTPUT: config.production,
            "accountId": config.account.id,
            "region": config.region,
            "keyArn": key_arn,
            "keyAlias": self.key.alias_name if self.key else None,
            "dataBucket": self.storage.data_bucket,
            "outputBucket": self.storage.output_bucket,
            "logBucket": self.storage.log_bucket,
            "trainingDataUri": data_uris["training"],
            "validationDataUri": data_uris.get("validation"),
            "outputDataUri": output_uri,
            "customizationRoleArn": self.customization.role_arn,
            "graderFunctionArns": {g: f.function_arn for g, f in self.graders.items()},
            "graderRoleArns": {g: f.role_arn for g, f in self.graders.items()},
            "jobGraderArn": job_grader.function_arn,
            "baseModel": config.job.base_model,
            "jobArn": self.training.job.jobArn,
            "jobName": self.training.job.jobName,
            "jobStatus": self.training.job.status,
            "jobFailureMessage": self.training.job.failureMessage,
            "customModelArn": self.training.job.customModelArn,
            "inferenceArn": self.training.inference_arn,
            "inferenceStatus": self.training.inference_status,
            # The promotion gate's summary and decision; None (not exported) without one.
            "evaluation": self.training.evaluation_summary,
            "notificationTopicArn": self.observability.topic_arn,
            "dashboardName": self.observability.dashboard_name,
        }
        self.register_outputs(self.outputs)
