"""The built-in `math_answer` grader: extracts the final numeric answer and compares it with
the reference answer numerically.

Spec (JSON object, camelCase keys):
- `type`: "math_answer" (required)
- `extract`: non-empty list of strategies, tried in order; the first one that finds a
  candidate decides (an unparseable candidate scores 0, later strategies are not tried).
  Default ["boxed", "phrase", "last_number"]:
  - "boxed": the content of the last complete `\\boxed{...}` or `\\fbox{...}` (balanced braces);
  - "phrase": the rest of the line after the last "the answer is", "answer:", "final answer:"
    or "final answer is" (case-insensitive; the next non-empty line if that line is empty);
  - "last_number": the last number in the text; here only commas separate thousands and
    there are no mixed numbers, because "1 2 3 100" in prose is a list, not 1 2 3100.
- `tolerance`: absolute tolerance, a finite number >= 0, default 1e-6
- `relativeTolerance`: relative tolerance, a finite number >= 0, default 1e-9
- `percentAsNumber`: bool, default false: "45%" means 0.45; when true it means 45

The answer matches when |answer - reference| <= max(tolerance, relativeTolerance * |reference|)
for any reference alternative; the score is then 1.0, else 0.0. Only the last 100,000
characters of the answer are searched (the final answer is at the end).

Numbers: integers and decimals with an optional sign (+, -, U+2212 minus); thousands
separators "," or a space/thin space/no-break space, in groups of exactly three ("1,234,567",
"1 234"); fractions "3/4" and mixed numbers "1 1/2"; percentages ("45%", "45\\%", "45 percent");
scientific notation ("1.2e-3", "1.2 \u00d7 10^-3", "1.2\\times10^{-3}", also with \\cdot or *);
LaTeX `\\frac{a}{b}` (and \\dfrac, \\tfrac, \\cfrac, \\frac12), `\\left`/`\\right`, `$`, `\\$`,
`\\%`, `\\,`, `\\!`, `{}` grouping and degree signs. `\\text{...}` (also \\textrm, \\mbox,
\\mathrm) is dropped unless it contains a digit, in which case it is unwrapped. Surrounding
`**` and one pair of parentheses or brackets are stripped. A number may be followed by sentence
punctuation and by words after a space ("42 apples." -> 42); anything else ("x = 5",
"2\\sqrt{3}", "42cm", "3, 4") is not a number and scores 0 with `answer_unparseable`.

The reference is a JSON number, a string (parsed like an answer, after taking the text after a
GSM8K-style "####" or the last \\boxed{} if present), a list of acceptable values, or an object
whose "answer" key holds one of those. A reference that is not a number raises ValueError for
that sample: it is a data bug, not a wrong answer.
"""

import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .contract import Grader, Sample
from .spec import show, unknown_keys

TYPE = "math_answer"
STRATEGIES = ("boxed", "phrase", "last_number")
NUMBER_KEYS = {"tolerance": 1e-6, "relativeTolerance": 1e-9}
SPEC_KEYS = ("type", "extract", *NUMBER_KEYS, "percentAsNumber")

METRIC_NAME = "math_answer"
EXTRACTED_METRIC = "answer_extracted"
UNPARSEABLE_METRIC = "answer_unparseable"

# Final answers sit at the end; scanning only the tail bounds regex and brace-matching work.
MAX_SCAN_CHARS = 100_000
# A boxed or phrase candidate longer than this is prose, not a number; cap the cleaning work.
MAX_CANDIDATE_CHARS = 1_000
# \frac inside \frac is rare; a fixed number of passes keeps hostile nesting linear.
MAX_FRAC_PASSES = 4

_SPACE_SEP = "[ \u00a0\u2009\u202f]"
_PLAIN_DECIMAL = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_COMMA_INT = r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])"
_SPACE_INT = rf"[0-9]{{1,3}}(?:{_SPACE_SEP}[0-9]{{3}})+(?![0-9])"
_PERCENT = r"\s*(?:%|[Pp]ercent\b)"
# Exponents are capped at 6 digits: beyond that the value is infinite anyway, and int/float
# conversion of huge digit strings is what would be slow.
_E_EXP = r"[eE][+-]?[0-9]{1,6}"
_TEN_EXP = r"\s*[\u00d7\u00b7*]\s*10\s*\^\s*\(?[+-]?[0-9]{1,6}\)?"

# Anchored at the start of a cleaned candidate. Alternatives are tried in order, so the
# mixed number ("1 1/2") wins over the space-separated thousands ("1 123").
_NUMBER_RE = re.compile(
    r"(?P<sign>[+-])?(?:"
    r"(?P<whole>[0-9]+)[ \u00a0]+(?P<mnum>[0-9]+)/(?P<mden>[0-9]+)(?![0-9.])"
    rf"|(?P<fnum>{_PLAIN_DECIMAL})\s*/\s*(?P<fden>{_PLAIN_DECIMAL})"
    rf"|(?P<mant>(?:{_COMMA_INT}|{_SPACE_INT}|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)"
    rf"(?:[eE](?P<e1>[+-]?[0-9]{{1,6}})"
    rf"|\s*[\u00d7\u00b7*]\s*10\s*\^\s*\(?(?P<e2>[+-]?[0-9]{{1,6}})\)?)?"
    rf")(?P<pct>{_PERCENT})?"
)
# What may follow a number: sentence punctuation, or words after a space ("42 apples").
# A letter glued to the number ("3i", "42cm") or a maths symbol after it means it is not
# a plain number; π and ∞ are letters to Python but not units.
_TAIL_OK_RE = re.compile(r"\s*[.,;:!?]?\s*\Z|[.,;:!?]?\s+(?![πΠ∞])[^\W\d_]")

# Numbers in running text: no space separators or mixed numbers ("1 2 3 100" is a list),
# and a sign only where it cannot be a binary minus ("5-3" ends in 3, not -3).
_TOKEN_RE = re.compile(
    r"(?:(?<![\w)])[+-])?(?<![\w.])(?:"
    rf"{_PLAIN_DECIMAL}/{_PLAIN_DECIMAL}(?![0-9])"
    rf"|(?:(?:{_COMMA_INT}|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)(?:{_E_EXP}|{_TEN_EXP})?"
    rf")(?:{_PERCENT})?"
)

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PHRASE_RE = re.compile(r"\b(?:final\s+answer|answer)(?:\s+is\b|\s*[:=])\s*:?", re.IGNORECASE)
_TEXT_CMD_RE = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm)\s*\{([^{}]*)\}")
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right)(?![a-zA-Z])")
_FRAC_VARIANT_RE = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_DEGREES_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")
_FRAC_RE = re.compile(r"\\frac\s*(?:\{([^{}]*)\}|([0-9]))\s*(?:\{([^{}]*)\}|([0-9]))")
_HAS_DIGIT_RE = re.compile(r"[0-9]")
# Characters through which a number or LaTeX construct may continue across a line break.
_MULTILINE_CHARS = frozenset("{}\\^\u00d7\u00b7*")
_PLAIN_NUMBER_RE = re.compile(r"\s*-?[0-9]{1,15}(?:\.[0-9]{1,15})?\s*")
# The tail searched first for the last number, and how far from its cut a token must start
# to be trusted (longer than any LaTeX construct or number the clean-up joins).
_TAIL_CHARS = 1_000
_TAIL_MARGIN = 200
# Order matters: "\qquad" before "\quad", "\$" before "$".
_REPLACEMENTS = (
    ("\\qquad", " "),
    ("\\quad", " "),
    ("\\displaystyle", ""),
    ("\\times", "\u00d7"),
    ("\\cdot", "\u00b7"),
    ("\\%", "%"),
    ("\\$", ""),
    ("$", ""),
    # A thin space: a thousands separator inside numbers ("1\,234"), spacing elsewhere.
    ("\\,", "\u2009"),
    ("\\!", ""),
    ("\\;", " "),
    ("\\:", " "),
    ("\\ ", " "),
    ("~", " "),
    ("\u2212", "-"),
)


def spec_problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with a math_answer spec as `(key_path, message)`; [] when it is valid."""
    problems = unknown_keys(spec, SPEC_KEYS)
    if spec.get("type") != TYPE:
        problems.append(("type", f"got {show(spec.get('type'))}; allowed: {TYPE}"))

    if "extract" in spec:
        problems += _extract_problems(spec["extract"])
    for key in NUMBER_KEYS:
        if key not in spec:
            continue
        value = spec[key]
        # bool is an int subclass, but `tolerance: true` is a mistake, not 1.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            problems.append((key, f"got {show(value)}; allowed: a finite number >= 0"))
    if "percentAsNumber" in spec and not isinstance(spec["percentAsNumber"], bool):
        problems.append(
            ("percentAsNumber", f"got {show(spec['percentAsNumber'])}; allowed: true, false")
        )
    return problems


def _extract_problems(extract: object) -> list[tuple[str, str]]:
    allowed = ", ".join(STRATEGIES)
    if not isinstance(extract, list) or not extract:
        return [("extract", f"got {show(extract)}; allowed: a non-empty list of {allowed}")]
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(extract):
        if not isinstance(item, str) or item not in STRATEGIES:
            problems.append((f"extract[{i}]", f"got {show(item)}; allowed: {allowed}"))
        elif item in seen:
            problems.append((f"extract[{i}]", f"duplicate strategy {item!r}"))
        else:
            seen.add(item)
    return problems


# --- extraction ---------------------------------------------------------------------------


def _closing_braces(text: str) -> dict[int, int]:
    """Index of each "{" -> index of its matching "}", in one linear pass."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2  # \{ and \} are literal braces (LaTeX sets), not grouping
            continue
        if char == "{":
            stack.append(i)
        elif char == "}" and stack:
            closing[stack.pop()] = i
        i += 1
    return closing


def extract_boxed(text: str) -> str | None:
    """The content of the last complete \\boxed{...} / \\fbox{...}, or None."""
    if "\\boxed" not in text and "\\fbox" not in text:  # the common case, at C speed
        return None
    starts = [m.end() - 1 for m in _BOXED_RE.finditer(text)]
    if not starts:
        return None
    closing = _closing_braces(text)
    for start in reversed(starts):
        end = closing.get(start)
        if end is not None:
            return text[start + 1 : end]
    return None


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    # A one-slot deque keeps only the last match without building the whole list.
    matches = deque(pattern.finditer(text), maxlen=1)
    return matches[0] if matches else None


def extract_phrase(text: str) -> str | None:
    """The text after the last "the answer is" / "answer:" / "final answer:", or None."""
    if "answer" not in text.lower():  # the common case, at C speed
        return None
    last = _last_match(_PHRASE_RE, text)
    if last is None:
        return None
    rest = text[last.end() : last.end() + MAX_CANDIDATE_CHARS].lstrip()
    return rest.split("\n", 1)[0]


def extract_last_number(text: str) -> str | None:
    """The last number-like token in the text (after LaTeX clean-up), or None."""
    # Most answers end with the number on a line of its own: try the last line alone when
    # nothing on it could continue a construct from the lines above.
    stripped = text.rstrip()
    last_line = stripped[stripped.rfind("\n") + 1 :]
    if last_line and not _MULTILINE_CHARS.intersection(last_line):
        if _PLAIN_NUMBER_RE.fullmatch(last_line):
            return last_line.strip()
        last = _last_match(_TOKEN_RE, clean_latex(last_line))
        if last is not None:
            return last.group()
    # Answers end with the number, after a long chain of reasoning: look at the tail first.
    # A token found well clear of the cut is the text's last token too, since clean-up and
    # tokens are local; otherwise (or with no token there) the whole text decides.
    if len(text) > _TAIL_CHARS:
        tail = clean_latex(text[-_TAIL_CHARS:])
        last = _last_match(_TOKEN_RE, tail)
        if last is not None and last.start() >= _TAIL_MARGIN:
            return last.group()
    last = _last_match(_TOKEN_RE, clean_latex(text))
    return None if last is None else last.group()


EXTRACTORS: Mapping[str, Callable[[str], str | None]] = {
    "boxed": extract_boxed,
    "phrase": extract_phrase,
    "last_number": extract_last_number,
}


def extract_answer(text: str, strategies: tuple[str, ...] = STRATEGIES) -> str | None:
    """The candidate from the first strategy that finds one, or None."""
    text = text[-MAX_SCAN_CHARS:]
    for strategy in strategies:
        candidate = EXTRACTORS[strategy](text)
        if candidate is not None:
            return candidate
    return None


# --- number parsing -----------------------------------------------------------------------


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _frac_to_text(match: re.Match[str]) -> str:
    numerator = _parse_clean(match.group(1) or match.group(2), True, allow_tail=False)
    denominator = _parse_clean(match.group(3) or match.group(4), True, allow_tail=False)
    if numerator is None or denominator is None or denominator == 0:
        return match.group()  # left as LaTeX, so the whole candidate is not a number
    text = (
        f"{_format_number(numerator)}/{_format_number(denominator)}"
        if numerator >= 0 and denominator > 0
        else _format_number(numerator / denominator)
    )
    # "1\frac{1}{2}" is the mixed number 1 1/2; the space makes it parse as one.
    before = match.string[match.start() - 1] if match.start() else ""
    return f" {text}" if before.isdigit() else text


def clean_latex(text: str) -> str:
    """Reduce the simple LaTeX the grader understands to plain text."""
    text = _TEXT_CMD_RE.sub(lambda m: m.group(1) if _HAS_DIGIT_RE.search(m.group(1)) else " ", text)
    text = _LEFT_RIGHT_RE.sub("", text)
    text = _FRAC_VARIANT_RE.sub(r"\\frac", text)
    text = _DEGREES_RE.sub("", text)
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    for _ in range(MAX_FRAC_PASSES):
        if "\\frac" not in text:
            break
        text = _FRAC_RE.sub(_frac_to_text, text)
    return text.replace("{", "").replace("}", "")


def _strip_wrappers(text: str) -> str:
    text = text.strip().strip("*").strip()
    if len(text) >= 2 and (text[0], text[-1]) in (("(", ")"), ("[", "]")):
        text = text[1:-1].strip()
    return text


def _parse_clean(text: str, percent_as_number: bool, *, allow_tail: bool) -> float | None:
    match = _NUMBER_RE.match(text)
    if match is None:
        return None
    tail = text[match.end() :]
    if allow_tail:
        if not _TAIL_OK_RE.match(tail):
            return None
    elif tail.strip():
        return None

    try:
        if match.group("whole") is not None:
            denominator = float(match.group("mden"))
            if denominator == 0:
                return None
            value = float(match.group("whole")) + float(match.group("mnum")) / denominator
        elif match.group("fnum") is not None:
            denominator = float(match.group("fden"))
            if denominator == 0:
                return None
            value = float(match.group("fnum")) / denominator
        else:
            mantissa = re.sub(r"[^0-9.]", "", match.group("mant"))
            exponent = match.group("e1") or match.group("e2") or "0"
            value = float(f"{mantissa}e{exponent}")
    except (OverflowError, ValueError):  # e.g. a quotient too large for a float
        return None
    if match.group("sign") == "-":
        value = -value
    if match.group("pct") is not None and not percent_as_number:
        value /= 100
    return value if math.isfinite(value) else None


def parse_number(text: str, *, percent_as_number: bool = False) -> float | None:
    """The value of an extracted answer or reference string, or None if it is not a number."""
    if _PLAIN_NUMBER_RE.fullmatch(text):  # "42", "-3.5": most answers; skip the clean-up
        return float(text)
    cleaned = _strip_wrappers(clean_latex(text[:MAX_CANDIDATE_CHARS]))
    return _parse_clean(cleaned, percent_as_number, allow_tail=True)


def _reference_number(value: object, percent_as_number: bool) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if not isinstance(value, str):
        return None
    text = value[-MAX_SCAN_CHARS:]
    # GSM8K solutions end in "#### 72"; MATH solutions box the answer.
    text = text.rsplit("####", 1)[1] if "####" in text else extract_boxed(text) or text
    return parse_number(text, percent_as_number=percent_as_number)


def reference_values(reference: object, *, percent_as_number: bool = False) -> list[float]:
    """The acceptable values; raises ValueError if the reference (or an item) is no number."""
    if isinstance(reference, dict) and "answer" in reference:
        reference = reference["answer"]
    items = reference if isinstance(reference, list) else [reference]
    if not items:
        raise ValueError("reference answer is an empty list")
    values: list[float] = []
    for item in items:
        number = _reference_number(item, percent_as_number)
        if number is None:
            raise ValueError(f"reference answer {show(item)} is not a number")
        values.append(number)
    return values


def numbers_match(answer: float, reference: float, tolerance: float, relative: float) -> bool:
    return abs(answer - reference) <= max(tolerance, relative * abs(reference))


def build(spec: Mapping[str, Any]) -> Grader:
    """A grader for a spec that `spec_problems` accepted."""
    strategies = tuple(spec.get("extract", STRATEGIES))
    tolerance = float(spec.get("tolerance", NUMBER_KEYS["tolerance"]))
    relative = float(spec.get("relativeTolerance", NUMBER_KEYS["relativeTolerance"]))
    percent_as_number: bool = spec.get("percentAsNumber", False)

    def grade(sample: Sample) -> tuple[float, list[dict[str, Any]]]:
        # The reference first: a bad reference must surface even when the answer is garbage.
        references = reference_values(sample.reference, percent_as_number=percent_as_number)
        candidate = extract_answer(sample.answer_text, strategies)
        answer = None
        if candidate is not None:
            answer = parse_number(candidate, percent_as_number=percent_as_number)
        matched = answer is not None and any(
            numbers_match(answer, r, tolerance, relative) for r in references
        )
        score = 1.0 if matched else 0.0
        metrics = [
            {"name": METRIC_NAME, "value": score, "type": "Reward"},
            {"name": EXTRACTED_METRIC, "value": float(candidate is not None), "type": "Metric"},
        ]
        if candidate is not None and answer is None:
            metrics.append({"name": UNPARSEABLE_METRIC, "value": 1.0, "type": "Metric"})
        return score, metrics

    return grade
