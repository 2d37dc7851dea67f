"""Held-out prompts to a model with Converse: bounded concurrency, one request rate shared by
every worker, and retries that keep to it.

`rftenv evaluate` and the promotion gate's `RftEvaluation` provider both call models through
`converse_all`. Throttling is expected (on-demand quotas are per account and model) and is not
a failure: the pacer halves the request rate at each throttle and climbs back by a tenth of
the configured rate per success, so a retry never adds to the storm that caused it. The
botocore client is made with one attempt per call (`runtime_connection`): retrying here keeps
every attempt, first or not, behind the same pacer.

A model that stops existing while it is being evaluated (its deployment deleted, its
throughput gone: Converse answers ResourceNotFoundException) is not an answer of the model:
`ModelGone` stops the run, and no score is computed from the replies so far.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from rft_env.components.bedrock.session import Connection
from rft_env.components.bedrock.waiting import Clock, error_code, is_retryable
from rft_env.components.prompts import message_text

# Errors after which the same request may succeed later. ModelNotReadyException: an
# on-demand custom model is being loaded (AWS's SDKs retry it themselves); a model timeout may
# pass too. Throttling slows the pacer as well.
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException"})
TRANSIENT_CODES = THROTTLING_CODES | {"ModelNotReadyException", "ModelTimeoutException"}
GONE_CODES = frozenset({"ResourceNotFoundException"})
DEFAULT_MAX_ATTEMPTS = 8
# Nova inference may take up to 60 minutes, and AWS advises a read timeout of at least that
# (Amazon Nova 2 user guide, "Core inference").
READ_TIMEOUT_SECONDS = 3600
_BACKOFF_INITIAL = 1.0
_BACKOFF_CAP = 30.0


class ModelGone(RuntimeError):
    """The model no longer exists (its deployment or throughput was deleted mid-run)."""

    def __init__(self, model_id: str, message: str) -> None:
        self.model_id = model_id
        super().__init__(f"{model_id} stopped answering: {message}")


@dataclass(frozen=True)
class Reply:
    """One prompt's answer from one model, or why there is none."""

    text: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_seconds: float = 0.0  # of the attempt that answered
    attempts: int = 1
    error: str | None = None  # "<code>: <message>" of the last attempt

    @property
    def ok(self) -> bool:
        return self.error is None


def runtime_connection(stack: Connection) -> Connection:
    """The stack's connection for Converse: one attempt per botocore call (the pacer retries)
    and Nova's long read timeout."""
    return dataclasses.replace(stack, total_max_attempts=1, read_timeout=READ_TIMEOUT_SECONDS)


def converse_request(
    model_id: str, messages: Sequence[Any], *, max_tokens: int | None = None
) -> dict[str, Any]:
    """The Converse request for a prompt's messages (pure): system messages become `system`
    blocks, the others text turns."""
    system: list[dict[str, str]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        text = message_text(message.get("content")) if isinstance(message, dict) else ""
        if role == "system":
            system.append({"text": text})
        else:
            turns.append({"role": role, "content": [{"text": text}]})
    request: dict[str, Any] = {"modelId": model_id, "messages": turns}
    if system:
        request["system"] = system
    if max_tokens is not None:
        request["inferenceConfig"] = {"maxTokens": max_tokens}
    return request


def reply_text(response: dict[str, Any]) -> str:
    """The answer's text: its text blocks in order (reasoning blocks are not the answer)."""
    content = ((response.get("output") or {}).get("message") or {}).get("content") or []
    return "".join(block["text"] for block in content if isinstance(block.get("text"), str))


class RequestPacer:
    """Spaces request starts at most `rate` per second across threads; halves the rate at a
    throttle (down to `floor`) and adds a tenth of `rate` back per success."""

    def __init__(self, rate: float, clock: Clock, floor: float = 0.05) -> None:
        self.limit = rate
        self.floor = min(floor, rate)
        self.rate = rate
        self._clock = clock
        self._next = clock.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock.monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
        if start > now:
            self._clock.sleep(start - now)

    def throttled(self) -> None:
        with self._lock:
            self.rate = max(self.floor, self.rate / 2)
            # The next start waits a whole interval at the new rate.
            self._next = max(self._next, self._clock.monotonic() + 1.0 / self.rate)

    def succeeded(self) -> None:
        with self._lock:
            self.rate = min(self.limit, self.rate + self.limit / 10)


def _describe(error: BaseException) -> str:
    code = error_code(error)
    message = getattr(error, "response", {}).get("Error", {}).get("Message") if code else None
    return f"{code}: {message or error}" if code else f"{type(error).__name__}: {error}"


def _ask(
    client: Any,
    request: dict[str, Any],
    pacer: RequestPacer,
    clock: Clock,
    max_attempts: int,
    stop: threading.Event,
    rng: random.Random,
) -> Reply:
    delay = _BACKOFF_INITIAL
    for attempt in range(1, max_attempts + 1):
        # Checked before each attempt, so also right after a backoff sleep (which `continue`s
        # here) and after the pacer's wait: a stopped run sends nothing more.
        if stop.is_set():
            return Reply(None, attempts=attempt - 1, error="cancelled: the run stopped")
        pacer.wait()
        if stop.is_set():
            return Reply(None, attempts=attempt - 1, error="cancelled: the run stopped")
        started = time.perf_counter()
        try:
            response = client.converse(**request)
        except Exception as error:
            code = error_code(error)
            if code in GONE_CODES:
                raise ModelGone(request["modelId"], _describe(error)) from error
            if code in THROTTLING_CODES:
                pacer.throttled()
            if attempt == max_attempts or not (code in TRANSIENT_CODES or is_retryable(error)):
                return Reply(None, attempts=attempt, error=_describe(error))
            clock.sleep(delay * (1 + rng.random() / 4))
            delay = min(_BACKOFF_CAP, delay * 2)
            continue
        pacer.succeeded()
        usage = response.get("usage") or {}
        return Reply(
            reply_text(response),
            input_tokens=int(usage.get("inputTokens") or 0),
            output_tokens=int(usage.get("outputTokens") or 0),
            latency_seconds=time.perf_counter() - started,
            attempts=attempt,
        )
    raise AssertionError("unreachable: the last attempt returns")


def converse_all(
    client: Any,
    requests: Sequence[dict[str, Any]],
    *,
    concurrency: int,
    rate: float,
    clock: Clock,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    on_reply: Callable[[int, Reply], None] | None = None,
    seed: int | None = None,
) -> list[Reply]:
    """Every request's reply, in order. At most `concurrency` calls in flight and `rate`
    starts per second; `on_reply(index, reply)` as each one ends (a progress bar). Raises
    ModelGone when a model stops existing (the other calls are cancelled first). Any other
    error in a worker (`on_reply`'s included) or an interrupt of the caller cancels the calls
    not yet sent too, then propagates."""
    if concurrency < 1 or rate <= 0:
        raise ValueError(f"concurrency must be >= 1 and rate > 0, got {concurrency}, {rate}")
    pacer = RequestPacer(rate, clock)
    stop = threading.Event()
    rng = random.Random(seed)
    replies: list[Reply | None] = [None] * len(requests)

    def one(index: int) -> None:
        try:
            reply = _ask(client, requests[index], pacer, clock, max_attempts, stop, rng)
            replies[index] = reply
            if on_reply is not None:
                on_reply(index, reply)
        except BaseException:
            # Whatever went wrong (the model gone, a bug, a failing callback, an interrupt),
            # the calls not yet sent are not sent.
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="converse") as pool:
        try:
            futures = [pool.submit(one, index) for index in range(len(requests))]
            wait(futures)
        except BaseException:
            # The caller was interrupted (Ctrl-C) while waiting: drop the queued requests and
            # let the calls in flight end before the interrupt propagates.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    errors = [error for future in futures if (error := future.exception()) is not None]
    if errors:
        raise next((error for error in errors if isinstance(error, ModelGone)), errors[0])
    return [reply for reply in replies if reply is not None]
