"""The Bedrock reinforcement fine-tuning grader contract.

Bedrock invokes a grader Lambda with a JSON array of samples and expects back exactly one
result per sample, in the same order and with the same ids. This module turns an arbitrary
event into `Sample` objects, runs a grader over them and builds the results, so that no
input, however malformed, can make the batch raise, lose a result or reorder results.

Event shapes:
- a list: each element is one sample (malformed elements become invalid samples);
- a dict: a single sample, treated as a list of one;
- anything else (null, number, string, ...): there is no sample to answer for, so the
  result is an empty list.
"""

import json
import math
import numbers
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType, MappingProxyType, TracebackType
from typing import Any, Literal, NamedTuple, TypeAlias, TypeVar

# Bedrock's Lambda payload cap is 6 MB, so a longer answer is almost certainly garbage and
# would only make graders (regexes especially) slow.
MAX_ANSWER_CHARS = 1_000_000
# Error strings go back to Bedrock and into logs; keep them readable.
MAX_ERROR_CHARS = 200

# Per-sample time budget (see `sample_budget`). The cap keeps one pathological sample from
# burning minutes of Lambda time, and is also the budget when there is no deadline
# (`rftenv grade`), so local grading cannot hang either. Ordinary samples take microseconds
# to milliseconds; the slowest built-in measure (fuzzy_ratio's metered worst case) ~1 s.
MAX_SAMPLE_SECONDS = 10.0
# Even past the deadline each sample gets this long: a well-behaved one finishes well
# within it, and RESPONSE_MARGIN_SECONDS (handler.py) absorbs a few pathological ones.
MIN_SAMPLE_SECONDS = 0.05
# After the first alarm, how often it is raised again while the grader still runs (code that
# swallows one `except BaseException` does not get to run on for ever).
ALARM_REPEAT_SECONDS = 0.05

INVALID_SAMPLE_METRIC = "invalid_sample"
GRADER_ERROR_METRIC = "grader_error"

MetricType: TypeAlias = Literal["Reward", "Metric"]
METRIC_TYPES: tuple[MetricType, ...] = ("Reward", "Metric")

# What a grader may return: a score, or a score plus metrics given either as Bedrock metric
# dicts or as a plain name -> value mapping (reported with type "Metric").
GraderOutput: TypeAlias = (
    float | tuple[float, Sequence[Mapping[str, Any]]] | tuple[float, Mapping[str, float]]
)


class GraderSpecError(ValueError):
    """A grader spec is unusable; `problems` lists every `(key_path, message)` found."""

    def __init__(
        self, problems: Sequence[tuple[str, str]], context: str = "invalid grader spec"
    ) -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        self.context = context
        details = "; ".join(f"{path}: {msg}" if path else msg for path, msg in self.problems)
        super().__init__(f"{context}: {details}" if details else context)


class Sample(NamedTuple):
    """One normalised sample. `error` is set (and the other fields are best effort) when the
    sample is malformed; graders are only ever called with samples whose `error` is None.

    A NamedTuple rather than a frozen dataclass: just as immutable, and several times
    cheaper to create, which matters once per sample.
    """

    index: int
    # The id as given (so it can be echoed even when it has the wrong type) when that is
    # valid JSON; see `echo_id` for the rest. "#<index>" when the sample has none.
    id: object
    messages: Sequence[Any] = ()
    answer_text: str = ""
    reference: Any = None
    metadata: Mapping[str, Any] = MappingProxyType({})
    error: str | None = None


class Checked(NamedTuple):
    """A grader's output that is valid by construction: a score in [0, 1] and metrics that
    are Bedrock metric dicts (a non-empty name, a finite float value written as a literal
    or derived from one, "Reward" or "Metric"). A built-in grader whose metrics cannot be
    wrong (literals, the score itself, or values from its parts' checked outputs) returns
    one, and the reply takes it without re-checking each metric; a score outside [0, 1]
    still takes the full check. Tests hold every such output to the full check
    (`normalise_output`)."""

    score: float
    metrics: list[dict[str, Any]]


Grader: TypeAlias = Callable[[Sample], GraderOutput | Checked]
_Result = TypeVar("_Result")


class Budget(NamedTuple):
    """How long one call may run, and where that limit comes from (for the error)."""

    seconds: float
    source: str


SHARE_SOURCE = "the sample's share of the Lambda's remaining time"
CAP_SOURCE = "the per-sample cap, MAX_SAMPLE_SECONDS"
FLOOR_SOURCE = "the per-sample minimum: the Lambda's remaining time is nearly spent"
NO_DEADLINE_SOURCE = "the per-sample limit when grading without a Lambda deadline"
BATCH_SOURCE = "the Lambda's remaining time"


def sample_budget(deadline: float | None, calls_left: int, now: float) -> Budget:
    """The budget of the next of `calls_left` calls still to make before `deadline` (a
    `time.monotonic()` value, or None without a limit): its fair share of the time left,
    at least MIN_SAMPLE_SECONDS and at most MAX_SAMPLE_SECONDS. Shares are recomputed per
    call, so time a fast sample leaves unused goes to the ones after it."""
    if deadline is None:
        return _NO_DEADLINE_BUDGETS.get(MAX_SAMPLE_SECONDS) or _no_deadline_budget()
    share = (deadline - now) / max(1, calls_left)
    if share > MAX_SAMPLE_SECONDS:
        return Budget(MAX_SAMPLE_SECONDS, CAP_SOURCE)
    if share < MIN_SAMPLE_SECONDS:
        return Budget(MIN_SAMPLE_SECONDS, FLOOR_SOURCE)
    return Budget(share, SHARE_SOURCE)


# The budget without a deadline, made once per value of MAX_SAMPLE_SECONDS (tests patch it).
_NO_DEADLINE_BUDGETS: dict[float, Budget] = {}


def _no_deadline_budget() -> Budget:
    budget = _NO_DEADLINE_BUDGETS[MAX_SAMPLE_SECONDS] = Budget(
        MAX_SAMPLE_SECONDS, NO_DEADLINE_SOURCE
    )
    return budget


def batch_budget(deadline: float | None, samples: int, now: float) -> Budget:
    """The budget of one call that grades `samples` samples at once (a custom full
    handler): the time left until `deadline`, or the per-sample cap for each sample."""
    if deadline is None:
        return Budget(MAX_SAMPLE_SECONDS * max(1, samples), NO_DEADLINE_SOURCE)
    return Budget(max(MIN_SAMPLE_SECONDS, deadline - now), BATCH_SOURCE)


class SampleTimeoutError(TimeoutError):
    """Grading a sample ran past its budget; that sample scores 0 with `grader_error`."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        super().__init__(f"timed out after {budget.seconds:.3g} s ({budget.source})")


class _Alarm(BaseException):
    """Raised by a SampleTimer's SIGALRM handler inside the call it times. A BaseException so
    that grader code's `except Exception` cannot swallow it; `run` turns it into a
    SampleTimeoutError."""

    def __init__(self, timer: "SampleTimer") -> None:
        super().__init__("sample time budget exceeded")
        self.timer = timer


class SampleTimer:
    """Runs calls under time budgets: `with SampleTimer() as timer: timer.run(call, budget)`.

    A budget is enforced with `signal.setitimer(ITIMER_REAL)` and a SIGALRM handler that
    raises inside the running call; `re` matching, `time.sleep`, socket waits and Python code
    are all interrupted (a single long C call that never checks for signals is interrupted
    when it returns). Signals only reach the main thread, so elsewhere (or where there is no
    SIGALRM, as on Windows) calls run without a limit. The previous SIGALRM handler and timer
    are restored on exit; a timer that was already running (an enclosing SampleTimer, say)
    caps each budget at its own remaining time and is re-armed with what it has left.
    """

    def __init__(self) -> None:
        self._enabled = False
        self._running = False
        self._fired = False
        self._previous_handler: Any = None
        self._previous_interval = 0.0
        # When the previously running timer is due (time.monotonic()), or None.
        self._previous_due: float | None = None
        # When the running call's budget ends, and when our timer will next fire (None:
        # not armed). Arming costs a system call, so a call whose budget ends after the
        # armed alarm leaves it be: that alarm, if the call is still running then, re-arms
        # for the rest. A batch of fast samples then arms the timer once.
        self._due = 0.0
        self._armed_due: float | None = None

    def __enter__(self) -> "SampleTimer":
        if not hasattr(signal, "setitimer") or (
            threading.current_thread() is not threading.main_thread()
        ):
            return self
        previous = signal.getsignal(signal.SIGALRM)
        if previous is None:  # a handler installed from C: it could not be put back
            return self
        # Paused before our handler goes in, so the previous timer cannot fire into it.
        delay, interval = signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            signal.signal(signal.SIGALRM, self._on_alarm)
        except ValueError:  # not the main interpreter
            if delay > 0:
                signal.setitimer(signal.ITIMER_REAL, delay, interval)
            return self
        self._previous_handler = previous
        self._previous_interval = interval
        self._previous_due = time.monotonic() + delay if delay > 0 else None
        self._enabled = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._enabled:
            return
        self._enabled = False
        self._armed_due = None
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous_handler)
        if self._previous_due is not None:
            # Overdue means due now: a zero delay would disarm it instead.
            left = max(1e-6, self._previous_due - time.monotonic())
            signal.setitimer(signal.ITIMER_REAL, left, self._previous_interval)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        self._armed_due = now + ALARM_REPEAT_SECONDS
        # Between calls (or once a call is over) an alarm is a no-op: only a running call
        # may be interrupted.
        if not self._running:
            return
        if now < self._due:  # armed for an earlier call: wait for this one's budget
            signal.setitimer(signal.ITIMER_REAL, self._due - now, ALARM_REPEAT_SECONDS)
            self._armed_due = self._due
            return
        self._fired = True
        raise _Alarm(self)

    def run(self, call: Callable[[], _Result], budget: Budget) -> _Result:
        """`call()`, or SampleTimeoutError once it has run for `budget.seconds`."""
        if not self._enabled:
            return call()
        seconds = budget.seconds
        now = time.monotonic()
        if self._previous_due is not None:
            seconds = max(1e-6, min(seconds, self._previous_due - now))
        self._fired = False
        self._due = now + seconds
        try:
            try:
                self._running = True
                if self._armed_due is None or self._due < self._armed_due:
                    signal.setitimer(signal.ITIMER_REAL, seconds, ALARM_REPEAT_SECONDS)
                    self._armed_due = self._due
                result = call()
            finally:
                # An alarm arriving before `_running` is cleared raises here, and is caught
                # below like one raised inside the call. The timer is left armed (see
                # `_armed_due`); `__exit__` stops it.
                self._running = False
        except _Alarm as alarm:
            if alarm.timer is not self:
                raise
            raise SampleTimeoutError(Budget(seconds, budget.source)) from None
        if self._fired:
            # The call caught the alarm (`except BaseException`) and went on: past its budget
            # it has no result, whatever it returns.
            raise SampleTimeoutError(Budget(seconds, budget.source))
        return result


class BatchGrader:
    """A grader that scores a whole batch at once (e.g. concurrently, like the LLM judge).

    `grade_many` returns one entry per sample, in order: a GraderOutput, or the Exception
    that sample's grading ended with (it then scores 0.0 with a `grader_error` metric).
    `deadline` is a `time.monotonic()` value by which it must return (the Lambda's
    remaining time, less a margin), or None when there is no limit.
    """

    def grade_many(
        self, samples: Sequence[Sample], deadline: float | None
    ) -> Sequence[GraderOutput | Exception]:
        raise NotImplementedError

    def __call__(self, sample: Sample) -> GraderOutput:
        (result,) = self.grade_many([sample], None)
        if isinstance(result, Exception):
            raise result
        return result


def json_type_name(value: object) -> str:
    # JSON vocabulary, because the people reading these errors wrote JSON, not Python.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _content_text(content: object) -> str | None:
    """The text of a message's content, or None when it has an unusable shape."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            return None
        # Non-text parts (images, tool calls) carry nothing a text grader can compare.
        if part.get("type", "text") != "text":
            continue
        text = part.get("text")
        if not isinstance(text, str):
            return None
        texts.append(text)
    return "".join(texts)


def echo_id(raw_id: object) -> object:
    """The id to echo in a result: as given when it is valid JSON, else its text as
    Python's json writes it (`NaN` -> "NaN", `[Infinity]` -> "[Infinity]"), which is also
    how it appeared in the event. A NaN echoed as NaN would make the whole reply invalid
    JSON, and every sample of the batch would lose its reward."""
    if type(raw_id) is str:
        return raw_id
    try:
        json.dumps(raw_id, allow_nan=False)
        return raw_id
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        return _truncate(json.dumps(raw_id, default=repr))
    except (TypeError, ValueError, RecursionError):
        return f"<unreadable {json_type_name(raw_id)} id>"


def _parse_sample(index: int, raw: object) -> Sample:
    if not isinstance(raw, dict):
        return Sample(
            index, f"#{index}", error=f"sample must be an object, got {json_type_name(raw)}"
        )

    raw_id = raw.get("id")
    # The well-formed sample in one pass (this runs for every sample); `_problem` says what
    # is wrong with any other.
    if isinstance(raw_id, str) and raw_id:
        messages = raw.get("messages")
        last = messages[-1] if isinstance(messages, list) and messages else None
        content = last.get("content") if isinstance(last, dict) else None
        answer = content if type(content) is str else _content_text(content)
        raw_metadata = raw.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        reference = metadata.get("reference_answer")
        if reference is None:
            reference = raw.get("reference_answer")
        if answer is not None and len(answer) <= MAX_ANSWER_CHARS and reference is not None:
            return Sample(index, raw_id, messages, answer, reference, metadata)
    sample_id = f"#{index}" if raw_id is None else echo_id(raw_id)
    return Sample(index, sample_id, error=_problem(raw))


def _problem(raw: dict[str, Any]) -> str:
    """What makes the sample `raw` unusable (the checks of `_parse_sample`, in order)."""
    raw_id = raw.get("id")
    if raw_id is None:
        return "id is missing"
    if not isinstance(raw_id, str) or not raw_id:
        return f"id must be a non-empty string, got {json_type_name(raw_id)}"
    messages = raw.get("messages")
    if not isinstance(messages, list):
        return f"messages must be an array, got {json_type_name(messages)}"
    if not messages:
        return "messages is empty"
    last = messages[-1]
    if not isinstance(last, dict):
        return f"last message must be an object, got {json_type_name(last)}"
    answer = _content_text(last.get("content"))
    if answer is None:
        return "last message content must be a string or an array of text parts"
    if len(answer) > MAX_ANSWER_CHARS:
        return f"answer is too long ({len(answer)} chars; limit {MAX_ANSWER_CHARS})"
    return "reference_answer is missing (looked in metadata and on the sample)"


def parse_event(event: object) -> list[Sample]:
    """Normalise an event into samples; see the module docstring for accepted shapes."""
    if isinstance(event, dict):
        event = [event]
    if not isinstance(event, list):
        return []
    return [_parse_sample(i, raw) for i, raw in enumerate(event)]


def clamp_score(value: float) -> float:
    """The score clamped to [0, 1]. A non-finite score (NaN, +-inf) raises ValueError: it is
    a grader bug, not a verdict (clamping inf would reward it with 1.0), so the sample
    scores 0 with a `grader_error` metric."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"score must be a finite number, got {value!r}")
    return min(1.0, max(0.0, value))


def _finite(value: object, name: object = None) -> float:
    """A finite float; `name` is the metric's, for the error (None for the score)."""
    if type(value) is float:  # the common case; the ABC check below is slow per metric
        return value if math.isfinite(value) else 0.0
    # bool is accepted on purpose: True/False are natural "matched" metric values.
    if not isinstance(value, numbers.Real):
        what = "score" if name is None else f"metric {name!r} value"
        raise TypeError(f"{what} must be a number, got {json_type_name(value)}")
    number = float(value)
    # Bedrock's JSON has no NaN/Infinity, so a non-finite metric value would break the reply.
    return number if math.isfinite(number) else 0.0


def _metric(name: object, value: object, metric_type: object) -> dict[str, Any]:
    if type(name) is str and name and type(value) is float and metric_type in METRIC_TYPES:
        # The common, well-formed case in one test: this runs for every metric of every sample.
        return {"name": name, "value": value if math.isfinite(value) else 0.0, "type": metric_type}
    if not isinstance(name, str) or not name:
        raise TypeError(f"metric name must be a non-empty string, got {json_type_name(name)}")
    if metric_type not in METRIC_TYPES:
        raise ValueError(f"metric {name!r} type must be 'Reward' or 'Metric', got {metric_type!r}")
    return {"name": name, "value": _finite(value, name), "type": metric_type}


def _metric_item(item: object) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise TypeError(f"metric must be an object, got {json_type_name(item)}")
    return _metric(item.get("name"), item.get("value"), item.get("type", "Metric"))


def normalise_output(output: object) -> tuple[float, list[dict[str, Any]]]:
    """Turn a grader's return value into (clamped score, metrics), raising on bad shapes."""
    if type(output) is Checked and 0.0 <= output.score <= 1.0:
        return output
    if type(output) is tuple and len(output) == 2:
        score, items = output
        # The built-in graders' shape, checked inline without the general path's calls and
        # ABC tests (this runs for every sample): a finite score in [0, 1], and metric dicts
        # already as Bedrock wants them, which are kept as they are.
        if type(score) is float and 0.0 <= score <= 1.0 and type(items) is list:
            for item in items:
                if type(item) is not dict or len(item) != 3:
                    break
                name, value = item.get("name"), item.get("value")
                # `value - value` is 0.0 for a finite float, NaN for NaN and the infinities.
                if (
                    type(value) is not float
                    or value - value != 0.0
                    or type(name) is not str
                    or not name
                    or item.get("type") not in METRIC_TYPES
                ):
                    break
            else:
                return score, items
            metrics = [
                _metric(m.get("name"), m.get("value"), m.get("type", "Metric"))
                if type(m) is dict
                else _metric_item(m)
                for m in items
            ]
            return clamp_score(score), metrics
    raw_metrics: object = ()
    if isinstance(output, tuple):
        if len(output) != 2:
            raise TypeError(f"grader returned a tuple of {len(output)} items, expected 2")
        output, raw_metrics = output
    if type(output) is not float and not isinstance(output, numbers.Real):
        raise TypeError(f"grader score must be a number, got {json_type_name(output)}")
    score = clamp_score(float(output))

    metrics: list[dict[str, Any]] = []
    # Concrete types before the Mapping ABC: ABC checks are slow, and this runs per sample.
    if isinstance(raw_metrics, list | tuple):
        metrics = [_metric_item(item) for item in raw_metrics]
    elif isinstance(raw_metrics, Mapping):
        metrics = [_metric(name, value, "Metric") for name, value in raw_metrics.items()]
    else:
        raise TypeError(
            f"grader metrics must be a list or mapping, got {json_type_name(raw_metrics)}"
        )
    return score, metrics


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def describe_exception(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not escape the per-sample guard
        message = "<unprintable exception>"
    name = type(exc).__name__
    return _truncate(f"{name}: {message}" if message else name)


def _failure(sample_id: object, metric: str, error: str) -> dict[str, Any]:
    return {
        "id": sample_id,
        "aggregate_reward_score": 0.0,
        "metrics_list": [{"name": metric, "value": 1.0, "type": "Metric"}],
        "error": error,
    }


def _result(sample: Sample, output: object) -> dict[str, Any]:
    """The Bedrock result for a graded sample; an exception (raised or returned) scores 0."""
    if type(output) is Checked and 0.0 <= output.score <= 1.0:  # the fast path, in short
        return {"id": sample.id, "aggregate_reward_score": output.score, "metrics_list": output[1]}
    if isinstance(output, Exception):
        return _failure(sample.id, GRADER_ERROR_METRIC, describe_exception(output))
    try:
        score, metrics = normalise_output(output)
    except Exception as exc:
        return _failure(sample.id, GRADER_ERROR_METRIC, describe_exception(exc))
    return {"id": sample.id, "aggregate_reward_score": score, "metrics_list": metrics}


def _timed_result(
    sample: Sample, grader: Grader, timer: SampleTimer, budget: Budget
) -> dict[str, Any]:
    if sample.error is not None:
        return _failure(sample.id, INVALID_SAMPLE_METRIC, _truncate(sample.error))
    try:
        output: object = timer.run(lambda: grader(sample), budget)
    # One bad sample (or grader bug, or a sample past its time budget) must not cost the rest
    # of the batch its rewards. BaseException (SystemExit, KeyboardInterrupt) still
    # propagates: those end the process.
    except Exception as exc:
        output = exc
    return _result(sample, output)


def grade_sample(sample: Sample, grader: Grader) -> dict[str, Any]:
    """The Bedrock result for one sample; never raises for an `Exception` from the grader.
    Grading runs within MAX_SAMPLE_SECONDS (see `SampleTimer`)."""
    with SampleTimer() as timer:
        return _timed_result(sample, grader, timer, sample_budget(None, 1, 0.0))


def grade_batch(
    event: object, grader: Grader, *, deadline: float | None = None
) -> list[dict[str, Any]]:
    """Grade every sample in `event`: one result per sample, same order, same ids.

    Malformed samples score 0.0 with an `invalid_sample` metric and an `error` field; a
    grader exception scores 0.0 with a `grader_error` metric. Non-list, non-dict events
    yield an empty list. A `BatchGrader` gets all valid samples at once, with `deadline`.
    A plain grader gets each sample in turn, each within its `sample_budget`: a sample that
    runs out of time scores 0.0 with a `grader_error` metric, and the next one is graded.
    """
    samples = parse_event(event)
    if not isinstance(grader, BatchGrader):
        calls_left = sum(sample.error is None for sample in samples)
        results: list[dict[str, Any]] = []
        # Without a deadline every sample has the same budget: made once, not per sample.
        fixed = sample_budget(None, 1, 0.0) if deadline is None else None
        with SampleTimer() as timer:
            for sample in samples:
                budget = fixed or sample_budget(deadline, calls_left, time.monotonic())
                calls_left -= sample.error is None
                results.append(_timed_result(sample, grader, timer, budget))
        return results
    valid = [sample for sample in samples if sample.error is None]
    try:
        outputs: list[object] = list(grader.grade_many(valid, deadline))
        if len(outputs) != len(valid):
            raise RuntimeError(f"batch grader returned {len(outputs)} results for {len(valid)}")
    except Exception as exc:
        outputs = [exc] * len(valid)
    by_index = {sample.index: output for sample, output in zip(valid, outputs, strict=True)}
    return [
        _result(sample, by_index[sample.index])
        if sample.error is None
        else _failure(sample.id, INVALID_SAMPLE_METRIC, _truncate(sample.error))
        for sample in samples
    ]
