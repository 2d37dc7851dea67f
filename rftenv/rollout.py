"""`rftenv rollout`: preview and update many stacks in waves, with gates.

A plan (`stacks/rollout.yaml`) lists waves of stacks. For each wave, every stack is
previewed with the policy pack; the wave is updated only when every preview succeeded,
no policy was violated, no protected resource (or any resource of a production stack)
would be replaced or deleted unless the plan allows it, and no protection would be lowered
compared with what is deployed (leaving production, a shorter key deletion window,
`forceDestroy`, removing `protect` or `retainOnDelete`) unless the command allows it for
that stack. The deployed state is read before each preview, so an edited stack file cannot
talk the gate out of its own protection. The wave's stacks are then updated in parallel,
and the rollout halts at the first failure. Running stacks goes through a `StackRunner`
seam: `rftenv.automation.AutomationRunner` drives the Pulumi Automation API (one process
per stack); tests inject their own.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, TextIO, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from rft_env.components.bedrock.values import IamPrincipalArn
from rft_env.components.naming import PRODUCTION_OUTPUT
from rft_env.components.problems import problems_from_validation_error
from rft_env.rftenv import display

StackName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
# Operations that destroy a resource's current instance.
DESTRUCTIVE_OPS = frozenset({"replace", "delete", "create-replacement", "delete-replaced"})
# Operations after which a resource has no new state (it is gone from the program's plan).
REMOVING_OPS = frozenset(
    {"delete", "delete-replaced", "discard", "discard-replaced", "read-discard"}
)
# The inputs whose change can lower a protection (`lowered_protections`). Only these are
# carried from the deployed state and the preview into the gate, so no other input (and no
# secret) leaves the worker process.
FORCE_DESTROY = "forceDestroy"
DELETION_WINDOW = "deletionWindowInDays"
PROTECTION_INPUTS = (FORCE_DESTROY, DELETION_WINDOW)
# KMS's waiting period when a key is deleted without one (ScheduleKeyDeletion's
# PendingWindowInDays defaults to 30 days); other types' defaults are not assumed.
KMS_TYPE_PREFIX = "aws:kms/"
KMS_DEFAULT_DELETION_WINDOW_DAYS = 30
# The command-line flag that lets one stack's update lower a protection.
ALLOW_LOWERING_FLAG = "--allow-lowering-protection"


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
        if count == 1:  # one problem, one line
            super().__init__(f"invalid rollout plan {path}: {self.problems[0]}")
            return
        lines = [f"invalid rollout plan {path}: {count} problems"]
        super().__init__("\n".join([*lines, *(f"  - {p}" for p in self.problems)]))


def load_plan(path: Path, known_stacks: Iterable[str]) -> RolloutPlan:
    """Read and check a rollout plan; every problem is reported at once, by key."""
    from rft_env.rftenv.yamlfile import YamlFileError, load_yaml

    try:
        # The loader every YAML file of the project goes through: bounded, and refusing
        # unreadable, binary, malformed or duplicate-key files with their line.
        raw = load_yaml(path)
    except YamlFileError as error:
        where = f"line {error.line}: " if error.line is not None else ""
        raise PlanError(path, [where + error.problem]) from None
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


@dataclass(frozen=True)
class ResourceState:
    """What protects one resource: deployed (from the stack export) or planned (the new
    state of a preview step). `inputs` holds only `PROTECTION_INPUTS` the resource has."""

    urn: str
    type: str
    protect: bool = False
    retain_on_delete: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a preview or an update of one stack came to."""

    ok: bool
    changes: dict[str, int] = field(default_factory=dict)  # op -> count, "same" excluded
    steps: list[Step] = field(default_factory=list)
    policy: list[PolicyFinding] = field(default_factory=list)
    error: str = ""
    # The state each resource would have after the update (previews only).
    planned: list[ResourceState] = field(default_factory=list)


@dataclass
class Deployed:
    """What a stack has deployed now: its resources and its stack outputs (Automation API
    `Stack.export_stack()` and `Stack.outputs()`). A stack never deployed has neither.
    `ok` is false when they could not be read; the gate then stops the stack."""

    ok: bool = True
    resources: list[ResourceState] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # non-secret outputs only
    error: str = ""

    @property
    def production(self) -> bool | None:
        """Whether the deployment was made as production (None: deployed before the
        program exported it, or never deployed)."""
        value = self.outputs.get(PRODUCTION_OUTPUT)
        return value if isinstance(value, bool) else None


Progress = Callable[[str], None]


class StackRunner(Protocol):
    def deployed(self, stack: str, progress: Progress) -> Deployed: ...

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
def _deletion_window(resource: ResourceState) -> object:
    """The deletion window in days; KMS's default for a key without one (None for other
    types without one)."""
    default = (
        KMS_DEFAULT_DELETION_WINDOW_DAYS if resource.type.startswith(KMS_TYPE_PREFIX) else None
    )
    return resource.inputs.get(DELETION_WINDOW, default)


def _is_days(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


UNKNOWN = "a value not known until the update"


def lowered_protections(
    deployed: Deployed, planned: Sequence[ResourceState], *, production: bool
) -> list[str]:
    """Every protection this change would lower, compared with what is deployed (not with
    the edited stack file): leaving production (`production` is the edited config's flag),
    a shorter KMS key deletion window, `forceDestroy` becoming true, and `protect` or
    `retainOnDelete` removed from a deployed resource. A planned value unknown at preview
    time counts as lowered, since nothing shows it is not. Resources not deployed yet
    lower nothing; resources the change deletes are the destructive-step gate's."""
    lowered: list[str] = []
    if deployed.production is True and not production:
        lowered.append(
            f"leaves production (the deployed stack has {PRODUCTION_OUTPUT}: true; "
            f"its stack config now says {PRODUCTION_OUTPUT}: false)"
        )
    before = {resource.urn: resource for resource in deployed.resources}
    judged: set[str] = set()
    # By URN: the engine emits independent resources' steps in any order, and the same
    # change must give the same report (the engine test found the order varying).
    for after in sorted(planned, key=lambda resource: resource.urn):
        old = before.get(after.urn)
        if old is None or after.urn in judged:
            continue
        judged.add(after.urn)
        if old.protect and not after.protect:
            lowered.append(f"removes protect from {after.urn}")
        if old.retain_on_delete and not after.retain_on_delete:
            lowered.append(f"removes retainOnDelete from {after.urn}")
        new_force = after.inputs.get(FORCE_DESTROY, False)
        if old.inputs.get(FORCE_DESTROY) is not True and new_force is not False:
            shown = "true" if new_force is True else UNKNOWN
            lowered.append(f"sets {FORCE_DESTROY} to {shown} on {after.urn}")
        if DELETION_WINDOW in old.inputs or DELETION_WINDOW in after.inputs:
            old_days, new_days = _deletion_window(old), _deletion_window(after)
            # An unreadable deployed value leaves nothing to compare with.
            if _is_days(old_days) and not (_is_days(new_days) and new_days >= old_days):
                if _is_days(new_days):
                    shown = f"{new_days} days"
                else:
                    shown = "the type's default" if new_days is None else UNKNOWN
                lowered.append(
                    f"shortens the deletion window ({DELETION_WINDOW}) from {old_days} "
                    f"days to {shown} on {after.urn}"
                )
    return lowered


def gate(
    stack: str,
    info: StackInfo,
    preview: Outcome,
    allowed: Sequence[str],
    deployed: Deployed,
    *,
    allow_lowering: bool = False,
) -> list[str]:
    """Why `stack` must not be updated after this preview (empty: it may). `deployed` is
    what the stack has deployed now; a stack deployed as production stays one for this
    gate even when its edited config says otherwise. `allow_lowering` is the command's
    explicit leave to lower this stack's protections."""
    reasons = []
    if not deployed.ok:
        reasons.append(f"could not read the deployed state: {deployed.error or 'see above'}")
    if not preview.ok:
        reasons.append(f"preview failed: {preview.error or 'see the output above'}")
    for finding in preview.policy:
        where = f" ({finding.urn.rsplit('::', 1)[-1]})" if finding.urn else ""
        reasons.append(f"policy {finding.policy} [{finding.enforcement}]{where}: {finding.message}")
    production = info.production or deployed.production is True
    for step in preview.steps:
        if step.op not in DESTRUCTIVE_OPS or not (step.protected or production):
            continue
        if any(fnmatch.fnmatchcase(step.urn, pattern) for pattern in allowed):
            continue
        what = "protected resource" if step.protected else "resource of a production stack"
        reasons.append(
            f"would {step.op} {what} {step.urn} (allow it under allowReplace.{stack} in the plan)"
        )
    if not allow_lowering:
        for lowered in lowered_protections(deployed, preview.planned, production=info.production):
            reasons.append(
                f"lowers a protection: {lowered} (allow it with `rftenv rollout "
                f"{ALLOW_LOWERING_FLAG} {stack}`)"
            )
    return reasons


def check_allow_lowering(plan: RolloutPlan, stacks: Iterable[str]) -> list[str]:
    """Problems with the stacks given to `--allow-lowering-protection`: each must name a
    stack of the plan, so that a typo is reported rather than ignored."""
    known = plan.stacks()
    return [
        f"{ALLOW_LOWERING_FLAG}: got {stack!r}; allowed: a stack of the plan ({', '.join(known)})"
        for stack in dict.fromkeys(stacks)
        if stack not in known
    ]


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
    allow_lowering: Collection[str] = (),
) -> RolloutReport:
    """Preview, gate and update each wave in order; see the module docstring.
    `allow_lowering` names the stacks whose update may lower a protection."""
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

    deployed: dict[str, Deployed] = {}

    def survey(stack: str, progress: Progress) -> Outcome:
        """Read what the stack has deployed, then preview it: the gate judges the one
        against the other."""
        try:
            deployed[stack] = runner.deployed(stack, progress)
        except Exception as error:  # as for previews: this stack is stopped, not the tool
            deployed[stack] = Deployed(ok=False, error=f"{type(error).__name__}: {error}")
        return runner.preview(stack, progress)

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for index, wave in enumerate(plan.waves):
            label = f"wave {index + 1}/{len(plan.waves)} {wave.name!r}"
            console.line(f"{label}: preview {', '.join(wave.stacks)}")
            blocked = False
            for stack, previewed in _all(pool, wave.stacks, survey, timed):
                assert previewed is not None  # previews never halt one another
                outcome, seconds = previewed
                result = results[stack]
                result.changes, result.seconds = outcome.changes, seconds
                current = deployed[stack]
                result.reasons = gate(
                    stack,
                    result.info,
                    outcome,
                    plan.allow_replace.get(stack, []),
                    current,
                    allow_lowering=stack in allow_lowering,
                )
                result.result = "blocked" if result.reasons else "previewed"
                console.line(
                    f"  {stack}: preview {'BLOCKED' if result.reasons else 'ok'}, "
                    f"{format_changes(outcome.changes)} ({seconds:.0f}s)"
                )
                for reason in result.reasons:
                    console.line(f"  {stack}:   {reason}")
                if stack in allow_lowering:
                    # Allowed, but never silent: the operator sees what is lowered.
                    for lowered in lowered_protections(
                        current, outcome.planned, production=result.info.production
                    ):
                        console.line(f"  {stack}:   allowed by {ALLOW_LOWERING_FLAG}: {lowered}")
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
    # Fits 80 columns: the widest column gives way first, its long cells shortened; an
    # account id or region cut short would say nothing, so those are never shortened.
    lines = display.table(rows, keep=(2, 3, 6))
    verdict = "rollout complete" if report.ok else f"rollout FAILED: {report.halted or 'see above'}"
    return "\n".join(["", *lines, "", *display.fill(verdict)])


def run_and_report(
    plan: RolloutPlan,
    infos: Mapping[str, StackInfo],
    runner: StackRunner,
    *,
    preview_only: bool,
    parallel: int,
    confirm: Callable[[str, list[StackResult]], bool],
    out: TextIO,
    allow_lowering: Collection[str] = (),
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
        allow_lowering=allow_lowering,
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
