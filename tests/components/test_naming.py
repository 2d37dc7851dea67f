"""Physical names stay within AWS limits for every valid environment and grader name."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from typing import Any

import botocore.session
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from rft_env.components import naming
from rft_env.components.bedrock.job import job_identity
from rft_env.components.config import EnvironmentName
from rft_env.components.naming import Names, partition_for

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


# --- RFT job names ------------------------------------------------------------------------
_ENVIRONMENT_NAME = TypeAdapter(EnvironmentName)
LONGEST_ENVIRONMENT = "abcdefghijklmnop"  # EnvironmentName allows at most 16 characters


def is_environment(value: str) -> bool:
    """Does the stack config accept this environment name? (config.EnvironmentName decides.)"""
    try:
        _ENVIRONMENT_NAME.validate_python(value)
    except ValidationError:
        return False
    return True


# Drawn from a wider alphabet than EnvironmentName allows, then filtered by it.
VALID_ENVIRONMENTS = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True).filter(is_environment)


@st.composite
def environment_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two distinct environments, often one's name extending the other's (`dev`, `dev-rft`),
    the case where name prefixes collide."""
    first = draw(VALID_ENVIRONMENTS)
    # Words of the job-name form make the tails that collided under `-rft-`.
    tail = draw(
        st.sampled_from(["rft", "rft-rft", "model", "rft-0123456789ab"])
        | st.from_regex(r"[a-z0-9](-?[a-z0-9]){0,6}", fullmatch=True)
    )
    second = draw(
        st.sampled_from([f"{first}-{tail}", f"{first}{tail}", f"{tail}-{first}", tail])
        | VALID_ENVIRONMENTS
    )
    assume(second != first and is_environment(second))
    return draw(st.sampled_from([(first, second), (second, first)]))


def provider_job_name(environment: str, revision: int) -> str:
    """The job name the job provider (bedrock.job.job_identity) gives this environment's job."""
    names = Names(environment, "111122223333", "us-east-1")
    return job_identity({"namePrefix": names.prefix, "revision": revision})[1]


@functools.cache
def bedrock_member(operation: str, member: str) -> tuple[re.Pattern[str], int, int]:
    """(pattern, min length, max length) of a request member, from botocore's service model."""
    model = botocore.session.get_session().get_service_model("bedrock")
    shape = model.operation_model(operation).input_shape.members[member]
    metadata: dict[str, Any] = shape.metadata
    return re.compile(metadata["pattern"]), metadata["min"], metadata["max"]


def fits(value: str, constraint: tuple[re.Pattern[str], int, int]) -> bool:
    pattern, low, high = constraint
    return bool(pattern.fullmatch(value)) and low <= len(value) <= high


def test_the_provider_takes_job_and_model_names_from_naming() -> None:
    props = {"namePrefix": "rft-env-dev", "revision": 1}
    token, job, model = job_identity(props)
    assert job == f"rft-env-dev--rft-{token[:12]}" == naming.job_name("rft-env-dev", token[:12])
    assert model == f"rft-env-dev-model-{token[:12]}"
    assert Names("dev", "111122223333", "us-east-1").job_name_pattern.fullmatch(job)


@settings(deadline=None)
@given(environment_pairs(), st.integers(min_value=1, max_value=10**6))
@example(("dev", "dev-rft"), 1)
@example(("dev-rft", "dev"), 1)
@example(("dev", "x-rft-env-dev"), 1)
def test_no_environments_job_name_prefix_starts_anothers_job_names(
    pair: tuple[str, str], revision: int
) -> None:
    first, second = (Names(env, "111122223333", "us-east-1") for env in pair)
    own, other = (
        provider_job_name(first.environment, revision),
        provider_job_name(second.environment, revision),
    )
    assert own.startswith(first.job_name_prefix) and first.job_name_pattern.fullmatch(own)
    # The EventBridge rule's prefix and `rftenv status`'s filter keep the other stack's jobs out.
    assert not other.startswith(first.job_name_prefix)
    assert not first.job_name_pattern.fullmatch(other)


@settings(deadline=None)
@given(VALID_ENVIRONMENTS, st.integers(min_value=1, max_value=10**6))
@example(LONGEST_ENVIRONMENT, 1)
def test_job_and_model_names_fit_the_api(environment: str, revision: int) -> None:
    names = Names(environment, "111122223333", "us-east-1")
    _, job, model = job_identity({"namePrefix": names.prefix, "revision": revision})
    assert fits(job, bedrock_member("CreateModelCustomizationJob", "jobName"))
    assert fits(model, bedrock_member("CreateModelCustomizationJob", "customModelName"))
    # `rftenv status` lists the stack's jobs with the prefix as nameContains.
    assert fits(names.job_name_prefix, bedrock_member("ListModelCustomizationJobs", "nameContains"))


def test_the_longest_environment_name_leaves_room() -> None:
    assert is_environment(LONGEST_ENVIRONMENT) and not is_environment(LONGEST_ENVIRONMENT + "q")
    job = provider_job_name(LONGEST_ENVIRONMENT, 1)
    assert job == f"rft-env-{LONGEST_ENVIRONMENT}--rft-{job[-12:]}" and len(job) == 42 <= 63


@pytest.mark.parametrize("prefix", ["", "rft-env-a--b", "rft-env-a-"])
def test_a_name_prefix_that_could_start_other_stacks_job_names_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="must not contain '--' or end with '-'"):
        naming.job_name_prefix(prefix)


def test_naming_is_pure() -> None:
    """The program and the CLI both take their names from it: importing it loads neither
    Pulumi nor boto3 (it reads the config models for their types only)."""
    code = (
        "import sys, rft_env.components.naming; "
        "loaded = sorted(m for m in ('pulumi', 'boto3', 'botocore') if m in sys.modules); "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
