"""The JSON Schema validator behind `json_format`: references, combinators, the budget, and
what the official test suite does not pin down (messages, paths, refusals)."""

import json
import time
from typing import Any

import pytest

from rft_env.graders.json_schema import (
    MAX_NODES,
    Report,
    canonical_key,
    check,
    compile_schema,
    is_multiple,
    schema_problems,
)


def verdict(schema: Any, value: Any) -> tuple[bool, str | None]:
    """(valid, first violation) of `value` against `schema`, which must be accepted."""
    assert schema_problems(schema, "schema") == []
    report = check(compile_schema(schema), value)
    return report.violations == 0, report.first_violation


def valid(schema: Any, value: Any) -> bool:
    return verdict(schema, value)[0]


# --- references ---------------------------------------------------------------------------

ITEM = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {"$ref": "#/$defs/Item"}, "$defs": {"Item": ITEM}},
        # draft-07 spelling, still common in the wild
        {"type": "array", "items": {"$ref": "#/definitions/Item"}, "definitions": {"Item": ITEM}},
        # any JSON pointer to a schema, escapes included
        {"type": "array", "items": {"$ref": "#/$defs/a~1b~0c"}, "$defs": {"a/b~c": ITEM}},
        {"type": "array", "items": {"$ref": "#/$defs/with%20space"}, "$defs": {"with space": ITEM}},
        {"type": "array", "prefixItems": [ITEM], "items": {"$ref": "#/prefixItems/0"}},
        # an anchor, and the $id of an embedded schema
        {"type": "array", "items": {"$ref": "#item"}, "$defs": {"I": {**ITEM, "$anchor": "item"}}},
        {
            "$id": "https://example.com/list.json",
            "type": "array",
            "items": {"$ref": "item.json"},
            "$defs": {"I": {**ITEM, "$id": "item.json"}},
        },
    ],
)
def test_local_references(schema: dict[str, Any]) -> None:
    assert valid(schema, [{"id": 1}, {"id": 2}])
    assert verdict(schema, [{"id": 1}, {"id": "2"}]) == (False, "$[1].id: expected type integer")


def test_recursive_reference_to_the_root() -> None:
    tree = {
        "type": "object",
        "required": ["value"],
        "properties": {"value": {"type": "integer"}, "children": {"items": {"$ref": "#"}}},
    }
    assert valid(tree, {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]})
    assert verdict(tree, {"value": 1, "children": [{"value": 2, "children": [{}]}]}) == (
        False,
        "$.children[0].children[0]: missing required ['value']",
    )


def test_ref_applies_alongside_its_siblings() -> None:
    schema = {"$defs": {"small": {"maximum": 10}}, "$ref": "#/$defs/small", "minimum": 5}
    assert valid(schema, 7)
    assert not valid(schema, 11)
    assert not valid(schema, 4)


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        (
            {"$ref": "https://example.com/other.json"},
            "schema.$ref",
            "got 'https://example.com/other.json'; only references within this schema are "
            "supported (#/$defs/Name, #anchor, or the $id of a schema inside it)",
        ),
        (
            {"properties": {"a": {"$ref": "other.json#/$defs/x"}}},
            "schema.properties.a.$ref",
            "got 'other.json#/$defs/x'; only references within this schema are supported "
            "(#/$defs/Name, #anchor, or the $id of a schema inside it)",
        ),
        (
            {"$ref": "#/$defs/Missing", "$defs": {}},
            "schema.$ref",
            "got '#/$defs/Missing'; no such location in this schema",
        ),
        (
            {"$ref": "#nowhere"},
            "schema.$ref",
            "got '#nowhere'; no $anchor 'nowhere' in this schema",
        ),
        (
            {"$ref": "#/enum/0", "enum": [{"type": "string"}]},
            "schema.$ref",
            "got '#/enum/0'; does not point at a schema",
        ),
        ({"$ref": 5}, "schema.$ref", "got 5; allowed: a reference string such as #/$defs/Name"),
        (
            {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}},
            "schema.$defs.b.allOf[0].$ref",
            "leads back to the same schema without moving into the answer; checking would "
            "never end",
        ),
        (
            {"anyOf": [{"type": "null"}, {"$ref": "#"}]},
            "schema.anyOf[1].$ref",
            "leads back to the same schema without moving into the answer; checking would "
            "never end",
        ),
        (
            {"$dynamicRef": "#node"},
            "schema.$dynamicRef",
            "not supported (dynamic references); use $ref",
        ),
    ],
)
def test_unusable_references_are_refused(schema: dict[str, Any], path: str, message: str) -> None:
    assert schema_problems(schema, "schema") == [(path, message)]


# --- combinators --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, None, (True, None)),
        (
            {"anyOf": [{"type": "string"}, {"type": "null"}]},
            1,
            (False, "$: matches none of the anyOf schemas"),
        ),
        ({"oneOf": [{"minimum": 0}, {"maximum": 10}]}, -5, (True, None)),
        (
            {"oneOf": [{"minimum": 0}, {"maximum": 10}]},
            5,
            (False, "$: matches more than one of the oneOf schemas"),
        ),
        (
            {"oneOf": [{"type": "string"}, {"type": "null"}]},
            1,
            (False, "$: matches none of the oneOf schemas"),
        ),
        ({"allOf": [{"minimum": 0}, {"maximum": 10}]}, 11, (False, "$: 11 violates maximum 10")),
        ({"not": {"type": "null"}}, None, (False, "$: matches the schema under not")),
        ({"if": {"minimum": 0}, "then": {"multipleOf": 2}, "else": {"const": -1}}, 4, (True, None)),
        (
            {"if": {"minimum": 0}, "then": {"multipleOf": 2}, "else": {"const": -1}},
            3,
            (False, "$: 3 is not a multiple of 2"),
        ),
        (
            {"if": {"minimum": 0}, "then": {"multipleOf": 2}, "else": {"const": -1}},
            -2,
            (False, "$: not equal to const"),
        ),
    ],
)
def test_combinators(schema: dict[str, Any], value: Any, expected: tuple[bool, str | None]) -> None:
    assert verdict(schema, value) == expected


def test_combinator_subschemas_are_tried_silently() -> None:
    """A failed branch of anyOf is not a violation of the answer; the keyword is one check."""
    schema = {"anyOf": [{"type": "object", "required": ["a", "b"]}, {"type": "null"}]}
    report = check(compile_schema(schema), {"a": 1})
    assert (report.checks, report.passed) == (1, 0)
    report = check(compile_schema({"allOf": [{"type": "object"}, {"required": ["a"]}]}), {})
    assert (report.checks, report.passed) == (2, 1)  # allOf counts its subschemas' checks


def test_nested_one_of_is_linear() -> None:
    """Each oneOf tries its branches once per value: no blow-up from nesting itself."""
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(40):
        schema = {"oneOf": [schema, {"type": "string", "minLength": 100}]}
    report = check(compile_schema(schema), 5)
    assert report.violations == 0
    assert report.nodes < 200


def test_schema_dictated_blowup_stops_at_the_budget() -> None:
    """Duplicated references double the work per level: the schema asks for 2**30 checks.
    Checking stops at the budget, and the answer counts as unverified."""
    defs = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(30)}
    defs["d30"] = {"type": "integer"}
    schema = {"$defs": defs, "$ref": "#/$defs/d0"}
    started = time.perf_counter()
    report = check(compile_schema(schema), 1)
    assert time.perf_counter() - started < 5
    assert report.exhausted
    assert report.nodes > MAX_NODES
    assert report.first_violation == f"$: too large or deep to check (>{MAX_NODES} steps)"


def test_deep_recursion_is_bounded() -> None:
    schema = {"type": "array", "items": {"$ref": "#"}}
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    report = check(compile_schema(schema), deep)
    assert report.exhausted
    shallow: Any = []
    for _ in range(50):
        shallow = [shallow]
    assert valid(schema, shallow)


# --- values -------------------------------------------------------------------------------


def test_unique_items_hash_json_equality() -> None:
    schema = {"uniqueItems": True}
    assert not valid(schema, [1, 1.0])  # 1 == 1.0
    assert valid(schema, [1, True])  # but true is not 1
    assert valid(schema, [0, False, None, "0", [0], {"0": 0}])
    assert not valid(schema, [{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}])
    assert valid(schema, [[1, 2], [2, 1]])
    assert not valid(schema, [[[]], [[]]])


def test_canonical_keys() -> None:
    report = Report()
    assert canonical_key([1, {"a": True}], report) == canonical_key([1.0, {"a": True}], report)
    assert canonical_key([1], report) != canonical_key([True], report)
    assert canonical_key({"a": []}, report) != canonical_key({"a": {}}, report)
    assert canonical_key([], report) != canonical_key({}, report)
    assert canonical_key("a", report) != canonical_key(["a"], report)


def test_unique_items_is_linear() -> None:
    """Hashing canonical forms visits each value once; comparing pairs would visit about
    n**2 / 2 of them and run out of budget."""
    items = [{"id": i, "tags": [str(i)]} for i in range(10_000)]
    report = check(compile_schema({"uniqueItems": True}), items)
    assert report.violations == 0
    assert report.nodes == 1 + 4 * len(items)  # the array, then each dict, int, list, str
    report = check(compile_schema({"uniqueItems": True}), [*items, {"tags": ["0"], "id": 0.0}])
    assert report.first_violation == "$: items are not unique"


@pytest.mark.parametrize(
    ("value", "divisor", "expected"),
    [
        (10, 2, True),
        (7, 2, False),
        (0.0075, 0.0001, True),  # 0.0075 / 0.0001 is 74.99999999999999 in floats
        (0.00751, 0.0001, False),
        (19.99, 0.01, True),
        (4.5, 1.5, True),
        (1e308, 0.123456789, False),  # the float quotient is inf
        (12391239123, 1e-8, True),
        (float("inf"), 2, False),
    ],
)
def test_multiple_of_is_exact_in_decimal(value: float, divisor: float, expected: bool) -> None:
    assert is_multiple(value, divisor) is expected


def test_integer_valued_float_counts() -> None:
    schema = {"maxItems": 2.0, "minLength": 1.0, "minContains": 2.0, "contains": {"const": 1}}
    assert valid(schema, [1, 1])
    assert not valid(schema, [1, 1, 1])
    assert not valid(schema, [1, 2])
    assert not valid(schema, "")


def test_boolean_schemas() -> None:
    assert valid(True, {"anything": [1]})
    assert verdict(False, 1) == (False, "$: no value is allowed here (schema false)")
    schema = {"properties": {"secret": False}, "prefixItems": [True], "items": False}
    assert verdict(schema, {"secret": 1}) == (
        False,
        "$.secret: no value is allowed here (schema false)",
    )
    assert valid(schema, [1])
    assert verdict(schema, [1, 2]) == (False, "$: size 2 > the 1 items allowed")


def test_object_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": {"type": "boolean"},
        "propertyNames": {"maxLength": 5},
        "minProperties": 1,
        "maxProperties": 3,
        "dependentRequired": {"name": ["x-id"]},
    }
    assert valid(schema, {"name": "a", "x-id": 1, "flag": True})
    assert verdict(schema, {"x-id": "1"}) == (False, "$.x-id: expected type integer")
    assert verdict(schema, {"other": 1}) == (False, "$.other: expected type boolean")
    assert verdict(schema, {"toolong": True}) == (False, "$.toolong (name): size 7 > maxLength 5")
    assert verdict(schema, {}) == (False, "$: 0 properties < minProperties 1")
    assert verdict(schema, {"name": "a"}) == (False, "$: 'name' present but not ['x-id']")


def test_format_and_other_annotations_are_ignored() -> None:
    schema = {
        "type": "string",
        "format": "email",
        "title": "t",
        "description": "d",
        "default": 1,
        "examples": [1],
        "deprecated": True,
        "readOnly": True,
        "writeOnly": False,
        "contentMediaType": "application/json",
        "$comment": "c",
        "x-unit": "kg",  # an extension keyword, such as pydantic's json_schema_extra adds
    }
    assert valid(schema, "not an email")


def test_spec_paths_for_nested_problems() -> None:
    schema = {
        "$defs": {"A": {"prefixItems": [{"minLength": -1}]}},
        "oneOf": [{"properties": {"x": {"type": "strnig"}}}],
        "dependentSchemas": {"a": {"maxItems": "2"}},
    }
    assert [path for path, _ in schema_problems(schema, "schema")] == [
        "schema.$defs.A.prefixItems[0].minLength",
        "schema.oneOf[0].properties.x.type",
        "schema.dependentSchemas.a.maxItems",
    ]


def test_long_keys_and_strings_are_searched_in_part() -> None:
    key = "a" * 200_000 + "needle"
    schema = {"patternProperties": {"needle": {"type": "integer"}}}
    assert valid(schema, {key: "not an integer"})  # the pattern never sees the needle
    assert not valid(schema, json.loads(json.dumps({"needle": "x"})))


# Paths are spelled out only for the violation reported (json_schema.Path): nested
# properties, items and property names must read as before.
@pytest.mark.parametrize(
    ("schema", "value", "violation"),
    [
        (
            {"properties": {"a": {"items": {"properties": {"b": {"type": "string"}}}}}},
            {"a": [{"b": "x"}, {"b": 1}]},
            "$.a[1].b: expected type string",
        ),
        (
            {"prefixItems": [{}, {"additionalProperties": {"type": "integer"}}]},
            [0, {"k": "v"}],
            "$[1].k: expected type integer",
        ),
        (
            {"properties": {"m": {"propertyNames": {"maxLength": 2}}}},
            {"m": {"long": 1}},
            "$.m.long (name): size 4 > maxLength 2",
        ),
        (
            {"patternProperties": {"^x": {"items": {"minimum": 0}}}},
            {"xs": [1, -1]},
            "$.xs[1]: -1 violates minimum 0",
        ),
    ],
)
def test_violation_paths(schema: Any, value: Any, violation: str) -> None:
    assert verdict(schema, value) == (False, violation)
