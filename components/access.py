"""CustomizationRole: the IAM role Bedrock assumes to run the stack's RFT jobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from rft_env.components import documents
from rft_env.components.documents import S3Location
from rft_env.components.naming import Names


@dataclass(frozen=True)
class CustomizationRoleArgs:
    names: Names
    data: Sequence[S3Location]
    output: S3Location
    key_arn: pulumi.Input[str]
    grader_arns: Sequence[pulumi.Input[str]]
    # The job's VPC (empty: none); another stack's outputs are welcome.
    subnet_ids: pulumi.Input[Sequence[str]] = ()
    security_group_ids: pulumi.Input[Sequence[str]] = ()


class CustomizationRole(pulumi.ComponentResource):
    """Trusted by Bedrock for this account's jobs only.

    It reads the data, writes the output, uses the key and invokes the job's grader."""

    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: CustomizationRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rftenv:iam:CustomizationRole", name, None, opts)
        names = args.names
        self.role = aws.iam.Role(
            f"{name}-role",
            name=names.customization_role,
            description=f"Bedrock reinforcement fine-tuning jobs of {names.prefix}",
            assume_role_policy=documents.to_json(documents.bedrock_trust_policy(names)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy = pulumi.Output.all(
            args.key_arn, args.subnet_ids, args.security_group_ids, *args.grader_arns
        ).apply(
            lambda resolved: documents.to_json(
                documents.customization_role_policy(
                    names,
                    data=args.data,
                    output=args.output,
                    key_arn=resolved[0],
                    grader_arns=resolved[3:],
                    key_buckets=[names.bucket(purpose) for purpose in ("data", "output")],
                    subnet_ids=resolved[1],
                    security_group_ids=resolved[2],
                )
            )
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy",
            name="rft-customization",
            role=self.role.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role_arn = self.role.arn
        self.role_name = self.role.name
        self.register_outputs({"roleArn": self.role_arn, "roleName": self.role_name})
