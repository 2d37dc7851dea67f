"""Credentials per call, and providers as Pulumi stores them (dill, by reference)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from rft_env.components.bedrock.inference import (
    CustomModelDeploymentProvider,
    ProvisionedThroughputProvider,
)
from rft_env.components.bedrock.job import RftCustomizationJobProvider
from rft_env.components.bedrock.session import Connection
from tests.components.bedrock.conftest import job_props
from tests.fakes.bedrock import FakeBedrock

REPO = Path(__file__).resolve().parents[3]
PROVIDERS = [
    RftCustomizationJobProvider,
    ProvisionedThroughputProvider,
    CustomModelDeploymentProvider,
]


def test_the_deployment_role_is_assumed_for_every_call(fake: FakeBedrock) -> None:
    role = "arn:aws:iam::111122223333:role/rft-env-deployer"
    props = job_props(fake)
    props["connection"] = {**props["connection"], "roleArn": role, "externalId": "rft-env-dev"}
    RftCustomizationJobProvider(clock=fake.clock).create(props)
    (assume,) = [params for name, params in fake.calls if name == "AssumeRole"]
    assert assume["RoleArn"] == role
    assert assume["ExternalId"] == "rft-env-dev"
    assert assume["RoleSessionName"] == "rft-env-bedrock"


def test_connection_round_trips_through_props() -> None:
    connection = Connection("us-east-1", "arn:aws:iam::1:role/r", "x1", "http://127.0.0.1:1")
    assert Connection.from_props({"connection": connection.to_props()}) == connection
    assert Connection("us-east-1").to_props() == {"region": "us-east-1"}


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_providers_pickle_by_reference_and_load_in_a_fresh_process(provider_class: type) -> None:
    """What Pulumi stores in `__provider`: small, no code, loadable by the provider plugin,
    which imports the class from its module path in the project directory."""
    provider = provider_class()
    # No boto3 client, session or credentials live on the provider: only a test clock slot.
    assert vars(provider) == {"clock": None}
    serialized = serialize_provider(provider)
    raw = base64.b64decode(serialized)
    assert len(raw) < 500, len(raw)  # a reference, not pickled code
    assert provider_class.__module__.encode() in raw
    script = (
        "import base64, dill, sys; "
        "p = dill.loads(base64.b64decode(sys.stdin.read())); "
        "print(type(p).__module__ + '.' + type(p).__name__, p.clock)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        input=serialized,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert loaded.stdout.split() == [
        f"{provider_class.__module__}.{provider_class.__name__}",
        "None",
    ]
    assert isinstance(dill.loads(raw), provider_class)
