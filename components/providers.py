"""The stack's one explicit AWS provider.

Every aws resource is created through this provider (the default provider is disabled in
Pulumi.yaml), so a stack can only ever touch the account it names: the provider assumes
the deployment role when one is configured and refuses credentials for any other account.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from rft_env.components.config import StackConfig
from rft_env.components.naming import PROJECT, stack_connection
from rft_env.components.tags import default_tags


def provider_args(config: StackConfig, stack: str) -> aws.ProviderArgs:
    """The typed provider arguments for a stack (pure: easy to assert on)."""
    # The region and role the dynamic providers and `rftenv status`/`metrics` use too.
    connection = stack_connection(config)
    assume_roles = None
    if connection.role_arn:
        assume_roles = [
            aws.ProviderAssumeRoleArgs(
                role_arn=connection.role_arn,
                session_name=f"{PROJECT}-{stack}",
                external_id=connection.external_id,
            )
        ]
    return aws.ProviderArgs(
        region=connection.region,
        allowed_account_ids=[config.account.id],
        assume_roles=assume_roles,
        default_tags=aws.ProviderDefaultTagsArgs(
            tags=default_tags(
                project=PROJECT,
                environment=config.environment,
                stack=stack,
                extra=config.tags,
            )
        ),
    )


def target_account_provider(config: StackConfig, stack: str) -> aws.Provider:
    # A stable logical name: renaming a provider would make Pulumi re-create everything.
    return aws.Provider("target-account", provider_args(config, stack))


def resource_options(provider: aws.Provider, **kwargs: object) -> pulumi.ResourceOptions:
    """Options for a top-level component: the explicit provider, passed down to children."""
    return pulumi.ResourceOptions(providers={"aws": provider}, **kwargs)  # type: ignore[arg-type]
