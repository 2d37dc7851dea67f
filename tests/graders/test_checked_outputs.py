"""`Checked` outputs: the reply takes a built-in grader's metrics as they are, so every
grader that returns one must make outputs the full check would keep unchanged, and a
Checked score out of [0, 1] (or NaN) must still take the full check."""

import math
from typing import Any

import pytest

from benchmarks.answer_shapes import SHAPES, answer_event
from benchmarks.graders import RULE_BASED
from rft_env.graders.contract import (
    GRADER_ERROR_METRIC,
    Checked,
    grade_batch,
    normalise_output,
    parse_event,
)
from rft_env.graders.registry import build_grader

REWARD = [{"name": "r", "value": 1.0, "type": "Reward"}]


def test_a_checked_output_is_taken_as_it_is() -> None:
    metrics = [{"name": "r", "value": 0.5, "type": "Reward"}]
    [result] = grade_batch([event()], lambda s: Checked(0.5, metrics))
    assert result == {"id": "s", "aggregate_reward_score": 0.5, "metrics_list": metrics}
    assert result["metrics_list"] is metrics


@pytest.mark.parametrize(("score", "expected"), [(1.5, 1.0), (-0.5, 0.0)])
def test_a_checked_score_out_of_range_takes_the_full_check(score: float, expected: float) -> None:
    [result] = grade_batch([event()], lambda s: Checked(score, REWARD))
    assert result["aggregate_reward_score"] == expected


@pytest.mark.parametrize("score", [math.nan, math.inf])
def test_a_non_finite_checked_score_is_a_grader_error(score: float) -> None:
    [result] = grade_batch([event()], lambda s: Checked(score, REWARD))
    assert result["metrics_list"] == [{"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}]


CASES = [
    ("The answer is 42.", "42"),
    ("so $\\boxed{\\frac{1}{2}}$", "1/2"),
    ('```json\n{"answer": 7, "steps": ["3 + 4"]}\n```', "7"),
    ("42 or 41", "42"),
    ("x + 1", "3"),
    ("", "5"),
    ("<think>\n2 + 2 = 4\n</think>\n4", "4"),
]


@pytest.mark.parametrize("name", list(RULE_BASED))
def test_built_in_outputs_pass_the_full_check_unchanged(name: str) -> None:
    grader = build_grader(RULE_BASED[name])
    samples = parse_event([event(answer, reference) for answer, reference in CASES])
    for shape in SHAPES:
        samples += parse_event(answer_event(shape, 200, 16))
    checked = 0
    for sample in samples:
        output = grader(sample)
        if type(output) is not Checked:
            continue
        checked += 1
        # As a plain tuple, the output takes the full check: it must come out the same.
        score, metrics = normalise_output(tuple(output))
        assert (score, metrics) == (output.score, output.metrics), sample.answer_text
        assert all(type(m["value"]) is float and math.isfinite(m["value"]) for m in metrics)
    if name in {"math_answer", "exact_match", "text_similarity", "composite"}:
        assert checked == len(samples)


def event(answer: str = "42", reference: Any = "42") -> dict[str, Any]:
    return {
        "id": "s",
        "messages": [{"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference},
    }
