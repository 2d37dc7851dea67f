"""rft-env's CrossGuard rules, importable (and testable) without starting a policy pack."""

from __future__ import annotations

from pulumi_policy import Policy

from rft_env.policies.rules import (
    bedrock,
    cross_account,
    iam,
    kms,
    lambda_functions,
    s3,
    sns,
    stack,
)

PACK_NAME = "rft-env"

# Stable order: storage, encryption, identity, compute, Bedrock, stack-wide rules; rules
# added later are appended, so the existing ones keep their positions.
ALL_POLICIES: list[Policy] = [
    *s3.POLICIES,
    *kms.POLICIES,
    *iam.POLICIES,
    *lambda_functions.POLICIES,
    *bedrock.POLICIES,
    *stack.POLICIES,
    *sns.POLICIES,
    *cross_account.POLICIES,
]

__all__ = ["ALL_POLICIES", "PACK_NAME"]
