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

For model evaluation it serves several models at once: `script(model_id, answer)` gives a
model its own answers (other models get `judge`'s), `known_models` makes an unknown base
model id invalid, and an attached control plane (`control`, set by
`FakeBedrock.attach_runtime`) decides whether a custom model deployment or provisioned
throughput ARN exists and is ready. `inject(..., model=...)` aims a fault at one model, and
`rate_limit` throttles on the fake clock. It also answers SNS Publish (the query protocol,
like AssumeRole), recording each accepted message in `published`.
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
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from tests.fakes._wire import (
    ROLE_ARN,
    ServiceError,
    allowed_errors,
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

if TYPE_CHECKING:  # bedrock.py imports this module to attach a runtime
    from tests.fakes.bedrock import FakeBedrock

SERVICE = "bedrock-runtime"
DEFAULT_REPLY = '{"score": 8}'
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_SESSION_SECONDS = 3600
# SigV4: `Credential=<access key>/<date>/<region>/<service>/aws4_request`.
_SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/")
# A verdict an injected judge would obey: `{"score": 10}` anywhere it reads instructions.
_VERDICT = re.compile(r'\{\s*"score"\s*:\s*(-?\d+(?:\.\d+)?)\s*\}')
# Converse model ids that name a resource of the control plane. A PT serves while Updating, a
# deployment while Active (an update keeps it Active): AWS keeps serving during a switch.
_DEPLOYMENT_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:custom-model-deployment/")
_PT_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:provisioned-model/")
_PT_SERVING = frozenset({"InService", "Updating"})
# What Bedrock answers for a model id it does not know.
_INVALID_MODEL = "The provided model identifier is invalid."
_THROTTLED = "Too many requests, please wait before trying again."
_SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
# SNS's documented Publish limits the model does not carry: a message of at most 256 KB, and
# a Subject "less than 100 characters long", with no line breaks or control characters
# (botocore's `sns` model documentation). Printable ASCII only: the stricter reading.
_SNS_MAX_MESSAGE_BYTES = 262_144
_SNS_MAX_SUBJECT = 99
_SNS_SUBJECT = re.compile(r"[\x20-\x7e]+")

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


def _sns_error(shape_name: str, message: str) -> _Response:
    """An SNS query-protocol error; code and status from the model's error shape."""
    error = service_model("sns").shape_for(shape_name).metadata["error"]
    status = error.get("httpStatusCode", 400)
    fault_type = "Receiver" if status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{_SNS_NS}"><Error><Type>{fault_type}</Type>'
        f"<Code>{escape(error['code'])}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return _Response(status, body.encode(), error_code=error["code"], content_type="text/xml")


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
        # Model id -> its own answers; a model without one gets `judge`'s.
        self.answerers: dict[str, Callable[[dict[str, Any]], str]] = {}
        # The control plane whose deployments and PTs the deployment/PT ARNs must name.
        self.control: FakeBedrock | None = None
        # When set, the only non-ARN model ids that exist; None accepts any.
        self.known_models: set[str] | None = None
        # When set, the only topics SNS Publish accepts; None accepts any.
        self.topics: set[str] | None = None
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
        # Converse requests the rate limit refused (they are in `calls` too).
        self.throttled = 0
        # Every accepted SNS Publish: TopicArn, Subject (absent when none) and Message.
        self.published: list[dict[str, str]] = []

        self._in_flight = 0
        self._lock = threading.Lock()
        self._faults: deque[str] = deque()
        self._model_faults: dict[str, deque[str]] = {}
        # Token bucket: (refill per second, capacity); tokens and refill time on self.clock.
        self._bucket: tuple[float, int] | None = None
        self._tokens = 0.0
        self._refilled_at = 0.0

    # ------------------------------------------------------------------ server lifecycle

    # ------------------------------------------------------------------ test-facing API

    def inject(self, error_code: str, times: int = 1, *, model: str | None = None) -> None:
        """Make the next `times` Converse requests (whichever sample sends them) fail; with
        `model`, only requests to that model id. A request takes its model's fault first."""
        allowed = allowed_errors(SERVICE, "Converse")
        if error_code not in allowed:
            # Converse never answers anything else, so a client need not handle it.
            raise ValueError(f"Converse never answers {error_code!r}; one of {sorted(allowed)}")
        with self._lock:
            queue = self._faults if model is None else self._model_faults.setdefault(model, deque())
            queue.extend([error_code] * times)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults) + sum(len(q) for q in self._model_faults.values())

    def script(self, model_id: str, answer: Callable[[dict[str, Any]], str]) -> None:
        """Converse requests to `model_id` get `answer(request)`'s text instead of the judge's."""
        with self._lock:
            self.answerers[model_id] = answer

    def calls_for(self, model_id: str) -> int:
        """How many Converse requests named `model_id` (refused ones included)."""
        with self._lock:
            return sum(1 for call in self.calls if call.get("modelId") == model_id)

    def rate_limit(self, per_second: float | None, burst: int = 1) -> None:
        """Throttle Converse beyond a token bucket of `burst` requests refilled at
        `per_second` on `self.clock` (None: no limit). It starts full."""
        if per_second is not None and (per_second <= 0 or burst < 1):
            raise ValueError("per_second must be positive and burst at least 1")
        with self._lock:
            self._bucket = None if per_second is None else (per_second, burst)
            self._tokens = float(burst)
            self._refilled_at = self.clock.monotonic()

    # ------------------------------------------------------------------ HTTP dispatch

    def _handle(self, method: str, target: str, headers: Any, body: bytes) -> _Response:
        url = urlsplit(target)
        content_type = (headers.get("Content-Type") or "").lower()
        if (
            method == "POST"
            and url.path == "/"
            and content_type.startswith("application/x-www-form-urlencoded")
        ):
            return self._handle_form(body)
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
        # botocore percent-encodes the whole id (':' and '/' too) as one path segment, and
        # match_route decodes it: this is the id as the client gave it.
        model_id = params.get("modelId", "")
        with self._lock:
            self.calls.append(copy.deepcopy(params))
            now = self.clock.monotonic()
            self.call_times.append(now)
            self.signers.append((signer[1], signer[2]) if signer else ("", ""))
            # Throttling happens at the front door: a throttled request uses up no fault.
            throttled = not self._take_token(now)
            fault = None
            if throttled:
                self.throttled += 1
            elif self._model_faults.get(model_id):
                fault = self._model_faults[model_id].popleft()
            elif self._faults:
                fault = self._faults.popleft()
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency > 0:
                # Real time on purpose, so requests overlap. Event.wait, not time.sleep, so a
                # test can forbid time.sleep (a sign of unwanted retry sleeping) everywhere else.
                threading.Event().wait(self.latency)
            if throttled:
                return _json_error("ThrottlingException", _THROTTLED)
            if fault is not None:
                return _json_error(fault, _INJECTED_MESSAGES.get(fault, "injected"))
            try:
                validate(op_model.input_shape, params)
                self._check_model(model_id)
            except ServiceError as exc:
                return _json_error(exc.code, exc.message)
            return self._converse(op_model, params)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _take_token(self, now: float) -> bool:
        """Whether the rate limit lets a request through now (caller holds the lock)."""
        if self._bucket is None:
            return True
        per_second, burst = self._bucket
        # max(0, ...): attach_runtime may swap in a clock that reads earlier.
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(float(burst), self._tokens + elapsed * per_second)
        self._refilled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _check_model(self, model_id: str) -> None:
        """Refuse a model id that names nothing servable, as Bedrock does."""
        control = self.control
        is_deployment = _DEPLOYMENT_ARN.match(model_id) is not None
        is_pt = _PT_ARN.match(model_id) is not None
        if control is not None and (is_deployment or is_pt):
            # Under the control plane's lock, settled to its clock, as its own handlers read.
            with control._lock:
                table = control.deployments if is_deployment else control.throughputs
                record = table.get(model_id)
                status = None if record is None else str(record["status"])
            kind = "custom model deployment" if is_deployment else "provisioned model"
            if status is None:
                raise ServiceError(
                    "ResourceNotFoundException", f"Could not find {kind} {model_id}."
                )
            serving = status == "Active" if is_deployment else status in _PT_SERVING
            if not serving:
                raise ServiceError(
                    "ModelNotReadyException",
                    f"The {kind} {model_id} is {status} and not ready to serve requests.",
                )
            return
        known = self.known_models
        if known is not None and not model_id.startswith("arn:") and model_id not in known:
            raise ServiceError("ValidationException", _INVALID_MODEL)

    def _handle_form(self, body: bytes) -> _Response:
        """The query-protocol actions served at this endpoint: STS AssumeRole, SNS Publish."""
        action = (parse_qs(body.decode(), keep_blank_values=True).get("Action") or [""])[0]
        return self._sns(body) if action == "Publish" else self._sts(body)

    def _sns(self, body: bytes) -> _Response:
        """SNS Publish to a topic, checked against the model and SNS's documented limits."""
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        shape = service_model("sns").operation_model("Publish").input_shape
        # Scalars only: map members (MessageAttributes.entry.N...) arrive flattened.
        params = {k: v for k, v in form.items() if k in shape.members and "." not in k}
        try:
            validate(shape, params)
        except ServiceError as exc:
            return _sns_error("InvalidParameterException", exc.message)
        topic = params.get("TopicArn")
        message = params["Message"]
        subject = params.get("Subject")
        problem = None
        if topic is None:
            problem = "Invalid parameter: TopicArn (FakeBedrockRuntime publishes to topics only)"
        elif not message:
            problem = "Invalid parameter: Empty message"
        elif len(message.encode()) > _SNS_MAX_MESSAGE_BYTES:
            problem = "Invalid parameter: Message too long"
        elif subject is not None and (
            len(subject) > _SNS_MAX_SUBJECT or _SNS_SUBJECT.fullmatch(subject) is None
        ):
            problem = "Invalid parameter: Subject"
        if problem is not None:
            return _sns_error("InvalidParameterException", problem)
        assert topic is not None  # refused above
        if self.topics is not None and topic not in self.topics:
            return _sns_error("NotFoundException", "Topic does not exist")
        record = {"TopicArn": topic, "Message": message}
        if subject is not None:
            record["Subject"] = subject
        with self._lock:
            self.published.append(record)
        body_text = (
            f'<PublishResponse xmlns="{_SNS_NS}"><PublishResult><MessageId>{uuid.uuid4()}'
            "</MessageId></PublishResult><ResponseMetadata>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></PublishResponse>"
        )
        return _Response(200, body_text.encode(), content_type="text/xml")

    def _sts(self, body: bytes) -> _Response:
        """AssumeRole: fresh credentials, expiring an hour later on the fake clock."""
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        action = form.pop("Action", "")
        form.pop("Version", None)
        problem = (
            assume_role_problem(form)
            if action == "AssumeRole"
            else f"FakeBedrockRuntime answers only AssumeRole and Publish, got {action!r}"
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
        with self._lock:
            scripted = self.answerers.get(params["modelId"])
        answer = self.judge if scripted is None else scripted
        try:
            text = answer(copy.deepcopy(params))
        except Exception:
            with self._lock:
                self.crashes.append(traceback.format_exc())
            who = "judge" if scripted is None else f"answerer of {params['modelId']}"
            return _json_error(
                "InternalFailure", f"FakeBedrockRuntime {who} crashed:\n" + traceback.format_exc()
            )
        prompt_chars = sum(len(request_text({"messages": [m]})) for m in params["messages"])
        prompt_chars += sum(len(block.get("text", "")) for block in params.get("system") or [])
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
