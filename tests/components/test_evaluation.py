"""components.evaluation: the statistics, the report and the promotion decision (pure: the
models are stood in for by functions that return replies)."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rft_env.components.bedrock.converse import Reply
from rft_env.components.evaluation import (
    Contender,
    bootstrap_interval,
    decide,
    evaluate,
    failure_share,
    percentile,
    sign_test,
)
from rft_env.components.prompts import Prompt, load_prompts
from rft_env.graders.registry import build_grader

REPO = Path(__file__).resolve().parents[2]
VALIDATION = REPO / "stacks" / "data" / "arithmetic-validation.jsonl"
ARITHMETIC = {"type": "exact_match", "operation": "eq", "answerFrom": "last_line"}
BASE = Contender("base", "us.amazon.nova-2-lite-v1:0")
TRAINED = Contender(
    "trained", "arn:aws:bedrock:us-east-1:111122223333:custom-model-deployment/abcdefghijkl"
)


# ----------------------------------------------------------------------------- statistics


def test_the_sign_test_matches_the_binomial_by_hand() -> None:
    # 9 wins, 1 loss: P(X <= 1 | n=10, p=1/2) = 11/1024, doubled.
    assert sign_test(9, 1) == pytest.approx(22 / 1024)
    assert sign_test(1, 9) == sign_test(9, 1)
    assert sign_test(5, 5) == 1.0
    assert sign_test(0, 0) == 1.0
    assert sign_test(20, 0) == pytest.approx(2 / 2**20)


@given(st.integers(0, 60), st.integers(0, 60))
def test_the_sign_test_is_a_probability_and_symmetric(wins: int, losses: int) -> None:
    p = sign_test(wins, losses)
    assert 0 < p <= 1
    assert p == sign_test(losses, wins)


@given(st.lists(st.floats(0, 1), min_size=2, max_size=60))
def test_the_bootstrap_interval_is_ordered_within_the_values_and_seeded(
    values: list[float],
) -> None:
    low, high = bootstrap_interval(values, resamples=200)
    assert min(values) - 1e-12 <= low <= high <= max(values) + 1e-12
    assert (low, high) == bootstrap_interval(values, resamples=200)


def test_the_bootstrap_interval_has_the_width_theory_gives() -> None:
    # 200 fair coin flips: the mean's standard error is 0.5 / sqrt(200), so a 95% interval is
    # about 2 * 1.96 * 0.0354 = 0.139 wide, around the sample mean.
    rng = random.Random(7)
    flips = [float(rng.random() < 0.5) for _ in range(200)]
    low, high = bootstrap_interval(flips)
    assert high - low == pytest.approx(0.139, abs=0.02)
    assert low < statistics.fmean(flips) < high


def test_degenerate_samples_have_degenerate_intervals() -> None:
    assert bootstrap_interval([0.25]) == (0.25, 0.25)
    assert bootstrap_interval([0.5] * 10) == (0.5, 0.5)
    assert all(math.isnan(end) for end in bootstrap_interval([]))


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 1))
def test_percentile_is_the_inclusive_quantile(values: list[float], q: float) -> None:
    ordered = sorted(values)
    expected = ordered[0] if len(values) == 1 else None
    got = percentile(values, q)
    if expected is not None:
        assert got == expected
    else:
        # statistics.quantiles(method="inclusive") cuts at i/n; check the same rule at q.
        position = q * (len(ordered) - 1)
        low = ordered[math.floor(position)]
        high = ordered[min(math.floor(position) + 1, len(ordered) - 1)]
        assert min(low, high) - 1e-6 <= got <= max(low, high) + 1e-6
    if len(values) > 1:
        cuts = statistics.quantiles(values, n=4, method="inclusive")
        assert percentile(values, 0.5) == pytest.approx(cuts[1], rel=1e-9, abs=1e-9)


# ----------------------------------------------------------------------------- the report


def prompts(count: int = 40) -> list[Prompt]:
    return load_prompts(VALIDATION, count)


def answering(right: Sequence[bool]):
    """An `ask` whose model answers prompt i right when right[i], else wrong by one."""

    def ask(contender: Contender, asked: Sequence[Prompt]) -> list[Reply]:
        return [
            Reply(
                str(p.reference) if ok else str(int(p.reference) + 1),
                input_tokens=10,
                output_tokens=2,
                latency_seconds=0.1 * (i + 1),
            )
            for i, (p, ok) in enumerate(zip(asked, right, strict=True))
        ]

    return ask


def two_models(base_right: Sequence[bool], trained_right: Sequence[bool]):
    base, trained = answering(base_right), answering(trained_right)

    def ask(contender: Contender, asked: Sequence[Prompt]) -> list[Reply]:
        return (base if contender is BASE else trained)(contender, asked)

    return ask


def test_a_better_model_wins_with_the_numbers_to_show_it() -> None:
    asked = prompts(40)
    base_right = [i % 2 == 0 for i in range(40)]  # 20 of 40
    report = evaluate(
        asked,
        BASE,
        TRAINED,
        {"arithmetic": build_grader(ARITHMETIC)},
        two_models(base_right, [True] * 40),
    )
    base, trained = report["models"]
    assert (base["label"], trained["label"]) == ("base", "trained")
    assert base["graders"]["arithmetic"]["mean"] == 0.5
    assert trained["graders"]["arithmetic"]["mean"] == 1.0
    pair = report["comparison"]["graders"]["arithmetic"]
    assert (pair["wins"], pair["ties"], pair["losses"], pair["n"]) == (20, 20, 0, 40)
    assert pair["gain"] == 0.5
    assert pair["pValue"] == pytest.approx(2 / 2**20)
    low, high = pair["interval"]
    assert 0.3 < low < 0.5 < high <= 0.7
    assert trained["tokens"] == {"input": 400, "output": 80}
    assert trained["latencySeconds"]["p50"] == pytest.approx(2.05)
    assert trained["latencySeconds"]["p95"] == pytest.approx(3.805)
    assert report["samples"][1]["base"]["rewards"] == {"arithmetic": 0.0}
    assert report["samples"][1]["trained"]["rewards"] == {"arithmetic": 1.0}


def test_failed_calls_are_counted_not_scored_and_not_paired() -> None:
    asked = prompts(10)

    def ask(contender: Contender, asked: Sequence[Prompt]) -> list[Reply]:
        replies = answering([True] * 10)(contender, asked)
        if contender is TRAINED:
            replies[3] = Reply(None, attempts=8, error="ThrottlingException: slow down")
        return replies

    report = evaluate(asked, BASE, TRAINED, {"arithmetic": build_grader(ARITHMETIC)}, ask)
    trained = report["models"][1]
    assert trained["failedCalls"] == 1
    assert trained["failures"] == [{"id": asked[3].id, "error": "ThrottlingException: slow down"}]
    assert trained["graders"]["arithmetic"] | {"metrics": None} == {
        "n": 9,
        "mean": 1.0,
        "interval": [1.0, 1.0],
        "gradingErrors": 0,
        "metrics": None,
    }
    assert report["comparison"]["graders"]["arithmetic"]["n"] == 9
    assert report["samples"][3]["trained"]["rewards"] == {"arithmetic": None}
    assert failure_share(report) == pytest.approx(0.1)


def test_a_sample_the_grader_cannot_grade_has_no_reward() -> None:
    asked = [
        Prompt("ok", [{"role": "user", "content": "1+1?"}], "2", {}),
        # A reference the exact_match grader refuses: an empty one fails its sample.
        Prompt("empty", [{"role": "user", "content": "nothing?"}], "", {}),
    ]
    report = evaluate(
        asked,
        BASE,
        TRAINED,
        {"arithmetic": build_grader(ARITHMETIC)},
        lambda contender, asked: [Reply("2"), Reply("x")],
    )
    for model in report["models"]:
        assert model["graders"]["arithmetic"]["n"] == 1
        assert model["graders"]["arithmetic"]["gradingErrors"] == 1


def test_the_report_needs_a_grader() -> None:
    with pytest.raises(ValueError, match="at least one grader"):
        evaluate(prompts(2), BASE, TRAINED, {}, answering([True, True]))


# ----------------------------------------------------------------------------- the decision


def report_with(base_right: Sequence[bool], trained_right: Sequence[bool], guard=None):
    asked = prompts(len(base_right))
    graders = {"arithmetic": build_grader(ARITHMETIC)}
    if guard is not None:
        graders["contains"] = build_grader(
            {"type": "exact_match", "operation": "contains", "ignorePunctuation": True}
        )
    return evaluate(asked, BASE, TRAINED, graders, two_models(base_right, trained_right))


def test_a_gain_that_meets_the_bar_is_promoted_with_its_numbers() -> None:
    report = report_with([i % 2 == 0 for i in range(40)], [True] * 40)
    decision = decide(report, min_reward_gain=0.05)
    assert decision.promoted
    assert "gain +0.500" in decision.reason
    assert "trained 1.000 vs base 0.500" in decision.reason
    assert "20 wins, 20 ties, 0 losses" in decision.reason
    assert "40 prompts" in decision.reason


def test_a_gain_below_the_bar_is_not_promoted() -> None:
    right = [i % 2 == 0 for i in range(40)]
    report = report_with(right, right)
    decision = decide(report, min_reward_gain=0.05)
    assert not decision.promoted
    assert decision.reason.startswith("gain below minRewardGain 0.05")
    assert "gain +0.000" in decision.reason
    # The bar is inclusive: a zero gain meets a zero bar.
    assert decide(report, min_reward_gain=0.0).promoted


def test_a_guard_grader_that_got_worse_blocks_promotion() -> None:
    report = report_with([i % 2 == 0 for i in range(40)], [True] * 40, guard=True)
    # Make the guard significantly worse and keep the primary's gain.
    report["comparison"]["graders"]["contains"] |= {"gain": -0.2, "interval": [-0.3, -0.1]}
    decision = decide(report, min_reward_gain=0.05, guard_graders=["contains"])
    assert not decision.promoted
    assert "contains gain -0.200 (95% CI -0.300 to -0.100): worse" in decision.reason
    # Within its interval of no change, it does not block.
    report["comparison"]["graders"]["contains"] |= {"gain": -0.05, "interval": [-0.15, 0.05]}
    decision = decide(report, min_reward_gain=0.05, guard_graders=["contains"])
    assert decision.promoted
    assert "contains gain -0.050 (95% CI -0.150 to +0.050): not worse" in decision.reason


def test_no_pairs_means_no_promotion() -> None:
    report = report_with([True] * 4, [True] * 4)
    report["comparison"]["graders"]["arithmetic"] |= {"gain": math.nan, "n": 0}
    decision = decide(report, min_reward_gain=-1.0)
    assert not decision.promoted
    assert decision.reason == "arithmetic has no prompt both models' answers were graded on"


def test_a_guard_without_scores_cannot_vouch_for_the_model() -> None:
    report = report_with([i % 2 == 0 for i in range(40)], [True] * 40, guard=True)
    report["comparison"]["graders"]["contains"] |= {
        "gain": math.nan,
        "interval": [math.nan, math.nan],
        "n": 0,
    }
    decision = decide(report, min_reward_gain=0.05, guard_graders=["contains"])
    assert not decision.promoted
    assert decision.reason.startswith("contains has no prompt both models' answers were graded")


def test_answers_no_grader_could_grade_count_as_failures() -> None:
    asked = prompts(10)

    def ask(contender: Contender, asked: Sequence[Prompt]) -> list[Reply]:
        return answering([True] * 10)(contender, asked)

    report = evaluate(asked, BASE, TRAINED, {"arithmetic": build_grader(ARITHMETIC)}, ask)
    assert failure_share(report) == 0.0
    # Three answers of the trained model its grader could not grade (a judge's made-up
    # rewards, say), besides one failed call: four of ten have no usable reward.
    trained = report["models"][1]
    trained["graders"]["arithmetic"]["gradingErrors"] = 3
    trained["failedCalls"] = 1
    assert failure_share(report) == pytest.approx(0.4)
