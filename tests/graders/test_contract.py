import math
import time
from typing import Any

import pytest

from rft_env.graders import contract
from rft_env.graders.contract import (
    GRADER_ERROR_METRIC,
    INVALID_SAMPLE_METRIC,
    MAX_ANSWER_CHARS,
    MAX_ERROR_CHARS,
    GraderOutput,
    GraderSpecError,
    Sample,
    clamp_score,
    grade_batch,
    grade_sample,
    parse_event,
)


def sample(sid: object = "s-1", answer: Any = "42", reference: Any = "42") -> dict[str, Any]:
    return {
        "id": sid,
        "messages": [{"role": "user", "content": "7*6?"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference, "task_id": "t-17"},
    }


def echo_grader(s: Sample) -> GraderOutput:
    """Scores 1.0 when the answer equals the stringified reference."""
    return 1.0 if s.answer_text == str(s.reference) else 0.0


def assert_invalid(result: dict[str, Any], expected_id: object, reason_part: str) -> None:
    assert result["id"] == expected_id
    assert result["aggregate_reward_score"] == 0.0
    assert result["metrics_list"] == [
        {"name": INVALID_SAMPLE_METRIC, "value": 1.0, "type": "Metric"}
    ]
    assert reason_part in result["error"]


def test_valid_sample_result_shape() -> None:
    assert grade_batch([sample()], echo_grader) == [
        {"id": "s-1", "aggregate_reward_score": 1.0, "metrics_list": []}
    ]


def test_parse_valid_sample_fields() -> None:
    [s] = parse_event([sample()])
    assert s == Sample(
        index=0,
        id="s-1",
        messages=sample()["messages"],
        answer_text="42",
        reference="42",
        metadata={"reference_answer": "42", "task_id": "t-17"},
        error=None,
    )


def test_single_dict_event_is_a_batch_of_one() -> None:
    assert grade_batch(sample("only"), echo_grader) == [
        {"id": "only", "aggregate_reward_score": 1.0, "metrics_list": []}
    ]


@pytest.mark.parametrize("event", [None, 3, 2.5, "text", True])
def test_non_list_non_dict_event_yields_no_results(event: object) -> None:
    assert grade_batch(event, echo_grader) == []


def test_wrapped_event_dict_is_treated_as_one_sample() -> None:
    # The contract is list-or-sample; a {"samples": [...]} wrapper is a malformed sample.
    [result] = grade_batch({"samples": [sample()]}, echo_grader)
    assert_invalid(result, "#0", "id is missing")


def test_mixed_batch_keeps_order_and_ids() -> None:
    event = [
        sample("a"),
        "not a sample",
        sample("b", answer="41"),
        {"id": "c", "messages": []},
        sample(7),
        sample("d"),
    ]
    results = grade_batch(event, echo_grader)
    assert [r["id"] for r in results] == ["a", "#1", "b", "c", 7, "d"]
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert ["error" in r for r in results] == [False, True, False, True, True, False]


@pytest.mark.parametrize(
    ("raw", "expected_id", "reason"),
    [
        ("text", "#0", "sample must be an object, got string"),
        ([sample()], "#0", "sample must be an object, got array"),
        (None, "#0", "got null"),
        ({k: v for k, v in sample().items() if k != "id"}, "#0", "id is missing"),
        ({**sample(), "id": None}, "#0", "id is missing"),
        (sample(12), 12, "id must be a non-empty string, got number"),
        (sample(["x"]), ["x"], "got array"),
        (sample(""), "", "id must be a non-empty string"),
        ({**sample(), "messages": "hi"}, "s-1", "messages must be an array, got string"),
        ({k: v for k, v in sample().items() if k != "messages"}, "s-1", "got null"),
        ({**sample(), "messages": []}, "s-1", "messages is empty"),
        ({**sample(), "messages": ["42"]}, "s-1", "last message must be an object"),
        ({**sample(), "messages": [{"role": "assistant"}]}, "s-1", "content must be a string"),
        (sample(answer=42), "s-1", "content must be a string"),
        (sample(answer=[{"type": "text", "text": 4}]), "s-1", "array of text parts"),
        (sample(answer=["42"]), "s-1", "array of text parts"),
        (sample(reference=None), "s-1", "reference_answer is missing"),
        ({**sample(), "metadata": "oops"}, "s-1", "reference_answer is missing"),
        (sample(answer="x" * (MAX_ANSWER_CHARS + 1)), "s-1", "answer is too long"),
    ],
)
def test_malformed_samples(raw: object, expected_id: object, reason: str) -> None:
    called: list[Sample] = []

    def grader(s: Sample) -> float:
        called.append(s)
        return 1.0

    [result] = grade_batch([raw], grader)
    assert_invalid(result, expected_id, reason)
    assert called == []


def test_malformed_sample_in_the_middle_keeps_its_index_id() -> None:
    results = grade_batch([sample("a"), 5, sample("c")], echo_grader)
    assert [r["id"] for r in results] == ["a", "#1", "c"]


def test_reference_falls_back_to_top_level() -> None:
    raw = sample()
    raw["metadata"] = {"task_id": "t"}
    raw["reference_answer"] = "42"
    [s] = parse_event(raw)
    assert s.error is None and s.reference == "42"
    raw.pop("metadata")
    [s] = parse_event(raw)
    assert s.error is None and s.reference == "42" and s.metadata == {}


def test_metadata_reference_wins_over_top_level() -> None:
    raw = {**sample(reference="meta"), "reference_answer": "top"}
    assert parse_event(raw)[0].reference == "meta"


@pytest.mark.parametrize("reference", [0, False, "", [], {"answer": "x"}])
def test_falsy_but_present_references_are_kept(reference: object) -> None:
    [s] = parse_event(sample(reference=reference))
    assert s.error is None
    assert s.reference == reference


def test_content_part_list_text_is_joined() -> None:
    parts = [
        {"type": "text", "text": "4"},
        {"type": "image_url", "image_url": {"url": "http://x"}},
        {"type": "text", "text": "2"},
    ]
    [s] = parse_event(sample(answer=parts))
    assert s.error is None
    assert s.answer_text == "42"


def test_content_part_without_type_counts_as_text() -> None:
    [s] = parse_event(sample(answer=[{"text": "hi"}]))
    assert s.answer_text == "hi"


def test_odd_unicode_is_graded_not_rejected() -> None:
    odd = "\ud800\x00\u202e\u0301\U0001f600 ok"
    results = grade_batch([sample(answer=odd, reference=odd), sample("\ud83d")], echo_grader)
    assert results[0]["aggregate_reward_score"] == 1.0
    assert results[1]["id"] == "\ud83d"


def test_answer_at_limit_is_accepted() -> None:
    [s] = parse_event(sample(answer="x" * MAX_ANSWER_CHARS))
    assert s.error is None


def test_grader_exception_is_isolated_per_sample() -> None:
    def grader(s: Sample) -> float:
        if s.id == "boom":
            raise ZeroDivisionError("x" * 1000)
        return 0.5

    results = grade_batch([sample("a"), sample("boom"), sample("c")], grader)
    assert [r["aggregate_reward_score"] for r in results] == [0.5, 0.0, 0.5]
    bad = results[1]
    assert bad["id"] == "boom"
    assert bad["metrics_list"] == [{"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}]
    assert bad["error"].startswith("ZeroDivisionError: xxx")
    assert len(bad["error"]) <= MAX_ERROR_CHARS


def test_exception_with_broken_str_is_still_reported() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def grader(s: Sample) -> float:
        raise Weird

    [result] = grade_batch([sample()], grader)
    assert result["error"] == "Weird: <unprintable exception>"


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.25, 0.25),
        (1, 1.0),
        (True, 1.0),
        (-0.5, 0.0),
        (3.0, 1.0),
        (-0.0, 0.0),
    ],
)
def test_scores_are_clamped(score: float, expected: float) -> None:
    [result] = grade_batch([sample()], lambda s: score)
    assert result["aggregate_reward_score"] == expected
    assert type(result["aggregate_reward_score"]) is float
    assert clamp_score(score) == expected


@pytest.mark.parametrize("score", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("shape", ["plain", "with metrics", "metrics mapping"])
def test_a_non_finite_score_is_a_grader_error_not_a_reward(score: float, shape: str) -> None:
    """inf used to be clamped to a full reward; any non-finite score is a grader bug."""
    output: object = {
        "plain": score,
        "with metrics": (score, [{"name": "m", "value": 0.5}]),
        "metrics mapping": (score, {"m": 1}),
    }[shape]
    [result] = grade_batch([sample()], lambda s: output)
    assert result["aggregate_reward_score"] == 0.0
    assert result["metrics_list"] == [{"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}]
    assert result["error"] == f"ValueError: score must be a finite number, got {score!r}"
    with pytest.raises(ValueError, match="finite"):
        clamp_score(score)


def test_metrics_as_list_of_dicts() -> None:
    metrics = [
        {"name": "r", "value": 0.5, "type": "Reward"},
        {"name": "len", "value": 12},
        {"name": "nan", "value": math.nan, "type": "Metric"},
    ]
    [result] = grade_batch([sample()], lambda s: (2.0, metrics))
    assert result["aggregate_reward_score"] == 1.0
    assert result["metrics_list"] == [
        {"name": "r", "value": 0.5, "type": "Reward"},
        {"name": "len", "value": 12.0, "type": "Metric"},
        {"name": "nan", "value": 0.0, "type": "Metric"},
    ]


def test_metrics_as_mapping() -> None:
    [result] = grade_batch([sample()], lambda s: (0.3, {"tokens": 7, "ok": True}))
    assert result["metrics_list"] == [
        {"name": "tokens", "value": 7.0, "type": "Metric"},
        {"name": "ok", "value": 1.0, "type": "Metric"},
    ]


@pytest.mark.parametrize(
    ("output", "error_part"),
    [
        ("0.5", "grader score must be a number, got string"),
        (None, "got null"),
        ((1.0, 2.0, 3.0), "tuple of 3 items"),
        ((1.0, "metrics"), "metrics must be a list or mapping"),
        ((1.0, [{"value": 1}]), "metric name must be a non-empty string"),
        ((1.0, [{"name": "x", "value": "1"}]), "value must be a number"),
        ((1.0, [{"name": "x", "value": 1, "type": "reward"}]), "type must be 'Reward' or"),
        ((1.0, ["x"]), "metric must be an object"),
        (10**400, "OverflowError"),
    ],
)
def test_malformed_grader_output_is_a_grader_error(output: object, error_part: str) -> None:
    [result] = grade_batch([sample()], lambda s: output)  # type: ignore[arg-type,return-value]
    assert result["aggregate_reward_score"] == 0.0
    assert result["metrics_list"][0]["name"] == GRADER_ERROR_METRIC
    assert error_part in result["error"]


def test_base_exceptions_are_not_swallowed() -> None:
    def grader(s: Sample) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade_batch([sample()], grader)


def test_grader_spec_error_message_and_problems() -> None:
    err = GraderSpecError([("operation", "got 'x'"), ("", "root problem")], context="ctx")
    assert err.problems == [("operation", "got 'x'"), ("", "root problem")]
    assert str(err) == "ctx: operation: got 'x'; root problem"
    assert isinstance(err, ValueError)


def test_grade_sample_has_the_per_sample_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "MAX_SAMPLE_SECONDS", 0.05)

    def stalls(s: Sample) -> float:
        time.sleep(5)
        return 1.0

    [one] = parse_event(sample())
    result = grade_sample(one, stalls)
    assert result["metrics_list"] == [{"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}]
    assert result["error"] == (
        "SampleTimeoutError: timed out after 0.05 s "
        "(the per-sample limit when grading without a Lambda deadline)"
    )
