"""Every case of the vendored JSON-Schema-Test-Suite (draft 2020-12) files for the keywords
`json_format` supports, run through our validator.

A deviation is a group the validator refuses at spec time, or a case it decides the other
way. Each is listed below with its reason; the test fails both on a new deviation and on a
listed one that no longer happens, so the list stays honest.
"""

import json
from pathlib import Path

import pytest

from rft_env.graders.json_schema import analyse, check, compile_schema

SUITE = Path(__file__).parent / "data" / "json_schema_suite"
FILES = sorted(path.relative_to(SUITE).as_posix() for path in SUITE.rglob("*.json"))

REMOTE = "a remote $ref (here to the draft 2020-12 meta-schema); refused at spec time"
UNEVALUATED = "unevaluatedProperties is not supported; refused at spec time"

# (file, group description) -> why every case of that group deviates.
REFUSED_GROUPS: dict[tuple[str, str], str] = {
    ("defs.json", "validate definition against metaschema"): REMOTE,
    ("ref.json", "remote ref, containing refs itself"): REMOTE,
    ("ref.json", "ref creates new scope when adjacent to keywords"): UNEVALUATED,
    ("not.json", "collect annotations inside a 'not', even if collection is disabled"): UNEVALUATED,
}
# (file, group description, case description) -> why the validator decides it differently.
WRONG_CASES: dict[tuple[str, str, str], str] = {}


def run_file(name: str) -> tuple[int, dict[tuple[str, ...], str]]:
    """(cases run, deviations found) for one suite file."""
    deviations: dict[tuple[str, ...], str] = {}
    cases = 0
    for group in json.loads((SUITE / name).read_text(encoding="utf-8")):
        cases += len(group["tests"])
        problems = analyse(group["schema"], "schema").problems
        if problems:
            deviations[(name, group["description"])] = f"refused: {problems[0]}"
            continue
        schema = compile_schema(group["schema"])
        for case in group["tests"]:
            report = check(schema, case["data"])
            valid = report.violations == 0
            if valid != case["valid"]:
                key = (name, group["description"], case["description"])
                deviations[key] = f"valid={valid}: {report.first_violation}"
    return cases, deviations


@pytest.mark.parametrize("name", FILES)
def test_suite_file(name: str) -> None:
    cases, found = run_file(name)
    assert cases > 0
    listed: dict[tuple[str, ...], str] = {
        **{key: reason for key, reason in REFUSED_GROUPS.items() if key[0] == name},
        **{key: reason for key, reason in WRONG_CASES.items() if key[0] == name},
    }
    # New deviations show what the validator did; stale ones show that the list is wrong.
    assert {key: found[key] for key in found.keys() - listed.keys()} == {}
    assert sorted(listed.keys() - found.keys()) == []


def test_every_listed_deviation_names_a_vendored_file() -> None:
    for key in [*REFUSED_GROUPS, *WRONG_CASES]:
        assert key[0] in FILES, key


def test_the_claimed_keywords_are_all_covered() -> None:
    """The README claims these files' keywords; none may go missing from the folder."""
    claimed = {
        "additionalProperties",
        "allOf",
        "anchor",
        "anyOf",
        "boolean_schema",
        "const",
        "contains",
        "defs",
        "dependentRequired",
        "dependentSchemas",
        "enum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "format",
        "if-then-else",
        "items",
        "maxContains",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minContains",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "not",
        "oneOf",
        "pattern",
        "patternProperties",
        "prefixItems",
        "properties",
        "propertyNames",
        "ref",
        "required",
        "type",
        "uniqueItems",
    }
    assert {f"{name}.json" for name in claimed} <= set(FILES)
