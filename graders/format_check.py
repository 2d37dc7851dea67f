"""The built-in `format` grader: checks the answer's shape; the reference answer is not used.

Spec (JSON object, camelCase keys; at least one of the checks must be set):
- `type`: "format" (required)
- `minLength` / `maxLength`: integers >= 0 (characters of the whole answer), min <= max
- `requiredPatterns`: non-empty array of regexes that must all be found (`re.search`)
- `forbiddenPatterns`: non-empty array of regexes none of which may be found
- `reasoningTags`: object `{"open": "<think>", "close": "</think>", "required": true}`, every
  key optional with those defaults. The answer must contain the open tag exactly once, then
  the close tag exactly once, then non-empty (not just whitespace) final-answer text. With
  `required: false` an answer without either tag also passes, but tags that are present
  must still be well-formed. Tags match exactly (case-sensitive); text before the open tag
  and an empty reasoning part are allowed (add a requiredPattern such as `^\\s*<think>` to be
  stricter). open and close must differ and neither may contain the other.
- `caseSensitive`: bool, default true; false compiles the patterns with `re.IGNORECASE`
  (only allowed together with requiredPatterns or forbiddenPatterns: nothing else uses it)
- `scoring`: "all" (default: 1.0 only if every check passes, else 0.0) | "fraction" (the
  share of checks that pass)

Each of these is one check: minLength, maxLength, every single pattern, reasoningTags.
Patterns that could backtrack catastrophically (`safe_regex`: `^(a+)+$`, `^(\\w+\\s?)*$`)
are refused with the spec, at `requiredPatterns[i]` / `forbiddenPatterns[i]`. Patterns search
at most the first MAX_REGEX_INPUT_CHARS (100,000) characters of the answer, so text beyond
that can neither satisfy nor violate a pattern; the contract's per-sample time budget stops
whatever stays slow.

Metrics: `format` ("Reward", the score); "Metric"s `length_ok`, `required_patterns_ok`,
`forbidden_patterns_ok` and `reasoning_tags_ok` (1.0 when all checks of that family pass; only
for configured families) and `checks_passed` (the number of checks that passed).
"""

import re
from collections.abc import Mapping
from typing import Any

from .contract import Grader, Sample
from .exact_match import MAX_REGEX_INPUT_CHARS
from .spec import show, unknown_keys

TYPE = "format"
SCORING = ("all", "fraction")
LENGTH_KEYS = ("minLength", "maxLength")
PATTERN_KEYS = ("requiredPatterns", "forbiddenPatterns")
CHECK_KEYS = (*LENGTH_KEYS, *PATTERN_KEYS, "reasoningTags")
SPEC_KEYS = ("type", *CHECK_KEYS, "caseSensitive", "scoring")
TAG_DEFAULTS: dict[str, Any] = {"open": "<think>", "close": "</think>", "required": True}

METRIC_NAME = "format"
FAMILY_METRICS = {
    "length": "length_ok",
    "requiredPatterns": "required_patterns_ok",
    "forbiddenPatterns": "forbidden_patterns_ok",
    "reasoningTags": "reasoning_tags_ok",
}
CHECKS_PASSED_METRIC = "checks_passed"


def _is_count(value: object) -> bool:
    # bool is an int in Python, but `minLength: true` is a mistake.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _pattern_problems(key: str, value: object, flags: int) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return [(key, f"got {show(value)}; allowed: an array of regex strings")]
    if not value:
        # An empty list checks nothing, which would hide a spec mistake.
        return [(key, "got []; give at least one regex or leave the key out")]
    from .safe_regex import backtracking_problem  # only specs with patterns pay its import

    problems = []
    for index, pattern in enumerate(value):
        path = f"{key}[{index}]"
        if not isinstance(pattern, str):
            problems.append((path, f"got {show(pattern)}; allowed: a regex string"))
            continue
        try:
            re.compile(pattern, flags)
        except (re.error, OverflowError, RecursionError) as exc:
            # Huge repeat counts overflow and deep nesting recurses rather than raise re.error.
            problems.append((path, f"got {show(pattern)}; not a valid regex: {exc}"))
            continue
        # Answers are model output: a pattern that can backtrack exponentially lets one
        # answer stall the Lambda, so it is refused with the spec.
        problem = backtracking_problem(pattern, flags)
        if problem:
            problems.append((path, f"got {show(pattern)}; {problem}"))
    return problems


def _tag_problems(tags: object) -> list[tuple[str, str]]:
    key = "reasoningTags"
    if not isinstance(tags, dict):
        return [(key, f"got {show(tags)}; allowed: an object with open, close, required")]
    problems = unknown_keys(tags, tuple(TAG_DEFAULTS), prefix=f"{key}.")
    for name in ("open", "close"):
        if name in tags and (not isinstance(tags[name], str) or not tags[name]):
            problems.append(
                (f"{key}.{name}", f"got {show(tags[name])}; allowed: a non-empty string")
            )
    if "required" in tags and not isinstance(tags["required"], bool):
        problems.append((f"{key}.required", f"got {show(tags['required'])}; allowed: true, false"))
    open_tag, close_tag = (tags.get(name, TAG_DEFAULTS[name]) for name in ("open", "close"))
    # Counting occurrences is only unambiguous when one tag cannot be found inside the other.
    valid = all(isinstance(tag, str) and tag for tag in (open_tag, close_tag))
    if valid and (open_tag in close_tag or close_tag in open_tag):
        problems.append(
            (
                key,
                f"open {show(open_tag)} and close {show(close_tag)} must differ and "
                "neither may contain the other",
            )
        )
    return problems


def spec_problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with a format spec as `(key_path, message)`; [] when it is valid."""
    problems = unknown_keys(spec, SPEC_KEYS)
    if spec.get("type") != TYPE:
        problems.append(("type", f"got {show(spec.get('type'))}; allowed: {TYPE}"))
    if not any(key in spec for key in CHECK_KEYS):
        problems.append(("", f"no check is set; set at least one of: {', '.join(CHECK_KEYS)}"))

    for key in LENGTH_KEYS:
        if key in spec and not _is_count(spec[key]):
            problems.append((key, f"got {show(spec[key])}; allowed: an integer >= 0"))
    low, high = spec.get("minLength"), spec.get("maxLength")
    if _is_count(low) and _is_count(high) and low > high:
        problems.append(("minLength", f"got {low}; must not exceed maxLength ({high})"))

    case_sensitive = spec.get("caseSensitive", True)
    if not isinstance(case_sensitive, bool):
        problems.append(("caseSensitive", f"got {show(case_sensitive)}; allowed: true, false"))
    elif "caseSensitive" in spec and not any(key in spec for key in PATTERN_KEYS):
        # Tags and lengths ignore it, so setting it without patterns is a mistake.
        problems.append(
            ("caseSensitive", "only used by requiredPatterns and forbiddenPatterns; neither is set")
        )
    flags = re.IGNORECASE if case_sensitive is False else 0
    for key in PATTERN_KEYS:
        if key in spec:
            problems += _pattern_problems(key, spec[key], flags)

    if "reasoningTags" in spec:
        problems += _tag_problems(spec["reasoningTags"])
    if "scoring" in spec and spec["scoring"] not in SCORING:
        problems.append(("scoring", f"got {show(spec['scoring'])}; allowed: {', '.join(SCORING)}"))
    return problems


def reasoning_tags_ok(text: str, open_tag: str, close_tag: str, *, required: bool) -> bool:
    """Whether `text` has one open tag, then one close tag, then non-blank final text."""
    opens, closes = text.count(open_tag), text.count(close_tag)
    if opens == 0 and closes == 0:
        return not required
    if opens != 1 or closes != 1:
        return False
    start, end = text.index(open_tag), text.index(close_tag)
    # `end < start + len(open_tag)` also rejects a close tag overlapping the open tag.
    if end < start + len(open_tag):
        return False
    return bool(text[end + len(close_tag) :].strip())


def build(spec: Mapping[str, Any]) -> Grader:
    """A grader for a spec that `spec_problems` accepted."""
    flags = 0 if spec.get("caseSensitive", True) else re.IGNORECASE
    min_length: int | None = spec.get("minLength")
    max_length: int | None = spec.get("maxLength")
    required = [re.compile(p, flags) for p in spec.get("requiredPatterns", [])]
    forbidden = [re.compile(p, flags) for p in spec.get("forbiddenPatterns", [])]
    tags: dict[str, Any] | None = (
        {**TAG_DEFAULTS, **spec["reasoningTags"]} if "reasoningTags" in spec else None
    )
    fraction = spec.get("scoring", "all") == "fraction"

    def grade(sample: Sample) -> tuple[float, list[dict[str, Any]]]:
        text = sample.answer_text
        searched = text[:MAX_REGEX_INPUT_CHARS]
        # (family, passed) per check, in the order of the docstring.
        checks: list[tuple[str, bool]] = []
        if min_length is not None:
            checks.append(("length", len(text) >= min_length))
        if max_length is not None:
            checks.append(("length", len(text) <= max_length))
        checks += [("requiredPatterns", p.search(searched) is not None) for p in required]
        checks += [("forbiddenPatterns", p.search(searched) is None) for p in forbidden]
        if tags is not None:
            passed = reasoning_tags_ok(text, tags["open"], tags["close"], required=tags["required"])
            checks.append(("reasoningTags", passed))

        passed_count = sum(passed for _, passed in checks)
        score = passed_count / len(checks) if fraction else float(passed_count == len(checks))
        metrics = [{"name": METRIC_NAME, "value": score, "type": "Reward"}]
        for family, name in FAMILY_METRICS.items():
            results = [passed for check_family, passed in checks if check_family == family]
            if results:
                metrics.append({"name": name, "value": float(all(results)), "type": "Metric"})
        # A float, as the reply carries it: the contract then keeps the metrics as they are.
        metrics.append(
            {"name": CHECKS_PASSED_METRIC, "value": float(passed_count), "type": "Metric"}
        )
        return score, metrics

    return grade
