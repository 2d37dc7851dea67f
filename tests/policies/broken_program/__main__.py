"""A deliberately broken rft-env stack: the real program for the stack's config, plus
resources that each break rules of the policy pack. `test_broken_stack.py` synthesizes it
and shows that the pack (through `rftenv audit`) blocks it, rule by rule."""

import json
import runpy
from pathlib import Path

import pulumi
import pulumi_aws as aws

from rft_env.components.bedrock.inference import InferenceArgs, ProvisionedThroughput
from rft_env.components.bedrock.job import RftCustomizationJob, RftCustomizationJobArgs
from rft_env.components.bedrock.session import Connection

PROJECT_DIR = Path(__file__).resolve().parents[3]
ACCOUNT = "777788889999"

# The compliant environment, exactly as `pulumi up` builds it.
runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")

# An explicit provider without default tags: everything on it misses the required tags.
untagged = pulumi.ResourceOptions(
    provider=aws.Provider("untagged", region="us-east-1", allowed_account_ids=[ACCOUNT])
)


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# A bucket with none of its guardrails: no SSE-KMS, public access, TLS, versioning, logs.
aws.s3.Bucket("loose-bucket", bucket="rft-env-broken-loose", opts=untagged)

# A key that does not rotate, can be deleted in a week, and lets anyone do anything.
aws.kms.Key(
    "careless-key",
    enable_key_rotation=False,
    deletion_window_in_days=7,
    policy=document({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}),
    opts=untagged,
)

# A role Bedrock may assume for anyone's jobs, with administrator rights three ways.
admin = aws.iam.Role(
    "admin-role",
    name="rft-env-broken-admin",
    assume_role_policy=document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ),
    opts=untagged,
)
aws.iam.RolePolicy(
    "admin-role-policy",
    role=admin.id,
    policy=document(
        {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "PassAnyRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
    ),
    opts=untagged,
)
aws.iam.RolePolicyAttachment(
    "admin-role-administrator",
    role=admin.name,
    policy_arn="arn:aws:iam::aws:policy/AdministratorAccess",
    opts=untagged,
)

# A function anyone can call, logging to a group Lambda would create unencrypted.
function = aws.lambda_.Function(
    "open-function",
    name="rft-env-broken-open",
    role=admin.arn,
    runtime="python3.13",
    handler="index.handler",
    code=pulumi.AssetArchive({"index.py": pulumi.StringAsset("def handler(e, c): return e")}),
    opts=untagged,
)
aws.lambda_.FunctionUrl(
    "open-function-url", function_name=function.name, authorization_type="NONE", opts=untagged
)
aws.lambda_.Permission(
    "open-function-invoke",
    function=function.name,
    action="lambda:InvokeFunction",
    principal="*",
    opts=untagged,
)
aws.cloudwatch.LogGroup("forever-logs", name="/rft-env/broken/forever", opts=untagged)

# A job encrypted with no stack key, run by a role from outside the stack.
connection = Connection(region="us-east-1")
RftCustomizationJob(
    "foreign-job",
    RftCustomizationJobArgs(
        connection=connection,
        identity="rft-env/broken/foreign-job",
        name_prefix="rft-env-broken",
        base_model="amazon.nova-2-lite-v1:0:256k",
        service_role_arn=f"arn:aws:iam::{ACCOUNT}:role/someone-elses-role",
        training_data_uri="s3://rft-env-broken-loose/train.jsonl",
        output_data_uri="s3://rft-env-broken-loose/output/",
        grader_arn=function.arn,
        hyper_parameters={"epochCount": 1},
    ),
)

# A month's commitment that one `pulumi destroy` could try to delete.
ProvisionedThroughput(
    "committed-throughput",
    InferenceArgs(
        connection=connection,
        identity="rft-env/broken/committed-throughput",
        name="rft-env-broken-pt",
        model_arn="",
        commitment="OneMonth",
    ),
)

# A role that another account (not in the stack's rft-env:crossAccount) may assume.
aws.iam.Role(
    "foreign-trusted-role",
    name="rft-env-broken-foreign-trust",
    assume_role_policy=document(
        {
            "Sid": "AttackerAssumes",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:role/attacker"},
            "Action": "sts:AssumeRole",
        }
    ),
    opts=untagged,
)

# A topic that stores its messages unencrypted.
aws.sns.Topic("plain-topic", opts=untagged)

# On the default provider, which every stack disables.
aws.sns.Topic("default-provider-topic")
