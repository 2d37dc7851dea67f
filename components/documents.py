"""Every IAM, KMS, bucket and topic policy document rft-env creates, as plain dicts.

These are pure functions of names and ARNs: components render them to JSON, the audit
writes them to files, and the tests assert on them. Statement ids (`Sid`) are stable so a
change to a permission reads as a small diff.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rft_env.components.naming import Names, partition_for
from rft_env.graders.judge_models import judge_model

Document = dict[str, Any]
VERSION = "2012-10-17"

# Key administration without use: the account can always manage (and so never lose) the
# key, but administrating it grants no Encrypt/Decrypt and no CreateGrant, which would let
# an administrator hand themselves use of the key.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
BEDROCK_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey")
# S3 calls KMS with an encryption context naming the bucket (or, without bucket keys, the
# object), so use through S3 can be pinned to the stack's buckets.
S3_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
S3_CONTEXT_KEY = "kms:EncryptionContext:aws:s3:arn"
LOGS_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
# SNS encrypts each message with a data key from the topic's key, asked for in the name
# of the publisher and with the topic's ARN as encryption context.
SNS_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
SNS_CONTEXT_KEY = "kms:EncryptionContext:aws:sns:topicArn"
EVENTS_SERVICE = "events.amazonaws.com"
CLOUDWATCH_SERVICE = "cloudwatch.amazonaws.com"
# ENI lookups for a job in a VPC: EC2 offers no resource-level permissions for Describe*.
VPC_DESCRIBE_ACTIONS = (
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)


# Identity-policy actions that may be granted on `Resource: "*"`, each with the reason
# nothing narrower exists. The audit lists these reasons next to the statements that use
# them. The policy pack states its own list (policies/rules/iam.py) and rejects any other
# action on "*"; tests/policies/test_allow_lists.py fails if this one goes beyond it.
WILDCARD_RESOURCE_ACTIONS: dict[str, str] = {
    action: "EC2 Describe* actions support no resource-level permissions"
    for action in VPC_DESCRIBE_ACTIONS
}

# Why each statement exists, by Sid (an appended index, as in "InvokeJudgeModel1", is
# ignored). The audit prints these in SUMMARY.md and fails on a statement without one.
STATEMENT_PURPOSES: dict[str, str] = {
    # trust policies
    "BedrockCustomizationJobs": "Bedrock assumes the role to run this account's customization "
    "jobs in this region only (confused-deputy conditions)",
    "LambdaExecution": "Lambda assumes the grader's execution role",
    # Bedrock service role
    "ReadTrainingDataObjects": "the job reads exactly its training and validation files",
    "ReadTrainingDataList": "the job lists the dataset keys, restricted by s3:prefix",
    "WriteOutput": "the job writes (and reads back) artifacts and metrics under the output prefix",
    "ListOutput": "the job lists its output prefix only",
    "UseStackKeyThroughS3": "S3 encrypts and decrypts the stack buckets' objects with the "
    "stack key (encryption context pins the buckets)",
    "UseStackKeyThroughBedrock": "Bedrock encrypts the custom model with the stack key",
    "GrantStackKeyToBedrock": "Bedrock keeps the custom model encrypted through a grant "
    "for an AWS resource",
    "InvokeGraders": "Bedrock calls exactly the job's grader Lambda for rewards",
    "DescribeNetwork": "a job in a VPC looks up its subnets, security groups and interfaces",
    "CreateJobNetworkInterface": "the job creates network interfaces tagged as Bedrock-managed "
    "for this account's jobs",
    "CreateNetworkInterfaceInJobSubnets": "those interfaces go only into the configured "
    "subnets and security groups",
    "ManageJobNetworkInterfaces": "the job attaches and removes its own interfaces, in its "
    "subnets, tagged as Bedrock-managed",
    "TagJobNetworkInterfaces": "the job tags interfaces only while creating them, with the "
    "two Bedrock tags",
    # grader execution roles
    "WriteOwnLogs": "the grader writes to its own log group",
    "InvokeJudgeModel": "the LLM judge calls exactly its judge model",
    "InvokeJudgeInferenceProfile": "the LLM judge calls its cross-region inference profile",
    "InvokeJudgeModelThroughProfile": "the profile routes to the judge's foundation model in "
    "its regions, allowed only through that profile",
    # key policy
    "AccountAdministersKey": "the account can manage the key (never lose it) but not use it",
    "BedrockRoleUsesKeyThroughS3": "the Bedrock service role reads data and writes output in "
    "the stack buckets",
    "BedrockRoleUsesKeyThroughBedrock": "the Bedrock service role has Bedrock encrypt the "
    "custom model",
    "BedrockRoleGrantsToBedrock": "Bedrock holds a grant on the key for the custom model",
    "OperatorUsesKeyThroughS3": "operators upload datasets and read job output and access logs",
    "OperatorUsesKeyThroughBedrock": "operators create the job, throughput and deployments of "
    "the encrypted model",
    "OperatorGrantsToBedrock": "Bedrock holds grants for throughput and deployments created "
    "by operators",
    "CloudWatchLogsEncryptsGraderLogs": "CloudWatch Logs encrypts this stack's grader log groups",
    "S3ServerAccessLogsUseKey": "S3 server access logs for the stack's buckets are encrypted "
    "in the log bucket",
    "EventBridgeEncryptsJobNotifications": "EventBridge publishes job state changes to the "
    "stack's SSE-KMS notification topic, which needs a data key (encryption context pins the "
    "topic)",
    "CloudWatchEncryptsAlarmNotifications": "CloudWatch publishes grader alarms to the stack's "
    "SSE-KMS notification topic, which needs a data key (encryption context pins the topic)",
    # the deployment role (created by you; see components.deployment_role)
    "RolloutPrincipalsAssume": "the principals that run rollouts assume the role, with the "
    "stack's external id when it has one",
    "CreateStackKey": "create the stack key, only with the stack's Project and Environment tags",
    "AdministerStackKey": "manage the stack key (policy, rotation, tags, deletion), found by "
    "its tags",
    "ManageStackKeyAlias": "point the stack's alias at the stack key",
    "ListKeyAliases": "read the alias back",
    "UseStackKeyForDeployment": "upload datasets, read job output, and create the job and "
    "inference of the encrypted model, through S3 and Bedrock only",
    "DeployerGrantsStackKeyToBedrock": "Bedrock creates grants on the stack key in the "
    "deployer's name for the encrypted model (job, throughput, deployment): through Bedrock, "
    "for an AWS resource only",
    "ThroughputOfTheBaseModel": "AWS authorizes throughput creates and updates on the custom "
    "model's base model too: the stack's base model only",
    "ManageStackBuckets": "create and configure the stack's three buckets",
    "UploadDatasets": "upload the validated dataset files under datasets/",
    "ReadJobOutput": "read the job's output for `rftenv metrics`",
    "EmptyStackBucketsOnDestroy": "empty non-production buckets on `pulumi destroy` (forceDestroy)",
    "ManageStackRoles": "create the Bedrock service role and the grader roles with their "
    "inline policies",
    "PassCustomizationRoleToBedrock": "hand the service role to Bedrock, and to no other service",
    "PassGraderRolesToLambda": "hand the grader roles to Lambda, and to no other service",
    "ManageGraderFunctions": "create and update the grader functions",
    "ManageGraderLogGroups": "create the grader log groups with their key and retention",
    "DescribeLogGroups": "read the grader log groups back (DescribeLogGroups lists by name prefix)",
    "CreateJobsFromTheBaseModel": "start RFT jobs from the configured base model",
    "OperateJobsAndModels": "follow, stop and tag the stack's jobs and models; delete a "
    "replaced model",
    "ListBedrockResources": "find the stack's jobs and inference by name (`rftenv status`)",
    "ManageProvisionedThroughput": "create, update and delete the model's provisioned throughput",
    "ManageCustomModelDeployment": "create, update and delete the model's on-demand deployment",
    "ManageNotificationTopic": "create the notification topic, its policy and e-mail subscriptions",
    "ManageTopicSubscriptions": "read, update and remove the topic's e-mail subscriptions",
    "ManageJobStateRule": "create the job-state rule and its target",
    "ManageGraderAlarms": "create the grader alarms",
    "ManageDashboard": "create the dashboard",
    # bucket policies
    "DenyInsecureTransport": "no request without TLS reaches the bucket",
    "S3ServerAccessLogDelivery": "S3 delivers the stack buckets' access logs under the log prefix",
    # notification topic policy
    "EventBridgePublishesJobEvents": "this stack's job-state rule sends RFT job state changes "
    "to the topic",
    "CloudWatchPublishesGraderAlarms": "this stack's grader alarms send their state changes to "
    "the topic",
    "DenyInsecureTopicTransport": "no request without TLS reaches the topic",
    # deployment role: evaluating the trained model (`rftenv evaluate`, the promotion gate)
    "EvaluateModels": "`rftenv evaluate` and the promotion gate call the stack's trained "
    "model through its deployment or throughput (Converse)",
    "EvaluateBaseModel": "the evaluation calls the base model it compares with",
    "EvaluateBaseInferenceProfile": "the evaluation calls the base model through its "
    "cross-region inference profile",
    "EvaluateBaseModelThroughProfile": "the profile routes to the base model in its regions, "
    "allowed only through that profile",
    "EvaluationJudgeModel": "the evaluation grades with an LLM judge, which calls exactly its "
    "judge model",
    "EvaluationJudgeInferenceProfile": "the evaluation's LLM judge calls its cross-region "
    "inference profile",
    "EvaluationJudgeModelThroughProfile": "the profile routes to the judge's foundation model "
    "in its regions, allowed only through that profile",
    "DeployModelForEvaluation": "the promotion gate deploys the trained model on demand to "
    "evaluate it before the throughput exists (or swaps it into a kept deployment)",
    "ManageEvaluationDeployment": "the promotion gate waits for, tags and removes its "
    "evaluation deployment",
    "PublishEvaluationResults": "the promotion gate reports its verdict to the stack's "
    "notification topic",
    "UseStackKeyForEvaluationResults": "SNS encrypts the gate's message with the topic's key "
    "(encryption context pins the topic)",
    # key policy: the promotion gate's notification
    "OperatorPublishesEvaluations": "the promotion gate, run by an operator, sends its verdict "
    "to the SSE-KMS notification topic (encryption context pins the topic)",
}


def statement_purpose(sid: str) -> str | None:
    """Why a statement exists, or None when its Sid has no recorded purpose. A Sid with an
    index appended (several judges in one policy) has its base Sid's purpose."""
    return STATEMENT_PURPOSES.get(sid) or STATEMENT_PURPOSES.get(sid.rstrip("0123456789"))


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (or one exact object key)."""

    bucket: str
    prefix: str

    @classmethod
    def from_uri(cls, uri: str) -> S3Location:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return cls(bucket, key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def to_json(document: Document) -> str:
    """The canonical JSON form used for every document (sorted keys, stable across runs)."""
    return json.dumps(document, indent=2, sort_keys=True)


def _sorted(values: Sequence[str]) -> list[str]:
    return sorted(set(values))


# --------------------------------------------------------------------------------------
# Trust policies
# --------------------------------------------------------------------------------------
def bedrock_trust_policy(names: Names) -> Document:
    """Bedrock may assume the role only for this account's customization jobs."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "BedrockCustomizationJobs",
                "Effect": "Allow",
                "Principal": {"Service": "bedrock.amazonaws.com"},
                "Action": "sts:AssumeRole",
                # Confused-deputy protection: only jobs in this account and region.
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": names.account_id},
                    "ArnEquals": {"aws:SourceArn": names.customization_job_arn_pattern},
                },
            }
        ],
    }


def lambda_trust_policy() -> Document:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "LambdaExecution",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


# --------------------------------------------------------------------------------------
# Permission policies
# --------------------------------------------------------------------------------------
def _s3_read_statements(sid: str, names: Names, locations: Sequence[S3Location]) -> list[Document]:
    statements: list[Document] = []
    by_bucket: dict[str, list[str]] = {}
    for location in locations:
        by_bucket.setdefault(location.bucket, []).append(location.prefix)
    objects = [
        f"{names.bucket_arn(loc.bucket)}/{loc.prefix}{'*' if loc.prefix.endswith('/') else ''}"
        for loc in locations
    ]
    statements.append(
        {
            "Sid": f"{sid}Objects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": _sorted(objects),
        }
    )
    for index, (bucket, prefixes) in enumerate(sorted(by_bucket.items())):
        statements.append(
            {
                "Sid": f"{sid}List{index if len(by_bucket) > 1 else ''}",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": names.bucket_arn(bucket),
                "Condition": {
                    "StringLike": {
                        "s3:prefix": _sorted([p + "*" if p.endswith("/") else p for p in prefixes])
                    }
                },
            }
        )
    return statements


def _s3_context(names: Names, buckets: Sequence[str]) -> list[str]:
    """The values `kms:EncryptionContext:aws:s3:arn` takes for objects in `buckets`: the
    bucket ARN with S3 bucket keys, the object ARN without."""
    arns = [names.bucket_arn(bucket) for bucket in buckets]
    return _sorted(arns + [f"{arn}/*" for arn in arns])


def customization_role_policy(
    names: Names,
    *,
    data: Sequence[S3Location],
    output: S3Location,
    key_arn: str,
    grader_arns: Sequence[str],
    key_buckets: Sequence[str],
    subnet_ids: Sequence[str] = (),
    security_group_ids: Sequence[str] = (),
) -> Document:
    """What the Bedrock service role may do, and nothing more.

    Reads the training/validation data, reads and writes under the output prefix, uses the
    stack's key only through S3 (for objects in `key_buckets`, the buckets encrypted with
    it) and Bedrock, invokes exactly the given grader
    functions and, only when the job runs in a VPC, manages the job's network interfaces.
    """
    out_bucket = names.bucket_arn(output.bucket)
    statements: list[Document] = [
        *_s3_read_statements("ReadTrainingData", names, data),
        {
            "Sid": "WriteOutput",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"{out_bucket}/{output.prefix}*",
        },
        {
            "Sid": "ListOutput",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": out_bucket,
            "Condition": {"StringLike": {"s3:prefix": f"{output.prefix}*"}},
        },
        {
            "Sid": "UseStackKeyThroughS3",
            "Effect": "Allow",
            "Action": list(S3_KEY_ACTIONS),
            "Resource": key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": names.service_endpoint("s3")},
                "StringLike": {S3_CONTEXT_KEY: _s3_context(names, key_buckets)},
            },
        },
        {
            "Sid": "UseStackKeyThroughBedrock",
            "Effect": "Allow",
            "Action": list(BEDROCK_KEY_ACTIONS),
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": names.service_endpoint("bedrock")}},
        },
        {
            # Bedrock encrypts the custom model with the key through a grant it creates.
            "Sid": "GrantStackKeyToBedrock",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": names.service_endpoint("bedrock")},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        },
        {
            "Sid": "InvokeGraders",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": _sorted(grader_arns),
        },
    ]
    if subnet_ids:
        statements += _vpc_statements(names, subnet_ids, security_group_ids)
    return {"Version": VERSION, "Statement": statements}


def _vpc_statements(
    names: Names, subnet_ids: Sequence[str], security_group_ids: Sequence[str]
) -> list[Document]:
    ec2 = f"arn:{names.partition}:ec2:{names.region}:{names.account_id}"
    subnets = [f"{ec2}:subnet/{s}" for s in subnet_ids]
    groups = [f"{ec2}:security-group/{g}" for g in security_group_ids]
    job_arns = names.customization_job_arn_pattern
    return [
        {
            "Sid": "DescribeNetwork",
            "Effect": "Allow",
            "Action": list(VPC_DESCRIBE_ACTIONS),
            # EC2 Describe* calls support no resource-level permissions.
            "Resource": "*",
        },
        {
            "Sid": "CreateJobNetworkInterface",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            "Resource": f"{ec2}:network-interface/*",
            "Condition": {
                "StringEquals": {"aws:RequestTag/BedrockManaged": "true"},
                "ArnEquals": {"aws:RequestTag/BedrockModelCustomizationJobArn": job_arns},
            },
        },
        {
            "Sid": "CreateNetworkInterfaceInJobSubnets",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            "Resource": _sorted(subnets + groups),
        },
        {
            "Sid": "ManageJobNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
            ],
            # AWS documents these on "*"; they act only on network interfaces, so the
            # resource is narrowed to those. The conditions are AWS's, with the job-ARN tag
            # (a string) compared as a string.
            "Resource": f"{ec2}:network-interface/*",
            "Condition": {
                "ArnEquals": {"ec2:Subnet": _sorted(subnets)},
                "StringLike": {"ec2:ResourceTag/BedrockModelCustomizationJobArn": job_arns},
                "StringEquals": {"ec2:ResourceTag/BedrockManaged": "true"},
            },
        },
        {
            "Sid": "TagJobNetworkInterfaces",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:network-interface/*",
            "Condition": {
                "StringEquals": {"ec2:CreateAction": "CreateNetworkInterface"},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["BedrockManaged", "BedrockModelCustomizationJobArn"]
                },
            },
        },
    ]


def judge_model_statements(
    names: Names, model_id: str, region: str | None = None
) -> list[Document]:
    """`bedrock:InvokeModel` (which Converse needs) on exactly the judge model.

    `graders.judge_models.judge_model` decides what the id names (the grader validates
    its spec with the same function). A foundation model is one ARN. A profile needs the
    profile ARN, plus the foundation model in the regions the profile routes to, allowed
    only through that profile (`bedrock:InferenceProfileArn`).
    """
    region = region or names.region
    model = judge_model(
        model_id, region=region, account_id=names.account_id, partition=partition_for(region)
    )
    if not model.is_profile:
        return [_invoke_statement("InvokeJudgeModel", model.arn)]
    routes = list(model.routes_to)
    return [
        _invoke_statement("InvokeJudgeInferenceProfile", model.arn),
        {
            **_invoke_statement(
                "InvokeJudgeModelThroughProfile", routes[0] if len(routes) == 1 else _sorted(routes)
            ),
            # An ARN-typed key, so compared as an ARN (parliament flags StringEquals).
            "Condition": {"ArnEquals": {"bedrock:InferenceProfileArn": model.arn}},
        },
    ]


def _invoke_statement(sid: str, resource: str | list[str]) -> Document:
    return {"Sid": sid, "Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": resource}


def grader_role_policy(log_group_arn: str, extra: Sequence[Document] = ()) -> Document:
    """A grader function may write to its own log group, and (an LLM judge) invoke its
    judge model, and do nothing else."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:log-stream:*",
            },
            *extra,
        ],
    }


# --------------------------------------------------------------------------------------
# KMS key policy
# --------------------------------------------------------------------------------------
def _use_and_grant(
    names: Names, who: str, principal_arns: Sequence[str], buckets: Sequence[str]
) -> list[Document]:
    """Use of the key through S3 (for objects in `buckets` only) and through Bedrock, and
    grants to Bedrock for custom models."""
    root = {"AWS": names.account_root_arn}
    principals = {"aws:PrincipalArn": _sorted(principal_arns)}
    return [
        {
            "Sid": f"{who}UsesKeyThroughS3",
            "Effect": "Allow",
            "Principal": root,
            "Action": list(S3_KEY_ACTIONS),
            "Resource": "*",
            "Condition": {
                "ArnEquals": principals,
                "StringEquals": {"kms:ViaService": names.service_endpoint("s3")},
                "StringLike": {S3_CONTEXT_KEY: _s3_context(names, buckets)},
            },
        },
        {
            "Sid": f"{who}UsesKeyThroughBedrock",
            "Effect": "Allow",
            "Principal": root,
            "Action": list(BEDROCK_KEY_ACTIONS),
            "Resource": "*",
            "Condition": {
                "ArnEquals": principals,
                "StringEquals": {"kms:ViaService": names.service_endpoint("bedrock")},
            },
        },
        {
            # Bedrock encrypts custom models, and serves them, through grants.
            "Sid": f"{who}GrantsToBedrock",
            "Effect": "Allow",
            "Principal": root,
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "ArnEquals": principals,
                "StringEquals": {"kms:ViaService": names.service_endpoint("bedrock")},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        },
    ]


def key_policy(
    names: Names,
    *,
    bedrock_role_arns: Sequence[str],
    operator_arns: Sequence[str],
    logged_bucket_arns: Sequence[str],
    bedrock_buckets: Sequence[str] = (),
    operator_buckets: Sequence[str] = (),
    notification_topic_arn: str | None = None,
    evaluation_publisher_arns: Sequence[str] = (),
) -> Document:
    """The stack key's policy.

    Principals are named through `aws:PrincipalArn` conditions on the account principal
    rather than as principals themselves: KMS rejects a policy naming a role that does not
    exist yet (the roles are created after the key), and a recreated role keeps working.
    Operators are the deployment role and `kms.keyUserArns`: they upload datasets, read
    job output, and create the job, provisioned throughput and deployments of the
    encrypted model. Use through S3 is limited to objects in `bedrock_buckets` and
    `operator_buckets` (the stack's data, output and log buckets by default). With a
    `notification_topic_arn`, EventBridge and CloudWatch may encrypt messages for that topic
    (an SSE-KMS topic under this key) and no other; so may `evaluation_publisher_arns` (the
    operators, when the promotion gate publishes its verdict), through SNS only.
    """
    stack_buckets = [names.bucket(purpose) for purpose in ("data", "output")]
    bedrock_buckets = bedrock_buckets or stack_buckets
    operator_buckets = operator_buckets or [*stack_buckets, names.bucket("logs")]
    statements: list[Document] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": names.account_root_arn},
            "Action": list(KEY_ADMIN_ACTIONS),
            "Resource": "*",  # in a key policy "*" is this key
        },
        *_use_and_grant(names, "BedrockRole", bedrock_role_arns, bedrock_buckets),
    ]
    if operator_arns:
        statements += _use_and_grant(names, "Operator", operator_arns, operator_buckets)
    statements.append(
        {
            "Sid": "CloudWatchLogsEncryptsGraderLogs",
            "Effect": "Allow",
            "Principal": {"Service": names.service_endpoint("logs")},
            "Action": list(LOGS_KEY_ACTIONS),
            "Resource": "*",
            "Condition": {
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": names.grader_log_group_pattern}
            },
        }
    )
    if logged_bucket_arns:
        statements.append(
            {
                # S3 server access logs land in the SSE-KMS log bucket.
                "Sid": "S3ServerAccessLogsUseKey",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "kms:GenerateDataKey",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": names.account_id},
                    "ArnLike": {"aws:SourceArn": _sorted(logged_bucket_arns)},
                },
            }
        )
    if notification_topic_arn:
        statements += [
            _publish_to_topic(
                "EventBridgeEncryptsJobNotifications", EVENTS_SERVICE, notification_topic_arn
            ),
            _publish_to_topic(
                "CloudWatchEncryptsAlarmNotifications", CLOUDWATCH_SERVICE, notification_topic_arn
            ),
        ]
        if evaluation_publisher_arns:
            statements.append(
                {
                    "Sid": "OperatorPublishesEvaluations",
                    "Effect": "Allow",
                    "Principal": {"AWS": names.account_root_arn},
                    "Action": list(SNS_KEY_ACTIONS),
                    "Resource": "*",
                    "Condition": {
                        "ArnEquals": {"aws:PrincipalArn": _sorted(evaluation_publisher_arns)},
                        "StringEquals": {
                            "kms:ViaService": names.service_endpoint("sns"),
                            SNS_CONTEXT_KEY: notification_topic_arn,
                        },
                    },
                }
            )
    return {"Version": VERSION, "Statement": statements}


def _publish_to_topic(sid: str, service: str, topic_arn: str) -> Document:
    """A service publishing to an SSE-KMS topic needs a data key from the topic's key. SNS
    asks for it with the topic as encryption context, so the grant reaches no other topic
    (and no other use of the key)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": list(SNS_KEY_ACTIONS),
        "Resource": "*",
        "Condition": {"StringEquals": {SNS_CONTEXT_KEY: topic_arn}},
    }


# --------------------------------------------------------------------------------------
# Bucket policies
# --------------------------------------------------------------------------------------
def _deny_insecure_transport(bucket_arn: str) -> Document:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_bucket_policy(bucket_arn: str) -> Document:
    return {"Version": VERSION, "Statement": [_deny_insecure_transport(bucket_arn)]}


def access_log_bucket_policy(
    names: Names, bucket_arn: str, log_prefix: str, source_bucket_arns: Sequence[str]
) -> Document:
    """TLS only, and S3's logging service may write logs for this stack's buckets only."""
    return {
        "Version": VERSION,
        "Statement": [
            _deny_insecure_transport(bucket_arn),
            {
                "Sid": "S3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{log_prefix}*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": names.account_id},
                    "ArnLike": {"aws:SourceArn": _sorted(source_bucket_arns)},
                },
            },
        ],
    }


# --------------------------------------------------------------------------------------
# Topic policies
# --------------------------------------------------------------------------------------
def notification_topic_policy(
    names: Names, topic_arn: str, *, rule_arn: str, alarm_arns: Sequence[str]
) -> Document:
    """Who may publish to the stack's notification topic: its job-state rule and its grader
    alarms, named by ARN (confused-deputy conditions), and nobody without TLS.

    There is no statement for the account: principals of the account use the topic through
    their identity policies, and a resource policy only adds to those.
    """
    statements: list[Document] = [
        {
            "Sid": "EventBridgePublishesJobEvents",
            "Effect": "Allow",
            "Principal": {"Service": EVENTS_SERVICE},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        },
    ]
    if alarm_arns:
        statements.append(
            {
                "Sid": "CloudWatchPublishesGraderAlarms",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDWATCH_SERVICE},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": _sorted(alarm_arns)},
                    "StringEquals": {"aws:SourceAccount": names.account_id},
                },
            }
        )
    statements.append(
        {
            "Sid": "DenyInsecureTopicTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:*",
            "Resource": topic_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    return {"Version": VERSION, "Statement": statements}
