"""The built-in `json_format` grader: the answer must be JSON that satisfies a schema.

Spec (JSON object, camelCase keys):
- `type`: "json_format" (required)
- `schema`: a JSON Schema draft 2020-12 document (required); `json_schema` lists the
  keywords it supports. Schemas from pydantic's `model_json_schema()` work as they are.
- `partialCredit`: bool, default false (see Scoring).
- `compareToReference`: bool, default false. When true the parsed answer must also equal
  the reference answer (a JSON value, or a string holding JSON, optionally fenced). A string
  reference that is not JSON raises ValueError for that sample: it is a data bug, not a
  wrong answer.

Scoring. 1.0 when the answer parses, is valid against the schema and, with
`compareToReference`, equals the reference; else 0.0. With `partialCredit` a wrong answer
earns less than half: 0.5 x the share of schema checks passed (see `json_schema`), times,
with `compareToReference`, the share of leaf values that match the reference (matched
leaves / leaves in either, by path). It earns nothing when it does not parse, when the whole
answer has the wrong `type`, or when it is too large to check. So `0` against an object
schema earns 0, `{}` missing its one required key 0.25, and a schema-valid `{"answer": 41}`
against the reference `{"answer": 42}` 0.

Spec checks beyond the standard, because a grader rewards whatever its schema lets
through: unknown keywords are refused (with a did-you-mean hint), so is a top-level schema
`false` (no answer could pass), constraints no answer can meet (`minItems` above
`maxItems`, ...), and a top-level schema that uses keywords of one kind of value without
saying `type`: `{"required": ["answer"]}` accepts `"nope"` (JSON Schema applies `required`
to objects only), so it must say `type: object`.

The answer is the content of the last fenced block if there is one, else the whole text,
stripped. Fences are lines starting with ``` (any info string, e.g. ```json), paired in
order; an unclosed last fence is ignored. It is parsed as strict JSON (no NaN/Infinity).
"""

import json
from collections.abc import Mapping
from typing import Any

from .contract import Grader, Sample
from .json_schema import (
    MAX_DEPTH,
    MAX_NODES,
    BudgetExceeded,
    Node,
    Report,
    analyse,
    as_count,
    check,
    compile_schema,
    is_finite_number,
    json_equal,
    scalar_key,
)
from .spec import bool_problems, show, unknown

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "Node",
    "Report",
    "build",
    "check",
    "compile_schema",
    "extract_json_text",
    "json_equal",
    "reference_match",
    "score_answer",
    "spec_problems",
]

TYPE = "json_format"
BOOL_KEYS = {"partialCredit": False, "compareToReference": False}
SPEC_KEYS = ("type", "schema", *BOOL_KEYS)

METRIC_NAME = "json_format"
PARSED_METRIC = "json_parsed"
VIOLATIONS_METRIC = "schema_violations"
REFERENCE_METRIC = "reference_match"

# The keywords that apply to one kind of value only; the others pass it unchecked.
KIND_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "object": (
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
    ),
    "array": (
        "prefixItems",
        "items",
        "contains",
        "minContains",
        "maxContains",
        "minItems",
        "maxItems",
        "uniqueItems",
    ),
    "string": ("minLength", "maxLength", "pattern"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
}
_PLURALS = {"object": "objects", "array": "arrays", "string": "strings", "number": "numbers"}


def spec_problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with a json_format spec as `(key_path, message)`; [] when it is valid."""
    problems = [(str(key), unknown(key, SPEC_KEYS, "key")) for key in spec if key not in SPEC_KEYS]
    if spec.get("type") != TYPE:
        problems.append(("type", f"got {show(spec.get('type'))}; allowed: {TYPE}"))
    if "schema" not in spec:
        problems.append(("schema", "missing; required: a JSON Schema object"))
    else:
        problems += grader_schema_problems(spec["schema"])
    problems += bool_problems(spec, BOOL_KEYS)
    return problems


def grader_schema_problems(schema: object) -> list[tuple[str, str]]:
    """The JSON Schema's own problems, plus those that would make it a poor reward."""
    if schema is False:
        return [("schema", "false accepts no answer, so every score would be 0")]
    if not isinstance(schema, dict | bool):
        return [("schema", f"got {show(schema)}; allowed: a schema object (or true)")]
    analysis = analyse(schema, "schema")
    problems = analysis.problems
    if isinstance(schema, dict):
        problems += _untyped_top_level(schema)
    for path, location in analysis.locations:
        problems += _contradictions(location, path)
    return problems


def _untyped_top_level(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """A problem if the top-level schema constrains one kind of value without saying `type`:
    JSON Schema lets every other kind through, so `{"required": ["a"]}` accepts "nope"."""
    if "type" in schema or "const" in schema or "enum" in schema:
        return []
    used = [(kind, key) for kind, keys in KIND_KEYWORDS.items() for key in keys if key in schema]
    if not used:
        return []
    keywords = ", ".join(key for _, key in used)
    kinds = list(dict.fromkeys(kind for kind, _ in used))
    verb = "applies" if len(used) == 1 else "apply"
    wanted = kinds[0] if len(kinds) == 1 else f"[{', '.join(kinds)}]"
    return [
        (
            "schema.type",
            f"missing; {keywords} {verb} only to {' and '.join(_PLURALS[k] for k in kinds)}, "
            f"so an answer of any other type would pass; add type: {wanted}",
        )
    ]


def _contradictions(schema: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Constraints that no answer can meet: almost certainly a typo, so report them."""
    problems: list[tuple[str, str]] = []
    for low, high, valid in (
        ("minItems", "maxItems", as_count),
        ("minLength", "maxLength", as_count),
        ("minProperties", "maxProperties", as_count),
        ("minContains", "maxContains", as_count),
        ("minimum", "maximum", lambda v: v if is_finite_number(v) else None),
    ):
        low_value, high_value = valid(schema.get(low)), valid(schema.get(high))
        if low_value is not None and high_value is not None and low_value > high_value:
            problems.append(
                (
                    f"{path}.{low}",
                    f"{schema[low]!r} is greater than {high} {schema[high]!r}; no answer can pass",
                )
            )
    properties = schema.get("properties", {})
    if (
        schema.get("additionalProperties") is False
        and "patternProperties" not in schema
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


# --- scoring ------------------------------------------------------------------------------

_MISSING: Any = object()
_EMPTY_ARRAY: Any = object()
_EMPTY_OBJECT: Any = object()


def _leaves(value: object, report: Report) -> dict[tuple[Any, ...], Any]:
    """Path -> hashed scalar for every leaf (scalars, empty arrays and objects) of a value.
    Object keys are strings and array indexes ints, so no two different values share
    all their leaves."""
    leaves: dict[tuple[Any, ...], Any] = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        report.visit()
        if len(path) > MAX_DEPTH:
            raise BudgetExceeded
        if isinstance(item, dict):
            stack.extend(((*path, key), child) for key, child in item.items())
            if not item:
                leaves[path] = _EMPTY_OBJECT
        elif isinstance(item, list):
            stack.extend(((*path, index), child) for index, child in enumerate(item))
            if not item:
                leaves[path] = _EMPTY_ARRAY
        else:
            leaves[path] = scalar_key(item)
    return leaves


def reference_match(answer: object, reference: object) -> float:
    """1.0 when the answer equals the reference (JSON equality); else the share of leaf
    values matched at the same path, over the leaves of either, so missing and extra
    values both count against it. 0.0 if they are too large to compare."""
    report = Report()
    try:
        if json_equal(answer, reference, report):
            return 1.0
        answer_leaves = _leaves(answer, report)
        reference_leaves = _leaves(reference, report)
    except BudgetExceeded:
        return 0.0
    matched = sum(
        1 for path, key in reference_leaves.items() if answer_leaves.get(path, _MISSING) == key
    )
    return matched / (len(answer_leaves) + len(reference_leaves) - matched)


def score_answer(report: Report, match: float | None, partial_credit: bool) -> float:
    """The score of a parsed answer, from its schema report and, when the reference is
    compared, its `reference_match`. A wrong answer never earns half of the reward, so
    that training cannot settle on well-formed wrong answers."""
    if report.violations == 0 and (match is None or match == 1.0):
        return 1.0
    if not partial_credit or report.exhausted or report.wrong_root_type:
        return 0.0
    schema_share = report.passed / report.checks if report.checks else 1.0
    return 0.5 * schema_share * (1.0 if match is None else match)


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
        report = check(schema, value)
        match = reference_match(value, reference) if compare else None
        score = score_answer(report, match, partial_credit)
        metrics = [
            {"name": METRIC_NAME, "value": score, "type": "Reward"},
            {"name": PARSED_METRIC, "value": 1.0, "type": "Metric"},
            {"name": VIOLATIONS_METRIC, "value": float(report.violations), "type": "Metric"},
        ]
        if match is not None:
            metrics.append({"name": REFERENCE_METRIC, "value": match, "type": "Metric"})
        return score, metrics

    return grade
