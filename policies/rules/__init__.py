"""rft-env's CrossGuard rules, importable (and testable) without starting a policy pack."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules import bedrock, iam, kms, lambda_functions, s3, stack

PACK_NAME = "rft-env"

# Stable order: storage, encryption, identity, compute, Bedrock, then stack-wide rules.
ALL_POLICIES: list[Policy] = [
    *s3.POLICIES,
    *kms.POLICIES,
    *iam.POLICIES,
    *lambda_functions.POLICIES,
    *bedrock.POLICIES,
    *stack.POLICIES,
]

__all__ = ["ALL_POLICIES", "PACK_NAME"]
