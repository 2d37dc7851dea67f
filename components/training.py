"""RftTraining: the RFT customization job and, once it has a model, inference for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from rft_env.components.bedrock.inference import (
    PENDING,
    CustomModelDeployment,
    InferenceArgs,
    ProvisionedThroughput,
)
from rft_env.components.bedrock.job import RftCustomizationJob, RftCustomizationJobArgs
from rft_env.components.config import StackConfig
from rft_env.components.naming import (
    Names,
    provider_identity,
    stack_connection,
    stack_inference_name,
)


@dataclass(frozen=True)
class RftTrainingArgs:
    config: StackConfig
    stack: str
    names: Names
    service_role_arn: pulumi.Input[str]
    grader_arn: pulumi.Input[str]
    training_data_uri: pulumi.Input[str]
    output_data_uri: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    tags: dict[str, str]
    validation_data_uri: pulumi.Input[str] | None = None
    # The VPC the job runs in (empty: none), from the config or another stack's outputs.
    subnet_ids: pulumi.Input[Sequence[str]] = ()
    security_group_ids: pulumi.Input[Sequence[str]] = ()
    # Must exist before the job starts (the service role's permissions).
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def models_retained(config: StackConfig) -> bool:
    """Whether the stack keeps every model its jobs produce. Production does: its job is
    `retain_on_delete`, so neither a retrain (which replaces the job) nor a destroy deletes
    a model, whatever the config change; and its key is kept with them (environment.py),
    since a model whose key is deleted can no longer be used."""
    return config.production


def inference_status(
    mode: str,
    job_arn: str,
    job_status: str,
    status: str | None,
    arn: str | None,
    served: str | None = None,
    awaiting: bool | None = False,
) -> str:
    """The `inferenceStatus` stack output, in words. `served` is the model the inference
    serves; `awaiting`, that it keeps serving it because the job has no model yet."""
    if mode == "none":
        return "none: rft-env:inference.mode is none"
    if awaiting and job_status in ("Failed", "Stopped"):
        return (
            f"blocked: {arn} keeps serving {served}, but the new RFT job {job_arn} ended "
            f"{job_status} without a model; see jobFailureMessage, then bump "
            "rft-env:job.revision to train again"
        )
    if awaiting:
        return (
            f"swap-pending: {arn} keeps serving {served} until RFT job {job_arn} (status "
            f"{job_status}) has a model; once the job has Completed, run `pulumi up --refresh` "
            "to swap the new model in place"
        )
    if status == PENDING and job_status in ("Failed", "Stopped"):
        return (
            f"blocked: RFT job {job_arn} ended {job_status}, so there is no model to serve; "
            "see jobFailureMessage, then bump rft-env:job.revision to train again"
        )
    if status == PENDING:
        return (
            f"pending: {mode} inference waits for RFT job {job_arn} (status {job_status}); "
            "once the job has Completed, run `pulumi up --refresh` to create it"
        )
    return f"{status}: {arn}"


class RftTraining(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: RftTrainingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rftenv:bedrock:RftTraining", name, None, opts)
        config, names = args.config, args.names
        # The same connection `rftenv status` and `metrics` use (naming.stack_connection).
        connection = stack_connection(config)
        job = config.job
        self.job = RftCustomizationJob(
            f"{name}-job",
            RftCustomizationJobArgs(
                connection=connection,
                identity=provider_identity(args.stack, f"{name}-job"),
                name_prefix=names.prefix,
                base_model=job.base_model,
                service_role_arn=args.service_role_arn,
                training_data_uri=args.training_data_uri,
                validation_data_uri=args.validation_data_uri,
                output_data_uri=args.output_data_uri,
                grader_arn=args.grader_arn,
                hyper_parameters=job.hyperparameters.api_shape(),
                kms_key_id=args.key_arn,
                subnet_ids=args.subnet_ids,
                security_group_ids=args.security_group_ids,
                job_tags=args.tags,
                model_tags=args.tags,
                revision=job.revision,
                wait=job.wait,
                wait_timeout_seconds=job.wait_timeout_minutes * 60,
                max_poll_seconds=job.max_poll_seconds,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=args.depends_on,
                retain_on_delete=models_retained(config),
            ),
        )

        inference = config.inference
        self.inference: ProvisionedThroughput | CustomModelDeployment | None = None
        inference_args = InferenceArgs(
            connection=connection,
            identity=provider_identity(args.stack, f"{name}-inference"),
            # The name `rftenv status` looks the inference up by (naming.stack_inference_name).
            name=stack_inference_name(config) or "",
            model_arn=self.job.customModelArn,
            tags=args.tags,
            retain_models=models_retained(config),
            wait_timeout_seconds=inference.wait_timeout_minutes * 60,
            model_units=inference.provisioned_model_units,
            commitment=inference.commitment,
            description=f"rft-env {config.environment}: the RFT job's custom model",
        )
        if inference.mode == "provisioned":
            self.inference = ProvisionedThroughput(
                f"{name}-throughput",
                inference_args,
                # A committed throughput cannot be deleted before its term: protect it.
                opts=pulumi.ResourceOptions(parent=self, protect=inference.commitment != "none"),
            )
            arn = self.inference.provisionedModelArn
            served = self.inference.modelArn
        elif inference.mode == "on_demand":
            self.inference = CustomModelDeployment(
                f"{name}-deployment", inference_args, opts=pulumi.ResourceOptions(parent=self)
            )
            arn = self.inference.deploymentArn
            served = self.inference.deployedModelArn
        else:
            arn = pulumi.Output.from_input("")
            served = pulumi.Output.from_input("")

        none = pulumi.Output.from_input(None)
        status = self.inference.status if self.inference else none
        awaiting = self.inference.awaitingModel if self.inference else none
        self.inference_arn = arn
        self.inference_status = pulumi.Output.all(
            self.job.jobArn, self.job.status, status, arn, served, awaiting
        ).apply(lambda v: inference_status(inference.mode, *v))
        self.register_outputs(
            {
                "jobArn": self.job.jobArn,
                "jobStatus": self.job.status,
                "customModelArn": self.job.customModelArn,
                "inferenceArn": self.inference_arn,
                "inferenceStatus": self.inference_status,
            }
        )
