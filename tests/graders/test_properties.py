"""Property tests: no event, however strange, breaks the grader contract."""

import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rft_env.graders.contract import Sample, grade_batch, parse_event
from rft_env.graders.exact_match import normalize
from rft_env.graders.registry import build_grader

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

# Arbitrary JSON rarely reaches the grader, so also build samples that are valid or nearly
# so: well-formed samples, and samples where each field may be missing or arbitrary.
text_parts = st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image"]), "text": st.text()}),
    max_size=3,
)
good_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant"]), "content": st.text() | text_parts}
    ),
    min_size=1,
    max_size=3,
)
references = st.text(max_size=10) | json_values
valid_samples = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=8),
        "messages": good_messages,
        "metadata": st.fixed_dictionaries({"reference_answer": references}),
    }
)
near_valid_samples = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=8) | json_values,
        "messages": good_messages | st.lists(json_values, max_size=3) | json_values,
        "metadata": st.fixed_dictionaries({}, optional={"reference_answer": references})
        | json_values,
        "reference_answer": json_values,
    },
)
samples = valid_samples | near_valid_samples
events = st.lists(samples | json_values, max_size=6) | samples | json_values

specs = st.fixed_dictionaries(
    {"type": st.just("exact_match")},
    optional={
        "operation": st.sampled_from(["eq", "ne", "contains", "regex"]),
        "caseSensitive": st.booleans(),
        "normalizeWhitespace": st.booleans(),
        "ignorePunctuation": st.booleans(),
        "answerFrom": st.sampled_from(["full", "last_line"]),
    },
)


def expected_ids(event: object) -> list[object]:
    if isinstance(event, dict):
        event = [event]
    if not isinstance(event, list):
        return []
    return [
        raw["id"] if isinstance(raw, dict) and raw.get("id") is not None else f"#{i}"
        for i, raw in enumerate(event)
    ]


def is_strict_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


def check_results(event: object, results: list[dict[str, Any]]) -> None:
    ids = expected_ids(event)
    assert len(results) == len(ids)
    # Bedrock parses the reply as JSON, which has no NaN or Infinity.
    json.dumps(results, allow_nan=False)
    for result, expected_id in zip(results, ids, strict=True):
        if is_strict_json(expected_id):
            assert result["id"] == expected_id
        else:  # an id holding NaN or +-Infinity comes back as its JSON text
            assert isinstance(result["id"], str)
        score = result["aggregate_reward_score"]
        assert type(score) is float
        assert math.isfinite(score) and 0.0 <= score <= 1.0
        for metric in result["metrics_list"]:
            assert isinstance(metric["name"], str) and metric["name"]
            assert type(metric["value"]) is float and math.isfinite(metric["value"])
            assert metric["type"] in ("Reward", "Metric")
        if "error" in result:
            assert score == 0.0
            assert isinstance(result["error"], str) and result["error"]


@settings(max_examples=300)
@given(event=events, spec=specs)
def test_exact_match_batch_never_breaks_contract(event: object, spec: dict[str, Any]) -> None:
    check_results(event, grade_batch(event, build_grader(spec)))


@settings(max_examples=300)
@given(event=events, outputs=st.lists(json_values | st.tuples(json_values, json_values)))
def test_misbehaving_grader_never_breaks_contract(event: object, outputs: list[Any]) -> None:
    """A grader returning garbage or raising is contained per sample."""
    remaining = list(outputs)

    def grader(sample: Sample) -> Any:
        if not remaining:
            raise RuntimeError("out of outputs")
        return remaining.pop()

    check_results(event, grade_batch(event, grader))


@given(event=events)
def test_valid_samples_reach_grader_with_text_answers(event: object) -> None:
    seen: list[Sample] = []

    def grader(sample: Sample) -> float:
        seen.append(sample)
        return 1.0

    results = grade_batch(event, grader)
    valid = [s for s in parse_event(event) if s.error is None]
    assert [s.index for s in seen] == [s.index for s in valid]
    for s in seen:
        assert isinstance(s.id, str) and s.id
        assert isinstance(s.answer_text, str)
        assert s.reference is not None
        assert results[s.index]["aggregate_reward_score"] == 1.0


contains_options = st.fixed_dictionaries(
    {},
    optional={
        "caseSensitive": st.booleans(),
        "normalizeWhitespace": st.booleans(),
        "ignorePunctuation": st.booleans(),
    },
)
# Text rich in what token boundaries and number punctuation care about.
token_text = st.text(alphabet="ab1-2.,3 _北京é\n", max_size=20)


def contains_score(answer: str, reference: str, options: dict[str, Any]) -> dict[str, Any]:
    grader = build_grader({"type": "exact_match", "operation": "contains", **options})
    event = {"id": "s", "messages": [{"content": answer}], "reference_answer": reference}
    [result] = grade_batch(event, grader)
    return result


@settings(max_examples=300)
@given(answer=token_text, reference=token_text, options=contains_options)
def test_contains_credit_implies_the_reference_is_a_substring(
    answer: str, reference: str, options: dict[str, Any]
) -> None:
    """Whole-token matching only ever takes credit away from plain substring matching."""
    norm = normalize_for(options)
    result = contains_score(answer, reference, options)
    if result["aggregate_reward_score"] == 1.0:
        assert norm(reference) and norm(reference) in norm(answer)


@settings(max_examples=300)
@given(text=token_text, options=contains_options)
def test_an_answer_contains_itself(text: str, options: dict[str, Any]) -> None:
    result = contains_score(text, text, options)
    if normalize_for(options)(text):
        assert result["aggregate_reward_score"] == 1.0
    else:  # an empty reference would match everything: that sample fails
        assert "is empty after normalisation" in result["error"]


def normalize_for(options: dict[str, Any]) -> Callable[[str], str]:
    def norm(text: str) -> str:
        return normalize(
            text,
            case_sensitive=options.get("caseSensitive", False),
            normalize_whitespace=options.get("normalizeWhitespace", True),
            ignore_punctuation=options.get("ignorePunctuation", False),
        )

    return norm
