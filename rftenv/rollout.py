"""`rftenv rollout`: preview and update many stacks in waves, with gates.

A plan (`stacks/rollout.yaml`) lists waves of stacks. For each wave, every stack is
previewed with the policy pack; the wave is updated only when every preview succeeded,
no policy was violated, and no protected resource (or any resource of a production stack)
would be replaced or deleted, unless the plan allows it. The wave's stacks are then updated
in parallel, and the rollout halts at the first failure. Running stacks goes through a
`StackRunner` seam: `rftenv.automation.AutomationRunner` drives the Pulumi Automation API
(one process per stack); tests inject their own.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, TextIO

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from components.config import IamPrincipalArn, problems_from_validation_error

StackName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
# Operations that destroy a resource's current instance.
DESTRUCTIVE_OPS = frozenset({"replace", "delete", "create-replacement", "delete-replaced"})


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------
class Wave(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    stacks: Annotated[list[StackName], Field(min_length=1)]


class RolloutPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    waves: Annotated[list[Wave], Field(min_length=1)]
    # The principals (in the account that runs rollouts) each stack's deployment role
    # trusts; `rftenv audit` renders that trust policy.
    rollout_principals: list[IamPrincipalArn] = Field(
        default_factory=list, alias="rolloutPrincipals"
    )
    # Per stack, URN globs of protected/production resources that may be replaced or
    # deleted (a deliberate, reviewed change).
    allow_replace: dict[StackName, list[str]] = Field(default_factory=dict, alias="allowReplace")

    def stacks(self) -> list[str]:
        return [stack for wave in self.waves for stack in wave.stacks]


class PlanError(ValueError):
    """Every problem in a rollout plan, reported together."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"invalid rollout plan {path}: {count} problem{'s' * (count != 1)}"]
        super().__init__("\n".join([*lines, *(f"  - {p}" for p in self.problems)]))


def load_plan(path: Path, known_stacks: Iterable[str]) -> RolloutPlan:
    """Read and check a rollout plan; every problem is reported at once, by key."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanError(path, [error.strerror or str(error)]) from None
    except yaml.YAMLError as error:
        raise PlanError(path, [f"not valid YAML ({error})"]) from None
    try:
        plan = RolloutPlan.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        problems = problems_from_validation_error(error, RolloutPlan, "")
        raise PlanError(path, [str(problem) for problem in problems]) from None
    known = set(known_stacks)
    problems: list[str] = []
    seen: dict[str, str] = {}
    for index, wave in enumerate(plan.waves):
        for position, stack in enumerate(wave.stacks):
            where = f"waves[{index}].stacks[{position}]"
            if stack not in known:
                problems.append(
                    f"{where}: got {stack!r}; allowed: a stack with a stack file "
                    f"({', '.join(sorted(known)) or 'none'})"
                )
            elif stack in seen:
                problems.append(f"{where}: {stack!r} is already in {seen[stack]}")
            else:
                seen[stack] = f"wave {wave.name!r}"
    for stack in plan.allow_replace:
        if stack not in seen:
            problems.append(f"allowReplace.{stack}: not a stack of this plan")
    if problems:
        raise PlanError(path, problems)
    return plan


# --------------------------------------------------------------------------------------
# What a runner reports
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One planned resource operation."""

    op: str
    urn: str
    type: str
    protected: bool = False


@dataclass(frozen=True)
class PolicyFinding:
    policy: str
    enforcement: str
    urn: str
    message: str


@dataclass
class Outcome:
    """What a preview or an update of one stack came to."""

    ok: bool
    changes: dict[str, int] = field(default_factory=dict)  # op -> count, "same" excluded
    steps: list[Step] = field(default_factory=list)
    policy: list[PolicyFinding] = field(default_factory=list)
    error: str = ""


Progress = Callable[[str], None]


class StackRunner(Protocol):
    def preview(self, stack: str, progress: Progress) -> Outcome: ...

    def up(self, stack: str, progress: Progress) -> Outcome: ...


@dataclass(frozen=True)
class StackInfo:
    account_id: str
    region: str
    production: bool


# --------------------------------------------------------------------------------------
# Gates
# --------------------------------------------------------------------------------------
def gate(stack: str, info: StackInfo, preview: Outcome, allowed: Sequence[str]) -> list[str]:
    """Why `stack` must not be updated after this preview (empty: it may)."""
    reasons = []
    if not preview.ok:
        reasons.append(f"preview failed: {preview.error or 'see the output above'}")
    for finding in preview.policy:
        where = f" ({finding.urn.rsplit('::', 1)[-1]})" if finding.urn else ""
        reasons.append(f"policy {finding.policy} [{finding.enforcement}]{where}: {finding.message}")
    for step in preview.steps:
        if step.op not in DESTRUCTIVE_OPS or not (step.protected or info.production):
            continue
        if any(fnmatch.fnmatchcase(step.urn, pattern) for pattern in allowed):
            continue
        what = "protected resource" if step.protected else "resource of a production stack"
        reasons.append(
            f"would {step.op} {what} {step.urn} (allow it under allowReplace.{stack} in the plan)"
        )
    return reasons


# --------------------------------------------------------------------------------------
# Running the plan
# --------------------------------------------------------------------------------------
@dataclass
class StackResult:
    stack: str
    wave: str
    info: StackInfo
    # not started | previewed | blocked | no changes | not confirmed | updated | failed |
    # skipped (a failure in its wave stopped it from starting)
    result: str = "not started"
    changes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.result not in ("previewed", "updated", "no changes")


@dataclass
class RolloutReport:
    results: list[StackResult]
    halted: str = ""  # why the rollout stopped early, if it did

    @property
    def ok(self) -> bool:
        return not self.halted and not any(r.failed for r in self.results)


def format_changes(changes: Mapping[str, int]) -> str:
    symbols = (("create", "+"), ("update", "~"), ("replace", "+-"), ("delete", "-"))
    parts = [f"{sign}{changes[op]}" for op, sign in symbols if changes.get(op)]
    others = sorted(op for op in changes if op not in dict(symbols) and changes[op])
    parts += [f"{op} {changes[op]}" for op in others]
    return " ".join(parts) or "no changes"


class _Console:
    """Live progress lines from several stacks at once, one line at a time."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self._out, flush=True)

    def for_stack(self, stack: str) -> Progress:
        return lambda message: self.line(f"  {stack}: {message}")


def run_rollout(
    plan: RolloutPlan,
    runner: StackRunner,
    infos: Mapping[str, StackInfo],
    *,
    preview_only: bool = False,
    parallel: int = 4,
    confirm: Callable[[str, list[StackResult]], bool] = lambda wave, results: True,
    out: TextIO,
    clock: Callable[[], float] = time.monotonic,
) -> RolloutReport:
    """Preview, gate and update each wave in order; see the module docstring."""
    console = _Console(out)
    results = {
        stack: StackResult(stack, wave.name, infos[stack])
        for wave in plan.waves
        for stack in wave.stacks
    }
    report = RolloutReport(list(results.values()))

    def timed(stack: str, action: Callable[[str, Progress], Outcome]) -> tuple[Outcome, float]:
        started = clock()
        try:
            outcome = action(stack, console.for_stack(stack))
        except Exception as error:  # a runner bug or a crashed worker: this stack failed
            outcome = Outcome(ok=False, error=f"{type(error).__name__}: {error}")
        return outcome, clock() - started

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for index, wave in enumerate(plan.waves):
            label = f"wave {index + 1}/{len(plan.waves)} {wave.name!r}"
            console.line(f"{label}: preview {', '.join(wave.stacks)}")
            blocked = False
            for stack, previewed in _all(pool, wave.stacks, runner.preview, timed):
                assert previewed is not None  # previews never halt one another
                outcome, seconds = previewed
                result = results[stack]
                result.changes, result.seconds = outcome.changes, seconds
                result.reasons = gate(
                    stack, result.info, outcome, plan.allow_replace.get(stack, [])
                )
                result.result = "blocked" if result.reasons else "previewed"
                console.line(
                    f"  {stack}: preview {'BLOCKED' if result.reasons else 'ok'}, "
                    f"{format_changes(outcome.changes)} ({seconds:.0f}s)"
                )
                for reason in result.reasons:
                    console.line(f"  {stack}:   {reason}")
                blocked |= bool(result.reasons)
            if blocked:
                report.halted = f"wave {wave.name!r} did not pass its previews"
                break
            if preview_only:
                continue
            if not any(results[s].changes for s in wave.stacks):
                for stack in wave.stacks:
                    results[stack].result = "no changes"
                console.line(f"wave {wave.name!r}: nothing to update")
                continue
            if not confirm(wave.name, [results[s] for s in wave.stacks]):
                for stack in wave.stacks:
                    results[stack].result = "not confirmed"
                report.halted = f"wave {wave.name!r} was not confirmed"
                break
            console.line(f"{label}: update {', '.join(wave.stacks)}")
            failed = False
            for stack, updated in _all(
                pool, wave.stacks, runner.up, timed, stop=lambda o: not o[0].ok
            ):
                result = results[stack]
                if updated is None:
                    result.result = "skipped"
                    console.line(f"  {stack}: update skipped after a failure in this wave")
                    continue
                outcome, seconds = updated
                result.seconds += seconds
                if outcome.ok:
                    result.result, result.changes = "updated", outcome.changes
                else:
                    result.result = "failed"
                    result.reasons = [outcome.error or "update failed"]
                    failed = True
                console.line(
                    f"  {stack}: update {'ok' if outcome.ok else 'FAILED'}, "
                    f"{format_changes(outcome.changes)} ({seconds:.0f}s)"
                    + (f": {outcome.error}" if not outcome.ok and outcome.error else "")
                )
            if failed:
                report.halted = f"an update in wave {wave.name!r} failed"
                break
    return report


def _all(
    pool: ThreadPoolExecutor,
    stacks: Sequence[str],
    action: Callable[[str, Progress], Outcome],
    timed: Callable[[str, Callable[[str, Progress], Outcome]], tuple[Outcome, float]],
    stop: Callable[[tuple[Outcome, float]], bool] = lambda outcome: False,
) -> Iterable[tuple[str, tuple[Outcome, float] | None]]:
    """Run `action` for each stack on the pool, yielding results as they finish. Once a
    result satisfies `stop`, stacks that have not started yet are skipped (yielded with
    None); those already running finish, since an update cannot be interrupted safely."""
    halted = threading.Event()

    def task(stack: str) -> tuple[Outcome, float] | None:
        if halted.is_set():
            return None
        result = timed(stack, action)
        if stop(result):
            halted.set()
        return result

    futures = {pool.submit(task, stack): stack for stack in stacks}
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: stacks.index(futures[f])):
            yield futures[future], future.result()


def render_summary(report: RolloutReport) -> str:
    rows = [("STACK", "WAVE", "ACCOUNT", "REGION", "CHANGES", "RESULT", "DURATION")]
    for r in report.results:
        rows.append(
            (
                r.stack,
                r.wave,
                r.info.account_id,
                r.info.region,
                format_changes(r.changes) if r.result != "not started" else "-",
                r.result,
                f"{r.seconds:.0f}s" if r.result != "not started" else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    verdict = "rollout complete" if report.ok else f"rollout FAILED: {report.halted or 'see above'}"
    return "\n".join(["", *lines, "", verdict])


def run_and_report(
    plan: RolloutPlan,
    infos: Mapping[str, StackInfo],
    runner: StackRunner,
    *,
    preview_only: bool,
    parallel: int,
    confirm: Callable[[str, list[StackResult]], bool],
    out: TextIO,
) -> int:
    """Run a rollout, print its summary table, and return the exit code."""
    report = run_rollout(
        plan,
        runner,
        infos,
        preview_only=preview_only,
        parallel=parallel,
        confirm=confirm,
        out=out,
    )
    print(render_summary(report), file=out)
    return 0 if report.ok else 1


def stack_infos(stacks: Iterable[str], loader: Callable[[str], Any]) -> dict[str, StackInfo]:
    """Account, region and production flag of each stack, from its validated config
    (`loader(stack)` returns a `StackConfig`; invalid config raises before anything runs)."""
    infos = {}
    for stack in stacks:
        config = loader(stack)
        infos[stack] = StackInfo(config.account.id, config.region, config.production)
    return infos
