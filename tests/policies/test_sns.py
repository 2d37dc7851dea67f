"""SNS topics: encrypted at rest with a customer-managed key."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.helpers import ACCOUNT, KEY_ARN, REGION, policy_named, resource_args, run

ENCRYPTED = policy_named("sns-topic-encrypted")
TOPIC = "aws:sns/topic:Topic"


def topic(**props: Any) -> dict[str, Any]:
    """The notification topic as the observability component declares it (dev)."""
    base: dict[str, Any] = {
        "name": "rft-env-dev-notifications",
        "displayName": "rft-env dev",
        "kmsMasterKeyId": KEY_ARN,
    }
    base.update(props)
    return {k: v for k, v in base.items() if v is not None}


def test_program_topic_complies() -> None:
    assert run(ENCRYPTED, resource_args(TOPIC, topic(), name="rft-observability-topic")) == []


@pytest.mark.parametrize(
    "key", ["alias/rft-env-dev", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/rft-env-dev", "k-1"]
)
def test_customer_managed_alias_or_id_complies(key: str) -> None:
    assert run(ENCRYPTED, resource_args(TOPIC, topic(kmsMasterKeyId=key))) == []


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unencrypted_topic_is_rejected(value: object) -> None:
    (message,) = run(ENCRYPTED, resource_args(TOPIC, topic(kmsMasterKeyId=value), name="t"))
    assert "SNS topic 't'" in message
    assert "no kmsMasterKeyId" in message


@pytest.mark.parametrize(
    "key",
    ["alias/aws/sns", "ALIAS/AWS/SNS", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/sns"],
)
def test_aws_managed_key_is_rejected(key: str) -> None:
    (message,) = run(ENCRYPTED, resource_args(TOPIC, topic(kmsMasterKeyId=key), name="t"))
    assert "SNS topic 't'" in message
    assert "AWS-managed key" in message
    assert key in message


def test_other_types_are_ignored() -> None:
    policy = {"arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t", "policy": "{}"}
    assert run(ENCRYPTED, resource_args("aws:sns/topicPolicy:TopicPolicy", policy)) == []
