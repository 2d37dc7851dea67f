"""GraderFunction: one reward Lambda, its own execution role and its encrypted log group."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from rft_env.components import documents
from rft_env.components.naming import Names
from rft_env.components.packaging import (
    custom_grader_files,
    grader_code_files,
    merge_archive_files,
    requirements_file,
    vendor_requirements,
    vendored_files,
)
from rft_env.graders.composite import nested_specs

GRADER_HANDLER = "graders.handler.lambda_handler"
GRADER_RUNTIME = "python3.13"
GRADER_PYTHON_VERSION = "3.13"
GRADER_ARCHITECTURE = "arm64"


def grader_role_statements(names: Names, spec: dict[str, Any]) -> list[documents.Document]:
    """What a grader's role may do besides writing its logs: invoke its judge models (the
    llm_judge specs in its spec, composites' parts included)."""
    judges = [judge for _, judge in nested_specs(spec, of_type="llm_judge")]
    statements = []
    for index, judge in enumerate(judges):
        for statement in documents.judge_model_statements(
            names, judge["modelId"], judge.get("region")
        ):
            suffix = str(index) if len(judges) > 1 else ""
            statements.append({**statement, "Sid": statement["Sid"] + suffix})
    return statements


def graders_package(project_dir: Path) -> Path:
    """The graders package every grader Lambda ships: the project's own `graders/` (this
    repository, or a copy of it), else the installed rft-env's, for a project that only
    uses rft-env (a TypeScript, Go or YAML program through components/provider)."""
    own = project_dir / "graders"
    if (own / "handler.py").is_file():
        return own
    import rft_env.graders

    return Path(rft_env.graders.__file__).resolve().parent


def grader_files(project_dir: Path, spec: dict[str, Any]) -> dict[str, Path]:
    """The files of a grader's Lambda archive: the graders package and, for a custom
    grader (the spec itself or a composite's part: config allows one), the user's
    directory and its vendored requirements."""
    files = grader_code_files(graders_package(project_dir))
    customs = nested_specs(spec, of_type="custom")
    if not customs:
        return files
    directory = (project_dir / customs[0][1]["path"]).resolve()
    parts = [files, custom_grader_files(directory)]
    requirements = requirements_file(directory)
    if requirements is not None:
        vendored = vendor_requirements(
            requirements,
            project_dir / ".build" / "vendor",
            architecture=GRADER_ARCHITECTURE,
            python_version=GRADER_PYTHON_VERSION,
        )
        parts.append(vendored_files(vendored))
    return merge_archive_files(*parts)


@dataclass(frozen=True)
class GraderFunctionArgs:
    names: Names
    grader: str  # the grader's name in stack config
    spec: dict[str, Any]  # reaches the code as GRADER_SPEC
    code: pulumi.Archive
    code_digest: str
    key_arn: pulumi.Input[str]
    timeout_seconds: int
    memory_mb: int
    log_retention_days: int
    # Beyond writing its own logs (from grader_role_statements).
    extra_statements: list[documents.Document] = field(default_factory=list)


class GraderFunction(pulumi.ComponentResource):
    """A grader Lambda. No function URL and no resource-based policy: Bedrock invokes it
    through the customization role's identity policy."""

    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: GraderFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rftenv:graders:GraderFunction", name, None, opts)
        names = args.names
        function_name = names.grader_function(args.grader)
        child = pulumi.ResourceOptions(parent=self)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=names.log_group(function_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            name=names.grader_role(args.grader),
            description=f"Execution role of the {args.grader} grader of {names.prefix}",
            assume_role_policy=documents.to_json(documents.lambda_trust_policy()),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-logs-policy",
            name="write-own-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: documents.to_json(
                    documents.grader_role_policy(arn, args.extra_statements)
                )
            ),
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description=f"rft-env grader {args.grader} (code {args.code_digest[:12]})",
            role=role.arn,
            runtime=GRADER_RUNTIME,
            architectures=[GRADER_ARCHITECTURE],
            handler=GRADER_HANDLER,
            code=args.code,
            timeout=args.timeout_seconds,
            memory_size=args.memory_mb,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={"GRADER_SPEC": json.dumps(args.spec, sort_keys=True)}
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=log_group.name
            ),
            # The log group (with its key and retention) must exist before Lambda would
            # create an unencrypted one, and the role must be able to write to it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, role_policy]),
        )
        self.function_arn = function.arn
        self.function_name = function.name
        self.role_arn = role.arn
        self.register_outputs(
            {
                "functionArn": self.function_arn,
                "functionName": self.function_name,
                "roleArn": self.role_arn,
            }
        )
