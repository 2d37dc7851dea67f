"""The provider's settings: the account is the assumed role's (else the caller's, else the one
allowed), and an account that is not allowed is refused as pulumi-aws refuses it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Graph
from tests.standin_aws import CALLER_ACCOUNT_ENV, StandinAwsProvider, StandinError, wire
from tests.standin_aws.provider import ErrorKind
from tests.standin_aws_test.conftest import provider_inputs

URN = "urn:pulumi:dev::rft-env::pulumi:providers:aws::target-account"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> StandinAwsProvider:
    for name in (CALLER_ACCOUNT_ENV, "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return StandinAwsProvider(None)


def settings(**values: object) -> dict[str, object]:
    """Settings as the pulumi_aws SDK sends them: structured ones as JSON text."""
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in {"region": "us-east-1", **values}.items()
    }


def test_every_example_stacks_provider_is_in_its_own_account(
    graphs: dict[str, Graph], provider: StandinAwsProvider
) -> None:
    for graph in graphs.values():
        config = provider.configure(provider_inputs(graph))
        assert (config.account_id, config.region) == (
            graph.result["accountId"],
            graph.result["region"],
        )
        assert config.default_tags["Stack"] == graph.stack


def test_the_account_is_the_assumed_roles(provider: StandinAwsProvider) -> None:
    config = provider.configure(
        settings(
            allowedAccountIds=["777788889999"],
            assumeRoles=[{"roleArn": "arn:aws:iam::777788889999:role/deployer"}],
        )
    )
    assert config.account_id == "777788889999"


def test_an_assumed_role_in_another_account_is_refused(provider: StandinAwsProvider) -> None:
    with pytest.raises(StandinError, match="AWS account ID not allowed: 444455556666") as raised:
        provider.configure(
            settings(
                allowedAccountIds=["777788889999"],
                assumeRoles=[{"roleArn": "arn:aws:iam::444455556666:role/deployer"}],
            )
        )
    assert raised.value.kind is ErrorKind.PERMISSION_DENIED


def test_without_a_role_the_callers_account_is_checked(
    provider: StandinAwsProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        provider.configure(settings(allowedAccountIds=["111122223333"])).account_id
        == "111122223333"
    )

    monkeypatch.setenv(CALLER_ACCOUNT_ENV, "999988887777")
    with pytest.raises(StandinError, match="AWS account ID not allowed: 999988887777"):
        provider.configure(settings(allowedAccountIds=["111122223333"]))
    with pytest.raises(StandinError, match="not allowed"):
        provider.configure(settings(forbiddenAccountIds=["999988887777"]))


def test_an_account_that_cannot_be_told_is_an_error(provider: StandinAwsProvider) -> None:
    with pytest.raises(StandinError, match=CALLER_ACCOUNT_ENV):
        provider.configure(settings(allowedAccountIds=["111122223333", "444455556666"]))


def test_a_region_is_needed_from_the_settings_or_the_environment(
    provider: StandinAwsProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_region = {"allowedAccountIds": '["111122223333"]'}
    failures = provider.check_config(URN, {}, no_region).failures
    assert [f.property for f in failures] == ["region"]
    with pytest.raises(StandinError, match="Missing region"):
        provider.configure(no_region)

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert provider.check_config(URN, {}, no_region).failures == []
    assert provider.configure(no_region).region == "eu-west-1"


def test_secret_default_tags_stay_secret(provider: StandinAwsProvider) -> None:
    tags = wire.secret(json.dumps({"tags": {"Owner": "hidden"}}))
    config = provider.configure(
        {**settings(allowedAccountIds=["111122223333"]), "defaultTags": tags}
    )
    assert config.default_tags == {"Owner": wire.secret("hidden")}
