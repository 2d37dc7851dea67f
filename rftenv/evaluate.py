"""`rftenv evaluate <stack>`: the trained model against its base model on held-out prompts.

Each prompt goes to both models by Converse; both answers are graded locally with the
stack's job grader (the primary) and any extra graders, and the two are compared, per model
and paired per prompt (components/evaluation.py computes every figure; this module finds the
models, prompts and settings, shows progress, and writes and prints the report). A second
grader is how reward hacking shows up: a gain on the job's grader with a loss on another.

The trained model is `--model`, else the stack's inference (the provisioned throughput or
on-demand deployment `rftenv status` reports), else the promotion gate's evaluation
deployment when the stack keeps one. The base model is `--base-model`, else
`naming.base_inference_id`. `--compare A B` compares two models of any kind instead.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rft_env.rftenv import display, jobs
from rft_env.rftenv.command import Command, CommandError, UsageError, about

if TYPE_CHECKING:
    from rft_env.components.bedrock.converse import Reply
    from rft_env.components.bedrock.waiting import Clock
    from rft_env.components.config import StackConfig
    from rft_env.components.evaluation import Contender
    from rft_env.components.prompts import Prompt
    from rft_env.graders.contract import Grader

# Defaults when the stack has no `inference.promotion`: PromotionConfig's (a test keeps them
# equal; this module is imported at every start of the CLI, which loads no pydantic then).
DEFAULT_LIMIT = 200
DEFAULT_CONCURRENCY = 4
DEFAULT_RATE = 2.0
DEFAULT_MAX_FAILURE_SHARE = 0.05
BASE_MODEL_KEY = "rft-env:inference.promotion.baseModelId"

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CHART_FILE = "rewards.png"

# Without a terminal the progress bar is printed as lines, at most this many per model.
PROGRESS_LINES = 10
BAR_WIDTH = 20
# report.md: prompts shown where the candidate's primary reward is most above the
# baseline's, as many where it is most below (a loss says more than a tenth win), and how
# much of each answer (answers can be pages long; report.json keeps them whole).
DISAGREEMENTS = 2
ANSWER_CHARS = 600

# Serving states of the inference resources: an Updating throughput still serves its model.
SERVING = {"provisioned": ("InService", "Updating"), "on_demand": ("Active",)}

# The clock the request pacer and retries sleep on; tests put a fake clock here.
clock: Clock | None = None


DESCRIPTION = (
    "Send each held-out prompt to two models by Converse - the base model and the trained "
    "model - grade both answers locally with STACK's job grader (plus --graders, or the "
    "promotion gate's graders), and report per model the mean reward with a 95% bootstrap "
    "interval, per-metric means, failed calls, tokens and latency p50/p95; and per grader, "
    "paired over the prompts: the gain, its interval, wins/ties/losses and a sign test. "
    "Writes report.json, report.md and rewards.png (the primary grader's reward "
    "distributions) to --out. The trained model is --model, else the stack's provisioned "
    "throughput or on-demand deployment (as `rftenv status` finds it), else the promotion "
    "gate's evaluation deployment; the base model is --base-model, else the Converse id of "
    "job.baseModel (or inference.promotion.baseModelId). --compare A B compares two models "
    "(A the baseline, B the candidate). Defaults come from rft-env:inference.promotion when "
    "the stack has one. Exit codes: 0 when it ran; 1 when a model's failed calls exceed "
    "--max-failure-share, a model stopped existing mid-run, or an AWS call failed; 2 on "
    "unusable input. Needs bedrock:InvokeModel on both models (and, without --model, "
    "bedrock:List/Get ProvisionedModelThroughput(s) or CustomModelDeployment(s))."
)


# ------------------------------------------------------------------------------ arguments


def _number_type(
    option: str, convert: Callable[[str], Any], check: Callable[[Any], bool], allowed: str
) -> Callable[[str], Any]:
    """An argparse type whose error names the option and what it allows."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not check(value):
            raise argparse.ArgumentTypeError(f"{option}: got {text!r}; allowed: {allowed}")
        return value

    return parse


def _graders_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"--graders: got {text!r}; allowed: grader names separated by commas"
        )
    return list(dict.fromkeys(names))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    indent = " " * len(f"usage: {parser.prog} ")
    # Written out: argparse's own would run to a dozen lines.
    parser.usage = (
        "%(prog)s STACK [--samples FILE] [--limit N] [--graders A,B]\n"
        f"{indent}[--model ID] [--base-model ID] [--compare MODEL_A MODEL_B]\n"
        f"{indent}[--out DIR] [--format {{text,json}}] [options]"
    )
    parser.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--samples",
        type=Path,
        metavar="FILE",
        help="held-out prompts: training records (JSONL) or a Lambda event (JSON) (default: "
        "inference.promotion.samplesFile, else data.validation.file)",
    )
    parser.add_argument(
        "--limit",
        type=_number_type("--limit", int, lambda v: v >= 1, "an integer >= 1"),
        metavar="N",
        help=f"use the first N distinct prompts (default: inference.promotion.samples, "
        f"else {DEFAULT_LIMIT})",
    )
    parser.add_argument(
        "--graders",
        type=_graders_list,
        metavar="A,B",
        help="graders of the stack to grade with besides the job's (default: "
        "inference.promotion.graders, else none)",
    )
    parser.add_argument(
        "--model",
        metavar="ID",
        help="the trained model's Converse id: a deployment or provisioned throughput ARN "
        "(default: the stack's inference, else its promotion evaluation deployment)",
    )
    parser.add_argument(
        "--base-model",
        metavar="ID",
        help="the base model's Converse id (default: inference.promotion.baseModelId, else "
        "the inference profile of job.baseModel, e.g. us.amazon.nova-2-lite-v1:0)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("MODEL_A", "MODEL_B"),
        help="compare these two models instead (two trained revisions, say): A the "
        "baseline, B the candidate; not with --model or --base-model",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write report.json, report.md and rewards.png here (default: "
        "evaluations/<stack>/<UTC time>/)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: a summary that fits 80 columns; json: the whole report (default: text)",
    )
    parser.add_argument(
        "--concurrency",
        type=_number_type("--concurrency", int, lambda v: v >= 1, "an integer >= 1"),
        metavar="C",
        help=f"calls in flight per model (default: inference.promotion.concurrency, else "
        f"{DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--rate",
        type=_number_type("--rate", float, lambda v: 0 < v < math.inf, "a number above 0"),
        metavar="R",
        help=f"request starts per second, retries included; halved at each throttle "
        f"(default: inference.promotion.requestsPerSecond, else {DEFAULT_RATE:g})",
    )
    parser.add_argument(
        "--max-tokens",
        type=_number_type("--max-tokens", int, lambda v: v >= 1, "an integer >= 1"),
        metavar="N",
        help="inferenceConfig.maxTokens of each call (default: inference.promotion.maxTokens, "
        "else the model's own)",
    )
    parser.add_argument(
        "--max-failure-share",
        type=_number_type("--max-failure-share", float, lambda v: 0 <= v <= 1, "0 to 1"),
        metavar="F",
        help="exit 1 when a model's failed calls exceed this share (default: "
        f"inference.promotion.maxFailureShare, else {DEFAULT_MAX_FAILURE_SHARE:g})",
    )
    parser.add_argument(
        "--endpoint-url",
        type=jobs.endpoint_url,
        metavar="URL",
        help="send Bedrock and Bedrock Runtime requests (and STS AssumeRole, when the stack "
        "has a deployment role) to URL: a loopback test endpoint (a fake)",
    )


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    """What the run uses, each from its option, else the stack's promotion config, else
    the default."""

    samples_file: Path
    samples_source: str  # the option or config key the file came from
    limit: int
    concurrency: int
    rate: float
    max_tokens: int | None
    max_failure_share: float
    graders: tuple[str, ...]  # the job's grader first

    def as_json(self) -> dict[str, Any]:
        return {
            "samplesFile": str(self.samples_file),
            "samplesSource": self.samples_source,
            "limit": self.limit,
            "concurrency": self.concurrency,
            "requestsPerSecond": self.rate,
            "maxTokens": self.max_tokens,
            "maxFailureShare": self.max_failure_share,
        }


def _pick(given: Any, configured: Any, default: Any) -> Any:
    if given is not None:
        return given
    return configured if configured is not None else default


def resolve_settings(args: argparse.Namespace, stack: jobs.Stack) -> Settings:
    """The run's settings; CommandError (exit 2) naming the option or key that is wrong."""
    config = stack.config
    promotion = config.inference.promotion
    samples_file, source = _samples_file(args.samples, stack)
    graders = args.graders if args.graders is not None else (promotion.graders if promotion else [])
    unknown = [name for name in graders if name not in config.graders]
    if unknown:
        known = ", ".join(sorted(config.graders))
        raise CommandError(
            f"--graders: stack {stack.name} has no grader {', '.join(map(repr, unknown))} "
            f"(graders: {known})",
            2,
        )
    job_grader = config.job.grader
    return Settings(
        samples_file=samples_file,
        samples_source=source,
        limit=_pick(args.limit, promotion and promotion.samples, DEFAULT_LIMIT),
        concurrency=_pick(
            args.concurrency, promotion and promotion.concurrency, DEFAULT_CONCURRENCY
        ),
        rate=_pick(args.rate, promotion and promotion.requests_per_second, DEFAULT_RATE),
        max_tokens=_pick(args.max_tokens, promotion and promotion.max_tokens, None),
        max_failure_share=_pick(
            args.max_failure_share,
            promotion and promotion.max_failure_share,
            DEFAULT_MAX_FAILURE_SHARE,
        ),
        graders=(job_grader, *(name for name in graders if name != job_grader)),
    )


def _samples_file(given: Path | None, stack: jobs.Stack) -> tuple[Path, str]:
    """(the held-out prompts file, the option or config key it came from)."""
    from rft_env.components.project_paths import ProjectPathError, resolve_in_project
    from rft_env.rftenv.project import project_root

    if given is not None:
        return given, "--samples"
    config = stack.config
    promotion = config.inference.promotion
    if promotion is not None and promotion.samples_file is not None:
        key = "rft-env:inference.promotion.samplesFile"
        try:
            return resolve_in_project(project_root(), promotion.samples_file), key
        except (ProjectPathError, OSError, ValueError) as error:
            raise CommandError(f"{key} {promotion.samples_file!r}: {error}", 2) from error
    validation = config.data.validation
    if validation is not None and validation.file is not None:
        return project_root() / validation.file, "rft-env:data.validation.file"
    raise CommandError(
        f"no held-out prompts: stack {stack.name} has no rft-env:data.validation.file (nor "
        "inference.promotion.samplesFile); pass --samples FILE",
        2,
    )


def load_prompts(settings: Settings) -> list[Prompt]:
    """The prompts; CommandError (exit 2) naming where the file came from."""
    from rft_env.components.prompts import PromptsError
    from rft_env.components.prompts import load_prompts as load

    where = f"{settings.samples_source} {settings.samples_file}"
    try:
        return load(settings.samples_file, settings.limit)
    except PromptsError as error:
        raise CommandError(f"{settings.samples_source}: {error}", 2) from error
    except OSError as error:
        raise CommandError(f"{where}: cannot read: {error.strerror or error}", 2) from error


def build_graders(
    stack: jobs.Stack, names: Sequence[str], endpoint_url: str | None
) -> dict[str, Grader]:
    """The stack's graders by name, the job's first, their judges connected as `rftenv
    grade --stack` connects them (the stack's region and deployment role)."""
    from rft_env.components.project_paths import with_code_paths_resolved
    from rft_env.graders.contract import GraderSpecError
    from rft_env.graders.registry import build_grader
    from rft_env.rftenv import grading
    from rft_env.rftenv.project import project_root

    graders: dict[str, Grader] = {}
    for name in names:
        try:
            spec = with_code_paths_resolved(stack.config.graders[name].spec, project_root())
            graders[name] = build_grader(spec)
        except (GraderSpecError, OSError, ValueError) as error:
            raise CommandError(f"rft-env:graders.{name}: {error}", 2) from error
        grading.connect_judges(graders[name], stack.config, endpoint_url)
    return graders


# ------------------------------------------------------------------------------ the models


def base_model(config: StackConfig, given: str | None) -> str:
    from rft_env.components.naming import base_inference_id

    model = given or base_inference_id(config)
    if model is None:
        raise CommandError(
            f"no Converse id known for base model {config.job.base_model}: pass --base-model "
            f"ID or set {BASE_MODEL_KEY}",
            2,
        )
    return model


def find_trained_model(stack: jobs.Stack, endpoint_url: str | None) -> tuple[str, str]:
    """(the Converse id, what it is) of the stack's trained model: its inference when that
    serves, else the promotion gate's evaluation deployment. CommandError (exit 2) when
    neither does."""
    from rft_env.components.naming import stack_evaluation_deployment_name

    config = stack.config
    evaluation_name = stack_evaluation_deployment_name(config)
    if config.inference.mode == "none" and evaluation_name is None:
        raise _no_trained_model(stack, ["rft-env:inference.mode is none"])
    bedrock = jobs.client(stack.connection(endpoint_url), "bedrock")
    seen: list[str] = []
    inference = jobs.find_inference(bedrock, stack)
    if inference is not None:
        found = _serving(inference.mode, inference.kind, inference.name, inference.record, seen)
        if found is not None:
            return found
    if evaluation_name is not None:
        record = jobs.find_deployment(bedrock, evaluation_name)
        found = _serving("on_demand", "evaluation deployment", evaluation_name, record, seen)
        if found is not None:
            return found
    raise _no_trained_model(stack, seen)


def _serving(
    mode: str, kind: str, name: str, record: dict[str, Any] | None, seen: list[str]
) -> tuple[str, str] | None:
    """(ARN, description) when `record` serves; else notes in `seen` why not."""
    if record is None:
        seen.append(f"no {kind} {name}")
        return None
    status = record.get("status")
    if status not in SERVING[mode]:
        seen.append(f"{kind} {name} is {status}")
        return None
    arn = record["provisionedModelArn" if mode == "provisioned" else "customModelDeploymentArn"]
    return arn, f"{kind} {name}"


def _no_trained_model(stack: jobs.Stack, seen: Sequence[str]) -> CommandError:
    return CommandError(
        f"no trained model to evaluate ({'; '.join(seen)}): deploy the stack's inference "
        "(rft-env:inference.mode, then `pulumi up`) or pass --model ID",
        2,
    )


# ------------------------------------------------------------------------------ progress


class Progress:
    """A one-line bar per model on `stream`, from `converse_all`'s worker threads: redrawn
    in place on a terminal; otherwise a line each tenth of the way, so logs stay short."""

    def __init__(self, stream: TextIO, label_width: int) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.label_width = label_width
        self._lock = threading.Lock()
        self._label = ""
        self._total = self._done = self._failed = self._retries = self._printed = 0
        # The current model's answers so far: a model gone before its first never existed.
        self.answered = 0

    def start(self, label: str, total: int) -> None:
        with self._lock:
            self._label, self._total = label, total
            self._done = self._failed = self._retries = self._printed = self.answered = 0

    def reply(self, index: int, reply: Reply) -> None:
        """`on_reply`: one call ended."""
        with self._lock:
            self._done += 1
            self._failed += not reply.ok
            self.answered += reply.ok
            self._retries += max(0, reply.attempts - 1)
            if self.tty:
                self.stream.write("\r" + self.line())
                self.stream.flush()
            elif self._done * PROGRESS_LINES >= (self._printed + 1) * self._total:
                # A line each time another tenth is done: at most PROGRESS_LINES lines.
                self._printed = self._done * PROGRESS_LINES // self._total
                self.stream.write(self.line() + "\n")

    def finish(self) -> None:
        with self._lock:
            if self.tty and self._done:
                self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        filled = self._done * BAR_WIDTH // max(1, self._total)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        failed = f", {self._failed} failed" if self._failed else ""
        return (
            f"{self._label:<{self.label_width}}  [{bar}] {self._done}/{self._total} calls, "
            f"{self._retries} retries{failed}"
        )


def asker(
    client: Any, run: Settings, progress: Progress, pacing_clock: Clock
) -> Callable[[Contender, Sequence[Prompt]], list[Reply]]:
    """The `ask` evaluation.evaluate calls for each model in turn."""
    from rft_env.components.bedrock.converse import converse_all, converse_request

    def ask(contender: Contender, prompts: Sequence[Prompt]) -> list[Reply]:
        requests = [
            converse_request(contender.model_id, p.messages, max_tokens=run.max_tokens)
            for p in prompts
        ]
        progress.start(contender.label, len(requests))
        try:
            return converse_all(
                client,
                requests,
                concurrency=run.concurrency,
                rate=run.rate,
                clock=pacing_clock,
                on_reply=progress.reply,
            )
        finally:
            progress.finish()

    return ask


# ------------------------------------------------------------------------------ the command


def run(args: argparse.Namespace) -> int:
    """The handler: evaluate, write the files, print the report; returns the exit code."""
    if args.compare is not None and (args.model is not None or args.base_model is not None):
        raise UsageError("--compare takes both models: not with --model or --base-model")
    with about(args.stack):
        return _run(args)


COMMAND = Command(
    "evaluate",
    help="compare the trained model with its base model on held-out prompts",
    description=DESCRIPTION,
    add_arguments=add_arguments,
    handler=run,
)


def _run(args: argparse.Namespace) -> int:
    from rft_env.components.bedrock.converse import ModelGone, runtime_connection
    from rft_env.components.bedrock.waiting import SystemClock
    from rft_env.components.evaluation import Contender, evaluate, failure_share
    from rft_env.rftenv.grading import judge_fallbacks

    stack = jobs.open_stack(args.stack)
    run_settings = resolve_settings(args, stack)
    prompts = load_prompts(run_settings)
    graders = build_graders(stack, run_settings.graders, args.endpoint_url)

    source = None
    if args.compare is not None:
        baseline = Contender("baseline", args.compare[0])
        candidate = Contender("candidate", args.compare[1])
    else:
        baseline = Contender("base", base_model(stack.config, args.base_model))
        trained = args.model
        if trained is None:
            trained, source = find_trained_model(stack, args.endpoint_url)
        candidate = Contender("trained", trained)

    out = args.out or Path("evaluations") / stack.name / datetime.now(UTC).strftime(
        "%Y%m%dT%H%M%SZ"
    )
    try:
        # Before any paid call: an unusable --out must not waste the run.
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"--out {out}: cannot create: {error.strerror or error}", 2) from error
    runtime = jobs.client(
        runtime_connection(stack.connection(args.endpoint_url)), "bedrock-runtime"
    )
    progress = Progress(sys.stderr, max(len(baseline.label), len(candidate.label)))
    ask = asker(runtime, run_settings, progress, clock or SystemClock())
    try:
        # The judge's fallbacks are counted in the report, not logged line by line.
        with judge_fallbacks():
            report = evaluate(prompts, baseline, candidate, graders, ask)
    except ModelGone as error:
        label = baseline.label if error.model_id == baseline.model_id else candidate.label
        option = _model_option(args, label)
        if option is not None and not progress.answered:
            # Not one answer: the id the operator gave names no model.
            why = str(error).partition("stopped answering: ")[2]
            raise CommandError(f"{option} {error.model_id}: no such model ({why})", 2) from error
        raise CommandError(
            f"the {label} model {error}; nothing was scored: check that its deployment or "
            f"throughput still exists (`rftenv status {stack.name}`), then run again"
        ) from error

    limit = run_settings.max_failure_share
    over = [m for m in report["models"] if m["calls"] and m["failedCalls"] / m["calls"] > limit]
    files = {"json": out / REPORT_JSON, "markdown": out / REPORT_MD, "chart": out / CHART_FILE}
    report = {
        "stack": stack.name,
        "candidateSource": source,
        "settings": run_settings.as_json(),
        **report,
        "failureShare": failure_share(report),
        "files": {kind: str(path) for kind, path in files.items()},
        "exitCode": 1 if over else 0,
    }
    questions = {p.id: _question(p) for p in prompts}
    try:
        files["json"].write_text(json_text(report) + "\n", encoding="utf-8")
        files["markdown"].write_text(render_markdown(report, questions), encoding="utf-8")
        write_chart(report, files["chart"])
    except OSError as error:
        raise CommandError(f"cannot write the report to {out}: {error}") from error

    if args.format == "json":
        print(json_text(report))
    else:
        print(render_text(report))
    for m in over:
        print(
            f"rftenv evaluate {stack.name}: {m['failedCalls']} of the {m['label']} model's "
            f"{m['calls']} calls failed ({m['failedCalls'] / m['calls']:.1%}), above "
            f"--max-failure-share {limit:g}",
            file=sys.stderr,
        )
    return report["exitCode"]


def _model_option(args: argparse.Namespace, label: str) -> str | None:
    """The option that gave the model labelled `label`; None when the stack's config or
    inference did."""
    if args.compare is not None:
        return "--compare"
    if label == "base":
        return "--base-model" if args.base_model is not None else None
    return "--model" if args.model is not None else None


def _question(prompt: Prompt) -> str:
    """The prompt's last user turn, for report.md's examples."""
    from rft_env.components.prompts import message_text

    users = [m for m in prompt.messages if isinstance(m, dict) and m.get("role") == "user"]
    return message_text(users[-1].get("content")) if users else ""


def json_text(report: Mapping[str, Any]) -> str:
    return json.dumps(json_ready(report), indent=2, allow_nan=False)


def json_ready(value: Any) -> Any:
    """`value` with NaN (a mean of nothing) as null: JSON has no NaN."""
    from rft_env.components.bedrock.common import json_safe

    return json_safe(value)


def write_chart(report: Mapping[str, Any], path: Path) -> None:
    from rft_env.rftenv import charts

    primary = report["primaryGrader"]
    rewards = {
        model["label"]: [
            reward
            for sample in report["samples"]
            if (reward := sample[model["label"]]["rewards"][primary]) is not None
        ]
        for model in report["models"]
    }
    title = f"{report['stack']}: {primary} reward per prompt ({report['prompts']} prompts)"
    charts.save(charts.evaluation_figure(rewards, title, xlabel=f"{primary} reward"), path)


# ------------------------------------------------------------------------------ rendering


def _figure(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.3f}"


def _mean_cell(stats: Mapping[str, Any]) -> str:
    low, high = stats["interval"]
    if math.isnan(stats["mean"]):
        return "n/a"
    return f"{stats['mean']:.3f} [{_figure(low)}, {_figure(high)}]"


def _seconds(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _p_value(value: float) -> str:
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _model_rows(report: Mapping[str, Any], *, ids: bool) -> list[list[str]]:
    """Calls, tokens and latency per model; with `ids`, the model ids too (the text report
    lists them apart: a table column would leave an ARN no room)."""
    head = ["model", "model id"] if ids else ["model"]
    rows = [[*head, "calls", "failed", "retries", "tokens in/out", "latency p50/p95 s"]]
    for m in report["models"]:
        tokens = m["tokens"]
        latency = m["latencySeconds"]
        rows.append(
            [
                m["label"],
                *([f"`{m['modelId']}`"] if ids else []),
                str(m["calls"]),
                str(m["failedCalls"]),
                str(m["attempts"] - m["calls"]),
                f"{tokens['input']:,}/{tokens['output']:,}",
                f"{_seconds(latency['p50'])}/{_seconds(latency['p95'])}",
            ]
        )
    return rows


def _mean_rows(report: Mapping[str, Any]) -> list[list[str]]:
    models = report["models"]
    rows = [["grader", *(m["label"] for m in models)]]
    for name in report["graders"]:
        rows.append([name, *(_mean_cell(m["graders"][name]) for m in models)])
    return rows


def _paired_rows(report: Mapping[str, Any]) -> list[list[str]]:
    rows = [["grader", "n", "gain", "95% CI", "W/T/L", "p"]]
    for name, pair in report["comparison"]["graders"].items():
        low, high = pair["interval"]
        rows.append(
            [
                name,
                str(pair["n"]),
                _signed(pair["gain"]),
                f"[{_signed(low)}, {_signed(high)}]",
                f"{pair['wins']}/{pair['ties']}/{pair['losses']}",
                _p_value(pair["pValue"]),
            ]
        )
    return rows


def _metric_rows(report: Mapping[str, Any]) -> list[list[str]]:
    models = report["models"]
    rows = [["grader", "metric", *(m["label"] for m in models)]]
    for name in report["graders"]:
        metrics = sorted({metric for m in models for metric in m["graders"][name]["metrics"]})
        for metric in metrics:
            values = [m["graders"][name]["metrics"].get(metric) for m in models]
            rows.append([name, metric, *(_figure(v) for v in values)])
    return rows


def _grading_errors(report: Mapping[str, Any]) -> list[str]:
    return [
        f"{m['label']} {name} {stats['gradingErrors']}"
        for m in report["models"]
        for name, stats in m["graders"].items()
        if stats["gradingErrors"]
    ]


def _failure_summary(report: Mapping[str, Any]) -> str:
    parts = [f"{m['label']} {m['failedCalls']}/{m['calls']}" for m in report["models"]]
    limit = report["settings"]["maxFailureShare"]
    return f"failed calls: {', '.join(parts)} (limit {limit:.0%} per model)"


def _title(report: Mapping[str, Any]) -> str:
    comparison = report["comparison"]
    return f"{comparison['candidate']} vs {comparison['baseline']}"


def render_text(report: Mapping[str, Any]) -> str:
    """The report in 80 columns; long ids shortened in the middle (report.json has them)."""
    graders = report["graders"]
    names = ", ".join([f"{graders[0]} (primary)", *graders[1:]])
    settings = report["settings"]
    lines = display.fill(
        f"stack {report['stack']}: {_title(report)} on {report['prompts']} prompts from "
        f"{shown_path(settings['samplesFile'])}; graders: {names}"
    )
    ids = [(m["label"], m["modelId"]) for m in report["models"]]
    if report.get("candidateSource"):
        ids.append(("", f"({report['candidateSource']})"))
    lines += ["", "models", *display.fields(ids), ""]
    lines += ["  " + line for line in display.table(_model_rows(report, ids=False), width=78)]
    lines += ["", "mean reward [95% CI]"]
    lines += ["  " + line for line in display.table(_mean_rows(report), width=display.WIDTH - 2)]
    comparison = report["comparison"]
    lines += ["", f"paired: {comparison['candidate']} minus {comparison['baseline']}, sign test p"]
    lines += ["  " + line for line in display.table(_paired_rows(report), width=display.WIDTH - 2)]
    metric_rows = _metric_rows(report)
    if len(metric_rows) > 1:
        lines += ["", "metrics (mean per answer)"]
        lines += ["  " + line for line in display.table(metric_rows, width=display.WIDTH - 2)]
    lines += ["", *display.fill(_failure_summary(report))]
    for m in report["models"]:
        for failure in m["failures"]:
            error = " ".join(str(failure["error"]).split())
            lines += display.fill(f"  {m['label']} {failure['id']}: {error}", indent="    ")
    errors = _grading_errors(report)
    if errors:
        lines += display.fill(
            f"ungradable answers (no reward: invalid, grader error, judge fallback): "
            f"{', '.join(errors)}"
        )
    files = report["files"]
    directory = shown_path(str(Path(files["json"]).parent))
    written = ", ".join(Path(path).name for path in files.values())
    lines += ["", *display.fill(f"written to {directory}/: {written}")]
    if display.any_shortened(lines):
        lines += [display.SHORTENED_NOTE]
    return "\n".join(lines)


def shown_path(path: str) -> str:
    """`path` relative to the working directory when it is below it (the project, usually):
    shorter, and the same on every machine."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _md_table(rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> list[str]:
    header, *body = rows
    align = ["--:" if i in numeric else "---" for i in range(len(header))]
    return [
        "| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in [header, align, *body]
    ]


def _fenced(text: str) -> list[str]:
    """`text` in a code fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def _clip(text: str | None, limit: int = ANSWER_CHARS) -> str:
    if text is None:
        return "(no answer)"
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def render_markdown(report: Mapping[str, Any], questions: Mapping[str, str]) -> str:
    """report.md: the text report's tables in Markdown, the first failures, and the prompts
    where the two models' primary rewards differ most."""
    from rft_env.components.evaluation import describe_primary

    settings = report["settings"]
    models = report["models"]
    baseline, candidate = report["comparison"]["baseline"], report["comparison"]["candidate"]
    graders = report["graders"]
    lines = [
        f"# Evaluation of stack {report['stack']}: {_title(report)}",
        "",
        f"{report['prompts']} prompts from `{shown_path(settings['samplesFile'])}` "
        f"({settings['samplesSource']}); graders: **{graders[0]}** (primary)"
        + "".join(f", {name}" for name in graders[1:])
        + f". Up to {settings['concurrency']} calls in flight, "
        f"{settings['requestsPerSecond']:g} requests per second"
        + (f", maxTokens {settings['maxTokens']}" if settings["maxTokens"] else "")
        + ".",
        "",
        f"**Result:** {describe_primary(report)}.",
        "",
        "## Models",
        "",
    ]
    model_rows = _model_rows(report, ids=True)
    if report.get("candidateSource"):
        lines += [f"The {candidate} model is the stack's {report['candidateSource']}.", ""]
    lines += [*_md_table(model_rows, numeric=(2, 3, 4, 5, 6)), ""]
    lines += ["## Mean reward (95% bootstrap interval)", ""]
    lines += [*_md_table(_mean_rows(report)), ""]
    lines += [
        f"## Paired: {candidate} minus {baseline}",
        "",
        f"Per prompt both models answered. W/T/L: {candidate}'s wins, ties and losses; p: "
        f"{report['comparison']['graders'][graders[0]]['test']}.",
        "",
        *_md_table(_paired_rows(report), numeric=(1, 2, 5)),
        "",
    ]
    metric_rows = _metric_rows(report)
    if len(metric_rows) > 1:
        lines += ["## Metrics (mean per answer)", "", *_md_table(metric_rows, numeric=(2, 3)), ""]
    summary = _failure_summary(report)
    lines += ["## Failures", "", summary[:1].upper() + summary[1:] + ".", ""]
    for m in models:
        for failure in m["failures"]:
            lines.append(f"- {m['label']} `{failure['id']}`: {_md_cell(str(failure['error']))}")
    if any(m["failures"] for m in models):
        lines.append("")
    errors = _grading_errors(report)
    if errors:
        lines += [
            "Ungradable answers (no reward: invalid, grader error, judge fallback): "
            + ", ".join(errors)
            + ".",
            "",
        ]
    lines += _disagreements(report, questions)
    return "\n".join(lines).rstrip() + "\n"


def _disagreements(report: Mapping[str, Any], questions: Mapping[str, str]) -> list[str]:
    """The prompts whose primary rewards differ most either way, with both answers."""
    primary = report["primaryGrader"]
    baseline, candidate = report["comparison"]["baseline"], report["comparison"]["candidate"]
    gains, losses = [], []
    for order, sample in enumerate(report.get("samples") or []):
        a, b = sample[baseline]["rewards"][primary], sample[candidate]["rewards"][primary]
        if a is not None and b is not None and abs(b - a) > 1e-9:
            (gains if b > a else losses).append((-abs(b - a), order, sample, a, b))
    shown = sorted(gains)[:DISAGREEMENTS] + sorted(losses)[:DISAGREEMENTS]
    if not shown:
        return []
    lines = [f"## Where the models disagree most ({primary})", ""]
    for _, _, sample, a, b in shown:
        lines += [
            f"### `{sample['id']}`: {baseline} {a:.3f}, {candidate} {b:.3f}",
            "",
            *(f"> {line}" for line in _clip(questions.get(sample["id"], "")).splitlines()),
            "",
        ]
        for label in (baseline, candidate):
            lines += [f"{label}:", "", *_fenced(_clip(sample[label]["answer"])), ""]
    return lines
