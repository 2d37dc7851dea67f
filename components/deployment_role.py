"""The deployment role's documents: its permission policy and its trust policy.

You create this role in each target account before the first `pulumi up` (no stack
creates it); `pulumi up`, `rftenv rollout`, `rftenv status` and `rftenv metrics` assume
it. `rftenv audit` renders both documents, scoped to one stack's names, for you to apply.
Pure functions of names and ARNs, like every document in `components.documents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# `_sorted` is the canonical order of every document's lists: one for all documents.
from rft_env.components.documents import (
    SNS_CONTEXT_KEY,
    SNS_KEY_ACTIONS,
    VERSION,
    WILDCARD_RESOURCE_ACTIONS,
    Document,
    _sorted,
    judge_model_statements,
)
from rft_env.components.naming import Names, base_inference_id
from rft_env.graders.composite import nested_specs

if TYPE_CHECKING:
    from rft_env.components.config import StackConfig

# The deployment role creates things no stack role may: its own, longer list of actions on
# `Resource: "*"`, which the audit applies to that document only.
DEPLOYMENT_WILDCARD_RESOURCE_ACTIONS: dict[str, str] = {
    **WILDCARD_RESOURCE_ACTIONS,
    "kms:CreateKey": "a key's ARN does not exist before it is created; the request must "
    "carry the stack's Project and Environment tags",
    "kms:TagResource": "tags are set while the key is created (CreateKey with tags), under "
    "the same request-tag conditions",
    "kms:ListAliases": "KMS ListAliases supports no resource-level permissions",
    "logs:DescribeLogGroups": "CloudWatch Logs DescribeLogGroups supports no resource-level "
    "permissions",
    "sns:GetSubscriptionAttributes": "SNS subscription actions support no resource-level "
    "permissions",
    "sns:SetSubscriptionAttributes": "SNS subscription actions support no resource-level "
    "permissions",
    "sns:Unsubscribe": "SNS subscription actions support no resource-level permissions",
    "bedrock:ListModelCustomizationJobs": "Bedrock List actions support no resource-level "
    "permissions",
    "bedrock:ListProvisionedModelThroughputs": "Bedrock List actions support no "
    "resource-level permissions",
    "bedrock:ListCustomModelDeployments": "Bedrock List actions support no resource-level "
    "permissions",
}


@dataclass(frozen=True)
class EvaluationScope:
    """What evaluating the trained model against its base model calls: `rftenv evaluate`
    (any stack with inference) and, with `inference.promotion`, the gate during `pulumi up`."""

    # The base model's Converse id (naming.base_inference_id); None: not known, not called.
    base_model_id: str | None
    # (modelId, region or None) of each LLM judge in the graders the evaluation grades with.
    judges: Sequence[tuple[str, str | None]] = ()
    # `inference.promotion` is set: the gate deploys the model on demand and notifies.
    promotion: bool = False


@dataclass(frozen=True)
class DeploymentScope:
    """What one stack deploys, which bounds what its deployment role may touch."""

    graders: Sequence[str]
    base_model_arn: str
    existing_key_arn: str | None  # None: the stack creates its key
    inference_mode: str  # "none" | "on_demand" | "provisioned"
    production: bool  # production buckets are never emptied by `pulumi destroy`
    evaluation: EvaluationScope | None = None  # None: no inference, nothing to evaluate


def evaluation_scope(config: StackConfig) -> EvaluationScope | None:
    """What the stack's evaluation calls; None without inference. It grades with the job's
    grader and the promotion gate's graders, so their judges (composites' parts included)."""
    if config.inference.mode == "none":
        return None
    promotion = config.inference.promotion
    graders = [config.job.grader, *(promotion.graders if promotion else ())]
    judges = {
        (spec["modelId"], spec.get("region"))
        for grader in graders
        for _, spec in nested_specs(config.graders[grader].spec, of_type="llm_judge")
    }
    return EvaluationScope(
        base_model_id=base_inference_id(config),
        judges=sorted(judges, key=lambda judge: (judge[0], judge[1] or "")),
        promotion=promotion is not None,
    )


def deployment_role_trust_policy(
    principal_arns: Sequence[str], external_id: str | None
) -> Document:
    """The target account's deployment role trusts the principals that run rollouts (in
    the account that runs them), and asks for the stack's external id when it has one."""
    statement: Document = {
        "Sid": "RolloutPrincipalsAssume",
        "Effect": "Allow",
        "Principal": {"AWS": _sorted(principal_arns)},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": VERSION, "Statement": [statement]}


def _allow(
    sid: str, actions: Sequence[str], resources: Sequence[str] | str, **condition: Any
) -> Document:
    statement: Document = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": _sorted(actions),
        "Resource": resources if isinstance(resources, str) else _sorted(resources),
    }
    if condition:
        statement["Condition"] = condition
    return statement


def deployment_role_policy(names: Names, scope: DeploymentScope) -> Document:
    """What deploying and operating one stack needs in its account, scoped to the stack's
    own names: its key (by ARN, or by its Project and Environment tags when the stack
    creates it, since a new key's id is not known in advance), buckets, roles, functions,
    log groups, topic, rule, alarms and dashboard, and its Bedrock jobs and inference."""
    p, region, account = names.partition, names.region, names.account_id
    graders = sorted(scope.graders)
    buckets = [names.bucket_arn(names.bucket(purpose)) for purpose in ("data", "output", "logs")]
    customization_role = names.role_arn(names.customization_role)
    grader_roles = [names.role_arn(names.grader_role(g)) for g in graders]
    functions = [names.function_arn(names.grader_function(g)) for g in graders]
    log_groups = [names.log_group_arn(names.log_group(names.grader_function(g))) for g in graders]
    alarms = [
        names.alarm_arn(names.grader_alarm(g, metric))
        for g in graders
        for metric in ("errors", "throttles", "duration")
    ]
    topic = names.notification_topic_arn
    bedrock = f"arn:{p}:bedrock:{region}:{account}"
    stack_tags = {
        "aws:ResourceTag/Project": names.project,
        "aws:ResourceTag/Environment": names.environment,
    }
    statements: list[Document] = []

    # KMS
    if scope.existing_key_arn is None:
        keys: str = f"arn:{p}:kms:{region}:{account}:key/*"
        statements += [
            _allow(
                "CreateStackKey",
                ["kms:CreateKey", "kms:TagResource"],
                "*",
                StringEquals={
                    "aws:RequestTag/Project": names.project,
                    "aws:RequestTag/Environment": names.environment,
                },
            ),
            _allow(
                "AdministerStackKey",
                [
                    "kms:DescribeKey",
                    "kms:EnableKeyRotation",
                    "kms:GetKeyPolicy",
                    "kms:GetKeyRotationStatus",
                    "kms:ListResourceTags",
                    "kms:PutKeyPolicy",
                    "kms:ScheduleKeyDeletion",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:UpdateKeyDescription",
                ],
                keys,
                StringEquals=stack_tags,
            ),
            _allow(
                "ManageStackKeyAlias",
                ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
                [f"arn:{p}:kms:{region}:{account}:{names.key_alias}", keys],
            ),
            _allow("ListKeyAliases", ["kms:ListAliases"], "*"),
        ]
        use_condition: dict[str, Any] = {"StringEquals": stack_tags}
    else:
        keys = scope.existing_key_arn
        use_condition = {}
    statements.append(
        {
            **_allow(
                "UseStackKeyForDeployment",
                ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
                keys,
            ),
            "Condition": {
                **use_condition,
                "ForAnyValue:StringEquals": {
                    "kms:ViaService": [
                        names.service_endpoint("bedrock"),
                        names.service_endpoint("s3"),
                    ]
                },
            },
        }
    )

    # Bedrock creates grants on the key in the deployer's name for the encrypted model: for
    # the job (customModelKmsKeyId), its throughput and its deployment. The key policy names
    # this role too (Operator* statements); both must allow.
    statements.append(
        {
            **_allow("DeployerGrantsStackKeyToBedrock", ["kms:CreateGrant"], keys),
            "Condition": {
                "StringEquals": {
                    **use_condition.get("StringEquals", {}),
                    "kms:ViaService": names.service_endpoint("bedrock"),
                },
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        }
    )

    # S3
    statements += [
        _allow(
            "ManageStackBuckets",
            [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:DeleteBucketPolicy",
                "s3:GetAccelerateConfiguration",
                "s3:GetBucketAcl",
                "s3:GetBucketCORS",
                "s3:GetBucketLocation",
                "s3:GetBucketLogging",
                "s3:GetBucketObjectLockConfiguration",
                "s3:GetBucketOwnershipControls",
                "s3:GetBucketPolicy",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketRequestPayment",
                "s3:GetBucketTagging",
                "s3:GetBucketVersioning",
                "s3:GetBucketWebsite",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:GetReplicationConfiguration",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:PutBucketLogging",
                "s3:PutBucketOwnershipControls",
                "s3:PutBucketPolicy",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketTagging",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
            ],
            buckets,
        ),
        _allow(
            "UploadDatasets",
            [
                "s3:DeleteObject",
                "s3:GetObject",
                "s3:GetObjectTagging",
                "s3:PutObject",
                "s3:PutObjectTagging",
            ],
            f"{names.bucket_arn(names.bucket('data'))}/datasets/*",
        ),
        _allow(
            "ReadJobOutput",
            ["s3:GetObject"],
            f"{names.bucket_arn(names.bucket('output'))}/*",
        ),
    ]
    if not scope.production:
        statements.append(
            _allow(
                "EmptyStackBucketsOnDestroy",
                ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                [f"{bucket}/*" for bucket in buckets],
            )
        )

    # IAM
    statements += [
        _allow(
            "ManageStackRoles",
            [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListRolePolicies",
                "iam:ListRoleTags",
                "iam:PutRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:UpdateRole",
            ],
            [customization_role, *grader_roles],
        ),
        _allow(
            "PassCustomizationRoleToBedrock",
            ["iam:PassRole"],
            customization_role,
            StringEquals={"iam:PassedToService": "bedrock.amazonaws.com"},
        ),
        _allow(
            "PassGraderRolesToLambda",
            ["iam:PassRole"],
            grader_roles,
            StringEquals={"iam:PassedToService": "lambda.amazonaws.com"},
        ),
    ]

    # Lambda and logs
    statements += [
        _allow(
            "ManageGraderFunctions",
            [
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:GetFunction",
                "lambda:GetFunctionCodeSigningConfig",
                "lambda:GetFunctionConcurrency",
                "lambda:GetFunctionConfiguration",
                "lambda:GetRuntimeManagementConfig",
                "lambda:ListTags",
                "lambda:ListVersionsByFunction",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ],
            functions,
        ),
        _allow(
            "ManageGraderLogGroups",
            [
                "logs:AssociateKmsKey",
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:DeleteRetentionPolicy",
                "logs:DisassociateKmsKey",
                "logs:ListTagsForResource",
                "logs:ListTagsLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagLogGroup",
                "logs:TagResource",
                "logs:UntagLogGroup",
                "logs:UntagResource",
            ],
            [*log_groups, *(f"{group}:*" for group in log_groups)],
        ),
        _allow("DescribeLogGroups", ["logs:DescribeLogGroups"], "*"),
    ]

    # Bedrock
    statements += [
        _allow(
            "CreateJobsFromTheBaseModel",
            ["bedrock:CreateModelCustomizationJob"],
            [
                scope.base_model_arn,
                f"{bedrock}:custom-model/*",
                f"{bedrock}:model-customization-job/*",
            ],
        ),
        _allow(
            "OperateJobsAndModels",
            [
                "bedrock:DeleteCustomModel",
                "bedrock:GetCustomModel",
                "bedrock:GetModelCustomizationJob",
                "bedrock:ListTagsForResource",
                "bedrock:StopModelCustomizationJob",
                "bedrock:TagResource",
                "bedrock:UntagResource",
            ],
            [f"{bedrock}:custom-model/*", f"{bedrock}:model-customization-job/*"],
        ),
        _allow(
            "ListBedrockResources",
            [
                "bedrock:ListCustomModelDeployments",
                "bedrock:ListModelCustomizationJobs",
                "bedrock:ListProvisionedModelThroughputs",
            ],
            "*",
        ),
    ]
    if scope.inference_mode == "provisioned":
        # AWS authorizes throughput creates and updates on the custom model's base model
        # as well (Service Authorization Reference): this stack's base model only.
        statements.append(
            _allow(
                "ThroughputOfTheBaseModel",
                [
                    "bedrock:CreateProvisionedModelThroughput",
                    "bedrock:UpdateProvisionedModelThroughput",
                ],
                scope.base_model_arn,
            )
        )
        statements.append(
            _allow(
                "ManageProvisionedThroughput",
                [
                    "bedrock:CreateProvisionedModelThroughput",
                    "bedrock:DeleteProvisionedModelThroughput",
                    "bedrock:GetProvisionedModelThroughput",
                    "bedrock:ListTagsForResource",
                    "bedrock:TagResource",
                    "bedrock:UntagResource",
                    "bedrock:UpdateProvisionedModelThroughput",
                ],
                [f"{bedrock}:provisioned-model/*", f"{bedrock}:custom-model/*"],
            )
        )
    elif scope.inference_mode == "on_demand":
        statements.append(
            _allow(
                "ManageCustomModelDeployment",
                [
                    "bedrock:CreateCustomModelDeployment",
                    "bedrock:DeleteCustomModelDeployment",
                    "bedrock:GetCustomModelDeployment",
                    "bedrock:ListTagsForResource",
                    "bedrock:TagResource",
                    "bedrock:UntagResource",
                    "bedrock:UpdateCustomModelDeployment",
                ],
                [f"{bedrock}:custom-model-deployment/*", f"{bedrock}:custom-model/*"],
            )
        )

    if scope.evaluation is not None:
        statements += _evaluation_statements(
            names, scope.inference_mode, scope.evaluation, keys, use_condition
        )

    # Observability
    statements += [
        _allow(
            "ManageNotificationTopic",
            [
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:ListSubscriptionsByTopic",
                "sns:ListTagsForResource",
                "sns:SetTopicAttributes",
                "sns:Subscribe",
                "sns:TagResource",
                "sns:UntagResource",
            ],
            topic,
        ),
        _allow(
            "ManageTopicSubscriptions",
            [
                "sns:GetSubscriptionAttributes",
                "sns:SetSubscriptionAttributes",
                "sns:Unsubscribe",
            ],
            "*",
        ),
        _allow(
            "ManageJobStateRule",
            [
                "events:DeleteRule",
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:PutRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:TagResource",
                "events:UntagResource",
            ],
            names.event_rule_arn(names.job_state_rule),
        ),
        _allow(
            "ManageGraderAlarms",
            [
                "cloudwatch:DeleteAlarms",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:ListTagsForResource",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
            ],
            alarms,
        ),
        _allow(
            "ManageDashboard",
            ["cloudwatch:DeleteDashboards", "cloudwatch:GetDashboard", "cloudwatch:PutDashboard"],
            f"arn:{p}:cloudwatch::{account}:dashboard/{names.dashboard}",
        ),
    ]
    return {"Version": VERSION, "Statement": statements}


def _renamed(statements: list[Document], old: str, new: str, suffix: str = "") -> list[Document]:
    """`statements` with the Sid prefix `old` replaced by `new`, `suffix` appended."""
    return [
        {**statement, "Sid": new + statement["Sid"].removeprefix(old) + suffix}
        for statement in statements
    ]


def _evaluation_statements(
    names: Names,
    inference_mode: str,
    evaluation: EvaluationScope,
    keys: str,
    use_condition: dict[str, Any],
) -> list[Document]:
    """Calling the trained model and its base model (Converse is authorized as
    bedrock:InvokeModel), the judges it grades with, and for the promotion gate its
    evaluation deployment and its notification."""
    bedrock = f"arn:{names.partition}:bedrock:{names.region}:{names.account_id}"
    deployments = f"{bedrock}:custom-model-deployment/*"
    # What serves the trained model in this mode; the gate's own deployment besides.
    served = {"on_demand": [deployments], "provisioned": [f"{bedrock}:provisioned-model/*"]}
    served_models = served.get(inference_mode, [])
    if evaluation.promotion:
        served_models = [*served_models, deployments]
    statements = []
    if served_models:
        statements.append(_allow("EvaluateModels", ["bedrock:InvokeModel"], served_models))

    # The same builder as the grader roles' judges: a profile ARN plus the foundation
    # models it routes to, those only through the profile.
    base = evaluation.base_model_id
    if base is not None:
        statements += _renamed(judge_model_statements(names, base), "InvokeJudge", "EvaluateBase")
    # Each judge once, in a stable order; the base model's grant covers a judge using it.
    judges = [
        (model_id, region)
        for model_id, region in sorted(set(evaluation.judges), key=lambda j: (j[0], j[1] or ""))
        if (model_id, region or names.region) != (base, names.region)
    ]
    for index, (model_id, region) in enumerate(judges):
        suffix = str(index) if len(judges) > 1 else ""
        statements += _renamed(
            judge_model_statements(names, model_id, region),
            "InvokeJudge",
            "EvaluationJudge",
            suffix,
        )

    if evaluation.promotion and inference_mode == "provisioned":
        topic = names.notification_topic_arn
        statements += [
            # Creating the deployment, and swapping a kept one's model, act on the model too.
            _allow(
                "DeployModelForEvaluation",
                ["bedrock:CreateCustomModelDeployment", "bedrock:UpdateCustomModelDeployment"],
                [deployments, f"{bedrock}:custom-model/*"],
            ),
            _allow(
                "ManageEvaluationDeployment",
                [
                    "bedrock:DeleteCustomModelDeployment",
                    "bedrock:GetCustomModelDeployment",
                    "bedrock:TagResource",
                    "bedrock:UntagResource",
                ],
                deployments,
            ),
            _allow("PublishEvaluationResults", ["sns:Publish"], topic),
            # The topic is encrypted with the stack key: SNS asks for a data key in the
            # publisher's name, with the topic as encryption context.
            _allow(
                "UseStackKeyForEvaluationResults",
                SNS_KEY_ACTIONS,
                keys,
                StringEquals={
                    **use_condition.get("StringEquals", {}),
                    "kms:ViaService": names.service_endpoint("sns"),
                    SNS_CONTEXT_KEY: topic,
                },
            ),
        ]
    return statements
