"""Point boto3 at nothing real: static test credentials, no shared config or profile, no
instance metadata, and (with a fake clock) botocore's retry back-off on that clock."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes.clock import FakeClock


def offline_aws(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    clock: FakeClock | None = None,
    *,
    region: str | None = None,
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    if region is not None:
        monkeypatch.setenv("AWS_REGION", region)
    if clock is not None:
        # botocore sleeps with time.sleep between attempts.
        monkeypatch.setattr(time, "sleep", clock.sleep)
