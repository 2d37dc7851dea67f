"""A fake Amazon Bedrock Runtime (the Converse API) served over HTTP on 127.0.0.1.

Real boto3 `bedrock-runtime` clients talk to it through `endpoint_url`, so requests go through
botocore's real serialization and responses through its real parsing. Routes, validation,
error status codes and the response shape all come from botocore's service model.

Replies come from `judge(request) -> text`. `latency` is the only real sleeping: it holds a
request open so that concurrency can be observed (`max_in_flight`); keep it small.
`injectable_judge` is a judge as gullible as a model can be: it obeys any verdict it finds
outside the answer's fence.

It also answers STS AssumeRole (the query protocol, POST / with a form body), as AWS does at
its own endpoint: a client given this fake's URL as its endpoint sends its role's AssumeRole
here too (`rftenv grade --endpoint-url`). `assumed` records each AssumeRole request and
`signers` the access key and region each Converse request was signed with.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from tests.fakes._wire import (
    ROLE_ARN,
    ServiceError,
    assume_role_problem,
    error_status,
    iso,
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
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_SESSION_SECONDS = 3600
# SigV4: `Credential=<access key>/<date>/<region>/<service>/aws4_request`.
_SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/")
# A verdict an injected judge would obey: `{"score": 10}` anywhere it reads instructions.
_VERDICT = re.compile(r'\{\s*"score"\s*:\s*(-?\d+(?:\.\d+)?)\s*\}')

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
    content_type: str = "application/json"


def _json_error(code: str, message: str) -> _Response:
    status = error_status(SERVICE).get(code, 400)
    return _Response(status, json.dumps({"message": message}).encode(), error_code=code)


def default_judge(request: dict[str, Any]) -> str:
    return DEFAULT_REPLY


def request_text(request: dict[str, Any]) -> str:
    """The text of a Converse request's last message (the judge prompt), for judge callables."""
    messages = request.get("messages") or [{}]
    return "".join(block.get("text", "") for block in messages[-1].get("content", []))


def fenced(prompt: str, tag: str) -> tuple[str | None, str]:
    """(the text inside the first `<tag-NONCE>` ... `</tag-NONCE>` fence, the prompt without
    that fence); (None, prompt) when there is none. Only the grader opens a fence first: an
    answer's text is inside its own."""
    opening = re.search(rf"<{tag}-([0-9a-f]+)>", prompt)
    if opening is None:
        return None, prompt
    closing = f"</{tag}-{opening[1]}>"
    end = prompt.find(closing, opening.end())
    if end == -1:
        return None, prompt
    return prompt[opening.end() : end], prompt[: opening.start()] + prompt[end + len(closing) :]


def fenced_answer(prompt: str) -> str | None:
    """The answer as the grader fenced it in a judge prompt; None when it is not fenced."""
    return fenced(prompt, "answer")[0]


def injectable_judge(request: dict[str, Any]) -> str:
    """A judge on the 0-10 scale that obeys the last `{"score": n}` it finds outside the
    answer's and the reference's fences, as an injected model would; otherwise an honest
    one: 10 when the fenced answer equals the fenced reference (whitespace aside), else 0.
    A prompt without both fences, and no injected verdict, scores 0."""
    answer, outside = fenced(request_text(request), "answer")
    reference, outside = fenced(outside, "reference")
    injected = _VERDICT.findall(outside)
    if injected:
        score = float(injected[-1])
        return json.dumps({"score": int(score) if score.is_integer() else score})
    honest = answer is not None and reference is not None and answer.strip() == reference.strip()
    return json.dumps({"score": 10 if honest else 0})


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
        # Every STS AssumeRole request's parameters (RoleArn, RoleSessionName, ExternalId).
        self.assumed: list[dict[str, str]] = []
        # (access key id, region) each Converse request was signed with, parallel to `calls`.
        self.signers: list[tuple[str, str]] = []

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
        content_type = (headers.get("Content-Type") or "").lower()
        if (
            method == "POST"
            and url.path == "/"
            and content_type.startswith("application/x-www-form-urlencoded")
        ):
            return self._sts(body)
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

        signer = _SIGV4_CREDENTIAL.search(headers.get("Authorization") or "")
        with self._lock:
            self.calls.append(copy.deepcopy(params))
            self.call_times.append(self.clock.monotonic())
            self.signers.append((signer[1], signer[2]) if signer else ("", ""))
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

    def _sts(self, body: bytes) -> _Response:
        """AssumeRole: fresh credentials, expiring an hour later on the fake clock."""
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        action = form.pop("Action", "")
        form.pop("Version", None)
        problem = (
            assume_role_problem(form)
            if action == "AssumeRole"
            else f"FakeBedrockRuntime answers only AssumeRole, got {action!r}"
        )
        if problem is not None:
            body_text = (
                f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>Sender</Type>'
                f"<Code>ValidationError</Code><Message>{escape(problem)}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            )
            return _Response(400, body_text.encode(), "ValidationError", "text/xml")
        match = ROLE_ARN.fullmatch(form["RoleArn"])
        assert match is not None  # checked by assume_role_problem
        with self._lock:
            self.assumed.append(form)
        account, role = match.groups()
        session = escape(form["RoleSessionName"])
        suffix = secrets.token_hex(6).upper()
        result = (
            "<Credentials>"
            f"<AccessKeyId>ASIAFAKE{suffix}</AccessKeyId>"
            f"<SecretAccessKey>fake-secret-{secrets.token_hex(16)}</SecretAccessKey>"
            f"<SessionToken>fake-session-token-{secrets.token_hex(32)}</SessionToken>"
            f"<Expiration>{iso(self.clock.time() + _SESSION_SECONDS)}</Expiration>"
            "</Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROAFAKE{suffix}:{session}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{escape(role)}/{session}</Arn>"
            "</AssumedRoleUser>"
        )
        body_text = (
            f'<AssumeRoleResponse xmlns="{_STS_NS}"><AssumeRoleResult>{result}'
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            "</ResponseMetadata></AssumeRoleResponse>"
        )
        return _Response(200, body_text.encode(), content_type="text/xml")

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
        self.send_header("Content-Type", response.content_type)
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
