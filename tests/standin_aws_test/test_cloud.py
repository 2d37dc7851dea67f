"""The fake cloud: what exists outlives the plugin process, a name can be taken once,
deletions are forgotten, refresh sees what happened outside Pulumi, and concurrent
writers (threads of one plugin, plugins of parallel stacks) lose nothing."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Graph
from tests.standin_aws import CloudStore, StandinAwsProvider, StandinError, load_cloud, wire
from tests.standin_aws.provider import ErrorKind
from tests.standin_aws_test.conftest import MakeDeployment, to_wire

BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"


def first(graph: Graph, type_: str) -> dict[str, Any]:
    return graph.of_type(type_)[0]


def provider_for(cloud: Path, account: str, region: str = "us-east-1") -> StandinAwsProvider:
    provider = StandinAwsProvider(CloudStore(cloud))
    provider.configure({"region": region, "allowedAccountIds": json.dumps([account])})
    return provider


def test_a_name_can_be_taken_once_even_by_another_stack(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    graph = graphs["dev"]
    bucket = first(graph, BUCKET)
    deploy("dev", "shared").create(bucket)

    with pytest.raises(StandinError, match="BucketAlreadyOwnedByYou") as raised:
        deploy("dev", "shared").create(bucket)

    assert raised.value.kind is ErrorKind.ALREADY_EXISTS
    assert bucket["urn"] in str(raised.value) and bucket["id"] in str(raised.value)


@pytest.mark.parametrize(
    ("type_", "error"),
    [
        (ROLE, "EntityAlreadyExists"),
        ("aws:lambda/function:Function", "ResourceConflictException"),
        ("aws:cloudwatch/logGroup:LogGroup", "ResourceAlreadyExistsException"),
        ("aws:kms/alias:Alias", "AlreadyExistsException"),
        ("aws:cloudwatch/dashboard:Dashboard", "AWS would silently overwrite"),
        ("aws:sns/topic:Topic", "AWS would silently overwrite or adopt"),
    ],
)
def test_a_second_create_of_the_same_resource_fails_like_aws(
    type_: str, error: str, graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    graph = graphs["dev"]
    deployment = deploy("dev")
    target = first(graph, type_)
    deployment.create_all(until=target["urn"])

    with pytest.raises(StandinError, match=error):
        deployment.create(target)


def test_bucket_names_are_shared_by_all_accounts_role_names_are_not(
    graphs: dict[str, Graph], tmp_path: Path
) -> None:
    graph = graphs["dev"]
    cloud = tmp_path / "cloud.json"
    bucket, role = first(graph, BUCKET), first(graph, ROLE)
    mine, theirs = provider_for(cloud, "111122223333"), provider_for(cloud, "999988887777")
    for res in (bucket, role):
        mine.create(res["urn"], mine.check(res["urn"], {}, to_wire(res["inputs"])).inputs)

    theirs.create(role["urn"], to_wire(role["inputs"]))
    with pytest.raises(StandinError, match="BucketAlreadyExists: the bucket namespace is shared"):
        theirs.create(bucket["urn"], to_wire(bucket["inputs"]))
    # Regional names are per region.
    elsewhere = provider_for(cloud, "111122223333", "us-west-2")
    group = first(graph, "aws:cloudwatch/logGroup:LogGroup")
    mine.create(group["urn"], to_wire(group["inputs"]))
    elsewhere.create(group["urn"], to_wire(group["inputs"]))


def test_a_deleted_resource_is_forgotten(graphs: dict[str, Graph], deploy: MakeDeployment) -> None:
    bucket = first(graphs["dev"], BUCKET)
    deployment = deploy("dev")
    resource_id, outputs = deployment.create(bucket)
    inputs = to_wire(bucket["inputs"])

    deployment.provider.delete(bucket["urn"], resource_id, outputs, inputs)

    assert deployment.provider.read(bucket["urn"], resource_id, outputs, inputs).id == ""
    assert load_cloud(deployment.cloud_path).of_type(BUCKET) == []
    deployment.create(bucket)  # the name is free again
    # Deleting what is already gone succeeds, as pulumi-aws treats NotFound on delete.
    deployment.provider.delete(bucket["urn"], "no-such-bucket", {}, {"bucket": "no-such-bucket"})


def test_refresh_sees_what_happened_outside_pulumi(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    graph = graphs["dev"]
    deployment = deploy("dev")
    created = deployment.create_all()
    bucket = first(graph, BUCKET)
    policy = next(
        r
        for r in graph.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if r["inputs"]["bucket"] == bucket["id"]
    )
    role = first(graph, ROLE)
    role_outputs = created[role["urn"]][1]
    provider = deployment.provider

    found = provider.read(role["urn"], role["id"], role_outputs, to_wire(role["inputs"]))
    assert found.id == role["id"] and found.outputs == role_outputs

    assert deployment.cloud.forget(ROLE, role["id"]) == 1
    assert deployment.cloud.forget(BUCKET, bucket["id"]) == 1

    assert provider.read(role["urn"], role["id"], role_outputs, {}).id == ""
    # A bucket's settings go with the bucket.
    assert provider.read(policy["urn"], policy["id"], {}, to_wire(policy["inputs"])).id == ""
    with pytest.raises(StandinError, match="does not exist") as raised:
        provider.update(role["urn"], role["id"], role_outputs, role_outputs, role_outputs)
    assert raised.value.kind is ErrorKind.NOT_FOUND


def test_an_update_rewrites_what_exists(graphs: dict[str, Graph], deploy: MakeDeployment) -> None:
    role = first(graphs["dev"], ROLE)
    deployment = deploy("dev")
    resource_id, outputs = deployment.create(role)
    news = {**to_wire(role["inputs"]), "description": "rewritten"}

    updated = deployment.provider.update(role["urn"], resource_id, outputs, news, outputs)

    assert updated["description"] == "rewritten" and updated["arn"] == outputs["arn"]
    stored = load_cloud(deployment.cloud_path).find(ROLE, resource_id)
    assert stored is not None and stored.outputs["description"] == "rewritten"
    assert stored.urn == role["urn"] and stored.account == "111122223333"


@pytest.mark.parametrize(
    ("type_", "parent"),
    [
        ("aws:s3/bucketPolicy:BucketPolicy", BUCKET),
        ("aws:s3/bucketObjectv2:BucketObjectv2", BUCKET),
        ("aws:iam/rolePolicy:RolePolicy", ROLE),
        ("aws:lambda/function:Function", ROLE),
        ("aws:kms/alias:Alias", "aws:kms/key:Key"),
        ("aws:sns/topicPolicy:TopicPolicy", "aws:sns/topic:Topic"),
        ("aws:cloudwatch/eventTarget:EventTarget", "aws:cloudwatch/eventRule:EventRule"),
    ],
)
def test_a_resource_needs_the_resource_it_belongs_to(
    type_: str, parent: str, graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    res = first(graphs["dev"], type_)
    with pytest.raises(StandinError, match=f"{parent} '.*', does not exist") as raised:
        deploy("dev").create(res)
    assert raised.value.kind is ErrorKind.NOT_FOUND


def test_another_accounts_bucket_is_access_denied(graphs: dict[str, Graph], tmp_path: Path) -> None:
    graph = graphs["dev"]
    cloud = tmp_path / "cloud.json"
    bucket = first(graph, BUCKET)
    versioning = next(
        r
        for r in graph.of_type("aws:s3/bucketVersioning:BucketVersioning")
        if r["inputs"]["bucket"] == bucket["id"]
    )
    provider_for(cloud, "111122223333").create(bucket["urn"], to_wire(bucket["inputs"]))

    with pytest.raises(StandinError, match="AccessDenied") as raised:
        provider_for(cloud, "999988887777").create(versioning["urn"], to_wire(versioning["inputs"]))
    assert raised.value.kind is ErrorKind.PERMISSION_DENIED


def test_a_preview_creates_nothing_and_leaves_what_it_cannot_know_unknown(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    function = first(graphs["dev"], "aws:lambda/function:Function")
    deployment = deploy("dev")
    inputs = to_wire(function["inputs"])

    known_id, known = deployment.provider.create(function["urn"], inputs, preview=True)
    unknown_id, unknown = deployment.provider.create(
        function["urn"], {**inputs, "name": wire.UNKNOWN}, preview=True
    )

    assert known_id == "" and known["arn"] == function["outputs"]["arn"]
    assert unknown_id == "" and unknown["arn"] == wire.UNKNOWN
    assert unknown["invokeArn"] == wire.UNKNOWN and unknown["name"] == wire.UNKNOWN
    assert load_cloud(deployment.cloud_path).resources == ()


def test_secrets_are_kept_as_digests_and_read_back_from_state(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    role = first(graphs["dev"], ROLE)
    deployment = deploy("dev")
    hidden = "do-not-store-this-description"
    inputs = {**to_wire(role["inputs"]), "description": wire.secret(hidden)}
    resource_id, outputs = deployment.create(role, inputs)

    assert outputs["description"] == wire.secret(hidden)
    assert hidden not in deployment.cloud_path.read_text()
    stored = load_cloud(deployment.cloud_path).find(ROLE, resource_id)
    assert stored is not None and stored.outputs["description"] == "[secret]"

    refreshed = deployment.provider.read(role["urn"], resource_id, outputs, inputs)
    blind = deployment.provider.read(role["urn"], resource_id, {}, {})

    assert refreshed.outputs == outputs and refreshed.inputs["description"] == wire.secret(hidden)
    # Without the state to read it from, the secret stays secret, and does not leak.
    assert blind.outputs["description"] == wire.secret(wire.REDACTED)


def _create_roles(cloud: str, prefix: str, count: int) -> int:
    """One plugin process's work: `count` roles of its own plus one every process wants."""
    provider = provider_for(Path(cloud), "111122223333")
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    names = [f"{prefix}-{index}" for index in range(count)] + ["contested"]
    won = 0
    for name in names:
        urn = f"urn:pulumi:{prefix}::rft-env::aws:iam/role:Role::{name}"
        try:
            provider.create(urn, {"name": name, "assumeRolePolicy": policy})
            won += 1
        except StandinError:
            assert name == "contested"
    return won


def test_concurrent_plugins_and_threads_lose_no_writes(tmp_path: Path) -> None:
    cloud = str(tmp_path / "cloud.json")
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(3, mp_context=spawn) as processes:
        by_process = list(processes.map(_create_roles, [cloud] * 3, ["a", "b", "c"], [8] * 3))
    with ThreadPoolExecutor(8) as threads:
        by_thread = list(threads.map(_create_roles, [cloud] * 8, list("defghijk"), [4] * 8))

    roles = load_cloud(Path(cloud)).ids(ROLE)
    assert len(roles) == 3 * 8 + 8 * 4 + 1
    assert sum(by_process) + sum(by_thread) == len(roles)  # "contested" was made once
