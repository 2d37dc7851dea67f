"""The one walk over composite grader parts (graders.composite.nested_specs)."""

from __future__ import annotations

from typing import Any

import pytest

from rft_env.graders.composite import nested_specs

EXACT: dict[str, Any] = {"type": "exact_match"}
JUDGE: dict[str, Any] = {"type": "llm_judge", "modelId": "amazon.nova-pro-v1:0"}
CUSTOM: dict[str, Any] = {"type": "custom", "path": "graders_custom/mine"}


def part(name: str, grader: object) -> dict[str, Any]:
    return {"name": name, "weight": 1, "grader": grader}


def composite(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "composite", "parts": list(parts)}


NESTED = composite(
    part("judge", JUDGE),
    part("inner", composite(part("exact", EXACT), part("mine", CUSTOM))),
    part("again", JUDGE),
)


def test_a_plain_spec_is_itself_only() -> None:
    assert nested_specs(EXACT) == [((), EXACT)]
    assert nested_specs(EXACT, path=("graders", "a")) == [(("graders", "a"), EXACT)]


def test_every_spec_of_a_nested_composite_in_order_with_its_path() -> None:
    inner = NESTED["parts"][1]["grader"]
    assert nested_specs(NESTED) == [
        ((), NESTED),
        (("parts", 0, "grader"), JUDGE),
        (("parts", 1, "grader"), inner),
        (("parts", 1, "grader", "parts", 0, "grader"), EXACT),
        (("parts", 1, "grader", "parts", 1, "grader"), CUSTOM),
        (("parts", 2, "grader"), JUDGE),
    ]


def test_only_the_type_asked_for() -> None:
    found = nested_specs(NESTED, of_type="llm_judge", path=("graders", "mix"))
    assert found == [
        (("graders", "mix", "parts", 0, "grader"), JUDGE),
        (("graders", "mix", "parts", 2, "grader"), JUDGE),
    ]
    (deep,) = nested_specs(NESTED, of_type="custom")
    assert deep == (("parts", 1, "grader", "parts", 1, "grader"), CUSTOM)
    assert nested_specs(NESTED, of_type="math_answer") == []


def test_hands_out_the_specs_themselves() -> None:
    """So a caller can change a copy of a spec in place (`rftenv grade` resolves paths)."""
    (_, found) = nested_specs(NESTED, of_type="custom")[0]
    assert found is NESTED["parts"][1]["grader"]["parts"][1]["grader"]


def test_parts_are_walked_for_composites_only() -> None:
    not_composite = {"type": "custom", "parts": [part("x", JUDGE)]}
    assert nested_specs(not_composite) == [((), not_composite)]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "composite",
        ["type", "composite"],
        {"type": "composite"},
        {"type": "composite", "parts": "judge"},
        {"type": "composite", "parts": [None, "x", 3]},
        {"type": "composite", "parts": [{"name": "no_grader"}]},
        {"type": "composite", "parts": [part("bad", ["llm_judge"])]},
    ],
)
def test_unvalidated_input_is_skipped_not_refused(raw: object) -> None:
    """Config validation walks the raw stack file before anything has checked it."""
    assert nested_specs(raw, of_type="llm_judge") == []
    assert nested_specs(raw) == ([((), raw)] if isinstance(raw, dict) else [])


def test_a_malformed_part_does_not_hide_the_next() -> None:
    spec = composite({"name": "broken"}, "junk", part("judge", JUDGE))  # type: ignore[arg-type]
    assert nested_specs(spec, of_type="llm_judge") == [(("parts", 2, "grader"), JUDGE)]
