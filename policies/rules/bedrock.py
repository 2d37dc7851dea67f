"""Bedrock rules over rft-env's dynamic resources: the customization job encrypts with the
stack's own key and runs as the stack's own role; committed throughput is protected."""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rft_env.policies.rules.common import (
    IAM_ROLE,
    KMS_KEY,
    SSE_CONFIG,
    as_sequence,
    dependencies_of,
    fmt_list,
    get,
    of_type,
    text,
)

JOB = "pulumi-python:dynamic/bedrock:RftCustomizationJob"
PROVISIONED_THROUGHPUT = "pulumi-python:dynamic/bedrock:ProvisionedThroughput"


def _bucket_key_ids(stack: Sequence[PolicyResource]) -> set[str]:
    """The kmsMasterKeyIds the stack's bucket encryption configurations use."""
    return {
        text(get(rule, "applyServerSideEncryptionByDefault", "kmsMasterKeyId"))
        for config in of_type(stack, SSE_CONFIG)
        for rule in as_sequence(config.props.get("rules"))
    } - {""}


def _key_problem(job: PolicyResource, stack: Sequence[PolicyResource]) -> str | None:
    if dependencies_of(job, "kmsKeyId", KMS_KEY):
        return None
    key_id = text(job.props.get("kmsKeyId"))
    if not key_id:
        return "sets no kmsKeyId, so Bedrock encrypts the custom model with an AWS-owned key"
    keys = of_type(stack, KMS_KEY)
    if keys:
        if any(key_id in (text(k.props.get("arn")), text(k.props.get("keyId"))) for k in keys):
            return None
        return (
            f"uses kmsKeyId '{key_id}', which is not the stack's KMS key "
            f"({fmt_list(k.name for k in keys)})"
        )
    bucket_keys = _bucket_key_ids(stack)
    if key_id in bucket_keys:
        return None
    used = f" ({fmt_list(sorted(bucket_keys))})" if bucket_keys else " (none is configured)"
    return (
        f"uses kmsKeyId '{key_id}', which is not the key the stack's buckets are "
        f"encrypted with{used}"
    )


def _role_problem(job: PolicyResource, stack: Sequence[PolicyResource]) -> str | None:
    if dependencies_of(job, "serviceRoleArn", IAM_ROLE):
        return None
    role_arn = text(job.props.get("serviceRoleArn"))
    if not role_arn:
        return "sets no serviceRoleArn"
    roles = of_type(stack, IAM_ROLE)
    if any(role_arn == text(role.props.get("arn")) for role in roles):
        return None
    return f"runs as '{role_arn}', which is not the ARN of an IAM role of the stack"


def _validate_job(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for job in of_type(args.resources, JOB):
        where = f"Bedrock customization job '{job.name}'"
        key_problem = _key_problem(job, args.resources)
        if key_problem:
            report_violation(
                f"{where} {key_problem}; set kmsKeyId to the stack's customer-managed key, "
                "which the key policy scopes to this stack's role and buckets.",
                job.urn,
            )
        role_problem = _role_problem(job, args.resources)
        if role_problem:
            report_violation(
                f"{where} {role_problem}; set serviceRoleArn to the stack's Bedrock service "
                "role, whose trust and permissions this pack checks.",
                job.urn,
            )


def _validate_throughput(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != PROVISIONED_THROUGHPUT:
        return
    commitment = text(args.props.get("commitment"))
    if commitment and commitment.lower() != "none" and not args.opts.protect:
        report_violation(
            f"Provisioned throughput '{args.name}' has commitment '{commitment}' but is not "
            "protected; a committed throughput is billed for its whole term and cannot be "
            "deleted before it ends, so set protect=True to keep a destroy or replacement "
            "from being attempted.",
            None,
        )


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    StackValidationPolicy(
        name="bedrock-job-stack-key-and-role",
        description="Every Bedrock customization job encrypts with the stack's own KMS key "
        "(the Key of the stack, or the key its buckets use when the key is external) and "
        "runs as an IAM role of the stack, never an outside key or role.",
        validate=_validate_job,
    ),
    ResourceValidationPolicy(
        name="bedrock-committed-throughput-protected",
        description="Provisioned throughput with a commitment term (OneMonth, SixMonths) is "
        "protected: it is billed for the whole term and cannot be deleted before it ends.",
        validate=_validate_throughput,
    ),
]
