"""`rftenv rollout` through the real Automation API and real worker processes: the CLI as
a user runs it from a copy of the project, over three local stacks in two waves, each
stack with its own engine, plugin processes and account, all served by one fake Bedrock
and one stand-in aws "cloud"."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rft_env.rftenv import automation, stack_files
from tests import standin_aws
from tests.engine.conftest import MakeEngine
from tests.engine.harness import Engine, build_engine
from tests.standin_aws import LoggedCall

pytestmark = pytest.mark.engine

FIRST_WAVE = ["dev"]
SECOND_WAVE = ["staging", "prod-b"]
PLAN = (
    "waves:\n"
    f"  - name: first\n    stacks: [{', '.join(FIRST_WAVE)}]\n"
    f"  - name: second\n    stacks: [{', '.join(SECOND_WAVE)}]\n"
)
# The one fake Bedrock serves every stack; it answers as dev's account.
FAKE_ACCOUNT = stack_files.stack_config("dev").account.id
SUMMARY_HEADER = ("STACK", "WAVE", "ACCOUNT", "REGION", "CHANGES", "RESULT", "DURATION")
# Bedrock operations that change something (the gate must stop a stack before any).
MUTATING_BEDROCK = re.compile(r"^(Create|Update|Delete|Stop)")


def account_of(stack: str) -> str:
    return stack_files.stack_config(stack).account.id


def stack_of(urn: str) -> str:
    """The stack a URN (urn:pulumi:<stack>::<project>::...) belongs to."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def calls_of(engine: Engine) -> list[LoggedCall]:
    return standin_aws.read_calls(Path(engine.env[standin_aws.LOG_ENV]))


def cloud_urns(engine: Engine, stack: str) -> set[str]:
    """The URNs of what exists in the stand-in's cloud for `stack`."""
    cloud = standin_aws.load_cloud(Path(engine.env[standin_aws.STATE_ENV]))
    return {r.urn for r in cloud.resources if stack_of(r.urn) == stack}


def real_creates(calls: list[LoggedCall], stack: str) -> list[LoggedCall]:
    """The stand-in's Create calls of an update of `stack` (previews also call Create,
    answered with the summary "preview")."""
    return [
        c
        for c in calls
        if c.method == "Create" and c.summary != "preview" and stack_of(c.urn) == stack
    ]


@dataclass(frozen=True)
class RolloutRun:
    code: int
    stdout: str
    stderr: str

    def results(self) -> dict[str, str]:
        """The RESULT column of the summary table, by stack."""
        lines = self.stdout.splitlines()
        header = next(i for i, line in enumerate(lines) if tuple(line.split()) == SUMMARY_HEADER)
        results = {}
        for line in lines[header + 1 :]:
            if not line.strip():
                break
            # Columns are padded with at least two spaces; "no changes" holds one.
            cells = re.split(r"\s{2,}", line.strip())
            results[cells[0]] = cells[SUMMARY_HEADER.index("RESULT")]
        return results

    def verdict(self) -> str:
        return self.stdout.rstrip().splitlines()[-1]

    def line_index(self, text: str) -> int:
        lines = self.stdout.splitlines()
        matches = [i for i, line in enumerate(lines) if text in line]
        assert matches, f"no line with {text!r} in:\n{self.stdout}"
        return matches[0]


def run_rollout(engine: Engine, *flags: str) -> RolloutRun:
    """`rftenv rollout` as a user runs it from the project: rftenv is imported from the
    copy (so its PROJECT_DIR, the workers' project, is the copy), with the engine's env."""
    plan = engine.root / "rollout-plan.yaml"
    plan.write_text(PLAN)
    completed = engine.run_python(
        "-m", "rft_env.rftenv.cli", "rollout", "--plan", str(plan), "--yes", *flags
    )
    return RolloutRun(completed.returncode, completed.stdout, completed.stderr)


# --------------------------------------------------------------------------------------
# One rollout of all three stacks, shared by the tests that read what it did
# --------------------------------------------------------------------------------------
# How long one second-wave job creation waits for the other's (under the providers' 60 s
# read timeout, so a wait never turns into a retried create).
RENDEZVOUS_SECONDS = 40.0


@dataclass
class SecondWaveRendezvous:
    """The fake Bedrock's hook on CreateModelCustomizationJob: it holds each second-wave
    job creation's answer until the other stack's creation has arrived too. Both meet only
    if the two updates were in flight at the same moment, whatever the machine's speed (a
    comparison of call timestamps is not: one update's creates can all end before the
    other's begin while both updates run)."""

    met: list[bool] = field(default_factory=list)
    _creates: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(len(SECOND_WAVE)))

    def __call__(self) -> None:
        with self._lock:
            self._creates += 1
            if self._creates <= len(FIRST_WAVE):
                return
        try:
            self._barrier.wait(timeout=RENDEZVOUS_SECONDS)
            self.met.append(True)
        except threading.BrokenBarrierError:
            self.met.append(False)


@dataclass(frozen=True)
class RolledOut:
    engine: Engine
    first: RolloutRun
    rendezvous: SecondWaveRendezvous


@pytest.fixture(scope="module")
def rolled_out(tmp_path_factory: pytest.TempPathFactory, pulumi_home: Path) -> Iterator[RolledOut]:
    """Three stacks deployed by one rollout (an up of each takes 15-60 s, so the tests
    that only read its results share it). The engine is built as conftest's make_engine
    builds one, at module scope."""
    engine = build_engine(tmp_path_factory.mktemp("rollout"), pulumi_home, FAKE_ACCOUNT)
    rendezvous = SecondWaveRendezvous()
    try:
        engine.fake.after_apply["CreateModelCustomizationJob"] = rendezvous
        try:
            first = run_rollout(engine)
        finally:
            del engine.fake.after_apply["CreateModelCustomizationJob"]
        assert first.code == 0, f"{first.stdout[-6000:]}\n{first.stderr[-4000:]}"
        yield RolledOut(engine, first, rendezvous)
    finally:
        engine.fake.stop()


def test_a_rollout_deploys_its_waves_in_order(rolled_out: RolledOut) -> None:
    engine, run = rolled_out.engine, rolled_out.first
    assert run.results() == {stack: "updated" for stack in FIRST_WAVE + SECOND_WAVE}
    assert run.verdict() == "rollout complete"
    # The second wave is previewed only once the first has been updated...
    assert run.line_index("wave 1/2 'first': update dev") < run.line_index(
        "wave 2/2 'second': preview staging, prod-b"
    )
    # ...and the stand-in saw every call of dev's engines before any of the second wave's.
    calls = [c for c in calls_of(engine) if c.urn]
    last_of_dev = max(c.at for c in calls if stack_of(c.urn) == "dev")
    first_of_second_wave = min(c.at for c in calls if stack_of(c.urn) in SECOND_WAVE)
    assert last_of_dev < first_of_second_wave

    for stack in FIRST_WAVE + SECOND_WAVE:
        # Every aws resource in the stack's state exists in the stand-in's cloud.
        in_state = {r["urn"] for r in engine.resources(stack) if r["type"].startswith("aws:")}
        assert in_state, stack
        assert cloud_urns(engine, stack) == in_state, stack
        # The stack's outputs are readable, in its own account, with its own job.
        outputs = engine.outputs(stack)
        assert outputs["accountId"] == account_of(stack)
        job = engine.fake.jobs[outputs["jobArn"]]
        assert job["jobName"] == outputs["jobName"]
    assert len(engine.fake.jobs) == 3


def test_the_second_waves_updates_run_in_parallel(rolled_out: RolledOut) -> None:
    calls = calls_of(rolled_out.engine)
    staging, prod_b = (real_creates(calls, stack) for stack in SECOND_WAVE)
    assert staging and prod_b
    # Each update has plugin processes of its own...
    assert not {c.pid for c in staging} & {c.pid for c in prod_b}
    # ...and each one's job creation waited for the other's: both were in flight at once.
    assert rolled_out.rendezvous.met == [True, True], "the updates did not overlap"


def test_the_gate_stops_a_stack_leaving_production_before_any_update(
    rolled_out: RolledOut,
) -> None:
    """prod-b's stack file now says it is not production: a protection-lowering change,
    judged against what is deployed, which the rollout was not told to allow."""
    engine = rolled_out.engine
    engine.config_set("prod-b", "rft-env:production", "false")
    calls_before = len(calls_of(engine))
    bedrock_before = len(engine.fake.calls)
    try:
        run = run_rollout(engine)
    finally:
        engine.config_set("prod-b", "rft-env:production", "true")

    assert run.code == 1, run.stdout
    assert run.results() == {"dev": "no changes", "staging": "previewed", "prod-b": "blocked"}
    assert run.verdict() == "rollout FAILED: wave 'second' did not pass its previews"
    assert "prod-b:   lowers a protection: leaves production (the deployed stack has " in (
        run.stdout
    )
    assert "--allow-lowering-protection prod-b" in run.stdout
    # Nothing was updated: the stand-in answered previews only, Bedrock only reads.
    new_calls = calls_of(engine)[calls_before:]
    assert new_calls, "the second rollout previewed nothing"
    changed = [
        c
        for c in new_calls
        if c.method in ("Create", "Update", "Delete") and c.summary != "preview"
    ]
    assert changed == []
    new_bedrock = [operation for operation, _ in engine.fake.calls[bedrock_before:]]
    assert not [op for op in new_bedrock if MUTATING_BEDROCK.match(op)], new_bedrock
    assert engine.outputs("prod-b")["production"] is True


# --------------------------------------------------------------------------------------
# Engines of their own
# --------------------------------------------------------------------------------------
def test_a_rollout_halts_at_the_first_failed_update(make_engine: MakeEngine) -> None:
    engine = make_engine(FAKE_ACCOUNT)
    # dev's job is refused; the provider does not retry a ValidationException.
    engine.fake.inject("CreateModelCustomizationJob", "ValidationException")

    run = run_rollout(engine)

    assert run.code == 1, run.stdout
    assert run.results() == {"dev": "failed", "staging": "not started", "prod-b": "not started"}
    assert run.verdict() == "rollout FAILED: an update in wave 'first' failed"
    # dev's update reached Bedrock (its failure is the refusal), which created nothing.
    assert engine.fake.count("CreateModelCustomizationJob") == 1
    assert engine.fake.jobs == {}
    # The second wave was never updated, nor even previewed.
    for stack in SECOND_WAVE:
        assert cloud_urns(engine, stack) == set(), stack
    assert {stack_of(c.urn) for c in calls_of(engine) if c.urn} == {"dev"}
    assert "wave 2/2" not in run.stdout
    # The operator is told why: dev's failure line carries Bedrock's refusal.
    failure_line = run.stdout.splitlines()[run.line_index("dev: update FAILED")]
    assert "ValidationException" in failure_line, failure_line


def test_the_worker_previews_a_stack_of_the_project_it_runs_in(make_engine: MakeEngine) -> None:
    """`python -m rftenv.automation preview dev`, as AutomationRunner starts it, over a
    copy of the project: the real engine previews dev with the policy pack."""
    engine = make_engine(account_of("dev"))
    completed = engine.run_python(
        "-m",
        "rft_env.rftenv.automation",
        "preview",
        "dev",
        "--project-dir",
        str(engine.project),
        "--policy-pack",
        str(engine.project / "policies"),
    )
    assert completed.returncode == 0, completed.stderr
    outcome = automation.outcome_from_json(json.loads(completed.stdout.splitlines()[-1])["outcome"])

    assert outcome.ok, outcome.error
    assert outcome.policy == []
    # A new stack: only creates, the training job among them.
    assert set(outcome.changes) == {"create"} and outcome.changes["create"] > 0
    assert {step.op for step in outcome.steps} == {"create"}
    job_type = "pulumi-python:dynamic/bedrock:RftCustomizationJob"
    assert job_type in {step.type for step in outcome.steps}
    # A preview: nothing exists anywhere, but the stack was made in the copy (its stack
    # file got the encryption salt, which the old version of this test wrote into the repo).
    assert cloud_urns(engine, "dev") == set()
    assert engine.fake.jobs == {}
    assert "encryptionsalt:" in (engine.project / "stacks" / "Pulumi.dev.yaml").read_text()
