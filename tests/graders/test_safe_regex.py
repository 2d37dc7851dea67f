"""The ReDoS check every pattern from a spec or a reference passes through."""

import re

import pytest

from rft_env.graders.safe_regex import (
    UnsafePatternError,
    backtracking_problem,
    compile_pattern,
)

# Each backtracks exponentially in Python's `re` on a near-miss input.
CATASTROPHIC = [
    r"^(a+)+$",  # the red-team run's: 14-16 s against "a" * 28 + "b"
    r"^(\w+\s?)*$",  # the red-team run's: past 30 s against a 53-character answer
    r"(a|a)*",  # the parser folds it into a(?:|): two empty branches
    r"(a*)*",
    r"(.*a){20}",
    r"(\d+\d+)*",
    r"(?:a|aa)+b",
    r"(x+x+)+y",
    r"^(([a-z])+.)+[A-Z]([a-z])+$",
    r"(\d{1,3},?){1,100}$",
    r"((ab)*|a)+c",
    r"(?i)(?:A|a|aa)+!",
]

# Patterns users write, which run in linear time: none may be refused.
SAFE = [
    r"(\d+,)*\d+",
    r"^\d{3}-\d{4}$",
    r"(foo|bar)+",
    r"<think>.*?</think>",
    r"\\boxed\{[^{}]*\}",
    r"(?:\s*\w+\s*,)*",
    r"^[A-Z][a-z]+( [A-Z][a-z]+)*$",
    r"(a++)+",  # possessive: never gives characters back
    r"(?>a+)+b",  # atomic
    r"^\s*\{.*\}\s*$",
    r"\b\d+(\.\d+)?\b",
    r"^(?:[a-z0-9-]+\.)+[a-z]{2,}$",
    r"(ab|a)*c",  # folded into a(?:b|): the branches never start alike
    r"(\w|\d)+",  # folded into one character class
    r"(?:yes|no)(, (?:yes|no))*",
    r"^-?\d+(\.\d+)?$",
    r"(?s)<think>.*</think>\s*\S",
    r"(a+){2}",  # two rounds at most: polynomial, left to the time budget
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_catastrophic_pattern_is_refused_with_a_reason(pattern: str) -> None:
    problem = backtracking_problem(pattern)
    assert problem is not None
    assert "exponential time" in problem
    with pytest.raises(UnsafePatternError, match="refused"):
        compile_pattern(pattern)


@pytest.mark.parametrize("pattern", SAFE)
def test_a_linear_pattern_is_accepted(pattern: str) -> None:
    assert backtracking_problem(pattern) is None
    assert compile_pattern(pattern).pattern == pattern


def test_flags_are_honoured() -> None:
    # Case-insensitively, A and a are the same character: the branches match alike.
    assert backtracking_problem(r"(?:Ab|ab)+$") is None
    assert backtracking_problem(r"(?:Ab|ab)+$", re.IGNORECASE) is not None
    assert backtracking_problem(r"(?i)(?:Ab|ab)+$") is not None
    assert compile_pattern(r"abc", re.IGNORECASE).match("ABC")


@pytest.mark.parametrize("pattern", ["((", "a{2,1}", "(?P<x>a)(?P=y)"])
def test_an_invalid_pattern_gets_the_compilers_message(pattern: str) -> None:
    problem = backtracking_problem(pattern)
    assert problem is not None and problem.startswith("not a valid regular expression: ")
    with pytest.raises(ValueError):
        compile_pattern(pattern)
