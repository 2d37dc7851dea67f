"""The AWS API's own value constraints, read from the service models botocore ships.

botocore checks only required members and minimums on the client. The service refuses
what breaks a maximum, a pattern or an enum, and it does so only when the call is made,
after everything else in the stack exists. So config validation and the providers'
`check` apply every constraint the model declares for the members we send, and they
read it here, from the model, never from a hand copy.

Two rules stand in for AWS behaviour that no document states (see the README,
"Unconfirmed AWS behaviour"):

- A pattern must match the whole value, as Java's `Pattern.matches` does. This is the
  stricter reading.
- `\\w`, `\\d` and `\\s` are ASCII classes, as they are in Java by default.

The model is read from botocore's data directory as JSON on first use (about 30 ms).
Importing botocore's own loader would cost about 0.2 s in every `rftenv synth`.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

BEDROCK = "bedrock"
STS = "sts"
# The Create calls the providers make, and what each request is validated against.
CREATE_JOB = "CreateModelCustomizationJob"
CREATE_THROUGHPUT = "CreateProvisionedModelThroughput"
CREATE_DEPLOYMENT = "CreateCustomModelDeployment"
ASSUME_ROLE = "AssumeRole"


@cache
def service_model(service: str) -> dict[str, Any]:
    """The newest API version of `service` that the installed botocore ships, as raw JSON."""
    import botocore  # the package only (~15 ms): its data directory is all we need

    root = Path(botocore.__file__).parent / "data" / service
    versions = sorted(path for path in root.iterdir() if path.is_dir())
    for version in reversed(versions):
        packed, plain = version / "service-2.json.gz", version / "service-2.json"
        if packed.is_file():
            with gzip.open(packed, "rt", encoding="utf-8") as handle:
                return json.load(handle)
        if plain.is_file():
            return json.loads(plain.read_text(encoding="utf-8"))
    raise LookupError(f"botocore ships no service model for {service!r} under {root}")


def _shape(service: str, name: str) -> dict[str, Any]:
    return service_model(service)["shapes"][name]


def _input_shape(service: str, operation: str) -> str:
    return service_model(service)["operations"][operation]["input"]["shape"]


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.ASCII)
    except re.error:
        return None  # Java-only syntax; tests/components/bedrock/test_api.py keeps ours free of it


@dataclass(frozen=True)
class Constraint:
    """What the model allows for one member: type, length or range, enum, pattern."""

    where: str  # "CreateModelCustomizationJob jobTags[].key", for messages
    type: str  # the model's type name: string, integer, float, list, map, structure...
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()

    @property
    def is_number(self) -> bool:
        return self.type in ("integer", "long", "float", "double")

    @property
    def constrained(self) -> bool:
        return any(v is not None for v in (self.min, self.max, self.pattern)) or bool(self.enum)

    def describe(self) -> str:
        """In words, for an error message: 'at most 1024 characters matching `…`'."""
        if self.enum:
            return "one of " + ", ".join(self.enum)
        if self.is_number:
            kind = "an integer" if self.type in ("integer", "long") else "a number"
            if self.min is not None and self.max is not None:
                return f"{kind} from {self.min:g} to {self.max:g}"
            if self.min is not None:
                return f"{kind} of at least {self.min:g}"
            return kind if self.max is None else f"{kind} of at most {self.max:g}"
        unit = "characters" if self.type == "string" else "items"
        low, high = int(self.min or 0), self.max
        if high is None:
            size = f"at least {low} {unit}" if low else ""
        elif low:
            size = f"{low}-{int(high)} {unit}"
        else:
            size = f"at most {int(high)} {unit}"
        if self.pattern:
            size = f"{size} matching `{self.pattern}`" if size else f"matching `{self.pattern}`"
        return size or "any value"

    def problem(self, value: Any) -> str | None:
        """Why the service would refuse `value` here, or None if the model allows it."""
        if self.is_number:
            integral = self.type in ("integer", "long")
            ok_type = isinstance(value, int) or (not integral and isinstance(value, float))
            if isinstance(value, bool) or not ok_type:
                return f"not {'an integer' if integral else 'a number'}"
            if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max
            ):
                return "out of range"
            return None
        if self.type == "string":
            if not isinstance(value, str):
                return "not a string"
            size = len(value)
        elif self.type in ("list", "map"):
            if not isinstance(value, list | dict):
                return f"not a {self.type}"
            size = len(value)
        else:
            return None
        if (self.min is not None and size < self.min) or (self.max is not None and size > self.max):
            return "too short" if self.min is not None and size < self.min else "too long"
        if self.enum and value not in self.enum:
            return "not one of the allowed values"
        compiled = _compiled(self.pattern) if self.pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            return "does not match the pattern"
        return None

    def message(self) -> str:
        return f"{self.where} accepts {self.describe()}"


def _constraint_of(shape: dict[str, Any], where: str) -> Constraint:
    return Constraint(
        where=where,
        type=shape["type"],
        min=shape.get("min"),
        max=shape.get("max"),
        pattern=shape.get("pattern"),
        enum=tuple(shape.get("enum") or ()),
    )


def _step(service: str, shape: dict[str, Any], part: str) -> dict[str, Any]:
    """The shape one step down a path: a structure member, `[]` (list item), `{key}`, `{}`."""
    if part == "[]":
        return _shape(service, shape["member"]["shape"])
    if part == "{key}":
        return _shape(service, shape["key"]["shape"])
    if part == "{}":
        return _shape(service, shape["value"]["shape"])
    return _shape(service, shape["members"][part]["shape"])


def _split(path: str) -> list[str]:
    """`jobTags[].key` -> ['jobTags', '[]', 'key']; `equals{key}` -> ['equals', '{key}']."""
    return [part for part in re.split(r"\.|(\[\]|\{key\}|\{\})", path) if part]


@cache
def constraint(operation: str, path: str, service: str = BEDROCK) -> Constraint:
    """The model's constraint on one input member, e.g. (`CreateModelCustomizationJob`,
    `customizationConfig.rftConfig.hyperParameters.epochCount`)."""
    shape = _shape(service, _input_shape(service, operation))
    for part in _split(path):
        shape = _step(service, shape, part)
    return _constraint_of(shape, f"{operation} {path}")


def constrained_members(operation: str, service: str = BEDROCK) -> dict[str, Constraint]:
    """Every member of the operation's input that the model constrains, by path."""
    found: dict[str, Constraint] = {}

    def walk(shape: dict[str, Any], path: str, seen: frozenset[str]) -> None:
        if path:
            rule = _constraint_of(shape, f"{operation} {path}")
            if rule.constrained:
                found[path] = rule
        kind = shape["type"]
        if kind == "structure":
            for name, member in shape["members"].items():
                if member["shape"] not in seen:
                    child = _shape(service, member["shape"])
                    walk(child, f"{path}.{name}" if path else name, seen | {member["shape"]})
        elif kind == "list":
            walk(_shape(service, shape["member"]["shape"]), f"{path}[]", seen)
        elif kind == "map":
            walk(_shape(service, shape["key"]["shape"]), f"{path}{{key}}", seen)
            walk(_shape(service, shape["value"]["shape"]), f"{path}{{}}", seen)

    walk(_shape(service, _input_shape(service, operation)), "", frozenset())
    return found


@dataclass(frozen=True)
class RequestProblem:
    path: str  # concrete: `jobTags[2].key`
    value: Any
    reason: str  # "too long", "does not match the pattern"...
    constraint: Constraint

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}: {self.constraint.message()}"


def request_problems(
    operation: str,
    request: dict[str, Any],
    service: str = BEDROCK,
    skip: Callable[[Any], bool] = lambda _value: False,
) -> list[RequestProblem]:
    """Every value in `request` that the model refuses. Values for which `skip(value)`
    holds (unknown during a preview) are not judged."""
    problems: list[RequestProblem] = []
    input_shape = _shape(service, _input_shape(service, operation))
    for path, value in _leaves(service, input_shape, request):
        if skip(value):
            continue
        rule = constraint(operation, generic_path(path), service)
        if rule.constrained and (reason := rule.problem(value)):
            problems.append(RequestProblem(path, value, reason, rule))
    return problems


def generic_path(path: str) -> str:
    """`jobTags[2].key` -> `jobTags[].key`: the form `constraint` takes."""
    return re.sub(r"\[\d+\]", "[]", path)


def _leaves(service: str, shape: dict[str, Any], value: Any, path: str = "") -> Iterator:
    """(path, value) for the value itself and everything inside it that the model types."""
    if path:
        yield path, value
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape["members"].items():
            if value.get(name) is not None:
                child = _shape(service, member["shape"])
                yield from _leaves(service, child, value[name], f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, list):
        item = _shape(service, shape["member"]["shape"])
        for index, element in enumerate(value):
            yield from _leaves(service, item, element, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        value_shape = _shape(service, shape["value"]["shape"])
        for key, element in value.items():
            yield f"{path}{{key}}", key
            yield from _leaves(service, value_shape, element, f"{path}{{}}")


# --------------------------------------------------------------------------------------
# The same constraints as pydantic types, for the stack config and the providers' `check`
# --------------------------------------------------------------------------------------
def api_checked(base: Any, operation: str, path: str, service: str = BEDROCK) -> Any:
    """`base` (a type, possibly with checks of our own) that must also satisfy what the
    model declares for `path` of `operation`'s input."""
    from pydantic import AfterValidator
    from pydantic_core import PydanticCustomError

    rule = constraint(operation, path, service)

    def check(value: Any) -> Any:
        if rule.problem(value):
            raise PydanticCustomError(
                "api_constraint", "allowed: {allowed}", {"allowed": rule.message()}
            )
        return value

    return Annotated[base, AfterValidator(check)]


def api_bounds(operation: str, path: str, service: str = BEDROCK) -> dict[str, float]:
    """The model's range for a number, or length range for a string or list, as pydantic
    `Field` arguments (so error messages can state the bounds)."""
    rule = constraint(operation, path, service)
    names = ("ge", "le") if rule.is_number else ("min_length", "max_length")
    return {
        name: bound
        for name, bound in zip(names, (rule.min, rule.max), strict=True)
        if bound is not None
    }


def api_enum(operation: str, path: str, service: str = BEDROCK) -> tuple[str, ...]:
    return constraint(operation, path, service).enum


def request_members(operation: str, request: dict[str, Any], service: str = BEDROCK) -> set[str]:
    """The constrained members (in `constraint`'s form) that `request` sends."""
    constrained = constrained_members(operation, service)
    input_shape = _shape(service, _input_shape(service, operation))
    return {
        generic_path(path)
        for path, _ in _leaves(service, input_shape, request)
        if generic_path(path) in constrained
    }
