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

- `ignorePunctuation` keeps the punctuation that belongs to a number (see
  `number_punctuation`): a minus sign, a decimal point, a thousands comma. "-3" is not "3",
  and "3.5" is not "35".
- "contains": the reference must appear as a whole token sequence: an occurrence may not
  start or end inside a word ("York" is not in "Yorkshire") or a number (42 is not in 420,
  4.2, -42 or 1,420). Wide (CJK) characters are tokens of their own, so "北京" is in
  "首都是北京". And when the reference holds numbers, every number in the answer must be
  one of them (by value): listing candidates ("0 1 2 ... 100") earns nothing. Use
  math_answer for worked solutions that mention other numbers.
- A reference alternative that is empty after normalisation (or an empty reference pattern)
  would match every answer: it fails the sample (a data bug; `rftenv validate-data` reports
  empty references).
- Patterns must not backtrack catastrophically (`safe_regex`): `pattern` is checked with the
  spec, a reference pattern when its sample is graded.
"""

import functools
import json
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .contract import Checked, Grader, Sample
from .spec import bool_problems, choice_problems, show, unknown_keys

TYPE = "exact_match"
OPERATIONS = ("eq", "ne", "contains", "regex")
ANSWER_FROM = ("full", "last_line")
BOOL_KEYS = {"caseSensitive": False, "normalizeWhitespace": True, "ignorePunctuation": False}
SPEC_KEYS = ("type", "operation", *BOOL_KEYS, "pattern", "answerFrom")

# Patterns are checked against catastrophic backtracking, and the contract's per-sample time
# budget stops what remains (polynomial blowups); capping the searched text also bounds it.
MAX_REGEX_INPUT_CHARS = 100_000
METRIC_NAME = "exact_match"
# Reference patterns checked and compiled, per (pattern, flags): the several answers to one
# prompt share a reference, so the check runs once for them.
REFERENCE_PATTERN_CACHE = 256

# The punctuation that belongs to a number (see `number_punctuation`), one pattern per mark:
# each starts with its literal, which `re` finds at close to memchr speed, where one pattern
# for all three would test every character against a set (several times slower).
_SIGN = re.compile(r"-(?<!\w-)(?=\.?[0-9])")  # not a hyphen after a word
_POINT = re.compile(r"\.(?=[0-9])(?<![^\W0-9]\.)(?<!\.\.)")  # not after a letter or a point
_COMMA = re.compile(r",(?<=[0-9],)(?=[0-9])")  # between digits only
# Digits, with points and commas among them; sign, leading point and trailing marks are
# dealt with in code (a lookbehind or a lazy tail would backtrack over long runs).
_DIGITS = re.compile(r"[0-9][0-9.,]*")


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
            problems += _pattern_problems(pattern, spec.get("caseSensitive", False))
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


def _pattern_problems(pattern: str, case_sensitive: object) -> list[tuple[str, str]]:
    flags = 0 if case_sensitive is True else re.IGNORECASE
    try:
        re.compile(pattern, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        # Huge repeat counts overflow rather than raise re.error.
        return [("pattern", f"got {show(pattern)}; not a valid regex: {exc}")]
    if not pattern:
        return [("pattern", "got ''; an empty pattern matches every answer")]
    from .safe_regex import backtracking_problem  # only specs with a pattern pay its import

    problem = backtracking_problem(pattern, flags)
    return [("pattern", f"got {show(pattern)}; {problem}")] if problem else []


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


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def number_punctuation(text: str) -> list[int]:
    """The positions of the punctuation in `text` that belongs to a number, ascending:
    - a minus sign: "-" before a digit or a point and a digit, not after a word character
      ("-3", "(-3)", "-.5"; not the hyphen of "3-4" or "x-3");
    - a decimal point or thousands comma: "." or "," between digits ("3.5", "1,234");
    - a leading decimal point: "." before a digit, not after a word character or another
      point (".5", "-.5").
    Digits are ASCII. `is_number_mark` is the same test at one position."""
    found = [m.start() for pattern in (_SIGN, _POINT, _COMMA) for m in pattern.finditer(text)]
    found.sort()
    return found


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"  # ASCII only; False for ""


def is_number_mark(text: str, position: int) -> bool:
    """Whether the character at `position` is punctuation that belongs to a number (see
    `number_punctuation`, which finds them all); O(1)."""
    mark = text[position]
    if mark not in "-.,":
        return False
    before = text[position - 1] if position else " "
    first, second = text[position + 1 : position + 2], text[position + 2 : position + 3]
    if mark == "-":
        return not _is_word_char(before) and (
            _is_digit(first) or (first == "." and _is_digit(second))
        )
    if not _is_digit(first):
        return False
    if mark == ",":
        return _is_digit(before)
    return _is_digit(before) or not (_is_word_char(before) or before == ".")


class PunctuationTable(dict[int, str | None]):
    """A `str.translate` table deleting the characters `is_punctuation` accepts, filled in as
    characters are met: after the first samples every lookup is a plain dict hit in C."""

    def __init__(self, is_punctuation: Callable[[str], bool]) -> None:
        super().__init__()
        self.is_punctuation = is_punctuation
        # The bytes tables `translate` uses for ASCII text, built at the first one.
        self.ascii_tables: tuple[bytes, bytes] | tuple[()] | None = None

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        self[code] = None if self.is_punctuation(ch) else ch
        return self[code]

    def translate(self, text: str) -> str:
        """`text.translate(self)`. An ASCII text goes through a bytes table instead: for the
        short answers graded most often that is several times faster."""
        if not text.isascii():
            return text.translate(self)
        ascii_tables = self.ascii_tables
        if ascii_tables is None:
            ascii_tables = self.ascii_tables = self._ascii_tables()
        if not ascii_tables:
            return text.translate(self)
        table, delete = ascii_tables
        return text.encode("ascii").translate(table, delete).decode("ascii")

    def _ascii_tables(self) -> tuple[bytes, bytes] | tuple[()]:
        """The ASCII part of this table as `bytes.translate` arguments; () when some ASCII
        character maps to anything but one ASCII character or nothing."""
        table, delete = bytearray(range(256)), bytearray()
        for code in range(128):
            value = self[code]
            if value is None:
                delete.append(code)
            elif len(value) == 1 and value.isascii():
                table[code] = ord(value)
            else:
                return ()
        return bytes(table), bytes(delete)


# Stand-ins for the punctuation of numbers while the rest is deleted. ASCII control
# characters: no table deletes them, `str.split` keeps them, and an ASCII text stays ASCII,
# which `str.translate` handles several times faster.
_SIGN_STAND_IN, _POINT_STAND_IN, _COMMA_STAND_IN = "\x01", "\x02", "\x03"


def drop_punctuation(text: str, table: PunctuationTable) -> str:
    """`text` translated with `table`, except the punctuation that belongs to numbers (see
    `number_punctuation`), which stays."""
    if _SIGN_STAND_IN in text or _POINT_STAND_IN in text or _COMMA_STAND_IN in text:
        return _drop_punctuation_around_marks(text, table)
    # In C: each pattern swaps its marks for stand-ins (a stand-in reads like its mark to the
    # next pattern's lookbehinds: neither is a word character), the translate deletes the
    # rest, and the marks go back. `in` and `replace` of one character are memchr scans, far
    # cheaper than a pattern's.
    signs = points = commas = 0
    if "-" in text:
        text, signs = _SIGN.subn(_SIGN_STAND_IN, text)
    if "." in text:
        text, points = _POINT.subn(_POINT_STAND_IN, text)
    if "," in text:
        text, commas = _COMMA.subn(_COMMA_STAND_IN, text)
    text = table.translate(text)
    if signs:
        text = text.replace(_SIGN_STAND_IN, "-")
    if points:
        text = text.replace(_POINT_STAND_IN, ".")
    if commas:
        text = text.replace(_COMMA_STAND_IN, ",")
    return text


def _drop_punctuation_around_marks(text: str, table: PunctuationTable) -> str:
    """`drop_punctuation` for a text holding a stand-in itself: slower, one translate per
    stretch between the marks."""
    pieces: list[str] = []
    start = 0
    for position in number_punctuation(text):
        pieces += (table.translate(text[start:position]), text[position])
        start = position + 1
    pieces.append(table.translate(text[start:]))
    return "".join(pieces)


UNICODE_PUNCTUATION = PunctuationTable(lambda ch: unicodedata.category(ch).startswith("P"))


def normalize(
    text: str, *, case_sensitive: bool, normalize_whitespace: bool, ignore_punctuation: bool
) -> str:
    if not case_sensitive:
        # casefold, not lower: it also equates e.g. "ß" and "ss".
        text = text.casefold()
    if ignore_punctuation:
        # Unicode punctuation (category P*); symbols such as "+" and "$" stay.
        text = drop_punctuation(text, UNICODE_PUNCTUATION)
    if normalize_whitespace:
        text = " ".join(text.split())
    return text


def _joined(text: str, position: int) -> bool:
    """Whether the characters on either side of `position` belong to one token: two word
    characters (unless either is wide: CJK text has no spaces between words), or a number's
    sign, point or comma and a digit it joins."""
    if position <= 0 or position >= len(text):
        return False
    left, right = text[position - 1], text[position]
    if is_number_mark(text, position - 1) or (_is_digit(left) and is_number_mark(text, position)):
        return True  # "-|42", "4.|2", "4|.2", "1|,234"
    return (
        _is_word_char(left)
        and _is_word_char(right)
        and unicodedata.east_asian_width(left) not in "WF"
        and unicodedata.east_asian_width(right) not in "WF"
    )


def _number_key(number: str) -> float | str:
    """A number's value, or its text when it has none (such as "1.2.3", or "3,5", whose
    comma does not group thousands)."""
    integer, _, fraction = number.lstrip("-").partition(".")
    groups = integer.split(",")
    if len(groups) > 1 and (
        "," in fraction or not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])
    ):
        return number
    try:
        return float(number.replace(",", ""))
    except ValueError:
        return number


def _numbers(text: str) -> Iterator[float | str]:
    """The values of the numbers in `text`, in order (shaped as `number_punctuation`
    describes; digits glued to the end of a word, as in "x42", are not a number)."""
    for match in _DIGITS.finditer(text):
        start = match.start()
        if start and _is_word_char(text[start - 1]):
            continue
        if start and is_number_mark(text, start - 1):
            start -= 1  # a sign or a leading point
            if start and text[start] == "." and is_number_mark(text, start - 1):
                start -= 1  # a sign before a leading point: "-.5"
        yield _number_key(text[start : match.end()].rstrip(".,"))


def numbers_in(text: str) -> set[float | str]:
    """The values of the numbers in `text` (see `_numbers`)."""
    return set(_numbers(text))


def contains_tokens(answer: str, reference: str) -> bool:
    """Whether `reference` occurs in `answer` as a whole token sequence (see the module
    docstring); both already normalised and `reference` non-empty. Linear in the answer
    for all but long self-overlapping references."""
    position = answer.find(reference)
    while position >= 0:
        if not _joined(answer, position) and not _joined(answer, position + len(reference)):
            return True
        position = answer.find(reference, position + 1)
    return False


def _contains(answer: str, reference: str) -> bool:
    """`contains_tokens`, and no number in the answer besides the reference's own."""
    if not contains_tokens(answer, reference):
        return False
    wanted = numbers_in(reference)
    # Stops at the first other number: answers that list candidates are rejected quickly.
    return not wanted or all(number in wanted for number in _numbers(answer))


def _result(matched: bool) -> Checked:
    score = 1.0 if matched else 0.0
    return Checked(score, [{"name": METRIC_NAME, "value": score, "type": "Reward"}])


@functools.lru_cache(maxsize=REFERENCE_PATTERN_CACHE)
def _compile_reference(pattern: str, flags: int) -> re.Pattern[str]:
    """A reference used as the pattern; raises (failing that sample only) when it is empty
    (it would match every answer), invalid, or could backtrack catastrophically."""
    if not pattern:
        raise ValueError("reference pattern is empty; it would match every answer")
    from .safe_regex import compile_pattern

    # References are data, not config: a FutureWarning per sample (e.g. "[[") is only log noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return compile_pattern(pattern, flags)


def _normalised_reference(text: str, norm: Callable[[str], str]) -> str:
    normalised = norm(text)
    if not normalised:
        # An empty reference equals only an empty answer and is contained in every answer.
        raise ValueError(
            f"reference answer {text[:40]!r} is empty after normalisation; "
            "it would match any answer"
        )
    return normalised


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

    def grade(sample: Sample) -> Checked:
        answer = norm(select_answer(sample.answer_text, answer_from))
        if operation == "regex":
            text = answer[:MAX_REGEX_INPUT_CHARS]
            if fixed_pattern is not None:
                return _result(fixed_pattern.search(text) is not None)
            # A reference that is empty, not a valid regex or unsafe (safe_regex) raises,
            # which the contract turns into a per-sample grader_error instead of a silent 0.
            patterns = [
                _compile_reference(a, flags) for a in reference_alternatives(sample.reference)
            ]
            return _result(any(p.search(text) for p in patterns))
        alternatives = [
            _normalised_reference(a, norm) for a in reference_alternatives(sample.reference)
        ]
        if operation == "contains":
            matched = any(_contains(answer, a) for a in alternatives)
        else:
            matched = any(a == answer for a in alternatives)
            if operation == "ne":
                matched = not matched
        return _result(matched)

    return grade
