"""The composite grader: weighted parts, per-part metrics, failures isolated per part."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import pytest

from rft_env.graders import composite
from rft_env.graders.contract import BatchGrader, GraderOutput, Sample, grade_batch
from rft_env.graders.registry import build_grader, spec_problems


def sample(answer: str, reference: Any = "42", sample_id: str = "s") -> dict[str, Any]:
    return {
        "id": sample_id,
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference},
    }


def spec(*parts: tuple[str, float, dict]) -> dict[str, Any]:
    return {
        "type": "composite",
        "parts": [{"name": n, "weight": w, "grader": g} for n, w, g in parts],
    }


EXACT = {"type": "exact_match"}
CONTAINS = {"type": "exact_match", "operation": "contains"}


def metrics(result: dict[str, Any]) -> dict[str, float]:
    return {m["name"]: m["value"] for m in result["metrics_list"]}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("42", 1.0), ("it is 42", 0.25), ("41", 0.0)],
)
def test_weighted_mean_of_parts(answer: str, expected: float) -> None:
    grader = build_grader(spec(("exact", 3, EXACT), ("loose", 1, CONTAINS)))
    (result,) = grade_batch([sample(answer)], grader)
    assert result["aggregate_reward_score"] == pytest.approx(expected)
    found = metrics(result)
    assert found["composite"] == pytest.approx(expected)
    assert found["loose"] == found["loose.exact_match"]
    assert result["metrics_list"][0] == {"name": "composite", "value": expected, "type": "Reward"}


def test_nested_composites() -> None:
    inner = spec(("a", 1, EXACT), ("b", 1, CONTAINS))
    grader = build_grader(spec(("inner", 1, inner), ("exact", 1, EXACT)))
    (result,) = grade_batch([sample("it is 42")], grader)
    assert result["aggregate_reward_score"] == pytest.approx(0.25)
    assert metrics(result)["inner.b"] == 1.0


class Flaky(BatchGrader):
    """A batch part that fails for one sample."""

    def grade_many(
        self, samples: Sequence[Sample], deadline: float | None
    ) -> list[GraderOutput | Exception]:
        self.deadline = deadline
        return [RuntimeError("judge down") if s.id == "bad" else 1.0 for s in samples]


def test_a_failing_part_costs_only_that_part_and_batch_parts_get_the_deadline() -> None:
    flaky = Flaky()
    grader = composite.CompositeGrader([("judge", 1.0, flaky), ("exact", 1.0, build_grader(EXACT))])
    results = grade_batch(
        [sample("42", sample_id="ok"), sample("42", sample_id="bad")], grader, deadline=123.0
    )
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 0.5]
    assert metrics(results[1])["judge.error"] == 1.0
    assert "judge.error" not in metrics(results[0])
    assert flaky.deadline == 123.0


def test_spec_problems_name_every_part_path() -> None:
    bad = {
        "type": "composite",
        "parts": [
            {"name": "Bad Name", "weight": -1, "grader": {"type": "exact_match", "operation": "x"}},
            {"name": "dup", "weight": True, "grader": EXACT},
            {"name": "dup", "weight": 1, "grader": {"type": "nope"}, "extra": 1},
        ],
        "partz": [],
    }
    found = dict(spec_problems(bad))
    assert set(found) == {
        "partz",
        "parts[0].name",
        "parts[0].weight",
        "parts[0].grader.operation",
        "parts[1].weight",
        "parts[2].name",
        "parts[2].extra",
        "parts[2].grader.type",
    }
    assert "did you mean 'parts'" in found["partz"]
    assert spec_problems({"type": "composite", "parts": []}) == [
        ("parts", "got []; allowed: a non-empty list of parts")
    ]


def test_nesting_is_bounded() -> None:
    nested: dict[str, Any] = EXACT
    for _ in range(composite.MAX_DEPTH + 1):
        nested = spec(("p", 1, nested))
    assert any("nest at most" in message for _, message in spec_problems(nested))


class ClockedPart(BatchGrader):
    """A batch part that records how much time it had left when it was called."""

    def grade_many(
        self, samples: Sequence[Sample], deadline: float | None
    ) -> list[GraderOutput | Exception]:
        assert deadline is not None
        self.time_left = deadline - time.monotonic()
        return [1.0 for _ in samples]


def test_a_part_slow_on_every_sample_leaves_later_parts_their_share() -> None:
    """Plain parts' budgets count the batch parts still to run, so a stalled plain part
    takes half the time here (two parts), not all of it."""
    catastrophic = re.compile(r"^(a+)+$")
    judge = ClockedPart()
    grader = composite.CompositeGrader(
        [
            ("pattern", 1.0, lambda s: float(bool(catastrophic.match(s.answer_text)))),
            ("judge", 1.0, judge),
        ]
    )
    near_miss = "a" * 28 + "b"
    results = grade_batch(
        [sample(near_miss, sample_id="a"), sample(near_miss, sample_id="b")],
        grader,
        deadline=time.monotonic() + 0.4,
    )
    assert 0.1 < judge.time_left <= 0.25
    for result in results:
        assert metrics(result)["pattern.error"] == 1.0
        assert result["aggregate_reward_score"] == pytest.approx(0.5)
