"""The rft-env policy pack: `pulumi preview --policy-pack policies`.

Only builds the pack (PolicyPack serves it over gRPC and blocks, so nothing imports this
file): the rules live in `policies.rules`, where the tests import them.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from rft_env.policies.rules import ALL_POLICIES, PACK_NAME
from rft_env.policies.rules.common import accept_engine_config

# Before the pack serves: the rules read the stack's config through pulumi.Config.
accept_engine_config()
PolicyPack(
    name=PACK_NAME,
    policies=ALL_POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="rft-env guardrails: SSE-KMS, TLS-only, versioned, logged, non-public "
    "buckets; rotated, recoverable keys with no wildcard grants; least-privilege IAM with "
    "confused-deputy protection; private graders with managed logs; Bedrock jobs on the "
    "stack's own key and role; explicit providers and required tags; no principal or key "
    "of another account unless the stack allow-lists it with a reason.",
)
