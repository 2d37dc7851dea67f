"""Grader types by name: validation and construction from a declarative spec.

To add a grader type, write a module with `TYPE`, `spec_problems(spec)` and `build(spec)`
(see `exact_match`) and add one entry to `GRADER_TYPES`.
"""

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .contract import Grader, GraderSpecError

# Type name -> module of this package. Modules are imported on first use, so a Lambda
# loads only the grader it runs: cold starts stay small, and a rule-based grader never
# pulls in the judge's Bedrock client machinery.
GRADER_TYPES: Mapping[str, str] = {
    "composite": "composite",
    "custom": "custom",
    "exact_match": "exact_match",
    "format": "format_check",
    "json_format": "json_format",
    "llm_judge": "llm_judge",
    "math_answer": "math_answer",
    "text_similarity": "text_similarity",
}


class GraderType(NamedTuple):
    # Receives a dict whose "type" already names this grader type; returns every problem.
    spec_problems: Callable[[Mapping[str, Any]], list[tuple[str, str]]]
    # Only called with specs that `spec_problems` accepted.
    build: Callable[[Mapping[str, Any]], Grader]


def grader_type(name: str) -> GraderType:
    module: Any = importlib.import_module(f"{__package__}.{GRADER_TYPES[name]}")
    if name == "composite":
        # A composite validates and builds its parts through this registry.
        return GraderType(
            lambda spec: module.spec_problems(spec, spec_problems),
            lambda spec: module.build(spec, build_grader),
        )
    return GraderType(module.spec_problems, module.build)


def spec_problems(spec: object) -> list[tuple[str, str]]:
    """Every problem with a grader spec as `(key_path, message)`; [] when it is valid."""
    known = ", ".join(sorted(GRADER_TYPES))
    if not isinstance(spec, dict):
        return [("", f"grader spec must be an object with a 'type' key, got {spec!r:.60}")]
    if "type" not in spec:
        return [("type", f"missing; allowed: {known}")]
    type_name = spec["type"]
    if not isinstance(type_name, str) or type_name not in GRADER_TYPES:
        return [("type", f"got {type_name!r:.60}; allowed: {known}")]
    return grader_type(type_name).spec_problems(spec)


def build_grader(spec: object) -> Grader:
    """The grader for `spec`; raises GraderSpecError listing every problem if it is invalid."""
    problems = spec_problems(spec)
    if problems:
        raise GraderSpecError(problems)
    assert isinstance(spec, dict)  # guaranteed by spec_problems; narrows the type
    return grader_type(spec["type"]).build(spec)
