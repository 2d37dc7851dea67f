"""Unit tests of the policy documents: the one place permissions are decided."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rft_env.components import documents
from rft_env.components.documents import S3Location
from rft_env.components.naming import Names
from rft_env.graders.judge_models import ModelIdError, judge_model

NAMES = Names("dev", "111122223333", "us-east-1")
KEY = "arn:aws:kms:us-east-1:111122223333:key/abc"
GRADER = "arn:aws:lambda:us-east-1:111122223333:function:rft-env-dev-grader-a"
DATA_BUCKET = "rft-env-dev-data-111122223333-us-east-1"
OUTPUT_BUCKET = "rft-env-dev-output-111122223333-us-east-1"


def sids(document: documents.Document) -> list[str]:
    return [s["Sid"] for s in document["Statement"]]


def role_policy(**overrides: object) -> documents.Document:
    arguments: dict = {
        "data": [
            S3Location("rft-env-dev-data-111122223333-us-east-1", "datasets/training/x.jsonl")
        ],
        "output": S3Location("rft-env-dev-output-111122223333-us-east-1", "rft-output/"),
        "key_arn": KEY,
        "grader_arns": [GRADER],
        "key_buckets": [DATA_BUCKET, OUTPUT_BUCKET],
    }
    arguments.update(overrides)
    return documents.customization_role_policy(NAMES, **arguments)


def test_bedrock_trust_policy_names_account_and_job_arns() -> None:
    (statement,) = documents.bedrock_trust_policy(NAMES)["Statement"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}
    assert statement["Condition"]["ArnEquals"] == {
        "aws:SourceArn": "arn:aws:bedrock:us-east-1:111122223333:model-customization-job/*"
    }


def test_trust_policy_follows_the_partition() -> None:
    gov = Names("dev", "111122223333", "us-gov-west-1")
    (statement,) = documents.bedrock_trust_policy(gov)["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"].startswith(
        "arn:aws-us-gov:bedrock:"
    )


def test_role_policy_without_vpc_has_no_wildcard_resource() -> None:
    policy = role_policy()
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        assert "*" not in (resources if isinstance(resources, list) else [resources])
    assert sids(policy) == [
        "ReadTrainingDataObjects",
        "ReadTrainingDataList",
        "WriteOutput",
        "ListOutput",
        "UseStackKeyThroughS3",
        "UseStackKeyThroughBedrock",
        "GrantStackKeyToBedrock",
        "InvokeGraders",
    ]


def test_role_policy_reads_exact_objects_and_prefixes() -> None:
    policy = role_policy(
        data=[
            S3Location("bucket-a", "datasets/training/abc/train.jsonl"),
            S3Location("bucket-a", "datasets/validation/def/val.jsonl"),
            S3Location("bucket-b", "shared/"),
        ]
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadTrainingDataObjects"]["Resource"] == [
        "arn:aws:s3:::bucket-a/datasets/training/abc/train.jsonl",
        "arn:aws:s3:::bucket-a/datasets/validation/def/val.jsonl",
        "arn:aws:s3:::bucket-b/shared/*",
    ]
    assert statements["ReadTrainingDataList0"]["Resource"] == "arn:aws:s3:::bucket-a"
    assert statements["ReadTrainingDataList1"]["Condition"]["StringLike"]["s3:prefix"] == [
        "shared/*"
    ]


def test_role_policy_invokes_only_the_given_graders_and_uses_key_via_services() -> None:
    policy = role_policy(grader_arns=[GRADER, GRADER])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["InvokeGraders"]["Resource"] == [GRADER]
    through_s3 = statements["UseStackKeyThroughS3"]
    assert through_s3["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.us-east-1.amazonaws.com"
    }
    # S3 names the bucket (bucket keys) or the object in the encryption context.
    assert through_s3["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": [
            f"arn:aws:s3:::{DATA_BUCKET}",
            f"arn:aws:s3:::{DATA_BUCKET}/*",
            f"arn:aws:s3:::{OUTPUT_BUCKET}",
            f"arn:aws:s3:::{OUTPUT_BUCKET}/*",
        ]
    }
    through_bedrock = statements["UseStackKeyThroughBedrock"]
    assert through_bedrock["Condition"] == {
        "StringEquals": {"kms:ViaService": "bedrock.us-east-1.amazonaws.com"}
    }
    for statement in (through_s3, through_bedrock):
        assert "kms:Encrypt" not in statement["Action"]


def test_vpc_statements_pin_subnets_and_groups() -> None:
    policy = role_policy(subnet_ids=["subnet-0aaaaaaaa"], security_group_ids=["sg-0bbbbbbbb"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    ec2 = "arn:aws:ec2:us-east-1:111122223333"
    assert statements["CreateNetworkInterfaceInJobSubnets"]["Resource"] == [
        f"{ec2}:security-group/sg-0bbbbbbbb",
        f"{ec2}:subnet/subnet-0aaaaaaaa",
    ]
    manage = statements["ManageJobNetworkInterfaces"]
    assert manage["Resource"] == f"{ec2}:network-interface/*"
    assert manage["Condition"]["ArnEquals"]["ec2:Subnet"] == [f"{ec2}:subnet/subnet-0aaaaaaaa"]
    assert manage["Condition"]["StringLike"] == {
        "ec2:ResourceTag/BedrockModelCustomizationJobArn": (
            "arn:aws:bedrock:us-east-1:111122223333:model-customization-job/*"
        )
    }
    # Describe* is the only grant on "*", and the allow-list says why.
    wildcard = [s for s in policy["Statement"] if s["Resource"] == "*"]
    assert [s["Sid"] for s in wildcard] == ["DescribeNetwork"]
    assert set(wildcard[0]["Action"]) <= set(documents.WILDCARD_RESOURCE_ACTIONS)
    tags = statements["TagJobNetworkInterfaces"]["Condition"]["ForAllValues:StringEquals"]
    assert tags == {"aws:TagKeys": ["BedrockManaged", "BedrockModelCustomizationJobArn"]}


def test_grader_role_policy_is_its_log_group_only() -> None:
    arn = NAMES.log_group_arn("/aws/lambda/fn")
    (statement,) = documents.grader_role_policy(arn)["Statement"]
    assert statement["Resource"] == f"{arn}:log-stream:*"
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]


def key_policy(**overrides: object) -> documents.Document:
    arguments: dict = {
        "bedrock_role_arns": [NAMES.role_arn(NAMES.customization_role)],
        "operator_arns": [],
        "logged_bucket_arns": [],
    }
    arguments.update(overrides)
    return documents.key_policy(NAMES, **arguments)


def test_key_admin_statement_cannot_use_or_grant_the_key() -> None:
    admin = key_policy()["Statement"][0]
    assert admin["Sid"] == "AccountAdministersKey"
    usage = {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:CreateGrant",
        "kms:ReEncryptFrom",
    }
    assert not usage & set(admin["Action"])
    assert all("*" not in action for action in admin["Action"])
    # Lock-out protection: the account can always change the policy and cancel deletion.
    assert {"kms:PutKeyPolicy", "kms:CancelKeyDeletion"} <= set(admin["Action"])


def test_key_policy_optional_statements() -> None:
    assert sids(key_policy()) == [
        "AccountAdministersKey",
        "BedrockRoleUsesKeyThroughS3",
        "BedrockRoleUsesKeyThroughBedrock",
        "BedrockRoleGrantsToBedrock",
        "CloudWatchLogsEncryptsGraderLogs",
    ]
    full = key_policy(
        operator_arns=["arn:aws:iam::111122223333:role/deployer"],
        logged_bucket_arns=["arn:aws:s3:::b"],
    )
    assert sids(full)[4:7] == [
        "OperatorUsesKeyThroughS3",
        "OperatorUsesKeyThroughBedrock",
        "OperatorGrantsToBedrock",
    ]
    operator = full["Statement"][4]
    assert operator["Condition"]["ArnEquals"] == {
        "aws:PrincipalArn": ["arn:aws:iam::111122223333:role/deployer"]
    }
    # Operators also read the access logs; the Bedrock role does not.
    logs = f"arn:aws:s3:::{NAMES.bucket('logs')}"
    assert logs in operator["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    bedrock = full["Statement"][1]
    assert logs not in bedrock["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    logging = full["Statement"][-1]
    assert logging["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert logging["Condition"]["ArnLike"] == {"aws:SourceArn": ["arn:aws:s3:::b"]}


def test_logs_may_use_the_key_for_this_stacks_grader_log_groups_only() -> None:
    statement = next(
        s for s in key_policy()["Statement"] if s["Sid"] == "CloudWatchLogsEncryptsGraderLogs"
    )
    assert statement["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert statement["Condition"]["ArnLike"] == {
        "kms:EncryptionContext:aws:logs:arn": (
            "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/rft-env-dev-grader-*"
        )
    }


def test_bucket_policies() -> None:
    tls = documents.tls_only_bucket_policy("arn:aws:s3:::b")
    (deny,) = tls["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    logs = documents.access_log_bucket_policy(
        NAMES, "arn:aws:s3:::l", "access-logs/", ["arn:aws:s3:::b"]
    )
    delivery = logs["Statement"][1]
    assert delivery["Resource"] == "arn:aws:s3:::l/access-logs/*"
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}


@given(st.lists(st.sampled_from(["b", "a", "c"]), min_size=1))
def test_to_json_is_canonical(arns: list[str]) -> None:
    first = documents.to_json(role_policy(grader_arns=arns))
    second = documents.to_json(role_policy(grader_arns=list(reversed(arns))))
    assert first == second
    assert json.loads(first)["Version"] == "2012-10-17"


def test_statement_purposes_ignore_a_trailing_index() -> None:
    assert documents.statement_purpose("InvokeJudgeModel1") == documents.statement_purpose(
        "InvokeJudgeModel"
    )
    assert documents.statement_purpose("SomethingNobodyWrote") is None
    # A digit that belongs to the Sid is not an index.
    assert documents.statement_purpose("UseStackKeyThroughS3") is not None


TOPIC = "arn:aws:sns:us-east-1:111122223333:rft-env-dev-notifications"
RULE = "arn:aws:events:us-east-1:111122223333:rule/rft-env-dev-job-state"
ALARMS = [
    "arn:aws:cloudwatch:us-east-1:111122223333:alarm:rft-env-dev-grader-a-throttles",
    "arn:aws:cloudwatch:us-east-1:111122223333:alarm:rft-env-dev-grader-a-errors",
]


def test_key_policy_lets_publishers_encrypt_for_the_topic_only() -> None:
    without = key_policy(logged_bucket_arns=["arn:aws:s3:::b"])
    with_topic = key_policy(logged_bucket_arns=["arn:aws:s3:::b"], notification_topic_arn=TOPIC)
    # Appended: the existing statements keep their Sids and order.
    assert with_topic["Statement"][: len(without["Statement"])] == without["Statement"]
    added = with_topic["Statement"][len(without["Statement"]) :]
    assert [s["Sid"] for s in added] == [
        "EventBridgeEncryptsJobNotifications",
        "CloudWatchEncryptsAlarmNotifications",
    ]
    assert [s["Principal"] for s in added] == [
        {"Service": "events.amazonaws.com"},
        {"Service": "cloudwatch.amazonaws.com"},
    ]
    for statement in added:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {
            "StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": TOPIC}
        }
        assert documents.statement_purpose(statement["Sid"])


def test_topic_policy_admits_this_stacks_rule_and_alarms_over_tls_only() -> None:
    policy = documents.notification_topic_policy(NAMES, TOPIC, rule_arn=RULE, alarm_arns=ALARMS)
    events, alarms, deny = policy["Statement"]
    assert sids(policy) == [
        "EventBridgePublishesJobEvents",
        "CloudWatchPublishesGraderAlarms",
        "DenyInsecureTopicTransport",
    ]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert (events["Action"], events["Resource"]) == ("sns:Publish", TOPIC)
    assert events["Condition"] == {"ArnEquals": {"aws:SourceArn": RULE}}
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert (alarms["Action"], alarms["Resource"]) == ("sns:Publish", TOPIC)
    assert alarms["Condition"] == {
        "ArnEquals": {"aws:SourceArn": sorted(ALARMS)},
        "StringEquals": {"aws:SourceAccount": "111122223333"},
    }
    assert deny == {
        "Sid": "DenyInsecureTopicTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:*",
        "Resource": TOPIC,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert all(documents.statement_purpose(sid) for sid in sids(policy))
    # Without alarms, CloudWatch gets nothing.
    bare = documents.notification_topic_policy(NAMES, TOPIC, rule_arn=RULE, alarm_arns=[])
    assert sids(bare) == ["EventBridgePublishesJobEvents", "DenyInsecureTopicTransport"]


JUDGE_FORMS = [
    "amazon.nova-pro-v1:0",
    "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0",
    "us.amazon.nova-pro-v1:0",
    "us-gov.amazon.nova-pro-v1:0",
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "apac.amazon.nova-pro-v1:0",
    "jp.amazon.nova-pro-v1:0",
    "au.amazon.nova-pro-v1:0",
    "ca.amazon.nova-pro-v1:0",
    "global.anthropic.claude-sonnet-4-20250514-v1:0",
    "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.amazon.nova-pro-v1:0",
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123def456",
]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize("model_id", JUDGE_FORMS)
@pytest.mark.parametrize("region", [None, "us-west-2"])
def test_judge_statements_name_the_arns_the_one_function_decides(
    model_id: str, region: str | None
) -> None:
    decided = judge_model(model_id, region=region or "us-east-1", account_id="111122223333")
    statements = documents.judge_model_statements(NAMES, model_id, region)
    assert all(s["Action"] == "bedrock:InvokeModel" for s in statements)
    assert all(documents.statement_purpose(s["Sid"]) for s in statements)
    if not decided.is_profile:
        assert statements == [
            {
                "Sid": "InvokeJudgeModel",
                "Effect": "Allow",
                "Action": "bedrock:InvokeModel",
                "Resource": decided.arn,
            }
        ]
        return
    profile, through = statements
    assert profile["Resource"] == decided.arn
    assert "Condition" not in profile
    assert sorted(_as_list(through["Resource"])) == sorted(decided.routes_to)
    # The models are reachable only through that profile.
    assert through["Condition"] == {"ArnEquals": {"bedrock:InferenceProfileArn": decided.arn}}


def test_judge_statements_refuse_what_the_grader_refuses() -> None:
    with pytest.raises(ModelIdError, match="'sa' is not an inference profile prefix"):
        documents.judge_model_statements(NAMES, "sa.amazon.nova-pro-v1:0")
