"""components.bedrock.converse: held-out prompts to a model, against the fake Bedrock Runtime
(real botocore serialization), on the fake clock."""

from __future__ import annotations

import itertools
import random
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rft_env.components.bedrock.converse import (
    READ_TIMEOUT_SECONDS,
    ModelGone,
    Reply,
    RequestPacer,
    _ask,
    converse_all,
    converse_request,
    reply_text,
    runtime_connection,
)
from rft_env.components.bedrock.session import Connection
from tests.fakes.bedrock_runtime import FakeBedrockRuntime, request_text
from tests.fakes.clock import FakeClock

MODEL = "us.amazon.nova-2-lite-v1:0"
SYSTEM = {"role": "system", "content": "Reply with the number only."}


@pytest.fixture
def runtime(clock: FakeClock) -> Iterator[FakeBedrockRuntime]:
    fake = FakeBedrockRuntime(clock)
    # Echo the question back, so a reply shows which request it answers.
    fake.judge = lambda request: "answer to " + request_text(request)
    with fake:
        yield fake


def client(fake: FakeBedrockRuntime, clock: FakeClock) -> Any:
    connection = runtime_connection(Connection("us-east-1", endpoint_url=fake.endpoint_url))
    return connection.client("bedrock-runtime", clock=clock)


def requests(count: int) -> list[dict[str, Any]]:
    return [
        converse_request(MODEL, [SYSTEM, {"role": "user", "content": f"q{i}"}])
        for i in range(count)
    ]


def test_a_prompt_becomes_a_converse_request() -> None:
    request = converse_request(
        MODEL,
        [SYSTEM, {"role": "user", "content": [{"text": "6 * 7?"}]}],
        max_tokens=64,
    )
    assert request == {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": "6 * 7?"}]}],
        "system": [{"text": "Reply with the number only."}],
        "inferenceConfig": {"maxTokens": 64},
    }
    assert "system" not in converse_request(MODEL, [{"role": "user", "content": "hi"}])


def test_the_reply_text_skips_reasoning_blocks() -> None:
    response = {
        "output": {
            "message": {
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "thinking"}}},
                    {"text": "4"},
                    {"text": "2"},
                ]
            }
        }
    }
    assert reply_text(response) == "42"
    assert reply_text({}) == ""


def test_the_runtime_connection_makes_one_attempt_and_waits_long() -> None:
    connection = runtime_connection(Connection("us-east-1", role_arn=None))
    assert connection.total_max_attempts == 1
    assert connection.read_timeout == READ_TIMEOUT_SECONDS
    assert connection._config().read_timeout == READ_TIMEOUT_SECONDS


def test_every_prompt_is_answered_in_order_with_its_usage(
    runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    seen: list[int] = []
    replies = converse_all(
        client(runtime, clock),
        requests(12),
        concurrency=4,
        rate=100.0,
        clock=clock,
        on_reply=lambda index, reply: seen.append(index),
    )
    assert [r.text for r in replies] == [f"answer to q{i}" for i in range(12)]
    assert all(r.ok and r.attempts == 1 and r.input_tokens >= 1 for r in replies)
    assert sorted(seen) == list(range(12))
    assert runtime.calls[0]["system"] == [{"text": "Reply with the number only."}]


def test_concurrency_is_bounded(runtime: FakeBedrockRuntime, clock: FakeClock) -> None:
    runtime.latency = 0.05
    converse_all(client(runtime, clock), requests(12), concurrency=3, rate=1000.0, clock=clock)
    assert runtime.max_in_flight == 3


def test_request_starts_keep_to_the_rate(runtime: FakeBedrockRuntime, clock: FakeClock) -> None:
    converse_all(client(runtime, clock), requests(10), concurrency=1, rate=2.0, clock=clock)
    gaps = [b - a for a, b in itertools.pairwise(runtime.call_times)]
    assert gaps == pytest.approx([0.5] * 9)


def test_throttling_is_ridden_out_and_slows_the_pace(
    runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    runtime.inject("ThrottlingException", times=3)
    replies = converse_all(
        client(runtime, clock), requests(4), concurrency=1, rate=4.0, clock=clock, seed=1
    )
    assert all(r.ok for r in replies)
    assert replies[0].attempts == 4
    assert len(runtime.calls) == 7
    # After three throttles the pace is 4 / 8 = 0.5 per second, climbing back by 0.4 per
    # success: the next starts are at least 1 / 0.9 s and 1 / 1.3 s apart, never at 4 per s.
    starts = runtime.call_times[3:]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.25 for gap in gaps)
    assert gaps[0] >= 1 / 0.9 - 1e-9


def test_a_call_that_stays_throttled_fails_alone(
    runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    runtime.inject("ThrottlingException", times=3)
    replies = converse_all(
        client(runtime, clock), requests(2), concurrency=1, rate=10.0, clock=clock, max_attempts=3
    )
    assert replies[0] == Reply(
        None,
        attempts=3,
        error="ThrottlingException: Too many requests, please wait before trying again. (injected)",
    )
    assert replies[1].ok


def test_a_refused_request_is_not_retried(runtime: FakeBedrockRuntime, clock: FakeClock) -> None:
    runtime.inject("ValidationException")
    replies = converse_all(
        client(runtime, clock), requests(2), concurrency=1, rate=10.0, clock=clock
    )
    assert replies[0].attempts == 1
    assert replies[0].error is not None and replies[0].error.startswith("ValidationException")
    assert replies[1].ok
    assert len(runtime.calls) == 2


def test_a_model_that_stops_existing_stops_the_run(
    runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    answered = 0

    def answer(request: dict[str, Any]) -> str:
        nonlocal answered
        answered += 1
        if answered == 3:
            runtime.inject("ResourceNotFoundException", times=100)
        return "ok"

    runtime.judge = answer
    with pytest.raises(ModelGone, match=rf"{MODEL} stopped answering: ResourceNotFoundException"):
        converse_all(client(runtime, clock), requests(20), concurrency=2, rate=50.0, clock=clock)
    # The other calls are cancelled rather than sent: far fewer than 20 reached the model.
    assert len(runtime.calls) < 10


@pytest.mark.parametrize(
    "error",
    [RuntimeError("the progress bar broke"), KeyboardInterrupt()],
    ids=["a failing callback", "an interrupt in a worker"],
)
def test_an_error_in_a_worker_stops_the_run(
    error: BaseException, runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    seen = 0

    def on_reply(index: int, reply: Reply) -> None:
        nonlocal seen
        seen += 1
        if seen == 3:
            raise error

    with pytest.raises(type(error)):
        converse_all(
            client(runtime, clock),
            requests(40),
            concurrency=2,
            rate=50.0,
            clock=clock,
            on_reply=on_reply,
        )
    # The queued calls are cancelled rather than sent (and paid for).
    assert len(runtime.calls) < 10


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_an_interrupt_of_the_caller_stops_the_run(
    runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    # Ctrl-C as it really arrives: SIGINT to the main thread, which is waiting for the pool.
    assert threading.current_thread() is threading.main_thread()
    seen = 0

    def on_reply(index: int, reply: Reply) -> None:
        nonlocal seen
        seen += 1
        if seen == 3:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        converse_all(
            client(runtime, clock),
            requests(40),
            concurrency=2,
            rate=50.0,
            clock=clock,
            on_reply=on_reply,
        )
    # Count once no worker is left, so calls sent after the interrupt are counted too.
    for worker in threading.enumerate():
        if worker.name.startswith("converse"):
            worker.join(timeout=30)
    assert len(runtime.calls) < 10


def test_a_stop_during_the_backoff_sends_nothing_more(
    runtime: FakeBedrockRuntime, clock: FakeClock
) -> None:
    stop = threading.Event()

    class StoppingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            stop.set()  # another worker failed while this one backed off

    backoff = StoppingClock()
    runtime.inject("ThrottlingException", times=5)
    reply = _ask(
        client(runtime, clock),
        requests(1)[0],
        RequestPacer(1000.0, clock),
        backoff,
        8,
        stop,
        random.Random(0),
    )
    assert reply == Reply(None, attempts=1, error="cancelled: the run stopped")
    assert len(runtime.calls) == 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        converse_all(None, [], concurrency=0, rate=1.0, clock=FakeClock())
    with pytest.raises(ValueError, match="rate > 0"):
        converse_all(None, [], concurrency=1, rate=0.0, clock=FakeClock())


def test_the_pacer_halves_and_recovers() -> None:
    clock = FakeClock()
    pacer = RequestPacer(4.0, clock)
    pacer.throttled()
    pacer.throttled()
    assert pacer.rate == 1.0
    for _ in range(20):
        pacer.succeeded()
    assert pacer.rate == 4.0
    for _ in range(20):
        pacer.throttled()
    assert pacer.rate == pacer.floor == 0.05
