"""Physical names stay within AWS limits for every valid environment and grader name."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.naming import Names, partition_for

ENVIRONMENTS = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
GRADERS = st.from_regex(r"[a-z][a-z0-9-]{0,23}", fullmatch=True)
REGIONS = st.sampled_from(["us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-northwest-1"])
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("us-gov-west-1", "aws-us-gov"),
        ("cn-north-1", "aws-cn"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_partition_for(region: str, partition: str) -> None:
    assert partition_for(region) == partition


@given(ENVIRONMENTS, GRADERS, REGIONS)
def test_names_fit_aws_limits(environment: str, grader: str, region: str) -> None:
    names = Names(environment, "111122223333", region)
    for purpose in ("data", "output", "logs"):
        assert BUCKET_RE.fullmatch(names.bucket(purpose))
    assert len(names.customization_role) <= 64
    assert len(names.grader_role(grader)) <= 64
    assert len(names.grader_function(grader)) <= 64
    assert len(names.key_alias) <= 256


def test_arns_and_service_endpoints() -> None:
    names = Names("dev", "111122223333", "cn-north-1")
    assert names.role_arn("r") == "arn:aws-cn:iam::111122223333:role/r"
    assert names.service_endpoint("s3") == "s3.cn-north-1.amazonaws.com.cn"
    assert names.function_arn("f") == "arn:aws-cn:lambda:cn-north-1:111122223333:function:f"
