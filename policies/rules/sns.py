"""SNS rules: the notification topic carries job names, failure messages and model ARNs,
so it is encrypted under a key the stack controls."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from rft_env.policies.rules.common import text
from rft_env.policies.rules.s3 import is_aws_managed_key

TOPIC = "aws:sns/topic:Topic"


def _validate_topic_encryption(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != TOPIC:
        return
    key = text(args.props.get("kmsMasterKeyId"))
    where = f"SNS topic '{args.name}'"
    if not key:
        report_violation(
            f"{where} sets no kmsMasterKeyId, so its messages are stored unencrypted; set it "
            "to the stack's customer-managed KMS key.",
            None,
        )
    elif is_aws_managed_key(key):
        report_violation(
            f"{where} is encrypted with the AWS-managed key '{key}', whose policy cannot let "
            "EventBridge or CloudWatch publish to the topic, nor be restricted or audited; "
            "use the stack's customer-managed KMS key.",
            None,
        )


POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="sns-topic-encrypted",
        description="SNS topics are encrypted at rest (kmsMasterKeyId) with a "
        "customer-managed KMS key, not an AWS-managed key such as alias/aws/sns.",
        validate=_validate_topic_encryption,
    ),
]
