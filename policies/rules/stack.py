"""Stack-wide rules: every AWS resource goes through the stack's explicit provider (which
pins the account and sets the default tags) and carries the reserved tags."""

from __future__ import annotations

import importlib
import inspect
import keyword
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from rft_env.policies.rules.common import (
    decode_json,
    fmt_list,
    is_default_provider,
    policy_config,
    provider_default_tags,
    string_list,
)

# The tags every taggable AWS resource must carry unless the policy's config says otherwise:
# the pack's own statement, never imported from the code it guards (components.tags), so
# that no diff drops a tag from the stacks and from this rule at once.
# tests/policies/test_allow_lists.py fails when the stacks' default tags lack one of these.
REQUIRED_TAG_KEYS = ("Project", "Environment", "Stack", "ManagedBy")


def is_aws(resource: PolicyResource) -> bool:
    return resource.resource_type.startswith("aws:")


def _validate_explicit_provider(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    for resource in filter(is_aws, args.resources):
        where = f"{resource.resource_type.rsplit(':', 1)[-1]} '{resource.name}'"
        if resource.provider is None:
            report_violation(
                f"{where} has no provider; pass the stack's explicit AWS provider "
                "(opts=ResourceOptions(provider=...)).",
                resource.urn,
            )
        elif is_default_provider(resource.provider):
            report_violation(
                f"{where} uses the default AWS provider '{resource.provider.name}', which "
                "targets whatever account the ambient credentials reach and sets no default "
                "tags; pass the stack's explicit provider.",
                resource.urn,
            )


# --------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------
def python_module(token: str) -> tuple[str, str] | None:
    """(Python module, class) of a pulumi-aws token: `aws:s3/bucket:Bucket` is
    (`pulumi_aws.s3`, `Bucket`), `aws:lambda/...` lives in `pulumi_aws.lambda_`, and
    `aws:index/...` in `pulumi_aws` itself."""
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != "aws" or not parts[2]:
        return None
    module = parts[1].split("/", 1)[0]
    if not module:
        return None
    if module == "index":
        return "pulumi_aws", parts[2]
    if keyword.iskeyword(module):
        module += "_"
    return f"pulumi_aws.{module}", parts[2]


@lru_cache(maxsize=512)
def taggable_type(token: str) -> bool | None:
    """Whether the pulumi-aws resource class takes `tags`; None when it cannot be found
    (a type this pulumi-aws does not know)."""
    location = python_module(token)
    if location is None:
        return None
    module_name, class_name = location
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        parameters = inspect.signature(cls._internal_init).parameters
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return "tags" in parameters


def is_taggable(resource: PolicyResource) -> bool:
    known = taggable_type(resource.resource_type)
    if known is not None:
        return known
    return "tags" in resource.props or "tagsAll" in resource.props


def effective_tags(resource: PolicyResource) -> dict[str, Any]:
    """The provider's default tags, overlaid by the resource's own (and, in outputs, the
    tagsAll AWS reports)."""
    tags = dict(provider_default_tags(resource.provider))
    for prop in ("tags", "tagsAll"):
        own = decode_json(resource.props.get(prop))
        if isinstance(own, Mapping):
            tags.update(own)
    return {key: value for key, value in tags.items() if value is not None}


def required_tags(args: StackValidationArgs) -> list[str]:
    """The policy config's `requiredTags` when set (even to []), else REQUIRED_TAG_KEYS."""
    configured = policy_config(args).get("requiredTags")
    return list(REQUIRED_TAG_KEYS) if configured is None else string_list(configured)


def _validate_required_tags(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    required = required_tags(args)
    for resource in filter(is_aws, args.resources):
        if not is_taggable(resource):
            continue
        tags = effective_tags(resource)
        missing = [key for key in required if key not in tags]
        if missing:
            report_violation(
                f"{resource.resource_type.rsplit(':', 1)[-1]} '{resource.name}' is missing the "
                f"required tag(s) {fmt_list(missing)}; set them on the provider's "
                "defaultTags (or the resource's tags).",
                resource.urn,
            )


POLICIES: list[StackValidationPolicy] = [
    StackValidationPolicy(
        name="aws-explicit-provider",
        description="Every AWS resource uses the stack's explicit provider, never a default "
        "provider (default, default_<version>): the explicit one pins the target account "
        "(allowedAccountIds) and sets the default tags.",
        validate=_validate_explicit_provider,
    ),
    StackValidationPolicy(
        name="aws-required-tags",
        description="Every taggable AWS resource carries the required tags (default: "
        f"{', '.join(REQUIRED_TAG_KEYS)}), from its own tags or its provider's defaultTags, "
        "so cost and ownership are attributable.",
        validate=_validate_required_tags,
        config_schema=PolicyConfigSchema(
            properties={
                "requiredTags": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "uniqueItems": True,
                    "description": "Tag keys every taggable AWS resource must carry. Default: "
                    f"{', '.join(REQUIRED_TAG_KEYS)} (REQUIRED_TAG_KEYS in "
                    "policies/rules/stack.py).",
                }
            }
        ),
    ),
]
