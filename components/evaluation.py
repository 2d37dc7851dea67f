"""Evaluating a trained model against a baseline on held-out prompts, and the promotion gate.

What `rftenv evaluate` reports and what the `RftEvaluation` provider stores and decides on.
Each prompt goes to both models (`converse_all`); each answer is graded locally by the same
code the grader Lambda runs (`grade_batch`), with the job's grader (the primary) and any
extra graders. Then, per model and grader: the mean reward with a 95% percentile-bootstrap
interval, per-metric means, and failures; per grader, paired over the prompts both models
answered: the gain (candidate minus baseline), its bootstrap interval, win / tie / loss, and
an exact two-sided sign test. Bootstrap resampling is seeded, so the same replies give the
same report, in a test or in state.

A failed call (the model refused or stayed throttled) has no reward: it is counted, not
scored as 0. A sample the grader could not grade (invalid, the grader raised, the judge made
up a reward) has none either. Means and pairs use the rest; `failure_share` is what the gate
and the CLI's exit code check first.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rft_env.components.bedrock.converse import Reply
from rft_env.components.prompts import Prompt
from rft_env.graders.contract import GRADER_ERROR_METRIC, INVALID_SAMPLE_METRIC, Grader, grade_batch
from rft_env.graders.llm_judge import METRIC_FALLBACK, fell_back

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0
# Rewards closer than this are a tie.
TIE = 1e-9
# Failure examples a report keeps per model.
FAILURE_EXAMPLES = 5
SIGN_TEST = "exact two-sided sign test on wins and losses (ties left out)"


@dataclass(frozen=True)
class Contender:
    """A model in the comparison: how the report names it, and the id Converse takes."""

    label: str
    model_id: str


# ------------------------------------------------------------------------- statistics


def bootstrap_interval(
    values: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[float, float]:
    """The percentile-bootstrap interval of the mean of `values` (both ends the mean for a
    single value; NaN for none)."""
    if not values:
        return (math.nan, math.nan)
    if len(values) == 1:
        return (values[0], values[0])
    rng = random.Random(seed)
    n = len(values)
    means = sorted(math.fsum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    return (_quantile(means, tail), _quantile(means, 1 - tail))


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks of sorted values."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of `values`; NaN for none."""
    return _quantile(sorted(values), q) if values else math.nan


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of `wins` against `losses` under no difference."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = math.fsum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


# ------------------------------------------------------------------------- evaluating


def grader_samples(prompts: Sequence[Prompt], replies: Sequence[Reply]) -> list[dict[str, Any]]:
    """The Lambda-event samples of the answered prompts: messages plus the answer, and the
    prompt's metadata with its reference, as Bedrock sends them to the grader."""
    return [
        {
            "id": prompt.id,
            "messages": [*prompt.messages, {"role": "assistant", "content": reply.text}],
            "metadata": {**prompt.metadata, "reference_answer": prompt.reference},
        }
        for prompt, reply in zip(prompts, replies, strict=True)
        if reply.ok
    ]


def _grade_error(result: dict[str, Any]) -> str | None:
    """Why a graded sample has no usable reward, or None."""
    if "error" in result:
        return str(result["error"])
    for metric in result["metrics_list"]:
        if metric["name"] in (INVALID_SAMPLE_METRIC, GRADER_ERROR_METRIC) and metric["value"]:
            return str(metric["name"])
    if fell_back(result):
        return f"{METRIC_FALLBACK}: the judge made up this reward"
    return None


def _grades(
    prompts: Sequence[Prompt], replies: Sequence[Reply], grader: Grader
) -> list[dict[str, Any] | None]:
    """Per prompt, in order: None when the model gave no answer, else {"reward": float or
    None (not gradable), "metrics": {...}, "error": str or None}."""
    samples = grader_samples(prompts, replies)
    results = iter(grade_batch(samples, grader))
    graded: list[dict[str, Any] | None] = []
    for reply in replies:
        if not reply.ok:
            graded.append(None)
            continue
        result = next(results)
        error = _grade_error(result)
        graded.append(
            {
                "reward": None if error else float(result["aggregate_reward_score"]),
                "metrics": {m["name"]: float(m["value"]) for m in result["metrics_list"]},
                "error": error,
            }
        )
    return graded


def _rewards(graded: Sequence[dict[str, Any] | None]) -> list[float | None]:
    return [g["reward"] if g is not None else None for g in graded]


def _model_report(
    contender: Contender,
    prompts: Sequence[Prompt],
    replies: Sequence[Reply],
    grades: Mapping[str, Sequence[dict[str, Any] | None]],
) -> dict[str, Any]:
    failed = [(p.id, r.error) for p, r in zip(prompts, replies, strict=True) if not r.ok]
    answered = [r for r in replies if r.ok]
    per_grader: dict[str, Any] = {}
    for name, graded in grades.items():
        usable = [g for g in graded if g is not None and g["reward"] is not None]
        rewards = [g["reward"] for g in usable]
        metrics: dict[str, list[float]] = defaultdict(list)
        for g in usable:
            for metric, value in g["metrics"].items():
                metrics[metric].append(value)
        low, high = bootstrap_interval(rewards)
        per_grader[name] = {
            "n": len(rewards),
            "mean": statistics.fmean(rewards) if rewards else math.nan,
            "interval": [low, high],
            "gradingErrors": sum(g is not None and g["error"] is not None for g in graded),
            "metrics": {m: statistics.fmean(v) for m, v in sorted(metrics.items())},
        }
    latencies = [r.latency_seconds for r in answered]
    return {
        "label": contender.label,
        "modelId": contender.model_id,
        "calls": len(replies),
        "failedCalls": len(failed),
        "failures": [{"id": pid, "error": error} for pid, error in failed[:FAILURE_EXAMPLES]],
        "attempts": sum(r.attempts for r in replies),
        "tokens": {
            "input": sum(r.input_tokens for r in answered),
            "output": sum(r.output_tokens for r in answered),
        },
        "latencySeconds": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)},
        "graders": per_grader,
    }


def _paired(
    baseline: Sequence[dict[str, Any] | None], candidate: Sequence[dict[str, Any] | None]
) -> dict[str, Any]:
    pairs = [
        (a, b)
        for a, b in zip(_rewards(baseline), _rewards(candidate), strict=True)
        if a is not None and b is not None
    ]
    differences = [b - a for a, b in pairs]
    wins = sum(d > TIE for d in differences)
    losses = sum(d < -TIE for d in differences)
    low, high = bootstrap_interval(differences)
    return {
        "n": len(pairs),
        "gain": statistics.fmean(differences) if differences else math.nan,
        "interval": [low, high],
        "wins": wins,
        "ties": len(pairs) - wins - losses,
        "losses": losses,
        "pValue": sign_test(wins, losses),
        "test": SIGN_TEST,
    }


def evaluate(
    prompts: Sequence[Prompt],
    baseline: Contender,
    candidate: Contender,
    graders: Mapping[str, Grader],
    ask: Callable[[Contender, Sequence[Prompt]], list[Reply]],
    *,
    keep_answers: bool = True,
) -> dict[str, Any]:
    """Ask both models every prompt (`ask` returns one Reply per prompt, in order), grade
    the answers with every grader (the first is the primary) and compare. The report is
    JSON-ready; `keep_answers` adds every sample's answers and rewards."""
    if not graders:
        raise ValueError("evaluate needs at least one grader")
    replies = {c.label: ask(c, prompts) for c in (baseline, candidate)}
    grades = {
        c.label: {name: _grades(prompts, replies[c.label], g) for name, g in graders.items()}
        for c in (baseline, candidate)
    }
    report: dict[str, Any] = {
        "prompts": len(prompts),
        "confidence": CONFIDENCE,
        "primaryGrader": next(iter(graders)),
        "graders": list(graders),
        "models": [
            _model_report(c, prompts, replies[c.label], grades[c.label])
            for c in (baseline, candidate)
        ],
        "comparison": {
            "baseline": baseline.label,
            "candidate": candidate.label,
            "graders": {
                name: _paired(grades[baseline.label][name], grades[candidate.label][name])
                for name in graders
            },
        },
    }
    if keep_answers:
        rewards = {
            c.label: {name: _rewards(grades[c.label][name]) for name in graders}
            for c in (baseline, candidate)
        }
        report["samples"] = [
            {
                "id": prompt.id,
                **{
                    c.label: {
                        "answer": replies[c.label][index].text,
                        "error": replies[c.label][index].error,
                        "rewards": {name: rewards[c.label][name][index] for name in graders},
                    }
                    for c in (baseline, candidate)
                },
            }
            for index, prompt in enumerate(prompts)
        ]
    return report


def failure_share(report: Mapping[str, Any]) -> float:
    """The largest share, of either model's prompts, without a usable reward: failed calls,
    plus the answers its worst grader could not grade (a judge that made its reward up
    scores nothing, and the comparison would rest on the rest)."""

    def unusable(model: Mapping[str, Any]) -> int:
        graders = model["graders"].values()
        return model["failedCalls"] + max((g["gradingErrors"] for g in graders), default=0)

    return max((unusable(m) / m["calls"] for m in report["models"] if m["calls"]), default=0.0)


# ------------------------------------------------------------------------- the gate


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str


def _figure(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _signed(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.3f}"


def _interval(values: Sequence[float]) -> str:
    low, high = values
    return f"95% CI {_signed(low)} to {_signed(high)}"


def describe_primary(report: Mapping[str, Any]) -> str:
    """The job's grader's result in one clause, with the numbers."""
    primary = report["primaryGrader"]
    comparison = report["comparison"]
    pair = comparison["graders"][primary]
    by_label = {m["label"]: m["graders"][primary] for m in report["models"]}
    base, trained = by_label[comparison["baseline"]], by_label[comparison["candidate"]]
    return (
        f"on {primary}, {comparison['candidate']} {_figure(trained['mean'])} vs "
        f"{comparison['baseline']} {_figure(base['mean'])}: gain {_signed(pair['gain'])} "
        f"({_interval(pair['interval'])}; {pair['wins']} wins, {pair['ties']} ties, "
        f"{pair['losses']} losses, sign test p={pair['pValue']:.3g}; {pair['n']} prompts)"
    )


def decide(
    report: Mapping[str, Any], *, min_reward_gain: float, guard_graders: Sequence[str] = ()
) -> Decision:
    """Promote when the primary gain meets `min_reward_gain` and no guard grader got worse
    beyond its interval (the whole paired interval below 0). The reason has the numbers."""
    primary = describe_primary(report)
    pairs = report["comparison"]["graders"]
    gain = pairs[report["primaryGrader"]]["gain"]
    if math.isnan(gain):
        name = report["primaryGrader"]
        return Decision(False, f"{name} has no prompt both models' answers were graded on")
    if gain < min_reward_gain:
        return Decision(False, f"gain below minRewardGain {min_reward_gain:g}: {primary}")

    def guard(name: str) -> str:
        pair = pairs[name]
        return f"{name} gain {_signed(pair['gain'])} ({_interval(pair['interval'])})"

    # A guard without one usable pair shows nothing: it cannot vouch for the model.
    unscored = [
        f"{name} has no prompt both models' answers were graded on"
        for name in guard_graders
        if not pairs[name]["n"] or math.isnan(pairs[name]["interval"][1])
    ]
    if unscored:
        return Decision(False, "; ".join(unscored) + f"; {primary}")
    worse = [f"{guard(name)}: worse" for name in guard_graders if pairs[name]["interval"][1] < 0]
    if worse:
        return Decision(False, "; ".join(worse) + f"; {primary}")
    guards = [f"{guard(name)}: not worse" for name in guard_graders]
    return Decision(
        True, f"gain meets minRewardGain {min_reward_gain:g}: " + "; ".join([primary, *guards])
    )
