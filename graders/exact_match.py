"""The built-in `exact_match` grader: compares the answer text with the reference answer.

Spec (JSON object, camelCase keys):
- `type`: "exact_match" (required)
- `operation`: "eq" (default) | "ne" | "contains" | "regex"
- `caseSensitive`: bool, default false
- `normalizeWhitespace`: bool, default true (collapse whitespace runs, strip the ends)
- `ignorePunctuation`: bool, default false (drop Unicode punctuation characters)
- `pattern`: regex for operation "regex"; when absent each reference alternative is the pattern
- `answerFrom`: "full" (default) | "last_line" (the last non-empty line of the answer)

The reference answer is turned into text alternatives: a string as is, a number or bool in
JSON spelling, a list as "any of these", a dict by its "answer" key, anything else as sorted
JSON. For "eq"/"ne"/"contains" the normalisations apply to the answer and the reference
alike; for "regex" they apply to the answer only, and case-insensitivity is `re.IGNORECASE`.
"""

import json
import re
import unicodedata
import warnings
from collections.abc import Mapping
from typing import Any

from .contract import Grader, Sample
from .spec import bool_problems, choice_problems, show, unknown_keys

TYPE = "exact_match"
OPERATIONS = ("eq", "ne", "contains", "regex")
ANSWER_FROM = ("full", "last_line")
BOOL_KEYS = {"caseSensitive": False, "normalizeWhitespace": True, "ignorePunctuation": False}
SPEC_KEYS = ("type", "operation", *BOOL_KEYS, "pattern", "answerFrom")

# `re` has no timeout; capping the searched text keeps even a poor pattern's cost bounded.
MAX_REGEX_INPUT_CHARS = 100_000
METRIC_NAME = "exact_match"


def spec_problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with an exact_match spec as `(key_path, message)`; [] when it is valid."""
    problems = unknown_keys(spec, SPEC_KEYS)

    if spec.get("type") != TYPE:
        problems.append(("type", f"got {show(spec.get('type'))}; allowed: {TYPE}"))
    problems += choice_problems(spec, "operation", OPERATIONS)
    problems += choice_problems(spec, "answerFrom", ANSWER_FROM)
    problems += bool_problems(spec, BOOL_KEYS)

    if "pattern" in spec:
        pattern = spec["pattern"]
        if not isinstance(pattern, str):
            problems.append(("pattern", f"got {show(pattern)}; allowed: a regex string"))
        else:
            try:
                re.compile(pattern)
            except (re.error, OverflowError, RecursionError) as exc:
                # Huge repeat counts overflow rather than raise re.error.
                problems.append(("pattern", f"got {show(pattern)}; not a valid regex: {exc}"))
        # A pattern with another operation would be silently ignored, which hides a mistake.
        if spec.get("operation", "eq") != "regex":
            problems.append(
                (
                    "pattern",
                    f"only used when operation is 'regex'; operation is "
                    f"{show(spec.get('operation', 'eq'))}",
                )
            )
    return problems


def reference_alternatives(reference: object) -> list[str]:
    """The reference answer as the list of texts any of which counts as a match."""
    if isinstance(reference, dict) and "answer" in reference:
        reference = reference["answer"]
    if isinstance(reference, list):
        return [_reference_text(item) for item in reference]
    return [_reference_text(reference)]


def _reference_text(value: object) -> str:
    if isinstance(value, str):
        return value
    # JSON spelling (true/false/null, 1e+20) because references are authored as JSON.
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def select_answer(text: str, answer_from: str) -> str:
    if answer_from == "last_line":
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""
    return text


def normalize(
    text: str, *, case_sensitive: bool, normalize_whitespace: bool, ignore_punctuation: bool
) -> str:
    if not case_sensitive:
        # casefold, not lower: it also equates e.g. "ß" and "ss".
        text = text.casefold()
    if ignore_punctuation:
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    if normalize_whitespace:
        text = " ".join(text.split())
    return text


def _result(matched: bool) -> tuple[float, list[dict[str, Any]]]:
    score = 1.0 if matched else 0.0
    return score, [{"name": METRIC_NAME, "value": score, "type": "Reward"}]


def _compile_reference(pattern: str, flags: int) -> re.Pattern[str]:
    # References are data, not config: a FutureWarning per sample (e.g. "[[") is only log noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern, flags)


def build(spec: Mapping[str, Any]) -> Grader:
    """A grader for a spec that `spec_problems` accepted."""
    operation: str = spec.get("operation", "eq")
    answer_from: str = spec.get("answerFrom", "full")
    options = {key: spec.get(key, default) for key, default in BOOL_KEYS.items()}
    case_sensitive: bool = options["caseSensitive"]

    def norm(text: str) -> str:
        return normalize(
            text,
            case_sensitive=case_sensitive,
            normalize_whitespace=options["normalizeWhitespace"],
            ignore_punctuation=options["ignorePunctuation"],
        )

    flags = 0 if case_sensitive else re.IGNORECASE
    fixed_pattern = re.compile(spec["pattern"], flags) if "pattern" in spec else None

    def grade(sample: Sample) -> tuple[float, list[dict[str, Any]]]:
        answer = norm(select_answer(sample.answer_text, answer_from))
        if operation == "regex":
            text = answer[:MAX_REGEX_INPUT_CHARS]
            if fixed_pattern is not None:
                return _result(fixed_pattern.search(text) is not None)
            # A reference that is not a valid regex raises re.error, which the contract turns
            # into a per-sample grader_error instead of a silent 0.
            patterns = [
                _compile_reference(a, flags) for a in reference_alternatives(sample.reference)
            ]
            return _result(any(p.search(text) for p in patterns))
        alternatives = reference_alternatives(sample.reference)
        if operation == "contains":
            matched = any(norm(a) in answer for a in alternatives)
        else:
            matched = any(norm(a) == answer for a in alternatives)
            if operation == "ne":
                matched = not matched
        return _result(matched)

    return grade
