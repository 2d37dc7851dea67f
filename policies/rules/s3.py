"""S3 bucket rules. They are stack policies: in pulumi-aws v7 a bucket's encryption,
public-access block, policy, versioning and logging are separate resources, so only the
whole stack shows whether a bucket has them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from rft_env.policies.rules import documents as docs
from rft_env.policies.rules.common import (
    BUCKET,
    SSE_CONFIG,
    as_bool,
    as_sequence,
    fmt_list,
    get,
    linked_to,
    of_type,
    text,
)

PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LOGGING = "aws:s3/bucketLogging:BucketLogging"

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
_S3_ARN_RE = re.compile(r"^arn:[^:]*:s3:::(?P<path>.*)$")

Finding = tuple[str, str]  # (message, urn of the offending resource)
BucketCheck = Callable[[PolicyResource, Sequence[PolicyResource]], Iterator[Finding]]


def _bucket_policy(name: str, description: str, check: BucketCheck) -> StackValidationPolicy:
    """A stack policy that runs `check` on every bucket of the stack."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for bucket in of_type(args.resources, BUCKET):
            for message, urn in check(bucket, args.resources):
                report_violation(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate)


def _label(bucket: PolicyResource) -> str:
    return f"Bucket '{bucket.name}'"


def is_aws_managed_key(key_id: str) -> bool:
    """`alias/aws/<service>`, bare or as an alias ARN: a key the account cannot control."""
    key_id = key_id.strip()
    if key_id.startswith("arn:"):
        parts = key_id.split(":", 5)
        key_id = parts[5] if len(parts) == 6 else ""
    return key_id.lower().startswith("alias/aws/")


# --------------------------------------------------------------------------------------
# Encryption
# --------------------------------------------------------------------------------------
def _sse_defaults(rule: Any) -> list[Mapping[str, Any]]:
    """A rule's applyServerSideEncryptionByDefault (an object in v7; a list in older
    shapes), as a list of mappings."""
    block = get(rule, "applyServerSideEncryptionByDefault")
    if isinstance(block, Mapping):
        return [block]
    return [b for b in as_sequence(block) if isinstance(b, Mapping)]


def _check_sse(bucket: PolicyResource, stack: Sequence[PolicyResource]) -> Iterator[Finding]:
    configs = linked_to(stack, SSE_CONFIG, "bucket", bucket)
    if not configs:
        yield (
            f"{_label(bucket)} has no BucketServerSideEncryptionConfiguration; add one whose "
            "rule sets sseAlgorithm 'aws:kms' and kmsMasterKeyId to the stack's "
            "customer-managed KMS key.",
            bucket.urn,
        )
        return
    for config in configs:
        where = f"BucketServerSideEncryptionConfiguration '{config.name}' of {_label(bucket)}"
        defaults = [
            d for rule in as_sequence(config.props.get("rules")) for d in _sse_defaults(rule)
        ]
        if not defaults:
            yield (
                f"{where} has no rule with applyServerSideEncryptionByDefault; required: "
                "sseAlgorithm 'aws:kms' with a customer-managed kmsMasterKeyId.",
                config.urn,
            )
        for default in defaults:
            algorithm = text(default.get("sseAlgorithm"))
            key_id = text(default.get("kmsMasterKeyId"))
            if algorithm not in KMS_ALGORITHMS:
                yield (
                    f"{where} uses sseAlgorithm '{algorithm or '(none)'}'; required: "
                    "'aws:kms' or 'aws:kms:dsse' with the stack's customer-managed key.",
                    config.urn,
                )
            elif not key_id:
                yield (
                    f"{where} sets no kmsMasterKeyId, so S3 uses the AWS-managed key "
                    "aws/s3; set kmsMasterKeyId to the stack's customer-managed key ARN.",
                    config.urn,
                )
            elif is_aws_managed_key(key_id):
                yield (
                    f"{where} uses the AWS-managed key '{key_id}' (its policy cannot be "
                    "restricted); set kmsMasterKeyId to the stack's customer-managed key.",
                    config.urn,
                )


# --------------------------------------------------------------------------------------
# Public access block
# --------------------------------------------------------------------------------------
def _check_public_access(
    bucket: PolicyResource, stack: Sequence[PolicyResource]
) -> Iterator[Finding]:
    blocks = linked_to(stack, PUBLIC_ACCESS_BLOCK, "bucket", bucket)
    if not blocks:
        yield (
            f"{_label(bucket)} has no BucketPublicAccessBlock; add one with "
            f"{', '.join(PUBLIC_ACCESS_FLAGS)} all true.",
            bucket.urn,
        )
        return
    for block in blocks:
        problems = []
        for flag in PUBLIC_ACCESS_FLAGS:
            value = as_bool(block.props.get(flag))
            if value is None:
                problems.append(f"{flag} is not set")
            elif not value:
                problems.append(f"{flag} is false")
        if problems:
            yield (
                f"BucketPublicAccessBlock '{block.name}' of {_label(bucket)}: "
                f"{'; '.join(problems)}. All four flags must be true.",
                block.urn,
            )


# --------------------------------------------------------------------------------------
# TLS only
# --------------------------------------------------------------------------------------
def _covers(resources: Sequence[str], path: str) -> bool:
    """Whether a statement's Resource list covers `arn:<partition>:s3:::<path>`."""
    for resource in resources:
        if resource.strip() == "*":
            return True
        match = _S3_ARN_RE.match(resource.strip())
        if match and docs.wildcard_match(match.group("path"), path):
            return True
    return False


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _denies_insecure_transport(statement: docs.Statement, bucket_name: str) -> bool:
    if not docs.is_deny(statement) or docs.has_not_action(statement):
        return False
    if not any(v.strip() == "*" for v in docs.principal_values(statement)):
        return False
    if not docs.lower_set(docs.actions(statement)) & {"s3:*", "*"}:
        return False
    if bucket_name:
        resources = docs.resources(statement)
        if not (_covers(resources, bucket_name) and _covers(resources, f"{bucket_name}/*")):
            return False
    values = docs.condition_values(statement, "aws:SecureTransport", "Bool")
    return bool(values) and all(_is_false(v) for v in values)


def _check_tls(bucket: PolicyResource, stack: Sequence[PolicyResource]) -> Iterator[Finding]:
    bucket_name = text(bucket.props.get("bucket"))
    arn = f"arn:<partition>:s3:::{bucket_name or '<bucket>'}"
    required = (
        f"a Deny statement for Principal '*', Action 's3:*' on '{arn}' and '{arn}/*' "
        "with Condition Bool aws:SecureTransport = 'false'"
    )
    policies = linked_to(stack, BUCKET_POLICY, "bucket", bucket)
    if not policies:
        yield (f"{_label(bucket)} has no BucketPolicy; add one with {required}.", bucket.urn)
        return
    for policy in policies:
        raw = policy.props.get("policy")
        error = docs.document_error(raw)
        where = f"BucketPolicy '{policy.name}' of {_label(bucket)}"
        if error:
            yield (f"{where}: policy {error}; it must contain {required}.", policy.urn)
            continue
        statements = docs.statements(docs.parse_document(raw))
        if not any(_denies_insecure_transport(s, bucket_name) for s in statements):
            yield (f"{where} does not deny insecure transport; add {required}.", policy.urn)


# --------------------------------------------------------------------------------------
# Versioning
# --------------------------------------------------------------------------------------
def _check_versioning(bucket: PolicyResource, stack: Sequence[PolicyResource]) -> Iterator[Finding]:
    configs = linked_to(stack, VERSIONING, "bucket", bucket)
    if not configs:
        yield (
            f"{_label(bucket)} has no BucketVersioning; add one with "
            "versioningConfiguration.status 'Enabled'.",
            bucket.urn,
        )
        return
    for config in configs:
        status = text(get(config.props, "versioningConfiguration", "status"))
        if status != "Enabled":
            yield (
                f"BucketVersioning '{config.name}' of {_label(bucket)} has "
                f"versioningConfiguration.status '{status or '(unset)'}'; required: 'Enabled'.",
                config.urn,
            )


# --------------------------------------------------------------------------------------
# Access logging
# --------------------------------------------------------------------------------------
def _known_log_targets(stack: Sequence[PolicyResource]) -> list[str]:
    """The buckets the stack logs into, for a hint. A preview of a new stack does not know
    them yet (the log bucket's id): reading one would abort the whole check, so that a
    missing BucketLogging never blocked a preview (found by the engine tests)."""
    targets = set()
    for logging in of_type(stack, LOGGING):
        try:
            target = text(logging.props.get("targetBucket"))
        except UnknownValueError:
            continue
        if target:
            targets.add(target)
    return sorted(targets)


def _check_logging(bucket: PolicyResource, stack: Sequence[PolicyResource]) -> Iterator[Finding]:
    if linked_to(stack, LOGGING, "bucket", bucket):
        return
    if linked_to(stack, LOGGING, "targetBucket", bucket):
        return  # the access-log bucket itself: logging it into itself would loop
    targets = _known_log_targets(stack)
    hint = f" (the stack logs into {fmt_list(targets)})" if targets else ""
    yield (
        f"{_label(bucket)} has no BucketLogging; add one that delivers its server access "
        f"logs to the stack's access-log bucket{hint}.",
        bucket.urn,
    )


POLICIES: list[StackValidationPolicy] = [
    _bucket_policy(
        "s3-bucket-sse-kms-customer-key",
        "Every S3 bucket is encrypted by default with SSE-KMS (aws:kms or aws:kms:dsse) "
        "under a customer-managed key: AWS-managed keys (alias/aws/s3) cannot be restricted "
        "by a key policy or audited separately.",
        _check_sse,
    ),
    _bucket_policy(
        "s3-bucket-public-access-blocked",
        "Every S3 bucket has a public-access block with blockPublicAcls, blockPublicPolicy, "
        "ignorePublicAcls and restrictPublicBuckets all true: training data and model "
        "output are never public.",
        _check_public_access,
    ),
    _bucket_policy(
        "s3-bucket-tls-only",
        "Every S3 bucket's policy denies all S3 actions on the bucket and its objects to "
        "any principal when aws:SecureTransport is false, so data only moves over TLS.",
        _check_tls,
    ),
    _bucket_policy(
        "s3-bucket-versioning-enabled",
        "Every S3 bucket has versioning enabled, so an overwritten or deleted dataset or "
        "model artifact can be recovered.",
        _check_versioning,
    ),
    _bucket_policy(
        "s3-bucket-logging-enabled",
        "Every S3 bucket delivers server access logs (a BucketLogging), except the stack's "
        "access-log bucket (the targetBucket of a BucketLogging): logging that bucket into "
        "itself would log its own log deliveries in an endless loop.",
        _check_logging,
    ),
]
