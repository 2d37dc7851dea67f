"""`rftenv`: the operator CLI."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from rft_env.rftenv.rollout import StackResult


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error of the CLI (argparse's default
    prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"got {text!r}; allowed: an integer >= {minimum}")
        return value

    return parse


def _synth(args: argparse.Namespace) -> int:
    import pulumi

    from rft_env.rftenv import synth

    try:
        result = synth.synthesize(args.stack)
    except (synth.StackNotFoundError, synth.StackFileError) as error:
        print(f"rftenv synth: {error}", file=sys.stderr)
        return 2
    except pulumi.RunError as error:
        # Invalid stack config: the message already lists every problem.
        print(f"rftenv synth {args.stack}: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(synth.render_table(result))
    return 0


def _validate_data(args: argparse.Namespace) -> int:
    from rft_env.components.datasets import validate_dataset

    if args.min_records > args.max_records:
        print(
            f"rftenv validate-data: --min-records {args.min_records} is above --max-records "
            f"{args.max_records}",
            file=sys.stderr,
        )
        return 2
    report = validate_dataset(
        args.file,
        min_records=args.min_records,
        max_records=args.max_records,
        allow_duplicates=args.allow_duplicates,
        max_problems=args.max_problems,
        max_bytes=args.max_bytes,
    )
    print(
        f"{report.path}: {report.records:,} records, {report.size_bytes:,} bytes, "
        f"sha256 {report.sha256[:16] or '-'}"
    )
    for problem in report.problems:
        print(f"  {problem}")
    print("valid" if report.ok else f"invalid: {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def _grader_spec(args: argparse.Namespace) -> tuple[str, dict]:
    """(label, spec) from --spec, or from a stack's config (--stack/--grader)."""
    if args.spec is not None:
        try:
            spec = json.loads(args.spec)
        except json.JSONDecodeError as error:
            raise ValueError(f"--spec is not valid JSON: {error}") from None
        except RecursionError:
            raise ValueError("--spec is nested too deeply to read") from None
        return "ad-hoc spec", spec
    from rft_env.rftenv import synth

    config = synth.stack_config(args.stack)
    if args.grader not in config.graders:
        known = ", ".join(sorted(config.graders))
        raise LookupError(f"stack {args.stack} has no grader {args.grader!r} (graders: {known})")
    return f"{args.stack}/{args.grader}", _resolve_paths(config.graders[args.grader].spec)


def _resolve_paths(spec: dict) -> dict:
    """Custom graders' directories are relative to the project: make them absolute."""
    from rft_env.rftenv import synth

    if spec.get("type") == "custom":
        return {**spec, "path": str((synth.PROJECT_DIR / spec["path"]).resolve())}
    if spec.get("type") == "composite":
        parts = [{**part, "grader": _resolve_paths(part["grader"])} for part in spec["parts"]]
        return {**spec, "parts": parts}
    return spec


def _grade(args: argparse.Namespace) -> int:
    from rft_env.components.config import ConfigError
    from rft_env.graders.contract import GraderSpecError
    from rft_env.graders.registry import build_grader
    from rft_env.rftenv import grading, synth

    try:
        label, spec = _grader_spec(args)
        grader = build_grader(spec)
        samples = grading.load_samples(args.samples)
    except (
        ConfigError,
        GraderSpecError,
        grading.SamplesError,
        synth.StackNotFoundError,
        LookupError,
        OSError,
        ValueError,
    ) as error:
        print(f"rftenv grade: {error}", file=sys.stderr)
        return 2
    summary = grading.run(grader, samples)
    if args.format == "json":
        print(json.dumps({"grader": label, "spec": spec, **summary}, indent=2, default=str))
    else:
        print(grading.render(f"{label} ({spec.get('type')})", summary))
    # A grader that raised is a bug to fix before training; a rejected sample is data.
    return 1 if summary["graderRaised"] else 0


def _policy_config(path: Path) -> Any:
    """The `--policy-pack-config` document; ValueError or OSError naming `path`."""
    from rft_env.components.files import read_text
    from rft_env.rftenv.pack_runner import require_policy_config

    try:
        return require_policy_config(json.loads(read_text(path)))
    except ValueError as error:  # not UTF-8, not JSON, not an object of policies
        raise ValueError(f"{path}: {error}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to read") from None


def _audit(args: argparse.Namespace) -> int:
    import pulumi

    from rft_env.rftenv import audit, synth
    from rft_env.rftenv.pack_runner import PolicyConfigError

    stacks = synth.available_stacks() if args.all else list(args.stacks)
    if not stacks:
        print("rftenv audit: name at least one stack, or --all", file=sys.stderr)
        return 2
    try:
        policy_config = _policy_config(args.policy_pack_config) if args.policy_pack_config else None
        acceptances = audit.load_acceptances()
        # A broken plan (a ValueError) stops the audit: it names the deployment roles' trust.
        principals = audit.plan_principals()
    except (OSError, ValueError) as error:
        print(f"rftenv audit: {error}", file=sys.stderr)
        return 2
    failed = False
    for stack in stacks:
        try:
            graph = synth.synthesize(stack)
            report = audit.audit(
                graph,
                synth.engine_config(stack),
                policy_config=policy_config,
                acceptances=acceptances,
                rollout_principals=principals,
            )
        except (
            synth.StackNotFoundError,
            synth.StackFileError,
            PolicyConfigError,
            audit.AuditInputError,
        ) as error:
            print(f"rftenv audit: {error}", file=sys.stderr)
            return 2
        except pulumi.RunError as error:
            print(f"rftenv audit {stack}: {error}", file=sys.stderr)
            return 2
        directory = (args.out or audit.RENDERED_DIR) / stack
        files = report.files()
        try:
            if args.check:
                changed = audit.stale(files, directory)
                outdated = [f"out of date: {directory / name}" for name in changed]
            else:
                changed = audit.write(files, directory)
                outdated = []
        except OSError as error:
            verb = "read" if args.check else "write"
            print(f"rftenv audit {stack}: cannot {verb} {directory}: {error}", file=sys.stderr)
            return 2
        print(audit.render_report(report, directory, changed, written=not args.check))
        for problem in [*report.problems(), *outdated]:
            print(f"  FAIL {problem}")
        if outdated:
            print(f"  run `rftenv audit {stack}` and commit {directory}")
        failed |= not report.ok or bool(outdated)
    return 1 if failed else 0


def _confirm_interactively(assume_yes: bool) -> Callable[[str, list[StackResult]], bool]:
    """Ask before each wave's update, unless --yes; without a terminal, refuse."""

    def confirm(wave: str, results: list[StackResult]) -> bool:
        if assume_yes:
            return True
        if not sys.stdin.isatty():
            print(
                f"wave {wave!r}: not updating without confirmation (pass --yes, or run "
                "from a terminal)",
                file=sys.stderr,
            )
            return False
        from rft_env.rftenv.rollout import format_changes

        planned = ", ".join(f"{r.stack} ({format_changes(r.changes)})" for r in results)
        answer = input(f"Update wave {wave!r}: {planned}? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    return confirm


def _rollout(args: argparse.Namespace) -> int:
    from rft_env.components.config import ConfigError
    from rft_env.rftenv import automation, rollout, synth

    plan_path = args.plan or synth.PROJECT_DIR / "stacks" / "rollout.yaml"
    try:
        plan = rollout.load_plan(plan_path, synth.available_stacks())
        infos = rollout.stack_infos(plan.stacks(), synth.stack_config)
        automation.require_cli()
    except (
        rollout.PlanError,
        ConfigError,
        synth.StackNotFoundError,
        synth.StackFileError,
        automation.PulumiNotFoundError,
    ) as error:
        print(f"rftenv rollout: {error}", file=sys.stderr)
        return 2
    if args.parallel < 1:
        print("rftenv rollout: --parallel must be at least 1", file=sys.stderr)
        return 2
    problems = rollout.check_allow_lowering(plan, args.allow_lowering_protection)
    for problem in problems:
        print(f"rftenv rollout: {problem}", file=sys.stderr)
    if problems:
        return 2
    return rollout.run_and_report(
        plan,
        infos,
        automation.AutomationRunner(),
        preview_only=args.preview_only,
        parallel=args.parallel,
        confirm=_confirm_interactively(args.yes),
        out=sys.stdout,
        allow_lowering=frozenset(args.allow_lowering_protection),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rftenv", description="Operate rft-env stacks (Bedrock RFT environments)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    synth_cmd = commands.add_parser(
        "synth",
        help="show what `pulumi up` would create for a stack, offline (mock runtime)",
        description="Run the real program for STACK under Pulumi's mock runtime, with the "
        "stack's config file, and print every resource it would create. Needs no Pulumi "
        "CLI, no AWS account and no network.",
    )
    synth_cmd.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    synth_cmd.add_argument("--format", choices=("table", "json"), default="table")
    synth_cmd.set_defaults(handler=_synth)

    validate = commands.add_parser(
        "validate-data",
        help="check an RFT training/validation JSONL file",
        description="Check an RFT JSONL file: one JSON object per line, chat messages "
        "ending with a user turn, a reference answer, the record count, duplicate prompts. "
        "Every problem is reported with its line number; the exit code is 0 only when the "
        "file is valid. `pulumi up` runs the same checks on the stack's data files.",
    )
    validate.add_argument("file", type=Path)
    validate.add_argument("--min-records", type=_at_least(0), default=100)
    validate.add_argument("--max-records", type=_at_least(0), default=20_000)
    validate.add_argument("--max-problems", type=_at_least(1), default=50)
    validate.add_argument("--allow-duplicates", action="store_true")
    validate.add_argument(
        "--max-bytes",
        type=_at_least(0),
        default=None,
        help="a file size limit of your own (AWS documents none for RFT data)",
    )
    validate.set_defaults(handler=_validate_data)

    grade = commands.add_parser(
        "grade",
        help="run a grader locally on samples and show its reward distribution",
        description="Run a stack's grader (or an ad-hoc spec) on a file of samples - the "
        "Lambda event, or training records with `candidates` - and print the reward "
        "distribution per metric, the share of prompts whose candidates all scored the "
        "same (no learning signal for GRPO), errors and timing. Exits 1 if the grader "
        "raised on any sample, 2 on unusable input.",
    )
    source = grade.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="take the grader from this stack's config")
    source.add_argument("--spec", help="an ad-hoc grader spec, as JSON")
    grade.add_argument("--grader", help="the grader's name in the stack config")
    grade.add_argument("--samples", type=Path, required=True)
    grade.add_argument("--format", choices=("text", "json"), default="text")
    grade.set_defaults(handler=_grade)

    audit_cmd = commands.add_parser(
        "audit",
        help="render every policy a stack creates and check it against the policy pack",
        description="For each STACK, write every IAM, KMS, bucket, Lambda and topic policy "
        "document the stack creates to policies/rendered/<stack>/ as sorted JSON, with a "
        "SUMMARY.md table; run the policy pack's rules on the synthesized program and "
        "parliament on every IAM permission policy. Exits 1 on any pack violation, any lint "
        "finding not accepted in policies/accepted-findings.yaml, any statement without a "
        "recorded purpose, or (with --check) rendered files that are out of date; 2 on "
        "unusable input.",
    )
    audit_cmd.add_argument("stacks", nargs="*", metavar="STACK")
    audit_cmd.add_argument("--all", action="store_true", help="every stack in stacks/")
    audit_cmd.add_argument(
        "--check",
        action="store_true",
        help="write nothing; fail if the committed rendered files differ",
    )
    audit_cmd.add_argument(
        "--out", type=Path, help="render under DIR/<stack> instead of policies/rendered"
    )
    audit_cmd.add_argument(
        "--policy-pack-config",
        type=Path,
        help="policy config JSON, as given to `pulumi preview --policy-pack-config`",
    )
    audit_cmd.set_defaults(handler=_audit)

    rollout_cmd = commands.add_parser(
        "rollout",
        help="preview and update stacks in waves, with gates (needs the Pulumi CLI)",
        description="For each wave of the plan: preview every stack with the policy pack; "
        "stop before updating if a preview fails, a policy is violated, a protected "
        "resource (or any resource of a production stack) would be replaced or deleted "
        "without allowReplace, or a protection would be lowered compared with the "
        "deployed state without --allow-lowering-protection; then update the wave's "
        "stacks in parallel, each in its own process, and halt at the first failure. Ends "
        "with a summary table; exits 1 on any failure, 2 on unusable input or without the "
        "Pulumi CLI.",
    )
    rollout_cmd.add_argument(
        "--plan", type=Path, help="the rollout plan (default: stacks/rollout.yaml)"
    )
    rollout_cmd.add_argument(
        "--preview-only", action="store_true", help="preview and gate every wave; update none"
    )
    rollout_cmd.add_argument(
        "--parallel",
        type=int,
        default=4,
        help="stacks of one wave to preview or update at once (default 4)",
    )
    rollout_cmd.add_argument(
        "--yes", action="store_true", help="update each wave without asking for confirmation"
    )
    rollout_cmd.add_argument(
        "--allow-lowering-protection",
        action="append",
        default=[],
        metavar="STACK",
        help="let STACK's update lower a protection compared with what it has deployed "
        "(leave production, shorten a key's deletion window, set forceDestroy, remove "
        "protect or retainOnDelete); without it the gate stops such a stack. Repeat for "
        "each stack; what is lowered is still printed",
    )
    rollout_cmd.set_defaults(handler=_rollout)

    from rft_env.rftenv import metrics, status

    status.register(commands)
    metrics.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "grade" and args.stack and not args.grader:
        parser.error("--stack needs --grader")
    try:
        return int(args.handler(args))
    except RecursionError:
        # Only input nests this deep (JSON, YAML, a spec): whichever parser met it, the
        # operator gets one line, not a thousand-frame traceback.
        print(f"rftenv {args.command}: input nested too deeply to read", file=sys.stderr)
        return 2


def run() -> None:
    """The console script. Importing pulumi and pulumi_aws allocates about a million
    long-lived objects, and the cyclic collector would scan them again and again for
    nothing in a process that lives a second: it is off while the command runs, and what
    is alive at the end is frozen so the interpreter's exit does not sweep it either.
    (Commands import their heavy modules lazily, after this point.)"""
    gc.disable()
    try:
        code = main()
    finally:
        gc.freeze()
        gc.enable()
    sys.exit(code)


if __name__ == "__main__":
    run()
