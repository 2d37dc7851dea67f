"""The symbolic parser and evaluator behind math_answer (graders/math_expr.py)."""

import contextlib
import math
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft_env.graders.math_expr import (
    EXPRESSION_REACH,
    INFINITY,
    ExpressionError,
    FiniteSet,
    Interval,
    IntervalUnion,
    OrderedTuple,
    equivalent,
    expression_bounds,
    parse_value,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\sqrt{16}", Fraction(4)),
        ("\\sqrt{\\frac{9}{4}}", Fraction(3, 2)),
        ("\\sqrt[3]{27}", Fraction(3)),
        ("\\sqrt[3]{-8}", Fraction(-2)),
        ("8^{1/3}", Fraction(2)),
        ("4^{-1/2}", Fraction(1, 2)),
        ("2^{10}", Fraction(1024)),
        ("10^{6}", Fraction(10**6)),
        ("2^3^2", Fraction(512)),  # right-associative
        ("-2^2", Fraction(-4)),
        ("2^-1", Fraction(1, 2)),
        ("3(4)", Fraction(12)),
        ("(1+2)(3+4)", Fraction(21)),
        ("\\frac12", Fraction(1, 2)),
        ("\\frac{1}{3} + \\frac{1}{6}", Fraction(1, 2)),
        ("6 \\div 4", Fraction(3, 2)),
        ("2 \u00d7 3 \u00b7 4", Fraction(24)),
        ("x = 5", Fraction(5)),
        ("y = \\sqrt{4}", Fraction(2)),
        ("1.5e3", Fraction(1500)),
        ("{{7}}", Fraction(7)),
        ("[2]", Fraction(2)),
    ],
)
def test_exact_values(text: str, expected: Fraction) -> None:
    value = parse_value(text)
    assert isinstance(value, Fraction)  # exact: no rounding anywhere
    assert value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\sqrt{2}", math.sqrt(2)),
        ("2\\sqrt{3}", 2 * math.sqrt(3)),
        ("\\frac{\\pi}{2}", math.pi / 2),
        ("\\pi", math.pi),
        ("\u03c0", math.pi),
        ("e", math.e),
        ("2^{0.5}", math.sqrt(2)),
        ("\\sqrt2\\sqrt3", math.sqrt(6)),
        ("\u221a2", math.sqrt(2)),
        ("\\frac{1+\\sqrt{5}}{2}", (1 + math.sqrt(5)) / 2),
        ("2\\frac{\\sqrt{3}}{2}", math.sqrt(3)),  # a product: no mixed number has a radical
    ],
)
def test_irrational_values_are_decimals_to_sixty_digits(text: str, expected: float) -> None:
    value = parse_value(text)
    assert isinstance(value, Decimal)
    assert len(value.as_tuple().digits) >= 59
    assert float(value) == pytest.approx(expected, rel=1e-15)


def test_equal_radicals_agree_far_beyond_double_precision() -> None:
    difference = parse_value("2\\sqrt{3}") - parse_value("\\sqrt{12}")  # type: ignore[operator]
    assert abs(difference) < Decimal("1e-55")
    pi_digits = "3.14159265358979323846264338327950288419716939937510582097494"
    assert str(parse_value("\\pi")).startswith(pi_digits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[0, 1)", Interval(Fraction(0), Fraction(1), True, False)),
        ("(0, 1]", Interval(Fraction(0), Fraction(1), False, True)),
        ("[-1, 1]", Interval(Fraction(-1), Fraction(1), True, True)),
        ("(-\\infty, 2]", Interval(-INFINITY, Fraction(2), False, True)),
        ("[0, \\infty)", Interval(Fraction(0), INFINITY, True, False)),
        ("[0, \u221e]", Interval(Fraction(0), INFINITY, True, False)),  # infinity is never in
        ("(1, 2)", OrderedTuple((Fraction(1), Fraction(2)))),
        ("(1, 2, 3)", OrderedTuple((Fraction(1), Fraction(2), Fraction(3)))),
        ("\\{1, 2\\}", FiniteSet((Fraction(1), Fraction(2)))),
        ("{3, 4}", FiniteSet((Fraction(3), Fraction(4)))),
        ("1, 2", FiniteSet((Fraction(1), Fraction(2)))),
        ("\\emptyset", FiniteSet(())),
        ("\\{\\}", FiniteSet(())),
        (
            "[0, 1) \\cup (2, 3]",
            IntervalUnion(
                (
                    Interval(Fraction(0), Fraction(1), True, False),
                    Interval(Fraction(2), Fraction(3), False, True),
                )
            ),
        ),
    ],
)
def test_structures(text: str, expected: object) -> None:
    assert parse_value(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x + 1", "free variable 'x'"),
        ("2x", "free variable 'x'"),
        ("y = 2x", "free variable 'x'"),
        ("42cm", "free variable 'c'"),
        ("42 41", "unexpected '41'"),  # no implicit product of two numbers
        ("2\\frac{1}{2}", "ambiguous"),  # mixed number 2 1/2, or 2 x 1/2?
        ("-[0,1)", "arithmetic on an interval"),
        ("2(1, 2)", "arithmetic on an interval"),
        ("\\infty + 1", "arithmetic with infinity"),
        ("1/0", "division by zero"),
        ("0^{-1}", "zero to a power"),
        ("\\sqrt{-1}", "not real"),
        ("(-8)^{1/2}", "not real"),
        ("\\log 2", "unexpected '\\\\log'"),
        ("\\pm 2", "unexpected '\\\\pm'"),
        ("[2, 1]", "lower end is above"),
        ("(1]", "two endpoints"),
        ("[1, 2, 3)", "mismatched"),
        ("(1, 2", "unexpected end"),
        ("[0,1) \\cup 5", "joins intervals only"),
        ("\\sqrt[0]{2}", "positive integer"),
        ("\\sqrt[1/2]{2}", "positive integer"),
        ("#", "unexpected '#'"),
        ("", "unexpected end"),
        ("9^{9^{9^9}}", "Overflow"),
        ("(" * 50 + "1" + ")" * 50, "nested too deeply"),
        ("-" * 2000 + "1", "nested too deeply"),
        ("1, " * 70 + "1", "too many items"),
    ],
)
def test_not_values(text: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(reason)):
        parse_value(text)


def test_huge_powers_stay_bounded() -> None:
    # Exact up to MAX_EXACT_BITS, then 60-digit decimals: never a million-digit integer.
    assert parse_value("2^{100}") == Fraction(2**100)
    big = parse_value("2^{20000}")
    assert isinstance(big, Decimal) and big.adjusted() == 6020
    with pytest.raises(ExpressionError, match="Overflow"):
        parse_value("2^{100000}")  # past the exponent range: no value


def exact_match(a: object, b: object) -> bool:
    return a == b


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("[0, 1)", "[0,1)", True),
        ("(0, 1)", "[0, 1)", False),  # openness matters
        ("[0, 2)", "[0, 1)", False),
        ("(1, 2)", "(1, 2)", True),
        ("(2, 1)", "(1, 2)", False),  # tuples keep their order
        ("(1, 2, 3)", "(1, 2, 3)", True),
        ("(1, 2, 3)", "(1, 3, 2)", False),
        ("(1, 2)", "(1, 2, 3)", False),
        ("\\{2, 1\\}", "\\{1, 2\\}", True),  # sets do not
        ("2, 1", "\\{1, 2\\}", True),
        ("\\{1, 1, 2\\}", "\\{1, 2\\}", True),
        ("\\{1, 3\\}", "\\{1, 2\\}", False),
        ("\\{1\\}", "\\{1, 2\\}", False),
        ("(1, 2)", "\\{1, 2\\}", False),
        ("(3, 5)", "(3,5)", True),
        ("(-\\infty, 0)", "(-\\infty, 0)", True),
        ("(-\\infty, 0)", "(-\\infty, 1)", False),
        ("(0, \\infty)", "(0, 1)", False),
        ("(2, 3] \\cup [0, 1)", "[0, 1) \\cup (2, 3]", True),
        ("[0, 1) \\cup (2, 3)", "[0, 1) \\cup (2, 3]", False),
        ("[0, 1)", "1", False),
        ("1", "[0, 1)", False),
        ("\\{(1, 2), (3, 4)\\}", "\\{(3, 4), (1, 2)\\}", True),
    ],
)
def test_equivalence(answer: str, reference: str, expected: bool) -> None:
    assert equivalent(parse_value(answer), parse_value(reference), exact_match) is expected


def test_equivalence_uses_the_given_real_comparison() -> None:
    def loose(a: object, b: object) -> bool:
        return abs(float(a) - float(b)) <= 0.5  # type: ignore[arg-type]

    assert equivalent(parse_value("[0, 1.2)"), parse_value("[0, 1)"), loose)
    assert not equivalent(parse_value("[0, 1.2)"), parse_value("[0, 1)"), exact_match)
    assert equivalent(Fraction(1), 1.25, loose)  # a JSON float reference is a real too


@settings(max_examples=300)
@given(st.text(alphabet="0123456789+-*/^()[]{},=.x\\ sqrtfacpinfy\u221a\u03c0", max_size=40))
def test_any_text_is_a_value_or_an_expression_error(text: str) -> None:
    with contextlib.suppress(ExpressionError):
        parse_value(text)


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_fractions_are_exact(a: int, b: int) -> None:
    assert parse_value(f"\\frac{{{a}}}{{{b}}}") == Fraction(a, b)
    assert parse_value(f"{a}/{b}") == Fraction(a, b)


@pytest.mark.parametrize(
    ("text", "number", "expression"),
    [
        ("So the diagonal is 4\\sqrt{2}.", "2", "4\\sqrt{2}"),
        ("So the diagonal is 4 \\sqrt{2}.", "2", "4 \\sqrt{2}"),
        ("Thus, 4\\sqrt{2}, which we wanted", "2", "4\\sqrt{2}"),
        ("the sum is 2 + \\sqrt{3} here", "3", "2 + \\sqrt{3}"),
        ("so x = 2\\sqrt{3}", "3", "2\\sqrt{3}"),  # a relation ends it
        ("the set is -[0,1)", "1", "-[0,1)"),
        ("the point (1, 2) lies on it", "2", "(1, 2)"),
        ("(which is 42) in total", "42", "42"),  # a bracket closed outside is not its own
        ("we computed 5-3", "3", "5-3"),
        ("the product 6 * 7", "7", "6 * 7"),
        ("the numbers 3 4\\sqrt{2}", "2", "4\\sqrt{2}"),  # not across two numbers
        ("it is 2pi", "2", "2pi"),  # a spelt-out constant is maths
        ("it is 42cm long", "42", "42"),  # a unit is not
    ],
)
def test_expression_bounds(text: str, number: str, expression: str) -> None:
    start = text.rindex(number)
    left, right = expression_bounds(text, start, start + len(number))
    assert text[left:right] == expression


def test_expression_bounds_reach_is_bounded() -> None:
    text = "+".join(["1"] * 1000)
    left, right = expression_bounds(text, 999, 1000)
    assert 999 - left <= EXPRESSION_REACH and right - 1000 <= EXPRESSION_REACH
