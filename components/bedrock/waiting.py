"""Polling with a deadline: capped exponential backoff with (upward) jitter.

Waiting for something that takes T seconds costs at most about
log2(cap / initial) + T / cap + 2 status calls: the interval doubles from `initial` to
`cap` and then stays there. Jitter only ever lengthens an interval below the cap, so it
spreads many stacks' polls apart without adding calls. The clock is injected so tests
never sleep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")

# Errors that mean "ask again later", whatever the operation.
RETRYABLE_CODES = frozenset(
    {
        # STS (a query-protocol service) answers throttling as "Throttling".
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerException",
        "InternalFailure",
    }
)


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock (a class, not module functions, so providers pickle it by reference)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class PollPolicy:
    timeout: float  # seconds until the wait gives up
    initial: float = 10.0  # first interval
    cap: float = 120.0  # longest interval
    jitter: float = 0.25  # intervals below the cap are stretched by up to this share

    @classmethod
    def from_props(cls, wait: dict | None, default_timeout: float) -> PollPolicy:
        wait = wait or {}
        cap = float(wait.get("maxPollSeconds") or cls.cap)
        return cls(
            timeout=float(wait.get("timeoutSeconds") or default_timeout),
            initial=min(float(wait.get("initialPollSeconds") or cls.initial), cap),
            cap=cap,
        )


def wait_props(timeout_seconds: float, max_poll_seconds: float) -> dict[str, float]:
    """A resource's `wait` input, as PollPolicy.from_props reads it."""
    return {"timeoutSeconds": timeout_seconds, "maxPollSeconds": max_poll_seconds}


# One call (create, read, update, stop, delete, AssumeRole) rides out throttling and 5xx for
# up to five minutes beyond botocore's own attempts.
CALL_POLICY = PollPolicy(timeout=300, initial=2, cap=30)


class WaitTimeout(TimeoutError):
    def __init__(self, what: str, seconds: float, last: object) -> None:
        self.last = last
        super().__init__(f"{what}: still not done after {seconds:g} s")


def is_retryable(error: BaseException) -> bool:
    """Throttling, 5xx and connection trouble: the same call may succeed later."""
    # Imported here: the program imports this module, and only provider calls need botocore.
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in RETRYABLE_CODES or status >= 500
    return isinstance(error, BotoCoreError)


def error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)  # botocore's ClientError
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def poll(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    policy: PollPolicy,
    clock: Clock,
    *,
    what: str,
    rng: random.Random | None = None,
) -> T:
    """Call `fetch` until `done(result)`, sleeping with capped exponential backoff.

    A retryable error (a throttling storm that outlasted botocore's own retries, a 5xx)
    counts as one more poll, not as a failure: the wait only ends at `done` or the
    deadline. Any other error is raised at once.
    """
    rng = rng or random.Random()
    deadline = clock.monotonic() + policy.timeout
    delay = policy.initial
    last: T | None = None
    while True:
        try:
            last = fetch()
            if done(last):
                return last
        except Exception as error:
            if not is_retryable(error):
                raise
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, policy.timeout, last)
        interval = delay if delay >= policy.cap else delay * (1 + rng.random() * policy.jitter)
        clock.sleep(min(interval, policy.cap, remaining))
        delay = min(policy.cap, delay * 2)


def call_with_retries(call: Callable[[], T], policy: PollPolicy, clock: Clock, *, what: str) -> T:
    """Retry one call on retryable errors until the deadline (safe for our creates: their
    client tokens are deterministic, so a repeat is the same request)."""
    box: list[T] = []
    failures: list[Exception] = []

    def attempt() -> bool:
        try:
            box.append(call())
        except Exception as error:
            failures[:] = [error]
            raise
        return True

    try:
        poll(attempt, lambda ok: ok, policy, clock, what=what)
    except WaitTimeout:
        # Say what kept failing: "throttled" is the cause to act on, not the deadline.
        last = failures[-1] if failures else None
        cause = f" (last error: {last})" if last else ""
        raise WaitTimeout(f"{what}{cause}", policy.timeout, None) from last
    return box[-1]
