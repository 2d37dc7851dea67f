"""The stand-in's record of every call it served: one JSON line per call.

A line names the method, the resource (type, URN, logical name, id), the input property
names (never their values) and a one-line summary. Secrets never reach the file: summaries
are built from names and ids, and every string written is scrubbed of the request's secret
values as a last guard. Several plugin processes (parallel stacks) and the engine's
concurrent calls append to one file, each line under an exclusive `fcntl` lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.standin_aws import wire

LOG_ENV = "RFTENV_STANDIN_AWS_LOG"
# Secret values shorter than this are not scrubbed from summaries: replacing every "1" or
# "on" would garble them, and the summaries never contain values in the first place.
_SHORTEST_SCRUBBED = 3


@dataclass(frozen=True)
class LoggedCall:
    method: str
    type: str = ""
    urn: str = ""
    name: str = ""
    id: str = ""
    inputs: list[str] = field(default_factory=list)
    summary: str = ""
    error: str | None = None
    pid: int = 0
    # When the call was answered (epoch seconds): shows which stacks' calls overlapped.
    at: float = 0.0


def secret_strings(*values: Any) -> set[str]:
    """Every text a secret in `values` could appear as: its leaves and its JSON form."""
    found: set[str] = set()

    def leaves(value: Any) -> Iterable[str]:
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        elif isinstance(value, list):
            for item in value:
                yield from leaves(item)
        elif value is not None and not isinstance(value, bool):
            yield str(value)

    def visit(value: Any) -> None:
        if wire.is_secret(value):
            inner = wire.plain(value)
            found.update(leaves(inner))
            if isinstance(inner, dict | list):
                found.add(json.dumps(inner))
            return
        if isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    for value in values:
        visit(value)
    return {text for text in found if len(text) >= _SHORTEST_SCRUBBED}


def scrub(text: str, secrets: set[str]) -> str:
    # Longest first, so that a secret containing another is replaced whole.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, wire.REDACTED)
    return text


class CallLog:
    """Appends LoggedCalls to `path`; does nothing when `path` is None."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def from_environment(cls) -> CallLog:
        return cls(wire.env_path(LOG_ENV))

    def record(self, call: LoggedCall, secrets: set[str] | None = None) -> None:
        if self.path is None:
            return
        secrets = secrets or set()
        entry = asdict(call)
        entry["pid"] = os.getpid()
        entry["at"] = time.time()
        for key in ("type", "urn", "name", "id", "summary", "error"):
            if isinstance(entry[key], str):
                entry[key] = scrub(entry[key], secrets)
        entry["inputs"] = sorted(scrub(name, secrets) for name in entry["inputs"])
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, line)
        finally:
            os.close(descriptor)  # closing releases the lock


def read_calls(path: Path) -> list[LoggedCall]:
    """Every call recorded in `path`, oldest first ([] when nothing was recorded)."""
    if not path.exists():
        return []
    calls = []
    for line in path.read_text().splitlines():
        if line.strip():
            calls.append(LoggedCall(**json.loads(line)))
    return calls
