"""The program under config variants: failures register nothing; options change the graph."""

from __future__ import annotations

import json
import os
from typing import Any

import pulumi
import pytest

from rft_env.rftenv import stack_files, synth
from tests.conftest import Graph


def dev_config(**changes: Any) -> dict[str, str]:
    """The dev stack's engine config with `rft-env:<key>` values replaced (None deletes)."""
    values = stack_files.engine_config("dev")
    for key, value in changes.items():
        full = f"rft-env:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value if isinstance(value, str) else json.dumps(value)
    return values


def run(values: dict[str, str]) -> Graph:
    return Graph(synth.synthesize("dev", config=values))


def test_invalid_config_registers_nothing() -> None:
    values = dev_config(job={"grader": "missing", "hyperparameters": {"epochCount": 0}})
    monitor = synth.RecordingMonitor(synth.SynthMocks("111122223333", "us-east-1"))
    with pytest.raises(pulumi.RunError) as raised:
        synth.run_program("dev", values, monitor)
    message = str(raised.value)
    assert "rft-env:job.grader" in message
    assert "rft-env:job.hyperparameters.epochCount" in message
    assert monitor.registrations == []


def test_synthesis_is_deterministic(graphs: dict[str, Graph]) -> None:
    again = synth.synthesize("prod")
    assert json.dumps(again, sort_keys=True) == json.dumps(graphs["prod"].result, sort_keys=True)


def test_an_existing_key_is_used_everywhere_and_none_is_created() -> None:
    existing = "arn:aws:kms:us-east-1:111122223333:key/0b7c1a2d-1111-2222-3333-444455556666"
    graph = run(dev_config(kms={"existingKeyArn": existing}))
    assert graph.of_type("aws:kms/key:Key") == []
    assert graph.outputs["keyArn"] == existing
    for group in graph.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group["inputs"]["kmsKeyId"] == existing
    (topic,) = graph.of_type("aws:sns/topic:Topic")
    assert topic["inputs"]["kmsMasterKeyId"] == existing
    role_policy = graph.policy(
        graph.one("aws:iam/rolePolicy:RolePolicy", "rft-customization-policy")
    )
    uses = [s for s in role_policy["Statement"] if s["Sid"].startswith("UseStackKey")]
    assert [use["Resource"] for use in uses] == [existing, existing]


def test_data_from_s3_is_read_in_place_and_nothing_is_uploaded() -> None:
    uri = "s3://corp-datasets-111122223333/rft/v3/train.jsonl"
    graph = run(
        dev_config(
            data={"training": {"s3Uri": uri}},
            account={"id": "111122223333"},
        )
    )
    assert graph.of_type("aws:s3/bucketObjectv2:BucketObjectv2") == []
    assert graph.outputs["trainingDataUri"] == uri
    assert "validationDataUri" not in graph.outputs
    policy = graph.policy(graph.one("aws:iam/rolePolicy:RolePolicy", "rft-customization-policy"))
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadTrainingDataObjects"]["Resource"] == [
        "arn:aws:s3:::corp-datasets-111122223333/rft/v3/train.jsonl"
    ]
    assert statements["ReadTrainingDataList"]["Condition"] == {
        "StringLike": {"s3:prefix": ["rft/v3/train.jsonl"]}
    }
    # No deployment role: the provider assumes nothing, and the key names no uploader.
    provider = graph.of_type("pulumi:providers:aws")[0]["inputs"]
    assert "assumeRoles" not in provider
    key_policy = graph.policy(graph.of_type("aws:kms/key:Key")[0])
    assert not any(s["Sid"].startswith("Operator") for s in key_policy["Statement"])


def test_operators_use_the_key_through_s3_and_bedrock_only() -> None:
    engineer = "arn:aws:iam::111122223333:role/data-engineer"
    graph = run(dev_config(kms={"keyUserArns": [engineer]}))
    key_policy = graph.policy(graph.of_type("aws:kms/key:Key")[0])
    statements = {s["Sid"]: s for s in key_policy["Statement"]}
    operators = sorted([engineer, "arn:aws:iam::111122223333:role/rft-env-deployer"])
    through_s3 = statements["OperatorUsesKeyThroughS3"]
    through_bedrock = statements["OperatorUsesKeyThroughBedrock"]
    for users in (through_s3, through_bedrock):
        assert users["Condition"]["ArnEquals"]["aws:PrincipalArn"] == operators
    assert through_s3["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.us-east-1.amazonaws.com"
    }
    assert through_s3["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert through_bedrock["Condition"]["StringEquals"] == {
        "kms:ViaService": "bedrock.us-east-1.amazonaws.com"
    }
    assert through_bedrock["Action"] == ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
    grants = next(s for s in key_policy["Statement"] if s["Sid"] == "OperatorGrantsToBedrock")
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


def test_the_deployed_grader_spec_runs_in_the_lambda_handler(
    graphs: dict[str, Graph], monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: stack config -> GRADER_SPEC on the function -> the handler's scores."""
    from rft_env.graders.handler import lambda_handler

    function = graphs["dev"].of_type("aws:lambda/function:Function")[0]
    monkeypatch.setitem(
        os.environ, "GRADER_SPEC", function["inputs"]["environment"]["variables"]["GRADER_SPEC"]
    )
    event = [
        {
            "id": "s-1",
            "messages": [
                {"role": "user", "content": "7*6?"},
                {"role": "assistant", "content": "Let me think.\n42"},
            ],
            "metadata": {"reference_answer": "42"},
        },
        {
            "id": "s-2",
            "messages": [
                {"role": "user", "content": "7*6?"},
                {"role": "assistant", "content": "41"},
            ],
            "metadata": {"reference_answer": "42"},
        },
        {"id": "s-3", "messages": "not a list"},
    ]
    results = lambda_handler(event, None)
    assert [r["id"] for r in results] == ["s-1", "s-2", "s-3"]
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 0.0, 0.0]


def test_a_committed_throughput_is_protected_and_an_uncommitted_one_is_not() -> None:
    committed = run(dev_config(inference={"mode": "provisioned", "commitment": "OneMonth"}))
    (throughput,) = committed.of_type("pulumi-python:dynamic/bedrock:ProvisionedThroughput")
    assert throughput["protect"] is True
    assert throughput["inputs"]["commitment"] == "OneMonth"
    hourly = run(dev_config(inference={"mode": "provisioned", "modelUnits": 2}))
    (throughput,) = hourly.of_type("pulumi-python:dynamic/bedrock:ProvisionedThroughput")
    assert throughput["protect"] is False
    assert throughput["inputs"]["modelUnits"] == 2
