"""Every example stack through the real engine: config as users write it, the policy pack,
`pulumi preview` and `pulumi up`, and outputs that equal `rftenv synth`'s."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import rpc

from rft_env.rftenv import stack_files, synth
from tests.engine.conftest import MakeEngine
from tests.engine.harness import Engine

pytestmark = pytest.mark.engine

STACKS = stack_files.available_stacks()
# An address set with `pulumi config set --secret`: it must never reach state or output in
# plain text.
SECRET_EMAIL = "secret-oncall-7f3a@example.com"


def account_of(stack: str) -> str:
    return stack_files.stack_config(stack).account.id


def engine_values(engine: Engine, stack: str) -> dict[str, str]:
    """The stack's config as the engine hands it to the program (secrets in plain text)."""
    shown = engine.pulumi("config", "--json", "--show-secrets", stack=stack)
    return {key: entry["value"] for key, entry in json.loads(shown.stdout).items()}


def set_config_as_users_do(engine: Engine, stack: str) -> None:
    engine.init(stack)
    engine.config_set(stack, "rft-env:job.hyperparameters.epochCount", "2", "--path")
    engine.config_set(stack, "rft-env:notificationEmails[0]", SECRET_EMAIL, "--path", "--secret")


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("stack", STACKS)
def test_an_example_stack_previews_with_the_policy_pack_and_deploys(
    stack: str, make_engine: MakeEngine
) -> None:
    engine = make_engine(account_of(stack))
    set_config_as_users_do(engine, stack)
    stack_file = (engine.project / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    assert "epochCount: 2" in stack_file and "secure:" in stack_file
    assert SECRET_EMAIL not in stack_file

    preview = engine.preview(stack, "--policy-pack", str(engine.project / "policies"))
    up = engine.up(stack)
    outputs = engine.outputs(stack)

    # The secret stays encrypted in the stack file, state and every output.
    for text in (preview.stdout, preview.stderr, up.stdout, up.stderr, engine.state_file(stack)):
        assert SECRET_EMAIL not in text
    assert SECRET_EMAIL not in json.dumps(outputs)
    # Every address of the secret key (the whole key is secret) is encrypted in state.
    subscriptions = [
        r
        for r in engine.resources(stack)
        if r["type"] == "aws:sns/topicSubscription:TopicSubscription"
    ]
    assert subscriptions
    for subscription in subscriptions:
        endpoint = subscription["inputs"]["endpoint"]
        assert endpoint[rpc._special_sig_key] == rpc._special_secret_sig, endpoint
        assert set(endpoint) == {rpc._special_sig_key, "ciphertext"}

    # The outputs are what `rftenv synth` shows for the same config.
    predicted = synth.synthesize(stack, engine.project, config=engine_values(engine, stack))
    expected = plain(predicted["outputs"])
    assert outputs.keys() == expected.keys()
    assert outputs["jobName"] == expected["jobName"]
    # Every resource has the URN synth predicts (nested ones were wrong until the engine
    # showed the whole parent type chain), and the same parent.
    deployed = {r["urn"]: r.get("parent") for r in engine.resources(stack)}
    stack_urn = next(
        urn for urn in deployed if urn.endswith(f"::pulumi:pulumi:Stack::rft-env-{stack}")
    )
    assert {r["urn"]: r["parent"] or stack_urn for r in predicted["resources"]} == {
        urn: parent
        for urn, parent in deployed.items()
        # The engine's own default provider for the dynamic resources is not the program's.
        if urn != stack_urn and not urn.endswith("::pulumi:providers:pulumi-python::default")
    }
    assert {k: v for k, v in outputs.items() if k not in BEDROCK_OUTPUTS} == {
        k: v for k, v in expected.items() if k not in BEDROCK_OUTPUTS
    }
    # Bedrock's own values: the fake's ARNs where synth predicts the form, the same states.
    (job,) = engine.fake.jobs.values()
    assert (job["jobName"], job["status"]) == (expected["jobName"], expected["jobStatus"])
    assert outputs["jobArn"] == job["jobArn"] and outputs["jobStatus"] == job["status"]
    assert outputs["customModelArn"] == job.get("outputModelArn", "")
    assert bool(outputs["customModelArn"]) == bool(expected["customModelArn"])
    served = [*engine.fake.throughputs, *engine.fake.deployments]
    assert [outputs["inferenceArn"]] == (served or [""])
    assert bool(outputs["inferenceArn"]) == bool(expected["inferenceArn"])
    status = expected["inferenceStatus"].replace(expected["jobArn"], outputs["jobArn"])
    if expected["inferenceArn"]:
        status = status.replace(expected["inferenceArn"], outputs["inferenceArn"])
    assert outputs["inferenceStatus"] == status


# Outputs read back from Bedrock (the fake's ARNs and statuses), compared on their own.
BEDROCK_OUTPUTS = {"jobArn", "jobStatus", "customModelArn", "inferenceArn", "inferenceStatus"}
