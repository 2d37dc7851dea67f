"""The stand-in's fake "cloud": what exists, kept in one JSON file.

Every plugin process of a test run (one per stack, several at once in a parallel rollout)
shares the file named by RFTENV_STANDIN_AWS_STATE. Each read-modify-write holds an
exclusive `fcntl.flock` on `<file>.lock` (a separate file, so that the data file can be
replaced atomically); each reader holds a shared one. flock locks belong to an open file
description, so the engine's concurrent calls, which arrive on different threads of one
plugin process and open the lock file separately, exclude each other too.

Secrets are not kept: a secret is stored as a salted digest, and Read puts the value back
from the state the engine sends (see wire.redact_secrets).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.standin_aws import wire

STATE_ENV = "RFTENV_STANDIN_AWS_STATE"
FORMAT = "rftenv-standin-aws/1"


@dataclass(frozen=True)
class CloudResource:
    """One resource that exists in the fake cloud, as tests see it: secrets shown as
    "[secret]", assets and archives as their path and hash."""

    key: str
    type: str
    id: str
    urn: str
    account: str
    region: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass(frozen=True)
class CloudContents:
    resources: tuple[CloudResource, ...]

    def of_type(self, resource_type: str) -> list[CloudResource]:
        return [r for r in self.resources if r.type == resource_type]

    def ids(self, resource_type: str) -> list[str]:
        return sorted(r.id for r in self.of_type(resource_type))

    def find(self, resource_type: str, resource_id: str) -> CloudResource | None:
        for resource in self.of_type(resource_type):
            if resource.id == resource_id:
                return resource
        return None


class CloudStore:
    """The JSON file of one fake cloud. Records are keyed by `record_key`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def from_environment(cls) -> CloudStore | None:
        path = wire.env_path(STATE_ENV)
        return cls(path) if path else None

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _load(self) -> dict[str, Any]:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return {"format": FORMAT, "salt": secrets.token_hex(16), "resources": {}}
        document = json.loads(self.path.read_text())
        if document.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a stand-in cloud file ({FORMAT})")
        return document

    def _save(self, document: dict[str, Any]) -> None:
        handle, temporary = tempfile.mkstemp(prefix=self.path.name, dir=self.path.parent)
        with os.fdopen(handle, "w") as stream:
            json.dump(document, stream, indent=1, sort_keys=True)
        os.replace(temporary, self.path)

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """The whole document, locked; changes to it are saved when the block succeeds."""
        with self._locked(exclusive=True):
            document = self._load()
            before = json.dumps(document, sort_keys=True)
            yield document
            if json.dumps(document, sort_keys=True) != before:
                self._save(document)

    def document(self) -> dict[str, Any]:
        with self._locked(exclusive=False):
            return self._load()

    def contents(self) -> CloudContents:
        records = self.document()["resources"]
        return CloudContents(
            tuple(
                CloudResource(
                    key=key,
                    type=record["type"],
                    id=record["id"],
                    urn=record["urn"],
                    account=record["account"],
                    region=record["region"],
                    inputs=wire.readable(record["inputs"]),
                    outputs=wire.readable(record["outputs"]),
                )
                for key, record in sorted(records.items())
            )
        )

    def forget(self, resource_type: str, resource_id: str) -> int:
        """Delete resources out of band, as someone with console access would: every
        record of that type and id. Returns how many there were."""
        with self.transaction() as document:
            doomed = [
                key
                for key, record in document["resources"].items()
                if record["type"] == resource_type and record["id"] == resource_id
            ]
            for key in doomed:
                del document["resources"][key]
        return len(doomed)


def load_cloud(path: Path) -> CloudContents:
    """What exists in the fake cloud at `path` (empty if nothing was ever created)."""
    return CloudStore(path).contents()
