"""The built-in `composite` grader: a weighted combination of other graders.

Spec (JSON object, camelCase keys):
- `type`: "composite" (required)
- `parts`: a non-empty list of `{name, weight, grader}` where `name` is a metric-safe name
  (lowercase letters, digits, `_`; unique), `weight` a positive number and `grader` any
  grader spec, composites included (at most 4 levels deep).

The score is the weighted mean of the parts' scores. Every part's score is reported as a
Metric named after the part, and its own metrics as `<part>.<metric>`. A part that fails
for a sample scores 0 for that sample with a `<part>.error` metric; the other parts still
count, and so does a part that runs out of its time budget for that sample (see
`CompositeGrader`). Parts that grade whole batches (the LLM judge) keep doing so inside a
composite.
"""

import math
import numbers
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .contract import (
    BatchGrader,
    Budget,
    Checked,
    Grader,
    GraderOutput,
    Sample,
    SampleTimer,
    normalise_output,
    sample_budget,
)
from .spec import show, unknown_keys

TYPE = "composite"
SPEC_KEYS = ("type", "parts")
PART_KEYS = ("name", "weight", "grader")
MAX_DEPTH = 4
_PART_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Where a spec sits inside another: ("parts", 0, "grader", "parts", 1, "grader"), say.
SpecPath = tuple[str | int, ...]


def nested_specs(
    spec: object, *, of_type: str | None = None, path: SpecPath = ()
) -> list[tuple[SpecPath, dict[str, Any]]]:
    """Every grader spec in `spec`, each with its path: `spec` itself, then its parts'
    graders (and theirs), depth first and in order; only those of type `of_type` if given.

    The one walk over composite parts: config validation finds custom and llm_judge specs
    with it, the grader role its judges, and `rftenv grade` the paths to resolve. What is
    not an object is skipped rather than refused, because config validation walks the raw
    input before anything has checked it (`spec_problems` reports it)."""
    if not isinstance(spec, dict):
        return []
    found = [(path, spec)] if of_type is None or spec.get("type") == of_type else []
    parts = spec.get("parts") if spec.get("type") == TYPE else None
    if not isinstance(parts, list):
        return found
    for index, part in enumerate(parts):
        if isinstance(part, dict):
            inner_path = (*path, "parts", index, "grader")
            found += nested_specs(part.get("grader"), of_type=of_type, path=inner_path)
    return found


def nested_graders(grader: Grader) -> Iterator[Grader]:
    """Every grader in a built `grader`: itself, then its parts' graders (and theirs), depth
    first and in order; the built counterpart of `nested_specs` (`rftenv grade` finds the
    judges to connect with it)."""
    yield grader
    if isinstance(grader, CompositeGrader):
        for _, _, part in grader.parts:
            yield from nested_graders(part)


def spec_problems(
    spec: Mapping[str, Any],
    part_problems: Callable[[object], list[tuple[str, str]]],
    depth: int = 1,
) -> list[tuple[str, str]]:
    """Every problem with a composite spec; `part_problems` validates the parts' specs."""
    problems = unknown_keys(spec, SPEC_KEYS)
    if depth > MAX_DEPTH:
        return [*problems, ("", f"composites nest at most {MAX_DEPTH} levels deep")]
    parts = spec.get("parts")
    if not isinstance(parts, list) or not parts:
        return [*problems, ("parts", f"got {show(parts)}; allowed: a non-empty list of parts")]
    names: set[str] = set()
    for index, part in enumerate(parts):
        where = f"parts[{index}]"
        if not isinstance(part, dict):
            problems.append((where, f"got {show(part)}; allowed: {{name, weight, grader}}"))
            continue
        problems += unknown_keys(part, PART_KEYS, prefix=f"{where}.")
        name = part.get("name")
        if not isinstance(name, str) or not _PART_NAME.fullmatch(name):
            problems.append(
                (f"{where}.name", f"got {show(name)}; allowed: lowercase letters, digits, _")
            )
        elif name in names:
            problems.append((f"{where}.name", f"got {name!r}; allowed: a name not used before"))
        else:
            names.add(name)
        weight = part.get("weight")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, numbers.Real)
            or not math.isfinite(weight)
            or weight <= 0
        ):
            problems.append((f"{where}.weight", f"got {show(weight)}; allowed: a number > 0"))
        grader = part.get("grader")
        if isinstance(grader, dict) and grader.get("type") == TYPE:
            inner = spec_problems(grader, part_problems, depth + 1)
        else:
            inner = part_problems(grader)
        problems += [(f"{where}.grader" + (f".{path}" if path else ""), m) for path, m in inner]
    return problems


class CompositeGrader(BatchGrader):
    """Parts that grade whole batches get the composite's deadline. A plain part grades
    each sample within a time budget: its fair share of the time left until the deadline,
    counting every (part, sample) still to grade, batch parts included, so a part slow on
    every sample cannot leave a later part no time."""

    def __init__(self, parts: Sequence[tuple[str, float, Grader]]) -> None:
        self.parts = list(parts)
        self.total_weight = sum(weight for _, weight, _ in self.parts)

    def grade_many(
        self, samples: Sequence[Sample], deadline: float | None
    ) -> list[GraderOutput | Checked | Exception]:
        calls_left = len(self.parts) * len(samples)
        per_part: list[tuple[str, float, list[object]]] = []
        with SampleTimer() as timer:
            for name, weight, grader in self.parts:
                if isinstance(grader, BatchGrader):
                    outputs = _batch_outputs(grader, samples, deadline)
                else:
                    outputs = []
                    for index, sample in enumerate(samples):
                        budget = sample_budget(deadline, calls_left - index, time.monotonic())
                        outputs.append(_plain_output(grader, sample, timer, budget))
                calls_left -= len(samples)
                per_part.append((name, weight, outputs))
        return [self._combine(per_part, index) for index in range(len(samples))]

    def _combine(
        self, per_part: Sequence[tuple[str, float, Sequence[object]]], index: int
    ) -> Checked:
        total = 0.0
        metrics: list[dict[str, Any]] = []
        for name, weight, outputs in per_part:
            try:
                score, part_metrics = normalise_output(outputs[index])
            except Exception:
                score, part_metrics = 0.0, []
                metrics.append({"name": f"{name}.error", "value": 1.0, "type": "Metric"})
            total += weight * score
            metrics.append({"name": name, "value": score, "type": "Metric"})
            metrics += [
                {"name": f"{name}.{m['name']}", "value": m["value"], "type": "Metric"}
                for m in part_metrics
            ]
        score = total / self.total_weight
        # Valid by construction: every value comes from a part's checked output (a rounding
        # past 1.0 takes the contract's full check, which clamps it).
        return Checked(score, [{"name": TYPE, "value": score, "type": "Reward"}, *metrics])


def _batch_outputs(
    grader: BatchGrader, samples: Sequence[Sample], deadline: float | None
) -> list[object]:
    try:
        outputs = list(grader.grade_many(samples, deadline))
    except Exception as exc:
        return [exc] * len(samples)
    if len(outputs) != len(samples):
        return [RuntimeError("bad batch")] * len(samples)
    return outputs


def _plain_output(grader: Grader, sample: Sample, timer: SampleTimer, budget: Budget) -> object:
    try:
        return timer.run(lambda: grader(sample), budget)
    except Exception as exc:  # one part's failure (or timeout) costs that part only
        return exc


def build(spec: Mapping[str, Any], build_part: Callable[[object], Grader]) -> Grader:
    parts = [(p["name"], float(p["weight"]), build_part(p["grader"])) for p in spec["parts"]]
    return CompositeGrader(parts)
