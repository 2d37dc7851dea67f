"""The BatchGrader path of grade_batch: whole-batch graders keep the per-sample guarantees."""

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from rft_env.graders import contract
from rft_env.graders.contract import (
    GRADER_ERROR_METRIC,
    INVALID_SAMPLE_METRIC,
    BatchGrader,
    GraderOutput,
    Sample,
    grade_batch,
    grade_sample,
    parse_event,
)

Outputs = Callable[[Sequence[Sample]], Sequence[GraderOutput | Exception]]


def sample(sid: object, answer: str = "42") -> dict[str, Any]:
    return {
        "id": sid,
        "messages": [{"role": "user", "content": "7*6?"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": "42"},
    }


def by_answer(samples: Sequence[Sample]) -> list[GraderOutput | Exception]:
    return [(1.0 if s.answer_text == "42" else 0.0, {"len": len(s.answer_text)}) for s in samples]


class RecordingGrader(BatchGrader):
    """Grades with `outputs` and records what each grade_many call received."""

    def __init__(self, outputs: Outputs = by_answer) -> None:
        self.outputs = outputs
        self.calls: list[tuple[list[object], float | None]] = []

    def grade_many(
        self, samples: Sequence[Sample], deadline: float | None
    ) -> Sequence[GraderOutput | Exception]:
        self.calls.append(([s.id for s in samples], deadline))
        return self.outputs(samples)


def metric_names(result: dict[str, Any]) -> list[str]:
    return [m["name"] for m in result["metrics_list"]]


def assert_grader_error(result: dict[str, Any], sid: object, reason: str) -> None:
    assert result["id"] == sid
    assert result["aggregate_reward_score"] == 0.0
    assert result["metrics_list"] == [{"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}]
    assert reason in result["error"]


MIXED_EVENT: list[Any] = [
    sample("a"),
    "junk",
    sample("b", answer="41"),
    {"id": "c", "messages": []},
    sample("d"),
    sample(7),
]


def test_valid_samples_are_graded_in_one_call_and_invalid_ones_keep_their_place() -> None:
    grader = RecordingGrader()
    results = grade_batch(MIXED_EVENT, grader)
    assert grader.calls == [(["a", "b", "d"], None)]
    assert [r["id"] for r in results] == ["a", "#1", "b", "c", "d", 7]
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert [metric_names(r) for r in results] == [
        ["len"],
        [INVALID_SAMPLE_METRIC],
        ["len"],
        [INVALID_SAMPLE_METRIC],
        ["len"],
        [INVALID_SAMPLE_METRIC],
    ]
    assert results[1]["error"] == "sample must be an object, got string"
    assert "messages is empty" in results[3]["error"]
    assert "id must be a non-empty string" in results[5]["error"]


def test_an_exception_for_one_sample_is_a_grader_error_for_that_sample_only() -> None:
    def outputs(samples: Sequence[Sample]) -> list[GraderOutput | Exception]:
        return [ValueError("judge said no") if s.id == "b" else 0.5 for s in samples]

    results = grade_batch(MIXED_EVENT, RecordingGrader(outputs))
    assert [r["id"] for r in results] == ["a", "#1", "b", "c", "d", 7]
    assert results[0] == {"id": "a", "aggregate_reward_score": 0.5, "metrics_list": []}
    assert_grader_error(results[2], "b", "ValueError: judge said no")
    assert results[4] == {"id": "d", "aggregate_reward_score": 0.5, "metrics_list": []}
    assert metric_names(results[1]) == metric_names(results[3]) == [INVALID_SAMPLE_METRIC]


def test_outputs_are_normalised_per_sample() -> None:
    def outputs(samples: Sequence[Sample]) -> list[Any]:
        return [1.7, (0.5, [{"name": "x", "value": "bad"}]), float("nan")]

    results = grade_batch([sample("a"), sample("b"), sample("c")], RecordingGrader(outputs))
    assert results[0] == {"id": "a", "aggregate_reward_score": 1.0, "metrics_list": []}
    assert_grader_error(results[1], "b", "metric 'x' value must be a number")
    assert_grader_error(results[2], "c", "score must be a finite number, got nan")


def test_grade_many_raising_gives_every_valid_sample_a_grader_error() -> None:
    def outputs(samples: Sequence[Sample]) -> list[GraderOutput | Exception]:
        raise RuntimeError("pool exploded")

    results = grade_batch(MIXED_EVENT, RecordingGrader(outputs))
    assert [r["id"] for r in results] == ["a", "#1", "b", "c", "d", 7]
    for index, sid in ((0, "a"), (2, "b"), (4, "d")):
        assert_grader_error(results[index], sid, "RuntimeError: pool exploded")
    for index in (1, 3, 5):
        assert metric_names(results[index]) == [INVALID_SAMPLE_METRIC]


@pytest.mark.parametrize("count", [0, 2, 4])
def test_wrong_number_of_results_gives_every_valid_sample_a_grader_error(count: int) -> None:
    results = grade_batch(MIXED_EVENT, RecordingGrader(lambda samples: [1.0] * count))
    assert [r["id"] for r in results] == ["a", "#1", "b", "c", "d", 7]
    for index, sid in ((0, "a"), (2, "b"), (4, "d")):
        assert_grader_error(results[index], sid, f"returned {count} results for 3")
    for index in (1, 3, 5):
        assert metric_names(results[index]) == [INVALID_SAMPLE_METRIC]


def test_a_tuple_or_generator_of_results_is_accepted() -> None:
    results = grade_batch(
        [sample("a"), sample("b")], RecordingGrader(lambda samples: (1.0 for _ in samples))
    )
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 1.0]


def test_unimplemented_grade_many_is_a_grader_error_not_a_crash() -> None:
    [result] = grade_batch([sample("a")], BatchGrader())
    assert_grader_error(result, "a", "NotImplementedError")


@pytest.mark.parametrize("deadline", [None, 1234.5])
def test_deadline_is_passed_through(deadline: float | None) -> None:
    grader = RecordingGrader()
    grade_batch([sample("a")], grader, deadline=deadline)
    assert grader.calls == [(["a"], deadline)]


def test_batch_without_valid_samples_still_answers_every_sample() -> None:
    grader = RecordingGrader()
    results = grade_batch(["x", {"id": "y"}], grader)
    assert [r["id"] for r in results] == ["#0", "y"]
    assert [metric_names(r) for r in results] == [[INVALID_SAMPLE_METRIC]] * 2
    assert all(ids == [] for ids, _ in grader.calls)


def test_non_list_event_yields_no_results() -> None:
    assert grade_batch(None, RecordingGrader()) == []


def test_batch_grader_used_as_a_plain_callable() -> None:
    [good, bad] = parse_event([sample("a"), sample("b", answer="41")])
    grader = RecordingGrader()
    assert grader(good) == (1.0, {"len": 2})
    assert grader(bad) == (0.0, {"len": 2})
    assert grader.calls == [(["a"], None), (["b"], None)]
    assert grade_sample(good, grader) == {
        "id": "a",
        "aggregate_reward_score": 1.0,
        "metrics_list": [{"name": "len", "value": 2.0, "type": "Metric"}],
    }


def test_plain_call_raises_a_returned_exception() -> None:
    [one] = parse_event([sample("a")])
    grader = RecordingGrader(lambda samples: [KeyError("missing")])
    with pytest.raises(KeyError, match="missing"):
        grader(one)
    assert_grader_error(grade_sample(one, grader), "a", "KeyError")


def test_batch_graders_keep_their_own_deadline_handling(monkeypatch: pytest.MonkeyPatch) -> None:
    """No per-sample alarm around grade_many: the LLM judge, say, waits for its threads and
    returns by the deadline itself."""
    monkeypatch.setattr(contract, "MAX_SAMPLE_SECONDS", 0.02)

    def slow(samples: Sequence[Sample]) -> list[GraderOutput | Exception]:
        time.sleep(0.1)
        return [1.0 for _ in samples]

    results = grade_batch([sample("a"), sample("b")], RecordingGrader(slow))
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 1.0]
