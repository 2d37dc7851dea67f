"""AWS Lambda entry point for grader functions: `graders.handler.lambda_handler`.

The grader is described by the JSON spec in the GRADER_SPEC environment variable. It is built
on the first invocation and reused for the life of the container.

The Lambda's remaining time, less RESPONSE_MARGIN_SECONDS, is the batch's deadline: each
sample is graded within its share of it (`contract.sample_budget`), so one sample that
stalls (a regex backtracking, a custom grader looping) fails alone instead of timing the
Lambda out, which would cost the whole batch its rewards.
"""

import json
import os
import time
from typing import Any

from .contract import Grader, GraderSpecError, grade_batch
from .registry import build_grader

ENV_VAR = "GRADER_SPEC"
# Time kept back from the Lambda's remaining time to build and return the response.
RESPONSE_MARGIN_SECONDS = 2.0

# (raw env value, grader). Keyed on the raw value so a changed spec (tests, or a config
# update that reuses a warm container) is never served by a stale grader.
_cached: tuple[str, Grader] | None = None


def _load_grader() -> Grader:
    global _cached
    raw = os.environ.get(ENV_VAR)
    if _cached is not None and _cached[0] == raw:
        return _cached[1]
    # Raising is right here, unlike for bad samples: without a valid spec no score would mean
    # anything, and a loud failure surfaces the deployment bug immediately.
    if raw is None or not raw.strip():
        raise GraderSpecError([("", "environment variable is not set")], context=ENV_VAR)
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GraderSpecError([("", f"not valid JSON: {exc}")], context=ENV_VAR) from exc
    try:
        grader = build_grader(spec)
    except GraderSpecError as exc:
        raise GraderSpecError(exc.problems, context=f"{ENV_VAR} is invalid") from exc
    _cached = (raw, grader)
    return grader


def deadline_from(context: Any) -> float | None:
    """A `time.monotonic()` deadline from the Lambda context, or None outside Lambda."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + max(0.0, remaining() / 1000 - RESPONSE_MARGIN_SECONDS)


def lambda_handler(event: Any, context: Any) -> list[dict[str, Any]]:
    return grade_batch(event, _load_grader(), deadline=deadline_from(context))
