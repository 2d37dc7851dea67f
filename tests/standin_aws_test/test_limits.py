"""Check refuses what AWS or pulumi-aws would refuse, naming the property: each case is a
real resource of an example stack with one field broken."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Graph
from tests.standin_aws import StandinError, wire
from tests.standin_aws.limits import (
    PROSE_LIMITS,
    StringLimit,
    documentation,
    property_limits,
    shape,
)
from tests.standin_aws.resources import BROKEN_PROGRAM_TYPES, SPECS
from tests.standin_aws_test.conftest import MakeDeployment, to_wire


def real(graphs: dict[str, Graph], type_: str) -> dict[str, Any]:
    """The first resource of `type_` in any example stack, inputs in wire form."""
    for graph in graphs.values():
        found = graph.of_type(type_)
        if found:
            return {**found[0], "inputs": to_wire(found[0]["inputs"]), "stack": graph.stack}
    raise AssertionError(f"no example stack has a {type_}")


def failures_for(
    graphs: dict[str, Graph], deploy: MakeDeployment, type_: str, **changes: Any
) -> list[tuple[str, str]]:
    res = real(graphs, type_)
    inputs = {**res["inputs"], **changes}
    for name, value in changes.items():
        if value is DROP:
            del inputs[name]
    result = deploy(res["stack"]).check(res, inputs)
    return [(f.property, f.reason) for f in result.failures]


DROP = object()

BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALIAS = "aws:kms/alias:Alias"
KEY = "aws:kms/key:Key"
TOPIC = "aws:sns/topic:Topic"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"


def _max(service: str, name: str) -> int:
    return int(shape(service, name)["max"])


LIMIT_CASES = [
    # S3 bucket names: 3-63 lowercase letters, digits, dots, hyphens, alphanumeric ends.
    (BUCKET, "bucket", "ab", "3-63 characters"),
    (BUCKET, "bucket", "b" * 64, "3-63 characters"),
    (BUCKET, "bucket", "Rft-Env-Dev-Data", "lowercase"),
    (BUCKET, "bucket", "-rft-env-dev", "begin and end"),
    (BUCKET, "bucket", "rft..env", "adjacent periods"),
    (BUCKET, "bucket", "192.168.10.20", "IP address"),
    (BUCKET, "bucket", "xn--rft-env", "xn--"),
    (BUCKET, "bucket", "rft-env-s3alias", "-s3alias"),
    # IAM: role names 1-64 of [\w+=,.@-], role policy names 1-128.
    (ROLE, "name", "r" * 65, "at most 64"),
    (ROLE, "name", "rft env", r"[\w+=,.@-]+"),
    (ROLE_POLICY, "name", "p" * 129, "at most 128"),
    (ROLE_POLICY, "role", "r" * 65, "at most 64"),
    (ROLE, "assumeRolePolicy", "{not json", "not valid JSON"),
    # Lambda: names 1-64 of [a-zA-Z0-9-_]; timeout and memory from botocore's shapes.
    (FUNCTION, "name", "f" * 65, "at most 64"),
    (FUNCTION, "name", "rft.grader", "must match"),
    (FUNCTION, "timeout", 0.0, "at least 1"),
    (FUNCTION, "timeout", float(_max("lambda", "Timeout") + 1), "at most"),
    (FUNCTION, "timeout", 1.5, "whole number"),
    (FUNCTION, "memorySize", 127.0, "at least 128"),
    (FUNCTION, "memorySize", float(_max("lambda", "MemorySize") + 1), "at most"),
    (FUNCTION, "runtime", "python2.0", "must be one of"),
    # CloudWatch Logs: names 1-512 of [\.\-_/#A-Za-z0-9]; retention from the allowed list.
    (LOG_GROUP, "name", "/aws/lambda/rft env", "must match"),
    (LOG_GROUP, "name", "/" + "l" * 512, "at most 512"),
    (LOG_GROUP, "retentionInDays", 2.0, "must be one of"),
    # KMS: alias names under alias/ but not alias/aws/, up to 256 of [a-zA-Z0-9:/_-].
    (ALIAS, "name", "rft-env-dev", "begin with 'alias/'"),
    (ALIAS, "name", "alias/aws/rft-env-dev", "alias/aws/"),
    (ALIAS, "name", "alias/rft env", "must match"),
    (ALIAS, "name", "alias/" + "a" * 251, "at most 256"),
    (KEY, "deletionWindowInDays", 6.0, "at least 7"),
    (KEY, "deletionWindowInDays", 31.0, "at most 30"),
    # SNS topic names: 1-256 of [A-Za-z0-9_-] (.fifo for FIFO topics).
    (TOPIC, "name", "rft.env", "must match"),
    (TOPIC, "name", "t" * 257, "at most 256"),
    # EventBridge rule names and target ids: 1-64 of [\.\-_A-Za-z0-9].
    (RULE, "name", "r" * 65, "at most 64"),
    (RULE, "name", "rft env", "must match"),
    (RULE, "eventPattern", "[]", "JSON object"),
    (TARGET, "targetId", "t" * 65, "at most 64"),
    # CloudWatch alarms (names 1-255) and dashboards (1-255 of [A-Za-z0-9_-]).
    (ALARM, "name", "a" * 256, "at most 255"),
    (ALARM, "comparisonOperator", "Bigger", "must be one of"),
    (ALARM, "evaluationPeriods", 0.0, "at least 1"),
    (DASHBOARD, "dashboardName", "rft env", "must match"),
    (DASHBOARD, "dashboardName", "d" * 256, "at most 255"),
    (DASHBOARD, "dashboardBody", "widgets", "not valid JSON"),
    # S3 object keys: at least one character, at most 1,024 bytes.
    (OBJECT, "key", "", "at least 1"),
    (OBJECT, "key", "k" * 1025, "1024 bytes"),
]


@pytest.mark.parametrize(
    ("type_", "prop", "value", "reason"),
    LIMIT_CASES,
    ids=[f"{t.rsplit(':', 1)[1]}.{p}={str(v)[:12]}" for t, p, v, _ in LIMIT_CASES],
)
def test_a_limit_is_refused_naming_the_property(
    type_: str, prop: str, value: Any, reason: str, graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    assert failures_for(graphs, deploy, type_) == []  # the real resource passes

    failures = failures_for(graphs, deploy, type_, **{prop: value})

    assert [name for name, _ in failures] == [prop]
    assert failures[0][1].startswith(prop) and reason in failures[0][1], failures


# Each case starts from a real resource of an example stack (the broken program's types have
# none; the engine's policy test plans them).
REQUIRED_CASES = [
    (spec.type, prop)
    for spec in SPECS.values()
    if spec.type not in BROKEN_PROGRAM_TYPES
    for prop in spec.required
]


@pytest.mark.parametrize(("type_", "prop"), REQUIRED_CASES)
def test_a_missing_required_input_is_refused_naming_it(
    type_: str, prop: str, graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    failures = failures_for(graphs, deploy, type_, **{prop: DROP})
    assert (prop, f"missing required property '{prop}'") in failures


@pytest.mark.parametrize(
    ("changes", "prop"),
    [
        ({"runtime": DROP}, "runtime"),
        ({"handler": DROP}, "handler"),
        ({"code": DROP}, "code"),
        ({"packageType": "Image"}, "imageUri"),
    ],
)
def test_a_function_needs_what_its_package_type_needs(
    changes: dict[str, Any], prop: str, graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    assert prop in [name for name, _ in failures_for(graphs, deploy, FUNCTION, **changes)]


def test_a_rule_needs_an_event_pattern_or_a_schedule(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    assert [n for n, _ in failures_for(graphs, deploy, RULE, eventPattern=DROP)] == ["eventPattern"]
    assert (
        failures_for(graphs, deploy, RULE, eventPattern=DROP, scheduleExpression="rate(1 hour)")
        == []
    )


def test_an_unnamed_resource_is_named_after_its_logical_name_and_that_is_checked(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    res = real(graphs, ROLE)
    deployment = deploy(res["stack"])
    inputs = {k: v for k, v in res["inputs"].items() if k != "name"}

    named = deployment.provider.check(res["urn"], {}, inputs)
    badly_named = deployment.provider.check(res["urn"].replace("::rft-", "::rft "), {}, inputs)

    assert named.failures == [] and named.inputs["name"] == res["name"]
    assert [f.property for f in badly_named.failures] == ["name"]


def test_unknown_values_are_never_judged(graphs: dict[str, Graph], deploy: MakeDeployment) -> None:
    assert failures_for(graphs, deploy, BUCKET, bucket=wire.UNKNOWN) == []
    assert failures_for(graphs, deploy, ROLE, assumeRolePolicy=wire.UNKNOWN) == []
    assert failures_for(graphs, deploy, FUNCTION, timeout=wire.UNKNOWN, runtime=wire.UNKNOWN) == []
    assert failures_for(graphs, deploy, FUNCTION, packageType=wire.UNKNOWN) == []


def test_a_secret_value_is_judged_but_never_shown(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    failures = failures_for(graphs, deploy, BUCKET, bucket=wire.secret("Hidden_Bucket_Name"))
    assert [name for name, _ in failures] == ["bucket"]
    assert "Hidden_Bucket_Name" not in failures[0][1] and wire.REDACTED in failures[0][1]


def test_an_unsupported_type_fails_naming_the_type(deploy: MakeDeployment) -> None:
    provider = deploy().provider
    urn = "urn:pulumi:dev::rft-env::aws:ec2/instance:Instance::web"
    with pytest.raises(
        StandinError, match=r"does not implement resource type 'aws:ec2/instance:Instance'"
    ):
        provider.check(urn, {}, {"ami": "ami-123"})


@pytest.mark.parametrize("doc", PROSE_LIMITS, ids=lambda doc: f"{doc[0]}.{doc[1]}")
def test_botocore_still_documents_each_limit_copied_from_prose(
    doc: tuple[str, str, str | None, str],
) -> None:
    service, name, member, phrase = doc
    assert phrase in documentation(service, name, member)


def test_the_name_limits_are_botocores() -> None:
    expected = {
        (ROLE, "name"): ("iam", "roleNameType"),
        (ROLE_POLICY, "name"): ("iam", "policyNameType"),
        (LOG_GROUP, "name"): ("logs", "LogGroupName"),
        (RULE, "name"): ("events", "RuleName"),
        (ALARM, "name"): ("cloudwatch", "AlarmName"),
    }
    for (type_, prop), (service, name) in expected.items():
        limit = property_limits(type_)[prop]
        found = shape(service, name)
        assert isinstance(limit, StringLimit)
        assert (limit.max_length, limit.pattern) == (found["max"], found.get("pattern"))
    # The numbers the program's limits were written against, as botocore states them.
    assert [shape("iam", "roleNameType")["max"], shape("iam", "policyNameType")["max"]] == [64, 128]
    assert [shape("logs", "LogGroupName")["max"], shape("kms", "AliasNameType")["max"]] == [
        512,
        256,
    ]


def _pulumi_aws_required(type_: str) -> set[str]:
    """The required inputs of a type's args class in the installed pulumi_aws SDK (`<Name>Args`,
    or `<Name>InitArgs` where that name was taken), camelCased. Read from the source: importing
    pulumi_aws's modules takes seconds."""
    spec = importlib.util.find_spec("pulumi_aws")
    assert spec is not None and spec.submodule_search_locations
    package = type_.split(":")[1].split("/")[0]
    package_dir = Path(next(iter(spec.submodule_search_locations))) / (
        f"{package}_" if package == "lambda" else package
    )
    marker = f'@pulumi.type_token("{type_}")'
    source = next(path for path in package_dir.glob("*.py") if marker in path.read_text())
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name.endswith("Args"):
            init = next(
                n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"
            )
            arguments = zip(init.args.kwonlyargs, init.args.kw_defaults, strict=True)
            names = [argument.arg for argument, default in arguments if default is None]
            return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), n) for n in names}
    raise AssertionError(f"no args class in {source}")


@pytest.mark.parametrize("type_", sorted(SPECS))
def test_every_input_pulumi_aws_requires_is_required(type_: str) -> None:
    spec = SPECS[type_]
    assert _pulumi_aws_required(type_) <= set(spec.required) | {spec.autoname}
