import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft_env.graders.contract import GRADER_ERROR_METRIC, grade_batch
from rft_env.graders.exact_match import (
    MAX_REGEX_INPUT_CHARS,
    UNICODE_PUNCTUATION,
    PunctuationTable,
    drop_punctuation,
    is_number_mark,
    number_punctuation,
    numbers_in,
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
    answer = "a" * MAX_REGEX_INPUT_CHARS + " needle"
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


def grade_event(spec: dict[str, Any], *references: Any, answer: str = "x") -> list[dict[str, Any]]:
    """One sample per reference, all with `answer`, graded by an exact_match spec."""
    grader = build_grader({"type": "exact_match", **spec})
    event = [
        {"id": f"s{i}", "messages": [{"content": answer}], "reference_answer": reference}
        for i, reference in enumerate(references)
    ]
    return grade_batch(event, grader)


# --- contains: whole tokens, no hedging -----------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("The capital is Paris.", "Paris", 1.0),
        ("It is 42.", 42, 1.0),
        ("(42)", "42", 1.0),
        ("x = 42, so done", 42, 1.0),
        ("I have 42 apples", "42 apples", 1.0),
        ("420", 42, 0.0),  # not inside a longer number...
        ("142", 42, 0.0),
        ("4.2", 42, 0.0),
        ("4.2", 4, 0.0),
        ("1,420", 42, 0.0),
        ("-42", 42, 0.0),  # ...nor without its sign
        ("The answer is -42", "-42", 1.0),
        ("Yorkshire", "York", 0.0),  # nor inside a word
        ("New York City", "new york", 1.0),
        ("首都是北京", "北京", 1.0),  # CJK characters are tokens of their own
    ],
)
def test_contains_matches_whole_tokens(answer: str, reference: Any, expected: float) -> None:
    assert score(answer, reference, operation="contains") == expected


def test_contains_gives_no_credit_for_listing_candidates() -> None:
    listing = " ".join(str(n) for n in range(101))
    assert score(listing, 42, operation="contains") == 0.0
    assert score("41 or 42", 42, operation="contains") == 0.0
    assert score("41kg 42kg 43kg", "42kg", operation="contains") == 0.0
    # Numbers are compared by value, so the reference's own number in another spelling is fine.
    assert score("42, that is 42.0", 42, operation="contains") == 1.0
    assert score("1,000 or 1000", "1000", operation="contains") == 1.0
    # A reference without numbers puts no limit on the answer's numbers.
    assert score("Paris, founded around 250 BC", "Paris", operation="contains") == 1.0


def test_numbers_in() -> None:
    assert numbers_in("-3 and 3.5, 1,234. x2 4-5 .5") == {-3.0, 3.5, 1234.0, 4.0, 5.0, 0.5}
    assert numbers_in("3,5 and 1.2.3") == {"3,5", "1.2.3"}
    assert numbers_in("no numbers") == set()


# --- ignorePunctuation keeps numbers whole ----------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("3", "-3", 0.0),  # a sign is not punctuation...
        ("-3", "3", 0.0),
        ("35", "3.5", 0.0),  # ...nor a decimal point...
        ("1234", "1,234", 0.0),  # ...nor a thousands comma, inside a number
        ("(-3)!", "-3", 1.0),
        ("3.5.", "3.5", 1.0),  # the full stop after it still is
        ("1,234!", "1,234", 1.0),
        ("-.5", "-.5", 1.0),
        ("well-known", "wellknown", 1.0),  # a hyphen between words is punctuation
        ("3-4", "34", 1.0),  # and so is one between numbers
    ],
)
def test_ignore_punctuation_keeps_number_punctuation(
    answer: str, reference: str, expected: float
) -> None:
    assert score(answer, reference, ignorePunctuation=True) == expected


def test_contains_with_ignore_punctuation_keeps_signs() -> None:
    assert score("the answer is -3", "3", operation="contains", ignorePunctuation=True) == 0.0
    assert score("the answer is -3!", "-3", operation="contains", ignorePunctuation=True) == 1.0


def test_number_punctuation_positions() -> None:
    assert number_punctuation("-3, 3.5, 1,234, .5, -.5") == [0, 5, 10, 16, 20, 21]
    assert number_punctuation("3-4 x-3 x.5 3..5 a,1") == []


# --- references that would match everything -------------------------------------------------


@pytest.mark.parametrize("operation", ["eq", "ne", "contains"])
def test_an_empty_reference_fails_its_sample(operation: str) -> None:
    empty, blank, good = grade_event({"operation": operation}, "", "   ", ["y", "x"])
    for result in (empty, blank):
        assert result["metrics_list"] == [
            {"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}
        ]
        assert "is empty after normalisation" in result["error"]
    assert good["aggregate_reward_score"] == (0.0 if operation == "ne" else 1.0)


def test_a_reference_that_normalises_to_nothing_fails_its_sample() -> None:
    bad, alternative = grade_event({"ignorePunctuation": True}, "...", ["x", "?!"])
    assert "ValueError: reference answer '...' is empty after normalisation" in bad["error"]
    assert alternative["metrics_list"][0]["name"] == GRADER_ERROR_METRIC


def test_an_empty_reference_pattern_fails_its_sample() -> None:
    empty, good = grade_event({"operation": "regex"}, "", "^x$")
    assert "reference pattern is empty" in empty["error"]
    assert good["aggregate_reward_score"] == 1.0


# --- patterns that backtrack catastrophically -----------------------------------------------

CATASTROPHIC = [r"^(a+)+$", r"^(\w+\s?)*$"]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_catastrophic_pattern_is_refused_with_the_spec(pattern: str) -> None:
    [(key, message)] = spec_problems(
        {"type": "exact_match", "operation": "regex", "pattern": pattern}
    )
    assert key == "pattern"
    assert "exponential" in message


def test_an_empty_pattern_is_refused_with_the_spec() -> None:
    assert spec_problems({"type": "exact_match", "operation": "regex", "pattern": ""}) == [
        ("pattern", "got ''; an empty pattern matches every answer")
    ]


def test_a_catastrophic_reference_pattern_fails_only_its_sample() -> None:
    answer = "a" * 28 + "b"
    bad, good = grade_event({"operation": "regex"}, CATASTROPHIC[0], "b$", answer=answer)
    assert bad["metrics_list"] == [{"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}]
    assert bad["error"].startswith("UnsafePatternError: pattern '^(a+)+$' refused")
    assert good["aggregate_reward_score"] == 1.0


number_text = st.text(alphabet="a1-.,_ x9é()!\x02", max_size=16)


@settings(max_examples=500)
@given(number_text)
def test_number_marks_found_by_scan_and_by_position_agree(text: str) -> None:
    """`number_punctuation` (regex scans, used to normalise) and `is_number_mark` (O(1), used
    at token boundaries) are one rule."""
    assert number_punctuation(text) == [k for k in range(len(text)) if is_number_mark(text, k)]


@settings(max_examples=500)
@given(number_text)
def test_drop_punctuation_keeps_exactly_the_number_marks(text: str) -> None:
    kept = set(number_punctuation(text))
    expected = "".join(
        ch for k, ch in enumerate(text) if k in kept or not unicodedata.category(ch).startswith("P")
    )
    assert drop_punctuation(text, UNICODE_PUNCTUATION) == expected


# PunctuationTable.translate sends ASCII text through a bytes table: it must agree with
# str.translate on every text, ASCII or not.
@settings(max_examples=300)
@given(st.text(alphabet=st.characters(max_codepoint=0x2100)))
def test_the_ascii_fast_translate_agrees_with_str_translate(text: str) -> None:
    expected = text.translate(UNICODE_PUNCTUATION)
    assert UNICODE_PUNCTUATION.translate(text) == expected
    ascii_text = text.encode("ascii", "ignore").decode("ascii")
    assert UNICODE_PUNCTUATION.translate(ascii_text) == ascii_text.translate(UNICODE_PUNCTUATION)


def test_a_table_mapping_ascii_to_longer_text_falls_back_to_str_translate() -> None:
    # A bytes table maps one byte to one byte; "&" -> " and " cannot go through it.
    table = PunctuationTable(lambda ch: ch == "!")
    table[ord("&")] = " and "
    assert table.translate("salt & pepper!") == "salt  and  pepper"
    assert table.ascii_tables == ()
