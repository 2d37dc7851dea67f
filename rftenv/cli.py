"""`rftenv`: the operator CLI."""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rft_env.rftenv.command import Command, CommandError, UsageError

if TYPE_CHECKING:
    from rft_env.components.config import StackConfig
    from rft_env.rftenv.rollout import StackResult


class _Parser(argparse.ArgumentParser):
    """Usage errors as the usage line of the (sub)command that was called wrongly, then the
    error in one line; argparse's own format is the same, without the pointer to --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            2, f"{self.format_usage()}{self.prog}: error: {message} (see `{self.prog} --help`)\n"
        )


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

    from rft_env.rftenv import stack_files, synth

    try:
        result = synth.synthesize(args.stack, stack_references=dict(args.stack_reference))
    except (
        stack_files.StackNotFoundError,
        stack_files.StackFileError,
        synth.StackReferenceMissingError,
    ) as error:
        raise CommandError(str(error), 2) from error
    except pulumi.RunError as error:
        # Invalid stack config: the message already lists every problem.
        raise CommandError(str(error), 2, subject=args.stack) from error
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(synth.render_table(result))
    return 0


def _stack_reference(text: str) -> tuple[str, dict[str, Any]]:
    """An argparse type: `STACK=FILE`, FILE holding that stack's outputs as a JSON object
    (what `pulumi stack output --json` prints)."""
    from rft_env.components.files import read_text

    stack, separator, path = text.partition("=")
    if not separator or not stack or not path:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: STACK=FILE")
    try:
        outputs = json.loads(read_text(Path(path)))
    except (OSError, ValueError, RecursionError) as error:
        raise argparse.ArgumentTypeError(f"{path}: {error}") from None
    if not isinstance(outputs, dict):
        raise argparse.ArgumentTypeError(
            f"{path}: expected a JSON object of stack outputs (`pulumi stack output --json`)"
        )
    return stack, outputs


def _validate_data(args: argparse.Namespace) -> int:
    from rft_env.components.datasets import validate_dataset

    if args.min_records > args.max_records:
        raise CommandError(
            f"--min-records {args.min_records} is above --max-records {args.max_records}", 2
        )
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


def _grader_spec(args: argparse.Namespace) -> tuple[str, dict, StackConfig | None]:
    """(label, spec, the stack's config or None) from --spec, or from a stack's config
    (--stack/--grader)."""
    if args.spec is not None:
        try:
            spec = json.loads(args.spec)
        except json.JSONDecodeError as error:
            raise ValueError(f"--spec is not valid JSON: {error}") from None
        except RecursionError:
            raise ValueError("--spec is nested too deeply to read") from None
        return "ad-hoc spec", spec, None
    from rft_env.rftenv import stack_files

    config = stack_files.stack_config(args.stack)
    if args.grader not in config.graders:
        known = ", ".join(sorted(config.graders))
        raise LookupError(f"stack {args.stack} has no grader {args.grader!r} (graders: {known})")
    return f"{args.stack}/{args.grader}", _resolve_paths(config.graders[args.grader].spec), config


def _resolve_paths(spec: dict) -> dict:
    """Custom graders' directories are relative to the project: made absolute."""
    from rft_env.components.project_paths import with_code_paths_resolved
    from rft_env.rftenv.project import project_root

    return with_code_paths_resolved(spec, project_root())


def _probe_prompts_file(args: argparse.Namespace, config: StackConfig | None) -> Path:
    """--samples, else the stack's validation data file."""
    if args.samples is not None:
        return args.samples
    validation = config.dataset("validation") if config is not None else None
    if validation is None:
        where = f"stack {args.stack} has no local validation data file" if config else "--spec"
        raise ValueError(f"--probe needs prompts: {where}; pass --samples FILE")
    return validation.path


def _grade(args: argparse.Namespace) -> int:
    from rft_env.components.config import ConfigError
    from rft_env.components.prompts import load_prompts
    from rft_env.graders.contract import GraderSpecError
    from rft_env.graders.registry import build_grader, spec_problems
    from rft_env.rftenv import grading, probes, stack_files

    if args.stack and not args.grader:
        raise UsageError("--stack needs --grader")
    if args.endpoint_url and not args.stack:
        raise UsageError("--endpoint-url needs --stack (an ad-hoc judge spec sets endpointUrl)")
    if not args.probe and args.samples is None:
        raise UsageError("--samples is required (except with --probe)")
    if not args.probe and (args.threshold is not None or args.max_prompts is not None):
        raise UsageError("--threshold and --max-prompts need --probe")
    try:
        label, spec, config = _grader_spec(args)
        if args.spec is not None and (problems := spec_problems(spec)):
            # Name the option: the operator typed this spec, no stack file holds it.
            raise GraderSpecError(problems, context="--spec: invalid grader spec")
        grader = build_grader(spec)
        if args.probe:
            prompts = load_prompts(
                _probe_prompts_file(args, config), args.max_prompts or probes.DEFAULT_MAX_PROMPTS
            )
        else:
            samples = grading.load_samples(args.samples)
    except (
        ConfigError,
        GraderSpecError,
        grading.SamplesError,
        stack_files.StackNotFoundError,
        LookupError,
        OSError,
        ValueError,
    ) as error:
        raise CommandError(str(error), 2) from error
    if config is not None:
        # The judge calls Bedrock as the stack's other commands do: its region and role.
        grading.connect_judges(grader, config, args.endpoint_url)
    label = f"{label} ({spec.get('type')})"
    if args.probe:
        threshold = probes.DEFAULT_THRESHOLD if args.threshold is None else args.threshold
        report = probes.run(grader, spec, prompts, threshold=threshold)
        if args.format == "json":
            print(json.dumps({"grader": label, "spec": spec, **report}, indent=2, default=str))
        else:
            print(probes.render(label, report))
        return probes.exit_code(report)
    summary = grading.run(grader, samples)
    if args.format == "json":
        print(json.dumps({"grader": label, "spec": spec, **summary}, indent=2, default=str))
    else:
        print(grading.render(label, summary))
    # A grader that raised, or a judge that made up a reward, is a failure; a rejected
    # sample is data.
    return grading.exit_code(summary)


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

    from rft_env.rftenv import audit, display, stack_files, synth
    from rft_env.rftenv.pack_runner import PolicyConfigError
    from rft_env.rftenv.project import project_root

    stacks = stack_files.available_stacks() if args.all else list(args.stacks)
    if not stacks:
        raise CommandError("name at least one stack, or --all", 2)
    try:
        policy_config = _policy_config(args.policy_pack_config) if args.policy_pack_config else None
        acceptances = audit.load_acceptances()
        # A broken plan (a ValueError) stops the audit: it names the deployment roles' trust.
        principals = audit.plan_principals()
    except (OSError, ValueError) as error:
        raise CommandError(str(error), 2) from error
    failed = False
    for stack in stacks:
        try:
            graph = synth.synthesize(stack)
            report = audit.audit(
                graph,
                stack_files.engine_config(stack),
                policy_config=policy_config,
                acceptances=acceptances,
                rollout_principals=principals,
            )
        except (
            stack_files.StackNotFoundError,
            stack_files.StackFileError,
            PolicyConfigError,
            audit.AuditInputError,
        ) as error:
            raise CommandError(str(error), 2) from error
        except pulumi.RunError as error:
            raise CommandError(str(error), 2, subject=stack) from error
        directory = (args.out or project_root() / audit.RENDERED_PATH) / stack
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
            raise CommandError(f"cannot {verb} {directory}: {error}", 2, subject=stack) from error
        print(audit.render_report(report, directory, changed, written=not args.check))
        notes = [f"  FAIL {problem}" for problem in [*report.problems(), *outdated]]
        if outdated:
            notes.append(f"  run `rftenv audit {stack}` and commit {directory}")
        for note in notes:  # 80 columns, like the report above
            print("\n".join(display.fill(note, indent="    ")))
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
    from rft_env.rftenv import automation, rollout, stack_files
    from rft_env.rftenv.project import project_root

    project_dir = project_root()
    plan_path = args.plan or project_dir / "stacks" / "rollout.yaml"
    try:
        plan = rollout.load_plan(plan_path, stack_files.available_stacks())
        infos = rollout.stack_infos(plan.stacks(), stack_files.stack_config)
        automation.require_cli()
    except (
        rollout.PlanError,
        ConfigError,
        stack_files.StackNotFoundError,
        stack_files.StackFileError,
        automation.PulumiNotFoundError,
    ) as error:
        raise CommandError(str(error), 2) from error
    problems = rollout.check_allow_lowering(plan, args.allow_lowering_protection)
    if problems:
        raise CommandError("; ".join(problems), 2)
    return rollout.run_and_report(
        plan,
        infos,
        automation.AutomationRunner(project_dir, project_dir / "policies"),
        preview_only=args.preview_only,
        parallel=args.parallel,
        confirm=_confirm_interactively(args.yes),
        out=sys.stdout,
        allow_lowering=frozenset(args.allow_lowering_protection),
    )


def _synth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: a tree that fits 80 columns (long ids shortened); json: everything, "
        "whole (default: table)",
    )
    parser.add_argument(
        "--stack-reference",
        type=_stack_reference,
        action="append",
        default=[],
        metavar="STACK=FILE",
        help="the outputs of a stack the program reads with pulumi.StackReference, as "
        "`pulumi stack output --json --show-secrets --stack STACK` prints them; repeatable",
    )


def _validate_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the JSONL file to check")
    parser.add_argument(
        "--min-records",
        type=_at_least(0),
        default=100,
        help="fewest records allowed (default: 100)",
    )
    parser.add_argument(
        "--max-records",
        type=_at_least(0),
        default=20_000,
        help="most records allowed (default: 20,000)",
    )
    parser.add_argument(
        "--max-problems",
        type=_at_least(1),
        default=50,
        help="stop listing problems after this many (default: 50)",
    )
    parser.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="accept records whose prompts repeat an earlier record's",
    )
    parser.add_argument(
        "--max-bytes",
        type=_at_least(0),
        default=None,
        help="a file size limit of your own (AWS documents none for RFT data)",
    )


def _unit_interval(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: a number from 0 to 1")
    return value


def _grade_arguments(parser: argparse.ArgumentParser) -> None:
    from rft_env.rftenv.jobs import endpoint_url

    # Written out: argparse's would list every option one after the other, in five lines.
    indent = " " * len(f"usage: {parser.prog} ")
    parser.usage = (
        "%(prog)s (--stack STACK --grader GRADER | --spec SPEC)\n"
        f"{indent}[--samples FILE] [--format {{text,json}}] [--endpoint-url URL]\n"
        f"{indent}[--probe [--threshold T] [--max-prompts N]] [options]"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="take the grader from this stack's config")
    source.add_argument("--spec", help="an ad-hoc grader spec, as JSON")
    parser.add_argument("--grader", help="the grader's name in the stack config")
    parser.add_argument(
        "--samples",
        type=Path,
        metavar="FILE",
        help="a Lambda event (JSON) or training records with `candidates` (JSONL); with "
        "--probe, records whose prompts and references the probes use (default: the "
        "stack's validation data)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="grade reward-hacking probes (empty, echoed, hedged, boxed, injected... "
        "answers) instead of samples; exit 1 if any earns more than --threshold",
    )
    parser.add_argument(
        "--threshold",
        type=_unit_interval,
        metavar="T",
        help="with --probe: the most reward a probe may earn (default: 0)",
    )
    parser.add_argument(
        "--max-prompts",
        type=_at_least(1),
        metavar="N",
        help="with --probe: probe this many prompts of the file (default: 20)",
    )
    parser.add_argument(
        "--endpoint-url",
        type=endpoint_url,
        metavar="URL",
        help="send the judge's Bedrock Runtime requests (and STS AssumeRole, when the stack "
        "has a deployment role) to URL: a loopback test endpoint (a fake)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: a summary that fits 80 columns; json: every figure (default: text)",
    )


def _audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="the stacks to audit (or --all)")
    parser.add_argument("--all", action="store_true", help="every stack in stacks/")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; fail if the committed rendered files differ",
    )
    parser.add_argument(
        "--out", type=Path, help="render under DIR/<stack> instead of policies/rendered"
    )
    parser.add_argument(
        "--policy-pack-config",
        type=Path,
        help="policy config JSON, as given to `pulumi preview --policy-pack-config`",
    )


def _rollout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", type=Path, help="the rollout plan (default: stacks/rollout.yaml)")
    parser.add_argument(
        "--preview-only", action="store_true", help="preview and gate every wave; update none"
    )
    parser.add_argument(
        "--parallel",
        type=_at_least(1),
        default=4,
        help="stacks of one wave to preview or update at once (default 4)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="update each wave without asking for confirmation"
    )
    parser.add_argument(
        "--allow-lowering-protection",
        action="append",
        default=[],
        metavar="STACK",
        help="let STACK's update lower a protection compared with what it has deployed "
        "(leave production, shorten a key's deletion window, set forceDestroy, remove "
        "protect or retainOnDelete); without it the gate stops such a stack. Repeat for "
        "each stack; what is lowered is still printed",
    )


SYNTH = Command(
    "synth",
    help="show what `pulumi up` would create for a stack, offline (mock runtime)",
    description="Run the real program for STACK under Pulumi's mock runtime, with the "
    "stack's config file, and print every resource it would create. Needs no Pulumi "
    "CLI, no AWS account and no network.",
    add_arguments=_synth_arguments,
    handler=_synth,
)
VALIDATE_DATA = Command(
    "validate-data",
    help="check an RFT training/validation JSONL file",
    description="Check an RFT JSONL file: one JSON object per line, chat messages "
    "ending with a user turn, a reference answer, the record count, duplicate prompts. "
    "Every problem is reported with its line number; the exit code is 0 only when the "
    "file is valid. `pulumi up` runs the same checks on the stack's data files.",
    add_arguments=_validate_data_arguments,
    handler=_validate_data,
)
GRADE = Command(
    "grade",
    help="run a grader locally on samples and show its reward distribution",
    description="Run a stack's grader (or an ad-hoc spec) on a file of samples - the "
    "Lambda event, or training records with `candidates` - and print the reward "
    "distribution per metric, each sample's reward, the share of prompts whose "
    "candidates all scored the same (no learning signal for GRPO), errors and timing. "
    "An LLM judge calls Bedrock in the stack's region through its deployment role. "
    "With --probe, grade reward-hacking probes built from the prompts instead. Exits 1 "
    "if the grader raised on any sample, a judge fell back to its fallbackScore, or a "
    "probe earned more than --threshold; 2 on unusable input.",
    add_arguments=_grade_arguments,
    handler=_grade,
)
AUDIT = Command(
    "audit",
    help="render every policy a stack creates and check it against the policy pack",
    description="For each STACK, write every IAM, KMS, bucket, Lambda and topic policy "
    "document the stack creates to policies/rendered/<stack>/ as sorted JSON, with a "
    "SUMMARY.md table; run the policy pack's rules on the synthesized program and "
    "parliament on every IAM permission policy. Exits 1 on any pack violation, any lint "
    "finding not accepted in policies/accepted-findings.yaml, any statement without a "
    "recorded purpose, or (with --check) rendered files that are out of date; 2 on "
    "unusable input.",
    add_arguments=_audit_arguments,
    handler=_audit,
)
ROLLOUT = Command(
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
    add_arguments=_rollout_arguments,
    handler=_rollout,
)


def commands() -> list[Command]:
    """Every subcommand, in the order `rftenv --help` lists them. status, metrics and
    evaluate live in their own modules (with what only they use), declared the same way."""
    from rft_env.rftenv import evaluate, metrics, status

    return [
        SYNTH,
        VALIDATE_DATA,
        GRADE,
        AUDIT,
        ROLLOUT,
        status.COMMAND,
        metrics.COMMAND,
        evaluate.COMMAND,
    ]


def build_parser() -> argparse.ArgumentParser:
    from rft_env.components import naming

    parser = _Parser(
        prog="rftenv", description="Operate rft-env stacks (Bedrock RFT environments)."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"rftenv {naming.installed_version()}",
        help="show the installed rft-env version and exit",
    )
    # The same parser class for the subcommands: their usage errors print their usage.
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in commands():
        command.register(subparsers).add_argument(
            "--project-dir",
            type=Path,
            metavar="DIR",
            help="the Pulumi project to work on (default: the working directory)",
        )
    return parser


def _subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[name]


def _report(command: str, error: CommandError) -> int:
    """The one way a command's failure reaches the operator: one message on stderr."""
    subject = f" {error.subject}" if error.subject else ""
    print(f"rftenv {command}{subject}: {error}", file=sys.stderr)
    return error.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse reports these from the top-level parser; they belong to the subcommand.
        _subcommand_parser(parser, args.command).error(
            f"unrecognized arguments: {' '.join(unknown)}"
        )
    from rft_env.rftenv.project import ProjectNotFoundError, selected_project

    try:
        with selected_project(args.project_dir):
            return int(args.handler(args))
    except UsageError as error:
        _subcommand_parser(parser, args.command).error(str(error))
    except CommandError as error:
        return _report(args.command, error)
    except ProjectNotFoundError as error:
        return _report(args.command, CommandError(str(error), 2))
    except RecursionError:
        # Only input nests this deep (JSON, YAML, a spec): whichever parser met it, the
        # operator gets one line, not a thousand-frame traceback.
        return _report(args.command, CommandError("input nested too deeply to read", 2))


def run() -> None:
    """The console script. Importing pulumi and pulumi_aws allocates about a million
    long-lived objects, and the cyclic collector would scan them again and again for
    nothing in a process that lives a second: it is off while the command runs, and what
    is alive at the end is frozen so the interpreter's exit does not sweep it either.
    (Commands import their heavy modules lazily, after this point.)"""
    gc.disable()
    try:
        code = main()
        sys.stdout.flush()  # a reader that has gone shows up here, not at exit
    except BrokenPipeError:
        # `rftenv ... | head`: the reader closed the pipe. The Python docs' recipe: point
        # stdout at devnull so the interpreter's last flush does not fail again, exit 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    finally:
        gc.freeze()
        gc.enable()
    sys.exit(code)


if __name__ == "__main__":
    run()
