"""The `custom` grader: the user's own code, wrapped by the same contract layer.

Spec (JSON object, camelCase keys):
- `type`: "custom" (required)
- `path`: the user's directory, relative to the project (required; read at deploy time:
  its files are packaged into the Lambda as the `custom_grader` package, and a
  `requirements.txt` in it is vendored for the Lambda's architecture)
- `entry`: "module:function" inside that directory, default "grader:grade"
- `handler`: false (default) when the entry is `grade(sample) -> float | (float, metrics)`;
  true when it is a full Lambda handler `(event, context) -> list of results`

`grade` receives each sample as a dict: `id`, `messages`, `metadata`, `answer` (the text of
the model's answer) and `reference_answer`. A crash in user code, `sys.exit` included,
scores that sample 0 with a `grader_error` metric instead of failing the batch (a module
that fails to import is a spec error: nothing could be graded). User code runs under the
contract's time budget like any grader: `grade` per sample (see `contract.sample_budget`),
a full handler for the whole batch within the Lambda's remaining time. The budget
interrupts it with an exception that `except Exception` does not catch. A full handler's
output is checked against the contract: a result missing, malformed or out of order scores 0
for its sample.
"""

import importlib
import importlib.util
import re
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .contract import (
    BatchGrader,
    Grader,
    GraderOutput,
    GraderSpecError,
    Sample,
    SampleTimer,
    batch_budget,
    describe_exception,
)
from .spec import unknown_keys

TYPE = "custom"
PACKAGE = "custom_grader"  # the user's directory inside the Lambda archive
SPEC_KEYS = ("type", "path", "entry", "handler")
DEFAULT_ENTRY = "grader:grade"
_ENTRY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def spec_problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = unknown_keys(spec, SPEC_KEYS)
    path = spec.get("path")
    if not isinstance(path, str) or not path.strip():
        problems.append(("path", f"got {path!r:.60}; allowed: the grader's directory"))
    entry = spec.get("entry", DEFAULT_ENTRY)
    if not isinstance(entry, str) or not _ENTRY.fullmatch(entry):
        problems.append(("entry", f"got {entry!r:.60}; allowed: 'module:function'"))
    if "handler" in spec and not isinstance(spec["handler"], bool):
        problems.append(("handler", f"got {spec['handler']!r:.60}; allowed: true, false"))
    return problems


def entry_parts(spec: Mapping[str, Any]) -> tuple[str, str]:
    module, _, function = str(spec.get("entry", DEFAULT_ENTRY)).partition(":")
    return module, function


def _package(spec: Mapping[str, Any]) -> None:
    """Make `custom_grader` importable: in Lambda it is in the archive; when grading
    locally (`rftenv grade`), it is the spec's `path`."""
    if PACKAGE in sys.modules or importlib.util.find_spec(PACKAGE) is not None:
        return
    directory = Path(str(spec.get("path", ""))).resolve()
    if not directory.is_dir():
        raise FileNotFoundError(f"custom grader directory not found: {directory}")
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(directory)]
    sys.modules[PACKAGE] = package


class UserExit(RuntimeError):
    """User code called sys.exit (or raised SystemExit): in a Lambda that would end the
    process and lose the whole batch, so it fails that sample (or that import) instead."""

    def __init__(self, exit_: SystemExit) -> None:
        super().__init__(f"custom grader called sys.exit({exit_.code!r})")


def _guarded(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call` with SystemExit turned into UserExit. KeyboardInterrupt still propagates: it
    is an operator stopping `rftenv grade`, and Lambda never sends it."""

    def guarded(*args: Any) -> Any:
        try:
            return call(*args)
        except SystemExit as exit_:
            raise UserExit(exit_) from None

    return guarded


def load_entry(spec: Mapping[str, Any]) -> Callable[..., Any]:
    """The user's entry function; GraderSpecError if its module cannot be imported (a syntax
    error, a missing dependency, an exception or sys.exit at import time)."""
    _package(spec)
    module_name, function_name = entry_parts(spec)
    try:
        module = importlib.import_module(f"{PACKAGE}.{module_name}")
    except (Exception, SystemExit) as error:
        if isinstance(error, SystemExit):
            error = UserExit(error)
        raise GraderSpecError(
            [("entry", f"importing {module_name} failed: {describe_exception(error)}")],
            context="custom grader",
        ) from error
    entry = getattr(module, function_name, None)
    if not callable(entry):
        raise GraderSpecError(
            [("entry", f"{module_name}.{function_name} is not a function")],
            context="custom grader",
        )
    return _guarded(entry)


def sample_view(sample: Sample) -> dict[str, Any]:
    """What user code sees for one sample."""
    return {
        "id": sample.id,
        "messages": sample.messages,
        "metadata": sample.metadata,
        "answer": sample.answer_text,
        "reference_answer": sample.reference,
    }


class HandlerGrader(BatchGrader):
    """A user's full Lambda handler, held to the contract."""

    def __init__(self, handler: Callable[[Any, Any], Any]) -> None:
        self.handler = handler

    def grade_many(
        self, samples: Sequence[Sample], deadline: float | None
    ) -> list[GraderOutput | Exception]:
        event = [{"id": s.id, "messages": s.messages, "metadata": s.metadata} for s in samples]
        # The handler grades the whole batch in one call, so it gets the batch's time: past
        # it, every sample fails with a timeout, but the Lambda still answers in time.
        budget = batch_budget(deadline, len(samples), time.monotonic())
        with SampleTimer() as timer:
            results = timer.run(lambda: self.handler(event, None), budget)
        if not isinstance(results, list):
            raise TypeError(f"custom handler returned {type(results).__name__}, not a list")
        outputs: list[GraderOutput | Exception] = []
        for index, sample in enumerate(samples):
            result = results[index] if index < len(results) else None
            if not isinstance(result, dict) or result.get("id") != sample.id:
                outputs.append(ValueError(f"custom handler result {index} missing or out of order"))
                continue
            outputs.append(
                (result.get("aggregate_reward_score"), list(result.get("metrics_list") or []))
            )
        return outputs


def build(spec: Mapping[str, Any]) -> Grader:
    entry = load_entry(spec)
    if spec.get("handler", False):
        return HandlerGrader(entry)
    return lambda sample: entry(sample_view(sample))
