"""A JSON Schema draft 2020-12 validator for the `json_format` grader.

Hand-written because the grader runs in a standard-library-only Lambda archive and its
cold start matters: the `jsonschema` package needs `referencing` and `rpds-py` (a compiled
Rust extension) and takes far longer to import than this module.

Supported keywords (every one agrees with the official JSON-Schema-Test-Suite, see
tests/graders/test_json_schema_suite.py):
- any value: `type` (a name or a list of names), `enum`, `const`, `allOf`, `anyOf`,
  `oneOf`, `not`, `if`/`then`/`else`, `$ref`;
- numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`
  (exact: decimal values are compared as written, so 0.0075 is a multiple of 0.0001);
- strings: `minLength`, `maxLength` (code points), `pattern` (`re.search` on the first
  100,000 characters, refused when it could backtrack exponentially);
- arrays: `prefixItems`, `items`, `contains` with `minContains`/`maxContains`,
  `minItems`, `maxItems`, `uniqueItems`;
- objects: `properties`, `patternProperties`, `additionalProperties`, `required`,
  `dependentRequired`, `dependentSchemas`, `propertyNames`, `minProperties`,
  `maxProperties`;
- structure: `$defs` (and draft-07 `definitions`), `$id`, `$anchor`, boolean schemas.
`$ref` names a schema in the same document: a JSON pointer (`#/$defs/Item`), an anchor
(`#name`), or the `$id` of an embedded schema. Anything else is a remote reference and is
refused, as are `$dynamicRef`, `unevaluatedProperties`/`unevaluatedItems` and `$vocabulary`.
Annotations (`title`, `description`, `default`, `examples`, `format`, `deprecated`,
`readOnly`, `writeOnly`, `$comment`, `$schema`, `content*`, and OpenAPI's `discriminator`,
which pydantic emits), and extension keywords starting with `x-` are accepted and ignored.
Any other keyword is refused: the standard
ignores unknown keywords, but in a grader spec one is almost always a typo that would
silently weaken the reward. Counts (`maxItems: 2.0`) may be integer-valued floats.

Equality is JSON's: 1 == 1.0, true != 1, objects compare without order.

A check is one evaluation of one assertion keyword at one place in the answer: `required`
with three names is one check; `items: {"type": "integer"}` on a 10-element array is ten.
Subschemas of `anyOf`, `oneOf`, `not`, `if` and `contains` are tried silently: the keyword
is one check, passed or failed, whatever its subschemas found. `$ref`, `allOf` and the
chosen `then`/`else` add their checks as if written in place.

Checking stops after 100,000 schema evaluations and compared values, or 200 nested
evaluations: that counts as one more failed check, and the report is marked exhausted.
"""

import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .safe_regex import backtracking_problem
from .spec import show, unknown

Problem = tuple[str, str]

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")

# Keywords that hold one subschema, a list of them, or a name -> subschema object.
SUBSCHEMA_KEYWORDS = (
    "additionalProperties",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
)
SUBSCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")
SUBSCHEMA_MAP_KEYWORDS = (
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
)
COUNT_KEYWORDS = (
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minContains",
    "maxContains",
    "minProperties",
    "maxProperties",
)
BOUND_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
VALUE_KEYWORDS = (
    "type",
    "enum",
    "const",
    *BOUND_KEYWORDS,
    "multipleOf",
    "pattern",
    "uniqueItems",
    "required",
    "dependentRequired",
    *COUNT_KEYWORDS,
    "$ref",
    "$id",
    "$anchor",
)
KEYWORDS = (*VALUE_KEYWORDS, *SUBSCHEMA_KEYWORDS, *SUBSCHEMA_LIST_KEYWORDS, *SUBSCHEMA_MAP_KEYWORDS)
ANNOTATIONS = (
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
    "discriminator",
    "$comment",
    "$schema",
)
UNSUPPORTED = {
    "$dynamicRef": "not supported (dynamic references); use $ref",
    "$dynamicAnchor": "not supported (dynamic references); use $anchor",
    "$recursiveRef": "not supported (a draft 2019-09 keyword); use $ref",
    "$recursiveAnchor": "not supported (a draft 2019-09 keyword); use $anchor",
    "unevaluatedProperties": "not supported; use additionalProperties",
    "unevaluatedItems": "not supported; use items after prefixItems",
    "$vocabulary": "not supported (custom meta-schemas)",
    "additionalItems": "a draft 2019-09 keyword; in 2020-12, items after prefixItems",
    "dependencies": "a draft-07 keyword; use dependentRequired or dependentSchemas",
}

# Schema nesting allowed in a spec.
MAX_DEPTH = 64
# Schema evaluations plus values compared (enum, const, uniqueItems) per answer.
MAX_NODES = 100_000
# Nested evaluations per answer (a recursive $ref over a deep answer); keeps Python's stack
# well inside its limit, at three frames per evaluation.
MAX_EVAL_DEPTH = 200
# `re` has no timeout; capping the searched text keeps even a poor pattern's cost bounded.
MAX_PATTERN_INPUT_CHARS = 100_000

_ANCHOR = re.compile(r"[A-Za-z_][-A-Za-z0-9._]*\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_MISSING: Any = object()


# --- numbers and counts -------------------------------------------------------------------


def as_count(value: object) -> int | None:
    """A non-negative integer keyword value (2 or 2.0) as an int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_multiple(value: int | float, divisor: int | float) -> bool:
    """Whether `value` is an integer multiple of `divisor`, exactly as written in decimal
    (floats divide inexactly: 0.0075 / 0.0001 is 74.99999999999999)."""
    if type(value) is int and type(divisor) is int:
        return value % divisor == 0
    if not math.isfinite(value):
        return False
    # Imported here: most schemas never divide floats, and fractions pulls in decimal.
    from fractions import Fraction

    # repr gives the shortest decimal that reads back as the same float, which is the
    # number as the JSON text wrote it.
    return Fraction(repr(value)) % Fraction(repr(divisor)) == 0


# --- spec validation ----------------------------------------------------------------------


class Analysis:
    """A schema document walked once: every problem, every schema object with its path and
    base URI, and what each `$ref` resolves to."""

    __slots__ = ("anchors", "bases", "locations", "problems", "resources", "targets")

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # (key path, schema object) for every object schema, in document order.
        self.locations: list[tuple[str, dict[str, Any]]] = []
        self.bases: dict[int, str] = {}  # id(schema) -> the base URI its $ref reads against
        self.resources: dict[str, Any] = {}  # absolute URI ($id, or "" for the root) -> schema
        self.anchors: dict[tuple[str, str], Any] = {}  # (resource URI, $anchor) -> schema
        self.targets: dict[int, Any] = {}  # id(schema holding $ref) -> the schema it names


def analyse(schema: object, path: str) -> Analysis:
    """Walk a schema document; `analysis.problems` is [] when it can be compiled."""
    analysis = Analysis()
    if isinstance(schema, dict | bool):
        analysis.resources[""] = schema
    refs: list[tuple[str, str, str, dict[str, Any]]] = []
    _walk(schema, path, "", 0, analysis, refs)
    for ref_path, ref, base, holder in refs:
        target, problem = _resolve(ref, base, analysis)
        if problem:
            analysis.problems.append((ref_path, f"got {show(ref)}; {problem}"))
        else:
            analysis.targets[id(holder)] = target
    if not analysis.problems:
        analysis.problems += _cycle_problems(analysis)
    return analysis


def schema_problems(schema: object, path: str) -> list[Problem]:
    """Every problem with a schema document, at key paths like `schema.properties.age.type`."""
    return analyse(schema, path).problems


def _walk(
    schema: object,
    path: str,
    base: str,
    depth: int,
    analysis: Analysis,
    refs: list[tuple[str, str, str, dict[str, Any]]],
) -> None:
    problems = analysis.problems
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        problems.append((path, f"got {show(schema)}; allowed: a schema (an object, true or false)"))
        return
    if depth >= MAX_DEPTH:
        problems.append((path, f"schemas nested deeper than {MAX_DEPTH} levels"))
        return
    if "$id" in schema:
        base = _register_id(schema["$id"], f"{path}.$id", base, schema, analysis)
    analysis.bases.setdefault(id(schema), base)
    analysis.locations.append((path, schema))
    for key, value in schema.items():
        key_path = f"{path}.{key}"
        if key in SUBSCHEMA_KEYWORDS:
            if key == "items" and isinstance(value, list):
                problems.append(
                    (key_path, "got a list; allowed: a schema (a list of schemas is prefixItems)")
                )
            else:
                _walk(value, key_path, base, depth + 1, analysis, refs)
        elif key in SUBSCHEMA_LIST_KEYWORDS:
            if not isinstance(value, list) or not value:
                problems.append(
                    (key_path, f"got {show(value)}; allowed: a non-empty array of schemas")
                )
                continue
            for i, subschema in enumerate(value):
                _walk(subschema, f"{key_path}[{i}]", base, depth + 1, analysis, refs)
        elif key in SUBSCHEMA_MAP_KEYWORDS:
            if not isinstance(value, dict):
                problems.append((key_path, f"got {show(value)}; allowed: an object of schemas"))
                continue
            for name, subschema in value.items():
                sub_path = f"{key_path}.{name}"
                # JSON object keys are strings, so a non-string name (YAML allows 1: ...)
                # could never match anything.
                if not isinstance(name, str):
                    problems.append((sub_path, f"got {show(name)}; allowed: a string name"))
                elif key == "patternProperties":
                    problems += pattern_problems(name, sub_path)
                _walk(subschema, sub_path, base, depth + 1, analysis, refs)
        elif key in _VALUE_CHECKS:
            problems += _VALUE_CHECKS[key](value, key_path)
            if key == "$ref" and isinstance(value, str):
                refs.append((key_path, value, base, schema))
            elif key == "$anchor" and isinstance(value, str) and _ANCHOR.match(value):
                analysis.anchors.setdefault((base, value), schema)
        elif key in UNSUPPORTED:
            problems.append((key_path, UNSUPPORTED[key]))
        elif key not in ANNOTATIONS and not (isinstance(key, str) and key.startswith("x-")):
            problems.append((key_path, unknown(key, KEYWORDS, "keyword")))


def _register_id(value: object, path: str, base: str, schema: object, analysis: Analysis) -> str:
    """The base URI inside a schema with this `$id`; registers the schema under it."""
    if not isinstance(value, str) or value.partition("#")[2]:
        analysis.problems.append((path, f"got {show(value)}; allowed: a URI without a fragment"))
        return base
    uri = _join(base, value).partition("#")[0]
    analysis.resources.setdefault(uri, schema)
    return uri


def _join(base: str, reference: str) -> str:
    """`reference` read against `base` (RFC 3986), without the network."""
    if reference.startswith("#"):
        return base + reference
    if _SCHEME.match(reference) or not base:
        return reference
    from urllib.parse import urljoin  # only documents with $id need it

    return urljoin(base, reference)


def _resolve(ref: str, base: str, analysis: Analysis) -> tuple[Any, str]:
    """(the schema `ref` names, "") or (None, why it cannot be used)."""
    uri, _, fragment = _join(base, ref).partition("#")
    if uri not in analysis.resources:
        return None, (
            "only references within this schema are supported (#/$defs/Name, #anchor, or "
            "the $id of a schema inside it)"
        )
    resource = analysis.resources[uri]
    if "%" in fragment:
        from urllib.parse import unquote

        fragment = unquote(fragment)
    if not fragment:
        return resource, ""
    if not fragment.startswith("/"):
        if (uri, fragment) in analysis.anchors:
            return analysis.anchors[(uri, fragment)], ""
        return None, f"no $anchor {fragment!r} in this schema"
    target: Any = resource
    for token in fragment[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            return None, "no such location in this schema"
    if isinstance(target, bool) or (isinstance(target, dict) and id(target) in analysis.bases):
        return target, ""
    return None, "does not point at a schema"


def _in_place(schema: dict[str, Any], analysis: Analysis) -> Iterator[tuple[Any, str]]:
    """(subschema, key) for the subschemas applied to the same value as `schema`: a cycle
    through these would never end, because it never moves into the answer."""
    for key in ("allOf", "anyOf", "oneOf"):
        for i, subschema in enumerate(schema.get(key, ())):
            yield subschema, f"{key}[{i}]"
    for key in ("not", "if", "then", "else"):
        if key in schema:
            yield schema[key], key
    for name, subschema in schema.get("dependentSchemas", {}).items():
        yield subschema, f"dependentSchemas.{name}"
    if id(schema) in analysis.targets:
        yield analysis.targets[id(schema)], "$ref"


def _cycle_problems(analysis: Analysis) -> list[Problem]:
    paths = {id(schema): path for path, schema in analysis.locations}
    on_path: dict[int, bool] = {}  # id -> True while on the DFS path, False once finished
    problems: list[Problem] = []
    for _, start in analysis.locations:
        if id(start) in on_path:
            continue
        on_path[id(start)] = True
        stack = [(start, _in_place(start, analysis))]
        while stack:
            schema, children = stack[-1]
            child, key = next(children, (None, ""))
            if child is None:
                on_path[id(schema)] = False
                stack.pop()
            elif isinstance(child, dict):
                if on_path.get(id(child)) is True:
                    problems.append(
                        (
                            f"{paths[id(schema)]}.{key}",
                            "leads back to the same schema without moving into the answer; "
                            "checking would never end",
                        )
                    )
                elif id(child) not in on_path:
                    on_path[id(child)] = True
                    stack.append((child, _in_place(child, analysis)))
    return problems


def _type_problems(value: object, path: str) -> list[Problem]:
    allowed = f"{', '.join(JSON_TYPES)}, or a non-empty array of them"
    names = value if isinstance(value, list) else [value]
    if not names or any(not isinstance(n, str) or n not in JSON_TYPES for n in names):
        return [(path, f"got {show(value)}; allowed: {allowed}")]
    if len(set(names)) != len(names):
        return [(path, f"got {show(value)}; types must not repeat")]
    return []


def _names_problems(value: object, path: str) -> list[Problem]:
    if not isinstance(value, list):
        return [(path, f"got {show(value)}; allowed: an array of property names")]
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, name in enumerate(value):
        if not isinstance(name, str):
            problems.append((f"{path}[{i}]", f"got {show(name)}; allowed: a property name"))
        elif name in seen:
            problems.append((f"{path}[{i}]", f"duplicate property name {name!r}"))
        else:
            seen.add(name)
    return problems


def _dependent_required_problems(value: object, path: str) -> list[Problem]:
    if not isinstance(value, dict):
        return [(path, f"got {show(value)}; allowed: an object of property-name arrays")]
    problems: list[Problem] = []
    for name, names in value.items():
        problems += _names_problems(names, f"{path}.{name}")
    return problems


def pattern_problems(pattern: object, path: str) -> list[Problem]:
    """A problem if `pattern` is not a regex, or is one that could backtrack exponentially."""
    if not isinstance(pattern, str):
        return [(path, f"got {show(pattern)}; allowed: a regex string")]
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        # Huge repeat counts overflow rather than raise re.error.
        return [(path, f"got {show(pattern)}; not a valid regex: {exc}")]
    problem = backtracking_problem(pattern)
    return [(path, f"got {show(pattern)}; refused: {problem}")] if problem else []


def _check_value(valid: Callable[[Any], bool], allowed: str) -> Callable[[Any, str], list[Problem]]:
    def problems(value: object, path: str) -> list[Problem]:
        return [] if valid(value) else [(path, f"got {show(value)}; allowed: {allowed}")]

    return problems


_VALUE_CHECKS: Mapping[str, Callable[[Any, str], list[Problem]]] = {
    "type": _type_problems,
    "enum": _check_value(lambda v: isinstance(v, list) and bool(v), "a non-empty array"),
    "const": lambda value, path: [],
    **{key: _check_value(is_finite_number, "a finite number") for key in BOUND_KEYWORDS},
    "multipleOf": _check_value(
        lambda v: is_finite_number(v) and v > 0, "a finite number greater than 0"
    ),
    "pattern": pattern_problems,
    "uniqueItems": _check_value(lambda v: isinstance(v, bool), "true, false"),
    "required": _names_problems,
    "dependentRequired": _dependent_required_problems,
    **{
        key: _check_value(lambda v: as_count(v) is not None, "a non-negative integer")
        for key in COUNT_KEYWORDS
    },
    "$ref": _check_value(lambda v: isinstance(v, str), "a reference string such as #/$defs/Name"),
    "$id": lambda value, path: [],  # checked where it is registered
    "$anchor": _check_value(
        lambda v: isinstance(v, str) and _ANCHOR.match(v) is not None,
        "a name of letters, digits, '-', '_' and '.', not starting with a digit",
    ),
}


# --- compiled schema ----------------------------------------------------------------------

_NONE_TYPE = type(None)
_PYTHON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (_NONE_TYPE,),
}
_SCALARS = (str, int, float, bool, _NONE_TYPE)
# Markers that no JSON value can equal: they keep true apart from 1 in hashed keys.
_TRUE_KEY: Any = ("boolean", True)
_FALSE_KEY: Any = ("boolean", False)
_ARRAY_TAG: Any = object()
_OBJECT_TAG: Any = object()


class Node:
    """One compiled (sub)schema. Fields left at their defaults do not apply."""

    __slots__ = (
        "additional",
        "additional_forbidden",
        "any_of",
        "array_rules",
        "array_sizes",
        "bounds",
        "conjuncts",
        "const_key",
        "const_value",
        "contains",
        "dependent_required",
        "dependent_schemas",
        "else_",
        "enum_keys",
        "enum_values",
        "if_",
        "integral_floats",
        "items",
        "items_forbidden",
        "max_contains",
        "max_items",
        "max_length",
        "max_properties",
        "min_contains",
        "min_items",
        "min_length",
        "min_properties",
        "multiple_of",
        "not_",
        "number_rules",
        "object_extras",
        "object_rules",
        "object_sizes",
        "one_of",
        "pattern",
        "pattern_properties",
        "prefix_items",
        "properties",
        "property_names",
        "python_types",
        "required",
        "string_rules",
        "then",
        "type_names",
        "unique_items",
        "value_rules",
        "verdict",
    )

    def __init__(self) -> None:
        self.verdict: bool | None = None  # a boolean schema: True accepts, False refuses
        self.type_names: tuple[str, ...] | None = None
        self.python_types: tuple[type, ...] = ()
        self.integral_floats = False  # "integer" also accepts 2.0
        self.enum_keys: frozenset[Any] | None = None  # hashed scalar enum members
        self.enum_values: tuple[Any, ...] = ()  # array and object enum members
        self.const_key: Any = _MISSING
        self.const_value: Any = _MISSING
        self.conjuncts: tuple[Node, ...] = ()  # $ref and allOf
        self.any_of: tuple[Node, ...] = ()
        self.one_of: tuple[Node, ...] = ()
        self.not_: Node | None = None
        self.if_: Node | None = None
        self.then: Node | None = None
        self.else_: Node | None = None
        self.object_rules = False
        # The rarer object and array keywords, each group skipped with one test (see
        # `_compile_object` and `_compile_array`).
        self.object_sizes = False
        self.object_extras = False
        self.array_sizes = False
        self.required: tuple[str, ...] = ()
        self.properties: dict[str, Node] = {}
        self.pattern_properties: tuple[tuple[re.Pattern[str], Node], ...] = ()
        self.additional: Node | None = None
        self.additional_forbidden = False
        self.min_properties: int | None = None
        self.max_properties: int | None = None
        self.dependent_required: tuple[tuple[str, tuple[str, ...]], ...] = ()
        self.dependent_schemas: tuple[tuple[str, Node], ...] = ()
        self.property_names: Node | None = None
        self.array_rules = False
        self.min_items: int | None = None
        self.max_items: int | None = None
        self.unique_items = False
        self.prefix_items: tuple[Node, ...] = ()
        self.items: Node | None = None
        self.items_forbidden = False
        self.contains: Node | None = None
        self.min_contains = 1
        self.max_contains: int | None = None
        self.string_rules = False
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.pattern: re.Pattern[str] | None = None
        self.number_rules = False
        # Any of enum, const, $ref/allOf, anyOf/oneOf/not/if: one test skips them all.
        self.value_rules = False
        self.bounds: tuple[tuple[str, int | float], ...] = ()
        self.multiple_of: int | float | None = None


def _verdict_node(verdict: bool) -> Node:
    node = Node()
    node.verdict = verdict
    return node


_TRUE_NODE = _verdict_node(True)
_FALSE_NODE = _verdict_node(False)


def compile_schema(schema: object) -> Node:
    """A `Node` from a schema document that `schema_problems` accepted."""
    analysis = analyse(schema, "schema")
    if analysis.problems:
        raise ValueError(f"invalid schema: {analysis.problems[0]}")
    return _compile(schema, analysis, {})


def _accepts_everything(schema: object) -> bool:
    return schema is True or (
        isinstance(schema, dict)
        and all(key in ANNOTATIONS or key in ("$defs", "definitions") for key in schema)
    )


def scalar_key(value: Any) -> Any:
    """A hashable key equal for equal JSON scalars: 1 and 1.0 alike, true apart from 1."""
    if value is True:
        return _TRUE_KEY
    if value is False:
        return _FALSE_KEY
    return value


def _compile(schema: Any, analysis: Analysis, memo: dict[int, Node]) -> Node:
    if schema is True:
        return _TRUE_NODE
    if schema is False:
        return _FALSE_NODE
    if id(schema) in memo:  # a recursive $ref: the node is being (or was) filled in
        return memo[id(schema)]
    node = memo[id(schema)] = Node()

    def sub(value: Any) -> Node:
        return _compile(value, analysis, memo)

    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        node.type_names = tuple(sorted(names))
        node.python_types = tuple(t for name in names for t in _PYTHON_TYPES[name])
        node.integral_floats = "integer" in names and "number" not in names
    if "enum" in schema:
        options = schema["enum"]
        node.enum_keys = frozenset(scalar_key(v) for v in options if isinstance(v, _SCALARS))
        node.enum_values = tuple(v for v in options if not isinstance(v, _SCALARS))
    if "const" in schema:
        const = schema["const"]
        if isinstance(const, _SCALARS):
            node.const_key = scalar_key(const)
        else:
            node.const_value = const
    conjuncts = [sub(analysis.targets[id(schema)])] if "$ref" in schema else []
    conjuncts += [sub(s) for s in schema.get("allOf", ())]
    node.conjuncts = tuple(conjuncts)
    node.any_of = tuple(sub(s) for s in schema.get("anyOf", ()))
    node.one_of = tuple(sub(s) for s in schema.get("oneOf", ()))
    for key, attribute in (("not", "not_"), ("if", "if_"), ("then", "then"), ("else", "else_")):
        if key in schema:
            setattr(node, attribute, sub(schema[key]))
    _compile_object(node, schema, sub)
    _compile_array(node, schema, sub)
    node.min_length = as_count(schema.get("minLength"))
    node.max_length = as_count(schema.get("maxLength"))
    if "pattern" in schema:
        node.pattern = re.compile(schema["pattern"])
    node.string_rules = (
        node.min_length is not None or node.max_length is not None or node.pattern is not None
    )
    node.bounds = tuple((key, schema[key]) for key in BOUND_KEYWORDS if key in schema)
    node.multiple_of = schema.get("multipleOf")
    node.number_rules = bool(node.bounds) or node.multiple_of is not None
    node.value_rules = bool(
        node.enum_keys is not None
        or node.const_key is not _MISSING
        or node.const_value is not _MISSING
        or node.conjuncts
        or node.any_of
        or node.one_of
        or node.not_ is not None
        or node.if_ is not None
    )
    return node


def _compile_object(node: Node, schema: dict[str, Any], sub: Callable[[Any], Node]) -> None:
    node.required = tuple(schema.get("required", ()))
    node.properties = {name: sub(s) for name, s in schema.get("properties", {}).items()}
    node.pattern_properties = tuple(
        (re.compile(pattern), sub(s)) for pattern, s in schema.get("patternProperties", {}).items()
    )
    additional = schema.get("additionalProperties", True)
    node.additional_forbidden = additional is False
    if additional is not False and not _accepts_everything(additional):
        node.additional = sub(additional)
    node.min_properties = as_count(schema.get("minProperties"))
    node.max_properties = as_count(schema.get("maxProperties"))
    node.dependent_required = tuple(
        (name, tuple(names)) for name, names in schema.get("dependentRequired", {}).items()
    )
    node.dependent_schemas = tuple(
        (name, sub(s)) for name, s in schema.get("dependentSchemas", {}).items()
    )
    if "propertyNames" in schema and not _accepts_everything(schema["propertyNames"]):
        node.property_names = sub(schema["propertyNames"])
    node.object_sizes = bool(
        node.min_properties is not None
        or node.max_properties is not None
        or node.dependent_required
    )
    node.object_extras = bool(
        node.pattern_properties
        or node.additional is not None
        or node.additional_forbidden
        or node.property_names is not None
        or node.dependent_schemas
    )
    node.object_rules = bool(
        node.required or node.properties or node.object_sizes or node.object_extras
    )


def _compile_array(node: Node, schema: dict[str, Any], sub: Callable[[Any], Node]) -> None:
    node.min_items = as_count(schema.get("minItems"))
    node.max_items = as_count(schema.get("maxItems"))
    node.unique_items = schema.get("uniqueItems") is True
    node.prefix_items = tuple(sub(s) for s in schema.get("prefixItems", ()))
    items = schema.get("items", True)
    node.items_forbidden = items is False
    if items is not False and not _accepts_everything(items):
        node.items = sub(items)
    if "contains" in schema:
        node.contains = sub(schema["contains"])
        min_contains = as_count(schema.get("minContains"))
        node.min_contains = 1 if min_contains is None else min_contains
        node.max_contains = as_count(schema.get("maxContains"))
    node.array_sizes = bool(
        node.min_items is not None or node.max_items is not None or node.unique_items
    )
    node.array_rules = bool(
        node.array_sizes
        or node.prefix_items
        or node.items is not None
        or node.items_forbidden
        or node.contains is not None
    )


# --- checking -----------------------------------------------------------------------------


# Where a checked value sits in the answer: "$" for the whole answer, else (parent path,
# property name or item index). Spelled out ("$.steps[0]") only for a violation reported:
# formatting the path of every value checked would cost more than checking most of them.
Path = str | tuple[Any, str | int]


def path_text(path: Path) -> str:
    """The path as JSONPath-like text: "$", "$.name", "$.items[3]"."""
    parts: list[str] = []
    while isinstance(path, tuple):
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    parts.append(path)
    return "".join(reversed(parts))


class BudgetExceeded(Exception):
    """The answer took more than MAX_NODES steps (or MAX_EVAL_DEPTH levels) to check."""


class _Invalid(Exception):
    """A silently tried subschema failed; nothing more about it is needed."""


class Report:
    """The outcome of checking one value."""

    __slots__ = (
        "checks",
        "exhausted",
        "fail_fast",
        "first_violation",
        "nodes",
        "passed",
        "wrong_root_type",
    )

    def __init__(self, nodes: int = 0, fail_fast: bool = False) -> None:
        self.checks = 0
        self.passed = 0
        # Kept for tests and debugging only: metric names and values cannot carry text.
        self.first_violation: str | None = None
        self.nodes = nodes
        # Checking stopped at the budget, so the share passed says nothing about the rest.
        self.exhausted = False
        # A `type` check on the whole answer failed: it is not even the right kind of value.
        self.wrong_root_type = False
        # Set for subschemas tried silently: the first failure decides.
        self.fail_fast = fail_fast

    @property
    def violations(self) -> int:
        return self.checks - self.passed

    def record(self, ok: bool, path: Path, message: Callable[[], str]) -> None:
        # The message is built only for the first violation: formatting it for every check
        # that passes would be most of the grader's time.
        self.checks += 1
        if ok:
            self.passed += 1
            return
        if self.fail_fast:
            raise _Invalid
        if self.first_violation is None:
            self.first_violation = f"{path_text(path)}: {message()}"

    def visit(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise BudgetExceeded


def check(node: Node, value: object) -> Report:
    """Check a parsed answer against a compiled schema."""
    report = Report()
    try:
        _check(node, value, "$", 0, report)
    except (BudgetExceeded, RecursionError):
        report.exhausted = True
        report.record(False, "$", lambda: f"too large or deep to check (>{MAX_NODES} steps)")
    return report


def json_equal(a: object, b: object, report: Report) -> bool:
    """Equality with JSON semantics: true != 1, 1 == 1.0, deep for arrays and objects."""
    # Iterative, so deep values cannot exhaust the stack; every pair visited costs budget.
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        report.visit()
        # bools are excluded from numbers, so true vs 1 falls to the type comparison.
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


def canonical_key(value: object, report: Report, depth: int = 0) -> Any:
    """A hashable key equal exactly for JSON-equal values (for uniqueItems)."""
    report.visit()
    if isinstance(value, list):
        if depth >= MAX_EVAL_DEPTH:
            raise BudgetExceeded
        return (_ARRAY_TAG, *(canonical_key(item, report, depth + 1) for item in value))
    if isinstance(value, dict):
        if depth >= MAX_EVAL_DEPTH:
            raise BudgetExceeded
        return (
            _OBJECT_TAG,
            frozenset((k, canonical_key(v, report, depth + 1)) for k, v in value.items()),
        )
    return scalar_key(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _matches(node: Node, value: object, path: Path, depth: int, report: Report) -> bool:
    """Whether `value` is valid against `node`, tried silently on the same budget."""
    trial = Report(report.nodes, fail_fast=True)
    try:
        _check(node, value, path, depth, trial)
        return True
    except _Invalid:
        return False
    finally:
        report.nodes = trial.nodes


def _check(node: Node, value: Any, path: Path, depth: int, report: Report) -> None:
    report.nodes += 1  # Report.visit, inlined: this runs for every value checked
    if report.nodes > MAX_NODES or depth > MAX_EVAL_DEPTH:
        raise BudgetExceeded
    if node.verdict is not None:
        if not node.verdict:
            report.record(False, path, lambda: "no value is allowed here (schema false)")
        return
    kind = type(value)
    if node.type_names is not None:
        ok = kind in node.python_types or (
            node.integral_floats and kind is float and value.is_integer()
        )
        if not ok and path == "$" and not report.fail_fast:
            report.wrong_root_type = True
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(
                False, path, lambda: f"expected type {' or '.join(node.type_names or ())}"
            )
    if node.value_rules:
        _check_value_rules(node, value, kind, path, depth, report)
    # Each group of keywords applies only to its kind of value.
    if kind is dict and node.object_rules:
        _check_object(node, value, path, depth, report)
    elif kind is list and node.array_rules:
        _check_array(node, value, path, depth, report)
    elif kind is str and node.string_rules:
        _check_string(node, value, path, report)
    elif (kind is int or kind is float) and node.number_rules:
        _check_number(node, value, path, report)


def _check_value_rules(
    node: Node, value: Any, kind: type, path: Path, depth: int, report: Report
) -> None:
    """enum, const, $ref/allOf and the combinators: rarer than the kind's keywords, so
    `_check` tests them all with one flag."""
    if node.enum_keys is not None:
        if kind is dict or kind is list:
            ok = any(json_equal(value, option, report) for option in node.enum_values)
        else:
            ok = scalar_key(value) in node.enum_keys
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: "not one of the enum values")
    if node.const_key is not _MISSING:
        ok = kind is not dict and kind is not list and scalar_key(value) == node.const_key
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: "not equal to const")
    elif node.const_value is not _MISSING:
        ok = json_equal(value, node.const_value, report)
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: "not equal to const")
    for conjunct in node.conjuncts:
        _check(conjunct, value, path, depth + 1, report)
    if node.any_of or node.one_of or node.not_ is not None or node.if_ is not None:
        _check_combinators(node, value, path, depth, report)


def _check_combinators(node: Node, value: Any, path: Path, depth: int, report: Report) -> None:
    depth += 1
    if node.any_of:
        ok = False
        for option in node.any_of:  # the first match decides
            if _matches(option, value, path, depth, report):
                ok = True
                break
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: "matches none of the anyOf schemas")
    if node.one_of:
        matched = 0
        for option in node.one_of:
            if _matches(option, value, path, depth, report):
                matched += 1
                if matched > 1:
                    break
        report.record(
            matched == 1,
            path,
            lambda: f"matches {'none' if matched == 0 else 'more than one'} of the oneOf schemas",
        )
    if node.not_ is not None:
        ok = not _matches(node.not_, value, path, depth, report)
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: "matches the schema under not")
    if node.if_ is not None and (node.then is not None or node.else_ is not None):
        chosen = node.then if _matches(node.if_, value, path, depth, report) else node.else_
        if chosen is not None:
            _check(chosen, value, path, depth, report)


def _check_object(
    node: Node, value: dict[str, Any], path: Path, depth: int, report: Report
) -> None:
    if node.required:
        missing = [name for name in node.required if name not in value]
        if not missing:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"missing required {missing[:3]}")
    if node.object_sizes:
        _check_object_sizes(node, value, path, report)
    depth += 1
    properties = node.properties
    for name, subschema in properties.items():
        if name in value:
            _check(subschema, value[name], (path, name), depth, report)
    if node.object_extras:
        _check_object_extras(node, value, path, depth, report)


def _check_object_sizes(node: Node, value: dict[str, Any], path: Path, report: Report) -> None:
    """minProperties, maxProperties and dependentRequired."""
    size = len(value)
    if node.min_properties is not None:
        low = node.min_properties
        if size >= low:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"{size} properties < minProperties {low}")
    if node.max_properties is not None:
        high = node.max_properties
        if size <= high:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"{size} properties > maxProperties {high}")
    for name, names in node.dependent_required:
        if name in value:
            absent = [n for n in names if n not in value]
            report.record(
                not absent,
                path,
                lambda name=name, absent=absent: f"{name!r} present but not {absent[:3]}",
            )


def _check_object_extras(
    node: Node, value: dict[str, Any], path: Path, depth: int, report: Report
) -> None:
    """patternProperties, additionalProperties, propertyNames and dependentSchemas, after
    the properties (`depth` is already the properties' depth)."""
    properties = node.properties
    if node.pattern_properties or node.additional is not None or node.additional_forbidden:
        extra: list[str] = []
        for name, item in value.items():
            declared = name in properties
            for regex, subschema in node.pattern_properties:
                if regex.search(name[:MAX_PATTERN_INPUT_CHARS]) is not None:
                    declared = True
                    _check(subschema, item, (path, name), depth, report)
            if not declared:
                extra.append(name)
                if node.additional is not None:
                    _check(node.additional, item, (path, name), depth, report)
        if node.additional_forbidden:
            if not extra:
                report.checks += 1
                report.passed += 1
            else:
                report.record(False, path, lambda: f"additional properties {extra[:3]}")
    if node.property_names is not None:
        for name in value:
            _check(node.property_names, name, f"{path_text(path)}.{name} (name)", depth, report)
    for name, subschema in node.dependent_schemas:
        if name in value:
            _check(subschema, value, path, depth, report)


def _check_array(node: Node, value: list[Any], path: Path, depth: int, report: Report) -> None:
    size = len(value)
    if node.array_sizes:
        _check_array_sizes(node, value, path, report)
    depth += 1
    prefix = node.prefix_items
    if prefix:
        for i, subschema in enumerate(prefix[:size]):
            _check(subschema, value[i], (path, i), depth, report)
    if node.items is not None:
        items = node.items
        for i in range(len(prefix), size):
            _check(items, value[i], (path, i), depth, report)
    elif node.items_forbidden:
        count = len(prefix)
        if size <= count:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"size {size} > the {count} items allowed")
    if node.contains is not None:
        contains = node.contains
        matched = sum(_matches(contains, item, path, depth, report) for item in value)
        low, high = node.min_contains, node.max_contains
        report.record(
            matched >= low and (high is None or matched <= high),
            path,
            lambda: f"{matched} items match contains; allowed: {low} to {high or 'any'}",
        )


def _check_array_sizes(node: Node, value: list[Any], path: Path, report: Report) -> None:
    """minItems, maxItems and uniqueItems."""
    size = len(value)
    if node.min_items is not None:
        low = node.min_items
        if size >= low:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"size {size} < minItems {low}")
    if node.max_items is not None:
        high = node.max_items
        if size <= high:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"size {size} > maxItems {high}")
    if node.unique_items:
        keys = {canonical_key(item, report) for item in value}
        if len(keys) == size:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: "items are not unique")


def _check_string(node: Node, value: str, path: Path, report: Report) -> None:
    size = len(value)
    if node.min_length is not None:
        low = node.min_length
        if size >= low:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"size {size} < minLength {low}")
    if node.max_length is not None:
        high = node.max_length
        if size <= high:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"size {size} > maxLength {high}")
    if node.pattern is not None:
        pattern = node.pattern
        ok = pattern.search(value[:MAX_PATTERN_INPUT_CHARS]) is not None
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"does not match {pattern.pattern!r}")


def _check_number(node: Node, value: int | float, path: Path, report: Report) -> None:
    for key, limit in node.bounds:
        if key == "minimum":
            ok = value >= limit
        elif key == "maximum":
            ok = value <= limit
        elif key == "exclusiveMinimum":
            ok = value > limit
        else:
            ok = value < limit
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(
                False, path, lambda key=key, limit=limit: f"{value!r} violates {key} {limit!r}"
            )
    if node.multiple_of is not None:
        divisor = node.multiple_of
        ok = is_multiple(value, divisor)
        if ok:
            report.checks += 1
            report.passed += 1
        else:
            report.record(False, path, lambda: f"{value!r} is not a multiple of {divisor!r}")
