"""A fake Amazon Bedrock Runtime (the Converse API) served over HTTP on 127.0.0.1.

Real boto3 `bedrock-runtime` clients talk to it through `endpoint_url`, so requests go through
botocore's real serialization and responses through its real parsing. Routes, validation,
error status codes and the response shape all come from botocore's service model.

Replies come from `judge(request) -> text`. `latency` is the only real sleeping: it holds a
request open so that concurrency can be observed (`max_in_flight`); keep it small.
"""

from __future__ import annotations

import copy
import json
import threading
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.fakes._wire import (
    ServiceError,
    error_status,
    match_route,
    parse_request,
    render,
    service_model,
    validate,
)
from tests.fakes.clock import FakeClock
from tests.fakes.server import ServedFake

SERVICE = "bedrock-runtime"
DEFAULT_REPLY = '{"score": 8}'

_INJECTED_MESSAGES = {
    "ThrottlingException": "Too many requests, please wait before trying again. (injected)",
    "ServiceUnavailableException": "Bedrock is unable to process your request. (injected)",
    "InternalServerException": "The server encountered an error processing your request.",
    "ValidationException": "The provided request is not valid (injected)",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ModelNotReadyException": "Model is not ready to serve inference requests (injected)",
}


@dataclass
class _Response:
    status: int
    body: bytes
    error_code: str | None = None


def _json_error(code: str, message: str) -> _Response:
    status = error_status(SERVICE).get(code, 400)
    return _Response(status, json.dumps({"message": message}).encode(), error_code=code)


def default_judge(request: dict[str, Any]) -> str:
    return DEFAULT_REPLY


def request_text(request: dict[str, Any]) -> str:
    """The text of a Converse request's last message (the judge prompt), for judge callables."""
    messages = request.get("messages") or [{}]
    return "".join(block.get("text", "") for block in messages[-1].get("content", []))


class FakeBedrockRuntime(ServedFake):
    """Converse with a programmable judge, injectable errors and concurrency accounting."""

    def __init__(self, clock: FakeClock, *, latency: float = 0.0) -> None:
        self.clock = clock
        self.latency = latency
        self.judge: Callable[[dict[str, Any]], str] = default_judge
        self.endpoint_url = ""

        # Every Converse request as parsed params (injected failures included), in arrival order.
        self.calls: list[dict[str, Any]] = []
        # Fake-clock time of each call, parallel to `calls`: tests check back-off against it.
        self.call_times: list[float] = []
        # Tracebacks of judge callables that raised; those requests got a 500.
        self.crashes: list[str] = []
        self.max_in_flight = 0

        self._in_flight = 0
        self._lock = threading.Lock()
        self._faults: deque[str] = deque()

    # ------------------------------------------------------------------ server lifecycle

    # ------------------------------------------------------------------ test-facing API

    def inject(self, error_code: str, times: int = 1) -> None:
        """Make the next `times` Converse requests (whichever sample sends them) fail."""
        if error_code not in error_status(SERVICE):
            raise ValueError(
                f"unknown error {error_code!r}; one of {sorted(error_status(SERVICE))}"
            )
        with self._lock:
            self._faults.extend([error_code] * times)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # ------------------------------------------------------------------ HTTP dispatch

    def _handle(self, method: str, target: str, headers: Any, body: bytes) -> _Response:
        url = urlsplit(target)
        found = match_route(method, url.path, SERVICE)
        if found is None or found[0] != "Converse":
            name = found[0] if found else f"{method} {url.path}"
            return _json_error("NotImplemented", f"FakeBedrockRuntime does not implement {name}")
        operation, path_values = found
        op_model = service_model(SERVICE).operation_model(operation)
        try:
            params = parse_request(op_model, path_values, url.query, headers, body)
        except ServiceError as exc:
            return _json_error(exc.code, exc.message)

        with self._lock:
            self.calls.append(copy.deepcopy(params))
            self.call_times.append(self.clock.monotonic())
            fault = self._faults.popleft() if self._faults else None
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency > 0:
                # Real time on purpose, so requests overlap. Event.wait, not time.sleep, so a
                # test can forbid time.sleep (a sign of unwanted retry sleeping) everywhere else.
                threading.Event().wait(self.latency)
            if fault is not None:
                return _json_error(fault, _INJECTED_MESSAGES.get(fault, "injected"))
            try:
                validate(op_model.input_shape, params)
            except ServiceError as exc:
                return _json_error(exc.code, exc.message)
            return self._converse(op_model, params)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _converse(self, op_model: Any, params: dict[str, Any]) -> _Response:
        try:
            text = self.judge(copy.deepcopy(params))
        except Exception:
            with self._lock:
                self.crashes.append(traceback.format_exc())
            return _json_error(
                "InternalFailure", "FakeBedrockRuntime judge crashed:\n" + traceback.format_exc()
            )
        prompt_chars = sum(len(request_text({"messages": [m]})) for m in params["messages"])
        # Rough token counts; only their presence (required by the shape) matters.
        input_tokens, output_tokens = max(1, prompt_chars // 4), max(1, len(text) // 4)
        result = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": int(self.latency * 1000)},
        }
        payload = render(op_model.output_shape, result)
        return _Response(op_model.http.get("responseCode", 200), json.dumps(payload).encode())


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive threads outlive a test.
    protocol_version = "HTTP/1.0"

    def _serve(self) -> None:
        fake: FakeBedrockRuntime = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            response = fake._handle(self.command, self.path, self.headers, body)
        except Exception:
            # A bug in the fake must surface in the test, not as a hung or empty response.
            response = _json_error(
                "InternalFailure", "FakeBedrockRuntime crashed:\n" + traceback.format_exc()
            )
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if response.error_code:
            self.send_header("x-amzn-ErrorType", response.error_code)
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; `calls` records every request


FakeBedrockRuntime.handler = _Handler
