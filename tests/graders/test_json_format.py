import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rft_env.graders.contract import GRADER_ERROR_METRIC, grade_batch, grade_sample, parse_event
from rft_env.graders.json_format import (
    build,
    extract_json_text,
    reference_match,
    score_answer,
    spec_problems,
)
from rft_env.graders.json_schema import (
    JSON_TYPES,
    MAX_DEPTH,
    MAX_NODES,
    Report,
    check,
    compile_schema,
    json_equal,
    schema_problems,
)


def grader_for(schema: Any, **options: Any) -> Any:
    spec = {"type": "json_format", "schema": schema, **options}
    assert spec_problems(spec) == []
    return build(spec)


def sample_event(answer: Any, reference: Any = "unused", sample_id: str = "s") -> dict[str, Any]:
    return {
        "id": sample_id,
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference},
    }


def grade(answer: str, schema: Any, reference: Any = "unused", **options: Any) -> dict[str, Any]:
    """The contract result for one sample graded with a json_format spec."""
    [sample] = parse_event([sample_event(answer, reference)])
    assert sample.error is None
    return grade_sample(sample, grader_for(schema, **options))


def metrics_of(result: dict[str, Any]) -> dict[str, float]:
    return {m["name"]: m["value"] for m in result["metrics_list"]}


def score(answer: str, schema: Any, reference: Any = "unused", **options: Any) -> float:
    result = grade(answer, schema, reference, **options)
    assert "error" not in result, result
    value = result["aggregate_reward_score"]
    assert result["metrics_list"][0] == {"name": "json_format", "value": value, "type": "Reward"}
    return value


@pytest.mark.parametrize(
    ("schema", "answer", "expected"),
    [
        # type
        ({"type": "string"}, '"hi"', 1.0),
        ({"type": "string"}, "5", 0.0),
        ({"type": "number"}, "5.5", 1.0),
        ({"type": "number"}, "-3", 1.0),
        ({"type": "number"}, "true", 0.0),  # booleans are not numbers
        ({"type": "integer"}, "5", 1.0),
        ({"type": "integer"}, "5.0", 1.0),  # JSON Schema: 5.0 is an integer
        ({"type": "integer"}, "5.5", 0.0),
        ({"type": "integer"}, "false", 0.0),
        ({"type": "boolean"}, "false", 1.0),
        ({"type": "boolean"}, "0", 0.0),
        ({"type": "null"}, "null", 1.0),
        ({"type": "null"}, '"null"', 0.0),
        ({"type": "array"}, "[]", 1.0),
        ({"type": "array"}, "{}", 0.0),
        ({"type": "object"}, "{}", 1.0),
        ({"type": "object"}, "[]", 0.0),
        ({"type": ["string", "null"]}, "null", 1.0),
        ({"type": ["string", "null"]}, "1", 0.0),
        # required / properties / additionalProperties
        ({"required": ["a"]}, '{"a": null}', 1.0),
        ({"required": ["a", "b"]}, '{"a": 1}', 0.0),
        ({"required": ["a"]}, "[1]", 1.0),  # object keywords do not apply to arrays
        ({"properties": {"a": {"type": "integer"}}}, '{"a": "x"}', 0.0),
        ({"properties": {"a": {"type": "integer"}}}, '{"b": "x"}', 1.0),  # absent: unchecked
        ({"properties": {"a": {}}, "additionalProperties": False}, '{"a": 1, "b": 2}', 0.0),
        ({"properties": {"a": {}}, "additionalProperties": False}, '{"a": 1}', 1.0),
        ({"additionalProperties": True}, '{"b": 1}', 1.0),
        # enum / const
        ({"enum": ["a", "b"]}, '"b"', 1.0),
        ({"enum": ["a", "b"]}, '"c"', 0.0),
        ({"enum": [1]}, "true", 0.0),  # true is not 1 in JSON
        ({"enum": [1]}, "1.0", 1.0),  # but 1.0 is
        ({"enum": [None, [1, {"x": 2}]]}, '[1, {"x": 2.0}]', 1.0),
        ({"const": {"x": [1, 2]}}, '{"x": [1, 2]}', 1.0),
        ({"const": {"x": [1, 2]}}, '{"x": [2, 1]}', 0.0),
        ({"const": {"x": [1, 2]}}, '{"x": [1, 2], "y": 0}', 0.0),
        ({"const": False}, "0", 0.0),
        ({"const": None}, "null", 1.0),
        # items / minItems / maxItems
        ({"items": {"type": "integer"}}, "[1, 2, 3]", 1.0),
        ({"items": {"type": "integer"}}, '[1, "2"]', 0.0),
        ({"minItems": 2}, "[1, 2]", 1.0),
        ({"minItems": 2}, "[1]", 0.0),
        ({"maxItems": 2}, "[1, 2]", 1.0),
        ({"maxItems": 2}, "[1, 2, 3]", 0.0),
        # minLength / maxLength count code points
        ({"minLength": 5}, '"h\u00e9llo"', 1.0),
        ({"minLength": 2}, '"\U0001f600"', 0.0),
        ({"maxLength": 1}, '"\U0001f600"', 1.0),
        ({"maxLength": 3}, '"abcd"', 0.0),
        ({"minLength": 5}, "5", 1.0),  # string keywords do not apply to numbers
        # numeric bounds
        ({"minimum": 0, "maximum": 10}, "0", 1.0),
        ({"minimum": 0, "maximum": 10}, "10", 1.0),
        ({"minimum": 0}, "-0.5", 0.0),
        ({"maximum": 10}, "10.5", 0.0),
        ({"exclusiveMinimum": 0}, "0", 0.0),
        ({"exclusiveMinimum": 0}, "0.001", 1.0),
        ({"exclusiveMaximum": 10}, "10", 0.0),
        ({"exclusiveMaximum": 10}, "9", 1.0),
        ({"minimum": 5}, "true", 1.0),  # booleans are not numbers, so bounds do not apply
        # pattern (search, not full match)
        ({"pattern": "^[A-Z]"}, '"Bob"', 1.0),
        ({"pattern": "^[A-Z]"}, '"bob"', 0.0),
        ({"pattern": "[0-9]"}, '"x1y"', 1.0),
        # nested
        (
            {"type": "array", "items": {"type": "object", "required": ["id"]}},
            '[{"id": 1}, {"id": 2}]',
            1.0,
        ),
        (
            {"type": "array", "items": {"type": "object", "required": ["id"]}},
            '[{"id": 1}, {"ID": 2}]',
            0.0,
        ),
        ({}, '{"anything": [1, "goes"]}', 1.0),
    ],
)
def test_keywords(schema: dict[str, Any], answer: str, expected: float) -> None:
    # The validator's own semantics: the grader would refuse some of these top-level
    # schemas for lacking `type` (see test_top_level_schema_must_say_its_type).
    assert schema_problems(schema, "schema") == []
    report = check(compile_schema(schema), json.loads(answer))
    assert (1.0 if report.violations == 0 else 0.0) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"a": 1}', 1.0),
        ('  \n{"a": 1}\n\n', 1.0),
        ('Here you go:\n```json\n{"a": 1}\n```\nHope that helps.', 1.0),
        ('```\n{"a": 1}\n```', 1.0),  # no info string
        ('   ```JSON\n{"a": 1}\n   ```', 1.0),  # indented fences
        ('```json\n{"a": "x"}\n```\nfixed:\n```json\n{"a": 1}\n```', 1.0),  # the last block
        ('```json\n{"a": 1}\n```\noops:\n```json\n{"a": "x"}\n```', 0.0),
        ('```json\n{"a": 1}\n```\n```json\n{"a": "trunc', 1.0),  # an unclosed fence is ignored
        ('```json\n{"a": "```"}\n```', 0.0),  # ``` inside a string is no fence; "```" fails
        ('Here you go: {"a": 1}', 0.0),  # prose without a fence is not JSON
        ('```json\n{"a": 1,}\n```', 0.0),  # trailing comma
        ("{'a': 1}", 0.0),
        ('{"a": NaN}', 0.0),  # strict JSON
        ("", 0.0),
    ],
)
def test_answer_extraction(answer: str, expected: float) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert score(answer, schema) == expected


@pytest.mark.parametrize("answer", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_non_standard_constants_are_not_json(answer: str) -> None:
    result = grade(answer, {})
    assert metrics_of(result) == {"json_format": 0.0, "json_parsed": 0.0}


def test_extract_json_text() -> None:
    assert extract_json_text("```json\n[1]\n```") == "[1]"
    assert extract_json_text("```\n```") == ""
    assert extract_json_text(" plain ") == "plain"
    assert extract_json_text("```json\n[1]") == "```json\n[1]"


def test_metrics() -> None:
    ok = grade('{"a": 1}', {"type": "object", "required": ["a"]})
    assert ok["metrics_list"] == [
        {"name": "json_format", "value": 1.0, "type": "Reward"},
        {"name": "json_parsed", "value": 1.0, "type": "Metric"},
        {"name": "schema_violations", "value": 0.0, "type": "Metric"},
    ]
    bad = grade(
        '{"b": "x"}',
        {
            "type": "object",
            "required": ["a"],
            "properties": {"a": {}},
            "additionalProperties": False,
        },
    )
    assert metrics_of(bad) == {"json_format": 0.0, "json_parsed": 1.0, "schema_violations": 2.0}
    # With a reference, how much of it matched (1.0 only when equal).
    compared = grade(
        '{"a": 1, "b": 3}', {"type": "object"}, {"a": 1, "b": 2}, compareToReference=True
    )
    assert metrics_of(compared) == {
        "json_format": 0.0,
        "json_parsed": 1.0,
        "schema_violations": 0.0,
        "reference_match": pytest.approx(1 / 3),
    }
    # Nothing was checked, so no violation count (it would drag averages down).
    unparsed = grade("not json", {"type": "object", "required": ["a"]})
    assert unparsed["metrics_list"] == [
        {"name": "json_format", "value": 0.0, "type": "Reward"},
        {"name": "json_parsed", "value": 0.0, "type": "Metric"},
    ]


PARTIAL_SCHEMA = {
    "type": "object",
    "required": ["a"],
    "properties": {"a": {"type": "integer", "minimum": 0}, "b": {"type": "string"}},
}


@pytest.mark.parametrize(
    ("answer", "expected", "violations"),
    [
        ('{"a": 1, "b": "x"}', 1.0, 0),  # 5 of 5 checks
        ('{"a": -1, "b": 2}', 0.5 * 3 / 5, 2),  # a.minimum and b.type fail
        ("{}", 0.5 * 1 / 2, 1),  # type passes, required fails; nothing else applies
        ("5", 0.0, 1),  # the whole answer has the wrong type: no credit
        ("0", 0.0, 1),
        ('{"a": 1.5}', 0.5 * 3 / 4, 1),  # a.type fails, a.minimum passes
        ("nope", 0.0, None),  # unparseable: no credit at all
    ],
)
def test_partial_credit_arithmetic(answer: str, expected: float, violations: int | None) -> None:
    result = grade(answer, PARTIAL_SCHEMA, partialCredit=True)
    assert result["aggregate_reward_score"] == pytest.approx(expected)
    assert metrics_of(result).get("schema_violations") == (
        None if violations is None else float(violations)
    )
    strict = grade(answer, PARTIAL_SCHEMA, partialCredit=False)["aggregate_reward_score"]
    assert strict == (1.0 if violations == 0 else 0.0)


def test_partial_credit_counts_each_item() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    # 1 (array type) + 4 (items) checks, 3 passed.
    assert score('[1, "x", "y", 4]', schema, partialCredit=True) == pytest.approx(0.5 * 3 / 5)
    assert score("[]", schema, partialCredit=True) == 1.0
    assert score("[1]", {}, partialCredit=True) == 1.0  # no checks at all


def test_partial_credit_for_combinators_counts_the_keyword_once() -> None:
    # pydantic's Optional: a failed anyOf is one failed check, whatever its branches found.
    schema = {
        "type": "object",
        "properties": {"age": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}},
    }
    report = check(compile_schema(schema), {"age": -1})
    assert (report.checks, report.passed) == (2, 1)
    assert report.first_violation == "$.age: matches none of the anyOf schemas"
    assert score('{"age": -1}', schema, partialCredit=True) == pytest.approx(0.25)


def test_report_counts_and_first_violation() -> None:
    schema = compile_schema(PARTIAL_SCHEMA)
    report = check(schema, {"a": -1, "b": 2})
    assert (report.checks, report.passed, report.violations) == (5, 3, 2)
    assert report.first_violation == "$.a: -1 violates minimum 0"
    assert check(schema, {"a": 1}).first_violation is None
    report = check(compile_schema({"type": "array", "items": {"enum": ["x"]}}), ["x", "y"])
    assert report.first_violation == "$[1]: not one of the enum values"


def test_compare_to_reference() -> None:
    schema = {"type": "object"}
    ref = {"a": [1, 2], "b": None}
    assert score('{"b": null, "a": [1, 2]}', schema, ref, compareToReference=True) == 1.0
    assert score('{"a": [1, 2]}', schema, ref, compareToReference=True) == 0.0
    # Partial credit: 0.5 x schema share x matched leaves / leaves of either. ("a", 0) and
    # ("a", 1) match; ("b",) is missing: 2 of 3.
    partial = {"compareToReference": True, "partialCredit": True}
    assert score('{"a": [1, 2]}', schema, ref, **partial) == pytest.approx(0.5 * 2 / 3)
    assert score('{"a": 1}', schema, ref, **partial) == 0.0  # no leaf matches
    # Extra values count against the answer too: 3 matched of 4 leaves in either.
    assert score('{"a": [1, 2], "b": null, "c": 0}', schema, ref, **partial) == pytest.approx(
        0.5 * 3 / 4
    )
    # Without the option the reference is ignored.
    assert score('{"a": 1}', schema, ref) == 1.0


def test_a_wrong_value_earns_little() -> None:
    """Reinforcement fine-tuning learns whatever the grader rewards: a well-formed wrong
    answer must not earn most of the reward."""
    schema = {
        "type": "object",
        "required": ["answer"],
        "properties": {"answer": {"type": "integer"}, "unit": {"type": "string"}},
    }
    partial = {"compareToReference": True, "partialCredit": True}
    # Schema-valid, but the one value that matters is wrong: nothing (it used to be 0.875).
    assert score('{"answer": 41}', schema, {"answer": 42}, **partial) == 0.0
    assert score('{"answer": 42}', schema, {"answer": 42}, **partial) == 1.0
    # Half right: 0.5 x 1 matched leaf of the 3 in either.
    wrong_unit = score(
        '{"answer": 42, "unit": "g"}', schema, {"answer": 42, "unit": "kg"}, **partial
    )
    assert wrong_unit == pytest.approx(0.5 / 3)
    # Any parseable JSON used to earn 0.5 (0 against an object schema) and {} 0.75.
    assert score("0", schema, partialCredit=True) == 0.0
    assert score("{}", schema, partialCredit=True) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        (42, 42, 1.0),
        (41, 42, 0.0),
        (1.0, 1, 1.0),
        (True, 1, 0.0),  # true is not 1
        ([1, 2, 3], [1, 2, 4], 2 / 4),
        ([1, 2], [1, 2, 3], 2 / 3),  # a missing item
        ({"a": {"b": 1, "c": [None]}}, {"a": {"b": 1, "c": []}}, 1 / 3),
        ({"0": 1}, [1], 0.0),  # an object key is not an array index
        ({}, [], 0.0),
        ({}, {}, 1.0),
    ],
)
def test_reference_match(answer: Any, reference: Any, expected: float) -> None:
    assert reference_match(answer, reference) == pytest.approx(expected)
    assert reference_match(reference, answer) == pytest.approx(expected)


def test_score_answer() -> None:
    valid, invalid = Report(), Report()
    valid.checks = valid.passed = 4
    invalid.checks, invalid.passed = 4, 3
    assert score_answer(valid, None, partial_credit=False) == 1.0
    assert score_answer(valid, 1.0, partial_credit=False) == 1.0
    assert score_answer(valid, 0.9, partial_credit=False) == 0.0
    assert score_answer(valid, 0.5, partial_credit=True) == 0.25
    assert score_answer(invalid, None, partial_credit=False) == 0.0
    assert score_answer(invalid, None, partial_credit=True) == 0.375
    assert score_answer(invalid, 0.5, partial_credit=True) == 0.1875
    invalid.wrong_root_type = True
    assert score_answer(invalid, None, partial_credit=True) == 0.0


@pytest.mark.parametrize(
    ("reference", "answer", "expected"),
    [
        ('{"a": 1}', '{"a": 1.0}', 1.0),  # a JSON string reference; 1 == 1.0
        ('```json\n{"a": 1}\n```', '{"a": 1}', 1.0),  # fenced reference
        ("1", "1", 1.0),
        ('"1"', "1", 0.0),  # the string "1" is not the number 1
        (1, "true", 0.0),
        (True, "true", 1.0),
        ([1, [2]], "[1, [2]]", 1.0),
        ([1, [2]], "[1, [3]]", 0.0),
        ({"answer": 1}, '{"answer": 1}', 1.0),  # a dict reference is the JSON value itself
    ],
)
def test_reference_forms(reference: Any, answer: str, expected: float) -> None:
    assert score(answer, {}, reference, compareToReference=True) == expected


def test_non_json_reference_is_a_per_sample_error() -> None:
    grader = grader_for({}, compareToReference=True)
    bad, ok = grade_batch(
        [sample_event("1", "not json", "bad"), sample_event("1", "1", "ok")], grader
    )
    assert bad["metrics_list"][0]["name"] == GRADER_ERROR_METRIC
    assert bad["error"] == "ValueError: reference answer 'not json' is not valid JSON"
    assert ok["aggregate_reward_score"] == 1.0
    # Only when the reference is used.
    [fine] = grade_batch([sample_event("1", "not json")], grader_for({}))
    assert fine["aggregate_reward_score"] == 1.0


def test_json_equal() -> None:
    report = Report()
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]}, report)
    assert not json_equal(True, 1, report)
    assert not json_equal(0, False, report)
    assert not json_equal(None, False, report)
    assert not json_equal("1", 1, report)
    assert not json_equal([1], [1, 1], report)
    assert not json_equal({"a": 1}, {"b": 1}, report)


def test_huge_answers_are_bounded() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    answer = json.dumps([1] * (MAX_NODES + 10))
    # Unverifiable means not valid, and earns nothing even with partial credit, so padding
    # cannot hide violations past the budget.
    assert score(answer, schema) == 0.0
    result = grade(answer, schema, partialCredit=True)
    assert result["aggregate_reward_score"] == 0.0
    assert metrics_of(result)["schema_violations"] == 1.0
    assert score(json.dumps([1] * 1000), schema, partialCredit=True) == 1.0


def test_deep_answers_do_not_break() -> None:
    assert score("[" * 100_000 + "]" * 100_000, {}) == 0.0  # too deep for the JSON parser
    assert score("[" * 500 + "]" * 500, {"type": "array"}) == 1.0
    nested = {"const": [[[[1]]]]}
    assert score("[[[[1]]]]", nested) == 1.0
    assert score("[[[[2]]]]", nested) == 0.0


def test_pattern_input_is_truncated() -> None:
    answer = json.dumps("a" * 100_000 + "needle")
    assert score(answer, {"type": "string", "pattern": "needle"}) == 0.0
    assert score(answer, {"type": "string", "pattern": "^a"}) == 1.0


def test_big_integers_are_handled() -> None:
    assert score(str(10**50), {"type": "integer", "minimum": 0}) == 1.0
    assert score(str(10**50), {"type": "number", "maximum": 1e300}) == 1.0
    assert score("1" * 5000, {}) == 0.0  # more digits than Python converts


# --- spec validation ----------------------------------------------------------------------


def schema_problems_of(schema: Any, **options: Any) -> list[tuple[str, str]]:
    return spec_problems({"type": "json_format", "schema": schema, **options})


FULL_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Person",
    "description": "A person",
    "type": "object",
    "required": ["name", "tags"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": "^[A-Z]"},
        "age": {"type": ["integer", "null"], "minimum": 0, "exclusiveMaximum": 200},
        "kind": {"enum": ["a", "b"], "default": "a"},
        "version": {"const": 2, "examples": [2]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 0, "maxItems": 5},
        "ratio": {"exclusiveMinimum": 0, "maximum": 1.5},
    },
}


def test_valid_specs() -> None:
    assert schema_problems_of(FULL_SCHEMA, partialCredit=True, compareToReference=False) == []
    assert schema_problems_of({}) == []


def test_schema_is_required_and_must_be_an_object() -> None:
    assert spec_problems({"type": "json_format"}) == [
        ("schema", "missing; required: a JSON Schema object")
    ]
    assert schema_problems_of(True) == []  # any JSON answer passes
    assert schema_problems_of(False) == [
        ("schema", "false accepts no answer, so every score would be 0")
    ]
    assert schema_problems_of([{}]) == [("schema", "got [{}]; allowed: a schema object (or true)")]


def test_wrong_type_and_unknown_keys() -> None:
    assert spec_problems({"type": "json", "schema": {}, "partialcredit": True}) == [
        (
            "partialcredit",
            "unknown key (did you mean 'partialCredit'?); allowed keys: type, schema, "
            "partialCredit, compareToReference",
        ),
        ("type", "got 'json'; allowed: json_format"),
    ]


def test_unknown_keyword_has_its_path_and_a_hint() -> None:
    [(key, message)] = schema_problems_of({"type": "object", "properties": {"age": {"minimun": 0}}})
    assert key == "schema.properties.age.minimun"
    assert message.startswith("unknown keyword (did you mean 'minimum'?); allowed keywords: type,")
    [(key, message)] = schema_problems_of({"type": "array", "items": {"oneof": [{}]}})
    assert key == "schema.items.oneof"
    assert message.startswith("unknown keyword (did you mean 'oneOf'?); allowed keywords: ")
    # Keywords the validator knows but does not implement say so, with what to use instead.
    assert schema_problems_of({"type": "object", "unevaluatedProperties": False}) == [
        ("schema.unevaluatedProperties", "not supported; use additionalProperties")
    ]
    assert schema_problems_of({"type": "object", "dependencies": {}}) == [
        (
            "schema.dependencies",
            "a draft-07 keyword; use dependentRequired or dependentSchemas",
        )
    ]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"required": ["answer"]}, ["required applies only to objects", "add type: object"]),
        (
            {"properties": {"a": {}}, "additionalProperties": False},
            ["properties, additionalProperties apply only to objects", "add type: object"],
        ),
        ({"items": {"type": "integer"}}, ["items applies only to arrays", "add type: array"]),
        ({"pattern": "^[A-Z]"}, ["pattern applies only to strings", "add type: string"]),
        (
            {"minLength": 1, "minimum": 0},
            ["minLength, minimum apply only to strings and numbers", "add type: [string, number]"],
        ),
    ],
)
def test_top_level_schema_must_say_its_type(schema: dict[str, Any], expected: list[str]) -> None:
    """`required` applies only to objects, so without `type: object` the answer "nope" is
    valid: a reward for answers that ignore the requested shape."""
    [(key, message)] = schema_problems_of(schema)
    assert key == "schema.type"
    assert message.startswith(f"missing; {expected[0]}, so an answer of any other type")
    assert message.endswith(expected[1])
    # Saying the type, or pinning the value with const or enum, is enough; nested schemas
    # keep the standard's meaning.
    assert schema_problems_of({**schema, "type": ["object", "array", "string", "number"]}) == []
    assert schema_problems_of({**schema, "enum": [{"answer": 1}]}) == []
    assert schema_problems_of({"type": "array", "items": schema}) == []


def test_schema_without_type_lets_other_kinds_through() -> None:
    # Why the rule above exists: the validator follows the standard.
    report = check(compile_schema({"required": ["answer"]}), "nope")
    assert report.violations == 0


TYPES_ALLOWED = f"{', '.join(JSON_TYPES)}, or a non-empty array of them"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "strin"}, [("schema.type", f"got 'strin'; allowed: {TYPES_ALLOWED}")]),
        ({"type": []}, [("schema.type", f"got []; allowed: {TYPES_ALLOWED}")]),
        (
            {"type": ["string", 1]},
            [("schema.type", f"got ['string', 1]; allowed: {TYPES_ALLOWED}")],
        ),
        (
            {"type": ["null", "null"]},
            [("schema.type", "got ['null', 'null']; types must not repeat")],
        ),
        ({"required": "a"}, [("schema.required", "got 'a'; allowed: an array of property names")]),
        ({"required": ["a", 1]}, [("schema.required[1]", "got 1; allowed: a property name")]),
        ({"required": ["a", "a"]}, [("schema.required[1]", "duplicate property name 'a'")]),
        ({"properties": []}, [("schema.properties", "got []; allowed: an object of schemas")]),
        (
            {"properties": {"a": 5}},
            [("schema.properties.a", "got 5; allowed: a schema (an object, true or false)")],
        ),
        ({"properties": {1: {}}}, [("schema.properties.1", "got 1; allowed: a string name")]),
        (
            {"additionalProperties": "no"},
            [
                (
                    "schema.additionalProperties",
                    "got 'no'; allowed: a schema (an object, true or false)",
                )
            ],
        ),
        ({"enum": []}, [("schema.enum", "got []; allowed: a non-empty array")]),
        ({"enum": "a"}, [("schema.enum", "got 'a'; allowed: a non-empty array")]),
        (
            {"items": [{}]},
            [("schema.items", "got a list; allowed: a schema (a list of schemas is prefixItems)")],
        ),
        (
            {"anyOf": []},
            [("schema.anyOf", "got []; allowed: a non-empty array of schemas")],
        ),
        ({"minItems": -1}, [("schema.minItems", "got -1; allowed: a non-negative integer")]),
        ({"maxItems": 1.5}, [("schema.maxItems", "got 1.5; allowed: a non-negative integer")]),
        ({"minLength": True}, [("schema.minLength", "got True; allowed: a non-negative integer")]),
        ({"maxLength": "3"}, [("schema.maxLength", "got '3'; allowed: a non-negative integer")]),
        ({"minimum": "0"}, [("schema.minimum", "got '0'; allowed: a finite number")]),
        ({"maximum": False}, [("schema.maximum", "got False; allowed: a finite number")]),
        (
            {"exclusiveMinimum": float("inf")},
            [("schema.exclusiveMinimum", "got inf; allowed: a finite number")],
        ),
        (
            {"exclusiveMaximum": None},
            [("schema.exclusiveMaximum", "got None; allowed: a finite number")],
        ),
        (
            {"multipleOf": 0},
            [("schema.multipleOf", "got 0; allowed: a finite number greater than 0")],
        ),
        ({"uniqueItems": 1}, [("schema.uniqueItems", "got 1; allowed: true, false")]),
        ({"pattern": 5}, [("schema.pattern", "got 5; allowed: a regex string")]),
        (
            {"pattern": "("},
            [
                (
                    "schema.pattern",
                    "got '('; not a valid regex: missing ), unterminated subpattern at position 0",
                )
            ],
        ),
        (
            {"dependentRequired": {"a": "b"}},
            [("schema.dependentRequired.a", "got 'b'; allowed: an array of property names")],
        ),
        (
            {"$anchor": "1st"},
            [
                (
                    "schema.$anchor",
                    "got '1st'; allowed: a name of letters, digits, '-', '_' and '.', "
                    "not starting with a digit",
                )
            ],
        ),
        (
            {"$id": "#frag"},
            [("schema.$id", "got '#frag'; allowed: a URI without a fragment")],
        ),
    ],
)
def test_bad_keyword_values(schema: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    # The type is set so that only the keyword under test is reported.
    assert schema_problems_of({"type": "object", **schema}) == expected


@pytest.mark.parametrize(
    "count", [{"maxItems": 2.0}, {"minLength": 0.0}, {"minProperties": 1.0}, {"maxContains": 3.0}]
)
def test_integer_valued_floats_are_counts(count: dict[str, float]) -> None:
    assert schema_problems_of({"type": "object", **count}) == []


@pytest.mark.parametrize(
    ("pattern_at", "path"),
    [
        ({"type": "string", "pattern": "^(a+)+$"}, "schema.pattern"),
        (
            {"type": "object", "properties": {"code": {"pattern": "^(a+)+$"}}},
            "schema.properties.code.pattern",
        ),
        (
            {"type": "object", "patternProperties": {"^(a+)+$": {}}},
            "schema.patternProperties.^(a+)+$",
        ),
        (
            {"type": "array", "items": {"$defs": {"x": {"pattern": "(x|x)*y"}}}},
            "schema.items.$defs.x.pattern",
        ),
    ],
)
def test_backtracking_patterns_are_refused(pattern_at: dict[str, Any], path: str) -> None:
    [(key, message)] = schema_problems_of(pattern_at)
    assert key == path
    assert message.startswith("got ") and "; refused: " in message
    assert "exponential" in message


def test_contradictions_are_reported() -> None:
    def problems(schema: dict[str, Any]) -> list[tuple[str, str]]:
        return schema_problems_of({"type": "object", **schema})

    assert problems({"minItems": 3, "maxItems": 2}) == [
        ("schema.minItems", "3 is greater than maxItems 2; no answer can pass")
    ]
    assert problems({"properties": {"a": {"minLength": 3, "maxLength": 2}}}) == [
        ("schema.properties.a.minLength", "3 is greater than maxLength 2; no answer can pass")
    ]
    assert problems({"minimum": 1.5, "maximum": 1}) == [
        ("schema.minimum", "1.5 is greater than maximum 1; no answer can pass")
    ]
    assert problems({"minProperties": 2, "maxProperties": 1.0}) == [
        ("schema.minProperties", "2 is greater than maxProperties 1.0; no answer can pass")
    ]
    # In $defs too: a definition is there to be used.
    assert problems({"$defs": {"n": {"minContains": 2, "maxContains": 1}}}) == [
        ("schema.$defs.n.minContains", "2 is greater than maxContains 1; no answer can pass")
    ]
    assert problems(
        {"required": ["a", "b"], "properties": {"a": {}}, "additionalProperties": False}
    ) == [
        (
            "schema.required[1]",
            "'b' is not in properties and additionalProperties is false; no answer can pass",
        )
    ]
    # patternProperties can admit the name.
    assert (
        problems(
            {
                "required": ["b"],
                "patternProperties": {"^b$": {}},
                "additionalProperties": False,
            }
        )
        == []
    )
    assert problems({"minimum": 1, "maximum": 1}) == []


def test_schema_depth_is_bounded() -> None:
    schema: dict[str, Any] = {}
    for _ in range(MAX_DEPTH + 5):
        schema = {"items": schema}
    [(key, message)] = schema_problems_of({"type": "array", "items": schema})
    assert key == "schema" + ".items" * MAX_DEPTH
    assert message == f"schemas nested deeper than {MAX_DEPTH} levels"
    # A self-referencing schema (possible from YAML anchors) terminates too.
    looped: dict[str, Any] = {"type": "array"}
    looped["items"] = looped
    assert len(schema_problems_of(looped)) == 1


@pytest.mark.parametrize("key", ["partialCredit", "compareToReference"])
@pytest.mark.parametrize(
    ("value", "shown"), [(0, "0"), (1, "1"), ("true", "'true'"), (None, "None")]
)
def test_bools_must_be_real_bools(key: str, value: object, shown: str) -> None:
    assert schema_problems_of({}, **{key: value}) == [(key, f"got {shown}; allowed: true, false")]


def test_every_problem_is_reported_at_once() -> None:
    spec = {
        "type": "json_format",
        "schema": {
            "type": "objekt",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLenght": 1},
                "age": {"minimum": "0", "items": 3},
                "code": {"pattern": "(a*)*$"},
            },
            "additionalProperties": "no",
            "$ref": "#/$defs/Missing",
        },
        "partialCredit": "yes",
        "strict": True,
    }
    problems = spec_problems(spec)
    assert [key for key, _ in problems] == [
        "strict",
        "schema.type",
        "schema.properties.name.minLenght",
        "schema.properties.age.minimum",
        "schema.properties.age.items",
        "schema.properties.code.pattern",
        "schema.additionalProperties",
        "schema.$ref",
        "partialCredit",
    ]
    assert problems[-2] == ("schema.$ref", "got '#/$defs/Missing'; no such location in this schema")


# --- properties ---------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)
# Small values for enum and const, so that drawing a schema stays quick.
small_values = st.recursive(scalars, lambda children: st.lists(children, max_size=2), max_leaves=3)
names = st.sampled_from(["a", "b", "c"])
leaf_schemas = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(JSON_TYPES)
        | st.lists(st.sampled_from(JSON_TYPES), min_size=1, max_size=3, unique=True),
        "enum": st.lists(small_values, min_size=1, max_size=3),
        "const": small_values,
        "minItems": st.integers(0, 2),
        "maxItems": st.integers(2, 5),
        "minLength": st.integers(0, 2),
        "maxLength": st.integers(2, 5),
        "minimum": st.integers(-5, 0) | st.floats(-5, 0),
        "maximum": st.integers(0, 5),
        "exclusiveMinimum": st.floats(-5, 5),
        "exclusiveMaximum": st.integers(-5, 5),
        "pattern": st.sampled_from(["a", "^[0-9]+$", ".*", "x|y"]),
        "multipleOf": st.sampled_from([1, 2, 0.5, 0.1]),
        "uniqueItems": st.booleans(),
        "minProperties": st.integers(0, 2),
    },
)


def with_children(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.tuples(
        leaf_schemas,
        st.fixed_dictionaries(
            {},
            optional={
                "properties": st.dictionaries(names, children, max_size=3),
                "items": children,
                "required": st.lists(names, max_size=3, unique=True),
                "additionalProperties": st.booleans() | children,
                "prefixItems": st.lists(children, min_size=1, max_size=2),
                "anyOf": st.lists(children, min_size=1, max_size=2),
                "oneOf": st.lists(children, min_size=1, max_size=2),
                "not": children,
            },
        ),
    ).map(lambda pair: {**pair[0], **pair[1]})


# The grader wants the top-level schema to say its type; a generated type comes first, so
# the schema's own `type`, when it has one, wins.
schemas = st.tuples(
    st.sampled_from(JSON_TYPES), st.recursive(leaf_schemas, with_children, max_leaves=6)
).map(lambda pair: {"type": pair[0], **pair[1]})
answer_values = json_values | st.dictionaries(names, json_values, max_size=3)
answers = (
    answer_values.map(json.dumps)
    | answer_values.map(lambda v: f"Sure:\n```json\n{json.dumps(v, indent=1)}\n```\nDone.")
    | st.text(max_size=50)
)
references = json_values.filter(lambda v: v is not None) | answers


# Drawing a nested schema with combinators takes tens of milliseconds, which on a busy
# machine trips the slow-generation health check; that says nothing about the grader.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schema=schemas,
    answer=answers,
    reference=references,
    compare=st.booleans(),
)
def test_only_a_bad_reference_raises(
    schema: dict[str, Any], answer: str, reference: Any, compare: bool
) -> None:
    assume(schema_problems_of(schema) == [])
    [sample] = parse_event([sample_event(answer, reference)])
    assert sample.error is None
    scores = {}
    for partial in (False, True):
        spec = {
            "type": "json_format",
            "schema": schema,
            "partialCredit": partial,
            "compareToReference": compare,
        }
        try:
            output = build(spec)(sample)
        except ValueError as exc:
            assert compare and isinstance(reference, str)
            assert str(exc).startswith("reference answer ")
            return
        value, metrics = output
        assert 0.0 <= value <= 1.0
        assert metrics[0] == {"name": "json_format", "value": value, "type": "Reward"}
        parsed = {m["name"]: m["value"] for m in metrics}["json_parsed"]
        if parsed == 0.0:
            assert value == 0.0
        elif partial:
            assert value == 1.0 or value < 0.5  # a wrong answer never earns half
        else:
            assert value in (0.0, 1.0)
        scores[partial] = value
    # Full partial credit exactly when the strict score is 1.
    assert (scores[True] == 1.0) == (scores[False] == 1.0)


@given(value=json_values)
def test_any_fenced_json_value_parses(value: Any) -> None:
    answer = f"Result:\n```json\n{json.dumps(value)}\n```\nThat is all."
    # A string reference is JSON text, and a null one would make the sample invalid.
    reference = json.dumps(value) if value is None or isinstance(value, str) else value
    assert score(answer, {}, reference, compareToReference=True) == 1.0
    assert score(json.dumps(value, indent=2), {}, json.dumps(value), compareToReference=True) == 1.0
