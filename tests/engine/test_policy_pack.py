"""The policy pack under the real engine: `pulumi preview --policy-pack policies` on the
deliberately broken program (tests/policies/broken_program) blocks it with the verdicts
`rftenv audit` computes offline for the same program and config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rft_env.policies.rules import ALL_POLICIES
from rft_env.rftenv import audit, stack_files, synth
from tests import standin_aws
from tests.engine.conftest import MakeEngine
from tests.engine.harness import Engine
from tests.standin_aws.resources import SPECS

pytestmark = pytest.mark.engine

BROKEN_PROGRAM = Path(__file__).resolve().parents[1] / "policies" / "broken_program" / "__main__.py"
STACK = "prod"  # the stack the broken program is written for (its ACCOUNT is prod's)
ACCOUNT = stack_files.stack_config(STACK).account.id
DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"
# Where a verdict that names no resource (a stack-wide finding) is filed.
STACK_WIDE = "stack"
# What the project's __main__.py becomes in the copy. The broken program runs
# `<project>/__main__.py` (the real environment) and adds its resources; under the engine
# the program must run from the project directory (relative asset paths resolve against
# it), so the entry point runs the broken program first, and the real program (kept as
# ENVIRONMENT_PROGRAM) when the broken program runs it.
ENVIRONMENT_PROGRAM = "rft_env_program.py"
BROKEN_ENTRY_POINT = f'''"""The broken program; it runs this file again for the environment."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if getattr(sys, "rftenv_broken_program_running", False):
    runpy.run_path(str(HERE / "{ENVIRONMENT_PROGRAM}"), run_name="__main__")
else:
    sys.rftenv_broken_program_running = True
    broken = HERE / "tests" / "policies" / "broken_program" / "__main__.py"
    runpy.run_path(str(broken), run_name="__main__")
'''

Verdict = tuple[str, str, str]  # (policy, resource URN or STACK_WIDE, enforcement level)


@pytest.fixture(scope="module")
def broken_graph() -> dict[str, Any]:
    return synth.synthesize(STACK, program=BROKEN_PROGRAM)


@pytest.fixture(autouse=True)
def standin_implements_the_broken_program(broken_graph: dict[str, Any]) -> None:
    """Preview runs every resource through its provider's Check: the stand-in aws plugin
    must know every aws type the broken program declares, or the engine stops there."""
    declared = {r["type"] for r in broken_graph["resources"] if r["type"].startswith("aws:")}
    missing = sorted(declared - set(SPECS))
    assert not missing, f"tests/standin_aws/resources.py SPECS lacks {missing}"


def engine_running_the_broken_program(make_engine: MakeEngine) -> Engine:
    engine = make_engine(ACCOUNT)
    entry_point = engine.project / "__main__.py"
    (engine.project / ENVIRONMENT_PROGRAM).write_text(entry_point.read_text())
    entry_point.write_text(BROKEN_ENTRY_POINT)
    engine.init(STACK)
    return engine


def test_the_engine_refuses_the_broken_default_provider_resource_itself(
    make_engine: MakeEngine,
) -> None:
    """With prod's config as it is (`pulumi:disable-default-providers: [aws]`), the
    engine refuses `default-provider-topic` at registration, before the policy pack sees
    the program; `rftenv audit` has aws-explicit-provider block it instead."""
    engine = engine_running_the_broken_program(make_engine)

    preview = engine.preview(STACK, "--policy-pack", str(engine.project / "policies"), check=False)

    assert preview.returncode != 0
    assert (
        "Default provider for 'aws' disabled. "
        f"'urn:pulumi:{STACK}::rft-env::aws:sns/topic:Topic::default-provider-topic' "
        "must use an explicit provider."
    ) in preview.stdout + preview.stderr


def test_the_engine_blocks_the_broken_program_with_the_offline_audits_verdicts(
    make_engine: MakeEngine,
) -> None:
    """The same program and the same config on both sides. The config allows default
    providers, so that the engine lets `default-provider-topic` through to the pack (see
    the test above); the stand-in needs an account for that default provider."""
    engine = engine_running_the_broken_program(make_engine)
    engine.pulumi("config", "rm", DISABLE_DEFAULT_PROVIDERS, stack=STACK)
    engine.env[standin_aws.CALLER_ACCOUNT_ENV] = ACCOUNT
    # `--json` streams the engine's events (policy events among them) with this set.
    engine.env["PULUMI_ENABLE_STREAMING_JSON_PREVIEW"] = "true"

    preview = engine.preview(
        STACK, "--json", "--policy-pack", str(engine.project / "policies"), check=False
    )
    events = [json.loads(line) for line in preview.stdout.splitlines() if line.strip()]

    # The offline audit of the same program, with the config the engine ran it with.
    stack_config = stack_files.engine_config(STACK, engine.project)
    assert DISABLE_DEFAULT_PROVIDERS not in stack_config
    graph = synth.synthesize(STACK, config=stack_config, program=BROKEN_PROGRAM)
    offline = audit.audit(graph, stack_config)
    offline_verdicts = {(v.policy, v.urn or STACK_WIDE, v.enforcement) for v in offline.violations}
    engine_verdicts = {
        (policy["policyName"], policy.get("resourceUrn") or STACK_WIDE, policy["enforcementLevel"])
        for policy in (event["policyEvent"] for event in events if "policyEvent" in event)
    }

    planned = [
        event["resourcePreEvent"]["metadata"] for event in events if "resourcePreEvent" in event
    ]
    # The engine ran the whole program: it planned every resource the audit judged.
    assert {(r["type"], r["name"]) for r in graph["resources"]} <= {
        (step["type"], step["urn"].rsplit("::", 1)[-1]) for step in planned
    }
    # Blocked: a failed preview whose only error is the pack's verdict.
    assert preview.returncode != 0
    errors = [
        event["diagnosticEvent"]["message"].strip()
        for event in events
        if "diagnosticEvent" in event and event["diagnosticEvent"]["severity"] == "error"
    ]
    assert errors == ["preview failed"], errors
    # Rule by rule: every rule of the pack blocks something of the broken program offline,
    # and the engine reaches exactly the offline verdicts.
    assert {policy for policy, _, level in offline_verdicts if level == "mandatory"} == {
        policy.name for policy in ALL_POLICIES
    }
    assert engine_verdicts == offline_verdicts, verdict_difference(
        engine_verdicts, offline_verdicts
    )
    # Verdicts are filed by URN: the audit names every resource as the engine does.
    unknown_to_the_engine = {r["urn"] for r in graph["resources"]} - {s["urn"] for s in planned}
    assert not unknown_to_the_engine, sorted(unknown_to_the_engine)


def verdict_difference(engine: set[Verdict], offline: set[Verdict]) -> str:
    lines = ["engine and offline audit differ:"]
    lines += [f"  only the engine:  {v}" for v in sorted(engine - offline)]
    lines += [f"  only the offline audit: {v}" for v in sorted(offline - engine)]
    return "\n".join(lines)
