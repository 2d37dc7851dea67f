"""The resource types the stand-in implements, and what it knows about each.

Per type: which input pulumi-aws autonames, which inputs are required, which force a
replacement, which inputs the id and computed outputs derive from (rftenv.synth's
SynthMocks computes them), where names are unique, and what the resource lives in.

Sources: required inputs are pulumi-aws's (the `*Args` of the installed pulumi_aws SDK,
checked by tests/standin_aws_test) plus those AWS requires (botocore's `required` and
documented conditions, cited where they are added). Replacement properties are the
terraform-provider-aws `ForceNew` arguments pulumi-aws inherits, plus v7's per-resource
`region`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tests.standin_aws import wire
from tests.standin_aws.limits import property_limits


class Scope(Enum):
    """Where a physical name must be unique."""

    PARTITION = "partition"  # S3 bucket names, shared by every account
    ACCOUNT = "account"  # IAM, CloudWatch dashboards: global services
    REGION = "region"


@dataclass(frozen=True)
class Parent:
    """A resource that must exist first: `property` names it; `parent_id` turns the
    property's value into the parent's id (None: not one the stand-in can look up)."""

    type: str
    property: str
    parent_id: Callable[[str, str], str | None] = lambda value, _account: value


def _role_name_of_arn(value: str, account: str) -> str | None:
    # arn:aws:iam::111122223333:role/path/name; only a role of the same account is known.
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[4] != account or not parts[5].startswith("role/"):
        return None
    return parts[5].rsplit("/", 1)[-1]


def _key_id(value: str, _account: str) -> str | None:
    # A key id, or a key ARN (arn:aws:kms:region:account:key/<id>); an alias is not a key.
    if value.startswith("alias/") or ":alias/" in value:
        return None
    return value.rsplit("key/", 1)[-1]


@dataclass(frozen=True)
class ResourceSpec:
    type: str
    scope: Scope
    required: tuple[str, ...] = ()
    autoname: str | None = None
    replace_on_change: frozenset[str] = frozenset()
    derived_from: tuple[str, ...] = ()
    taggable: bool = False
    json_documents: tuple[str, ...] = ()
    parent: Parent | None = None
    # The AWS error code a second create of the same name gets; None where AWS would
    # silently overwrite or return the existing resource (the stand-in refuses anyway:
    # two owners of one resource is what it exists to catch).
    duplicate_error: str | None = None
    extra_checks: tuple[Callable[[dict[str, Any]], list[tuple[str, str]]], ...] = ()

    def cloud_identity(self, resource_id: str, inputs: dict[str, Any]) -> str:
        """What is unique within the scope: the id, except for objects, whose id is their
        key, unique only within their bucket."""
        if self.type == S3_OBJECT:
            return f"{wire.plain(inputs.get('bucket'))}/{resource_id}"
        return resource_id


def _present(inputs: dict[str, Any], name: str) -> bool:
    return inputs.get(name) is not None


def _function_package(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """CreateFunction's conditional requirements (botocore CreateFunctionRequest
    documentation: "Runtime is required if the deployment package is a .zip file archive",
    likewise Handler; Code is required, as a zip (code or s3Bucket) or an image)."""
    package_type = wire.plain(inputs.get("packageType"))
    if wire.is_unknown(package_type):
        return []
    if package_type == "Image":
        if not _present(inputs, "imageUri"):
            return [("imageUri", "an Image function needs imageUri (Lambda CreateFunction Code)")]
        return []
    problems = [
        (
            name,
            f"a Zip function needs {name} (Lambda CreateFunction: {name.title()} is required "
            "if the deployment package is a .zip file archive)",
        )
        for name in ("runtime", "handler")
        if not _present(inputs, name)
    ]
    if not any(_present(inputs, name) for name in ("code", "s3Bucket", "imageUri")):
        problems.append(("code", "a function needs its code: code, or s3Bucket and s3Key"))
    return problems


def _rule_trigger(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    # PutRule: "Parameter(s) ScheduleExpression or EventPattern must be specified";
    # terraform-provider-aws declares them AtLeastOneOf.
    if _present(inputs, "eventPattern") or _present(inputs, "scheduleExpression"):
        return []
    return [
        (
            "eventPattern",
            "a rule needs an eventPattern or a scheduleExpression (EventBridge PutRule)",
        )
    ]


S3_BUCKET = "aws:s3/bucket:Bucket"
S3_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
IAM_ROLE = "aws:iam/role:Role"
KMS_KEY = "aws:kms/key:Key"
SNS_TOPIC = "aws:sns/topic:Topic"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"

_REGIONAL = frozenset({"region"})
_BUCKET_PARENT = Parent(S3_BUCKET, "bucket")


def _bucket_setting(type_: str, *required: str) -> ResourceSpec:
    return ResourceSpec(
        type=type_,
        scope=Scope.PARTITION,
        required=("bucket", *required),
        replace_on_change=frozenset({"bucket", "expectedBucketOwner"}) | _REGIONAL,
        derived_from=("bucket",),
        parent=_BUCKET_PARENT,
    )


SPECS: dict[str, ResourceSpec] = {
    spec.type: spec
    for spec in (
        ResourceSpec(
            type=S3_BUCKET,
            scope=Scope.PARTITION,
            autoname="bucket",
            replace_on_change=frozenset({"bucket", "bucketPrefix", "objectLockEnabled"})
            | _REGIONAL,
            derived_from=("bucket",),
            taggable=True,
            duplicate_error="BucketAlreadyExists",
        ),
        _bucket_setting("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"),
        _bucket_setting("aws:s3/bucketLogging:BucketLogging", "targetBucket", "targetPrefix"),
        _bucket_setting("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "rule"),
        ResourceSpec(
            type="aws:s3/bucketPolicy:BucketPolicy",
            scope=Scope.PARTITION,
            required=("bucket", "policy"),
            replace_on_change=frozenset({"bucket"}) | _REGIONAL,
            derived_from=("bucket",),
            json_documents=("policy",),
            parent=_BUCKET_PARENT,
        ),
        _bucket_setting("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"),
        _bucket_setting(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "rules",
        ),
        _bucket_setting("aws:s3/bucketVersioning:BucketVersioning", "versioningConfiguration"),
        ResourceSpec(
            type=S3_OBJECT,
            scope=Scope.PARTITION,
            required=("bucket", "key"),
            replace_on_change=frozenset({"bucket", "key"}) | _REGIONAL,
            derived_from=("bucket", "key"),
            taggable=True,
            parent=_BUCKET_PARENT,
        ),
        ResourceSpec(
            type=IAM_ROLE,
            scope=Scope.ACCOUNT,
            required=("assumeRolePolicy",),
            autoname="name",
            replace_on_change=frozenset({"name", "namePrefix", "path"}),
            derived_from=("name",),
            taggable=True,
            json_documents=("assumeRolePolicy",),
            duplicate_error="EntityAlreadyExists",
        ),
        ResourceSpec(
            type="aws:iam/rolePolicy:RolePolicy",
            scope=Scope.ACCOUNT,
            required=("role", "policy"),
            autoname="name",
            replace_on_change=frozenset({"role", "name", "namePrefix"}),
            derived_from=("role", "name"),
            json_documents=("policy",),
            parent=Parent(IAM_ROLE, "role"),
        ),
        ResourceSpec(
            type=KMS_KEY,
            scope=Scope.REGION,
            replace_on_change=frozenset(
                {"customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"}
            )
            | _REGIONAL,
            taggable=True,
            json_documents=("policy",),
            duplicate_error="AlreadyExistsException",
        ),
        ResourceSpec(
            type="aws:kms/alias:Alias",
            scope=Scope.REGION,
            # pulumi-aws would autoname it; the program always names it, and an alias
            # must start with alias/, which a logical name does not.
            required=("name", "targetKeyId"),
            replace_on_change=frozenset({"name", "namePrefix"}) | _REGIONAL,
            derived_from=("name",),
            parent=Parent(KMS_KEY, "targetKeyId", _key_id),
            duplicate_error="AlreadyExistsException",
        ),
        ResourceSpec(
            type="aws:lambda/function:Function",
            scope=Scope.REGION,
            required=("role",),
            autoname="name",
            replace_on_change=frozenset({"name", "packageType"}) | _REGIONAL,
            derived_from=("name",),
            taggable=True,
            parent=Parent(IAM_ROLE, "role", _role_name_of_arn),
            duplicate_error="ResourceConflictException",
            extra_checks=(_function_package,),
        ),
        ResourceSpec(
            type="aws:cloudwatch/logGroup:LogGroup",
            scope=Scope.REGION,
            autoname="name",
            replace_on_change=frozenset({"name", "namePrefix", "logGroupClass"}) | _REGIONAL,
            derived_from=("name",),
            taggable=True,
            duplicate_error="ResourceAlreadyExistsException",
        ),
        ResourceSpec(
            type=SNS_TOPIC,
            scope=Scope.REGION,
            autoname="name",
            replace_on_change=frozenset({"name", "namePrefix", "fifoTopic"}) | _REGIONAL,
            derived_from=("name",),
            taggable=True,
            json_documents=("policy",),
        ),
        ResourceSpec(
            type="aws:sns/topicPolicy:TopicPolicy",
            scope=Scope.REGION,
            required=("arn", "policy"),
            replace_on_change=frozenset({"arn"}) | _REGIONAL,
            derived_from=("arn",),
            json_documents=("policy",),
            parent=Parent(SNS_TOPIC, "arn"),
        ),
        ResourceSpec(
            type="aws:sns/topicSubscription:TopicSubscription",
            scope=Scope.REGION,
            required=("topic", "protocol", "endpoint"),
            replace_on_change=frozenset(
                {
                    "topic",
                    "protocol",
                    "endpoint",
                    "endpointAutoConfirms",
                    "confirmationTimeoutInMinutes",
                }
            )
            | _REGIONAL,
            derived_from=("topic", "endpoint", "protocol"),
            parent=Parent(SNS_TOPIC, "topic"),
        ),
        ResourceSpec(
            type=EVENT_RULE,
            scope=Scope.REGION,
            autoname="name",
            replace_on_change=frozenset({"name", "namePrefix", "eventBusName"}) | _REGIONAL,
            derived_from=("name",),
            taggable=True,
            json_documents=("eventPattern",),
            extra_checks=(_rule_trigger,),
        ),
        ResourceSpec(
            type="aws:cloudwatch/eventTarget:EventTarget",
            scope=Scope.REGION,
            required=("rule", "arn"),
            # pulumi-aws generates a target id when none is given; the stand-in uses the
            # logical name, which is what rftenv synth predicts.
            autoname="targetId",
            replace_on_change=frozenset({"rule", "targetId", "eventBusName"}) | _REGIONAL,
            derived_from=("rule", "targetId"),
            parent=Parent(EVENT_RULE, "rule"),
        ),
        ResourceSpec(
            type="aws:cloudwatch/metricAlarm:MetricAlarm",
            scope=Scope.REGION,
            # PutMetricAlarm rejects an alarm without them; pulumi-aws v7's SDK has them
            # optional.
            required=("comparisonOperator", "evaluationPeriods"),
            autoname="name",
            replace_on_change=frozenset({"name"}) | _REGIONAL,
            derived_from=("name",),
            taggable=True,
        ),
        # The next three: BROKEN_PROGRAM_TYPES.
        ResourceSpec(
            type="aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            scope=Scope.ACCOUNT,
            required=("role", "policyArn"),
            replace_on_change=frozenset({"role", "policyArn"}),
            parent=Parent(IAM_ROLE, "role"),
        ),
        ResourceSpec(
            type="aws:lambda/functionUrl:FunctionUrl",
            scope=Scope.REGION,
            required=("functionName", "authorizationType"),
            replace_on_change=frozenset({"functionName", "qualifier"}) | _REGIONAL,
        ),
        ResourceSpec(
            type="aws:lambda/permission:Permission",
            scope=Scope.REGION,
            required=("action", "function", "principal"),
            autoname="statementId",
            replace_on_change=frozenset(
                {"action", "function", "principal", "sourceArn", "sourceAccount", "statementId"}
            )
            | _REGIONAL,
        ),
        ResourceSpec(
            type="aws:cloudwatch/dashboard:Dashboard",
            scope=Scope.ACCOUNT,
            required=("dashboardName", "dashboardBody"),
            replace_on_change=frozenset({"dashboardName"}),
            derived_from=("dashboardName",),
            json_documents=("dashboardBody",),
        ),
    )
}


# Used only by the deliberately broken program of the policy tests
# (tests/policies/broken_program), which the engine must plan in full; no example stack
# has them.
BROKEN_PROGRAM_TYPES = frozenset(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:lambda/functionUrl:FunctionUrl",
        "aws:lambda/permission:Permission",
    }
)


class UnsupportedResourceType(LookupError):
    pass


def spec_for(resource_type: str) -> ResourceSpec:
    try:
        return SPECS[resource_type]
    except KeyError:
        raise UnsupportedResourceType(
            f"the stand-in aws provider (tests/standin_aws) does not implement resource type "
            f"{resource_type!r}; it implements only: {', '.join(sorted(SPECS))}"
        ) from None


def check_inputs(spec: ResourceSpec, inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """(property, reason) for every input AWS or pulumi-aws would refuse. Unknown values
    (previews) are never judged; secrets are judged but never shown."""
    problems: list[tuple[str, str]] = []
    for name in spec.required:
        if inputs.get(name) is None:
            problems.append((name, f"missing required property '{name}'"))
    if spec.autoname and _present(inputs, "namePrefix"):
        problems.append(("namePrefix", "namePrefix is not supported by the stand-in; set the name"))
    for name, limit in property_limits(spec.type).items():
        value = inputs.get(name)
        if value is None or wire.contains_unknown(value):
            continue
        problem = limit.problem(wire.plain(value))
        if problem:
            problems.append((name, f"{name} {wire.shown(value)} {problem}"))
    for name in spec.json_documents:
        value = inputs.get(name)
        if value is None or wire.contains_unknown(value):
            continue
        problem = _json_document_problem(wire.plain(value))
        if problem:
            problems.append((name, f"{name} {problem}"))
    # An unknown input counts as present: these checks only ask whether one is there.
    for extra_check in spec.extra_checks:
        problems.extend(extra_check(inputs))
    return problems


def _json_document_problem(value: Any) -> str | None:
    # AWS parses policies, event patterns and dashboard bodies as JSON objects
    # (terraform-provider-aws validates them with StringIsJSON / ValidIAMPolicyJSON).
    if not isinstance(value, str):
        return "must be a JSON document in a string"
    try:
        parsed = json.loads(value)
    except ValueError as error:
        return f"is not valid JSON: {error}"
    if not isinstance(parsed, dict):
        return "must be a JSON object"
    return None
