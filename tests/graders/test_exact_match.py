from typing import Any

import pytest

from rft_env.graders.contract import GRADER_ERROR_METRIC, grade_batch
from rft_env.graders.exact_match import (
    MAX_REGEX_INPUT_CHARS,
    reference_alternatives,
    select_answer,
    spec_problems,
)
from rft_env.graders.registry import build_grader


def score(answer: Any, reference: Any, **spec: Any) -> float:
    """Grade one sample with an exact_match spec built from keyword options."""
    grader = build_grader({"type": "exact_match", **spec})
    event = {
        "id": "s",
        "messages": [{"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference},
    }
    [result] = grade_batch(event, grader)
    assert "error" not in result, result
    assert result["metrics_list"] == [
        {"name": "exact_match", "value": result["aggregate_reward_score"], "type": "Reward"}
    ]
    return result["aggregate_reward_score"]


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("42", "42", 1.0),
        ("42", "43", 0.0),
        ("Paris", "paris", 1.0),  # case-insensitive by default
        ("  the   answer\n", "the answer", 1.0),  # whitespace normalised by default
        ("42.", "42", 0.0),  # punctuation kept by default
        ("Strasse", "STRASSE", 1.0),
        ("straße", "STRASSE", 1.0),  # casefold, not lower
    ],
)
def test_eq_defaults(answer: str, reference: str, expected: float) -> None:
    assert score(answer, reference) == expected


def test_eq_explicit_operation() -> None:
    assert score("a", "a", operation="eq") == 1.0
    assert score("a b", "a", operation="eq") == 0.0


def test_ne_inverts_eq() -> None:
    assert score("42", "42", operation="ne") == 0.0
    assert score("41", "42", operation="ne") == 1.0
    # With alternatives, "ne" means "equals none of them".
    assert score("b", ["a", "b"], operation="ne") == 0.0
    assert score("c", ["a", "b"], operation="ne") == 1.0


def test_contains() -> None:
    assert score("The answer is 42.", "answer is 42", operation="contains") == 1.0
    assert score("The answer is 41.", "answer is 42", operation="contains") == 0.0
    assert score("The ANSWER   is 42", "answer is", operation="contains") == 1.0


def test_case_sensitive() -> None:
    assert score("Paris", "paris", caseSensitive=True) == 0.0
    assert score("Paris", "Paris", caseSensitive=True) == 1.0
    assert score("PARIS", "paris", operation="contains", caseSensitive=True) == 0.0


def test_whitespace_normalisation_can_be_disabled() -> None:
    assert score(" 42", "42", normalizeWhitespace=False) == 0.0
    assert score("a  b", "a b", normalizeWhitespace=False) == 0.0
    assert score("a  b", "a  b", normalizeWhitespace=False) == 1.0


def test_ignore_punctuation() -> None:
    assert score("42.", "42", ignorePunctuation=True) == 1.0
    assert score("«Paris»!", "paris", ignorePunctuation=True) == 1.0  # unicode punctuation
    assert score("Hello, world!", "hello world", ignorePunctuation=True) == 1.0
    # Symbols such as "+" are not punctuation (category Sm), so they still count.
    assert score("1+1", "11", ignorePunctuation=True) == 0.0


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("42", 42, 1.0),
        ("3.5", 3.5, 1.0),
        ("true", True, 1.0),
        ("True", True, 1.0),  # case-insensitive default
        ("1", True, 0.0),
        ("42", 42.0, 0.0),  # textual comparison: 42.0 is spelled "42.0"
        ("7", ["six", 7, "seven"], 1.0),
        ("seven", ["six", 7, "seven"], 1.0),
        ("eight", ["six", 7, "seven"], 0.0),
        ("x", [], 0.0),
        ("42", {"answer": "42", "explanation": "6*7"}, 1.0),
        ("b", {"answer": ["a", "b"]}, 1.0),
        ('{"a": 1, "b": 2}', {"b": 2, "a": 1}, 1.0),  # no "answer" key: sorted JSON
        ("null", [None], 1.0),
    ],
)
def test_reference_types(answer: str, reference: Any, expected: float) -> None:
    assert score(answer, reference) == expected


def test_reference_alternatives() -> None:
    assert reference_alternatives("x") == ["x"]
    assert reference_alternatives(False) == ["false"]
    assert reference_alternatives(1e20) == ["1e+20"]
    assert reference_alternatives([1, "a", [2, 1]]) == ["1", "a", "[2, 1]"]
    assert reference_alternatives({"answer": 5}) == ["5"]
    assert reference_alternatives({"z": "é", "a": None}) == ['{"a": null, "z": "é"}']


def test_last_line() -> None:
    reasoning = "Let me think.\n6 * 7 = 42\nFinal answer: 42\n\n   \n"
    assert score(reasoning, "final answer: 42", answerFrom="last_line") == 1.0
    assert score(reasoning, "final answer: 42") == 0.0
    assert score(reasoning, "final answer: 42", answerFrom="full") == 0.0
    assert select_answer("a\r\nb\r\n", "last_line") == "b"
    assert select_answer("\n \n", "last_line") == ""
    assert select_answer("a\nb", "full") == "a\nb"


def test_regex_with_pattern() -> None:
    spec = {"operation": "regex", "pattern": r"\b42\b"}
    assert score("the answer is 42!", "ignored", **spec) == 1.0
    assert score("the answer is 420", "ignored", **spec) == 0.0


def test_regex_pattern_case_flag() -> None:
    assert score("ANSWER", "x", operation="regex", pattern="^answer$") == 1.0
    assert score("ANSWER", "x", operation="regex", pattern="^answer$", caseSensitive=True) == 0.0


def test_regex_without_pattern_uses_reference() -> None:
    assert score("result: 12 apples", r"\d+ apples", operation="regex") == 1.0
    assert score("result: some apples", r"\d+ apples", operation="regex") == 0.0
    assert score("cat", ["^dog$", "^cat$"], operation="regex") == 1.0


def test_regex_applies_normalisation_to_answer_only() -> None:
    assert score("  a    b ", "^a b$", operation="regex") == 1.0
    assert score("x\ny", "^y$", operation="regex", answerFrom="last_line") == 1.0


def test_regex_input_is_truncated() -> None:
    answer = "a" * MAX_REGEX_INPUT_CHARS + "needle"
    assert score(answer, "needle", operation="regex") == 0.0
    assert score(answer, "needle", operation="contains") == 1.0


def test_invalid_reference_regex_is_a_per_sample_grader_error() -> None:
    grader = build_grader({"type": "exact_match", "operation": "regex"})
    event = [
        {"id": "bad", "messages": [{"content": "x"}], "reference_answer": "("},
        {"id": "ok", "messages": [{"content": "x"}], "reference_answer": "x"},
    ]
    bad, ok = grade_batch(event, grader)
    assert bad["metrics_list"][0]["name"] == GRADER_ERROR_METRIC
    assert "missing )" in bad["error"]
    assert ok["aggregate_reward_score"] == 1.0


def test_valid_spec_has_no_problems() -> None:
    full = {
        "type": "exact_match",
        "operation": "regex",
        "caseSensitive": True,
        "normalizeWhitespace": False,
        "ignorePunctuation": True,
        "pattern": "a+",
        "answerFrom": "last_line",
    }
    assert spec_problems(full) == []
    assert spec_problems({"type": "exact_match"}) == []


def test_pattern_must_compile() -> None:
    [(key, message)] = spec_problems({"type": "exact_match", "operation": "regex", "pattern": "("})
    assert key == "pattern"
    assert message.startswith("got '('; not a valid regex: missing )")


def test_reference_regex_future_warning_is_silenced(recwarn: pytest.WarningsRecorder) -> None:
    assert score("[[a]", "[[a]", operation="regex") == 1.0
    assert [w for w in recwarn if issubclass(w.category, FutureWarning)] == []
