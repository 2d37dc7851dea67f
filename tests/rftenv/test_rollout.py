"""`rftenv rollout`: waves, gates, halting, parallelism and the summary, through the
stack-runner seam (no Pulumi CLI), plus the Automation API worker's plumbing."""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest
from pulumi.automation import EngineEvent

from rft_env.rftenv import automation, rollout, stack_files
from rft_env.rftenv.cli import main
from rft_env.rftenv.rollout import (
    Deployed,
    Outcome,
    PlanError,
    PolicyFinding,
    ResourceState,
    RolloutPlan,
    StackInfo,
    StackResult,
    Step,
    Wave,
    load_plan,
    run_rollout,
)
from tests.conftest import REPO

NONPROD = StackInfo("111122223333", "us-east-1", production=False)
PROD = StackInfo("777788889999", "us-east-1", production=True)
CREATE = {"create": 3}


class FakeRunner:
    """Scripted outcomes per stack; records the order of calls and their concurrency.
    Reads of the deployed state are recorded apart, in `reads` (default: never deployed)."""

    def __init__(
        self,
        previews: dict[str, Outcome] | None = None,
        ups: dict[str, Outcome] | None = None,
        barrier: threading.Barrier | None = None,
        deployed: dict[str, Deployed] | None = None,
    ) -> None:
        self.previews = previews or {}
        self.ups = ups or {}
        self.barrier = barrier
        self.deployments = deployed or {}
        self.reads: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def _call(self, operation: str, stack: str, progress: Callable[[str], None]) -> Outcome:
        with self._lock:
            self.calls.append((operation, stack))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            progress(f"{operation} started")
            if self.barrier is not None:
                # Returns only when the whole wave is running at the same time.
                self.barrier.wait(timeout=5)
            scripted = (self.previews if operation == "preview" else self.ups).get(stack)
            return scripted or Outcome(ok=True, changes=dict(CREATE))
        finally:
            with self._lock:
                self.active -= 1

    def deployed(self, stack: str, progress: Callable[[str], None]) -> Deployed:
        with self._lock:
            self.reads.append(stack)
            # The gate compares a preview with what was deployed before it.
            assert ("preview", stack) not in self.calls, "deployed state read after preview"
        return self.deployments.get(stack, Deployed())

    def preview(self, stack: str, progress: Callable[[str], None]) -> Outcome:
        return self._call("preview", stack, progress)

    def up(self, stack: str, progress: Callable[[str], None]) -> Outcome:
        return self._call("up", stack, progress)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += 5.0
            return self.now


def plan(*waves: tuple[str, list[str]], allow: dict[str, list[str]] | None = None) -> RolloutPlan:
    return RolloutPlan(
        waves=[Wave(name=name, stacks=stacks) for name, stacks in waves],
        allowReplace=allow or {},
    )


PLAN = plan(("dev", ["dev"]), ("staging", ["staging"]), ("prod", ["prod-a", "prod-b"]))
INFOS = {"dev": NONPROD, "staging": NONPROD, "prod-a": PROD, "prod-b": PROD}


def roll(
    runner: FakeRunner,
    the_plan: RolloutPlan = PLAN,
    infos: dict[str, StackInfo] = INFOS,
    **options: object,
) -> tuple[rollout.RolloutReport, str]:
    out = io.StringIO()
    report = run_rollout(the_plan, runner, infos, out=out, clock=Clock(), **options)  # type: ignore[arg-type]
    return report, out.getvalue()


def results(report: rollout.RolloutReport) -> dict[str, str]:
    return {r.stack: r.result for r in report.results}


# --- order -----------------------------------------------------------------------------
def test_waves_run_in_order_each_previewed_before_it_is_updated() -> None:
    runner = FakeRunner()
    report, out = roll(runner, parallel=1)
    assert report.ok
    assert runner.calls == [
        ("preview", "dev"),
        ("up", "dev"),
        ("preview", "staging"),
        ("up", "staging"),
        ("preview", "prod-a"),
        ("preview", "prod-b"),
        ("up", "prod-a"),
        ("up", "prod-b"),
    ]
    assert set(results(report).values()) == {"updated"}
    # Live progress carries the stack's name.
    assert "  prod-b: up started" in out


def test_preview_only_previews_every_wave_and_updates_nothing() -> None:
    runner = FakeRunner()
    report, _ = roll(runner, preview_only=True)
    assert report.ok
    assert {op for op, _ in runner.calls} == {"preview"}
    assert set(results(report).values()) == {"previewed"}


def test_a_wave_without_changes_is_not_updated() -> None:
    runner = FakeRunner(previews={"dev": Outcome(ok=True, changes={})})
    report, out = roll(runner, plan(("dev", ["dev"])))
    assert report.ok and results(report) == {"dev": "no changes"}
    assert ("up", "dev") not in runner.calls
    assert "nothing to update" in out


# --- gates -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("preview", "reason"),
    [
        (Outcome(ok=False, error="error: config invalid"), "preview failed: error: config invalid"),
        (
            Outcome(
                ok=False,
                policy=[
                    PolicyFinding(
                        "s3-bucket-tls-only",
                        "mandatory",
                        "urn:pulumi:staging::rft-env::aws:s3/bucket:Bucket::loose",
                        "no TLS",
                    )
                ],
            ),
            "policy s3-bucket-tls-only [mandatory] (loose): no TLS",
        ),
        (
            Outcome(
                ok=True,
                changes={"replace": 1},
                steps=[Step("replace", "urn:x::aws:kms/key:Key::rft-kms-key", "k", protected=True)],
            ),
            "would replace protected resource urn:x::aws:kms/key:Key::rft-kms-key",
        ),
    ],
)
def test_a_failed_gate_stops_before_any_update(preview: Outcome, reason: str) -> None:
    runner = FakeRunner(previews={"staging": preview})
    report, out = roll(runner)
    assert not report.ok
    assert results(report) == {
        "dev": "updated",
        "staging": "blocked",
        "prod-a": "not started",
        "prod-b": "not started",
    }
    assert ("up", "staging") not in runner.calls
    assert not any(stack.startswith("prod") for _, stack in runner.calls)
    blocked = next(r for r in report.results if r.stack == "staging")
    assert any(reason in r for r in blocked.reasons), blocked.reasons
    assert reason in out
    assert report.halted == "wave 'staging' did not pass its previews"


def test_every_preview_of_a_wave_runs_even_when_one_is_blocked() -> None:
    """All of a wave's previews finish, so the operator sees every problem at once."""
    runner = FakeRunner(previews={"prod-a": Outcome(ok=False, error="boom")})
    report, _ = roll(runner, plan(("prod", ["prod-a", "prod-b"])))
    assert results(report) == {"prod-a": "blocked", "prod-b": "previewed"}
    assert [op for op, _ in runner.calls] == ["preview", "preview"]


def test_production_stacks_gate_any_replacement_or_deletion() -> None:
    deleting = Outcome(
        ok=True,
        changes={"delete": 1},
        steps=[Step("delete", "urn:prod::aws:lambda/function:Function::grader", "f")],
    )
    report, _ = roll(FakeRunner(previews={"prod-a": deleting}), plan(("prod", ["prod-a"])))
    assert results(report) == {"prod-a": "blocked"}
    # The same change in a non-production stack is fine.
    report, _ = roll(FakeRunner(previews={"dev": deleting}), plan(("dev", ["dev"])))
    assert results(report) == {"dev": "updated"}


def test_allow_replace_lets_a_reviewed_replacement_through() -> None:
    replacing = Outcome(
        ok=True,
        changes={"replace": 1},
        steps=[Step("replace", "urn:prod::x:RftCustomizationJob::rft-training-job", "j", True)],
    )
    allowed = plan(("prod", ["prod-a"]), allow={"prod-a": ["urn:prod::*::rft-training-job"]})
    report, _ = roll(FakeRunner(previews={"prod-a": replacing}), allowed)
    assert results(report) == {"prod-a": "updated"}
    other = plan(("prod", ["prod-a"]), allow={"prod-a": ["urn:prod::*::something-else"]})
    report, _ = roll(FakeRunner(previews={"prod-a": replacing}), other)
    assert results(report) == {"prod-a": "blocked"}


def test_the_gate_reports_every_reason() -> None:
    preview = Outcome(
        ok=False,
        error="failed",
        policy=[PolicyFinding("a", "advisory", "", "m")],
        steps=[
            Step("create", "urn:c", "t"),
            Step("delete-replaced", "urn:d", "t", protected=True),
            Step("update", "urn:u", "t", protected=True),
        ],
    )
    reasons = rollout.gate("s", NONPROD, preview, [], Deployed())
    assert reasons == [
        "preview failed: failed",
        "policy a [advisory]: m",
        "would delete-replaced protected resource urn:d "
        "(allow it under allowReplace.s in the plan)",
    ]


# --- protections lowered, judged against what is deployed -----------------------------------
KEY_TYPE, BUCKET_TYPE = "aws:kms/key:Key", "aws:s3/bucket:Bucket"
KEY = f"urn:pulumi:prod-a::rft-env::{KEY_TYPE}::rft-kms-key"
BUCKET = f"urn:pulumi:prod-a::rft-env::{BUCKET_TYPE}::rft-storage-data"
GRADER = "urn:pulumi:prod-a::rft-env::aws:lambda/function:Function::rft-grader"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown value at preview


def key(window: object = 30, *, protect: bool = True) -> ResourceState:
    return ResourceState(KEY, KEY_TYPE, protect=protect, inputs={"deletionWindowInDays": window})


def bucket(force: object = False, *, protect: bool = True) -> ResourceState:
    return ResourceState(BUCKET, BUCKET_TYPE, protect=protect, inputs={"forceDestroy": force})


# `prod-a` as a production deployment leaves it: a protected key with a 30-day window and a
# protected bucket without forceDestroy.
DEPLOYED_PROD = Deployed(resources=[key(), bucket()], outputs={"production": True})
LOWERED = "lowers a protection: "
ALLOW = " (allow it with `rftenv rollout --allow-lowering-protection prod-a`)"


@pytest.mark.parametrize(
    ("deployed", "planned", "production", "lowered"),
    [
        # Nothing deployed yet: nothing to lower.
        (Deployed(), [key(7, protect=False), bucket(True)], False, []),
        # Raising protections lowers nothing.
        (Deployed(resources=[key(7, protect=False), bucket(True)]), [key(), bucket()], True, []),
        (DEPLOYED_PROD, [key(), bucket()], True, []),
        (
            DEPLOYED_PROD,
            [key(7)],
            True,
            [
                f"shortens the deletion window (deletionWindowInDays) from 30 days to 7 days "
                f"on {KEY}"
            ],
        ),
        # A key deployed without a window has KMS's default, 30 days.
        (
            Deployed(resources=[ResourceState(KEY, KEY_TYPE)]),
            [key(14, protect=False)],
            False,
            [
                f"shortens the deletion window (deletionWindowInDays) from 30 days to 14 days "
                f"on {KEY}"
            ],
        ),
        (
            DEPLOYED_PROD,
            [key(UNKNOWN)],
            True,
            [
                "shortens the deletion window (deletionWindowInDays) from 30 days to a value "
                f"not known until the update on {KEY}"
            ],
        ),
        # Another type's default is not assumed to be KMS's.
        (
            Deployed(
                resources=[ResourceState("urn:c", "aws:x/y:Z", inputs={"deletionWindowInDays": 9})]
            ),
            [ResourceState("urn:c", "aws:x/y:Z")],
            False,
            [
                "shortens the deletion window (deletionWindowInDays) from 9 days to the type's "
                "default on urn:c"
            ],
        ),
        (DEPLOYED_PROD, [bucket(True)], True, [f"sets forceDestroy to true on {BUCKET}"]),
        (
            Deployed(resources=[ResourceState(BUCKET, BUCKET_TYPE)]),
            [bucket(UNKNOWN, protect=False)],
            False,
            [f"sets forceDestroy to a value not known until the update on {BUCKET}"],
        ),
        (Deployed(resources=[bucket(True)]), [bucket(True)], True, []),
        (DEPLOYED_PROD, [bucket(protect=False)], True, [f"removes protect from {BUCKET}"]),
        (
            Deployed(resources=[ResourceState(GRADER, "f", retain_on_delete=True)]),
            [ResourceState(GRADER, "f")],
            False,
            [f"removes retainOnDelete from {GRADER}"],
        ),
        (
            DEPLOYED_PROD,
            [],
            False,
            [
                "leaves production (the deployed stack has production: true; its stack "
                "config now says production: false)"
            ],
        ),
        # Deployed before the program exported `production`, or as non-production: the
        # resources' own protections still count.
        (Deployed(resources=[key()]), [key(protect=False)], False, [f"removes protect from {KEY}"]),
        (Deployed(outputs={"production": False}), [], False, []),
        # A replacement's steps all carry the new state: it is judged once.
        (
            DEPLOYED_PROD,
            [bucket(True), bucket(True)],
            True,
            [f"sets forceDestroy to true on {BUCKET}"],
        ),
    ],
)
def test_lowered_protections_compare_the_plan_with_the_deployed_state(
    deployed: Deployed, planned: list[ResourceState], production: bool, lowered: list[str]
) -> None:
    assert rollout.lowered_protections(deployed, planned, production=production) == lowered


def red_team_preview() -> Outcome:
    """`production: false` and `deletionWindowDays: 7` on prod in one change: the program
    then unprotects the key and the buckets, and sets forceDestroy."""
    return Outcome(
        ok=True,
        changes={"update": 2},
        steps=[
            Step("update", KEY, KEY_TYPE, protected=True),
            Step("update", BUCKET, BUCKET_TYPE, protected=True),
        ],
        planned=[key(7, protect=False), bucket(True, protect=False)],
    )


RED_TEAM_INFOS = {"prod-a": StackInfo("777788889999", "us-east-1", production=False)}
RED_TEAM_REASONS = [
    LOWERED + "leaves production (the deployed stack has production: true; its stack config "
    "now says production: false)" + ALLOW,
    f"{LOWERED}removes protect from {KEY}{ALLOW}",
    f"{LOWERED}shortens the deletion window (deletionWindowInDays) from 30 days to 7 days "
    f"on {KEY}{ALLOW}",
    f"{LOWERED}removes protect from {BUCKET}{ALLOW}",
    f"{LOWERED}sets forceDestroy to true on {BUCKET}{ALLOW}",
]


def test_leaving_production_with_a_shorter_key_window_stops_before_any_update() -> None:
    """The red-team case: the edited stack file says the stack is not production, so only
    the deployed state shows what the change takes away."""
    runner = FakeRunner(previews={"prod-a": red_team_preview()}, deployed={"prod-a": DEPLOYED_PROD})
    report, out = roll(runner, plan(("prod", ["prod-a"])), RED_TEAM_INFOS)
    assert results(report) == {"prod-a": "blocked"}
    assert runner.reads == ["prod-a"]
    assert ("up", "prod-a") not in runner.calls
    (blocked,) = report.results
    assert blocked.reasons == RED_TEAM_REASONS
    for reason in RED_TEAM_REASONS:
        assert f"  prod-a:   {reason}" in out


def test_the_flag_lets_a_reviewed_lowering_through_and_still_shows_it() -> None:
    runner = FakeRunner(previews={"prod-a": red_team_preview()}, deployed={"prod-a": DEPLOYED_PROD})
    report, out = roll(
        runner, plan(("prod", ["prod-a"])), RED_TEAM_INFOS, allow_lowering={"prod-a"}
    )
    assert results(report) == {"prod-a": "updated"}
    assert (
        "  prod-a:   allowed by --allow-lowering-protection: sets forceDestroy to true on " in out
    )
    # Leave for one stack is no leave for another.
    runner = FakeRunner(previews={"prod-a": red_team_preview()}, deployed={"prod-a": DEPLOYED_PROD})
    report, _ = roll(runner, plan(("prod", ["prod-a"])), RED_TEAM_INFOS, allow_lowering={"prod-b"})
    assert results(report) == {"prod-a": "blocked"}


def test_a_stack_deployed_as_production_gates_deletions_whatever_its_file_says() -> None:
    """Deleting the key, the data bucket or any other resource of a stack deployed as
    production needs allowReplace, even once the file says `production: false` and even
    with leave to lower protections."""
    deleting = Outcome(
        ok=True,
        changes={"delete": 3},
        steps=[
            Step("delete", KEY, KEY_TYPE, protected=True),
            Step("delete", BUCKET, BUCKET_TYPE, protected=True),
            Step("delete", GRADER, "aws:lambda/function:Function"),
        ],
    )
    deployed = Deployed(
        resources=[*DEPLOYED_PROD.resources, ResourceState(GRADER, "f")],
        outputs={"production": True},
    )
    reasons = rollout.gate(
        "prod-a", RED_TEAM_INFOS["prod-a"], deleting, [], deployed, allow_lowering=True
    )
    allow = " (allow it under allowReplace.prod-a in the plan)"
    assert reasons == [
        f"would delete protected resource {KEY}{allow}",
        f"would delete protected resource {BUCKET}{allow}",
        f"would delete resource of a production stack {GRADER}{allow}",
    ]
    # A stack never deployed as production, with the same file, may delete its grader.
    assert (
        rollout.gate("dev", NONPROD, Outcome(ok=True, steps=deleting.steps[2:]), [], Deployed())
        == []
    )


@pytest.mark.parametrize(
    "deployed",
    [
        Deployed(ok=False, error="error: could not decrypt the state"),
        RuntimeError("worker vanished"),
    ],
)
def test_a_stack_whose_deployed_state_cannot_be_read_is_stopped(
    deployed: Deployed | Exception,
) -> None:
    class Unreadable(FakeRunner):
        def deployed(self, stack: str, progress: Callable[[str], None]) -> Deployed:
            if isinstance(deployed, Exception):
                raise deployed
            return deployed

    report, out = roll(Unreadable(), plan(("dev", ["dev"])), allow_lowering={"dev"})
    assert results(report) == {"dev": "blocked"}
    expected = (
        "error: could not decrypt the state"
        if isinstance(deployed, Deployed)
        else "RuntimeError: worker vanished"
    )
    assert f"dev:   could not read the deployed state: {expected}" in out


def test_leave_to_lower_must_name_stacks_of_the_plan() -> None:
    assert rollout.check_allow_lowering(PLAN, ["prod-a", "prdo-a", "prdo-a"]) == [
        "--allow-lowering-protection: got 'prdo-a'; allowed: a stack of the plan "
        "(dev, staging, prod-a, prod-b)"
    ]


# --- halting -------------------------------------------------------------------------------
def test_the_first_failed_update_halts_the_rollout() -> None:
    runner = FakeRunner(ups={"staging": Outcome(ok=False, error="AccessDenied on kms:CreateKey")})
    report, out = roll(runner)
    assert results(report) == {
        "dev": "updated",
        "staging": "failed",
        "prod-a": "not started",
        "prod-b": "not started",
    }
    assert report.halted == "an update in wave 'staging' failed"
    assert "staging: update FAILED" in out and "AccessDenied on kms:CreateKey" in out


def test_within_a_wave_no_further_update_starts_after_a_failure() -> None:
    runner = FakeRunner(ups={"prod-a": Outcome(ok=False, error="boom")})
    report, _ = roll(runner, plan(("prod", ["prod-a", "prod-b"])), parallel=1)
    assert results(report) == {"prod-a": "failed", "prod-b": "skipped"}
    assert ("up", "prod-b") not in runner.calls


def test_a_crashing_runner_fails_its_stack_not_the_rollout_tool() -> None:
    class Crashing(FakeRunner):
        def up(self, stack: str, progress: Callable[[str], None]) -> Outcome:
            raise RuntimeError("worker vanished")

    report, out = roll(Crashing(), plan(("dev", ["dev"])))
    assert results(report) == {"dev": "failed"}
    assert "RuntimeError: worker vanished" in out


def test_a_declined_confirmation_halts_before_the_update() -> None:
    asked: list[tuple[str, list[str]]] = []

    def decline(wave: str, stacks: list[StackResult]) -> bool:
        asked.append((wave, [f"{r.stack}:{rollout.format_changes(r.changes)}" for r in stacks]))
        return False

    runner = FakeRunner()
    report, _ = roll(runner, confirm=decline)
    assert asked == [("dev", ["dev:+3"])]
    assert results(report)["dev"] == "not confirmed"
    assert report.halted == "wave 'dev' was not confirmed"
    assert [op for op, _ in runner.calls] == ["preview"]


# --- parallelism -----------------------------------------------------------------------
def test_a_waves_stacks_run_at_the_same_time() -> None:
    runner = FakeRunner(barrier=threading.Barrier(2))
    report, _ = roll(runner, plan(("prod", ["prod-a", "prod-b"])), parallel=2)
    # Both previews and both updates met at the barrier: they ran concurrently.
    assert report.ok and runner.most_active == 2


def test_parallel_one_runs_one_stack_at_a_time() -> None:
    runner = FakeRunner()
    roll(runner, plan(("prod", ["prod-a", "prod-b"])), parallel=1)
    assert runner.most_active == 1


# --- summary -------------------------------------------------------------------------------
def test_summary_table_lists_every_stack() -> None:
    runner = FakeRunner(ups={"staging": Outcome(ok=False, error="x")})
    report, _ = roll(runner, parallel=1)
    text = rollout.render_summary(report)
    lines = text.strip().splitlines()
    assert lines[0].split() == [
        "STACK",
        "WAVE",
        "ACCOUNT",
        "REGION",
        "CHANGES",
        "RESULT",
        "DURATION",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert rows["dev"] == ["dev", "dev", "111122223333", "us-east-1", "+3", "updated", "10s"]
    assert rows["staging"][5] == "failed"
    assert rows["prod-a"][4:] == ["-", "not", "started", "-"]
    assert lines[-1] == "rollout FAILED: an update in wave 'staging' failed"


def test_change_counts_read_like_pulumi() -> None:
    assert rollout.format_changes({"create": 2, "update": 1, "replace": 1, "delete": 3}) == (
        "+2 ~1 +-1 -3"
    )
    assert rollout.format_changes({}) == "no changes"


# --- the plan -------------------------------------------------------------------------------
def test_the_example_plan_rolls_out_every_example_stack() -> None:
    example = load_plan(REPO / "stacks" / "rollout.yaml", stack_files.available_stacks())
    assert sorted(example.stacks()) == stack_files.available_stacks()
    assert [w.name for w in example.waves] == ["dev", "staging", "production"]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("waves: []\n", ["waves: got []; allowed: 1 to any number of items"]),
        (
            "waves:\n  - name: a\n    stacks: [dev, nope]\n  - name: b\n    stacks: [dev]\n",
            [
                "waves[0].stacks[1]: got 'nope'; allowed: a stack with a stack file (dev, prod)",
                "waves[1].stacks[0]: 'dev' is already in wave 'a'",
            ],
        ),
        (
            "waves:\n  - name: a\n    stacks: [dev]\n    parallel: 2\n",
            ["waves[0].parallel: unknown key; allowed keys: name, stacks"],
        ),
        (
            "waves:\n  - name: a\n    stacks: [dev]\nallowReplace:\n  prod: ['*']\n",
            ["allowReplace.prod: not a stack of this plan"],
        ),
        (
            "rolloutPrincipals: [arn:aws:iam::12:role/x]\nwaves:\n  - name: a\n    stacks: [dev]\n",
            [
                'rolloutPrincipals[0]: got "arn:aws:iam::12:role/x"; allowed: an IAM role or '
                "user ARN, e.g. arn:aws:iam::111122223333:role/data-engineer"
            ],
        ),
        ("waves: [\n", None),
    ],
)
def test_bad_plans_are_reported_by_key(
    tmp_path: Path, text: str, problems: list[str] | None
) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(text)
    with pytest.raises(PlanError) as raised:
        load_plan(path, ["dev", "prod"])
    if problems is None:
        assert "not valid YAML" in str(raised.value)
    else:
        assert raised.value.problems == problems


# --- the CLI ------------------------------------------------------------------------------
def test_cli_refuses_cleanly_without_the_pulumi_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(automation.shutil, "which", lambda name: None)
    assert main(["rollout", "--preview-only"]) == 2
    assert "needs the Pulumi CLI on PATH" in capsys.readouterr().err


def test_cli_reports_a_bad_plan_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("waves:\n  - name: a\n    stacks: [nope]\n")
    assert main(["rollout", "--plan", str(path)]) == 2
    assert "waves[0].stacks[0]: got 'nope'" in capsys.readouterr().err


def test_cli_rollout_with_an_injected_runner(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real command, end to end, with the runner swapped at the seam."""
    runner = FakeRunner()
    monkeypatch.setattr(automation.shutil, "which", lambda name: "/usr/bin/pulumi")
    monkeypatch.setattr(automation, "AutomationRunner", lambda *paths: runner)
    assert main(["rollout", "--yes", "--parallel", "2"]) == 0
    out = capsys.readouterr().out
    assert "rollout complete" in out
    updates = [stack for op, stack in runner.calls if op == "up"]
    # Waves in order; the production wave's two accounts in either order (in parallel).
    assert updates[:2] == ["dev", "staging"] and sorted(updates[2:]) == ["prod", "prod-b"]
    # Accounts and regions come from each stack's own file.
    assert "777788889999" in out and "444455556666" in out


def test_cli_without_yes_and_without_a_terminal_does_not_update(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = FakeRunner()
    monkeypatch.setattr(automation.shutil, "which", lambda name: "/usr/bin/pulumi")
    monkeypatch.setattr(automation, "AutomationRunner", lambda *paths: runner)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["rollout"]) == 1
    captured = capsys.readouterr()
    assert "not updating without confirmation" in captured.err
    assert not [call for call in runner.calls if call[0] == "up"]


def test_cli_refuses_leave_to_lower_for_a_stack_not_in_the_plan(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = FakeRunner()
    monkeypatch.setattr(automation.shutil, "which", lambda name: "/usr/bin/pulumi")
    monkeypatch.setattr(automation, "AutomationRunner", lambda *paths: runner)
    assert main(["rollout", "--yes", "--allow-lowering-protection", "prdo"]) == 2
    assert capsys.readouterr().err == (
        "rftenv rollout: --allow-lowering-protection: got 'prdo'; allowed: a stack of the "
        "plan (dev, staging, prod, prod-b)\n"
    )
    assert runner.calls == []


def test_cli_rollout_gates_a_lowered_protection_unless_the_command_allows_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`prod` as deployed has a 30-day key window; the change would make it 7."""
    urn = KEY.replace("prod-a", "prod")
    deployed = Deployed(
        resources=[ResourceState(urn, KEY_TYPE, inputs={"deletionWindowInDays": 30})],
        outputs={"production": True},
    )
    shorter = Outcome(
        ok=True,
        changes={"update": 1},
        steps=[Step("update", urn, KEY_TYPE)],
        planned=[ResourceState(urn, KEY_TYPE, inputs={"deletionWindowInDays": 7})],
    )
    monkeypatch.setattr(automation.shutil, "which", lambda name: "/usr/bin/pulumi")
    lowered = f"shortens the deletion window (deletionWindowInDays) from 30 days to 7 days on {urn}"

    runner = FakeRunner(previews={"prod": shorter}, deployed={"prod": deployed})
    monkeypatch.setattr(automation, "AutomationRunner", lambda *paths: runner)
    assert main(["rollout", "--yes"]) == 1
    out = capsys.readouterr().out
    assert (
        f"prod:   lowers a protection: {lowered} (allow it with `rftenv rollout "
        "--allow-lowering-protection prod`)"
    ) in out
    assert [stack for op, stack in runner.calls if op == "up"] == ["dev", "staging"]

    runner = FakeRunner(previews={"prod": shorter}, deployed={"prod": deployed})
    monkeypatch.setattr(automation, "AutomationRunner", lambda *paths: runner)
    assert main(["rollout", "--yes", "--allow-lowering-protection", "prod"]) == 0
    out = capsys.readouterr().out
    assert f"prod:   allowed by --allow-lowering-protection: {lowered}" in out
    assert ("up", "prod") in runner.calls


# --- the Automation API worker's plumbing ----------------------------------------------------
def event(**body: object) -> EngineEvent:
    return EngineEvent.from_json({"sequence": 1, "timestamp": 0, **body})


def step_event(op: str, urn: str, *, protect: bool) -> EngineEvent:
    state = {"type": "aws:kms/key:Key", "urn": urn, "protect": protect}
    metadata = {"op": op, "urn": urn, "type": "aws:kms/key:Key", "old": state, "new": state}
    return event(resourcePreEvent={"metadata": metadata})


def test_engine_events_become_an_outcome() -> None:
    events = [
        step_event("replace", "urn:p::aws:kms/key:Key::rft-kms-key", protect=True),
        step_event("same", "urn:p::aws:s3/bucket:Bucket::b", protect=False),
        event(
            policyEvent={
                "message": "key does not rotate\n",
                "policyName": "kms-key-rotation-enabled",
                "enforcementLevel": "mandatory",
                "resourceUrn": "urn:p::aws:kms/key:Key::rft-kms-key",
            }
        ),
        event(summaryEvent={"resourceChanges": {"replace": 1, "same": 40}}),
    ]
    outcome = automation.outcome_from_events(events, ok=False, error="policy violations")
    assert outcome.changes == {"replace": 1}
    assert outcome.steps[0] == Step(
        "replace", "urn:p::aws:kms/key:Key::rft-kms-key", "aws:kms/key:Key", True
    )
    assert outcome.policy == [
        PolicyFinding(
            "kms-key-rotation-enabled",
            "mandatory",
            "urn:p::aws:kms/key:Key::rft-kms-key",
            "key does not rotate",
        )
    ]
    assert rollout.gate("p", PROD, outcome, [], Deployed()) == [
        "preview failed: policy violations",
        "policy kms-key-rotation-enabled [mandatory] (rft-kms-key): key does not rotate",
        "would replace protected resource urn:p::aws:kms/key:Key::rft-kms-key "
        "(allow it under allowReplace.p in the plan)",
    ]
    # Without a summary, changes are counted from the steps.
    counted = automation.outcome_from_events(events[:2], ok=True)
    assert counted.changes == {"replace": 1}
    assert automation.progress_line(events[0]) == "replace aws:kms/key:Key rft-kms-key"
    assert automation.progress_line(events[1]) is None
    assert automation.outcome_from_json(automation._outcome_json(outcome)) == outcome


WORKER = """
import json, sys
print(json.dumps({"progress": "create aws:s3/bucket:Bucket data"}), flush=True)
print("a stray line from a library", flush=True)
print(json.dumps({"outcome": {"ok": True, "changes": {"create": 1}, "steps": [],
                              "policy": [], "error": ""}}), flush=True)
"""


class ScriptRunner(automation.AutomationRunner):
    def __init__(self, script: str) -> None:
        super().__init__(REPO, REPO / "policies")
        self.script = script

    def command(self, operation: str, stack: str) -> list[str]:
        return [sys.executable, "-c", self.script]


def test_the_runner_streams_a_workers_progress_and_reads_its_outcome() -> None:
    lines: list[str] = []
    outcome = ScriptRunner(WORKER).preview("dev", lines.append)
    assert outcome == Outcome(ok=True, changes={"create": 1})
    assert lines == ["create aws:s3/bucket:Bucket data", "a stray line from a library"]


def test_a_worker_that_dies_without_an_outcome_fails_with_its_stderr() -> None:
    script = "import sys; sys.stderr.write('Traceback\\nImportError: no pulumi\\n'); sys.exit(3)"
    outcome = ScriptRunner(script).up("dev", lambda line: None)
    assert not outcome.ok
    assert outcome.error == "up worker exited 3: Traceback | ImportError: no pulumi"


def state(urn: str, type_: str, **fields: object) -> dict[str, object]:
    return {"urn": urn, "type": type_, **fields}


def test_a_previews_events_carry_the_state_each_resource_is_left_in() -> None:
    """The new state of each step (protect, retainOnDelete and the protection inputs, no
    other input), once per resource; deleted resources have none."""
    old_bucket = state(BUCKET, BUCKET_TYPE, protect=True, inputs={"forceDestroy": False})
    new_bucket = state(
        BUCKET, BUCKET_TYPE, protect=False, inputs={"forceDestroy": True, "bucket": "b"}
    )
    old_key = state(KEY, KEY_TYPE, protect=True, inputs={"deletionWindowInDays": 30})
    new_key = state(KEY, KEY_TYPE, retainOnDelete=True, inputs={"deletionWindowInDays": 7})

    def step(op: str, urn: str, old: object, new: object) -> EngineEvent:
        metadata = {"op": op, "urn": urn, "type": "t", "old": old, "new": new}
        return event(resourcePreEvent={"metadata": metadata})

    events = [
        step("same", BUCKET, old_bucket, new_bucket),
        step("create-replacement", KEY, old_key, new_key),
        step("replace", KEY, old_key, new_key),
        step("delete-replaced", KEY, old_key, new_key),
        step("delete", GRADER, state(GRADER, "f", protect=True), None),
    ]
    outcome = automation.outcome_from_events(events, ok=True)
    assert outcome.planned == [
        ResourceState(BUCKET, BUCKET_TYPE, inputs={"forceDestroy": True}),
        ResourceState(KEY, KEY_TYPE, retain_on_delete=True, inputs={"deletionWindowInDays": 7}),
    ]
    # Steps still judge destruction by the deployed (old) state.
    assert [s.protected for s in outcome.steps] == [True, True, True, True, True]
    assert automation.outcome_from_json(automation._outcome_json(outcome)) == outcome
    # These events, against the deployed state, are the red-team change.
    # (In URN order, whatever order the events came in.)
    assert rollout.lowered_protections(DEPLOYED_PROD, outcome.planned, production=True) == [
        f"removes protect from {KEY}",
        f"shortens the deletion window (deletionWindowInDays) from 30 days to 7 days on {KEY}",
        f"removes protect from {BUCKET}",
        f"sets forceDestroy to true on {BUCKET}",
    ]


EXPORT = {
    "manifest": {"time": "2025-01-01T00:00:00Z"},
    "resources": [
        state("urn:pulumi:prod::rft-env::pulumi:pulumi:Stack::rft-env-prod", "pulumi:pulumi:Stack"),
        state(
            KEY,
            KEY_TYPE,
            protect=True,
            inputs={"deletionWindowInDays": 30, "policy": "{...}"},
            outputs={"arn": "arn:aws:kms:us-east-1:777788889999:key/1"},
        ),
        # The old half of a replacement, pending deletion: leaving anyway.
        state(BUCKET, BUCKET_TYPE, delete=True, inputs={"forceDestroy": True}),
        state(BUCKET, BUCKET_TYPE, protect=True, retainOnDelete=True, inputs={}),
    ],
}


def test_the_deployed_state_comes_from_the_stack_export_and_outputs() -> None:
    deployed = automation.deployed_from_export(EXPORT, {"production": True, "region": "x"})
    assert deployed == Deployed(
        resources=[
            ResourceState(
                "urn:pulumi:prod::rft-env::pulumi:pulumi:Stack::rft-env-prod",
                "pulumi:pulumi:Stack",
            ),
            ResourceState(KEY, KEY_TYPE, protect=True, inputs={"deletionWindowInDays": 30}),
            ResourceState(BUCKET, BUCKET_TYPE, protect=True, retain_on_delete=True),
        ],
        outputs={"production": True, "region": "x"},
    )
    assert deployed.production is True
    # A stack never deployed exports no resources.
    assert automation.deployed_from_export({}, {}) == Deployed()
    assert automation.deployed_from_export(None, {}).production is None


def test_reading_a_stack_keeps_its_non_secret_outputs_only() -> None:
    from pulumi.automation import Deployment, OutputValue

    class Stack:
        def export_stack(self) -> Deployment:
            return Deployment(version=3, deployment=EXPORT)

        def outputs(self) -> dict[str, OutputValue]:
            return {
                "production": OutputValue(True, secret=False),
                "token": OutputValue("hunter2", secret=True),
            }

    deployed = automation.read_deployed(Stack())
    assert deployed.outputs == {"production": True}
    assert deployed.resources[1].urn == KEY
    assert automation.deployed_from_json(json.loads(json.dumps(asdict(deployed)))) == deployed


def test_the_runner_reads_the_deployed_state_from_its_worker() -> None:
    script = (
        "import json; print(json.dumps({'progress': 'reading'}), flush=True); "
        "print(json.dumps({'deployed': {'ok': True, 'resources': [{'urn': 'u', 'type': 't', "
        "'protect': True, 'retain_on_delete': False, 'inputs': {}}], "
        "'outputs': {'production': True}, 'error': ''}}), flush=True)"
    )
    lines: list[str] = []
    deployed = ScriptRunner(script).deployed("prod", lines.append)
    assert deployed == Deployed(
        resources=[ResourceState("u", "t", protect=True)], outputs={"production": True}
    )
    assert lines == ["reading"]
    # A worker that dies without a result leaves a state that stops the gate.
    script = "import sys; sys.stderr.write('no backend\\n'); sys.exit(4)"
    failed = ScriptRunner(script).deployed("prod", lambda line: None)
    assert failed == Deployed(ok=False, error="deployed worker exited 4: no backend")


def test_the_deployed_worker_reports_a_failure_as_its_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real worker, with no `pulumi` to run: it still answers, and the gate stops."""
    monkeypatch.setenv("PATH", str(tmp_path))  # the worker starts by sys.executable's path
    deployed = automation.AutomationRunner(REPO, REPO / "policies").deployed(
        "dev", lambda line: None
    )
    assert not deployed.ok and "pulumi" in deployed.error
    assert rollout.gate("dev", NONPROD, Outcome(ok=True), [], deployed)[0].startswith(
        "could not read the deployed state: "
    )


def test_the_worker_command_runs_this_module_per_stack() -> None:
    command = automation.AutomationRunner(REPO, REPO / "policies").command("preview", "prod")
    assert command[:5] == [sys.executable, "-m", "rft_env.rftenv.automation", "preview", "prod"]
    assert command[command.index("--project-dir") + 1] == str(REPO)
    assert command[command.index("--policy-pack") + 1] == str(REPO / "policies")


@pytest.mark.engine
def test_the_gate_judges_a_real_engines_preview_against_its_deployed_state(
    tmp_path: Path,
) -> None:
    """Through the real engine (local backend, an inline program of components, so no
    cloud): deploy as production with protected resources, then preview the red-team
    change. The worker's own pieces read the export, outputs and preview events."""
    import pulumi
    from pulumi import automation as auto

    from rft_env.components.naming import PRODUCTION_OUTPUT

    wanted: dict[str, object] = {"production": True, "protect": True, "window": 30, "force": False}

    def program() -> None:
        options = pulumi.ResourceOptions(protect=bool(wanted["protect"]))
        window = {"deletionWindowInDays": wanted["window"]}
        pulumi.ComponentResource("rftenvtest:index:Key", "key", window, options)
        force = {"forceDestroy": wanted["force"]}
        pulumi.ComponentResource("rftenvtest:index:Bucket", "bucket", force, options)
        pulumi.export(PRODUCTION_OUTPUT, wanted["production"])

    backend = f"file://{tmp_path}"
    stack = auto.create_stack(
        stack_name="gate",
        project_name="rftenv-gate-test",
        program=program,
        opts=auto.LocalWorkspaceOptions(
            env_vars={"PULUMI_CONFIG_PASSPHRASE": "test", "PULUMI_BACKEND_URL": backend},
            project_settings=auto.ProjectSettings(
                name="rftenv-gate-test", runtime="python", backend=auto.ProjectBackend(backend)
            ),
        ),
    )
    stack.up(color="never")
    deployed = automation.read_deployed(stack)
    assert deployed.ok and deployed.production is True

    wanted.update(production=False, protect=False, window=7, force=True)
    events: list[EngineEvent] = []
    stack.preview(on_event=events.append, color="never")
    outcome = automation.outcome_from_events(events, ok=True)
    info = StackInfo("111122223333", "us-east-1", production=False)
    reasons = rollout.gate("gate", info, outcome, [], deployed)
    key_urn = "urn:pulumi:gate::rftenv-gate-test::rftenvtest:index:Key::key"
    bucket_urn = "urn:pulumi:gate::rftenv-gate-test::rftenvtest:index:Bucket::bucket"
    allow = " (allow it with `rftenv rollout --allow-lowering-protection gate`)"
    assert reasons == [
        LOWERED + "leaves production (the deployed stack has production: true; its stack "
        "config now says production: false)" + allow,
        # Resources in URN order, whatever order the engine's events came in.
        f"{LOWERED}removes protect from {bucket_urn}{allow}",
        f"{LOWERED}sets forceDestroy to true on {bucket_urn}{allow}",
        f"{LOWERED}removes protect from {key_urn}{allow}",
        f"{LOWERED}shortens the deletion window (deletionWindowInDays) from 30 days to 7 "
        f"days on {key_urn}{allow}",
    ]
    assert rollout.gate("gate", info, outcome, [], deployed, allow_lowering=True) == []


def test_a_failed_engine_command_reaches_the_summary_as_its_error_lines() -> None:
    """pulumi's CommandError has no `stderr`: reading one crashed the worker inside its own
    error handling, so the parent saw a traceback instead of the engine's error."""
    from pulumi import automation as auto

    failure = auto.CommandError(
        auto.CommandResult(
            stdout="Previewing update (dev):\n...",
            stderr="error: preview failed\nerror: update failed",
            code=255,
        )
    )
    assert automation._failure(auto, failure) == "error: preview failed | error: update failed"
    # The engine prints a provider's refusal on stdout, among its diagnostics.
    refused = auto.CommandError(
        auto.CommandResult(
            stdout="Updating (dev):\n  error: creating RFT job: ValidationException: bad\n"
            "Resources:\n    58 created\n",
            stderr="",
            code=255,
        )
    )
    assert automation._failure(auto, refused) == "error: creating RFT job: ValidationException: bad"
    # A dynamic provider's failure arrives as a traceback: its exception line is shown.
    traceback = auto.CommandError(
        auto.CommandResult(
            stdout="  error: Traceback (most recent call last):\n"
            '      File "/x/job.py", line 9, in create\n        raise error\n'
            "  botocore.errorfactory.ValidationException: An error occurred "
            "(ValidationException): bad\n  error: update failed\n",
            stderr="",
            code=255,
        )
    )
    assert automation._failure(auto, traceback) == (
        "botocore.errorfactory.ValidationException: An error occurred (ValidationException): "
        "bad | error: update failed"
    )
    quiet = auto.CommandError(auto.CommandResult(stdout="", stderr="killed\n", code=137))
    assert automation._failure(auto, quiet) == "killed"
    assert automation._failure(auto, ValueError("x")) == "ValueError: x"


def test_lowered_protections_do_not_depend_on_the_order_of_the_engines_events() -> None:
    """Independent resources' steps arrive in any order (the real engine's did vary from
    run to run); the same change gives the same report, in URN order."""
    planned = [key(7, protect=False), bucket(True)]
    forward = rollout.lowered_protections(DEPLOYED_PROD, planned, production=True)
    backward = rollout.lowered_protections(DEPLOYED_PROD, planned[::-1], production=True)
    assert forward == backward and len(forward) == 3
    assert forward[0].endswith(key().urn) and forward[-1].endswith(bucket().urn)
