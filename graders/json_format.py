"""The built-in `json_format` grader: the answer must be JSON that satisfies a schema.

Spec (JSON object, camelCase keys):
- `type`: "json_format" (required)
- `schema`: a JSON Schema object (required), using only the subset below
- `partialCredit`: bool, default false. When false the score is 1.0 if the answer parses and
  every check passes, else 0.0. When true it is 0.0 if the answer does not parse, else
  0.5 + 0.5 * (checks passed / checks evaluated), with 1.0 when no check applies.
- `compareToReference`: bool, default false. When true the parsed answer must also equal the
  reference answer (a JSON value, or a string holding JSON, optionally fenced); that
  comparison is one more check. A string reference that is not JSON raises ValueError for
  that sample: it is a data bug, not a wrong answer.

The answer is the content of the last fenced block if there is one, else the whole text,
stripped. Fences are lines starting with ``` (any info string, e.g. ```json), paired in
order; an unclosed last fence is ignored. It is parsed as strict JSON (no NaN/Infinity).

Schema keywords: `type` (string, number, integer, boolean, object, array, null, or a list of
them), `required`, `properties`, `additionalProperties` (bool), `enum`, `const`, `items` (one
schema for every element), `minItems`, `maxItems`, `minLength`, `maxLength`, `minimum`,
`maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers, as in draft 6+), `pattern`
(`re.search` on the first 100,000 characters). The annotations `title`, `description`,
`$schema`, `$id`, `$comment`, `default` and `examples` are accepted and ignored; any other
keyword is a spec problem. As in JSON Schema, booleans are not numbers, 1.0 is an integer,
1 equals 1.0 in enum/const, and keywords for another kind of value (e.g. `minLength` on a
number) do not apply.

A check is one evaluation of one assertion keyword (every keyword above except `properties`
and `items`, which only apply subschemas) at one place in the answer: `required` with three
names is one check; `items: {"type": "integer"}` on a 10-element array is ten checks.
`schema_violations` counts the failed checks. Checking stops after 100,000 visited values
(or nesting deeper than 64): that counts as one more failed check, and with partial credit
the score is then 0.5, so that padding an answer cannot hide unchecked violations.
"""

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .contract import Grader, Sample
from .spec import bool_problems, show, unknown

TYPE = "json_format"
BOOL_KEYS = {"partialCredit": False, "compareToReference": False}
SPEC_KEYS = ("type", "schema", *BOOL_KEYS)

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
COUNT_KEYWORDS = ("minItems", "maxItems", "minLength", "maxLength")
BOUND_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
KEYWORDS = (
    "type",
    "required",
    "properties",
    "additionalProperties",
    "enum",
    "const",
    "items",
    *COUNT_KEYWORDS,
    *BOUND_KEYWORDS,
    "pattern",
)
ANNOTATIONS = ("title", "description", "$schema", "$id", "$comment", "default", "examples")

METRIC_NAME = "json_format"
PARSED_METRIC = "json_parsed"
VIOLATIONS_METRIC = "schema_violations"

MAX_DEPTH = 64
# Values visited per answer (instance values and nodes compared by enum/const/reference).
MAX_NODES = 100_000
# `re` has no timeout; capping the searched text keeps even a poor pattern's cost bounded.
MAX_PATTERN_INPUT_CHARS = 100_000


def _unknown(key: object, path: str, allowed: Sequence[str], what: str) -> tuple[str, str]:
    return (f"{path}{key}", unknown(key, allowed, what))


def spec_problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with a json_format spec as `(key_path, message)`; [] when it is valid."""
    problems = [_unknown(key, "", SPEC_KEYS, "key") for key in spec if key not in SPEC_KEYS]
    if spec.get("type") != TYPE:
        problems.append(("type", f"got {show(spec.get('type'))}; allowed: {TYPE}"))
    if "schema" not in spec:
        problems.append(("schema", "missing; required: a JSON Schema object"))
    else:
        problems += schema_problems(spec["schema"], "schema", 0)
    problems += bool_problems(spec, BOOL_KEYS)
    return problems


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def schema_problems(schema: object, path: str, depth: int) -> list[tuple[str, str]]:
    """Every problem with a (sub)schema, with key paths like `schema.properties.age.minimum`."""
    if not isinstance(schema, dict):
        return [(path, f"got {show(schema)}; allowed: a schema object")]
    if depth >= MAX_DEPTH:
        return [(path, f"schemas nested deeper than {MAX_DEPTH} levels")]
    problems = [
        _unknown(key, f"{path}.", KEYWORDS, "keyword")
        for key in schema
        if key not in KEYWORDS and key not in ANNOTATIONS
    ]

    if "type" in schema:
        problems += _type_problems(schema["type"], f"{path}.type")
    if "required" in schema:
        problems += _names_problems(schema["required"], f"{path}.required")
    if "properties" in schema:
        properties = schema["properties"]
        if not isinstance(properties, dict):
            problems.append(
                (f"{path}.properties", f"got {show(properties)}; allowed: an object of schemas")
            )
        else:
            for name, subschema in properties.items():
                sub_path = f"{path}.properties.{name}"
                # JSON object keys are strings, so a non-string name (YAML allows 1: ...)
                # could never match anything.
                if not isinstance(name, str):
                    problems.append((sub_path, f"got {show(name)}; allowed: a string name"))
                problems += schema_problems(subschema, sub_path, depth + 1)
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        value = schema["additionalProperties"]
        problems.append(
            (f"{path}.additionalProperties", f"got {show(value)}; allowed: true, false")
        )
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        problems.append((f"{path}.enum", f"got {show(schema['enum'])}; allowed: a non-empty array"))
    if "items" in schema:
        problems += schema_problems(schema["items"], f"{path}.items", depth + 1)
    for key in COUNT_KEYWORDS:
        if key in schema and not _is_count(schema[key]):
            problems.append(
                (f"{path}.{key}", f"got {show(schema[key])}; allowed: a non-negative integer")
            )
    for key in BOUND_KEYWORDS:
        if key in schema and not _is_finite_number(schema[key]):
            problems.append((f"{path}.{key}", f"got {show(schema[key])}; allowed: a finite number"))
    if "pattern" in schema:
        problems += _pattern_problems(schema["pattern"], f"{path}.pattern")
    problems += _contradictions(schema, path)
    return problems


def _type_problems(value: object, path: str) -> list[tuple[str, str]]:
    allowed = f"{', '.join(JSON_TYPES)}, or a non-empty array of them"
    names = value if isinstance(value, list) else [value]
    if not names or any(not isinstance(n, str) or n not in JSON_TYPES for n in names):
        return [(path, f"got {show(value)}; allowed: {allowed}")]
    if len(set(names)) != len(names):
        return [(path, f"got {show(value)}; types must not repeat")]
    return []


def _names_problems(value: object, path: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return [(path, f"got {show(value)}; allowed: an array of property names")]
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, name in enumerate(value):
        if not isinstance(name, str):
            problems.append((f"{path}[{i}]", f"got {show(name)}; allowed: a property name"))
        elif name in seen:
            problems.append((f"{path}[{i}]", f"duplicate property name {name!r}"))
        else:
            seen.add(name)
    return problems


def _pattern_problems(pattern: object, path: str) -> list[tuple[str, str]]:
    if not isinstance(pattern, str):
        return [(path, f"got {show(pattern)}; allowed: a regex string")]
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        # Huge repeat counts overflow rather than raise re.error.
        return [(path, f"got {show(pattern)}; not a valid regex: {exc}")]
    return []


def _contradictions(schema: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Constraints that no answer can meet: almost certainly a typo, so report them."""
    problems: list[tuple[str, str]] = []
    for low, high, valid in (
        ("minItems", "maxItems", _is_count),
        ("minLength", "maxLength", _is_count),
        ("minimum", "maximum", _is_finite_number),
    ):
        if valid(schema.get(low)) and valid(schema.get(high)) and schema[low] > schema[high]:
            problems.append(
                (
                    f"{path}.{low}",
                    f"{schema[low]!r} is greater than {high} {schema[high]!r}; no answer can pass",
                )
            )
    properties = schema.get("properties", {})
    if (
        schema.get("additionalProperties") is False
        and isinstance(properties, dict)
        and isinstance(schema.get("required"), list)
    ):
        for i, name in enumerate(schema["required"]):
            if isinstance(name, str) and name not in properties:
                problems.append(
                    (
                        f"{path}.required[{i}]",
                        f"{name!r} is not in properties and additionalProperties is false; "
                        "no answer can pass",
                    )
                )
    return problems


# --- compiled schema ----------------------------------------------------------------------


_MISSING = object()


@dataclass(frozen=True)
class Schema:
    """A validated schema with its regex compiled, ready to check many answers."""

    types: frozenset[str] | None = None
    required: tuple[str, ...] | None = None
    properties: Mapping[str, "Schema"] = field(default_factory=dict)
    additional_properties: bool | None = None
    enum: tuple[Any, ...] | None = None
    const: Any = _MISSING
    items: "Schema | None" = None
    counts: Mapping[str, int] = field(default_factory=dict)
    bounds: Mapping[str, float] = field(default_factory=dict)
    pattern: re.Pattern[str] | None = None


def compile_schema(schema: Mapping[str, Any]) -> Schema:
    """A `Schema` from a schema dict that `schema_problems` accepted."""
    raw_type = schema.get("type")
    return Schema(
        types=None
        if raw_type is None
        else frozenset(raw_type if isinstance(raw_type, list) else [raw_type]),
        required=tuple(schema["required"]) if "required" in schema else None,
        properties={
            name: compile_schema(sub) for name, sub in schema.get("properties", {}).items()
        },
        additional_properties=schema.get("additionalProperties"),
        enum=tuple(schema["enum"]) if "enum" in schema else None,
        const=schema.get("const", _MISSING),
        items=compile_schema(schema["items"]) if "items" in schema else None,
        counts={key: schema[key] for key in COUNT_KEYWORDS if key in schema},
        bounds={key: schema[key] for key in BOUND_KEYWORDS if key in schema},
        pattern=re.compile(schema["pattern"]) if "pattern" in schema else None,
    )


# --- checking -----------------------------------------------------------------------------


class _BudgetExceeded(Exception):
    pass


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_type(value: object, name: str) -> bool:
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return _is_number(value)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    return value is None  # "null"


@dataclass(slots=True)
class Report:
    """The outcome of checking one answer."""

    checks: int = 0
    passed: int = 0
    # Kept for tests and debugging only: metric names and values cannot carry text.
    first_violation: str | None = None
    nodes: int = 0
    # Checking stopped at the budget, so the fraction passed says nothing about the rest.
    exhausted: bool = False

    @property
    def violations(self) -> int:
        return self.checks - self.passed

    def record(self, ok: bool, path: str, message: Callable[[], str]) -> None:
        # The message is built only for the first violation: formatting it for every check
        # that passes would be most of the grader's time.
        self.checks += 1
        if ok:
            self.passed += 1
        elif self.first_violation is None:
            self.first_violation = f"{path}: {message()}"

    def visit(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _BudgetExceeded


def json_equal(a: object, b: object, report: Report) -> bool:
    """Equality with JSON semantics: true != 1, 1 == 1.0, deep for arrays and objects."""
    # Iterative, so deep values cannot exhaust the stack; every pair visited costs budget.
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        report.visit()
        # _is_number excludes bools, so true vs 1 falls to the type comparison at the end.
        if _is_number(x) or _is_number(y):
            if not (_is_number(x) and _is_number(y) and x == y):
                return False
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif not (type(x) is type(y) and x == y):  # strings, booleans and null
            return False
    return True


def _check(schema: Schema, value: object, path: str, depth: int, report: Report) -> None:
    report.nodes += 1  # Report.visit, inlined: this runs for every value checked
    if report.nodes > MAX_NODES:
        raise _BudgetExceeded
    if depth > MAX_DEPTH:
        raise _BudgetExceeded
    if schema.types is not None:
        ok = False
        for name in schema.types:  # a plain loop: `any(genexpr)` costs more per node
            if _has_type(value, name):
                ok = True
                break
        report.record(ok, path, lambda: f"expected type {' or '.join(sorted(schema.types))}")
    if schema.enum is not None:
        ok = any(json_equal(value, option, report) for option in schema.enum)
        report.record(ok, path, lambda: "not one of the enum values")
    if schema.const is not _MISSING:
        report.record(json_equal(value, schema.const, report), path, lambda: "not equal to const")

    if isinstance(value, dict):
        if schema.required is not None:
            missing = [name for name in schema.required if name not in value]
            report.record(not missing, path, lambda: f"missing required {missing[:3]}")
        if schema.additional_properties is not None:
            extra = [key for key in value if key not in schema.properties]
            ok = schema.additional_properties or not extra
            report.record(ok, path, lambda: f"additional properties {extra[:3]}")
        for name, subschema in schema.properties.items():
            if name in value:
                _check(subschema, value[name], f"{path}.{name}", depth + 1, report)
    elif isinstance(value, list):
        _check_size(len(value), schema, "Items", path, report)
        if schema.items is not None:
            for i, item in enumerate(value):
                _check(schema.items, item, f"{path}[{i}]", depth + 1, report)
    elif isinstance(value, str):
        _check_size(len(value), schema, "Length", path, report)
        if schema.pattern is not None:
            ok = schema.pattern.search(value[:MAX_PATTERN_INPUT_CHARS]) is not None
            report.record(ok, path, lambda: f"does not match {schema.pattern.pattern!r}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_bounds(value, schema, path, report)


_SIZE_KEYS = {"Items": ("minItems", "maxItems"), "Length": ("minLength", "maxLength")}


def _check_size(size: int, schema: Schema, kind: str, path: str, report: Report) -> None:
    if not schema.counts:  # the common case: no size limits at this node
        return
    low_key, high_key = _SIZE_KEYS[kind]
    if low_key in schema.counts:
        low = schema.counts[low_key]
        report.record(size >= low, path, lambda: f"size {size} < {low_key} {low}")
    if high_key in schema.counts:
        high = schema.counts[high_key]
        report.record(size <= high, path, lambda: f"size {size} > {high_key} {high}")


def _check_bounds(value: int | float, schema: Schema, path: str, report: Report) -> None:
    for key, limit in schema.bounds.items():
        if key == "minimum":
            ok = value >= limit
        elif key == "maximum":
            ok = value <= limit
        elif key == "exclusiveMinimum":
            ok = value > limit
        else:
            ok = value < limit
        report.record(ok, path, lambda key=key, limit=limit: f"{value!r} violates {key} {limit!r}")


def check(schema: Schema, value: object, reference: object = _MISSING) -> Report:
    """Check a parsed answer against the schema (and the reference, if one is given)."""
    report = Report()
    try:
        _check(schema, value, "$", 0, report)
        if reference is not _MISSING:
            report.record(
                json_equal(value, reference, report), "$", lambda: "differs from reference"
            )
    except _BudgetExceeded:
        report.exhausted = True
        report.record(False, "$", lambda: f"too large or deep to check (>{MAX_NODES} values)")
    return report


# --- answers ------------------------------------------------------------------------------


def extract_json_text(text: str) -> str:
    """The content of the last fenced block, or the whole text; stripped."""
    fence_count = text.count("```")
    if fence_count < 2:
        return text.strip()
    if fence_count == 2:
        # One block, the usual case: find it without splitting the whole answer into lines.
        first = text.find("```")
        second = text.find("```", first + 3)
        opener_start = text.rfind("\n", 0, first) + 1
        closer_start = text.rfind("\n", 0, second) + 1
        if (
            not text[opener_start:first].strip()
            and not text[closer_start:second].strip()
            and opener_start != closer_start
        ):
            body_start = text.find("\n", first)
            return text[body_start + 1 : closer_start].strip() if body_start != -1 else ""
    lines = text.split("\n")
    # Fence lines pair up in order (opener, closer, ...). Working on whole lines rather than
    # with a regex keeps this linear, and a ``` inside a JSON string is not a fence.
    fences = [i for i, line in enumerate(lines) if line.lstrip().startswith("```")]
    if len(fences) < 2:
        return text.strip()
    last_pair = len(fences) // 2 * 2
    opener, closer = fences[last_pair - 2], fences[last_pair - 1]
    return "\n".join(lines[opener + 1 : closer]).strip()


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for every answer: `json.loads` with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) if the text is strict JSON, else (False, None)."""
    try:
        # raw_decode skips `decode`'s two whitespace scans; the text arrives stripped, so
        # anything after the value is trailing garbage.
        value, end = _DECODER.raw_decode(text)
        return (True, value) if end == len(text) else (False, None)
    # RecursionError: nesting deeper than the C parser allows. ValueError also covers
    # integers with more digits than Python converts.
    except (ValueError, RecursionError):
        return False, None


def reference_value(reference: object) -> object:
    """The reference as a JSON value; a string is parsed as JSON (ValueError if it is not)."""
    if not isinstance(reference, str):
        return reference
    ok, value = parse_json(extract_json_text(reference))
    if not ok:
        raise ValueError(f"reference answer {show(reference)} is not valid JSON")
    return value


def build(spec: Mapping[str, Any]) -> Grader:
    """A grader for a spec that `spec_problems` accepted."""
    schema = compile_schema(spec["schema"])
    partial_credit: bool = spec.get("partialCredit", False)
    compare: bool = spec.get("compareToReference", False)

    def grade(sample: Sample) -> tuple[float, list[dict[str, Any]]]:
        # The reference first: a bad reference must surface even when the answer is garbage.
        reference = reference_value(sample.reference) if compare else _MISSING
        parsed, value = parse_json(extract_json_text(sample.answer_text))
        if not parsed:
            return 0.0, [
                {"name": METRIC_NAME, "value": 0.0, "type": "Reward"},
                {"name": PARSED_METRIC, "value": 0.0, "type": "Metric"},
            ]
        report = check(schema, value, reference)
        if partial_credit:
            if report.exhausted:
                fraction = 0.0
            else:
                fraction = report.passed / report.checks if report.checks else 1.0
            score = 0.5 + 0.5 * fraction
        else:
            score = 1.0 if report.violations == 0 else 0.0
        return score, [
            {"name": METRIC_NAME, "value": score, "type": "Reward"},
            {"name": PARSED_METRIC, "value": 1.0, "type": "Metric"},
            {"name": VIOLATIONS_METRIC, "value": float(report.violations), "type": "Metric"},
        ]

    return grade
