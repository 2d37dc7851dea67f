from typing import Any

import pytest

from rft_env.graders.contract import GraderSpecError, parse_event
from rft_env.graders.registry import GRADER_TYPES, build_grader, spec_problems


def problems_for(**spec: Any) -> list[tuple[str, str]]:
    return spec_problems({"type": "exact_match", **spec})


KNOWN = ", ".join(sorted(GRADER_TYPES))


def test_known_types() -> None:
    assert sorted(GRADER_TYPES) == [
        "composite",
        "custom",
        "exact_match",
        "format",
        "json_format",
        "llm_judge",
        "math_answer",
        "text_similarity",
    ]


@pytest.mark.parametrize("spec", [None, "exact_match", ["exact_match"], 3])
def test_spec_must_be_an_object(spec: object) -> None:
    [(key, message)] = spec_problems(spec)
    assert key == ""
    assert message.startswith("grader spec must be an object with a 'type' key, got ")


def test_missing_type_lists_known_types() -> None:
    assert spec_problems({}) == [("type", f"missing; allowed: {KNOWN}")]


@pytest.mark.parametrize(("type_name", "shown"), [("fuzzy", "'fuzzy'"), (3, "3"), (None, "None")])
def test_unknown_type_lists_known_types(type_name: object, shown: str) -> None:
    assert spec_problems({"type": type_name}) == [("type", f"got {shown}; allowed: {KNOWN}")]


def test_bad_operation_message() -> None:
    assert problems_for(operation="equals") == [
        ("operation", "got 'equals'; allowed: eq, ne, contains, regex")
    ]


def test_bad_answer_from_message() -> None:
    assert problems_for(answerFrom="first_line") == [
        ("answerFrom", "got 'first_line'; allowed: full, last_line")
    ]


@pytest.mark.parametrize("key", ["caseSensitive", "normalizeWhitespace", "ignorePunctuation"])
@pytest.mark.parametrize(
    ("value", "shown"), [(0, "0"), (1, "1"), ("true", "'true'"), (None, "None")]
)
def test_bools_must_be_real_bools(key: str, value: object, shown: str) -> None:
    assert problems_for(**{key: value}) == [(key, f"got {shown}; allowed: true, false")]


def test_pattern_must_be_a_string() -> None:
    assert problems_for(operation="regex", pattern=5) == [
        ("pattern", "got 5; allowed: a regex string")
    ]


def test_pattern_without_regex_operation_is_a_problem() -> None:
    [(key, message)] = problems_for(pattern="a+")
    assert key == "pattern"
    assert "only used when operation is 'regex'" in message
    assert "'eq'" in message


def test_unknown_key_suggests_close_match() -> None:
    [(key, message)] = problems_for(casesensitive=True)
    assert key == "casesensitive"
    assert "unknown key (did you mean 'caseSensitive'?)" in message
    assert "allowed keys: type, operation, caseSensitive" in message


def test_unknown_key_without_close_match() -> None:
    [(key, message)] = problems_for(zzz=1)
    assert key == "zzz"
    assert message.startswith("unknown key; allowed keys: ")


def test_several_problems_are_reported_together() -> None:
    problems = problems_for(
        operation="equals", caseSensitive="no", answerFrom=1, extra=True, pattern="("
    )
    assert sorted(key for key, _ in problems) == [
        "answerFrom",
        "caseSensitive",
        "extra",
        "operation",
        "pattern",
        "pattern",  # both "does not compile" and "not used with this operation"
    ]


def test_build_grader_raises_with_all_problems() -> None:
    with pytest.raises(GraderSpecError) as info:
        build_grader({"type": "exact_match", "operation": "x", "ignorePunctuation": 1})
    assert [key for key, _ in info.value.problems] == ["operation", "ignorePunctuation"]
    assert str(info.value).startswith("invalid grader spec: operation: got 'x'")


def test_build_grader_rejects_non_object() -> None:
    with pytest.raises(GraderSpecError, match="must be an object"):
        build_grader("exact_match")


def test_build_grader_returns_working_grader() -> None:
    grader = build_grader({"type": "exact_match"})
    [sample] = parse_event({"id": "a", "messages": [{"content": "x"}], "reference_answer": "X"})
    assert grader(sample) == (1.0, [{"name": "exact_match", "value": 1.0, "type": "Reward"}])
