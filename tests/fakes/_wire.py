"""REST-JSON wire handling derived from botocore's own service model.

Routes, path parameters, status codes, validation constraints and output member names all come
from the model, so the fake cannot drift from what a real boto3 client sends and expects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape


@cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


class ServiceError(Exception):
    """An error the fake returns as a modelled AWS error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# Errors AWS documents as common to the actions of all services (the "Common Errors" page of
# each API reference, Bedrock's included), with their HTTP status: no operation model
# declares them, and any call may answer them. Only those the fakes produce are listed.
COMMON_ERRORS = {
    "AccessDeniedException": 403,
    "ExpiredTokenException": 403,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
    "ThrottlingException": 400,
}
# Not AWS's: what a fake answers for an operation it does not serve.
_FAKE_ONLY = {"NotImplemented": 501}
_EXTRA_STATUS = {**COMMON_ERRORS, **_FAKE_ONLY}


@cache
def allowed_errors(service: str, operation: str) -> frozenset[str]:
    """The error codes `operation` may answer: those its model declares, plus the common
    ones. A fake that answers anything else is kinder or stranger than AWS."""
    declared = service_model(service).operation_model(operation).error_shapes
    return frozenset(shape.name for shape in declared) | frozenset(COMMON_ERRORS)


@cache
def error_status(service: str = "bedrock") -> dict[str, int]:
    """Error code -> HTTP status, from the model's error shapes."""
    statuses = dict(_EXTRA_STATUS)
    for shape in service_model(service).error_shapes:
        statuses[shape.name] = shape.metadata.get("error", {}).get("httpStatusCode", 400)
    return statuses


def iso(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, as Bedrock returns timestamps."""
    text = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    segments: tuple[
        str, ...
    ]  # template segments, e.g. ("model-customization-jobs", "{jobIdentifier}")

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if not s.startswith("{"))


@cache
def routes(service: str = "bedrock") -> tuple[Route, ...]:
    model = service_model(service)
    found = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = http["requestUri"].split("?", 1)[0]
        segments = tuple(s for s in path.split("/") if s)
        found.append(Route(name, http["method"], segments))
    # Literal segments win over placeholders (e.g. a fixed ".../copy" over ".../{id}").
    return tuple(sorted(found, key=lambda r: -r.literal_count))


def match_route(method: str, raw_path: str, service: str = "bedrock") -> tuple[str, dict] | None:
    """Find the operation for a request; path values come back URL-decoded by template name."""
    parts = [p for p in raw_path.split("/") if p]
    for route in routes(service):
        if route.method != method:
            continue
        values = _match_segments(route.segments, parts)
        if values is not None:
            return route.operation, values
    return None


def _match_segments(template: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    values: dict[str, str] = {}
    for i, seg in enumerate(template):
        if seg.startswith("{") and seg.endswith("+}"):
            if i >= len(parts):
                return None
            values[seg[1:-2]] = unquote("/".join(parts[i:]))
            return values
        if i >= len(parts):
            return None
        if seg.startswith("{"):
            # botocore percent-encodes '/' and ':' in plain labels: one segment is one value.
            values[seg[1:-1]] = unquote(parts[i])
        elif seg != parts[i]:
            return None
    return values if len(parts) == len(template) else None


def parse_request(
    op: OperationModel, path_values: dict[str, str], query: str, headers: Any, body: bytes
) -> dict[str, Any]:
    """Rebuild the parameter dict the client was called with (body, path, query, headers)."""
    shape = op.input_shape
    params: dict[str, Any] = {}
    if body.strip():
        try:
            loaded = json.loads(body)
        except ValueError as exc:
            raise ServiceError("ValidationException", f"request body is not JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ServiceError("ValidationException", "request body must be a JSON object")
        params.update(loaded)
    if shape is None:
        return params
    query_values = parse_qs(query, keep_blank_values=True)
    for member_name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", member_name)
        if location == "uri" and wire_name in path_values:
            params[member_name] = path_values[wire_name]
        elif location == "querystring" and wire_name in query_values:
            raw = query_values[wire_name]
            params[member_name] = raw if member.type_name == "list" else _scalar(member, raw[0])
        elif location == "header" and headers.get(wire_name) is not None:
            params[member_name] = _scalar(member, headers.get(wire_name))
    return params


def _scalar(shape: Shape, raw: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            return raw  # validation reports it with the member's name
    if shape.type_name == "boolean":
        return raw.lower() == "true"
    return raw


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        # ASCII: Java's \w, \d and \s (the service's regex flavour) are ASCII by default.
        return re.compile(pattern, re.ASCII)
    except re.error:
        return None  # Java-only syntax (\p{L}) in shapes the fake never serves


def validate(shape: Shape, params: dict[str, Any]) -> None:
    """Server-side checks of every modelled constraint, in AWS's message format.

    botocore checks only required members and minimums client-side; the service also enforces
    maximums, patterns and enums, which is what this adds.
    """
    errors: list[str] = []
    _check_structure(shape, params, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ServiceError(
            "ValidationException", f"{count} validation {noun} detected: " + "; ".join(errors)
        )


def _check_structure(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be an object")
        return
    for name in shape.required_members:
        if value.get(name) is None:
            where = f"{path}.{name}" if path else name
            errors.append(
                f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
            )
    if shape.metadata.get("union"):
        present = [k for k in shape.members if value.get(k) is not None]
        if len(present) != 1:
            errors.append(
                f"Value at '{path}' failed to satisfy constraint: exactly one member must be set, "
                f"got {present}"
            )
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _check(member, value[name], f"{path}.{name}" if path else name, errors)


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name

    def fail(constraint: str) -> None:
        shown = "***" if meta.get("sensitive") else value
        errors.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: {constraint}")

    if kind == "structure":
        _check_structure(shape, value, path, errors)
    elif kind == "list":
        if not isinstance(value, list):
            fail("Member must be a list")
            return
        _check_length(len(value), meta, fail)
        for i, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{i}.member", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            fail("Member must be a map")
            return
        _check_length(len(value), meta, fail)
    elif kind == "string":
        if not isinstance(value, str):
            fail("Member must be a string")
            return
        _check_length(len(value), meta, fail)
        if "enum" in meta and value not in meta["enum"]:
            fail(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        pattern = meta.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        # Java's Pattern.matches semantics: the whole value must match.
        if compiled is not None and compiled.fullmatch(value) is None:
            fail(f"Member must satisfy regular expression pattern: {pattern}")
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail("Member must be a number")
            return
        if "min" in meta and value < meta["min"]:
            fail(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            fail(f"Member must have value less than or equal to {meta['max']}")


def _check_length(length: int, meta: dict[str, Any], fail: Any) -> None:
    if "min" in meta and length < meta["min"]:
        fail(f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and length > meta["max"]:
        fail(f"Member must have length less than or equal to {meta['max']}")


def render(shape: Shape | None, value: Any) -> Any:
    """Project a stored record onto an output shape: only modelled members, timestamps as ISO."""
    if shape is None or value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            if member.serialization.get("location"):
                continue  # header/status members: none in the operations served here
            rendered = render(member, value.get(name)) if isinstance(value, dict) else None
            if rendered is not None:
                out[name] = rendered
        return out
    if kind == "list":
        return [render(shape.member, v) for v in value]
    if kind == "map":
        return {k: render(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, int | float):
        return iso(value)
    return value


# An IAM role ARN, with its account and role name (the path before the name is optional).
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([^/]+)")


def assume_role_problem(form: dict[str, str]) -> str | None:
    """What STS refuses in an AssumeRole form by the service model (the RoleArn and
    RoleSessionName patterns and lengths, the DurationSeconds range, the ExternalId pattern
    and length, ...), or None. Every fake that answers AssumeRole checks it."""
    shape = service_model("sts").operation_model("AssumeRole").input_shape
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        if name in form:
            value: Any = form[name]
            # A non-number stays a string, which validate reports with the member's name.
            if member.type_name in ("integer", "long") and re.fullmatch(r"-?\d+", value):
                value = int(value)
            params[name] = value
    try:
        validate(shape, params)
    except ServiceError as exc:
        return exc.message
    if ROLE_ARN.fullmatch(form.get("RoleArn", "")) is None:
        return f"RoleArn {form.get('RoleArn', '')!r} is not a role ARN"
    return None
