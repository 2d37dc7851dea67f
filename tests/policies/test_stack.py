"""Stack-wide policies: explicit provider and required tags."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rft_env.policies.rules.stack import REQUIRED_TAG_KEYS, python_module, taggable_type
from tests.policies.helpers import (
    DEFAULT_TAGS,
    provider,
    resource,
    run,
    run_with_urns,
    stack_args,
    storage_stack,
    urn,
)
from tests.policies.helpers import policy_named as named

EXPLICIT = named("aws-explicit-provider")
TAGS = named("aws-required-tags")
BUCKET = "aws:s3/bucket:Bucket"


def bucket(name: str = "rft-storage-data", **kwargs: Any) -> Any:
    return resource(BUCKET, name, {"bucket": "rft-env-dev-data"}, **kwargs)


# --------------------------------------------------------------------------------------
# Explicit provider
# --------------------------------------------------------------------------------------
def test_explicit_provider_complies() -> None:
    assert run(EXPLICIT, stack_args(storage_stack())) == []


@pytest.mark.parametrize("name", ["default", "default_7_51_1"])
def test_default_provider_is_rejected(name: str) -> None:
    found = run_with_urns(EXPLICIT, stack_args([bucket(provider_=provider(name))]))
    assert len(found) == 1
    message, where = found[0]
    assert f"Bucket 'rft-storage-data' uses the default AWS provider '{name}'" in message
    assert where == urn(BUCKET, "rft-storage-data")


def test_missing_provider_is_rejected() -> None:
    (message,) = run(EXPLICIT, stack_args([bucket(provider_=None)]))
    assert "Bucket 'rft-storage-data' has no provider" in message


def test_provider_named_like_default_but_not_is_fine() -> None:
    assert run(EXPLICIT, stack_args([bucket(provider_=provider("defaults-account"))])) == []


def test_non_aws_resources_are_not_checked() -> None:
    job = resource("pulumi-python:dynamic/bedrock:RftCustomizationJob", "job", {}, provider_=None)
    component = resource("rftenv:storage:DataBuckets", "rft-storage", {}, provider_=None)
    assert run(EXPLICIT, stack_args([job, component])) == []


# --------------------------------------------------------------------------------------
# Required tags
# --------------------------------------------------------------------------------------
def test_the_fixtures_default_tags_hold_every_required_tag() -> None:
    assert set(REQUIRED_TAG_KEYS) <= set(DEFAULT_TAGS)


def test_tags_from_json_string_default_tags_comply() -> None:
    assert run(TAGS, stack_args(storage_stack())) == []


def test_tags_from_mapping_default_tags_comply() -> None:
    mapping = provider(props={"defaultTags": {"tags": DEFAULT_TAGS}})
    assert run(TAGS, stack_args([bucket(provider_=mapping)])) == []


def test_missing_tags_are_named() -> None:
    partial = provider(tags={"Project": "rft-env", "Stack": "dev"})
    found = run_with_urns(TAGS, stack_args([bucket(provider_=partial)]))
    assert len(found) == 1
    message, where = found[0]
    assert "Bucket 'rft-storage-data' is missing the required tag(s)" in message
    assert "'Environment', 'ManagedBy'" in message
    assert "'Project'" not in message
    assert where == urn(BUCKET, "rft-storage-data")


def test_own_tags_fill_in_for_the_provider() -> None:
    partial = provider(tags={"Project": "rft-env", "Stack": "dev"})
    tagged = resource(
        BUCKET,
        "b",
        {"bucket": "b", "tags": {"Environment": "dev", "ManagedBy": "pulumi"}},
        provider_=partial,
    )
    assert run(TAGS, stack_args([tagged])) == []


def test_tags_all_in_outputs_count() -> None:
    bare = provider(props={})
    outputs = {"bucket": "b", "tags": {}, "tagsAll": dict(DEFAULT_TAGS)}
    assert run(TAGS, stack_args([resource(BUCKET, "b", outputs, provider_=bare)])) == []


def test_no_provider_means_no_default_tags() -> None:
    (message,) = run(TAGS, stack_args([bucket(provider_=None)]))
    assert all(key in message for key in REQUIRED_TAG_KEYS)


def test_untaggable_types_are_skipped() -> None:
    bare = provider(props={})
    untaggable = [
        resource("aws:kms/alias:Alias", "alias", {"name": "alias/x"}, provider_=bare),
        resource(
            "aws:s3/bucketPolicy:BucketPolicy", "p", {"bucket": "b", "policy": "{}"}, provider_=bare
        ),
        resource("aws:iam/rolePolicy:RolePolicy", "rp", {"role": "r"}, provider_=bare),
    ]
    assert run(TAGS, stack_args(untaggable)) == []


@pytest.mark.parametrize(
    "type_",
    [
        "aws:kms/key:Key",
        "aws:lambda/function:Function",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/role:Role",
    ],
)
def test_taggable_types_are_checked(type_: str) -> None:
    found = run(TAGS, stack_args([resource(type_, "x", {}, provider_=provider(props={}))]))
    assert len(found) == 1


def test_unknown_type_falls_back_to_props() -> None:
    bare = provider(props={})
    with_tags = resource("aws:madeup/thing:Thing", "t", {"tags": {}}, provider_=bare)
    without = resource("aws:madeup/thing:Thing", "u", {"name": "u"}, provider_=bare)
    (message,) = run(TAGS, stack_args([with_tags, without]))
    assert "Thing 't'" in message


def test_config_overrides_required_tags() -> None:
    config = {"requiredTags": ["CostCenter", "Owner"]}
    (message,) = run(TAGS, stack_args(storage_stack()[:1], config=config))
    assert "'Owner'" in message
    assert "'CostCenter'" not in message
    assert run(TAGS, stack_args([bucket(provider_=None)], config={"requiredTags": []})) == []


def test_non_aws_resources_are_not_tag_checked() -> None:
    job = resource(
        "pulumi-python:dynamic/bedrock:RftCustomizationJob",
        "job",
        {"jobTags": json.dumps({})},
        provider_=None,
    )
    assert run(TAGS, stack_args([job])) == []


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("aws:s3/bucket:Bucket", ("pulumi_aws.s3", "Bucket")),
        ("aws:lambda/function:Function", ("pulumi_aws.lambda_", "Function")),
        ("aws:index/provider:Provider", ("pulumi_aws", "Provider")),
        ("pulumi:providers:aws", None),
        ("aws:broken", None),
    ],
)
def test_python_module_of_token(token: str, expected: tuple[str, str] | None) -> None:
    assert python_module(token) == expected


def test_taggable_type_resolution() -> None:
    assert taggable_type("aws:lambda/function:Function") is True
    assert taggable_type("aws:s3/bucketPolicy:BucketPolicy") is False
    assert taggable_type("aws:nosuchmodule/thing:Thing") is None
    assert taggable_type("aws:s3/noSuchThing:NoSuchThing") is None
