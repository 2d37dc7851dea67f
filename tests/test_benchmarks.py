"""The grader benchmark measures what it claims: answers of the shapes and sizes RL
fine-tuning produces, graded by the specs users write, held to the stated bounds. Timing
targets are the benchmark's to check (`make bench`), not these tests'."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.answer_shapes import SHAPES, SIZE_SLACK, WRONG_EVERY, answer_event
from benchmarks.graders import (
    GROWTH_LIMIT,
    RATIO_LIMIT,
    RULE_BASED,
    SIZES,
    Row,
    composite_limit,
)
from rft_env.graders.contract import grade_batch
from rft_env.graders.registry import build_grader

SAMPLES = 12
_BOXED_END = re.compile(r"the final answer is \$\\boxed\{(.+)\}\$\.\Z")
_JSON_BLOCK_END = re.compile(r"\n\n```json\n(.+)\n```\Z")


def _answers(shape: str, size: int) -> list[tuple[str, str]]:
    """(answer text, reference) of each sample."""
    return [
        (s["messages"][-1]["content"], s["metadata"]["reference_answer"])
        for s in answer_event(shape, size, SAMPLES)
    ]


def _as_plain(latex: str) -> str:
    return re.sub(r"\\frac\{(\d+)\}\{(\d+)\}", r"\1/\2", latex)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_answer_has_the_size_claimed(shape: str, size: int) -> None:
    lengths = [len(text.encode()) for text, _ in _answers(shape, size)]
    assert all(size - SIZE_SLACK <= length <= size for length in lengths), lengths


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_ends_in_its_final_answer_right_three_times_in_four(
    shape: str, size: int
) -> None:
    for index, (text, reference) in enumerate(_answers(shape, size)):
        if shape == "boxed":
            final = _as_plain(_BOXED_END.search(text).group(1))
        elif shape == "fenced_json":
            block = json.loads(_JSON_BLOCK_END.search(text).group(1))
            assert set(block) == {"answer", "steps"}
            final = str(block["answer"])
        else:
            final = text.splitlines()[-1]
        if shape == "think":
            assert text.startswith("<think>\n")
            assert text.count("<think>") == text.count("</think>") == 1
        assert (final == reference) is (index % WRONG_EVERY != 0), (index, final, reference)


@pytest.mark.parametrize("shape", ["boxed", "fenced_json", "think"])
def test_reasoning_is_latex_rich_and_varied_not_filler(shape: str) -> None:
    for text, _ in _answers(shape, 32768):
        for construct in ("$", "\\frac{", "\\sqrt{", "\\begin{aligned}", "\\{", "\\cdot"):
            assert construct in text, construct
        paragraphs = text.split("\n\n")
        # Hundreds of paragraphs, nearly all different: real reasoning, not one line repeated.
        assert len(paragraphs) > 150
        assert len(set(paragraphs)) > 0.9 * len(paragraphs)


def test_plain_reasoning_has_no_latex() -> None:
    for text, _ in _answers("plain", 4096):
        assert "$" not in text and "\\" not in text


def test_generation_is_deterministic_and_seeded() -> None:
    assert answer_event("boxed", 4096, 3) == answer_event("boxed", 4096, 3)
    assert answer_event("boxed", 4096, 3, seed=1) != answer_event("boxed", 4096, 3)


@pytest.mark.parametrize(
    ("shape", "size", "key"), [("latex", 4096, "shape"), ("plain", 100, "size")]
)
def test_bad_arguments_name_the_key(shape: str, size: int, key: str) -> None:
    with pytest.raises(ValueError, match=f"^{key}: "):
        answer_event(shape, size, 1)


@pytest.mark.parametrize(
    ("grader", "shape", "reward"),
    [
        ("exact_match", "plain", 1 - 1 / WRONG_EVERY),
        ("math_answer", "boxed", 1 - 1 / WRONG_EVERY),
        ("json_format", "fenced_json", 1.0),
        ("format", "think", 1.0),
    ],
)
def test_benchmark_specs_do_their_real_work_on_their_shape(
    grader: str, shape: str, reward: float
) -> None:
    results = grade_batch(answer_event(shape, 4096, SAMPLES), build_grader(RULE_BASED[grader]))
    assert sum(r["aggregate_reward_score"] for r in results) / SAMPLES == pytest.approx(reward)


def test_composite_is_held_to_its_parts_capped_at_the_single_bound_plus_one_floor() -> None:
    assert composite_limit({"math_answer": 2.0, "format": 1.5}) == pytest.approx(4.5)
    # A slow part cannot widen the composite's bound past what passing parts would allow.
    assert composite_limit({"math_answer": 20.0, "format": 1.5}) == 1 + RATIO_LIMIT + 1.5


def test_a_row_misses_on_ratio_or_on_growth() -> None:
    def row(elapsed: float, growth: float | None) -> Row:
        return Row("math_answer", "boxed", 32768, 64, elapsed, 1.0, RATIO_LIMIT, 0.75, growth)

    assert row(RATIO_LIMIT, GROWTH_LIMIT).misses == []
    assert row(RATIO_LIMIT * 1.01, None).misses == ["ratio"]
    assert row(1.0, GROWTH_LIMIT * 1.01).misses == ["growth"]


def test_a_measured_rows_ratio_is_its_paired_median_not_its_best_times() -> None:
    # Best times of 1.0 and 1.0 from different spells; the rounds paired said 3.5.
    row = Row("format", "plain", 200, 256, 1.0, 1.0, RATIO_LIMIT, 1.0, None, 3.5)
    assert row.ratio == 3.5
    assert row.misses == ["ratio"]
