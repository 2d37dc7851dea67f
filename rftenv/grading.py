"""`rftenv grade`: run a grader locally on samples and diagnose its rewards.

A reward function that gives every candidate answer of a prompt the same score teaches
GRPO nothing about that prompt; one that crashes or rejects samples wastes the batch.
This shows both before a paid job starts: the reward distribution per metric, the share
of prompts without learning signal, errors, and timing.

Samples come in either shape:
- the Lambda event: a JSON array of `{id, messages, metadata}` (the last message is the
  candidate answer);
- training records as JSONL, each with `candidates` (a list of answer strings): every
  candidate becomes one sample, so GRPO's several answers per prompt can be simulated.

A sample the LLM judge could not score (no region, no credentials, throttled to the end, a
reply that is no verdict) gets the judge's `fallbackScore`, a made-up reward: locally that is
an error, counted, shown with its reason and failing the command (`exit_code`). With a stack,
the judge calls Bedrock the way the stack's other commands do (`connect_judges`): in the
stack's region, through its deployment role.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rft_env.components.files import NotTextError, read_text
from rft_env.components.prompts import CANDIDATE_KEYS
from rft_env.graders.contract import GRADER_ERROR_METRIC, INVALID_SAMPLE_METRIC, Grader, grade_batch
from rft_env.graders.llm_judge import METRIC_FALLBACK, fell_back
from rft_env.rftenv import display

if TYPE_CHECKING:
    from rft_env.components.bedrock.session import Connection
    from rft_env.components.config import StackConfig
    from rft_env.graders.llm_judge import LlmJudgeGrader

HISTOGRAM_BINS = 10
# The judge's metric for a made-up reward; a composite reports it as `<part>.judge_fallback`.
JUDGE_FALLBACK_METRIC = METRIC_FALLBACK
# Per-sample rows the text report shows; --format json lists every sample.
SCORE_ROWS = 20


class SamplesError(ValueError):
    """The samples file cannot be read; the message names the line."""


@dataclass(frozen=True)
class Samples:
    event: list[Any]
    # For each sample, the prompt it answers (a canonical key), to group candidates.
    prompts: list[str]


def _prompt_key(messages: object) -> str:
    prompt = messages[:-1] if isinstance(messages, list) and messages else messages
    return json.dumps(prompt, sort_keys=True, default=str)


def load_samples(path: Path) -> Samples:
    """The samples in `path`; SamplesError (naming the file and line) if unusable, OSError if
    unreadable or not a regular file."""
    try:
        text = read_text(path)
    except NotTextError as error:
        raise SamplesError(f"{path}: {error}") from None
    try:
        return _parse_samples(path, text)
    except RecursionError:
        # json and the prompt keys recurse once per level of nesting.
        raise SamplesError(f"{path}: nested too deeply to read") from None


def _parse_samples(path: Path, text: str) -> Samples:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, list):  # the Lambda event
        return Samples(
            document,
            [_prompt_key(s.get("messages")) if isinstance(s, dict) else "" for s in document],
        )
    if (
        isinstance(document, dict)
        and "messages" in document
        and not any(key in document for key in CANDIDATE_KEYS)
    ):
        return Samples([document], [_prompt_key(document.get("messages"))])
    event: list[Any] = []
    prompts: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SamplesError(f"{path}: line {lineno}: invalid JSON: {error.msg}") from error
        if not isinstance(record, dict):
            raise SamplesError(f"{path}: line {lineno}: expected a JSON object")
        candidates = next((record[k] for k in CANDIDATE_KEYS if k in record), None)
        if not isinstance(candidates, list) or not candidates:
            raise SamplesError(
                f"{path}: line {lineno}: a training record needs `candidates`, a non-empty "
                "list of answers to grade"
            )
        messages = record.get("messages")
        metadata = {k: v for k, v in record.items() if k not in ("messages", *CANDIDATE_KEYS)}
        base_id = str(record.get("id", lineno))
        for index, candidate in enumerate(candidates):
            answer = {"role": "assistant", "content": candidate}
            event.append(
                {
                    "id": f"{base_id}#{index}",
                    "messages": [*messages, answer] if isinstance(messages, list) else messages,
                    "metadata": metadata,
                }
            )
            prompts.append(_prompt_key([*messages, answer]) if isinstance(messages, list) else "")
    return Samples(event, prompts)


def _distribution(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    histogram = [0] * HISTOGRAM_BINS
    for value in values:
        histogram[min(HISTOGRAM_BINS - 1, max(0, int(value * HISTOGRAM_BINS)))] += 1
    return {
        "count": len(values),
        "mean": statistics.fmean(values),
        "stdev": statistics.pstdev(values),
        "min": min(values),
        "p50": statistics.median(values),
        "max": max(values),
        "histogram": histogram,
    }


# ---------------------------------------------------------------------------- judges


def judges(grader: Grader) -> list[LlmJudgeGrader]:
    """Every LLM judge in `grader`: itself, or a composite's parts at any depth."""
    from rft_env.graders.composite import nested_graders
    from rft_env.graders.llm_judge import LlmJudgeGrader

    return [inner for inner in nested_graders(grader) if isinstance(inner, LlmJudgeGrader)]


def judge_connection(stack: Connection, judge: LlmJudgeGrader) -> Connection:
    """How `rftenv grade` reaches a stack's judge model: through the stack's deployment role
    (with its external id), in the judge's `region` or else the stack's, at the endpoint
    override (`--endpoint-url`, else the judge's `endpointUrl`). One attempt per call, as in
    the Lambda: the judge retries and backs off itself."""
    return stack.for_judge(judge.region, judge.endpoint_url)


def connect_judges(grader: Grader, config: StackConfig, endpoint_url: str | None) -> None:
    """Give every judge in `grader` a Bedrock Runtime client with the stack's connection
    (the role is assumed here, so a refusal fails the command before any sample is graded;
    it raises CommandError)."""
    from rft_env.components import naming
    from rft_env.rftenv import jobs

    stack = naming.stack_connection(config, endpoint_url)
    for judge in judges(grader):
        judge.use_client(jobs.client(judge_connection(stack, judge), "bedrock-runtime"))


class _FallbackLog(logging.Handler):
    """Collects the judge's fallback records: (sample id, reason)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[tuple[object, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        reason = getattr(record, "fallback_reason", None)
        if isinstance(reason, str):
            self.found.append((getattr(record, "sample_id", None), reason))


@contextmanager
def judge_fallbacks() -> Iterator[_FallbackLog]:
    """The judge's fallbacks while grading, reported with the results rather than as one
    warning line per sample on stderr."""
    from rft_env.graders import llm_judge

    logger = logging.getLogger(llm_judge.__name__)
    handler = _FallbackLog()
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


# ---------------------------------------------------------------------------- grading


def run(grader: Grader, samples: Samples) -> dict[str, Any]:
    """Grade every sample and summarise: the numbers behind the printed report."""
    start = time.perf_counter()
    with judge_fallbacks() as fallback_log:
        results = grade_batch(samples.event, grader)
    elapsed = time.perf_counter() - start
    reasons: dict[str, list[str]] = defaultdict(list)
    for sample_id, reason in fallback_log.found:
        reasons[json.dumps(sample_id, default=str)].append(reason)

    metrics: dict[tuple[str, str], list[float]] = defaultdict(list)
    for result in results:
        for metric in result["metrics_list"]:
            metrics[(metric["name"], metric["type"])].append(float(metric["value"]))
    errors = Counter(
        metric["name"]
        for result in results
        for metric in result["metrics_list"]
        if metric["name"] in (INVALID_SAMPLE_METRIC, GRADER_ERROR_METRIC)
    )
    scores: list[dict[str, Any]] = []
    for result in results:
        score: dict[str, Any] = {
            "id": result["id"],
            "reward": result["aggregate_reward_score"],
            "metrics": {m["name"]: m["value"] for m in result["metrics_list"]},
        }
        if "error" in result:
            score["error"] = result["error"]
        elif fell_back(result):
            why = reasons.get(json.dumps(result["id"], default=str)) or ["no reason logged"]
            score["error"] = f"{JUDGE_FALLBACK_METRIC}: {'; '.join(dict.fromkeys(why))}"
            errors[JUDGE_FALLBACK_METRIC] += 1
        scores.append(score)
    examples = [{"id": s["id"], "error": s["error"]} for s in scores if "error" in s][:5]

    by_prompt: dict[str, list[float]] = defaultdict(list)
    for prompt, result in zip(samples.prompts, results, strict=True):
        by_prompt[prompt].append(result["aggregate_reward_score"])
    groups = [scores for scores in by_prompt.values() if len(scores) > 1]
    flat = [scores for scores in groups if max(scores) - min(scores) < 1e-9]
    return {
        "samples": len(results),
        "prompts": len(by_prompt),
        "seconds": elapsed,
        "reward": _distribution([r["aggregate_reward_score"] for r in results]),
        "metrics": {
            f"{name} ({kind})": _distribution(values)
            for (name, kind), values in sorted(metrics.items())
        },
        "promptsWithSeveralCandidates": len(groups),
        "promptsWithoutSignal": len(flat),
        "errors": dict(errors),
        "errorExamples": examples,
        "graderRaised": errors.get(GRADER_ERROR_METRIC, 0) > 0,
        "judgeFallbacks": errors.get(JUDGE_FALLBACK_METRIC, 0),
        "scores": scores,
    }


def exit_code(summary: dict[str, Any]) -> int:
    """1 when the grader raised or the judge made up a reward (a fallback); else 0. A
    rejected (invalid) sample is data, not a grader failure."""
    return 1 if summary["graderRaised"] or summary["judgeFallbacks"] else 0


def _cells(name: str, stats: dict[str, Any]) -> tuple[str, ...]:
    if not stats["count"]:
        return (name, "0", "-", "-", "-", "-", "-", "no values")
    bars = "".join(" ▁▂▃▄▅▆▇█"[min(8, round(8 * c / stats["count"]))] for c in stats["histogram"])
    figures = ("mean", "stdev", "min", "p50", "max")
    return (name, str(stats["count"]), *(f"{stats[key]:.3f}" for key in figures), f"|{bars}|")


def _distribution_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One row per metric, numbers right-aligned; a metric name too long for 80 columns is
    shortened in the middle (--format json has it whole)."""
    table = [("metric", "n", "mean", "sd", "min", "p50", "max", "histogram")]
    table += [_cells(name, stats) for name, stats in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    room = display.WIDTH - 2 - sum(widths[1:]) - 2 * (len(widths) - 1)
    widths[0] = max(display.MIN_COLUMN, min(widths[0], room))
    return [
        "  "
        + "  ".join(
            [
                display.shorten(row[0], widths[0]).ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1], strict=True)),
                row[-1],
            ]
        ).rstrip()
        for row in table
    ]


def _score_lines(scores: list[dict[str, Any]]) -> list[str]:
    """The first SCORE_ROWS samples' rewards, with the error or fallback of each."""
    shown = scores[:SCORE_ROWS]
    heading = "per-sample rewards"
    if len(scores) > len(shown):
        heading += f" (first {len(shown)} of {len(scores)}; --format json lists every sample)"
    errors = any("error" in s for s in shown)
    rows = [("sample", "reward", "error")[: 3 if errors else 2]]
    rows += [
        (str(s["id"]), f"{s['reward']:.3f}", " ".join(str(s.get("error", "")).split()))[
            : 3 if errors else 2
        ]
        for s in shown
    ]
    table = display.table(rows, width=display.WIDTH - 2, keep=(1,))
    return [f"{heading}:", *(f"  {line}" for line in table)] if shown else []


def render(label: str, summary: dict[str, Any]) -> str:
    seconds, count = summary["seconds"], max(1, summary["samples"])
    lines = [
        *display.fill(
            f"{label}: {summary['samples']} samples from {summary['prompts']} prompts in "
            f"{seconds:.3f} s ({1000 * seconds / count:.2f} ms each)"
        ),
        "reward distribution (histogram over [0, 1] in tenths):",
        *_distribution_table(
            [("aggregate_reward_score", summary["reward"]), *summary["metrics"].items()]
        ),
    ]
    several = summary["promptsWithSeveralCandidates"]
    if several:
        flat = summary["promptsWithoutSignal"]
        lines += display.fill(
            f"prompts without learning signal (every candidate scored the same): {flat} of "
            f"{several} ({100 * flat / several:.0f}%)"
        )
    else:
        lines.append("prompts without learning signal: n/a (no prompt has several candidates)")
    lines += _score_lines(summary.get("scores", []))
    lines += error_lines(summary["errors"], summary["errorExamples"], "errors")
    return "\n".join(lines)


def error_lines(
    errors: dict[str, int], examples: list[dict[str, Any]], heading: str, indent: str = "  "
) -> list[str]:
    """The report's errors: counts by kind under `heading`, then each example's sample id
    and error; or "errors: none"."""
    if not errors:
        return ["errors: none"]
    counts = ", ".join(f"{name} {n}" for name, n in sorted(errors.items()))
    return display.fill(f"{heading}: {counts}") + [
        line for e in examples for line in display.fill(f"  {e['id']}: {e['error']}", indent=indent)
    ]
