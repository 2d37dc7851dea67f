"""Helpers every grader type's spec validation shares: the same words for the same
mistakes, whichever grader a user configures."""

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


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


def choice_problems(
    spec: Mapping[str, Any], key: str, allowed: Sequence[str]
) -> list[tuple[str, str]]:
    """A problem if `key` is set to something other than one of `allowed`."""
    if key not in spec or spec[key] in allowed:
        return []
    return [(key, f"got {show(spec[key])}; allowed: {', '.join(allowed)}")]


def bool_problems(spec: Mapping[str, Any], keys: Iterable[str]) -> list[tuple[str, str]]:
    """A problem per key of `keys` set to anything but a real boolean: 0/1 or "true"
    usually means the spec was hand-edited wrongly, so refuse rather than guess."""
    return [
        (key, f"got {show(spec[key])}; allowed: true, false")
        for key in keys
        if key in spec and not isinstance(spec[key], bool)
    ]
