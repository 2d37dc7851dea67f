"""The call log records every call, with names and summaries but never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.standin_aws import (
    CloudStore,
    LoggedCall,
    StandinAwsProvider,
    StandinError,
    read_calls,
    wire,
)
from tests.standin_aws.calllog import CallLog

ROLE_URN = "urn:pulumi:dev::rft-env::aws:iam/role:Role::runner"
BUCKET_URN = "urn:pulumi:dev::rft-env::aws:s3/bucket:Bucket::data"
PROVIDER_URN = "urn:pulumi:dev::rft-env::pulumi:providers:aws::target-account"
SECRETS = {
    "role name": "rft-env-secret-role-name",
    "description": "the role's secret description",
    "tag": "secret-tag-value",
    "default tag": "secret-default-tag",
    "bad bucket": "Secret_Bucket_Name",
    "access key": "AKIASECRETACCESSKEY0",
}
POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})


def test_every_call_is_recorded_and_no_secret_is(tmp_path: Path) -> None:
    log_path = tmp_path / "calls.jsonl"
    provider = StandinAwsProvider(CloudStore(tmp_path / "cloud.json"), CallLog(log_path))
    settings = {
        "region": "us-east-1",
        "allowedAccountIds": '["111122223333"]',
        "accessKey": wire.secret(SECRETS["access key"]),
        "defaultTags": wire.secret(json.dumps({"tags": {"Owner": SECRETS["default tag"]}})),
    }
    role = {
        "name": wire.secret(SECRETS["role name"]),
        "assumeRolePolicy": POLICY,
        "description": wire.secret(SECRETS["description"]),
        "tags": {"Team": wire.secret(SECRETS["tag"])},
    }

    provider.check_config(PROVIDER_URN, {}, settings)
    provider.configure(settings, urn=PROVIDER_URN)
    checked = provider.check(ROLE_URN, {}, role)
    role_id, outputs = provider.create(ROLE_URN, checked.inputs)
    with pytest.raises(StandinError):
        provider.create(ROLE_URN, checked.inputs)
    news = {**checked.inputs, "description": wire.secret(SECRETS["description"] + " v2")}
    provider.diff(ROLE_URN, role_id, outputs, news, checked.inputs)
    outputs = provider.update(ROLE_URN, role_id, outputs, news, checked.inputs)
    provider.read(ROLE_URN, role_id, outputs, news)
    provider.delete(ROLE_URN, role_id, outputs, news)
    refused = provider.check(BUCKET_URN, {}, {"bucket": wire.secret(SECRETS["bad bucket"])})
    assert refused.failures

    text = log_path.read_text()
    for what, secret in SECRETS.items():
        assert secret not in text, what
    calls = read_calls(log_path)
    assert [call.method for call in calls] == [
        "CheckConfig",
        "Configure",
        "Check",
        "Create",
        "Create",
        "Diff",
        "Update",
        "Read",
        "Delete",
        "Check",
    ]
    create, duplicate = calls[3], calls[4]
    assert create == LoggedCall(
        method="Create",
        type="aws:iam/role:Role",
        urn=ROLE_URN,
        name="runner",
        id=wire.REDACTED,  # the id is the secret name
        inputs=["assumeRolePolicy", "description", "name", "tags"],
        summary=f"created {wire.REDACTED}",
        error=None,
        pid=create.pid,
        at=create.at,
    )
    assert calls[0].at <= create.at <= duplicate.at
    assert duplicate.error is not None and "EntityAlreadyExists" in duplicate.error
    assert calls[1].inputs == ["accessKey", "allowedAccountIds", "defaultTags", "region"]
    assert calls[-1].summary.startswith("bucket: bucket [secret] must contain only lowercase")


def test_no_log_is_written_unless_asked_for(tmp_path: Path) -> None:
    provider = StandinAwsProvider(None)
    provider.check(ROLE_URN, {}, {"assumeRolePolicy": POLICY})
    assert list(tmp_path.iterdir()) == []
    assert read_calls(tmp_path / "missing.jsonl") == []
