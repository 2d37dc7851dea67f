import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rft_env.graders import math_answer
from rft_env.graders.contract import GRADER_ERROR_METRIC, grade_batch, grade_sample, parse_event
from rft_env.graders.math_answer import (
    MAX_SCAN_CHARS,
    Reading,
    build,
    extract_answer,
    parse_number,
    reference_values,
    spec_problems,
)


def grader_for(**options: Any) -> Any:
    spec = {"type": "math_answer", **options}
    assert spec_problems(spec) == []
    return build(spec)


def sample_event(answer: Any, reference: Any, sample_id: str = "s") -> dict[str, Any]:
    return {
        "id": sample_id,
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference},
    }


def grade(answer: Any, reference: Any, **options: Any) -> dict[str, Any]:
    """The contract result for one sample graded with a math_answer spec."""
    [sample] = parse_event([sample_event(answer, reference)])
    assert sample.error is None
    return grade_sample(sample, grader_for(**options))


def metrics_of(result: dict[str, Any]) -> dict[str, float]:
    return {m["name"]: m["value"] for m in result["metrics_list"]}


def score(answer: Any, reference: Any, **options: Any) -> float:
    result = grade(answer, reference, **options)
    assert "error" not in result, result
    value = result["aggregate_reward_score"]
    assert result["metrics_list"][0] == {"name": "math_answer", "value": value, "type": "Reward"}
    return value


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        # integers, signs, decimals
        ("42", 42, 1.0),
        ("42", 43, 0.0),
        ("-42", -42, 1.0),
        ("-42", 42, 0.0),
        ("+3", 3, 1.0),
        ("The answer is \u22127.", -7, 1.0),  # unicode minus
        ("\\boxed{3.25}", 3.25, 1.0),
        ("\\boxed{.5}", 0.5, 1.0),
        ("\\boxed{0}", -0.0, 1.0),
        # thousands separators
        ("\\boxed{1,234,567}", 1234567, 1.0),
        ("\\boxed{1,234.5}", "1234.5", 1.0),
        ("\\boxed{1 234}", 1234, 1.0),
        ("\\boxed{1\u2009234\u2009567}", 1234567, 1.0),  # thin spaces
        ("\\boxed{1\\,234}", 1234, 1.0),
        ("\\boxed{1{,}000}", 1000, 1.0),
        ("\\boxed{12 34}", 1234, 0.0),  # not groups of three
        ("\\boxed{1,23}", 123, 0.0),
        ("about 1,000,000 people", 1e6, 1.0),
        # fractions and mixed numbers
        ("\\boxed{3/4}", 0.75, 1.0),
        ("\\boxed{3 / 4}", "3/4", 1.0),
        ("\\boxed{1 1/2}", 1.5, 1.0),
        ("\\boxed{-1 1/2}", -1.5, 1.0),
        ("\\boxed{1/0}", 0, 0.0),
        # percentages (default: 45% is 0.45)
        ("\\boxed{45\\%}", 0.45, 1.0),
        ("45%", "45%", 1.0),
        ("45%", 45, 0.0),
        ("0.45", "45%", 1.0),
        ("It is 12.5 percent", 0.125, 1.0),
        # scientific notation
        ("\\boxed{1.2e-3}", 0.0012, 1.0),
        ("\\boxed{1.2E3}", 1200, 1.0),
        ("\\boxed{1.2 \u00d7 10^-3}", "0.0012", 1.0),
        ("$1.2\\times10^{-3}$", 0.0012, 1.0),
        ("\\boxed{6.02 \\cdot 10^{23}}", 6.02e23, 1.0),
        # LaTeX
        ("\\boxed{\\frac{3}{4}}", "3/4", 1.0),
        ("\\boxed{\\dfrac{1}{3}}", 1 / 3, 1.0),
        ("\\boxed{\\tfrac12}", 0.5, 1.0),
        ("\\boxed{-\\frac{3}{4}}", -0.75, 1.0),
        ("\\boxed{\\frac{-3}{4}}", -0.75, 1.0),
        ("\\boxed{\\frac{3}{-4}}", -0.75, 1.0),
        ("\\boxed{2\\frac{1}{2}}", 2.5, 1.0),  # mixed number
        ("\\boxed{\\left(\\frac{1}{2}\\right)}", 0.5, 1.0),
        ("\\boxed{\\frac{\\frac{1}{2}}{2}}", 0.25, 1.0),  # nested braces
        ("\\boxed{\\$42}", 42, 1.0),
        ("\\boxed{42 \\text{ apples}}", 42, 1.0),
        ("\\boxed{\\text{42}}", 42, 1.0),
        ("\\boxed{45^\\circ}", 45, 1.0),
        ("\\boxed{(-3)}", -3, 1.0),
        ("\\boxed{\\frac{\\sqrt{2}}{2}}", math.sqrt(2) / 2, 1.0),  # symbolic, evaluated
        ("\\boxed{2\\pi}", 2, 0.0),
        ("\\boxed{x = 5}", 5, 1.0),  # a single-letter assignment: its right-hand side
        ("\\boxed{y = 2x}", 2, 0.0),
        ("\\boxed{42cm}", 42, 1.0),  # no plain number; the last number is 42, in cm
        ("\\boxed{2x}", 2, 0.0),  # ... but 2x is no number at all
        ("\\boxed{(1, 2)}", 1, 0.0),
        # boxed extraction
        ("First \\boxed{3}, finally \\boxed{5}.", 5, 1.0),
        ("\\fbox{7}", 7, 1.0),
        ("I think \\boxed{5}; the answer is 6", 6, 1.0),  # stated later: the phrase
        ("the answer is 6; no wait: \\boxed{5}", 5, 1.0),  # stated later: the box
        ("\\boxed{5} \\boxed{6", 5, 1.0),  # an unclosed box is skipped
        # phrases
        ("So the answer is 12. Then 13 more.", 12, 1.0),
        ("So the answer is 12. Then 13 more.", 13, 0.0),
        ("The answer is $42$ apples.", 42, 1.0),
        ("Final Answer: 8", 8, 1.0),
        ("**Final answer:** $1,234$", 1234, 1.0),
        ("ANSWER: 10", 10, 1.0),
        ("Answer:\n\n  17 apples", 17, 1.0),  # the next line when the phrase ends a line
        ("the answer is clearly 42", 42, 1.0),  # no number after the phrase: the last one
        # last number fallback
        ("6 * 7 = 42, so we get 42", 42, 1.0),
        ("we computed 5-3", 2, 1.0),  # an expression, not the number 3 or -3
        ("we computed 5-3", 3, 0.0),
        ("the temperature dropped to -5 overnight", -5, 1.0),
        ("total: $\\frac{3}{4}$", 0.75, 1.0),
        ("no numbers here", 0, 0.0),
        ("", 0, 0.0),
        # references
        ("0.5", ["1/2", "50%"], 1.0),
        ("0.6", ["1/2", "50%"], 0.0),
        ("3", [1, 2, 3], 1.0),
        ("42", {"answer": "42", "explanation": "6*7"}, 1.0),
        ("42", {"answer": [41, 42]}, 1.0),
        ("18", "She makes 9 * 2 = 18 dollars.\n#### 18", 1.0),  # GSM8K style
        ("0.5", "so $\\boxed{\\frac{1}{2}}$", 1.0),  # MATH style
        ("7", " 7 ", 1.0),
    ],
)
def test_golden(answer: str, reference: Any, expected: float) -> None:
    assert score(answer, reference) == expected


def test_exact_values_compare_exactly_by_default() -> None:
    assert score("1,000,000,001", 1e9) == 0.0
    assert score("1,000,000,001", "1000000001") == 1.0
    assert score("0.1", "1/10") == 1.0
    assert score("2/6", "\\frac{1}{3}") == 1.0
    assert score("0.3333333", "1/3") == 0.0
    assert score("1e-7", 0) == 0.0
    assert score("123456789012345678901234567890", "123456789012345678901234567891") == 0.0


def test_a_json_float_reference_is_a_double() -> None:
    # An answer matches a double that is not whole when it rounds to it.
    assert score("1/3", 1 / 3) == 1.0
    assert score("0.3333333333333333", 1 / 3) == 1.0
    assert score("0.3333333333", 1 / 3) == 0.0
    assert score("0.1", 0.1) == 1.0
    # A whole one is the integer written, not the double nearest to it.
    assert score("6.02e23", 6.02e23) == 1.0
    assert score("100000000000000000001", 1e20) == 0.0


def test_an_explicit_tolerance_gives_approximate_credit() -> None:
    assert score("0.3333333", 1 / 3, tolerance=1e-6) == 1.0  # |diff| ~ 3e-8 <= 1e-6
    assert score("0.333", 1 / 3, tolerance=1e-6) == 0.0
    # Relative 1e-9 of 1e9 is 1: the larger of the two tolerances applies.
    assert score("1,000,000,001", 1e9, tolerance=1e-6, relativeTolerance=1e-9) == 1.0
    assert score("1,000,000,002", 1e9, tolerance=1e-6, relativeTolerance=1e-9) == 0.0
    assert score("1,000,000,001", 1e9, relativeTolerance=1e-9) == 1.0
    assert score("1e-7", 0, tolerance=1e-6) == 1.0


def test_absolute_tolerance_edge() -> None:
    # 2.5 - 2 is exactly 0.5 in binary floating point, so the edge is exact.
    assert score("2.5", 2, tolerance=0.5) == 1.0
    assert score("1.5", 2, tolerance=0.5) == 1.0
    assert score("2.5000001", 2, tolerance=0.5) == 0.0
    assert score("2.0000001", 2, tolerance=0) == 0.0


def test_relative_tolerance_edge() -> None:
    assert score("1010", 1000, relativeTolerance=0.01) == 1.0
    assert score("1010.5", 1000, relativeTolerance=0.01) == 0.0
    assert score("-1010", -1000, relativeTolerance=0.01) == 1.0
    # Relative to the reference, not the answer: 1% of 990 would be 9.9 < 10.
    assert score("990", 1000, relativeTolerance=0.01) == 1.0


def test_zero_tolerances_are_exact() -> None:
    assert score("0.30000000000000004", 0.3) == 0.0  # another double
    assert score("0.30000000000000004", 0.3, tolerance=0, relativeTolerance=0) == 0.0
    assert score("0.3", 0.3, tolerance=0, relativeTolerance=0) == 1.0
    # Irrational values still agree within their own evaluation error.
    assert score("\\boxed{2\\sqrt{3}}", "\\sqrt{12}", tolerance=0, relativeTolerance=0) == 1.0


def test_percent_as_number() -> None:
    assert score("45%", 45, percentAsNumber=True) == 1.0
    assert score("45", "45%", percentAsNumber=True) == 1.0
    assert score("\\boxed{45\\%}", "45", percentAsNumber=True) == 1.0
    assert score("45%", 0.45, percentAsNumber=True) == 0.0
    assert score("45%", 0.45, percentAsNumber=False) == 1.0
    assert score("45", "45%", percentAsNumber=False) == 0.0


def test_extract_strategies_can_be_chosen() -> None:
    text = "answer: 3, and then \\boxed{4} and finally 5"
    assert score(text, 4) == 1.0
    assert score(text, 5, extract=["last_number"]) == 1.0
    # Boxed and phrase answers compete by position, whatever their order in the list.
    assert score(text, 4, extract=["phrase", "boxed"]) == 1.0
    assert score(text, 3, extract=["phrase"]) == 1.0
    assert score(text, 4, extract=["last_number", "boxed"]) == 0.0
    only_boxed = grade("the answer is 5", 5, extract=["boxed"])
    assert only_boxed["aggregate_reward_score"] == 0.0
    assert metrics_of(only_boxed) == {"math_answer": 0.0, "answer_extracted": 0.0}


def test_metrics() -> None:
    right = grade("\\boxed{42}", 42)
    assert right["metrics_list"] == [
        {"name": "math_answer", "value": 1.0, "type": "Reward"},
        {"name": "answer_extracted", "value": 1.0, "type": "Metric"},
    ]
    wrong = grade("\\boxed{41}", 42)
    assert metrics_of(wrong) == {"math_answer": 0.0, "answer_extracted": 1.0}
    unparseable = grade("\\boxed{x+1}", 42)
    assert unparseable["metrics_list"] == [
        {"name": "math_answer", "value": 0.0, "type": "Reward"},
        {"name": "answer_extracted", "value": 1.0, "type": "Metric"},
        {"name": "answer_unparseable", "value": 1.0, "type": "Metric"},
    ]
    nothing = grade("no idea", 42)
    assert metrics_of(nothing) == {"math_answer": 0.0, "answer_extracted": 0.0}


@pytest.mark.parametrize(
    ("reference", "shown"),
    [
        ("abc", "'abc'"),
        (True, "True"),
        ([1, "two"], "'two'"),
        ({"value": 3}, "{'value': 3}"),
        ("1/0", "'1/0'"),
    ],
)
def test_unparseable_reference_is_a_per_sample_error(reference: Any, shown: str) -> None:
    grader = grader_for()
    bad, ok = grade_batch(
        [sample_event("42", reference, "bad"), sample_event("42", 42, "ok")], grader
    )
    assert bad["aggregate_reward_score"] == 0.0
    assert bad["metrics_list"][0]["name"] == GRADER_ERROR_METRIC
    assert bad["error"] == f"ValueError: reference answer {shown} is not a number"
    assert ok["aggregate_reward_score"] == 1.0


def test_empty_reference_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty list"):
        reference_values([])
    with pytest.raises(ValueError, match=r"reference answer nan is not a number"):
        reference_values(float("nan"))


def test_reference_values() -> None:
    assert reference_values("1,234") == [Reading(Fraction(1234))]
    assert reference_values(["50%", 3]) == [Reading(Fraction(1, 2), True), Reading(Fraction(3))]
    assert reference_values(["50%"], percent_as_number=True) == [Reading(Fraction(50), True)]
    assert reference_values({"answer": "\\frac{1}{4}"}) == [Reading(Fraction(1, 4))]
    assert reference_values(0.25) == [Reading(0.25)]  # a double
    assert reference_values(2.0) == [Reading(Fraction(2))]


def test_reference_readings_are_cached_per_item_and_bounded() -> None:
    math_answer._cached_reference_reading.cache_clear()
    first = reference_values("\\frac{3}{8}")
    assert reference_values("\\frac{3}{8}") == first == [Reading(Fraction(3, 8))]
    assert math_answer._cached_reference_reading.cache_info().hits == 1
    # A list (unhashable) is read item by item; its items share the cache.
    assert reference_values(["\\frac{3}{8}", 2]) == [Reading(Fraction(3, 8)), Reading(Fraction(2))]
    assert reference_values({"answer": ["\\frac{3}{8}"]}) == [Reading(Fraction(3, 8))]
    assert math_answer._cached_reference_reading.cache_info().hits == 3
    # The same key under the other percent reading is another entry.
    assert reference_values("50%", percent_as_number=True) == [Reading(Fraction(50), True)]
    assert reference_values("50%") == [Reading(Fraction(1, 2), True)]
    # True equals 1 and hashes like it, but is no value, cached or not.
    assert reference_values(1) == [Reading(Fraction(1))]
    with pytest.raises(ValueError, match="reference answer True"):
        reference_values(True)
    # A bad reference raises every time (errors are not cached).
    for _ in range(2):
        with pytest.raises(ValueError, match="is not a number"):
            reference_values("x + 1")
    # Long references are read uncached, so the cache holds at most maxsize short keys.
    size = math_answer._cached_reference_reading.cache_info().currsize
    long_reference = "1" + " " * math_answer.MAX_CACHED_REFERENCE_CHARS
    assert reference_values(long_reference) == [Reading(Fraction(1))]
    assert math_answer._cached_reference_reading.cache_info().currsize == size
    assert (
        math_answer._cached_reference_reading.cache_info().maxsize
        == math_answer.MAX_CACHED_REFERENCES
    )


def _last_tokens_by_full_scan(text: str) -> list[tuple[int, int]]:
    """The spans `_last_tokens` must give: the scan from the lookback start, and the whole
    text when its first token starts too near that start."""
    last_digit = max(map(text.rfind, "0123456789"))
    start = max(0, last_digit - math_answer._TOKEN_LOOKBACK)
    tokens = list(math_answer._TOKEN_RE.finditer(text, start))[-2:]
    if start and (not tokens or tokens[0].start() < start + math_answer._TOKEN_MARGIN):
        tokens = list(math_answer._TOKEN_RE.finditer(text))[-2:]
    return [token.span() for token in tokens]


@pytest.mark.parametrize(
    "text",
    [
        'values: 9678 6948 9947 5984 8225 541\n\n```json\n{"answer": 2440, "steps": '
        '["multiply boxes by pens (674)"]}\n```',
        "x" * 50 + "1,234,567,891,234,567,891,234,567,891,234,567,891 and then 5",
        "a " * 40 + "12 percent of 1.5 \u00d7 10^{3} is 18, then 4 \u2009 200",
        "the totals: " + " ".join(str(n) for n in range(100, 160)) + " end",
        "nothing but words, 42",
    ],
)
def test_last_tokens_shortcut_agrees_with_the_full_scan(text: str) -> None:
    assert [t.span() for t in math_answer._last_tokens(text)] == _last_tokens_by_full_scan(text)


@settings(max_examples=300)
@given(st.text(alphabet='0123456789 ,./-+e%x^{}()ab:"=\n\u2009', max_size=200))
def test_last_tokens_shortcut_agrees_with_the_full_scan_on_any_text(text: str) -> None:
    assert [t.span() for t in math_answer._last_tokens(text)] == _last_tokens_by_full_scan(text)


def test_extraction() -> None:
    assert extract_answer("\\boxed{a{b}c} then \\boxed{\\{1\\}}") == "\\{1\\}"
    assert extract_answer("\\boxed {7}") == "7"
    assert extract_answer("\\boxed{3\\}}") == "3\\}"  # an escaped brace does not count
    assert extract_answer("the final answer is: 9.\nchecked.") == "9."
    assert extract_answer("x = 1, y = -2") == "-2"
    assert extract_answer("letters only") is None
    assert extract_answer("answer: 1", ("boxed",)) is None


def test_only_the_tail_is_scanned() -> None:
    early = "\\boxed{1}" + " " * MAX_SCAN_CHARS
    assert extract_answer(early) is None
    assert extract_answer("\\boxed{1}" + " " * (MAX_SCAN_CHARS - 20)) == "1"


def test_parse_number_edges() -> None:
    assert parse_number("1e999") == 10**999  # exact
    assert parse_number("1e1000") is None  # beyond MAX_EXPONENT
    assert parse_number("42 apples.") == 42.0
    assert parse_number("2 \u03c0") is None
    assert parse_number("3i") is None
    assert parse_number("1 2") is None
    assert parse_number("12 345 678") == 12345678.0
    assert parse_number("1,234 567") is None  # mixed separators
    assert parse_number("--3") is None


# --- spec validation ----------------------------------------------------------------------


def problems(**options: Any) -> list[tuple[str, str]]:
    return spec_problems({"type": "math_answer", **options})


def test_valid_specs() -> None:
    assert problems() == []
    assert (
        problems(
            extract=["last_number", "boxed"],
            tolerance=0,
            relativeTolerance=0.5,
            percentAsNumber=True,
        )
        == []
    )


def test_wrong_type() -> None:
    assert spec_problems({"type": "exact_match"}) == [
        ("type", "got 'exact_match'; allowed: math_answer")
    ]


def test_unknown_key_has_a_hint() -> None:
    assert problems(tolerence=1) == [
        (
            "tolerence",
            "unknown key (did you mean 'tolerance'?); allowed keys: type, extract, tolerance, "
            "relativeTolerance, percentAsNumber",
        )
    ]
    [(key, message)] = problems(zzz=1)
    assert key == "zzz" and message.startswith("unknown key; allowed keys: ")


@pytest.mark.parametrize("key", ["tolerance", "relativeTolerance"])
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True"),
        ("0.1", "'0.1'"),
        (-1, "-1"),
        (-1e-12, "-1e-12"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (None, "None"),
        ([0.1], "[0.1]"),
    ],
)
def test_bad_tolerances(key: str, value: object, shown: str) -> None:
    assert problems(**{key: value}) == [(key, f"got {shown}; allowed: a finite number >= 0")]


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_percent_as_number_must_be_a_bool(value: object) -> None:
    assert problems(percentAsNumber=value) == [
        ("percentAsNumber", f"got {value!r}; allowed: true, false")
    ]


@pytest.mark.parametrize("value", ["boxed", [], None, {"boxed": True}])
def test_extract_must_be_a_non_empty_list(value: object) -> None:
    assert problems(extract=value) == [
        ("extract", f"got {value!r}; allowed: a non-empty list of boxed, phrase, last_number")
    ]


def test_extract_items() -> None:
    assert problems(extract=["boxed", "regex", 3, "boxed", "phrase"]) == [
        ("extract[1]", "got 'regex'; allowed: boxed, phrase, last_number"),
        ("extract[2]", "got 3; allowed: boxed, phrase, last_number"),
        ("extract[3]", "duplicate strategy 'boxed'"),
    ]


def test_every_problem_is_reported_at_once() -> None:
    spec = {
        "type": "math_answer",
        "extract": ["boxd"],
        "tolerance": -1,
        "relativeTolerance": False,
        "percentAsNumber": "no",
        "precision": 3,
    }
    assert spec_problems(spec) == [
        (
            "precision",
            "unknown key; allowed keys: type, extract, tolerance, relativeTolerance, "
            "percentAsNumber",
        ),
        ("extract[0]", "got 'boxd'; allowed: boxed, phrase, last_number"),
        ("tolerance", "got -1; allowed: a finite number >= 0"),
        ("relativeTolerance", "got False; allowed: a finite number >= 0"),
        ("percentAsNumber", "got 'no'; allowed: true, false"),
    ]


# --- properties ---------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Pieces of the syntax the parser knows, so that random answers reach its branches.
pieces = st.sampled_from(
    [
        "\\boxed{",
        "\\fbox{",
        "{",
        "}",
        "\\frac",
        "\\dfrac",
        "\\left(",
        "\\right)",
        "\\text{",
        "\\,",
        "\\%",
        "$",
        "1",
        "23",
        "456",
        "0.5",
        ",",
        " ",
        "\u2009",
        "/",
        "%",
        "-",
        "\u2212",
        "+",
        "e",
        "E-",
        "\u00d7",
        "10^",
        "^\\circ",
        ".",
        "answer:",
        "The answer is",
        "final answer is",
        "\n",
        "(",
        ")",
        "\\",
        "\u03c0",
        "percent",
        "apples",
        "####",
        # the symbolic parser and the last-number scan
        "\\sqrt",
        "\\sqrt[3]",
        "\\pi",
        "\\infty",
        "\\cup",
        "\\{",
        "\\}",
        "^",
        "^{",
        "[",
        "]",
        "x",
        "x = ",
        "=",
        " or ",
        " and ",
        "m^2",
        "\\(",
        "\\[",
        "$$",
        "2\\sqrt{3}",
        "\u221a",
    ]
)
answers = st.lists(pieces, max_size=30).map("".join) | st.text(max_size=200)
references = answers | json_values
specs = st.fixed_dictionaries(
    {"type": st.just("math_answer")},
    optional={
        "extract": st.lists(
            st.sampled_from(["boxed", "phrase", "last_number"]), min_size=1, max_size=3, unique=True
        ),
        "tolerance": st.floats(0, 10) | st.integers(0, 10),
        "relativeTolerance": st.floats(0, 1),
        "percentAsNumber": st.booleans(),
    },
)


@settings(max_examples=500)
@given(answer=answers, reference=references, spec=specs)
def test_only_a_bad_reference_raises(answer: str, reference: Any, spec: dict[str, Any]) -> None:
    assert spec_problems(spec) == []
    [sample] = parse_event([sample_event(answer, reference)])
    assume(sample.error is None)
    percent_as_number = spec.get("percentAsNumber", False)
    try:
        output = build(spec)(sample)
    except ValueError as exc:
        assert str(exc).startswith("reference answer ")
        with pytest.raises(ValueError):
            reference_values(reference, percent_as_number=percent_as_number)
        return
    reference_values(reference, percent_as_number=percent_as_number)  # must not raise
    score, metrics = output
    assert score in (0.0, 1.0)
    assert metrics[0] == {"name": "math_answer", "value": score, "type": "Reward"}
    [result] = grade_batch(sample_event(answer, reference), build(spec))
    assert "error" not in result
    assert 0.0 <= result["aggregate_reward_score"] <= 1.0


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_spellings_round_trip(x: float) -> None:
    assert score(repr(x), x) == 1.0
    assert score(f"The answer is $\\boxed{{{x:,}}}$.", x) == 1.0
    assert score(f"so we get {x}", repr(x)) == 1.0


@given(st.integers(-(10**30), 10**30))
def test_integer_spellings_round_trip(n: int) -> None:
    assert score(f"{n:,}", n) == 1.0
    spaced = f"{n:,}".replace(",", " ")
    assert score(f"\\boxed{{{spaced}}}", str(n)) == 1.0
    assert score(f"the answer is {spaced}", str(n)) == 1.0
    assert score(f"\\boxed{{{n}}}", n + 1) == 0.0  # exact at any size


@given(st.integers(0, 10**6), st.integers(1, 10**6))
def test_fraction_spellings_agree(a: int, b: int) -> None:
    expected = a / b
    for text in (f"{a}/{b}", f"\\frac{{{a}}}{{{b}}}", f"\\dfrac{{{a}}}{{{b}}}"):
        assert score(f"\\boxed{{{text}}}", expected) == 1.0, text
