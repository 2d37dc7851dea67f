"""Default tags every resource of a stack carries (through the provider's default_tags)."""

from __future__ import annotations

from collections.abc import Mapping

# Set by rft-env on every resource; stack config may add tags but not override these.
RESERVED_TAG_KEYS = ("Project", "Environment", "Stack", "ManagedBy")


def default_tags(
    *, project: str, environment: str, stack: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The provider-level tags: the reserved keys first, then the stack's own."""
    tags = {
        "Project": project,
        "Environment": environment,
        "Stack": stack,
        "ManagedBy": "pulumi",
    }
    for key, value in (extra or {}).items():
        if key in RESERVED_TAG_KEYS:
            raise ValueError(f"tag key {key!r} is reserved by rft-env")
        tags[key] = value
    return tags
