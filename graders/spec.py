"""Helpers every grader type's spec validation shares: the same words for the same
mistakes, whichever grader a user configures."""

import difflib
from collections.abc import Iterable, Sequence


def show(value: object) -> str:
    """A value as a problem message quotes it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unknown(key: object, allowed: Sequence[str], what: str = "key") -> str:
    """`unknown key (did you mean 'x'?); allowed keys: a, b`."""
    hint = difflib.get_close_matches(str(key), allowed, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown {what}{suggestion}; allowed {what}s: {', '.join(allowed)}"


def unknown_keys(
    keys: Iterable[object], allowed: Sequence[str], prefix: str = ""
) -> list[tuple[str, str]]:
    """One problem per key of `keys` not in `allowed`, at `prefix` + the key."""
    return [(f"{prefix}{key}", unknown(key, allowed)) for key in keys if key not in allowed]
