"""Grader types by name: validation and construction from a declarative spec.

To add a grader type, write a module with `spec_problems(spec)` and `build(spec)` (see
`exact_match`) and add one entry to `GRADER_TYPES`.
"""

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from . import composite, custom, exact_match
from .contract import Grader, GraderSpecError


class GraderType(NamedTuple):
    # Receives a dict whose "type" already names this grader type; returns every problem.
    spec_problems: Callable[[Mapping[str, Any]], list[tuple[str, str]]]
    # Only called with specs that `spec_problems` accepted.
    build: Callable[[Mapping[str, Any]], Grader]


GRADER_TYPES: Mapping[str, GraderType] = {
    exact_match.TYPE: GraderType(exact_match.spec_problems, exact_match.build),
    custom.TYPE: GraderType(custom.spec_problems, custom.build),
    # A composite validates and builds its parts through this registry.
    composite.TYPE: GraderType(
        lambda spec: composite.spec_problems(spec, spec_problems),
        lambda spec: composite.build(spec, build_grader),
    ),
}


def spec_problems(spec: object) -> list[tuple[str, str]]:
    """Every problem with a grader spec as `(key_path, message)`; [] when it is valid."""
    known = ", ".join(sorted(GRADER_TYPES))
    if not isinstance(spec, dict):
        return [("", f"grader spec must be an object with a 'type' key, got {spec!r:.60}")]
    if "type" not in spec:
        return [("type", f"missing; allowed: {known}")]
    type_name = spec["type"]
    grader_type = GRADER_TYPES.get(type_name) if isinstance(type_name, str) else None
    if grader_type is None:
        return [("type", f"got {type_name!r:.60}; allowed: {known}")]
    return grader_type.spec_problems(spec)


def build_grader(spec: object) -> Grader:
    """The grader for `spec`; raises GraderSpecError listing every problem if it is invalid."""
    problems = spec_problems(spec)
    if problems:
        raise GraderSpecError(problems)
    assert isinstance(spec, dict)  # guaranteed by spec_problems; narrows the type
    return GRADER_TYPES[spec["type"]].build(spec)
