"""EncryptionKey: the stack's customer-managed KMS key and its alias."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class EncryptionKeyArgs:
    description: str
    alias: str  # "alias/..."
    policy: pulumi.Input[str]  # JSON, from components.documents.key_policy
    deletion_window_days: int
    protect: bool = False
    # Never scheduled for deletion by Pulumi: set whenever the stack retains its models,
    # which stay encrypted with this key (training.models_retained).
    retain_on_delete: bool = False


class EncryptionKey(pulumi.ComponentResource):
    """A rotating KMS key whose policy lets only this stack's roles and services use it."""

    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    alias_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: EncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rftenv:security:EncryptionKey", name, None, opts)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=args.policy,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.retain_on_delete
            ),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias",
            name=args.alias,
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key_arn = self.key.arn
        self.key_id = self.key.key_id
        self.alias_name = self.alias.name
        self.register_outputs(
            {"keyArn": self.key_arn, "keyId": self.key_id, "aliasName": self.alias_name}
        )
