"""The polling helper: backoff schedule, jitter, deadline, retryable errors."""

from __future__ import annotations

import math
import random

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from rft_env.components.bedrock.waiting import PollPolicy, WaitTimeout, is_retryable, poll
from tests.fakes.clock import FakeClock


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetModelCustomizationJob",
    )


def test_intervals_double_up_to_the_cap_and_jitter_only_lengthens() -> None:
    clock = FakeClock()
    policy = PollPolicy(timeout=10_000, initial=10, cap=120, jitter=0.25)
    calls = iter(range(12))
    poll(lambda: next(calls), lambda n: n == 11, policy, clock, what="x", rng=random.Random(7))
    nominal = [10, 20, 40, 80, 120, 120, 120, 120, 120, 120, 120]
    assert len(clock.sleeps) == len(nominal)
    for slept, base in zip(clock.sleeps, nominal, strict=True):
        assert base <= slept <= min(base * 1.25, 120)


@settings(max_examples=60, deadline=None)
@given(
    duration=st.floats(min_value=0, max_value=48 * 3600),
    initial=st.floats(min_value=1, max_value=60),
    cap=st.floats(min_value=60, max_value=900),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_status_calls_stay_within_the_bound(
    duration: float, initial: float, cap: float, seed: int
) -> None:
    clock = FakeClock()
    end = clock.monotonic() + duration
    calls = 0

    def fetch() -> float:
        nonlocal calls
        calls += 1
        return clock.monotonic()

    policy = PollPolicy(timeout=duration + 10 * cap, initial=initial, cap=cap)
    poll(fetch, lambda now: now >= end, policy, clock, what="x", rng=random.Random(seed))
    assert calls <= math.log2(cap / initial) + duration / cap + 2


def test_deadline_raises_with_the_last_state() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as raised:
        poll(lambda: "InProgress", lambda s: False, PollPolicy(timeout=600), clock, what="job")
    assert raised.value.last == "InProgress"
    assert "job: still not done after 600 s" in str(raised.value)
    assert sum(clock.sleeps) == pytest.approx(600)


def test_retryable_errors_are_polls_and_others_raise() -> None:
    clock = FakeClock()
    outcomes = [client_error("ThrottlingException", 400)] * 5 + [
        client_error("InternalServerException", 500),
        "done",
    ]

    def fetch() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert poll(fetch, lambda s: s == "done", PollPolicy(timeout=3600), clock, what="x") == "done"
    assert len(clock.sleeps) == 6

    def denied() -> str:
        raise client_error("AccessDeniedException", 403)

    with pytest.raises(ClientError, match="AccessDenied"):
        poll(denied, lambda s: True, PollPolicy(timeout=3600), clock, what="x")


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("ThrottlingException", 400, True),
        ("ServiceUnavailableException", 503, True),
        ("SomethingNew", 502, True),
        ("ValidationException", 400, False),
        ("ResourceNotFoundException", 404, False),
    ],
)
def test_is_retryable(code: str, status: int, retryable: bool) -> None:
    assert is_retryable(client_error(code, status)) is retryable


def test_policy_from_props() -> None:
    policy = PollPolicy.from_props({"timeoutSeconds": 60, "maxPollSeconds": 5}, 3600)
    assert (policy.timeout, policy.initial, policy.cap) == (60, 5, 5)
    assert PollPolicy.from_props(None, 3600).timeout == 3600
