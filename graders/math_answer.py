"""The built-in `math_answer` grader: extracts the final answer and compares it with the
reference answer by value.

Spec (JSON object, camelCase keys):
- `type`: "math_answer" (required)
- `extract`: non-empty list of strategies, default ["boxed", "phrase", "last_number"]:
  - "boxed": the content of the last complete `\\boxed{...}` or `\\fbox{...}` (balanced braces,
    at most MAX_CANDIDATE_CHARS long);
  - "phrase": the rest of the line after the last "the answer is", "answer:", "final answer:"
    or "final answer is" (case-insensitive; the next non-empty line if that line is empty,
    and a display-math block `\\[...\\]` or `$$...$$` that starts there as a whole); after a
    JSON key `"answer":`, its JSON value (a number as written, a string's content), so that
    `{"answer": 42, "steps": ["... 41"]}` states 42;
  - "last_number": the last number in the text; here only commas and thin spaces separate
    thousands and there are no mixed numbers, because "1 2 3 100" in prose is a list, not
    1 2 3100. A number that is part of a larger expression (the 4 of "4\\sqrt{2}", the 1
    of "[0,1)", the 3 of "5-3") is not a number of its own: the expression around it is
    the candidate. An exponent of a unit is skipped ("15 m^2" is 15).
  "boxed" and "phrase" are the answer as stated: where the first of them stands in the list,
  both are tried together, the one stated later in the answer first (a later "the final
  answer is 7" beats an earlier \\boxed{42}, and the other way round). "last_number" is tried
  where it stands. The first candidate that reads as a value decides; one that does not
  ("Final Answer: The volume is 120.") passes on to the next candidate.
- `tolerance`: absolute tolerance, a finite number >= 0, default 0
- `relativeTolerance`: relative tolerance, a finite number >= 0, default 1e-9 for inexact
  comparisons only (see below)
- `percentAsNumber`: bool, default false: "45%" means 0.45; when true it means 45

Equality. Integers, decimals, fractions, mixed numbers, percentages and scientific notation
are exact rationals and compare exactly: 1.6e-18 is not 1.6e-19 and 10000000001 is not 1e10.
A symbolic value that is irrational (\\sqrt{2}, \\pi) is evaluated to 60 significant digits:
it is inexact, and compares within `relativeTolerance` (1e-9 unless set) of the reference,
plus 1e-40 of evaluation error. A JSON number reference that is not whole is a double: an
answer matches it when it rounds to that double (1/3 matches 0.3333333333333333). Setting
`tolerance` or `relativeTolerance` asks for approximate credit: then every comparison, exact
ones included, accepts |answer - reference| <= max(tolerance, relativeTolerance * |reference|)
(the unset one counting as 0). A percentage stands for its hundredth, and as a proportion
it matches a plain number only in [-1, 1] ("45%" = 0.45, but "4200%" is not 42); with
`percentAsNumber` it is its written number ("45%" = 45).

The score is 1.0 when the answer equals any reference alternative, else 0.0. An answer that
states several different numbers ("42 or 41", "42 and 41 are both possible") is not one
answer: it scores 0 with `answer_hedged`. One that is not a value ("x + 1") scores 0 with
`answer_unparseable`. Only the last 100,000 characters of the answer are searched.

Numbers: integers and decimals with an optional sign (+, -, U+2212 minus); thousands
separators "," or a space/thin space/no-break space, in groups of exactly three ("1,234,567",
"1 234"); fractions "3/4" and mixed numbers "1 1/2"; percentages ("45%", "45\\%", "45 percent");
scientific notation ("1.2e-3", "1.2 \u00d7 10^-3", "4.2 x 10^5", "1.2\\times10^{-3}", also with
\\cdot or *; exponents up to +-999); LaTeX `\\frac{a}{b}` (and \\dfrac, \\tfrac, \\cfrac,
\\frac12), `\\left`/`\\right`, `$`, `\\(...\\)`, `\\[...\\]`, `\\$`, `\\%`, `\\,`, `\\!`,
`{}` grouping and degree signs; `\\text{...}` (also \\textrm, \\mbox, \\mathrm) is
unwrapped. Surrounding `**` and one pair of parentheses or brackets without a comma inside
are stripped, and a single-letter assignment "x = 5" stands for its right-hand side. A
number may be followed by sentence punctuation and by words after a space, also in
brackets ("42 apples." -> 42, "15 cm^2" -> 15, "42 (from step 3)" -> 42).

Anything else goes to the symbolic parser (`math_expr`, loaded only then): radicals, \\pi, e,
+ - * / ^ with implicit multiplication, intervals ("[0, 1)"), tuples ("(1, 2)", in order),
sets ("\\{1, 2\\}" and a bare "1, 2", in any order) and unions of intervals. Free variables
("2x"), functions (\\log) and ± are not values.

The reference is a JSON number, a string (read like an answer, after taking the text after a
GSM8K-style "####" or the last \\boxed{} if present), a list of acceptable values, or an object
whose "answer" key holds one of those. A reference that is not a value raises ValueError for
that sample: it is a data bug, not a wrong answer.
"""

import functools
import json
import math
import re
from collections import deque
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeAlias

from .contract import Checked, Grader, Sample
from .spec import show, unknown_keys

if TYPE_CHECKING:  # only for annotations: the module itself loads on demand
    from .math_expr import Value

TYPE = "math_answer"
STRATEGIES = ("boxed", "phrase", "last_number")
NUMBER_KEYS = ("tolerance", "relativeTolerance")
SPEC_KEYS = ("type", "extract", *NUMBER_KEYS, "percentAsNumber")
# The relative tolerance of comparisons with an inexact value when the spec sets none: far
# looser than the 60-digit evaluation, far tighter than any answer rounded by hand.
DEFAULT_RELATIVE_TOLERANCE = Fraction(1, 10**9)
# How far two evaluations of the same irrational value may differ (60-digit arithmetic).
EVALUATION_ERROR = Fraction(1, 10**40)

METRIC_NAME = "math_answer"
EXTRACTED_METRIC = "answer_extracted"
UNPARSEABLE_METRIC = "answer_unparseable"
HEDGED_METRIC = "answer_hedged"

# Final answers sit at the end; scanning only the tail bounds regex and brace-matching work.
MAX_SCAN_CHARS = 100_000
# A boxed or phrase candidate longer than this is prose, not a number; cap the cleaning work.
MAX_CANDIDATE_CHARS = 1_000
# \frac inside \frac is rare; a fixed number of passes keeps hostile nesting linear.
MAX_FRAC_PASSES = 4
# A group nested at most two deep with no escaped brace: what most boxed answers are. Each
# alternative starts with a different character, so the match never backtracks.
_SHALLOW_GROUP_RE = re.compile(r"\{(?:[^{}\\]|\\[^{}]|\{(?:[^{}\\]|\\[^{}])*+\})*+\}")
# Unclosed \boxed{ tried from the end before giving up: each costs a bounded window scan.
MAX_BOXED_TRIES = 8
# What may part two boxed answers that offer alternatives: spaces, punctuation, math-mode
# delimiters and spacing commands, "or"/"and" (any case). Atomic: the alternatives start
# differently, so nothing is lost, and safe_regex can see it never backtracks.
_BOX_SEPARATOR_RE = re.compile(
    r"(?>\s|[,;.:$&]|\\[,;:! ]|\\q?quad\b|\\text\s*\{\s*(?:or|and)?\s*\}|(?i:\b(?:or|and)\b))*"
)
# Maths goes on across at most this many spaces ("5 - 3"); a wider gap is layout.
MAX_GAP = 8
# Exponents beyond this are not numbers we compare (10^999 is exact; 10^99999 is abuse).
MAX_EXPONENT = 999

_REALS = (Fraction, Decimal, float)

_SPACE_SEP = "[ \u00a0\u2009\u202f]"
_PLAIN_DECIMAL = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_COMMA_INT = r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])"
_SPACE_INT = rf"[0-9]{{1,3}}(?:{_SPACE_SEP}[0-9]{{3}})+(?![0-9])"
# At most one space before the sign: "45 %" is a percentage, "45 <a line of spaces> %" not.
_PERCENT = r"[ \u00a0\u2009]?(?:%|[Pp]ercent\b)"
# Exponents are capped at 6 digits here and at MAX_EXPONENT in value: int conversion of huge
# digit strings is what would be slow. "x" counts as a times sign only before "10^".
_E_EXP = r"[eE][+-]?[0-9]{1,6}"
_TIMES_TEN = r"\s*[\u00d7\u00b7*xX]\s*10\s*\^\s*(?:\{\s*)?\(?"
_TEN_EXP = rf"{_TIMES_TEN}[+-]?[0-9]{{1,6}}\)?(?:\s*\}})?"

# Anchored at the start of a cleaned candidate. Alternatives are tried in order, so the
# mixed number ("1 1/2") wins over the space-separated thousands ("1 123").
_NUMBER_RE = re.compile(
    r"(?P<sign>[+-])?[ \u00a0]*(?:"
    r"(?P<whole>[0-9]+)[ \u00a0]+(?P<mnum>[0-9]+)/(?P<mden>[0-9]+)(?![0-9.])"
    rf"|(?P<fnum>{_PLAIN_DECIMAL})\s*/\s*(?P<fden>{_PLAIN_DECIMAL})"
    rf"|(?P<mant>(?:{_COMMA_INT}|{_SPACE_INT}|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)"
    rf"(?:[eE](?P<e1>[+-]?[0-9]{{1,6}})|{_TIMES_TEN}(?P<e2>[+-]?[0-9]{{1,6}})\)?(?:\s*\}})?)?"
    rf")(?P<pct>{_PERCENT})?"
)
# What may follow a number: sentence punctuation, or words after a space ("42 apples"),
# maybe in brackets or after a dash ("42 (from step 3)"). A letter glued to the number
# ("3i", "42cm") or a maths symbol after it means it is not a plain number; nor do words
# that continue the maths: "2 pi", "2 sqrt(3)", "2 x 3".
_TAIL_OK_RE = re.compile(
    r"\s*[.,;:!?]?\s*\Z"
    r"|[.,;:!?]?\s+(?:\(|[\u2013\u2014]\s*)?"
    r"(?!(?:pi|sqrt)\b|(?:times|x|X)\s*[0-9(]|[\u03c0\u03a0\u221e\u221a])[^\W\d_]"
)
# A second number joined by "or"/"and" after the first: a hedge, when it differs.
# (Spelt-out cases rather than IGNORECASE, which triples the pattern's compile time.)
_HEDGE_JOIN_RE = re.compile(
    r"[.,;]?\s+\(?(?:[Oo][Rr]|[Aa][Nn][Dd])\s+(?:(?:maybe|possibly|perhaps|probably|either)\s+)?"
    r"(?:[A-Za-z]\s*=\s*)?"
)
# "x = 5": a single-letter assignment stands for its right-hand side.
_ASSIGNMENT_RE = re.compile(r"[A-Za-z]\s*=\s*")
_NOT_DIGIT_RE = re.compile(r"[^0-9.]")

# Numbers in running text: no mixed numbers and no plain spaces as separators ("1 2 3 100"
# is a list), only thin ones ("1\,234" in LaTeX); a sign only where it cannot be a binary
# minus ("5-3" ends in 3, not -3).
_THIN_INT = r"[0-9]{1,3}(?:[\u2009\u202f][0-9]{3})+(?![0-9])"
_TOKEN_RE = re.compile(
    # The lookahead first: most positions fail on one character test.
    r"(?=[-+.0-9])(?:(?<![\w)])[+-])?(?<![\w.])(?:"
    rf"{_PLAIN_DECIMAL}/{_PLAIN_DECIMAL}(?![0-9])"
    rf"|(?:(?:{_COMMA_INT}|{_THIN_INT}|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)"
    rf"(?:{_E_EXP}(?![0-9])|{_TEN_EXP})?"
    rf")(?:{_PERCENT})?"
)
# Between a number and the exponent of its unit: "15 m^2", "15 \text{cm}^{3}".
_UNIT_POWER_RE = re.compile(r"\s*[^\W\d_]{1,12}\s*[\^_]\s*\{?")

_BRACE_RE = re.compile(r"\\.|[{}]", re.DOTALL)
_PHRASE_RE = re.compile(r'\b(?:final\s+answer|answer)(?:\s+is\b|"?\s*[:=])\s*:?', re.IGNORECASE)
# The same phrase in lower-cased text, without the leading \b: a case-sensitive pattern
# that starts with a literal is searched for at C speed (~40x the case-insensitive one).
_LOWER_PHRASE_RE = re.compile(r'answer(?:\s+is\b|"?\s*[:=])\s*:?')
_JSON_DECODER = json.JSONDecoder()
# Phrases glued to a word before them ("reanswer:") skipped before the slow search decides.
MAX_PHRASE_TRIES = 8
_DISPLAY_MATH = (("\\[", "\\]"), ("$$", "$$"), ("\\(", "\\)"))

_TEXT_CMD_RE = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm)\s*\{([^{}]*)\}")
# The LaTeX commands and escapes the clean-up rewrites, in one pass that starts with a
# literal backslash (so the regex engine skips to each one at C speed).
_COMMAND_RE = re.compile(
    r"\\(?:(?:left|right|boxed|fbox|displaystyle|qquad|quad|times|cdot|[dtc]frac)(?![a-zA-Z])"
    r"|[%$()\[\],!;: ])"
)
_COMMANDS = {
    "\\left": "",
    "\\right": "",
    "\\boxed": "",
    "\\fbox": "",
    "\\displaystyle": "",
    "\\qquad": " ",
    "\\quad": " ",
    "\\times": "\u00d7",
    "\\cdot": "\u00b7",
    "\\dfrac": "\\frac",
    "\\tfrac": "\\frac",
    "\\cfrac": "\\frac",
    "\\%": "%",
    "\\$": "",
    "\\(": " ",
    "\\)": " ",
    "\\[": " ",
    "\\]": " ",
    # A thin space: a thousands separator inside numbers ("1\,234"), spacing elsewhere.
    "\\,": "\u2009",
    "\\!": "",
    "\\;": " ",
    "\\:": " ",
    "\\ ": " ",
}
_DEGREES_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?")
_FRAC_RE = re.compile(r"\\frac\s*(?:\{([^{}]*)\}|([0-9]))\s*(?:\{([^{}]*)\}|([0-9]))")
# Characters through which a number or LaTeX construct may continue across a line break.
_MULTILINE_CHARS = frozenset("{}\\^\u00d7\u00b7*()[],")
_PLAIN_NUMBER_RE = re.compile(r"\s*-?[0-9]{1,15}(?:\.[0-9]{1,15})?\s*")
# "-12/47", the common unboxed fraction: read without the clean-up.
_PLAIN_FRACTION_RE = re.compile(r"\s*(-?[0-9]{1,15})/([0-9]{1,15})\s*")
# "\frac{1}{3}" as a whole, the common boxed fraction: read without the clean-up.
_SIMPLE_FRAC_RE = re.compile(r"\\[dtc]?frac\{([0-9]{1,15})\}\{([0-9]{1,15})\}")
# What makes a candidate worth the symbolic parser; prose without any of it is not maths.
_EXPRESSION_CHARS = frozenset("\\^()[]{},=+*/-\u221a\u03c0\u221e\u00d7\u00b7\u00f7")
# The window around the text's last digit searched first for the last number, and how far
# from its cuts a token must be to be trusted (farther than any LaTeX construct, number or
# expression the scan joins reaches: see math_expr.EXPRESSION_REACH).
_WINDOW_BEFORE = 400
_WINDOW_AFTER = 200
_WINDOW_MARGIN = 200
# Within it, the token scan starts this far before the last digit, and trusts what it
# finds when the earlier of the last two tokens starts this far from there.
_TOKEN_LOOKBACK = 100
_TOKEN_MARGIN = 40
# Every character a token can contain (besides whitespace): see _TOKEN_RE. No token runs
# across a character outside them, so the tokens after such a character are the last tokens
# of any scan that starts before it. Matching a token costs ~1.5 us, so in number-dense
# text the scan first starts this near the last digit, at such a character.
_TOKEN_CHARS = frozenset("0123456789+-./,eExX\u00d7\u00b7*^{}()%Ppercnt\u00a0\u2009\u202f")
_SHORT_LOOKBACK = 60
MAX_CUT_SEARCH = 16
_PLAIN_REPLACEMENTS = (("$", ""), ("~", " "), ("\u2212", "-"), ("\u00b0", ""))
# Characters around a number that make it part of an expression (see _number_role).
_GLUE_BEFORE = frozenset("{([/\u221a|")
_GLUE_AFTER = frozenset("\\^_([{)]}|\u03c0\u221a\u221e")
_OPERATORS = frozenset("+-*/^\u00d7\u00b7\u00f7")
# Trailing words a symbolic answer may carry as its unit ("2\sqrt{3} cm"), unless they are
# maths or a hedge themselves.
_UNIT_RE = re.compile(r"[^\W\d_]{2,12}(?:\^\{?[0-9]\}?)?")
_NOT_UNITS = frozenset({"pi", "sqrt", "or", "and", "times", "inf", "infinity"})


class Reading(NamedTuple):
    """A value read from an answer or a reference, and whether it was written as a percent."""

    value: "Value | float"
    percent: bool = False


# NamedTuple(...) runs Python code; this builds one at C speed, for the per-sample paths
# (all fields given).
_new_tuple = tuple.__new__


def _reading(value: Fraction) -> Reading:
    """`Reading(value)` at C speed (NamedTuple's own constructor is Python code), for the
    per-sample paths."""
    return _new_tuple(Reading, (value, False))


HEDGED: Final = "hedged"
# What reading a candidate gives: a value, a hedge (several different values), or nothing.
Outcome: TypeAlias = Reading | Literal["hedged"] | None


class Tolerances(NamedTuple):
    absolute: Fraction
    relative: Fraction  # for comparisons between exact values
    relative_inexact: Fraction  # when either side is inexact
    exact: bool  # absolute and relative are 0: exact values compare with ==


class Candidate(NamedTuple):
    """A piece of the answer text that may state the final answer, and who found it."""

    strategy: str
    text: str


class _Stated(NamedTuple):
    position: int  # where in the text the answer was stated
    text: str
    end: int = -1  # where a boxed answer's group closes (after its "}")


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


def _group_end(text: str, opening: int) -> int:
    """Index of the "}" closing the "{" at `opening`, looking at most MAX_CANDIDATE_CHARS
    ahead; -1 if there is none. \\{ and \\} are literal braces (LaTeX sets), not grouping."""
    window_end = opening + MAX_CANDIDATE_CHARS + 2
    # The commonest case, "\\boxed{42}": no brace or backslash before the first "}".
    closing = text.find("}", opening + 1, window_end)
    if closing >= 0:
        inner = text[opening + 1 : closing]
        if "{" not in inner and "\\" not in inner:
            return closing
    # The next, "\\boxed{\\frac{1}{2}}": one match at C speed.
    shallow = _SHALLOW_GROUP_RE.match(text, opening, window_end)
    if shallow is not None:
        return shallow.end() - 1
    depth = 0
    for match in _BRACE_RE.finditer(text, opening, window_end):
        brace = match.group()
        if brace == "{":
            depth += 1
        elif brace == "}":
            depth -= 1
            if depth == 0:
                return match.start()
    return -1


def _find_boxed(text: str) -> _Stated | None:
    """The last complete \\boxed{...} / \\fbox{...}: found from the end with C-speed
    `rfind`, so the cost does not grow with the reasoning before it."""
    if "\\" not in text:  # plain-text reasoning: one fast scan rules out both names
        return None
    end = len(text)
    for _ in range(MAX_BOXED_TRIES):
        start = text.rfind("\\boxed", 0, end)
        # Only an \fbox after the last \boxed can be later: search that tail alone.
        start = max(start, text.rfind("\\fbox", max(start, 0), end))
        if start < 0:
            return None
        end = start  # the next try looks before this one
        name_end = start + (6 if text.startswith("\\boxed", start) else 5)
        opening = name_end
        while opening < len(text) and text[opening].isspace():
            opening += 1
        if opening >= len(text) or text[opening] != "{":
            continue  # "\boxedfoo" or "\boxed 5": not a boxed group
        closing = _group_end(text, opening)
        if closing >= 0:
            return _new_tuple(_Stated, (start, text[opening + 1 : closing], closing + 1))
    return None


def _hedged_boxes(text: str, box: _Stated) -> str | None:
    """`box` with the boxed answer stated right before it, joined by "or", when only
    separators part them and they differ: `\boxed{32} \boxed{31}` offers two answers, a
    hedge. Reasoning between them (`\boxed{3}, finally \boxed{5}`) is a revision, and
    then the last box alone counts."""
    window = max(0, box.position - MAX_CANDIDATE_CHARS - 16)
    if text.rfind("box", window, box.position) < 0:  # both names have it: one scan
        return None  # one box alone, the common case: no window to copy and search
    previous = _find_boxed(text[window : box.position])
    if previous is None or previous.text.strip() == box.text.strip():
        return None
    if _BOX_SEPARATOR_RE.fullmatch(text, window + previous.end, box.position) is None:
        return None
    return f"{previous.text} or {box.text}"


def extract_boxed(text: str) -> str | None:
    """The content of the last complete \\boxed{...} / \\fbox{...}, or None."""
    found = _find_boxed(text)
    return None if found is None else found.text


def _last_match(
    pattern: re.Pattern[str], text: str, start: int = 0, end: int | None = None
) -> re.Match[str] | None:
    # A one-slot deque keeps only the last match without building the whole list.
    matches = deque(pattern.finditer(text, start, len(text) if end is None else end), maxlen=1)
    return matches[0] if matches else None


def _last_phrase(text: str, start: int, stop: int) -> tuple[int, bool] | None:
    """Where the last answer phrase in text[start:stop] ends, and whether it is the JSON key
    `"answer":` (a quote right after the word), or None."""
    region = text[start:stop]
    lowered = region.lower()
    # Lower-casing keeps positions unless a character grows (U+0130); then the regex does
    # it all.
    if len(lowered) == len(region):
        # Every phrase has "answer", and no match runs into a later "answer": the last
        # phrase starts at one of the last few found from the end (at C speed).
        found = len(lowered)
        for _ in range(MAX_PHRASE_TRIES):
            found = lowered.rfind("answer", 0, found)
            if found < 0:
                return None
            match = _LOWER_PHRASE_RE.match(lowered, found)
            position = start + found
            before = text[position - 1] if position > 0 else " "
            if match is not None and not (before.isalnum() or before == "_"):  # \b
                return start + match.end(), lowered.startswith('"', found + 6)
        # Many mentions of "answer" that are no phrase: the regex skips them at C speed.
        end = found
        for _ in range(MAX_PHRASE_TRIES):
            last = _last_match(_LOWER_PHRASE_RE, lowered, 0, end)
            if last is None:
                return None
            # Cut at `end`, the search may see a word boundary that is not there: match
            # again on the whole region.
            match = _LOWER_PHRASE_RE.match(lowered, last.start())
            position = start + last.start()
            before = text[position - 1] if position > 0 else " "
            if match is not None and not (before.isalnum() or before == "_"):  # \b
                return start + match.end(), lowered.startswith('"', last.start() + 6)
            end = last.start()  # an earlier match cannot reach past this one's start
    last = _last_match(_PHRASE_RE, text, start, stop)
    return None if last is None else (last.end(), '"' in last.group())


def _find_phrase(text: str, start: int = 0, end: int | None = None) -> _Stated | None:
    """The text after the last answer phrase that starts in text[start:end]."""
    found = _last_phrase(text, start, len(text) if end is None else end)
    if found is None:
        return None
    phrase_end, json_key = found
    if json_key:
        value = _json_value(text, phrase_end)
        if value is not None:
            return _new_tuple(_Stated, (phrase_end, value, -1))
    rest = text[phrase_end : phrase_end + MAX_CANDIDATE_CHARS].lstrip()
    line = rest.split("\n", 1)[0]
    for opener, closer in _DISPLAY_MATH:
        # "The answer is\n\[\n42\n\]": the display block is the candidate.
        if line.startswith(opener) and closer not in line[len(opener) :]:
            closing = rest.find(closer, len(opener))
            if closing >= 0:
                line = rest[: closing + len(closer)]
            break
    return _new_tuple(_Stated, (phrase_end, line, -1))


def _json_value(text: str, start: int) -> str | None:
    """The JSON value at text[start:], as a candidate: a number as written, a string's
    content, anything else as its JSON text; None when no JSON value starts there."""
    try:
        value, end = _JSON_DECODER.raw_decode(text, start)
    except ValueError:  # not JSON after all ("answer": 42 apples): read the line instead
        return None
    return value if type(value) is str else text[start:end]


def extract_phrase(text: str) -> str | None:
    """The text after the last "the answer is" / "answer:" / "final answer:", or None."""
    found = _find_phrase(text)
    return None if found is None else found.text


def candidates(text: str, strategies: tuple[str, ...] = STRATEGIES) -> Iterator[Candidate]:
    """The candidates to read, most trusted first (lazily: later ones cost only if needed).
    The stated ones (see the module docstring) are the last boxed answer and the last answer
    phrase, the one stated later first; one generator for all, since this runs per sample."""
    text = text[-MAX_SCAN_CHARS:]
    stated_done = False
    for strategy in strategies:
        if strategy == "last_number":
            number = extract_last_number(text)
            if number is not None:
                yield _new_tuple(Candidate, (strategy, number))
        elif not stated_done:
            stated_done = True
            phrase = "phrase" in strategies
            box = _find_boxed(text) if "boxed" in strategies else None
            # Only a phrase after the box can go first, so search after it: a short tail.
            later = _find_phrase(text, box.position if box else 0) if phrase else None
            if later is not None:
                yield _new_tuple(Candidate, ("phrase", later.text))
            if box is not None:
                yield _new_tuple(Candidate, ("boxed", _hedged_boxes(text, box) or box.text))
                if phrase and later is None:
                    earlier = _find_phrase(text, 0, box.position)
                    if earlier is not None:
                        yield _new_tuple(Candidate, ("phrase", earlier.text))


def extract_answer(text: str, strategies: tuple[str, ...] = STRATEGIES) -> str | None:
    """The first candidate the grader reads, or None (later ones are read only if it is no
    value: see `candidates`)."""
    first = next(candidates(text, strategies), None)
    return None if first is None else first.text


# --- the last number ----------------------------------------------------------------------


def _previous_non_space(text: str, index: int) -> int:
    """The last non-space character before `index` across at most MAX_GAP spaces, or -1."""
    stop = max(0, index - MAX_GAP)
    while index > stop and text[index - 1].isspace():
        index -= 1
    return index - 1 if index == 0 or not text[index - 1].isspace() else -1


def _next_non_space(text: str, index: int) -> int:
    """The first non-space character from `index` across at most MAX_GAP spaces, or
    len(text)."""
    stop = min(len(text), index + MAX_GAP)
    while index < stop and text[index].isspace():
        index += 1
    return index if index == len(text) or not text[index].isspace() else len(text)


class _Found(NamedTuple):
    start: int  # where in the scanned text the candidate starts
    text: str


def _number_role(text: str, match: re.Match[str], previous: re.Match[str] | None) -> str:
    """What the number `match` is: "alone", "unit_power" (the exponent of a unit: the 2 of
    "m^2"), "hedge" (after "<number> or") or "part" (of a larger expression: "4\\sqrt{2}",
    "[0,1)", "5-3", "1, 2")."""
    start, end = match.start(), match.end()
    before = text[start - 1] if start else ""
    if before == "{" and start >= 2 and text[start - 2] in "^_":
        before = text[start - 2]
        start -= 1
    if before in ("^", "_"):
        base = _previous_non_space(text, start - 1)
        return "unit_power" if base >= 0 and text[base].isalpha() else "part"
    after = text[end] if end < len(text) else ""
    if before in _GLUE_BEFORE or after in _GLUE_AFTER or after.isalpha():
        return "part"
    left = _previous_non_space(text, start)
    right = _next_non_space(text, end)
    # A sign of its own is no operator ("dropped to -5"); "5 - 3" and "6 * 7" are maths.
    if left >= 0 and text[left] in _OPERATORS and match.group()[0] not in "+-":
        return "part"
    if right < len(text) and text[right] in _OPERATORS:
        return "part"
    if previous is not None:
        between = (previous.end(), match.start())
        if text[between[0] : between[1]].strip() == ",":
            return "part"  # "2, 3": a list, not the 3
        if _HEDGE_JOIN_RE.fullmatch(text, *between):
            return "hedge"
    return "alone"


def _last_tokens(text: str) -> deque[re.Match[str]]:
    """The last two number tokens of `text`. The token regex costs ~100 ns per character it
    walks, so it starts a little before the last digit (found at C speed), and walks the
    whole text only when a token starts too near that cut to be whole."""
    last_digit = max(map(text.rfind, "0123456789"))
    start = max(0, last_digit - _TOKEN_LOOKBACK)
    tokens = _last_tokens_after_cut(text, start, last_digit)
    if tokens is None:
        tokens = deque(_TOKEN_RE.finditer(text, start), maxlen=2)
    if start and (not tokens or tokens[0].start() < start + _TOKEN_MARGIN):
        tokens = deque(_TOKEN_RE.finditer(text), maxlen=2)
    return tokens


def _last_tokens_after_cut(text: str, start: int, last_digit: int) -> deque[re.Match[str]] | None:
    """The last two tokens of a scan of `text` from `start`, found by a shorter scan from a
    cut after a character no token contains; None when no short scan finds two."""
    cut = last_digit - _SHORT_LOOKBACK
    stop = max(start, cut - MAX_CUT_SEARCH)
    while cut > stop and (text[cut - 1] in _TOKEN_CHARS or text[cut - 1].isspace()):
        cut -= 1
    if cut <= start or text[cut - 1] in _TOKEN_CHARS or text[cut - 1].isspace():
        return None  # no shorter scan, or no cut near here: a token may run across
    tokens = deque(_TOKEN_RE.finditer(text, cut), maxlen=2)
    return tokens if len(tokens) == 2 else None


def _last_number_in(text: str) -> _Found | None:
    tokens = _last_tokens(text)
    if not tokens:
        return None
    match = tokens[-1]
    previous = tokens[0] if len(tokens) == 2 else None
    role = _number_role(text, match, previous)
    if role == "unit_power":
        if previous is not None and _UNIT_POWER_RE.fullmatch(text, previous.end(), match.start()):
            return _Found(previous.start(), text[previous.start() : match.end()])
        role = "part"
    if role == "alone":
        return _Found(match.start(), match.group())
    if role == "hedge":
        assert previous is not None  # a hedge joins two numbers
        return _Found(previous.start(), text[previous.start() : match.end()])
    from . import math_expr  # an expression around the number: its parser reads it next

    left, right = math_expr.expression_bounds(text, match.start(), match.end())
    return _Found(left, text[left:right])


def _scan_text(text: str) -> str:
    return clean_latex(text, keep_braces=True)


def extract_last_number(text: str) -> str | None:
    """The last number in the text (after LaTeX clean-up), or the expression it is part
    of, or None."""
    # Most answers end with the number on a line of its own: try the last line alone when
    # nothing on it could continue a construct from the lines above.
    stripped = text.rstrip()
    line_start = stripped.rfind("\n") + 1
    last_line = stripped[line_start:]
    alone = bool(last_line) and not _MULTILINE_CHARS.intersection(last_line)
    if alone and (_PLAIN_NUMBER_RE.fullmatch(last_line) or _PLAIN_FRACTION_RE.fullmatch(last_line)):
        return last_line.strip()
    # Every number has a digit, and clean-up adds none: no digit, no number.
    last_digit = max(map(text.rfind, "0123456789"))
    if last_digit < 0:
        return None
    # A last line without a digit (a closing "```") has no number to find.
    if alone and last_digit >= line_start:
        found = _last_number_in(_scan_text(last_line))
        if found is not None:
            return found.text
    # Look around the last digit first (found at C speed), not at the whole reasoning. A
    # token found well clear of the cut is the text's last token too, since clean-up and
    # tokens are local; otherwise (or with no token there) the whole text decides.
    cut = last_digit - _WINDOW_BEFORE
    if cut > 0 or last_digit + _WINDOW_AFTER < len(text):
        found = _last_number_in(_scan_text(text[max(cut, 0) : last_digit + _WINDOW_AFTER]))
        if found is not None and (cut <= 0 or found.start >= _WINDOW_MARGIN):
            return found.text
    found = _last_number_in(_scan_text(text))
    return None if found is None else found.text


# --- reading values -----------------------------------------------------------------------


def _decimal_fraction(text: str, exponent: int = 0) -> Fraction:
    """The exact value of "-12.50" times 10**exponent (int arithmetic: no float rounding)."""
    if exponent == 0 and text.isdigit() and text.isascii():
        return Fraction(int(text))  # the common case, "42"
    negative = text.startswith("-")
    whole, _, decimals = text.lstrip("+-").partition(".")
    digits = int(whole or "0") * 10 ** len(decimals) + int(decimals or "0")
    scale = exponent - len(decimals)
    value = Fraction(digits * 10**scale) if scale >= 0 else Fraction(digits, 10**-scale)
    return -value if negative else value


def _match_value(match: re.Match[str]) -> Fraction | None:
    """The exact value of a `_NUMBER_RE` match, before any percent; None if it has none."""
    # One call for all the groups: each named `group` call costs as much as a short match.
    sign, whole, mnum, mden, fnum, fden, mant, e1, e2 = match.group(
        "sign", "whole", "mnum", "mden", "fnum", "fden", "mant", "e1", "e2"
    )
    try:
        if whole is not None:
            denominator = int(mden)
            if denominator == 0:
                return None
            value = int(whole) + Fraction(int(mnum), denominator)
        elif fnum is not None:
            if fnum.isdigit() and fden.isdigit():  # "3/4": one normalisation, not a division
                denominator = int(fden)
                if denominator == 0:
                    return None
                value = Fraction(int(fnum), denominator)
            else:
                denominator_value = _decimal_fraction(fden)
                if denominator_value == 0:
                    return None
                value = _decimal_fraction(fnum) / denominator_value
        else:
            exponent = int(e1 or e2 or "0")
            if abs(exponent) > MAX_EXPONENT:
                return None
            mantissa = mant if mant.isdigit() else _NOT_DIGIT_RE.sub("", mant)
            value = _decimal_fraction(mantissa, exponent)
    except ValueError:  # a digit string past Python's int conversion limit
        return None
    return -value if sign == "-" else value


def _frac_operand(text: str) -> Fraction | None:
    outcome = _parse_clean(text, True, allow_tail=False)
    return outcome.value if isinstance(outcome, Reading) else None  # type: ignore[return-value]


def _frac_to_text(match: re.Match[str]) -> str:
    # A group may match empty ("\frac{1}{}"): only None means the other form matched.
    top, bottom = match.group(1), match.group(3)
    top_text = (top if top is not None else match.group(2)).strip()
    bottom_text = (bottom if bottom is not None else match.group(4)).strip()
    # Unreduced, so "1\frac{4}{2}" stays the mixed number 1 4/2 rather than "1 2".
    if top_text.isdigit() and bottom_text.isdigit() and bottom_text.strip("0"):
        text = f"{top_text}/{bottom_text}"  # the common case: no numbers to build
    else:
        numerator, denominator = _frac_operand(top_text), _frac_operand(bottom_text)
        if numerator is None or denominator is None or denominator == 0:
            return match.group()  # left as LaTeX, so the whole candidate is not a number
        sign = "-" if (numerator < 0) != (denominator < 0) and numerator != 0 else ""
        if numerator.denominator == 1 and denominator.denominator == 1:
            text = f"{sign}{abs(numerator.numerator)}/{abs(denominator.numerator)}"
        else:  # decimals: "\frac{1.5}{2}"
            value = abs(numerator) / abs(denominator)
            text = f"{sign}{value.numerator}/{value.denominator}"
    # "1\frac{1}{2}" is the mixed number 1 1/2; the space makes it parse as one.
    before = match.string[match.start() - 1] if match.start() else ""
    return f" {text}" if before.isdigit() else text


def clean_latex(text: str, *, keep_braces: bool = False) -> str:
    """Reduce the simple LaTeX the grader understands to plain text. With `keep_braces`,
    grouping braces stay (the symbolic parser and the last-number scan need them)."""
    if "\\" in text:
        # Each `in` rules out a pass at C speed, cheaper than a sub that finds nothing.
        if "\\text" in text or "\\mbox" in text or "\\mathrm" in text:
            text = _TEXT_CMD_RE.sub(lambda m: f" {m.group(1)} ", text)
        if "\\circ" in text:
            text = _DEGREES_RE.sub("", text)
        text = _COMMAND_RE.sub(lambda m: _COMMANDS[m.group()], text)
    for old, new in _PLAIN_REPLACEMENTS:
        text = text.replace(old, new)
    for _ in range(MAX_FRAC_PASSES):
        if "\\frac" not in text:
            break
        text = _FRAC_RE.sub(_frac_to_text, text)
    if keep_braces:
        return text.replace("{,}", "")  # "1{,}000": a thousands separator
    return text.replace("{", "").replace("}", "")


def _strip_wrappers(text: str) -> str:
    text = text.strip().strip("*").strip()
    # One pair of brackets around a number; with a comma inside it is a tuple or interval.
    if len(text) >= 2 and (text[0], text[-1]) in (("(", ")"), ("[", "]")) and "," not in text:
        text = text[1:-1].strip()
    return text


def _parse_clean(text: str, percent_as_number: bool, *, allow_tail: bool) -> Outcome:
    match = _NUMBER_RE.match(text)
    if match is None:
        return None
    tail = text[match.end() :]  # usually empty: nothing to check
    if tail:
        if allow_tail:
            if not _TAIL_OK_RE.match(tail):
                return None
        elif tail.strip():
            return None
    value = _match_value(match)
    if value is None:
        return None
    if tail and allow_tail and _is_hedge(tail, value):
        return HEDGED
    percent = match.group("pct") is not None
    if percent and not percent_as_number:
        value /= 100
    return Reading(value, percent)


def _is_hedge(tail: str, value: Fraction) -> bool:
    """Whether the tail after a number states another, different one: "42 or 41"."""
    join = _HEDGE_JOIN_RE.match(tail)
    if join is None:
        return False
    other = _NUMBER_RE.match(tail, join.end())
    other_value = None if other is None else _match_value(other)
    return other_value is not None and other_value != value


def _read_number(text: str, percent_as_number: bool) -> Outcome:
    if text.isdigit() and text.isascii() and len(text) <= 15:  # "42": the commonest answer
        return _reading(Fraction(int(text)))
    if text[:1] != "\\":  # LaTeX is neither of these
        if _PLAIN_NUMBER_RE.fullmatch(text):  # "42", "-3.5": most answers; no clean-up
            return _reading(_decimal_fraction(text.strip()))
        plain_fraction = _PLAIN_FRACTION_RE.fullmatch(text)
        # A zero denominator goes the long way, which finds no number in it.
        if plain_fraction is not None and plain_fraction.group(2).strip("0"):
            numerator, denominator = plain_fraction.groups()
            return _reading(Fraction(int(numerator), int(denominator)))
    else:
        simple_fraction = _SIMPLE_FRAC_RE.fullmatch(text)
        # A zero denominator stays LaTeX in the clean-up, and so is no number.
        if simple_fraction is not None and simple_fraction.group(2).strip("0"):
            numerator, denominator = simple_fraction.groups()
            return _reading(Fraction(int(numerator), int(denominator)))
    cleaned = _strip_wrappers(clean_latex(text[:MAX_CANDIDATE_CHARS]))
    if _PLAIN_NUMBER_RE.fullmatch(cleaned):  # "$42$", "(674)": plain once cleaned
        return Reading(_decimal_fraction(cleaned.strip()))
    assignment = _ASSIGNMENT_RE.match(cleaned)
    if assignment is not None:
        cleaned = cleaned[assignment.end() :]
    return _parse_clean(cleaned, percent_as_number, allow_tail=True)


def parse_number(text: str, *, percent_as_number: bool = False) -> Fraction | None:
    """The exact value of a plain-number answer or reference string, or None if it is not
    one (a symbolic value, a hedge or prose)."""
    outcome = _read_number(text, percent_as_number)
    return outcome.value if isinstance(outcome, Reading) else None  # type: ignore[return-value]


def _without_unit(text: str) -> str:
    """Without trailing words that are units, not maths: "2\\sqrt{3} cm" -> "2\\sqrt{3}"."""
    for _ in range(3):
        head, _, word = text.rpartition(" ")
        if not head.strip() or word.lower() in _NOT_UNITS or not _UNIT_RE.fullmatch(word):
            break
        text = head.rstrip()
    return text


def _read_expression(text: str) -> Reading | None:
    cleaned = clean_latex(text[:MAX_CANDIDATE_CHARS], keep_braces=True)
    cleaned = _without_unit(cleaned.strip().strip("*").strip().rstrip(".,;:!?").rstrip())
    if _EXPRESSION_CHARS.isdisjoint(cleaned):
        return None  # prose: not worth loading the parser
    from . import math_expr  # here, so that plain numbers never pay for its import

    try:
        return Reading(math_expr.parse_value(cleaned))
    except math_expr.ExpressionError:
        return None


def read_answer(text: str, *, percent_as_number: bool = False) -> Outcome:
    """What a candidate states: a value (a plain number, else a symbolic one), HEDGED when
    it states several different numbers, or None when it is no value."""
    outcome = _read_number(text, percent_as_number)
    return outcome if outcome is not None else _read_expression(text)


# GRPO grades several samples of one prompt against the same reference: reading a
# reference string once per prompt, not once per sample, is most of a short answer's cost.
# Bounded in entries, and only strings up to this length are kept.
MAX_CACHED_REFERENCES = 1024
MAX_CACHED_REFERENCE_CHARS = 4096


@functools.lru_cache(maxsize=MAX_CACHED_REFERENCES, typed=True)
def _cached_reference_reading(value: str | int | float, percent_as_number: bool) -> Reading | None:
    # typed: True and 1 (equal, same hash) must not share an entry. Readings are immutable.
    return _reference_reading(value, percent_as_number)


def _reference_item_reading(value: object, percent_as_number: bool) -> Reading | None:
    # Exact types only: a bool or a str subclass is read uncached (and a bool is no value).
    if type(value) is int or type(value) is float:
        return _cached_reference_reading(value, percent_as_number)
    if type(value) is str and len(value) <= MAX_CACHED_REFERENCE_CHARS:
        return _cached_reference_reading(value, percent_as_number)
    return _reference_reading(value, percent_as_number)


def _reference_reading(value: object, percent_as_number: bool) -> Reading | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Reading(Fraction(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # A whole number is the integer written (6.02e23 is 602 followed by 21 zeros, not
        # the double nearest to it); any other stays a double (see reals_match).
        return Reading(_exact(value) if value.is_integer() else value)
    if not isinstance(value, str):
        return None
    text = value[-MAX_SCAN_CHARS:]
    # GSM8K solutions end in "#### 72"; MATH solutions box the answer.
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    elif "\\" in text:
        text = extract_boxed(text) or text
    outcome = read_answer(text, percent_as_number=percent_as_number)
    return outcome if isinstance(outcome, Reading) else None


def reference_values(reference: object, *, percent_as_number: bool = False) -> list[Reading]:
    """The acceptable values; raises ValueError if the reference (or an item) is no value."""
    if type(reference) is str and len(reference) <= MAX_CACHED_REFERENCE_CHARS:
        reading = _cached_reference_reading(reference, percent_as_number)  # the common case
        if reading is not None:
            return [reading]
    if isinstance(reference, dict) and "answer" in reference:
        reference = reference["answer"]
    items = reference if isinstance(reference, list) else [reference]
    if not items:
        raise ValueError("reference answer is an empty list")
    readings: list[Reading] = []
    for item in items:
        reading = _reference_item_reading(item, percent_as_number)
        if reading is None:
            raise ValueError(f"reference answer {show(item)} is not a number")
        readings.append(reading)
    return readings


# --- comparison ---------------------------------------------------------------------------


def _is_infinite(value: Fraction | Decimal | float) -> bool:
    return isinstance(value, Decimal) and not value.is_finite()


def reals_match(
    answer: Fraction | Decimal | float,
    reference: Fraction | Decimal | float,
    tolerances: Tolerances,
) -> bool:
    """Whether two real values are equal under `tolerances` (see the module docstring)."""
    if isinstance(answer, Fraction) and isinstance(reference, Fraction) and tolerances.exact:
        return answer == reference  # the common case: exact, and no tolerance asked for
    if _is_infinite(answer) or _is_infinite(reference):
        return answer == reference
    if isinstance(reference, float):
        try:
            if float(answer) == reference:  # rounds to the reference double
                return True
        except OverflowError:
            pass
    inexact = isinstance(answer, Decimal) or isinstance(reference, Decimal)
    exact_reference = Fraction(reference)
    difference = abs(Fraction(answer) - exact_reference)
    relative = tolerances.relative_inexact if inexact else tolerances.relative
    allowed = max(tolerances.absolute, relative * abs(exact_reference))
    if inexact:
        allowed += EVALUATION_ERROR * max(1, abs(exact_reference))
    return difference <= allowed


def values_match(
    answer: "Value | float", reference: "Value | float", tolerances: Tolerances
) -> bool:
    if isinstance(answer, _REALS) and isinstance(reference, _REALS):
        return reals_match(answer, reference, tolerances)
    from . import math_expr  # already loaded: it made the interval, tuple or set

    return math_expr.equivalent(answer, reference, lambda a, b: reals_match(a, b, tolerances))


def readings_match(
    answer: Reading, reference: Reading, tolerances: Tolerances, percent_as_number: bool
) -> bool:
    if (
        tolerances.exact
        and answer.percent == reference.percent
        and type(answer.value) is Fraction
        and type(reference.value) is Fraction
    ):
        # The common case, in short: Fraction's `==` is Python code with an ABC check, and
        # both are already in lowest terms with a positive denominator.
        a, b = answer.value, reference.value
        return a._numerator == b._numerator and a._denominator == b._denominator  # type: ignore[union-attr]
    if answer.percent != reference.percent and not percent_as_number:
        # A percentage is a proportion: it equals a plain number in [-1, 1] only, so
        # "4200%" is not 42 while "45%" is 0.45.
        plain = reference.value if answer.percent else answer.value
        if not isinstance(plain, _REALS) or abs(plain) > 1:
            return False
    return values_match(answer.value, reference.value, tolerances)


def _exact(number: float) -> Fraction:
    # A JSON number as written: 0.01 is 1/100, not the double nearest to it.
    return Fraction(repr(number)) if isinstance(number, float) else Fraction(number)


def tolerances_from(spec: Mapping[str, Any]) -> Tolerances:
    absolute = _exact(spec.get("tolerance", 0))
    if "relativeTolerance" in spec:
        relative = _exact(spec["relativeTolerance"])
        return Tolerances(absolute, relative, relative, absolute == 0 and relative == 0)
    return Tolerances(absolute, Fraction(0), DEFAULT_RELATIVE_TOLERANCE, absolute == 0)


def build(spec: Mapping[str, Any]) -> Grader:
    """A grader for a spec that `spec_problems` accepted."""
    strategies = tuple(spec.get("extract", STRATEGIES))
    tolerances = tolerances_from(spec)
    percent_as_number: bool = spec.get("percentAsNumber", False)

    # This grader's string references and their readings: one dict lookup per sample, less
    # than the shared cache's call (see MAX_CACHED_REFERENCES). Never mutated once stored.
    known: dict[str, list[Reading]] = {}

    def grade(sample: Sample) -> Checked:
        # The reference first: a bad reference must surface even when the answer is garbage.
        reference = sample.reference
        references = known.get(reference) if type(reference) is str else None
        if references is None:
            references = reference_values(reference, percent_as_number=percent_as_number)
            if type(reference) is str and len(reference) <= MAX_CACHED_REFERENCE_CHARS:
                if len(known) >= MAX_CACHED_REFERENCES:
                    known.clear()
                known[reference] = references
        extracted = False
        outcome: Outcome = None
        for _, text in candidates(sample.answer_text, strategies):
            extracted = True
            # read_answer, one call shallower: this runs per sample
            outcome = _read_number(text, percent_as_number)
            if outcome is None:
                outcome = _read_expression(text)
            if outcome is not None:
                break
        score = 0.0
        if isinstance(outcome, Reading):
            for reference in references:
                if readings_match(outcome, reference, tolerances, percent_as_number):
                    score = 1.0
                    break
        metrics = [
            {"name": METRIC_NAME, "value": score, "type": "Reward"},
            {"name": EXTRACTED_METRIC, "value": float(extracted), "type": "Metric"},
        ]
        if extracted and outcome is None:
            metrics.append({"name": UNPARSEABLE_METRIC, "value": 1.0, "type": "Metric"})
        if outcome is HEDGED:
            metrics.append({"name": HEDGED_METRIC, "value": 1.0, "type": "Metric"})
        return _new_tuple(Checked, (score, metrics))  # Checked(...) at C speed

    return grade
