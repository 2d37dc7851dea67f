"""The pack reads the stack's config from the engine's ConfigureStack request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pulumi
import pytest
from pulumi_policy import policy as policy_module
from pulumi_policy.policy import proto

from rft_env.policies.rules.common import (
    accept_engine_config,
    config_value,
    is_production,
    record_stack_config,
)
from rft_env.policies.rules.cross_account import stack_allow_list


@pytest.fixture(autouse=True)
def nothing_recorded() -> Iterator[None]:
    pulumi.runtime.set_all_config({})
    record_stack_config({})
    yield
    record_stack_config({})
    pulumi.runtime.set_all_config({})


def no_policy_config() -> SimpleNamespace:
    return SimpleNamespace(get_config=lambda: {})


def test_configure_stack_hands_the_config_to_the_rules_in_other_threads() -> None:
    """Under the engine the config arrives only in ConfigureStack (pulumi_policy keeps the
    tags alone), and the rules run in other gRPC threads."""
    accept_engine_config()
    accept_engine_config()  # twice: still one wrapper
    assert not is_production(no_policy_config())  # type: ignore[arg-type]
    request = proto.AnalyzerStackConfigureRequest(
        stack="prod",
        project="rft-env",
        config={
            "rft-env:production": "true",
            "rft-env:crossAccount": '[{"arn": "arn:aws:iam::123456789012:root", "reason": "r"}]',
        },
        tags={"pulumi:project": "rft-env"},
    )
    configure = threading.Thread(
        target=policy_module._PolicyAnalyzerServicer.ConfigureStack,
        args=(SimpleNamespace(), request, None),
    )
    configure.start()
    configure.join()

    seen: dict[str, object] = {}

    def rule() -> None:
        seen["production"] = is_production(no_policy_config())  # type: ignore[arg-type]
        seen["allowed"] = stack_allow_list().reason_for("arn:aws:iam::123456789012:root")

    thread = threading.Thread(target=rule)
    thread.start()
    thread.join()
    assert seen == {"production": True, "allowed": "r"}


def test_offline_the_rules_read_pulumi_config() -> None:
    pulumi.runtime.set_all_config({"rft-env:production": "false"})
    assert config_value("production") == "false"
    assert not is_production(no_policy_config())  # type: ignore[arg-type]
    pulumi.runtime.set_all_config({"rft-env:production": "yes"})
    assert is_production(no_policy_config())  # type: ignore[arg-type]  # unclear: strict
