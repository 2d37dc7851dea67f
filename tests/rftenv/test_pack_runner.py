"""The in-process pack runner gives rules what the engine would give them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pytest
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rft_env.rftenv.pack_runner import PolicyConfigError, policy_resources, run_pack

PROVIDER_URN = "urn:pulumi:dev::rft-env::pulumi:providers:aws::target-account"
BUCKET_URN = "urn:pulumi:dev::rft-env::aws:s3/bucket:Bucket::data"
VERSIONING_URN = "urn:pulumi:dev::rft-env::aws:s3/bucketVersioning:BucketVersioning::data-v"


def resource(urn: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    type_, name = urn.split("::")[2:4]
    return {
        "urn": urn,
        "type": type_,
        "name": name,
        "parent": None,
        "provider": "",
        "protect": False,
        "id": name,
        "inputs": inputs,
        "outputs": {},
        "dependencies": [],
        "propertyDependencies": {},
        **extra,
    }


GRAPH = {
    "stack": "dev",
    "resources": [
        resource(PROVIDER_URN, {"region": "us-east-1"}),
        resource(
            BUCKET_URN,
            {"bucket": "data-bucket"},
            provider=f"{PROVIDER_URN}::some-id",
            protect=True,
            outputs={"bucket": "data-bucket", "arn": "arn:aws:s3:::data-bucket"},
        ),
        resource(
            VERSIONING_URN,
            {"bucket": "data-bucket"},
            parent=BUCKET_URN,
            propertyDependencies={"bucket": [BUCKET_URN]},
            dependencies=[BUCKET_URN],
        ),
    ],
}


def test_resource_policies_see_read_only_inputs_options_provider_and_config() -> None:
    seen: list[ResourceValidationArgs] = []

    def validate(args: ResourceValidationArgs, report: Any) -> None:
        seen.append(args)
        if args.resource_type == "aws:s3/bucket:Bucket":
            report(f"{args.name} {args.get_config()['word']}")

    policy = ResourceValidationPolicy("probe", "probe", validate)
    (violation,) = run_pack(GRAPH, [policy], policy_config={"probe": {"word": "hello"}})
    bucket = next(args for args in seen if args.name == "data")
    # The engine hands rules a read-only Mapping, not a dict; so does the runner.
    assert isinstance(bucket.props, Mapping) and not isinstance(bucket.props, dict)
    assert bucket.props["bucket"] == "data-bucket" and "arn" not in bucket.props
    assert bucket.opts.protect is True
    assert bucket.provider is not None and bucket.provider.name == "target-account"
    assert (violation.policy, violation.resource, violation.message) == (
        "probe",
        "data",
        "data hello",
    )
    assert violation.blocking and str(violation).startswith("[mandatory] probe: data:")


def test_stack_policies_see_state_parents_and_property_dependencies() -> None:
    resources = {r.name: r for r in policy_resources(GRAPH)}
    versioning = resources["data-v"]
    assert versioning.parent is resources["data"]
    assert versioning.property_dependencies == {"bucket": [resources["data"]]}
    assert versioning.dependencies == [resources["data"]]
    # Stack policies get state: outputs over inputs.
    assert resources["data"].props["arn"] == "arn:aws:s3:::data-bucket"

    def validate(args: StackValidationArgs, report: Any) -> None:
        for policy_resource in args.resources:
            if policy_resource.resource_type.endswith("BucketVersioning"):
                report("versioning seen", policy_resource.urn)
        report("stack-wide")

    violations = run_pack(GRAPH, [StackValidationPolicy("stack-probe", "probe", validate)])
    assert [(v.resource, v.message) for v in violations] == [
        ("data-v", "versioning seen"),
        ("", "stack-wide"),
    ]


def _always(name: str) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: Any) -> None:
        if args.name == "data":
            report("no")

    return ResourceValidationPolicy(name, name, validate)


def test_enforcement_levels_follow_the_cli_config_shape() -> None:
    policies = [_always("one"), _always("two")]
    assert [v.blocking for v in run_pack(GRAPH, policies)] == [True, True]
    advisory = run_pack(GRAPH, policies, policy_config={"all": "advisory"})
    assert [v.enforcement for v in advisory] == ["advisory", "advisory"]
    mixed = run_pack(
        GRAPH, policies, policy_config={"one": "disabled", "two": {"enforcementLevel": "advisory"}}
    )
    assert [(v.policy, v.blocking) for v in mixed] == [("two", False)]
    assert run_pack(GRAPH, policies, default_level=EnforcementLevel.ADVISORY)[0].blocking is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"nope": "mandatory"}, "unknown policy 'nope'"),
        ({"one": "strict"}, "policy config one: got enforcement level 'strict'"),
        ({"one": 3}, "policy config one: expected a level or an object"),
    ],
)
def test_bad_policy_config_is_named(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        run_pack(GRAPH, [_always("one")], policy_config=config)


def test_not_applicable_and_async_rules_run_as_under_the_engine() -> None:
    def skip(args: ResourceValidationArgs, report: Any) -> None:
        args.not_applicable("not for me")

    async def later(args: ResourceValidationArgs, report: Any) -> None:
        if args.name == "data":
            report("async")

    policies = [
        ResourceValidationPolicy("skip", "skip", skip),
        ResourceValidationPolicy("later", "later", later),
    ]
    assert [v.message for v in run_pack(GRAPH, policies)] == ["async"]


def test_rules_read_the_stack_config_through_pulumi_config() -> None:
    def validate(args: ResourceValidationArgs, report: Any) -> None:
        if args.name == "data" and pulumi.Config("rft-env").get_bool("production"):
            report("production")

    policy = ResourceValidationPolicy("config", "config", validate)
    assert run_pack(GRAPH, [policy], stack_config={"rft-env:production": "true"})
    assert not run_pack(GRAPH, [policy], stack_config={"rft-env:production": "false"})
