"""Builders for the arguments CrossGuard passes to policies, in the real program's shapes.

Props are wrapped in pulumi-policy's own unknown-checking proxy, as the analyzer does, so
the rules are tested against `Mapping`/`Sequence` proxies rather than plain dicts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from inspect import isawaitable
from typing import Any

import pulumi.runtime
from pulumi.runtime.config import CONFIG
from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from rft_env.policies.rules import ALL_POLICIES

ACCOUNT = "111122223333"
REGION = "us-east-1"
STACK = "dev"
KEY_ID = "ed6a4e96-5370-52dc-9633-3899ea0bdc26"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
DEFAULT_TAGS = {
    "Project": "rft-env",
    "Environment": "dev",
    "Stack": "dev",
    "ManagedBy": "pulumi",
    "CostCenter": "ml-platform-dev",
}
_UNSET = object()


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::rft-env::{type_}::{name}"


def doc(*statements: Mapping[str, Any]) -> str:
    """A policy document as the program renders it (a JSON string)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def provider(
    name: str = "target-account",
    props: Mapping[str, Any] | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    accounts: list[str] | None = None,
) -> PolicyProviderResource:
    """An AWS provider as the engine reports the program's: structured props as JSON."""
    if props is None:
        props = {
            "region": REGION,
            "skipRegionValidation": "true",
            "defaultTags": json.dumps({"tags": dict(DEFAULT_TAGS if tags is None else tags)}),
            "allowedAccountIds": json.dumps([ACCOUNT] if accounts is None else accounts),
        }
    return PolicyProviderResource(
        "pulumi:providers:aws",
        unknown_checking_proxy(dict(props)),
        urn("pulumi:providers:aws", name),
        name,
    )


def options(*, protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource_args(
    type_: str,
    props: Mapping[str, Any],
    *,
    name: str = "subject",
    provider_: PolicyProviderResource | object | None = _UNSET,
    protect: bool = False,
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    """The argument bag of a resource policy (the explicit provider unless given)."""
    return ResourceValidationArgs(
        type_,
        unknown_checking_proxy(dict(props)),
        urn(type_, name),
        name,
        options(protect=protect),
        provider() if provider_ is _UNSET else provider_,  # type: ignore[arg-type]
        config,
    )


def resource(
    type_: str,
    name: str,
    props: Mapping[str, Any],
    *,
    provider_: PolicyProviderResource | object | None = _UNSET,
    deps: Mapping[str, list[PolicyResource]] | None = None,
    protect: bool = False,
) -> PolicyResource:
    """A resource of a stack policy's `args.resources` (outputs as props)."""
    return PolicyResource(
        type_,
        unknown_checking_proxy(dict(props)),
        urn(type_, name),
        name,
        options(protect=protect),
        provider() if provider_ is _UNSET else provider_,  # type: ignore[arg-type]
        None,
        [r for rs in (deps or {}).values() for r in rs],
        {key: list(value) for key, value in (deps or {}).items()},
    )


def stack_args(
    resources: list[PolicyResource], config: Mapping[str, Any] | None = None
) -> StackValidationArgs:
    return StackValidationArgs(resources, config)


def run_with_urns(
    policy: Policy, args: ResourceValidationArgs | StackValidationArgs
) -> list[tuple[str, str | None]]:
    """Validate as the analyzer does (awaitables on a fresh loop); (message, urn) pairs."""
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn_: str | None = None) -> None:
        found.append((message, urn_))

    result = policy.validate(args, report)  # type: ignore[attr-defined]
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()
    return found


def run(policy: Policy, args: ResourceValidationArgs | StackValidationArgs) -> list[str]:
    """The violation messages `policy` reports for `args`."""
    return [message for message, _ in run_with_urns(policy, args)]


@contextmanager
def pulumi_config(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (str) or unset (None) stack config keys, restoring the previous config after."""
    saved = dict(CONFIG.get())
    try:
        current = dict(saved)
        for key, value in values.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        pulumi.runtime.set_all_config(current)
        yield
    finally:
        pulumi.runtime.set_all_config(saved)


# --------------------------------------------------------------------------------------
# The program's resources, as synthesized for the dev stack
# --------------------------------------------------------------------------------------
def bucket_name(purpose: str) -> str:
    return f"rft-env-dev-{purpose}-{ACCOUNT}-{REGION}"


def tls_statement(name: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{name}"
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_resources(
    purpose: str, *, link_by_deps: bool = False, logs_to: str | None = "logs"
) -> list[PolicyResource]:
    """A bucket and the sub-resources the storage component gives it (linked by name, or
    by property dependencies as the engine reports an output-to-input flow)."""
    name = bucket_name(purpose)
    bucket = resource(
        "aws:s3/bucket:Bucket",
        f"rft-storage-{purpose}",
        {"bucket": name, "forceDestroy": True, "arn": f"arn:aws:s3:::{name}"},
    )
    deps = {"bucket": [bucket]} if link_by_deps else None
    # Linked by dependency only, the sub-resource's bucket value is an id we cannot match.
    ref = "bucket-id-from-output" if link_by_deps else name
    subs = [
        resource(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"rft-storage-{purpose}-encryption",
            {
                "bucket": ref,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": KEY_ARN,
                        },
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            deps=deps,
        ),
        resource(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"rft-storage-{purpose}-public-access",
            {
                "bucket": ref,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            deps=deps,
        ),
        resource(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"rft-storage-{purpose}-policy",
            {"bucket": ref, "policy": doc(tls_statement(name))},
            deps=deps,
        ),
        resource(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"rft-storage-{purpose}-versioning",
            {"bucket": ref, "versioningConfiguration": {"status": "Enabled"}},
            deps=deps,
        ),
    ]
    if logs_to is not None:
        subs.append(
            resource(
                "aws:s3/bucketLogging:BucketLogging",
                f"rft-storage-{purpose}-access-logging",
                {
                    "bucket": ref,
                    "targetBucket": bucket_name(logs_to),
                    "targetPrefix": f"access-logs/{name}/",
                },
                deps=deps,
            )
        )
    return [bucket, *subs]


def storage_stack(*, link_by_deps: bool = False) -> list[PolicyResource]:
    """The data, output and access-log buckets of the dev stack."""
    return [
        *bucket_resources("data", link_by_deps=link_by_deps),
        *bucket_resources("output", link_by_deps=link_by_deps),
        *bucket_resources("logs", link_by_deps=link_by_deps, logs_to=None),
    ]


def replace(
    resources: list[PolicyResource], name: str, props: Mapping[str, Any] | None = None
) -> list[PolicyResource]:
    """`resources` with the one named `name` given new props (None: removed)."""
    out = []
    for r in resources:
        if r.name != name:
            out.append(r)
        elif props is not None:
            out.append(
                PolicyResource(
                    r.resource_type,
                    unknown_checking_proxy(dict(props)),
                    r.urn,
                    r.name,
                    r.opts,
                    r.provider,
                    r.parent,
                    r.dependencies,
                    r.property_dependencies,
                )
            )
    return out


def props_of(resources: list[PolicyResource], name: str) -> dict[str, Any]:
    """A plain copy of a resource's props (to modify and `replace`)."""
    (match,) = [r for r in resources if r.name == name]
    return json.loads(json.dumps(_plain(match.props)))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in value}
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    return [_plain(v) for v in value]


def policy_named(name: str) -> Policy:
    """The pack's policy called `name`."""
    (match,) = [p for p in ALL_POLICIES if p.name == name]
    return match
