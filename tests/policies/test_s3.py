"""S3 stack policies, against the storage component's buckets and sub-resources."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.policies.helpers import (
    KEY_ARN,
    bucket_name,
    doc,
    policy_named,
    props_of,
    replace,
    resource,
    run,
    run_with_urns,
    stack_args,
    storage_stack,
    tls_statement,
    urn,
)

SSE = policy_named("s3-bucket-sse-kms-customer-key")
PUBLIC = policy_named("s3-bucket-public-access-blocked")
TLS = policy_named("s3-bucket-tls-only")
VERSIONING = policy_named("s3-bucket-versioning-enabled")
LOGGING = policy_named("s3-bucket-logging-enabled")
ALL = (SSE, PUBLIC, TLS, VERSIONING, LOGGING)


@pytest.mark.parametrize("policy", ALL, ids=lambda p: p.name)
@pytest.mark.parametrize("link_by_deps", [False, True], ids=["by-name", "by-dependency"])
def test_storage_stack_complies(policy: object, link_by_deps: bool) -> None:
    assert run(policy, stack_args(storage_stack(link_by_deps=link_by_deps))) == []  # type: ignore[arg-type]


def test_no_buckets_no_violations() -> None:
    for policy in ALL:
        assert run(policy, stack_args([])) == []


# --------------------------------------------------------------------------------------
# SSE-KMS
# --------------------------------------------------------------------------------------
def _with_sse(algorithm: str | None, key: str | None) -> list:
    stack = storage_stack()
    props = props_of(stack, "rft-storage-data-encryption")
    default = props["rules"][0]["applyServerSideEncryptionByDefault"]
    for field, value in (("sseAlgorithm", algorithm), ("kmsMasterKeyId", key)):
        if value is None:
            default.pop(field)
        else:
            default[field] = value
    return replace(stack, "rft-storage-data-encryption", props)


def test_sse_missing_configuration() -> None:
    stack = replace(storage_stack(), "rft-storage-output-encryption")
    found = run_with_urns(SSE, stack_args(stack))
    assert len(found) == 1
    message, where = found[0]
    assert "Bucket 'rft-storage-output'" in message
    assert "no BucketServerSideEncryptionConfiguration" in message
    assert where == urn("aws:s3/bucket:Bucket", "rft-storage-output")


def test_sse_aes256_is_rejected() -> None:
    (message,) = run(SSE, stack_args(_with_sse("AES256", None)))
    assert "'rft-storage-data-encryption'" in message
    assert "Bucket 'rft-storage-data'" in message
    assert "sseAlgorithm 'AES256'" in message


def test_sse_without_key_uses_aws_managed_key() -> None:
    (message,) = run(SSE, stack_args(_with_sse("aws:kms", None)))
    assert "no kmsMasterKeyId" in message


@pytest.mark.parametrize(
    "key", ["alias/aws/s3", "arn:aws:kms:us-east-1:111122223333:alias/aws/s3", "ALIAS/AWS/S3"]
)
def test_sse_aws_managed_key_is_rejected(key: str) -> None:
    (message,) = run(SSE, stack_args(_with_sse("aws:kms", key)))
    assert "AWS-managed key" in message
    assert key in message


def test_sse_dsse_with_customer_key_complies() -> None:
    assert run(SSE, stack_args(_with_sse("aws:kms:dsse", KEY_ARN))) == []


def test_sse_customer_alias_complies() -> None:
    assert run(SSE, stack_args(_with_sse("aws:kms", "alias/rft-env-dev"))) == []


def test_sse_configuration_without_rules() -> None:
    stack = replace(storage_stack(), "rft-storage-data-encryption", {"bucket": bucket_name("data")})
    (message,) = run(SSE, stack_args(stack))
    assert "no rule with applyServerSideEncryptionByDefault" in message


def test_sse_dependency_wins_over_name() -> None:
    """A config whose bucket prop names bucket A but whose value came from bucket B
    belongs to B: A has no configuration."""
    stack = storage_stack()
    data, output = (r for r in stack if r.name in ("rft-storage-data", "rft-storage-output"))
    stack = [r for r in stack if r.name != "rft-storage-output-encryption"]
    stack = replace(stack, "rft-storage-data-encryption")
    stack.append(
        resource(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "misnamed-encryption",
            {
                "bucket": bucket_name("data"),
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": KEY_ARN,
                        }
                    }
                ],
            },
            deps={"bucket": [output]},
        )
    )
    (message,) = run(SSE, stack_args(stack))
    assert f"Bucket '{data.name}'" in message


# --------------------------------------------------------------------------------------
# Public access block
# --------------------------------------------------------------------------------------
def test_public_access_block_missing() -> None:
    stack = replace(storage_stack(), "rft-storage-logs-public-access")
    (message,) = run(PUBLIC, stack_args(stack))
    assert "Bucket 'rft-storage-logs' has no BucketPublicAccessBlock" in message


def test_public_access_flags_false_or_missing_are_named() -> None:
    stack = storage_stack()
    props = props_of(stack, "rft-storage-data-public-access")
    props["blockPublicPolicy"] = False
    del props["restrictPublicBuckets"]
    found = run_with_urns(
        PUBLIC, stack_args(replace(stack, "rft-storage-data-public-access", props))
    )
    (message, where) = found[0]
    assert len(found) == 1
    assert "BucketPublicAccessBlock 'rft-storage-data-public-access'" in message
    assert "blockPublicPolicy is false" in message
    assert "restrictPublicBuckets is not set" in message
    assert "blockPublicAcls" not in message
    assert where == urn(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "rft-storage-data-public-access"
    )


# --------------------------------------------------------------------------------------
# TLS only
# --------------------------------------------------------------------------------------
def _with_bucket_policy(policy: object) -> list:
    stack = storage_stack()
    props = props_of(stack, "rft-storage-data-policy")
    props["policy"] = policy
    return replace(stack, "rft-storage-data-policy", props)


def _tls(**changes: object) -> dict:
    statement = tls_statement(bucket_name("data"))
    statement.update(changes)
    return {k: v for k, v in statement.items() if v is not None}


def test_tls_missing_bucket_policy() -> None:
    stack = replace(storage_stack(), "rft-storage-data-policy")
    (message,) = run(TLS, stack_args(stack))
    assert "Bucket 'rft-storage-data' has no BucketPolicy" in message
    assert "aws:SecureTransport" in message


@pytest.mark.parametrize(
    "statement",
    [
        _tls(Principal={"AWS": "*"}),
        _tls(Action="*"),
        _tls(Action=["S3:*"]),
        _tls(Condition={"Bool": {"aws:SecureTransport": False}}),
        _tls(Condition={"Bool": {"AWS:securetransport": ["false"]}}),
        _tls(Resource=[f"arn:aws:s3:::{bucket_name('data')}*"]),
    ],
    ids=["aws-star", "star-action", "case", "bool-false", "key-case", "prefix-wildcard"],
)
def test_tls_accepted_variants(statement: dict) -> None:
    assert run(TLS, stack_args(_with_bucket_policy(doc(statement)))) == []


def test_tls_policy_as_mapping() -> None:
    document = {"Version": "2012-10-17", "Statement": [_tls()]}
    assert run(TLS, stack_args(_with_bucket_policy(document))) == []


@pytest.mark.parametrize(
    "statement",
    [
        _tls(Effect="Allow"),
        _tls(Principal={"AWS": "arn:aws:iam::111122223333:root"}),
        _tls(Action="s3:GetObject"),
        _tls(Action=None, NotAction="s3:GetObject"),
        _tls(Resource=f"arn:aws:s3:::{bucket_name('data')}/*"),
        _tls(Resource=[f"arn:aws:s3:::{bucket_name('output')}", "arn:aws:s3:::x/*"]),
        _tls(Condition={"Bool": {"aws:SecureTransport": "true"}}),
        _tls(Condition={"StringEquals": {"aws:SecureTransport": "false"}}),
        _tls(Condition=None),
    ],
    ids=[
        "allow",
        "named-principal",
        "one-action",
        "not-action",
        "objects-only",
        "other-bucket",
        "true",
        "wrong-operator",
        "no-condition",
    ],
)
def test_tls_rejected_variants(statement: dict) -> None:
    (message,) = run(TLS, stack_args(_with_bucket_policy(doc(statement))))
    assert "BucketPolicy 'rft-storage-data-policy' of Bucket 'rft-storage-data'" in message
    assert "does not deny insecure transport" in message
    assert f"arn:<partition>:s3:::{bucket_name('data')}/*" in message


def test_tls_malformed_policy_json() -> None:
    (message,) = run(TLS, stack_args(_with_bucket_policy('{"Statement": [')))
    assert "BucketPolicy 'rft-storage-data-policy'" in message
    assert "not valid JSON" in message


def test_tls_unknown_bucket_name_checks_shape_only() -> None:
    stack = replace(storage_stack(), "rft-storage-data", {"forceDestroy": True})
    stack = replace(stack, "rft-storage-data-policy")
    bucket = next(r for r in stack if r.name == "rft-storage-data")
    statement = _tls(Resource="arn:aws:s3:::whatever")
    stack.append(
        resource(
            "aws:s3/bucketPolicy:BucketPolicy",
            "auto-named-policy",
            {"bucket": "x", "policy": doc(statement)},
            deps={"bucket": [bucket]},
        )
    )
    assert run(TLS, stack_args(stack)) == []


# --------------------------------------------------------------------------------------
# Versioning
# --------------------------------------------------------------------------------------
def test_versioning_missing() -> None:
    stack = replace(storage_stack(), "rft-storage-output-versioning")
    (message,) = run(VERSIONING, stack_args(stack))
    assert "Bucket 'rft-storage-output' has no BucketVersioning" in message


@pytest.mark.parametrize("status", ["Suspended", "Disabled", None])
def test_versioning_not_enabled(status: str | None) -> None:
    stack = storage_stack()
    props = props_of(stack, "rft-storage-output-versioning")
    props["versioningConfiguration"] = {"status": status} if status else {}
    (message,) = run(VERSIONING, stack_args(replace(stack, "rft-storage-output-versioning", props)))
    assert "BucketVersioning 'rft-storage-output-versioning'" in message
    assert f"'{status or '(unset)'}'" in message
    assert "'Enabled'" in message


# --------------------------------------------------------------------------------------
# Access logging
# --------------------------------------------------------------------------------------
def test_logging_missing() -> None:
    stack = replace(storage_stack(), "rft-storage-data-access-logging")
    found = run_with_urns(LOGGING, stack_args(stack))
    assert len(found) == 1
    message, where = found[0]
    assert "Bucket 'rft-storage-data' has no BucketLogging" in message
    assert bucket_name("logs") in message
    assert where == urn("aws:s3/bucket:Bucket", "rft-storage-data")


def test_logging_missing_blocks_a_preview_that_does_not_know_the_log_bucket_yet() -> None:
    """A preview of a new stack, as the engine shows it to the pack: each BucketLogging's
    targetBucket is unknown, and property dependencies say what it links. The check must
    still find the bucket without one (it aborted on reading the hint's targets)."""
    stack = [r for r in storage_stack() if "access-logging" not in r.name]
    logs = next(r for r in stack if r.name == "rft-storage-logs")
    output = next(r for r in stack if r.name == "rft-storage-output")
    stack.append(
        resource(
            "aws:s3/bucketLogging:BucketLogging",
            "rft-storage-output-access-logging",
            {"bucket": bucket_name("output"), "targetBucket": UNKNOWN_STRING_VALUE},
            deps={"bucket": [output], "targetBucket": [logs]},
        )
    )
    found = run_with_urns(LOGGING, stack_args(stack))
    assert [where for _, where in found] == [urn("aws:s3/bucket:Bucket", "rft-storage-data")]
    assert "(the stack logs into" not in found[0][0]


def test_log_bucket_is_exempt_only_while_it_is_a_target() -> None:
    """The access-log bucket needs no logging of its own; once nothing logs into it, it is
    an ordinary bucket again."""
    stack = replace(storage_stack(), "rft-storage-data-access-logging")
    stack = replace(stack, "rft-storage-output-access-logging")
    messages = run(LOGGING, stack_args(stack))
    assert len(messages) == 3
    assert any("Bucket 'rft-storage-logs'" in m for m in messages)


def test_log_target_matched_by_dependency() -> None:
    stack = [r for r in storage_stack() if "access-logging" not in r.name]
    logs = next(r for r in stack if r.name == "rft-storage-logs")
    for purpose in ("data", "output"):
        source = next(r for r in stack if r.name == f"rft-storage-{purpose}")
        stack.append(
            resource(
                "aws:s3/bucketLogging:BucketLogging",
                f"rft-storage-{purpose}-access-logging",
                {"bucket": bucket_name(purpose), "targetBucket": "computed-id"},
                deps={"bucket": [source], "targetBucket": [logs]},
            )
        )
    assert run(LOGGING, stack_args(stack)) == []
