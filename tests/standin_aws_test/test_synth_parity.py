"""The stand-in makes what `rftenv synth` predicts: for every AWS resource of every example
stack, check and create give synth's id and synth's ARNs and other computed outputs."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS, Graph
from tests.standin_aws import wire
from tests.standin_aws_test.conftest import (
    MakeDeployment,
    aws_resources,
    provider_inputs,
    to_wire,
)


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_gets_the_id_and_computed_outputs_synth_predicts(
    stack: str, graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    graph = graphs[stack]
    deployment = deploy(stack)
    assert deployment.provider.config is not None
    assert deployment.provider.config.account_id == graph.result["accountId"]
    assert deployment.provider.config.region == graph.result["region"]

    checked = 0
    for res in aws_resources(graph):
        check = deployment.check(res)
        assert check.failures == [], (res["name"], check.failures)
        resource_id, outputs = deployment.provider.create(res["urn"], check.inputs)

        assert resource_id == res["id"], res["name"]
        computed = {k: v for k, v in res["outputs"].items() if k not in res["inputs"]}
        assert {k: outputs.get(k) for k in computed} == computed, res["name"]
        # Every input comes back as an output (assets with their hash, never their bytes).
        echoed = wire.with_digests(to_wire(res["inputs"]))
        assert {k: outputs[k] for k in res["inputs"]} == echoed, res["name"]
        checked += 1
    assert checked == sum(1 for _ in graph.aws())

    cloud = deployment.cloud.contents()
    assert len(cloud.resources) == checked
    for res in aws_resources(graph):
        assert res["id"] in cloud.ids(res["type"])


def test_tags_all_is_the_default_tags_under_the_resources_tags(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    graph = graphs["prod"]
    default_tags = wire.plain(provider_inputs(graph)["defaultTags"])
    assert "ManagedBy" in default_tags
    deployment = deploy("prod")
    bucket = next(r for r in aws_resources(graph) if r["type"] == "aws:s3/bucket:Bucket")
    inputs = {**to_wire(bucket["inputs"]), "tags": {"ManagedBy": "someone", "Extra": "yes"}}

    _, outputs = deployment.create(bucket, inputs)

    expected = {**deployment.provider.config.default_tags, "ManagedBy": "someone", "Extra": "yes"}
    assert outputs["tagsAll"] == expected
    assert outputs["tags"] == {"ManagedBy": "someone", "Extra": "yes"}


def test_a_lambda_gets_a_code_hash_and_an_object_an_etag_from_content_hashes(
    graphs: dict[str, Graph], deploy: MakeDeployment
) -> None:
    graph = graphs["dev"]
    deployment = deploy("dev")
    created = deployment.create_all()
    function = graph.of_type("aws:lambda/function:Function")[0]
    obj = graph.of_type("aws:s3/bucketObjectv2:BucketObjectv2")[0]

    function_outputs = created[function["urn"]][1]
    object_outputs = created[obj["urn"]][1]

    assert len(function_outputs["codeSha256"]) == 44  # base64 of 32 bytes
    assert object_outputs["etag"] == obj["inputs"]["source"]["sha256"][:32]
    # The archive is echoed by reference and hash: no file contents anywhere.
    assert set(function_outputs["code"]) == {wire.SIGNATURE, "assets", "hash"}
    for member in function_outputs["code"]["assets"].values():
        assert set(member) == {wire.SIGNATURE, "path", "hash"}
