"""Graph-wide assertions over the whole program, for every stack file in stacks/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rft_env.components.documents import WILDCARD_RESOURCE_ACTIONS
from rft_env.components.graders import GRADER_ARCHITECTURE, GRADER_HANDLER
from rft_env.components.naming import PRODUCTION_OUTPUT
from rft_env.components.tags import RESERVED_TAG_KEYS
from rft_env.graders.judge_models import judge_model
from tests.conftest import Graph
from tests.fakes import offline
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock

PROVIDER = "pulumi:providers:aws"
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def key_arn(graph: Graph) -> str:
    return graph.outputs["keyArn"]


# --- providers and tags -------------------------------------------------------------------
def test_every_aws_resource_uses_the_explicit_provider(graph: Graph) -> None:
    providers = graph.of_type(PROVIDER)
    assert len(providers) == 1
    reference = f"{providers[0]['urn']}::{providers[0]['id']}"
    offenders = [r["urn"] for r in graph.aws() if r["provider"] != reference]
    assert offenders == []
    assert sum(1 for _ in graph.aws()) > 20


def test_provider_is_pinned_to_the_stack_account_and_region(graph: Graph) -> None:
    inputs = graph.of_type(PROVIDER)[0]["inputs"]
    account = graph.config.account
    assert json.loads(inputs["allowedAccountIds"]) == [account.id]
    assert inputs["region"] == graph.config.region
    assume_roles = json.loads(inputs.get("assumeRoles", "null"))
    if account.deployment_role_arn:
        # camelCase keys: a snake_case dict would reach the provider untranslated.
        assert assume_roles[0]["roleArn"] == account.deployment_role_arn
        assert assume_roles[0]["sessionName"] == f"rft-env-{graph.stack}"
        assert assume_roles[0].get("externalId") == account.external_id
    else:
        assert not assume_roles


def test_provider_default_tags_carry_the_required_tags(graph: Graph) -> None:
    tags = json.loads(graph.of_type(PROVIDER)[0]["inputs"]["defaultTags"])["tags"]
    assert set(RESERVED_TAG_KEYS) <= set(tags)
    assert tags["Environment"] == graph.config.environment
    assert tags["Stack"] == graph.stack
    assert tags["Project"] == "rft-env"
    for key, value in graph.config.tags.items():
        assert tags[key] == value


def test_every_stack_file_disables_the_default_aws_provider() -> None:
    from rft_env.rftenv import stack_files

    for stack in stack_files.available_stacks():
        config = stack_files.engine_config(stack)
        assert json.loads(config["pulumi:disable-default-providers"]) == ["aws"], stack


# --- components -----------------------------------------------------------------------------
def test_components_follow_pulumi_conventions(graph: Graph) -> None:
    components = [r for r in graph.resources if r["type"].startswith("rftenv:")]
    assert {c["type"] for c in components} >= {
        "rftenv:index:RftEnvironment",
        "rftenv:security:EncryptionKey",
        "rftenv:storage:DataBuckets",
        "rftenv:graders:GraderFunction",
        "rftenv:iam:CustomizationRole",
        "rftenv:bedrock:RftTraining",
        "rftenv:observability:Observability",
    }
    for component in components:
        assert re.fullmatch(r"[a-z]+:[a-z]+:[A-Z][A-Za-z]+", component["type"])
    # Every AWS resource is the child of a component, never loose in the stack.
    for resource in graph.aws():
        assert resource["parent"] in graph.by_urn, resource["urn"]
        parent = graph.by_urn[resource["parent"]]
        assert parent["type"].startswith("rftenv:"), resource["urn"]
        assert resource["name"].startswith(parent["name"] + "-"), resource["urn"]


# --- encryption, public access, TLS ----------------------------------------------------------
def test_the_key_rotates_and_has_the_configured_deletion_window(graph: Graph) -> None:
    keys = graph.of_type(KEY)
    assert len(keys) == 1
    key = keys[0]
    assert key["inputs"]["enableKeyRotation"] is True
    assert key["inputs"]["deletionWindowInDays"] == graph.config.kms.deletion_window_days
    alias = graph.of_type("aws:kms/alias:Alias")[0]
    assert alias["inputs"]["name"] == f"alias/rft-env-{graph.config.environment}"
    assert alias["inputs"]["targetKeyId"] == key["outputs"]["keyId"]


def test_key_policy_has_no_open_principal_and_no_kms_star(graph: Graph) -> None:
    policy = graph.policy(graph.of_type(KEY)[0])
    for statement in statements(policy):
        assert statement["Principal"] != "*"
        assert statement["Principal"] != {"AWS": "*"}
        assert "kms:*" not in as_list(statement["Action"])
        if statement["Sid"] != "AccountAdministersKey":
            # Use of the key is always scoped by a condition.
            assert statement.get("Condition"), statement["Sid"]
    admin = next(s for s in statements(policy) if s["Sid"] == "AccountAdministersKey")
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{graph.config.account.id}:root"}
    assert "kms:PutKeyPolicy" in admin["Action"]
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:CreateGrant"} & set(admin["Action"])


def test_key_use_is_limited_to_this_stacks_roles_through_services(graph: Graph) -> None:
    policy = graph.policy(graph.of_type(KEY)[0])
    role_arn = graph.outputs["customizationRoleArn"]
    usage = [s for s in statements(policy) if s["Principal"].get("AWS")]
    for statement in usage:
        if statement["Sid"] == "AccountAdministersKey":
            continue
        principals = statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]
        assert all(p.startswith(f"arn:aws:iam::{graph.config.account.id}:") for p in principals)
        via = as_list(statement["Condition"]["StringEquals"]["kms:ViaService"])
        assert via and all(v.endswith(f".{graph.config.region}.amazonaws.com") for v in via)
    for sid in ("BedrockRoleUsesKeyThroughS3", "BedrockRoleUsesKeyThroughBedrock"):
        bedrock = next(s for s in usage if s["Sid"] == sid)
        assert bedrock["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [role_arn]
    # Through S3, the key works only for objects in the stack's own buckets.
    through_s3 = next(s for s in usage if s["Sid"] == "BedrockRoleUsesKeyThroughS3")
    buckets = {graph.outputs["dataBucket"], graph.outputs["outputBucket"]}
    context = through_s3["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    assert {arn.removeprefix("arn:aws:s3:::").removesuffix("/*") for arn in context} == buckets


def test_every_bucket_is_kms_encrypted_private_versioned_and_tls_only(graph: Graph) -> None:
    buckets = graph.of_type(BUCKET)
    assert len(buckets) == 3
    for bucket in buckets:
        name = bucket["id"]
        sse = graph.for_bucket(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            name,
        )["inputs"]["rules"][0]
        assert sse["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": key_arn(graph),
        }
        assert sse["bucketKeyEnabled"] is True
        block = graph.for_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name)[
            "inputs"
        ]
        for setting in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        ):
            assert block[setting] is True, (name, setting)
        ownership = graph.for_bucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls", name)
        assert ownership["inputs"]["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        versioning = graph.for_bucket("aws:s3/bucketVersioning:BucketVersioning", name)
        assert versioning["inputs"]["versioningConfiguration"]["status"] == "Enabled"
        lifecycle = graph.for_bucket(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", name
        )
        assert any(
            rule.get("noncurrentVersionExpiration", {}).get("noncurrentDays", 0) > 0
            for rule in lifecycle["inputs"]["rules"]
        )
        policy = graph.policy(graph.for_bucket("aws:s3/bucketPolicy:BucketPolicy", name))
        deny = next(s for s in statements(policy) if s["Sid"] == "DenyInsecureTransport")
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert set(deny["Resource"]) == {bucket["outputs"]["arn"], bucket["outputs"]["arn"] + "/*"}
        # Nothing but S3's own log delivery is ever allowed by a bucket policy.
        for statement in statements(policy):
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
                assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == (
                    graph.config.account.id
                )


def test_data_and_output_buckets_log_access_to_the_log_bucket(graph: Graph) -> None:
    logs = graph.outputs["logBucket"]
    logged = {r["inputs"]["bucket"]: r for r in graph.of_type("aws:s3/bucketLogging:BucketLogging")}
    assert set(logged) == {graph.outputs["dataBucket"], graph.outputs["outputBucket"]}
    for bucket, logging in logged.items():
        assert logging["inputs"]["targetBucket"] == logs
        assert logging["inputs"]["targetPrefix"] == f"access-logs/{bucket}/"
    # The log bucket lets S3 logging write for exactly these source buckets.
    log_policy = graph.policy(graph.for_bucket("aws:s3/bucketPolicy:BucketPolicy", logs))
    delivery = next(s for s in statements(log_policy) if s["Sid"] == "S3ServerAccessLogDelivery")
    assert sorted(delivery["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        f"arn:aws:s3:::{b}" for b in logged
    )


def test_uploaded_datasets_are_encrypted_with_the_stack_key(graph: Graph) -> None:
    objects = graph.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    local = [p for p in ("training", "validation") if graph.config.dataset(p) is not None]
    assert len(objects) == len(local)
    for obj in objects:
        assert obj["inputs"]["serverSideEncryption"] == "aws:kms"
        assert obj["inputs"]["kmsKeyId"] == key_arn(graph)
        assert obj["inputs"]["bucket"] == graph.outputs["dataBucket"]
        assert obj["inputs"]["source"]["$asset"].startswith("stacks/data/")  # relative
    for purpose in local:
        report = graph.config.dataset(purpose)
        assert report is not None
        # The object key carries the content hash: new data, new key.
        assert report.sha256[:16] in graph.outputs[f"{purpose}DataUri"]


# --- IAM ------------------------------------------------------------------------------------
def customization_role(graph: Graph) -> dict[str, Any]:
    return graph.one(ROLE, "rft-customization-role")


def customization_policy(graph: Graph) -> dict[str, Any]:
    return graph.policy(graph.one(ROLE_POLICY, "rft-customization-policy"))


def test_bedrock_trust_carries_confused_deputy_conditions(graph: Graph) -> None:
    trust = graph.policy(customization_role(graph), "assumeRolePolicy")
    (statement,) = statements(trust)
    account, region = graph.config.account.id, graph.config.region
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnEquals": {
            "aws:SourceArn": f"arn:aws:bedrock:{region}:{account}:model-customization-job/*"
        },
    }


def test_bedrock_role_invokes_exactly_the_job_grader(graph: Graph) -> None:
    functions = {f["inputs"]["name"]: f for f in graph.of_type(FUNCTION)}
    job_grader = f"rft-env-{graph.config.environment}-grader-{graph.config.job.grader}"
    invoke = [
        s
        for s in statements(customization_policy(graph))
        if "lambda:InvokeFunction" in as_list(s["Action"])
    ]
    assert len(invoke) == 1
    assert as_list(invoke[0]["Resource"]) == [functions[job_grader]["outputs"]["arn"]]
    assert graph.outputs["jobGraderArn"] == functions[job_grader]["outputs"]["arn"]


def test_role_policies_grant_no_wildcard_actions(graph: Graph) -> None:
    for resource in graph.of_type(ROLE_POLICY):
        for statement in statements(graph.policy(resource)):
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (resource["name"], action)


def test_wildcard_resources_only_where_the_api_offers_nothing_narrower(graph: Graph) -> None:
    for resource in graph.of_type(ROLE_POLICY):
        for statement in statements(graph.policy(resource)):
            if "*" in as_list(statement["Resource"]):
                assert statement["Sid"] == "DescribeNetwork", (resource["name"], statement["Sid"])
                assert set(as_list(statement["Action"])) <= set(WILDCARD_RESOURCE_ACTIONS)


def test_bedrock_role_reads_data_and_writes_output_under_prefixes(graph: Graph) -> None:
    policy = {s["Sid"]: s for s in statements(customization_policy(graph))}
    reads = set(as_list(policy["ReadTrainingDataObjects"]["Resource"]))
    expected = {
        "arn:aws:s3:::" + graph.outputs[f"{p}DataUri"].removeprefix("s3://")
        for p in ("training", "validation")
        if f"{p}DataUri" in graph.outputs
    }
    assert reads == expected
    output = graph.outputs["outputBucket"]
    assert policy["WriteOutput"]["Resource"] == f"arn:aws:s3:::{output}/rft-output/*"
    assert policy["ListOutput"]["Condition"] == {"StringLike": {"s3:prefix": "rft-output/*"}}
    assert policy["UseStackKeyThroughS3"]["Resource"] == key_arn(graph)
    assert policy["UseStackKeyThroughBedrock"]["Resource"] == key_arn(graph)
    assert policy["GrantStackKeyToBedrock"]["Condition"]["Bool"] == {
        "kms:GrantIsForAWSResource": "true"
    }


def test_vpc_statements_exist_only_with_a_vpc(graph: Graph) -> None:
    sids = {s["Sid"] for s in statements(customization_policy(graph))}
    vpc_sids = {
        "DescribeNetwork",
        "CreateJobNetworkInterface",
        "CreateNetworkInterfaceInJobSubnets",
        "ManageJobNetworkInterfaces",
        "TagJobNetworkInterfaces",
    }
    if graph.config.vpc is None:
        assert not sids & vpc_sids
    else:
        assert vpc_sids <= sids
        subnets = next(
            s
            for s in statements(customization_policy(graph))
            if s["Sid"] == "ManageJobNetworkInterfaces"
        )["Condition"]["ArnEquals"]["ec2:Subnet"]
        assert sorted(s.rsplit("/", 1)[1] for s in subnets) == sorted(graph.config.vpc.subnet_ids)


# --- graders --------------------------------------------------------------------------------
def test_one_grader_function_per_configured_grader(graph: Graph) -> None:
    functions = {f["inputs"]["name"]: f for f in graph.of_type(FUNCTION)}
    env = graph.config.environment
    assert set(functions) == {f"rft-env-{env}-grader-{g}" for g in graph.config.graders}
    for grader, settings in graph.config.graders.items():
        function = functions[f"rft-env-{env}-grader-{grader}"]["inputs"]
        assert function["architectures"] == [GRADER_ARCHITECTURE]
        assert re.fullmatch(r"python3\.1[2-9]", function["runtime"])
        assert function["handler"] == GRADER_HANDLER
        assert function["timeout"] == settings.timeout_seconds > 3
        assert function["memorySize"] == settings.memory_mb
        assert json.loads(function["environment"]["variables"]["GRADER_SPEC"]) == settings.spec
        assert function["loggingConfig"]["logGroup"] == f"/aws/lambda/rft-env-{env}-grader-{grader}"
        archive = function["code"]["$archive"]
        assert archive["graders/handler.py"]["$asset"] == "graders/handler.py"
        # Relative paths: state must not depend on where the project is checked out.
        assert not any(a["$asset"].startswith("/") for a in archive.values())


def test_grader_logs_are_encrypted_and_retained(graph: Graph) -> None:
    groups = graph.of_type(LOG_GROUP)
    assert len(groups) == len(graph.config.graders)
    for group in groups:
        assert group["inputs"]["kmsKeyId"] == key_arn(graph)
        assert group["inputs"]["retentionInDays"] == graph.config.log_retention_days


def test_grader_roles_write_their_own_logs_and_invoke_only_their_judge(graph: Graph) -> None:
    groups = {g["name"].removesuffix("-logs"): g for g in graph.of_type(LOG_GROUP)}
    for component, group in groups.items():
        policy = graph.policy(graph.one(ROLE_POLICY, f"{component}-logs-policy"))
        logs, *others = statements(policy)
        assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert logs["Resource"] == group["outputs"]["arn"] + ":log-stream:*"
        spec = graph.config.graders[component.removeprefix("rft-grader-")].spec
        if spec["type"] != "llm_judge":
            assert others == []
            continue
        # An inference profile: the profile, and its model only through that profile.
        profile, model = others
        assert profile["Action"] == model["Action"] == "bedrock:InvokeModel"
        assert profile["Resource"].endswith(f":inference-profile/{spec['modelId']}")
        assert model["Resource"] == "arn:aws:bedrock:*::foundation-model/" + spec["modelId"][3:]
        assert model["Condition"] == {
            "ArnEquals": {"bedrock:InferenceProfileArn": profile["Resource"]}
        }
        # The ARNs the grader's own validation decides on (one function for both).
        decided = judge_model(
            spec["modelId"], region=graph.config.region, account_id=graph.config.account.id
        )
        assert (profile["Resource"], (model["Resource"],)) == (decided.arn, decided.routes_to)
        trust = graph.policy(graph.one(ROLE, f"{component}-role"), "assumeRolePolicy")
        assert statements(trust)[0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_graders_have_no_url_and_no_resource_policy(graph: Graph) -> None:
    types = {r["type"] for r in graph.resources}
    assert "aws:lambda/functionUrl:FunctionUrl" not in types
    assert "aws:lambda/permission:Permission" not in types


# --- protection and outputs -----------------------------------------------------------------
def test_production_protects_key_and_buckets(graph: Graph) -> None:
    protected = {r["type"] for r in graph.resources if r["protect"]}
    if graph.config.production:
        assert all(r["protect"] for r in graph.of_type(BUCKET))
        assert all(r["protect"] for r in graph.of_type(KEY))
        assert graph.config.kms.deletion_window_days == 30
        assert all(r["inputs"]["forceDestroy"] is False for r in graph.of_type(BUCKET))
    else:
        assert protected == set()


def test_stack_outputs(graph: Graph) -> None:
    outputs = graph.outputs
    for key in (
        "keyArn",
        "dataBucket",
        "outputBucket",
        "logBucket",
        "trainingDataUri",
        "outputDataUri",
        "customizationRoleArn",
        "graderFunctionArns",
        "graderRoleArns",
        "jobGraderArn",
        "notificationTopicArn",
        "dashboardName",
    ):
        assert outputs.get(key), key
    assert outputs["customizationRoleArn"] == customization_role(graph)["outputs"]["arn"]
    assert set(outputs["graderFunctionArns"]) == set(graph.config.graders)
    assert outputs["accountId"] == graph.config.account.id
    # The rollout gate reads whether a deployment was production from this output.
    assert outputs[PRODUCTION_OUTPUT] is graph.config.production


# --- the RFT job and inference (dynamic providers) -------------------------------------------
JOB = "pulumi-python:dynamic/bedrock:RftCustomizationJob"
THROUGHPUT = "pulumi-python:dynamic/bedrock:ProvisionedThroughput"
DEPLOYMENT = "pulumi-python:dynamic/bedrock:CustomModelDeployment"


def test_the_job_is_wired_to_the_stacks_role_grader_data_and_key(graph: Graph) -> None:
    (job,) = graph.of_type(JOB)
    inputs, config = job["inputs"], graph.config
    assert graph.by_urn[job["parent"]]["type"] == "rftenv:bedrock:RftTraining"
    assert inputs["__provider"]["bytes"] > 0  # the pickled provider travels with it
    assert inputs["connection"]["region"] == config.region
    assert inputs["connection"].get("roleArn") == config.account.deployment_role_arn
    assert inputs["serviceRoleArn"] == graph.outputs["customizationRoleArn"]
    assert inputs["graderArn"] == graph.outputs["jobGraderArn"]
    assert inputs["kmsKeyId"] == graph.outputs["keyArn"]
    assert inputs["trainingDataUri"] == graph.outputs["trainingDataUri"]
    assert inputs.get("validationDataUri") == graph.outputs.get("validationDataUri")
    assert inputs["outputDataUri"] == graph.outputs["outputDataUri"]
    assert inputs["hyperParameters"] == config.job.hyperparameters.api_shape()
    assert inputs["baseModelIdentifier"] == config.job.base_model
    assert inputs["wait"]["enabled"] is config.job.wait
    assert inputs["revision"] == config.job.revision
    tags = json.loads(graph.of_type(PROVIDER)[0]["inputs"]["defaultTags"])["tags"]
    assert inputs["jobTags"] == tags == inputs["modelTags"]
    if config.vpc:
        assert inputs["vpcConfig"]["subnetIds"] == config.vpc.subnet_ids
    else:
        assert "vpcConfig" not in inputs
    assert graph.outputs["jobArn"] == job["id"]


def test_production_retains_its_models_and_the_key_they_are_encrypted_with(graph: Graph) -> None:
    """A retrain replaces the job: in production that must never delete its model, so the
    job is retained on delete (not protected, which would refuse every retrain). A retained
    model stays encrypted with the stack key, so the key is retained with it: Pulumi never
    schedules it for deletion."""
    assert all(isinstance(r["retainOnDelete"], bool) for r in graph.resources)
    production = graph.config.production
    (job,) = graph.of_type(JOB)
    assert job["retainOnDelete"] is production and job["protect"] is False
    for key in graph.of_type(KEY):
        assert key["retainOnDelete"] is job["retainOnDelete"]
        if key["retainOnDelete"]:
            assert key["protect"] is True
    # Inference deletes a model it stops serving only when models are not retained.
    for resource in graph.of_type(THROUGHPUT) + graph.of_type(DEPLOYMENT):
        assert resource["inputs"]["retainModels"] is production
    retained = {r["type"] for r in graph.resources if r["retainOnDelete"]}
    assert retained == ({JOB, *(KEY for _ in graph.of_type(KEY))} if production else set())


def test_inference_follows_the_configured_mode(graph: Graph) -> None:
    mode = graph.config.inference.mode
    throughputs, deployments = graph.of_type(THROUGHPUT), graph.of_type(DEPLOYMENT)
    job_model = graph.outputs.get("customModelArn", "")
    if mode == "none":
        assert throughputs == deployments == []
        assert graph.outputs["inferenceStatus"].startswith("none")
        return
    (resource,) = throughputs if mode == "provisioned" else deployments
    assert not (throughputs and deployments)
    model_key = "modelId" if mode == "provisioned" else "modelArn"
    assert resource["inputs"].get(model_key, "") == job_model
    if mode == "provisioned":
        inference = graph.config.inference
        assert resource["inputs"]["modelUnits"] == inference.provisioned_model_units
        assert resource["inputs"]["commitment"] == inference.commitment
        assert resource["protect"] is (inference.commitment != "none")
    if graph.config.job.wait:
        assert graph.outputs["jobStatus"] == "Completed" and job_model
        assert graph.outputs["inferenceArn"] == resource["id"]
    else:
        # The job is still running: inference is a placeholder, and the output says so.
        assert graph.outputs["jobStatus"] == "InProgress" and job_model == ""
        assert resource["outputs"]["status"] == "PendingModel"
        assert resource["outputs"]["awaitingModel"] is False  # nothing served yet
        assert graph.outputs["inferenceStatus"].startswith("pending:")
        assert "pulumi up --refresh" in graph.outputs["inferenceStatus"]


def test_the_providers_accept_what_the_program_sends(graph: Graph) -> None:
    """`check` runs first under the real engine: the program's own inputs must pass it."""
    from rft_env.components.bedrock.inference import (
        CustomModelDeploymentProvider,
        ProvisionedThroughputProvider,
    )
    from rft_env.components.bedrock.job import RftCustomizationJobProvider

    providers = {
        JOB: RftCustomizationJobProvider(),
        THROUGHPUT: ProvisionedThroughputProvider(),
        DEPLOYMENT: CustomModelDeploymentProvider(),
    }
    checked = 0
    for type_, provider in providers.items():
        for resource in graph.of_type(type_):
            assert provider.check({}, resource["inputs"]).failures == [], resource["name"]
            checked += 1
    assert checked >= 1


# --- observability ---------------------------------------------------------------------------
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


def topic(graph: Graph) -> dict[str, Any]:
    (found,) = graph.of_type(TOPIC)
    return found


def test_observability_resources_exist_for_every_stack(graph: Graph) -> None:
    (component,) = graph.of_type("rftenv:observability:Observability")
    graders = len(graph.config.graders)
    expected = {
        TOPIC: 1,
        TOPIC_POLICY: 1,
        RULE: 1,
        TARGET: 1,
        ALARM: 3 * graders,
        DASHBOARD: 1,
        SUBSCRIPTION: len(set(graph.config.notification_emails)),
    }
    for type_, count in expected.items():
        found = graph.of_type(type_)
        assert len(found) == count, type_
        assert all(r["parent"] == component["urn"] for r in found), type_


def test_the_topic_is_encrypted_with_the_stack_key(graph: Graph) -> None:
    env, account = graph.config.environment, graph.config.account.id
    inputs = topic(graph)["inputs"]
    assert inputs["name"] == f"rft-env-{env}-notifications"
    assert inputs["kmsMasterKeyId"] == key_arn(graph)
    arn = f"arn:aws:sns:{graph.config.region}:{account}:rft-env-{env}-notifications"
    assert topic(graph)["outputs"]["arn"] == arn == graph.outputs["notificationTopicArn"]


def test_the_key_lets_only_the_publishers_encrypt_for_the_topic(graph: Graph) -> None:
    policy = graph.policy(graph.of_type(KEY)[0])
    listed = statements(policy)
    topic = graph.outputs["notificationTopicArn"]
    # With a promotion gate, the operators publish its verdict too (through SNS only).
    if graph.config.inference.promotion is not None:
        *listed, operators = listed
        deployer = graph.config.account.deployment_role_arn
        assert operators == {
            "Sid": "OperatorPublishesEvaluations",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{graph.config.account.id}:root"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {
                "ArnEquals": {
                    "aws:PrincipalArn": sorted([*graph.config.kms.key_user_arns, deployer])
                },
                "StringEquals": {
                    "kms:ViaService": "sns.us-east-1.amazonaws.com",
                    "kms:EncryptionContext:aws:sns:topicArn": topic,
                },
            },
        }
    *_, events, alarms = listed
    assert (events["Sid"], alarms["Sid"]) == (
        "EventBridgeEncryptsJobNotifications",
        "CloudWatchEncryptsAlarmNotifications",
    )
    for statement, service in ((events, "events"), (alarms, "cloudwatch")):
        assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
        assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {
            "StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": topic}
        }


def test_the_job_state_rule_matches_this_stacks_jobs(graph: Graph) -> None:
    (rule,) = graph.of_type(RULE)
    env = graph.config.environment
    assert rule["inputs"]["name"] == f"rft-env-{env}-job-state"
    assert rule["inputs"]["eventBusName"] == "default"
    assert json.loads(rule["inputs"]["eventPattern"]) == {
        "source": ["aws.bedrock"],
        "detail-type": ["Model Customization Job State Change"],
        "detail": {
            "jobName": [{"prefix": f"rft-env-{env}--rft-"}],
            "jobStatus": ["Completed", "Failed", "Stopped"],
        },
    }
    # The stack's own job is one of those the rule matches.
    assert graph.outputs["jobName"].startswith(f"rft-env-{env}--rft-")
    (target,) = graph.of_type(TARGET)
    assert target["inputs"]["rule"] == rule["inputs"]["name"]
    assert target["inputs"]["arn"] == graph.outputs["notificationTopicArn"]
    transformer = target["inputs"]["inputTransformer"]
    assert transformer["inputPaths"]["jobStatus"] == "$.detail.jobStatus"
    assert "<jobStatus>" in json.loads(transformer["inputTemplate"])


def test_the_job_starts_after_its_notifications_are_wired(graph: Graph) -> None:
    (job,) = graph.of_type(JOB)
    for resource in (graph.of_type(TOPIC_POLICY)[0], graph.of_type(TARGET)[0]):
        assert resource["urn"] in job["dependencies"]


def test_one_alarm_triple_per_grader(graph: Graph) -> None:
    env = graph.config.environment
    topic_arn = graph.outputs["notificationTopicArn"]
    alarms = {a["inputs"]["name"]: a["inputs"] for a in graph.of_type(ALARM)}
    for grader, settings in graph.config.graders.items():
        function = f"rft-env-{env}-grader-{grader}"
        for kind, metric, statistic, comparison, threshold in (
            ("errors", "Errors", "Sum", "GreaterThanThreshold", 0),
            ("throttles", "Throttles", "Sum", "GreaterThanThreshold", 0),
            (
                "duration",
                "Duration",
                "Maximum",
                "GreaterThanOrEqualToThreshold",
                settings.timeout_seconds * 800,  # 80% of the timeout, in ms
            ),
        ):
            alarm = alarms.pop(f"{function}-{kind}")
            assert alarm["namespace"] == "AWS/Lambda"
            assert alarm["metricName"] == metric
            assert alarm["statistic"] == statistic
            assert alarm["comparisonOperator"] == comparison
            assert alarm["threshold"] == threshold
            assert alarm["period"] == 300
            assert alarm["dimensions"] == {"FunctionName": function}
            assert alarm["alarmActions"] == alarm["okActions"] == [topic_arn]
            assert alarm["treatMissingData"] == "notBreaching"
    assert alarms == {}


def test_topic_policy_admits_exactly_this_stacks_rule_and_alarms(graph: Graph) -> None:
    (resource,) = graph.of_type(TOPIC_POLICY)
    topic_arn = graph.outputs["notificationTopicArn"]
    assert resource["inputs"]["arn"] == topic_arn
    by_sid = {s["Sid"]: s for s in statements(graph.policy(resource))}
    assert set(by_sid) == {
        "EventBridgePublishesJobEvents",
        "CloudWatchPublishesGraderAlarms",
        "DenyInsecureTopicTransport",
    }
    (rule,) = graph.of_type(RULE)
    events = by_sid["EventBridgePublishesJobEvents"]
    assert events["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["outputs"]["arn"]}}
    alarms = by_sid["CloudWatchPublishesGraderAlarms"]
    assert sorted(alarms["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        a["outputs"]["arn"] for a in graph.of_type(ALARM)
    )
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": graph.config.account.id}
    for statement in by_sid.values():
        assert statement["Resource"] == topic_arn
        if statement["Effect"] == "Allow":
            assert statement["Action"] == "sns:Publish"
    deny = by_sid["DenyInsecureTopicTransport"]
    assert (deny["Effect"], deny["Principal"]) == ("Deny", "*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_dashboard_shows_every_grader_and_alarm(graph: Graph) -> None:
    (dashboard,) = graph.of_type(DASHBOARD)
    env = graph.config.environment
    assert (
        dashboard["inputs"]["dashboardName"] == f"rft-env-{env}" == graph.outputs["dashboardName"]
    )
    body = json.loads(dashboard["inputs"]["dashboardBody"])
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        a["outputs"]["arn"] for a in graph.of_type(ALARM)
    )
    functions = {
        metric[3]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
    }
    assert functions == {f"rft-env-{env}-grader-{g}" for g in graph.config.graders}


def test_email_subscriptions_match_the_config(graph: Graph) -> None:
    subscriptions = graph.of_type(SUBSCRIPTION)
    assert sorted(s["inputs"]["endpoint"] for s in subscriptions) == sorted(
        set(graph.config.notification_emails)
    )
    for subscription in subscriptions:
        assert subscription["inputs"]["protocol"] == "email"
        assert subscription["inputs"]["topic"] == graph.outputs["notificationTopicArn"]


def test_synth_shows_the_job_the_provider_creates(
    graph: Graph, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Synth records the inputs as the engine delivers them (2 arrives as 2.0); the name,
    model name and client token it shows must be those the provider sends."""
    from rft_env.components.bedrock.job import RftCustomizationJobProvider

    (job,) = graph.of_type(JOB)
    hyper = job["inputs"]["hyperParameters"].values()
    assert any(isinstance(value, float) and value.is_integer() for value in hyper)
    clock = FakeClock()
    offline.offline_aws(monkeypatch, tmp_path, clock)
    with FakeBedrock(clock, account_id=graph.config.account.id) as fake:
        inputs = {
            **job["inputs"],
            "connection": {**job["inputs"]["connection"], "endpointUrl": fake.endpoint_url},
            "wait": {"enabled": False},
        }
        RftCustomizationJobProvider(clock=clock).create(inputs)
        ((_, sent),) = [call for call in fake.calls if call[0] == "CreateModelCustomizationJob"]
    assert sent["jobName"] == job["outputs"]["jobName"]
    assert sent["customModelName"] == job["outputs"]["customModelName"]
    assert sent["clientRequestToken"] == job["outputs"]["clientRequestToken"]
