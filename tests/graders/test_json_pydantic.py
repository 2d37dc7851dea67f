"""Schemas from pydantic v2's `model_json_schema()` work as `json_format` schemas: Optional
fields (`anyOf` with null), nested and recursive models (`$defs` + `$ref`), enums, lists,
sets, tuples, dicts, tagged unions and field constraints, with their annotations."""

import enum
import json
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from rft_env.graders.contract import grade_sample, parse_event
from rft_env.graders.json_format import build, spec_problems
from rft_env.graders.json_schema import check, compile_schema


class Color(enum.StrEnum):
    red = "red"
    green = "green"


class Point(BaseModel):
    x: int
    y: float = 0.0


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=0, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class TreeNode(BaseModel):
    value: int
    children: list["TreeNode"] = []


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid", title="An order")

    name: str = Field(min_length=1, max_length=8, pattern=r"^[A-Z]", description="Who")
    age: int | None = None
    color: Color = Color.red
    points: list[Point]
    tags: set[str] = set()
    pair: tuple[int, str] | None = None
    scores: dict[str, float] = {}
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    step: float = Field(default=1.0, multiple_of=0.5, gt=0)
    tree: TreeNode | None = None


ORDER_SCHEMA = Order.model_json_schema()

VALID_ORDER: dict[str, Any] = {
    "name": "Ann",
    "age": 30,
    "color": "green",
    "points": [{"x": 1, "y": 2.5}, {"x": -3}],
    "tags": ["a", "b"],
    "pair": [1, "one"],
    "scores": {"math": 9.5, "art": 7},
    "pet": {"kind": "cat", "lives": 9},
    "step": 2.5,
    "tree": {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]},
}


def order_score(answer: Any, **options: Any) -> float:
    spec = {"type": "json_format", "schema": ORDER_SCHEMA, **options}
    assert spec_problems(spec) == []
    [sample] = parse_event(
        [
            {
                "id": "s",
                "messages": [{"role": "assistant", "content": json.dumps(answer)}],
                "metadata": {"reference_answer": "unused"},
            }
        ]
    )
    result = grade_sample(sample, build(spec))
    assert "error" not in result, result
    return float(result["aggregate_reward_score"])


def first_violation(schema: dict[str, Any], value: Any) -> str | None:
    return check(compile_schema(schema), value).first_violation


def test_the_schema_uses_what_pydantic_emits() -> None:
    text = json.dumps(ORDER_SCHEMA)
    for keyword in ("$defs", "$ref", "anyOf", "oneOf", "discriminator", "prefixItems"):
        assert f'"{keyword}"' in text
    for keyword in ("uniqueItems", "additionalProperties", "multipleOf", "exclusiveMinimum"):
        assert f'"{keyword}"' in text


def test_valid_instances_score_full_marks() -> None:
    assert order_score(VALID_ORDER) == 1.0
    minimal = {"name": "B", "points": [], "pet": {"kind": "dog", "good": False}}
    assert order_score(minimal) == 1.0
    # What pydantic itself writes is valid, whatever the instance.
    built = Order.model_validate(VALID_ORDER)
    assert order_score(built.model_dump(mode="json")) == 1.0
    assert order_score(Order.model_validate(minimal).model_dump(mode="json")) == 1.0
    # Optional fields take null.
    assert order_score({**minimal, "age": None, "pair": None, "tree": None}) == 1.0


@pytest.mark.parametrize(
    ("change", "violation"),
    [
        ({"name": "ann"}, "$.name: does not match '^[A-Z]'"),
        ({"name": ""}, "$.name: size 0 < minLength 1"),
        ({"age": "30"}, "$.age: matches none of the anyOf schemas"),
        ({"age": 30.5}, "$.age: matches none of the anyOf schemas"),
        ({"color": "blue"}, "$.color: not one of the enum values"),
        ({"points": [{"y": 1}]}, "$.points[0]: missing required ['x']"),
        ({"points": [{"x": True}]}, "$.points[0].x: expected type integer"),
        ({"tags": ["a", "a"]}, "$.tags: items are not unique"),
        ({"pair": [1, 2]}, "$.pair: matches none of the anyOf schemas"),
        ({"pair": [1, "one", 2]}, "$.pair: matches none of the anyOf schemas"),
        ({"scores": {"math": "A"}}, "$.scores.math: expected type number"),
        ({"pet": {"kind": "cat", "lives": 10}}, "$.pet: matches none of the oneOf schemas"),
        ({"pet": {"kind": "cow"}}, "$.pet: matches none of the oneOf schemas"),
        ({"step": 0.75}, "$.step: 0.75 is not a multiple of 0.5"),
        ({"step": 0}, "$.step: 0 violates exclusiveMinimum 0"),
        (
            {"tree": {"value": 1, "children": [{"children": []}]}},
            "$.tree: matches none of the anyOf schemas",
        ),
        ({"extra": 1}, "$: additional properties ['extra']"),
    ],
)
def test_invalid_instances_score_zero(change: dict[str, Any], violation: str) -> None:
    answer = {**VALID_ORDER, **change}
    assert order_score(answer) == 0.0
    assert first_violation(ORDER_SCHEMA, answer) == violation
    # With partial credit, one mistake among many checks still earns less than half.
    assert 0.0 < order_score(answer, partialCredit=True) < 0.5


def test_missing_required_and_wrong_top_level_type() -> None:
    answer = {key: value for key, value in VALID_ORDER.items() if key != "pet"}
    assert first_violation(ORDER_SCHEMA, answer) == "$: missing required ['pet']"
    assert order_score(answer) == 0.0
    assert order_score([VALID_ORDER], partialCredit=True) == 0.0  # not even an object


def test_recursive_model_at_the_top_level() -> None:
    """A self-referencing model's schema is only `$defs` plus a `$ref` at the top."""
    schema = TreeNode.model_json_schema()
    assert set(schema) == {"$defs", "$ref"}
    assert spec_problems({"type": "json_format", "schema": schema}) == []
    deep: dict[str, Any] = {"value": 0}
    for depth in range(1, 30):
        deep = {"value": depth, "children": [deep, {"value": -depth}]}
    assert first_violation(schema, deep) is None
    assert first_violation(schema, {"value": 1, "children": [{"value": "2"}]}) == (
        "$.children[0].value: expected type integer"
    )
    assert first_violation(schema, "nope") == "$: expected type object"


def test_a_list_of_models_from_a_type_adapter() -> None:
    from pydantic import TypeAdapter

    schema = TypeAdapter(list[Point]).json_schema()
    assert spec_problems({"type": "json_format", "schema": schema}) == []
    assert first_violation(schema, [{"x": 1}, {"x": 2, "y": 0.5}]) is None
    assert first_violation(schema, [{"x": 1}, {"x": "2"}]) == "$[1].x: expected type integer"
