"""DataBuckets: training/validation data, job output and access logs.

Every bucket is SSE-KMS with the stack's key and bucket keys, blocks all public access,
enforces bucket-owner ownership (no ACLs), is versioned, denies non-TLS requests, and
expires noncurrent versions. The data and output buckets log access to the log bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from rft_env.components import documents
from rft_env.components.naming import Names

ACCESS_LOG_PREFIX = "access-logs/"
NONCURRENT_VERSION_DAYS = 30
ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class DatasetUpload:
    purpose: str  # "training" | "validation"
    path: str  # relative to the project directory (see packaging.relative_path)
    key: str  # content-addressed object key (components.datasets.content_key)


@dataclass(frozen=True)
class _Bucket:
    bucket: aws.s3.Bucket
    ready: list[pulumi.Resource]  # what must exist before objects are written


@dataclass(frozen=True)
class DataBucketsArgs:
    names: Names
    key_arn: pulumi.Input[str]
    datasets: list[DatasetUpload] = field(default_factory=list)
    log_retention_days: int = 90
    protect: bool = False
    # Non-production stacks can be destroyed with their (re-uploadable) data in them.
    force_destroy: bool = True


class DataBuckets(pulumi.ComponentResource):
    data_bucket: pulumi.Output[str]
    output_bucket: pulumi.Output[str]
    log_bucket: pulumi.Output[str]
    dataset_uris: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: DataBucketsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rftenv:storage:DataBuckets", name, None, opts)
        names = args.names
        self._args = args
        logged = ("data", "output")
        logs = self._bucket(
            name,
            "logs",
            documents.access_log_bucket_policy(
                names,
                names.bucket_arn(names.bucket("logs")),
                ACCESS_LOG_PREFIX,
                [names.bucket_arn(names.bucket(purpose)) for purpose in logged],
            ),
            expire_days=args.log_retention_days,
        )
        data, output = (
            self._bucket(
                name,
                purpose,
                documents.tls_only_bucket_policy(names.bucket_arn(names.bucket(purpose))),
                log_to=logs,
            )
            for purpose in logged
        )

        self.dataset_uris = {}
        for upload in args.datasets:
            obj = aws.s3.BucketObjectv2(
                f"{name}-{upload.purpose}-dataset",
                bucket=data.bucket.bucket,
                key=upload.key,
                source=pulumi.FileAsset(upload.path),
                content_type="application/jsonl",
                server_side_encryption="aws:kms",
                kms_key_id=args.key_arn,
                bucket_key_enabled=True,
                # Written only once the bucket encrypts with the stack key and its policy
                # is in place.
                opts=pulumi.ResourceOptions(parent=self, depends_on=data.ready),
            )
            self.dataset_uris[upload.purpose] = pulumi.Output.concat(
                "s3://", obj.bucket, "/", obj.key
            )

        self.data_bucket = data.bucket.bucket
        self.output_bucket = output.bucket.bucket
        self.log_bucket = logs.bucket.bucket
        self.register_outputs(
            {
                "dataBucket": self.data_bucket,
                "outputBucket": self.output_bucket,
                "logBucket": self.log_bucket,
                "datasetUris": self.dataset_uris,
            }
        )

    def _bucket(
        self,
        name: str,
        purpose: str,
        policy: documents.Document,
        *,
        log_to: _Bucket | None = None,
        expire_days: int | None = None,
    ) -> _Bucket:
        args = self._args
        bucket_name = args.names.bucket(purpose)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-{purpose}",
            bucket=bucket_name,
            force_destroy=args.force_destroy,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-{purpose}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-{purpose}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-{purpose}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-{purpose}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        bucket_policy = aws.s3.BucketPolicy(
            f"{name}-{purpose}-policy",
            bucket=bucket.id,
            policy=documents.to_json(policy),
            # S3 rejects a bucket policy while the public-access block is still being set.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=NONCURRENT_VERSION_DAYS
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=ABORT_MULTIPART_DAYS
                ),
            )
        ]
        if expire_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(
                        prefix=ACCESS_LOG_PREFIX
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=expire_days
                    ),
                )
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-{purpose}-lifecycle",
            bucket=bucket.id,
            rules=rules,
            opts=child,
        )
        if log_to is not None:
            aws.s3.BucketLogging(
                f"{name}-{purpose}-access-logging",
                bucket=bucket.id,
                target_bucket=log_to.bucket.id,
                target_prefix=f"{ACCESS_LOG_PREFIX}{bucket_name}/",
                opts=child,
            )
        return _Bucket(bucket, ready=[encryption, bucket_policy])
