"""Diff classifies changes like pulumi-aws: what forces a new resource replaces it, the rest
updates it in place; computed outputs are never compared; a replacement that keeps its
physical id deletes the old resource first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Graph
from tests.standin_aws import wire
from tests.standin_aws.provider import DiffKind, DiffResult
from tests.standin_aws.resources import SPECS
from tests.standin_aws_test.conftest import Deployment, MakeDeployment, to_wire


class Deployed:
    """One real resource of a stack, created, ready to be diffed against new inputs."""

    def __init__(self, deployment: Deployment, res: dict[str, Any]) -> None:
        self.deployment = deployment
        self.res = res
        check = deployment.check(res)
        self.old_inputs = check.inputs
        self.id, self.outputs = deployment.provider.create(res["urn"], check.inputs)

    def diff(self, **changes: Any) -> DiffResult:
        news = {**self.old_inputs, **changes}
        news = {k: v for k, v in news.items() if v is not None}
        checked = self.deployment.provider.check(self.res["urn"], self.old_inputs, news)
        assert checked.failures == [], checked.failures
        return self.deployment.provider.diff(
            self.res["urn"], self.id, self.outputs, checked.inputs, self.old_inputs
        )


def deployed(
    graphs: dict[str, Graph], deploy: MakeDeployment, type_: str, stack: str = "dev"
) -> Deployed:
    graph = graphs[stack]
    target = graph.of_type(type_)[0]
    deployment = deploy(stack)
    deployment.create_all(until=target["urn"])
    deployment.provider.delete(target["urn"], target["id"], {}, to_wire(target["inputs"]))
    return Deployed(deployment, target)


def test_nothing_changed_is_no_diff(graphs: dict[str, Graph], deploy: MakeDeployment) -> None:
    result = deployed(graphs, deploy, "aws:lambda/function:Function").diff()
    assert not result.changes and result.detailed == {}


@pytest.mark.parametrize(
    ("type_", "changes", "expected"),
    [
        ("aws:s3/bucket:Bucket", {"forceDestroy": False}, {"forceDestroy": DiffKind.UPDATE}),
        ("aws:iam/role:Role", {"description": "changed"}, {"description": DiffKind.UPDATE}),
        (
            "aws:lambda/function:Function",
            {"timeout": 60.0, "memorySize": 256.0},
            {"timeout": DiffKind.UPDATE, "memorySize": DiffKind.UPDATE},
        ),
        (
            "aws:cloudwatch/logGroup:LogGroup",
            {"retentionInDays": 7.0},
            {"retentionInDays": DiffKind.UPDATE},
        ),
        ("aws:kms/key:Key", {"description": "changed"}, {"description": DiffKind.UPDATE}),
        ("aws:kms/alias:Alias", {"targetKeyId": "other-key"}, {"targetKeyId": DiffKind.UPDATE}),
        ("aws:s3/bucketPolicy:BucketPolicy", {"policy": "{}"}, {"policy": DiffKind.UPDATE}),
        (
            "aws:cloudwatch/dashboard:Dashboard",
            {"dashboardBody": "{}"},
            {"dashboardBody": DiffKind.UPDATE},
        ),
        ("aws:sns/topic:Topic", {"displayName": "x"}, {"displayName": DiffKind.UPDATE}),
        ("aws:iam/role:Role", {"maxSessionDuration": 7200.0}, {"maxSessionDuration": DiffKind.ADD}),
        ("aws:iam/role:Role", {"description": None}, {"description": DiffKind.DELETE}),
    ],
)
def test_other_changes_update_in_place(
    type_: str,
    changes: dict[str, Any],
    expected: dict[str, DiffKind],
    graphs: dict[str, Graph],
    deploy: MakeDeployment,
) -> None:
    result = deployed(graphs, deploy, type_).diff(**changes)
    assert result.detailed == expected
    assert result.replaces == [] and not result.delete_before_replace


@pytest.mark.parametrize(
    ("type_", "changes", "replaced", "delete_first"),
    [
        # A new physical name: the new one is made first, then the old one deleted.
        ("aws:s3/bucket:Bucket", {"bucket": "rft-env-dev-renamed"}, "bucket", False),
        ("aws:iam/role:Role", {"name": "rft-env-dev-renamed"}, "name", False),
        ("aws:iam/rolePolicy:RolePolicy", {"name": "renamed"}, "name", False),
        ("aws:lambda/function:Function", {"name": "rft-env-dev-renamed"}, "name", False),
        ("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/lambda/renamed"}, "name", False),
        ("aws:kms/alias:Alias", {"name": "alias/renamed"}, "name", False),
        ("aws:sns/topic:Topic", {"name": "renamed"}, "name", False),
        ("aws:cloudwatch/eventRule:EventRule", {"name": "renamed"}, "name", False),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", {"name": "renamed"}, "name", False),
        (
            "aws:cloudwatch/dashboard:Dashboard",
            {"dashboardName": "renamed"},
            "dashboardName",
            False,
        ),
        ("aws:s3/bucketObjectv2:BucketObjectv2", {"key": "datasets/renamed.jsonl"}, "key", False),
        # The same physical id: the old one must go first, or the new one collides with it.
        ("aws:iam/role:Role", {"path": "/rft/"}, "path", True),
        ("aws:kms/key:Key", {"keyUsage": "SIGN_VERIFY"}, "keyUsage", True),
        ("aws:lambda/function:Function", {"packageType": "Zip"}, "packageType", True),
        (
            "aws:cloudwatch/logGroup:LogGroup",
            {"logGroupClass": "INFREQUENT_ACCESS"},
            "logGroupClass",
            True,
        ),
    ],
)
def test_changes_that_force_a_new_resource_replace_it(
    type_: str,
    changes: dict[str, Any],
    replaced: str,
    delete_first: bool,
    graphs: dict[str, Graph],
    deploy: MakeDeployment,
) -> None:
    result = deployed(graphs, deploy, type_).diff(**changes)
    assert result.replaces == [replaced]
    assert result.detailed[replaced] in (DiffKind.UPDATE_REPLACE, DiffKind.ADD_REPLACE)
    assert result.delete_before_replace is delete_first


@pytest.mark.parametrize(
    "type_",
    [
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
    ],
)
def test_a_bucket_setting_moved_to_another_bucket_is_replaced(
    type_: str, graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    result = deployed(graphs, deploy, type_).diff(bucket="rft-env-dev-other")
    assert result.replaces == ["bucket"] and not result.delete_before_replace


def test_a_subscription_is_replaced_when_its_endpoint_or_protocol_changes(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    subscription = deployed(graphs, deploy, "aws:sns/topicSubscription:TopicSubscription", "prod")
    new_endpoint = subscription.diff(endpoint="someone-else@example.com")
    new_protocol = subscription.diff(protocol="email-json")

    assert new_endpoint.replaces == ["endpoint"] and not new_endpoint.delete_before_replace
    # The same topic and endpoint make the same subscription id.
    assert new_protocol.replaces == ["protocol"] and new_protocol.delete_before_replace


def test_new_object_content_updates_the_object(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    obj = deployed(graphs, deploy, "aws:s3/bucketObjectv2:BucketObjectv2")
    source = dict(obj.old_inputs["source"])
    # The engine sends assets to Diff without their contents: only the hash tells.
    same = {wire.SIGNATURE: wire.ASSET, "hash": source["hash"]}
    changed = {**source, "hash": "0" * 64}

    assert not obj.diff(source=same).changes
    assert obj.diff(source=changed).detailed == {"source": DiffKind.UPDATE}


def test_computed_outputs_and_secretness_are_not_compared(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    role = deployed(graphs, deploy, "aws:iam/role:Role")
    role.outputs["tagsAll"] = {"Somebody": "else"}
    role.outputs["arn"] = "arn:aws:iam::000000000000:role/other"

    assert not role.diff().changes
    assert not role.diff(description=wire.secret(role.old_inputs["description"])).changes


def test_unknown_inputs_are_changes_and_an_unknown_name_deletes_first(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    bucket = deployed(graphs, deploy, "aws:s3/bucket:Bucket")

    unknown_setting = bucket.diff(forceDestroy=wire.UNKNOWN)
    unknown_name = bucket.diff(bucket=wire.UNKNOWN)

    assert unknown_setting.detailed == {"forceDestroy": DiffKind.UPDATE}
    assert unknown_name.replaces == ["bucket"] and unknown_name.delete_before_replace


def test_ignored_changes_are_not_diffed(graphs: dict[str, Graph], deploy: MakeDeployment) -> None:
    role = deployed(graphs, deploy, "aws:iam/role:Role")
    news = {**role.old_inputs, "description": "changed"}
    result = role.deployment.provider.diff(
        role.res["urn"], role.id, role.outputs, news, role.old_inputs, ("description",)
    )
    assert not result.changes


def test_a_new_region_replaces_everything_and_other_provider_settings_update(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    provider = deploy("prod").provider
    graph = graphs["prod"]
    old = next(r for r in graph.resources if r["type"] == "pulumi:providers:aws")
    urn, olds = old["urn"], old["inputs"]

    region = provider.diff_config(urn, olds, {**olds, "region": "us-west-2"}, olds)
    tags = provider.diff_config(urn, olds, {**olds, "defaultTags": '{"tags": {}}'}, olds)
    version = provider.diff_config(
        urn, {**olds, "version": "7.0.0"}, {**olds, "version": "7.51.1"}, olds
    )

    assert region.replaces == ["region"]
    assert tags.detailed == {"defaultTags": DiffKind.UPDATE} and tags.replaces == []
    assert not version.changes


@pytest.mark.parametrize("type_", sorted(SPECS))
def test_every_input_an_id_derives_from_forces_a_replacement(type_: str) -> None:
    # Update relies on it: an update never changes a resource's id.
    spec = SPECS[type_]
    assert set(spec.derived_from) <= spec.replace_on_change
