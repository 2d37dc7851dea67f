"""RftTraining: the RFT customization job and, once it has a model, inference for it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from rft_env.components.bedrock.evaluation import (
    NOT_PROMOTED,
    PROMOTED,
    RftEvaluation,
    RftEvaluationArgs,
)
from rft_env.components.bedrock.inference import (
    PENDING,
    CustomModelDeployment,
    InferenceArgs,
    ProvisionedThroughput,
)
from rft_env.components.bedrock.job import RftCustomizationJob, RftCustomizationJobArgs
from rft_env.components.bedrock.session import Connection
from rft_env.components.config import StackConfig
from rft_env.components.files import file_sha256
from rft_env.components.naming import (
    Names,
    base_inference_id,
    provider_identity,
    stack_connection,
    stack_inference_name,
)
from rft_env.components.packaging import code_digest, custom_grader_files
from rft_env.components.project_paths import resolve_in_project
from rft_env.graders.composite import nested_specs


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
    # The promotion gate (`inference.promotion`) reads its held-out prompts and custom
    # graders' code here, and notifies this topic of each evaluation.
    project_dir: Path | None = None
    topic_arn: pulumi.Input[str] | None = None


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
    gate: tuple[str | None, str | None] | None = None,
) -> str:
    """The `inferenceStatus` stack output, in words. `served` is the model the inference
    serves; `awaiting`, that it keeps serving it because the job has no model yet; `gate`,
    the promotion gate's (status, reason) when there is one."""
    gate_status, reason = gate or (None, None)
    if gate_status == NOT_PROMOTED:
        # The throughput's model input is "" as while the job has no model: say why.
        if status == PENDING or not arn:
            return f"not promoted: {reason}; no provisioned throughput was created"
        return f"not promoted: {reason}; {arn} keeps serving {served}"
    if gate_status not in (None, PROMOTED, PENDING) and status == PENDING:
        # The job has a model the gate has not decided on (offline, `rftenv synth`).
        return f"pending: provisioned inference waits for the promotion gate: {reason}"
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


def evaluation_output(
    summary: dict[str, Any] | None,
    status: str | None,
    promoted: bool | None,
    reason: str | None,
    notification: str | None,
) -> dict[str, Any]:
    """The `evaluation` stack output: the summary, with the decision and its reason."""
    return {
        **(summary or {}),
        "status": status,
        "promoted": bool(promoted),
        "reason": reason,
        "notification": notification,
    }


def samples_sha256(project_dir: Path, samples_file: str) -> str:
    """sha256 of the held-out prompts' bytes: the evaluation runs again when they change."""
    return file_sha256(resolve_in_project(project_dir, samples_file))


def grader_code_digests(project_dir: Path, specs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """sha256 of each custom grader's code (a spec or a composite's part): new code scores
    differently, with the same spec. Built-in graders' code is the library's own."""
    digests = {}
    for name, spec in specs.items():
        customs = nested_specs(spec, of_type="custom")
        if customs:
            files: dict[str, Path] = {}
            for index, (_, custom) in enumerate(customs):
                directory = (project_dir / custom["path"]).resolve()
                files |= {f"{index}/{k}": v for k, v in custom_grader_files(directory).items()}
            digests[name] = code_digest(files)
    return digests


def evaluation_args(
    args: RftTrainingArgs, resource: str, connection: Connection, model_arn: pulumi.Input[str]
) -> RftEvaluationArgs:
    """The promotion gate's inputs, from the stack config (`inference.promotion`)."""
    config = args.config
    promotion = config.inference.promotion
    samples_file = config.promotion_samples_file
    base_model_id = base_inference_id(config)
    if promotion is None or samples_file is None or base_model_id is None:
        # Config validation requires all three with promotion.
        raise ValueError("inference.promotion needs samples and a base model Converse id")
    if args.project_dir is None:
        raise ValueError("RftTrainingArgs.project_dir is required with inference.promotion")
    primary = config.job.grader
    specs = {name: config.graders[name].spec for name in (primary, *promotion.graders)}
    return RftEvaluationArgs(
        connection=connection,
        identity=provider_identity(args.stack, resource),
        model_arn=model_arn,
        deployment_name=args.names.evaluation_deployment,
        base_model_id=base_model_id,
        samples_file=samples_file,
        project_dir=args.project_dir,
        dataset_sha256=samples_sha256(args.project_dir, samples_file),
        graders=specs,
        primary_grader=primary,
        min_reward_gain=promotion.min_reward_gain,
        guard_graders=list(promotion.graders),
        grader_code_digests=grader_code_digests(args.project_dir, specs),
        samples=promotion.samples,
        keep_deployment=promotion.keep_deployment,
        concurrency=promotion.concurrency,
        requests_per_second=promotion.requests_per_second,
        max_tokens=promotion.max_tokens,
        max_failure_share=promotion.max_failure_share,
        topic_arn=args.topic_arn,
        environment=config.environment,
        tags=args.tags,
        wait_timeout_seconds=config.inference.wait_timeout_minutes * 60,
    )


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
        self.evaluation: RftEvaluation | None = None
        if inference.mode == "provisioned" and inference.promotion is not None:
            # The gate sits between the job and the throughput: the throughput's model is
            # the one the gate promoted ("" otherwise, which leaves it a placeholder or
            # serving the model promoted before).
            self.evaluation = RftEvaluation(
                f"{name}-evaluation",
                evaluation_args(args, f"{name}-evaluation", connection, self.job.customModelArn),
                opts=pulumi.ResourceOptions(parent=self),
            )
            inference_args = dataclasses.replace(
                inference_args, model_arn=self.evaluation.promotedModelArn
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
        gate_status = self.evaluation.status if self.evaluation else none
        gate_reason = self.evaluation.reason if self.evaluation else none
        self.inference_status = pulumi.Output.all(
            self.job.jobArn,
            self.job.status,
            status,
            arn,
            served,
            awaiting,
            gate_status,
            gate_reason,
        ).apply(lambda v: inference_status(inference.mode, *v[:6], gate=(v[6], v[7])))
        # The `evaluation` stack output: the gate's summary and decision (None without one).
        self.evaluation_summary: pulumi.Output[Any] | None = (
            pulumi.Output.all(
                self.evaluation.summary,
                self.evaluation.status,
                self.evaluation.promoted,
                self.evaluation.reason,
                self.evaluation.notification,
            ).apply(lambda v: evaluation_output(*v))
            if self.evaluation
            else None
        )
        self.register_outputs(
            {
                "jobArn": self.job.jobArn,
                "jobStatus": self.job.status,
                "customModelArn": self.job.customModelArn,
                "inferenceArn": self.inference_arn,
                "inferenceStatus": self.inference_status,
                "evaluation": self.evaluation_summary,
            }
        )
