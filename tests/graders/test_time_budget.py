"""The per-sample time budget: a sample that stalls fails alone, and the batch is answered.

Budgets here are a tenth of a second or so, so that each test runs well under a second;
the catastrophic pattern below takes 14-16 s unbounded.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rft_env.graders import contract
from rft_env.graders.composite import CompositeGrader
from rft_env.graders.contract import (
    BATCH_SOURCE,
    CAP_SOURCE,
    FLOOR_SOURCE,
    GRADER_ERROR_METRIC,
    MAX_SAMPLE_SECONDS,
    MIN_SAMPLE_SECONDS,
    NO_DEADLINE_SOURCE,
    SHARE_SOURCE,
    Budget,
    Sample,
    SampleTimeoutError,
    SampleTimer,
    batch_budget,
    grade_batch,
    sample_budget,
)
from rft_env.graders.custom import HandlerGrader
from rft_env.graders.registry import build_grader

# Backtracks exponentially on a near miss: 2**28 ways to split the a's.
CATASTROPHIC = re.compile(r"^(a+)+$")
NEAR_MISS = "a" * 28 + "b"
SMALL_BUDGET = 0.1


def regex_grader(sample: Sample) -> float:
    return 1.0 if CATASTROPHIC.match(sample.answer_text) else 0.5


def event(*answers: str) -> list[dict[str, Any]]:
    return [
        {"id": f"s{i}", "messages": [{"role": "assistant", "content": a}], "reference_answer": "x"}
        for i, a in enumerate(answers)
    ]


def budget_of(result: dict[str, Any]) -> float:
    found = re.search(r"timed out after ([0-9.e-]+) s", result["error"])
    assert found, result["error"]
    return float(found.group(1))


def assert_timed_out(result: dict[str, Any], source: str) -> None:
    assert result["aggregate_reward_score"] == 0.0
    assert result["metrics_list"] == [{"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}]
    assert result["error"].startswith("SampleTimeoutError: timed out after ")
    assert result["error"].endswith(f" s ({source})")


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "MAX_SAMPLE_SECONDS", SMALL_BUDGET)


@pytest.fixture(autouse=True)
def alarm_left_as_found() -> Iterator[None]:
    """Every test must leave SIGALRM's handler and timer as it found them."""
    handler = signal.getsignal(signal.SIGALRM)
    yield
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- the budget itself ----------------------------------------------------------------------


def test_budget_is_the_fair_share_of_the_time_left() -> None:
    assert sample_budget(100.0, 4, now=98.0) == Budget(0.5, SHARE_SOURCE)
    # Time a fast sample leaves unused goes to the ones after it.
    assert sample_budget(100.0, 3, now=98.5) == Budget(0.5, SHARE_SOURCE)
    assert sample_budget(100.0, 1, now=99.0) == Budget(1.0, SHARE_SOURCE)


def test_budget_is_capped_and_has_a_floor() -> None:
    assert sample_budget(1000.0, 2, now=0.0) == Budget(MAX_SAMPLE_SECONDS, CAP_SOURCE)
    assert sample_budget(100.0, 1000, now=99.9) == Budget(MIN_SAMPLE_SECONDS, FLOOR_SOURCE)
    # Past the deadline each sample still gets the minimum.
    assert sample_budget(100.0, 5, now=101.0) == Budget(MIN_SAMPLE_SECONDS, FLOOR_SOURCE)
    assert sample_budget(100.0, 0, now=99.0) == Budget(1.0, SHARE_SOURCE)  # never divides by 0


def test_without_a_deadline_each_sample_gets_the_cap() -> None:
    assert sample_budget(None, 1000, now=0.0) == Budget(MAX_SAMPLE_SECONDS, NO_DEADLINE_SOURCE)


def test_a_whole_batch_call_gets_the_time_left() -> None:
    assert batch_budget(100.0, 10, now=97.5) == Budget(2.5, BATCH_SOURCE)
    assert batch_budget(100.0, 10, now=100.5) == Budget(MIN_SAMPLE_SECONDS, BATCH_SOURCE)
    assert batch_budget(None, 3, now=0.0) == Budget(3 * MAX_SAMPLE_SECONDS, NO_DEADLINE_SOURCE)


# --- plain graders in grade_batch -----------------------------------------------------------


def test_a_catastrophic_sample_times_out_and_its_neighbours_are_graded() -> None:
    started = time.monotonic()
    results = grade_batch(
        event("aaa", NEAR_MISS, "b"), regex_grader, deadline=time.monotonic() + 0.3
    )
    assert time.monotonic() - started < 0.6
    assert [r["id"] for r in results] == ["s0", "s1", "s2"]
    assert results[0] == {"id": "s0", "aggregate_reward_score": 1.0, "metrics_list": []}
    assert_timed_out(results[1], SHARE_SOURCE)
    assert results[2] == {"id": "s2", "aggregate_reward_score": 0.5, "metrics_list": []}


def test_shares_are_recomputed_per_sample() -> None:
    # Three fast samples leave the last one (nearly) all of the 0.4 s.
    results = grade_batch(
        event("a", "a", "a", NEAR_MISS), regex_grader, deadline=time.monotonic() + 0.4
    )
    assert [r["aggregate_reward_score"] for r in results[:3]] == [1.0, 1.0, 1.0]
    assert_timed_out(results[3], SHARE_SOURCE)
    assert 0.3 < budget_of(results[3]) <= 0.4


def test_without_a_deadline_the_cap_applies(small_cap: None) -> None:
    started = time.monotonic()
    results = grade_batch(event(NEAR_MISS, "aa"), regex_grader)
    assert time.monotonic() - started < 0.5
    assert_timed_out(results[0], NO_DEADLINE_SOURCE)
    assert budget_of(results[0]) == SMALL_BUDGET
    assert results[1]["aggregate_reward_score"] == 1.0


def test_a_long_lambda_deadline_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "MAX_SAMPLE_SECONDS", SMALL_BUDGET)
    [result] = grade_batch(event(NEAR_MISS), regex_grader, deadline=time.monotonic() + 600)
    assert_timed_out(result, CAP_SOURCE)


def test_past_the_deadline_each_sample_still_gets_the_floor() -> None:
    results = grade_batch(event("a", NEAR_MISS, "a"), regex_grader, deadline=time.monotonic())
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 0.0, 1.0]
    assert_timed_out(results[1], FLOOR_SOURCE)
    assert budget_of(results[1]) == MIN_SAMPLE_SECONDS


def test_code_that_catches_exception_cannot_swallow_the_timeout(small_cap: None) -> None:
    def stubborn(sample: Sample) -> float:
        try:
            time.sleep(5)
        except Exception:
            return 1.0
        return 1.0

    [result] = grade_batch(event("x"), stubborn)
    assert_timed_out(result, NO_DEADLINE_SOURCE)


def test_code_that_catches_base_exception_gets_no_score_for_going_on(small_cap: None) -> None:
    def swallow_twice(sample: Sample) -> float:
        for _ in range(2):
            with contextlib.suppress(BaseException):  # the grader under test misbehaves
                time.sleep(5)
        return 1.0

    started = time.monotonic()
    [result] = grade_batch(event("x"), swallow_twice)
    # The alarm repeats, so the second sleep is cut short as well.
    assert time.monotonic() - started < 0.5
    assert_timed_out(result, NO_DEADLINE_SOURCE)


def test_keyboard_interrupt_still_ends_the_run() -> None:
    def interrupted(sample: Sample) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade_batch(event("x"), interrupted)


def test_off_the_main_thread_samples_run_without_a_timer(small_cap: None) -> None:
    def slow(sample: Sample) -> float:
        time.sleep(2 * SMALL_BUDGET)
        return 1.0

    results: list[list[dict[str, Any]]] = []
    worker = threading.Thread(target=lambda: results.append(grade_batch(event("x"), slow)))
    worker.start()
    worker.join()
    assert results[0][0]["aggregate_reward_score"] == 1.0


def test_a_previous_handler_and_timer_are_restored() -> None:
    fired: list[int] = []

    def previous(signum: int, frame: object) -> None:
        fired.append(signum)

    original = signal.signal(signal.SIGALRM, previous)
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    try:
        grade_batch(event("a", NEAR_MISS), regex_grader, deadline=time.monotonic() + 0.2)
        assert signal.getsignal(signal.SIGALRM) is previous
        assert 4.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 5.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, original)
    assert fired == []


def test_an_enclosing_timer_caps_an_inner_budget_and_still_fires() -> None:
    with SampleTimer() as outer:
        started = time.monotonic()
        with pytest.raises(SampleTimeoutError, match=r"after 0\.15 s \(outer\)"):
            # The inner sample's 10 s budget is cut to what the outer call has left.
            outer.run(lambda: grade_batch(event(NEAR_MISS), regex_grader), Budget(0.15, "outer"))
        assert time.monotonic() - started < 0.5


# --- graders that grade whole batches -------------------------------------------------------


def test_a_plain_part_of_a_composite_gets_a_budget(small_cap: None) -> None:
    grader = CompositeGrader(
        [("pattern", 1.0, regex_grader), ("exact", 1.0, build_grader({"type": "exact_match"}))]
    )
    samples = event(NEAR_MISS, "x")
    started = time.monotonic()
    slow, fast = grade_batch(samples, grader, deadline=time.monotonic() + 30)
    assert time.monotonic() - started < 0.5
    slow_metrics = {m["name"]: m["value"] for m in slow["metrics_list"]}
    assert slow_metrics["pattern.error"] == 1.0
    assert slow_metrics["pattern"] == 0.0
    assert slow_metrics["exact"] == 0.0  # its answer is not "x"; graded all the same
    assert fast["aggregate_reward_score"] == pytest.approx(0.75)  # 0.5 and 1.0


def test_a_custom_full_handler_gets_the_batchs_time() -> None:
    def handler(event: list[dict[str, Any]], context: object) -> list[dict[str, Any]]:
        time.sleep(5)
        return []

    started = time.monotonic()
    results = grade_batch(event("a", "b"), HandlerGrader(handler), deadline=time.monotonic() + 0.15)
    assert time.monotonic() - started < 0.5
    for result in results:
        assert_timed_out(result, BATCH_SOURCE)


def test_a_batch_of_fast_samples_arms_the_timer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arming is a system call, about 1 us: as much as the rest of the contract's work on a
    short answer. A call whose budget ends after the armed alarm leaves it be."""
    arms: list[float] = []
    setitimer = signal.setitimer

    def counting(which: int, seconds: float, interval: float = 0.0) -> tuple[float, float]:
        if seconds > 0:
            arms.append(seconds)
        return setitimer(which, seconds, interval)

    monkeypatch.setattr(signal, "setitimer", counting)
    results = grade_batch(event(*["fine"] * 100), lambda s: 1.0)
    assert [r["aggregate_reward_score"] for r in results] == [1.0] * 100
    assert len(arms) == 1


def test_a_call_outlasting_an_earlier_calls_alarm_runs_to_its_own_budget() -> None:
    with SampleTimer() as timer:
        assert timer.run(lambda: 1, Budget(0.2, "first")) == 1
        started = time.monotonic()
        with pytest.raises(SampleTimeoutError, match=r"0\.6 s \(second\)"):
            timer.run(lambda: time.sleep(2), Budget(0.6, "second"))
    # The first call's alarm (0.2 s after it began) re-armed for the second call's budget.
    assert 0.55 <= time.monotonic() - started < 1.5
