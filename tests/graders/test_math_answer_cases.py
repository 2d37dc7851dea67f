"""math_answer on the cases a comparison with Math-Verify and a red-team run turned up:
false credit, missed credit, which stated answer counts, exact comparison, symbolic answers,
hedges, percentages, cold start and the cost of long answers."""

import json
import math
import re
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from rft_env.graders.contract import GRADER_ERROR_METRIC, grade_batch, grade_sample, parse_event
from rft_env.graders.math_answer import (
    _PHRASE_RE,
    MAX_BOXED_TRIES,
    _last_phrase,
    build,
    extract_answer,
    extract_boxed,
)

REPO = Path(__file__).resolve().parents[2]


def sample_event(answer: str, reference: Any) -> dict[str, Any]:
    return {
        "id": "s",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference},
    }


def grade(answer: str, reference: Any, **options: Any) -> dict[str, Any]:
    [sample] = parse_event([sample_event(answer, reference)])
    return grade_sample(sample, build({"type": "math_answer", **options}))


def score(answer: str, reference: Any, **options: Any) -> float:
    result = grade(answer, reference, **options)
    assert "error" not in result, result
    return result["aggregate_reward_score"]


def metrics_of(result: dict[str, Any]) -> dict[str, float]:
    return {m["name"]: m["value"] for m in result["metrics_list"]}


# --- 1. false credit: a coefficient or an exponent is not the answer ----------------------


@pytest.mark.parametrize(
    ("answer", "wrong", "right"),
    [
        ("So the diagonal is $4\\sqrt{2}$.", 4, "4\\sqrt{2}"),
        ("The area is $9\\pi$", 9, "9\\pi"),
        ("Hence the height is $2\\sqrt{3}$", 2, "\\sqrt{12}"),
        ("The area is 15 m^2", 2, 15),
        ("That is about 4.2 x 10^5", 4.2, 420000),
        ("That is about 4.2 x 10^5", 10, "4.2e5"),
        ("so we get $2^{10}$", 10, 1024),
        ("the sum is 2 + \\sqrt{3}", "\\sqrt{3}", "2+\\sqrt{3}"),
        ("the coordinates are (1, 2).", 2, "(1, 2)"),
    ],
)
def test_a_number_inside_an_expression_is_not_the_answer(
    answer: str, wrong: Any, right: Any
) -> None:
    assert score(answer, wrong) == 0.0
    assert score(answer, right) == 1.0


def test_an_interval_is_not_its_endpoint() -> None:
    assert score("The solution set is -[0,1)", 1) == 0.0
    assert score("The solution set is [0,1)", 1) == 0.0
    assert score("The solution set is [0,1)", "[0, 1)") == 1.0


# --- 2. missed credit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("So the answer is \\(42\\).", 42),
        ("So the answer is \\[42\\]", 42),
        ("So the answer is\n\\[\n42\n\\]\nDone.", 42),
        ("The final answer is $$42$$", 42),
        ("\\boxed{- 7}", -7),
        ("\\boxed{15\\text{ cm}^2}", 15),
        ("\\boxed{x = 5}", 5),
        ("\\boxed{\\sqrt{16}}", 4),
        ("\\boxed{2^{10}}", 1024),
        ("\\boxed{10^{6}}", 1000000),
        ("Final Answer: The volume of the box is 120.", 120),
        ("The answer is $\\boxed{42}$.", 42),
    ],
)
def test_missed_credit(answer: str, reference: Any) -> None:
    assert score(answer, reference) == 1.0


def test_an_unreadable_candidate_passes_on_to_the_next() -> None:
    # The phrase's text is prose: the last number decides, not "unparseable".
    result = grade("Final Answer: The volume of the box is 120.", 120)
    assert metrics_of(result) == {"math_answer": 1.0, "answer_extracted": 1.0}
    # A later phrase that states no value does not hide the box before it.
    assert score("\\boxed{42}\n\nThis answer is consistent with the data.", 42) == 1.0
    # Nothing readable anywhere: unparseable.
    result = grade("\\boxed{x+1}", 1)
    assert metrics_of(result)["answer_unparseable"] == 1.0


# --- 3. the last stated answer counts ------------------------------------------------------


def test_the_last_stated_answer_counts() -> None:
    answer = "First try: \\boxed{255}.\nWait, I misread. ... so the final answer is $10,455$."
    assert score(answer, 10455) == 1.0
    assert score(answer, 255) == 0.0
    answer = "The answer is 255.\nNo: recounting, \\boxed{10455}"
    assert score(answer, 10455) == 1.0
    assert score(answer, 255) == 0.0


def test_the_last_number_is_only_a_fallback() -> None:
    assert score("The answer is 5. Check: 2 + 3 = 5, plus 7 more", 5) == 1.0
    assert score("The answer is 5. Check: 2 + 3 = 5, plus 7 more", 7) == 0.0


def test_extract_still_chooses_the_strategies() -> None:
    answer = "\\boxed{3} and the answer is 4, then 5"
    assert score(answer, 4) == 1.0
    assert score(answer, 3, extract=["boxed"]) == 1.0
    assert score(answer, 5, extract=["last_number", "boxed", "phrase"]) == 1.0
    assert extract_answer(answer, ("boxed", "phrase")) == "4, then 5"


# --- 4. exact values compare exactly ------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("1.6e-18", "1.6e-19"),
        ("1.6e-18", 1.6e-19),
        ("10000000001", 1e10),
        ("10000000001", "1e10"),
        ("10000000001", 10000000000),
        ("1e-7", 0),
        ("\\boxed{0.000001}", 0),
        ("\\boxed{1.4142}", "\\sqrt{2}"),  # a rounded irrational is not it
    ],
)
def test_tolerances_do_not_merge_distinct_values(answer: str, reference: Any) -> None:
    assert score(answer, reference) == 0.0


def test_inexact_values_compare_within_the_relative_tolerance() -> None:
    assert score("\\boxed{1.41421356237}", "\\sqrt{2}") == 1.0  # within 1e-9
    assert score("\\boxed{\\frac{\\pi}{2}}", math.pi / 2) == 1.0
    assert score("\\boxed{1.4142}", "\\sqrt{2}", relativeTolerance=1e-4) == 1.0


# --- 5. symbolic answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("\\boxed{2\\sqrt{3}}", "\\sqrt{12}", 1.0),
        ("\\boxed{\\sqrt{12}}", "2\\sqrt{3}", 1.0),
        ("\\boxed{2\\sqrt{3}}", "3\\sqrt{2}", 0.0),
        ("\\boxed{\\frac{\\pi}{2}}", "\\frac{\\pi}{2}", 1.0),
        ("\\boxed{\\frac{\\pi}{2}}", "\\pi/3", 0.0),
        ("\\boxed{\\dfrac{\\sqrt{3}}{3}}", "\\frac{1}{\\sqrt{3}}", 1.0),
        ("\\boxed{[0, 1)}", "[0,1)", 1.0),
        ("\\boxed{[0, 1]}", "[0,1)", 0.0),
        ("\\boxed{(1, 2)}", "(1, 2)", 1.0),
        ("\\boxed{(2, 1)}", "(1, 2)", 0.0),
        ("\\boxed{\\{2, 1\\}}", "\\{1, 2\\}", 1.0),
        ("\\boxed{2, 1}", "1, 2", 1.0),
        ("\\boxed{\\left(-\\infty, 3\\right]}", "(-\\infty, 3]", 1.0),
        ("$x \\in \\boxed{(-\\infty, 0) \\cup (1, \\infty)}$", "(1,\\infty)\\cup(-\\infty,0)", 1.0),
        ("\\boxed{3\\pi}", 3 * math.pi, 1.0),
        ("\\boxed{2\\sqrt{3} \\text{ cm}}", "\\sqrt{12}", 1.0),
    ],
)
def test_symbolic_answers(answer: str, reference: Any, expected: float) -> None:
    assert score(answer, reference) == expected


def test_free_variables_score_zero_not_a_grader_error() -> None:
    for answer in ("\\boxed{2x + 1}", "\\boxed{y = 2x}", "\\boxed{\\log 2}"):
        result = grade(answer, 3)
        assert "error" not in result
        assert metrics_of(result) == {
            "math_answer": 0.0,
            "answer_extracted": 1.0,
            "answer_unparseable": 1.0,
        }


@pytest.mark.parametrize("reference", ["x + 1", "\\log 2", "[0, 1", "1, 2 or 3"])
def test_a_reference_that_is_no_value_is_still_a_data_error(reference: str) -> None:
    [result] = grade_batch([sample_event("\\boxed{3}", reference)], build({"type": "math_answer"}))
    assert result["metrics_list"][0]["name"] == GRADER_ERROR_METRIC
    assert result["error"].startswith("ValueError: reference answer ")


COLD_START = """
import json, sys
from rft_env.graders import handler
from rft_env.graders.contract import grade_batch
from rft_env.graders.registry import build_grader
event = [{"id": "s", "messages": [{"role": "user", "content": "q"},
          {"role": "assistant", "content": sys.argv[1]}],
          "metadata": {"reference_answer": sys.argv[2]}}]
[result] = grade_batch(event, build_grader({"type": "math_answer"}))
print(json.dumps([result["aggregate_reward_score"], "rft_env.graders.math_expr" in sys.modules]))
"""


def cold_grade(answer: str, reference: str) -> tuple[float, bool]:
    """Score and whether the symbolic module was loaded, in a fresh interpreter."""
    run = subprocess.run(
        [sys.executable, "-c", COLD_START, answer, reference],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    score_value, loaded = json.loads(run.stdout)
    return score_value, loaded


def test_plain_numbers_never_load_the_symbolic_module() -> None:
    assert cold_grade("Step 1: 6 * 7 = 42.\nThe answer is $\\boxed{42}$.", "42") == (1.0, False)
    assert cold_grade("So she has 1,234.5 dollars left.\n#### 1,234.5", "1234.5") == (1.0, False)


def test_a_symbolic_answer_loads_it() -> None:
    assert cold_grade("The answer is $\\boxed{2\\sqrt{3}}$.", "\\sqrt{12}") == (1.0, True)


# --- 6. what already worked keeps working -------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("\\boxed{1.2e-3}", "0.0012"),
        ("The answer is \u22127.", -7),
        ("The answer is +5", 5),
        ("\\boxed{\\$4.99}", "4.99"),
        ("\\boxed{1\u2009234}", 1234),
        ("In total 1\u2009234 apples", 1234),
        ("\\boxed{1 1/2}", "3/2"),
        ("First \\boxed{3}, on reflection \\boxed{5}.", 5),
    ],
)
def test_kept_behaviour(answer: str, reference: Any) -> None:
    assert score(answer, reference) == 1.0


# --- 7. loopholes --------------------------------------------------------------------------


def test_a_boxed_answer_does_not_outlive_a_later_final_answer() -> None:
    answer = "\\fbox{42} Hmm, I think I made an error. So my final answer is 7"
    assert score(answer, 42) == 0.0
    assert score(answer, 7) == 1.0


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is 42 or 41",
        "The answer is 42, or maybe 41.",
        "The answer is 42 and 41 are both possible.",
        "42 and 41 are both possible",
        "\\boxed{42 \\text{ or } 41}",
        "x = 42 or x = 41",
        # Boxes offered side by side, in either order (the probes' "several boxed answers").
        "\\boxed{42} \\boxed{41}",
        "\\boxed{41} \\boxed{42}",
        "$\\boxed{41}$, $\\boxed{42}$ or $\\boxed{43}$",
        "\\boxed{41} \\text{or} \\boxed{42}.",
        "\\boxed{\\frac{82}{2}} \\quad \\boxed{42}",
    ],
)
def test_a_hedge_is_not_an_answer(answer: str) -> None:
    for reference in (42, 41):
        result = grade(answer, reference)
        assert result["aggregate_reward_score"] == 0.0
        assert metrics_of(result)["answer_hedged"] == 1.0


def test_several_values_match_only_a_tuple_or_set_reference() -> None:
    assert score("\\boxed{42, 41}", 42) == 0.0
    assert score("\\boxed{42, 41}", "41, 42") == 1.0
    assert score("\\boxed{(42, 41)}", "(42, 41)") == 1.0
    assert score("The roots are 2, 3", 3) == 0.0
    assert score("The roots are 2, 3", "\\{3, 2\\}") == 1.0
    # The same value twice is no hedge.
    assert score("The answer is 42 or 42.0", 42) == 1.0


@pytest.mark.parametrize(
    ("answer", "reference", "options", "expected"),
    [
        ("4200%", 42, {}, 0.0),
        ("\\boxed{4200\\%}", 42, {}, 0.0),
        ("45%", 0.45, {}, 1.0),
        ("45%", "0.45", {}, 1.0),
        ("0.45", "45%", {}, 1.0),
        ("45%", "45%", {}, 1.0),
        ("150%", "150%", {}, 1.0),
        ("150%", 1.5, {}, 0.0),  # a proportion is in [-1, 1]
        ("45%", 45, {"percentAsNumber": True}, 1.0),
        ("4200%", 42, {"percentAsNumber": True}, 0.0),
    ],
)
def test_a_percentage_is_a_proportion(
    answer: str, reference: Any, options: dict[str, Any], expected: float
) -> None:
    assert score(answer, reference, **options) == expected


def test_zero_is_not_matched_by_a_small_number() -> None:
    assert score("1e-7", 0) == 0.0
    assert score("\\boxed{0.0000001}", "0") == 0.0
    assert score("\\boxed{0}", 0) == 1.0


# --- 8. long answers cost little more than short ones ------------------------------------


def reasoning(chars: int) -> str:
    step = (
        "We have $a_{n+1} = \\frac{a_n}{2} + \\sqrt{a_n}$ and {x \\in [0, 1)}, so "
        "$\\{a_n\\}$ is bounded; the answer is not yet clear. "
    )
    return step * (chars // len(step))


def best_time(function: Any, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.parametrize(
    "ending",
    [
        "\\boxed{42}",
        "Hence the final answer is $\\boxed{\\frac{84}{2}}$.",
        "\\boxed{" * 50 + "\\boxed{42}",  # unclosed boxes before the answer
    ],
)
def test_boxed_extraction_does_not_grow_with_the_reasoning(ending: str) -> None:
    grader = build({"type": "math_answer"})
    short, long = reasoning(1_000) + ending, reasoning(100_000) + ending
    [short_sample] = parse_event([sample_event(short, 42)])
    [long_sample] = parse_event([sample_event(long, 42)])
    assert grader(long_sample)[0] == 1.0
    ratio = best_time(lambda: grader(long_sample)) / best_time(lambda: grader(short_sample))
    # A Python-level pass over 100 KB costs ~100x a pass over 1 KB; C-speed scans don't.
    assert ratio < 10, ratio


def test_hostile_braces_stay_cheap() -> None:
    grader = build({"type": "math_answer"})
    for text in ("{" * 100_000 + "\\boxed{42}", "\\boxed{" * 14_000, "\\boxed{" + "{" * 99_000):
        [sample] = parse_event([sample_event(text, 42)])
        assert best_time(lambda sample=sample: grader(sample), repeats=1) < 0.5


# The C-speed searches agree with the plain algorithms they replace.

BOX_PIECES = st.sampled_from(
    ["\\boxed{", "\\fbox{", "\\boxed {", "{", "}", "\\{", "\\}", "42", " ", "x", "\\", "\n"]
)
PHRASE_PIECES = st.sampled_from(
    [
        "answer",
        "Answer",
        "ANSWER",
        "final ",
        " is",
        " is ",
        ":",
        "=",
        " ",
        "re",
        "_",
        "\u0130",
        "5",
        '"',
    ]
)


def boxed_by_full_scan(text: str) -> str | None:
    """The last complete box found by matching every brace of the text (the old way)."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "{":
            stack.append(i)
        elif text[i] == "}" and stack:
            closing[stack.pop()] = i
        i += 1
    for match in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))):
        end = closing.get(match.end() - 1)
        if end is not None:
            return text[match.end() : end]
    return None


@settings(max_examples=400)
@given(st.lists(BOX_PIECES, max_size=12).map("".join))
def test_boxed_search_agrees_with_a_full_scan(text: str) -> None:
    assume(text.count("\\boxed") + text.count("\\fbox") <= MAX_BOXED_TRIES)
    assert extract_boxed(text) == boxed_by_full_scan(text)


@settings(max_examples=400)
@given(st.lists(PHRASE_PIECES, max_size=14).map("".join), st.integers(0, 30), st.integers(0, 60))
@example('{"answer": 5', 0, 60)  # the JSON key
@example('answer" = 5 answer is 6', 0, 60)  # a key-like phrase before a plain one
def test_phrase_search_agrees_with_the_regex(text: str, start: int, stop: int) -> None:
    start = min(start, len(text))
    stop = max(start, min(stop, len(text)))
    last = deque(_PHRASE_RE.finditer(text, start, stop), maxlen=1)
    # Where it ends, and whether it is the JSON key `"answer":` (its only quote).
    expected = (last[0].end(), '"' in last[0].group()) if last else None
    assert _last_phrase(text, start, stop) == expected


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("The answer is 42 (from step 3).", 42, 1.0),
        ("The answer is 42 \u2014 the total number of pens.", 42, 1.0),
        ("The answer is 42 (or 41).", 42, 0.0),  # a hedge in brackets is still one
        ("The answer is 2 (3).", 6, 1.0),  # a product, not 2
        ("The answer is 2 (3).", 2, 0.0),
    ],
)
def test_a_comment_after_the_stated_number(answer: str, reference: Any, expected: float) -> None:
    assert score(answer, reference) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("\\boxed{42} \\boxed{42}", 1.0),  # the same answer twice is one answer
        ("I first got \\boxed{41}, but checking again gives \\boxed{42}.", 1.0),
        ("\\boxed{41}\n\nWait, 6 * 7 = 42, so \\boxed{42}", 1.0),
    ],
)
def test_a_box_after_reasoning_revises_the_one_before(answer: str, expected: float) -> None:
    assert score(answer, 42) == expected


def test_an_empty_frac_part_is_no_value_not_a_crash() -> None:
    result = grade("\\boxed{\\frac{1}{}}", 1)
    assert result["aggregate_reward_score"] == 0.0
    assert metrics_of(result)["answer_unparseable"] == 1.0


# --- a JSON "answer" key states the answer ------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        # The value of the key, not the last number of the block (a step's 881).
        ('```json\n{"answer": 1624, "steps": ["add the pens (881)"]}\n```', 1624, 1.0),
        ('```json\n{"answer": 1624, "steps": ["add the pens (881)"]}\n```', 881, 0.0),
        ('{"answer": "\\\\frac{5}{23}", "steps": []}', "5/23", 1.0),
        ('{"Answer" : -3.5e2}', -350, 1.0),
        ('{"answer": "42 or 41"}', 42, 0.0),  # a string's content is read: still a hedge
        ('{"answer": 7} and later the final answer is 8', 8, 1.0),  # the last stated wins
        ('"answer": 42 apples', 42, 1.0),
        ('{"answer": null}\n\n7', 7, 1.0),  # no value stated: the next strategy reads
    ],
)
def test_a_json_answer_key_states_the_answer(answer: str, reference: Any, expected: float) -> None:
    assert score(answer, reference) == expected


def test_a_json_answer_key_that_is_no_json_reads_the_line() -> None:
    assert extract_answer('"answer": [1, 2') == "[1, 2"


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("Reasoning: 12 x 3 = 36.\n\n12/47", "12/47", 1.0),
        ("Reasoning.\n\n-12/47", "-12/47", 1.0),
        ("Reasoning.\n\n12/47", "11/47", 0.0),
        ("Reasoning.\n\n5/0", "5", 0.0),  # no number: a zero denominator
        ("Reasoning.\n\n1/2/3", "1/6", 1.0),  # no plain fraction: the expression parser
        ("\\boxed{\\frac{12}{20}}", "3/5", 1.0),
        ("\\boxed{\\frac{1}{0}}", "1", 0.0),
    ],
)
def test_plain_and_latex_fractions(answer: str, reference: Any, expected: float) -> None:
    assert score(answer, reference) == expected


@pytest.mark.parametrize(
    ("answer", "boxed"),
    [
        ("\\boxed{\\frac{12}{20}}", "\\frac{12}{20}"),
        ("\\boxed{a{b{c}}}d}", "a{b{c}}"),  # three deep: the brace-by-brace walk
        ("\\boxed{\\{1\\}}", "\\{1\\}"),  # escaped braces: the walk too
        ("\\boxed{a\\\\}b}", "a\\\\"),  # an escaped backslash before the closing brace
        ("\\boxed{x", None),
    ],
)
def test_boxed_groups(answer: str, boxed: str | None) -> None:
    assert extract_boxed(answer) == boxed


def test_words_with_box_before_a_box_are_no_hedge() -> None:
    answer = "Count the boxes: 3 boxes of 4.\n\nSo $\\boxed{12}$."
    assert score(answer, 12) == 1.0
    assert score("$\\boxed{12}$ $\\boxed{13}$", 12) == 0.0  # side by side: a hedge
