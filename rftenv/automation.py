"""The real stack runner of `rftenv rollout`: the Pulumi Automation API, one process per stack.

`Stack.up` blocks and there is no async API, and in-process concurrency has known issues
with dynamic providers, so each preview or update runs in a worker process of its own:
`python -m rftenv.automation {deployed,preview,up} STACK`. The worker selects (or creates)
the stack over this project's program and streams JSON lines to the parent: progress
messages, then one result. `deployed` reads what the stack has deployed (its export and
outputs); `preview` and `up` run with the policy pack. The parent (`AutomationRunner`)
turns those into `rftenv.rollout.Deployed` and `Outcome`s. Everything here needs the
Pulumi CLI, except `outcome_from_events` and `deployed_from_export`, which turn engine
events and a stack export into what the gate reads.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rft_env.rftenv.rollout import (
    PROTECTION_INPUTS,
    REMOVING_OPS,
    Deployed,
    Outcome,
    PolicyFinding,
    Progress,
    ResourceState,
    Step,
)


class PulumiNotFoundError(RuntimeError):
    pass


def require_cli() -> str:
    path = shutil.which("pulumi")
    if path is None:
        raise PulumiNotFoundError(
            "rftenv rollout drives the Pulumi Automation API, which needs the Pulumi CLI on "
            "PATH (https://www.pulumi.com/docs/iac/download-install/); `rftenv synth` and "
            "`rftenv audit` work without it"
        )
    return path


# --------------------------------------------------------------------------------------
# Engine events -> outcome (pure)
# --------------------------------------------------------------------------------------
def _op(value: Any) -> str:
    return str(getattr(value, "value", value))


def _protection_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: inputs[key] for key in PROTECTION_INPUTS if key in (inputs or {})}


def planned_state(state: Any) -> ResourceState:
    """A step's new state (`pulumi.automation.events.StepEventStateMetadata`), as the
    gate compares it."""
    return ResourceState(
        state.urn,
        state.type,
        protect=bool(state.protect),
        retain_on_delete=bool(state.retain_on_delete),
        inputs=_protection_inputs(state.inputs),
    )


def outcome_from_events(events: Iterable[Any], *, ok: bool, error: str = "") -> Outcome:
    """What a preview or update did, from its `pulumi.automation.EngineEvent`s: the
    planned steps (with whether the resource is protected), the state each resource
    would be left in, policy findings, and the change counts from the summary (or
    counted from the steps when there is none)."""
    steps: list[Step] = []
    planned: dict[str, ResourceState] = {}
    findings: list[PolicyFinding] = []
    summary: dict[str, int] | None = None
    for event in events:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            state = meta.old or meta.new
            steps.append(Step(_op(meta.op), meta.urn, meta.type, bool(state and state.protect)))
            if meta.new is not None and _op(meta.op) not in REMOVING_OPS:
                planned[meta.urn] = planned_state(meta.new)
        elif event.policy_event is not None:
            policy = event.policy_event
            findings.append(
                PolicyFinding(
                    policy.policy_name,
                    policy.enforcement_level,
                    policy.resource_urn or "",
                    policy.message.strip(),
                )
            )
        elif event.summary_event is not None:
            summary = {_op(op): int(n) for op, n in event.summary_event.resource_changes.items()}
    if summary is None:
        summary = {}
        for step in steps:
            summary[step.op] = summary.get(step.op, 0) + 1
    changes = {op: n for op, n in summary.items() if op != "same" and n}
    return Outcome(
        ok=ok,
        changes=changes,
        steps=steps,
        policy=findings,
        error=error,
        planned=list(planned.values()),
    )


def deployed_from_export(
    deployment: Mapping[str, Any] | None, outputs: Mapping[str, Any]
) -> Deployed:
    """What a stack has deployed, from `Stack.export_stack().deployment` (its
    `resources`, each with `urn`, `type`, `protect`, `retainOnDelete` and `inputs`) and
    its stack outputs (plain values). Resources pending deletion (`delete: true`, the old
    halves of replacements) are leaving anyway and are not compared."""
    resources = [
        ResourceState(
            str(resource.get("urn", "")),
            str(resource.get("type", "")),
            protect=bool(resource.get("protect")),
            retain_on_delete=bool(resource.get("retainOnDelete")),
            inputs=_protection_inputs(resource.get("inputs")),
        )
        for resource in (deployment or {}).get("resources") or []
        if not resource.get("delete")
    ]
    return Deployed(ok=True, resources=resources, outputs=dict(outputs))


def read_deployed(stack: Any) -> Deployed:
    """What an Automation API `Stack` has deployed now (needs the CLI). Secret outputs
    are left out: the gate reads none, and they must not travel to the parent."""
    outputs = {name: output.value for name, output in stack.outputs().items() if not output.secret}
    return deployed_from_export(stack.export_stack().deployment, outputs)


def progress_line(event: Any) -> str | None:
    """A one-line progress message for the events worth showing live."""
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
        op = _op(meta.op)
        if op in ("same", "read"):
            return None
        return f"{op} {meta.type} {meta.urn.rsplit('::', 1)[-1]}"
    if event.res_op_failed_event is not None:
        meta = event.res_op_failed_event.metadata
        return f"FAILED {_op(meta.op)} {meta.urn.rsplit('::', 1)[-1]}"
    if event.policy_event is not None:
        policy = event.policy_event
        return f"policy {policy.policy_name} [{policy.enforcement_level}]"
    if event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
        return "error: " + " ".join(event.diagnostic_event.message.split())[:300]
    return None


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    return Outcome(
        ok=bool(data["ok"]),
        changes={str(k): int(v) for k, v in data.get("changes", {}).items()},
        steps=[Step(**step) for step in data.get("steps", [])],
        policy=[PolicyFinding(**finding) for finding in data.get("policy", [])],
        error=str(data.get("error", "")),
        planned=[ResourceState(**state) for state in data.get("planned", [])],
    )


def deployed_from_json(data: dict[str, Any]) -> Deployed:
    return Deployed(
        ok=bool(data["ok"]),
        resources=[ResourceState(**state) for state in data.get("resources", [])],
        outputs=dict(data.get("outputs", {})),
        error=str(data.get("error", "")),
    )


# --------------------------------------------------------------------------------------
# The worker process
# --------------------------------------------------------------------------------------
def _emit(kind: str, value: Any) -> None:
    print(json.dumps({kind: value}), flush=True)


def _failure(auto: Any, failure: Exception) -> str:
    if isinstance(failure, auto.CommandError):
        return _command_failure(str(failure))
    return f"{type(failure).__name__}: {failure}"


def _command_failure(text: str) -> str:
    """What a failed pulumi command said went wrong. A CommandError (pulumi 3.272) keeps
    only its CommandResult's text, "code: N / stdout: ... / stderr: ...", and no `stderr`
    attribute: reading one crashed the worker inside its own error handling, so no outcome
    reached the parent (found by the engine tests). The engine prints its diagnostics, a
    provider's refusal among them, as `error:` lines on stdout; those are the answer, else
    the end of stderr (or of the whole text)."""
    before, found, stderr = text.partition("\n stderr: ")
    errors: list[str] = []
    for line in (before + "\n" + stderr).splitlines():
        line = line.strip()
        # A dynamic provider's failure is a Python traceback: its last line, the
        # exception and message, is the part to show.
        wanted = line.startswith("error:") and not line.endswith(_TRACEBACK)
        if (wanted or _EXCEPTION_LINE.match(line)) and line not in errors:
            errors.append(line)
    if errors:
        return " | ".join(errors[-6:])
    return _tail(stderr if found and stderr.strip() else text)


_TRACEBACK = "Traceback (most recent call last):"
# `botocore.errorfactory.ValidationException: An error occurred ...`
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Timeout)\w*: \S")


def worker(operation: str, stack_name: str, project_dir: Path, policy_pack: Path) -> int:
    from pulumi import automation as auto

    if operation == "deployed":
        try:
            stack = auto.create_or_select_stack(stack_name=stack_name, work_dir=str(project_dir))
            deployed = read_deployed(stack)
        except Exception as failure:  # report, never hang the parent without a result
            deployed = Deployed(ok=False, error=_failure(auto, failure))
        _emit("deployed", asdict(deployed))
        return 0

    events: list[Any] = []

    def on_event(event: Any) -> None:
        events.append(event)
        line = progress_line(event)
        if line:
            _emit("progress", line)

    ok, error = True, ""
    try:
        stack = auto.create_or_select_stack(stack_name=stack_name, work_dir=str(project_dir))
        if operation == "preview":
            stack.preview(policy_packs=[str(policy_pack)], on_event=on_event, color="never")
        else:
            stack.up(
                policy_packs=[str(policy_pack)],
                on_event=on_event,
                color="never",
                show_secrets=False,
            )
    except Exception as failure:  # report, never hang the parent without an outcome
        ok, error = False, _failure(auto, failure)
    _emit("outcome", _outcome_json(outcome_from_events(events, ok=ok, error=error)))
    return 0


def _tail(text: str, lines: int = 6) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


# --------------------------------------------------------------------------------------
# The parent side
# --------------------------------------------------------------------------------------
class AutomationRunner:
    """`StackRunner` over worker processes: reads of the deployed state, previews and
    updates run in parallel as separate processes, and their progress is forwarded line
    by line."""

    def __init__(self, project_dir: Path, policy_pack: Path) -> None:
        self.project_dir = project_dir
        self.policy_pack = policy_pack

    def deployed(self, stack: str, progress: Progress) -> Deployed:
        result, failure = self._run("deployed", stack, progress)
        return Deployed(ok=False, error=failure) if result is None else deployed_from_json(result)

    def preview(self, stack: str, progress: Progress) -> Outcome:
        result, failure = self._run("preview", stack, progress)
        return Outcome(ok=False, error=failure) if result is None else outcome_from_json(result)

    def up(self, stack: str, progress: Progress) -> Outcome:
        result, failure = self._run("up", stack, progress)
        return Outcome(ok=False, error=failure) if result is None else outcome_from_json(result)

    def command(self, operation: str, stack: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "rft_env.rftenv.automation",
            operation,
            stack,
            "--project-dir",
            str(self.project_dir),
            "--policy-pack",
            str(self.policy_pack),
        ]

    def _run(
        self, operation: str, stack: str, progress: Progress
    ) -> tuple[dict[str, Any] | None, str]:
        """Run one worker: its result message (`deployed` or `outcome`), or None and
        why there is none."""
        kind = "deployed" if operation == "deployed" else "outcome"
        process = subprocess.Popen(
            self.command(operation, stack),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.project_dir,
        )
        result: dict[str, Any] | None = None
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                progress(line.rstrip())
                continue
            if not isinstance(message, dict):
                progress(line.rstrip())
            elif "progress" in message:
                progress(str(message["progress"]))
            elif kind in message:
                result = message[kind]
        stderr = process.stderr.read() if process.stderr else ""
        code = process.wait()
        if result is None:
            return None, f"{operation} worker exited {code}: {_tail(stderr) or 'no output'}"
        return result, ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rft_env.rftenv.automation")
    parser.add_argument("operation", choices=("deployed", "preview", "up"))
    parser.add_argument("stack")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--policy-pack", type=Path, required=True)
    args = parser.parse_args(argv)
    return worker(args.operation, args.stack, args.project_dir, args.policy_pack)


if __name__ == "__main__":
    sys.exit(main())
