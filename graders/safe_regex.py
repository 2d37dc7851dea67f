"""Refuse regular expressions that can backtrack exponentially (ReDoS).

Python's `re` is a backtracking engine: `^(a+)+$` against "a" * 28 + "b" tries every way of
splitting the a's between the two repeats, about 2**28 of them (15 s), and a grader that
stalls times the Lambda out, which scores the whole batch 0. Patterns reach the graders
from specs (`format.requiredPatterns`, `json_format`'s `pattern`, `exact_match`'s
`pattern`) and from data (`exact_match` with `operation: regex` uses the reference).

The check reads the parsed pattern (`re._parser`, the parser `re.compile` itself runs) and
refuses a repeat of unbounded (or large) count whose body can match the same text in more
than one way, the shape behind exponential backtracking:
- the body can match empty text: `(a*)*`;
- text the body can end with could also start its next round: `(a+)+`, `(\\w+\\s?)*`;
- inside the body, a repeat is followed by something that can match what the repeat
  matches: `(.*a){20}`, `(\\d+\\d+)*`;
- the body holds alternatives that can match alike: `(a|a)*` (which the parser folds into
  `a(?:|)`), `(?:a|aa)+`.

It is conservative: it compares which characters can meet, not whole strings, so it may
refuse a pattern that is in fact safe, and it says why so the pattern can be rewritten (a
possessive `a++` or an atomic group `(?>...)` never backtracks and is accepted).
Polynomial blowups, such as `\\d+\\d+x` searched in a long run of digits, are not refused
here; the per-sample time budget of `contract` stops those.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from re import _constants as sre  # type: ignore[attr-defined]  # re's own parser tables
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

CharTest = Callable[[str], bool]

# A bounded repeat with at most this many rounds cannot blow up exponentially in practice.
MAX_SAFE_ROUNDS = 8
# Characters that stand for each class of character when two sets are compared for overlap
# (with every literal and range end the pattern mentions).
_REPRESENTATIVES = "09aZz_ \t\n\r!,.-+/\\'\"(){}[]<>$%é中\u00a0"
_CATEGORIES: dict[Any, re.Pattern[str]] = {
    sre.CATEGORY_DIGIT: re.compile(r"\d"),
    sre.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre.CATEGORY_SPACE: re.compile(r"\s"),
    sre.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    sre.CATEGORY_WORD: re.compile(r"\w"),
    sre.CATEGORY_NOT_WORD: re.compile(r"\W"),
    sre.CATEGORY_LINEBREAK: re.compile(r"\n"),
    sre.CATEGORY_NOT_LINEBREAK: re.compile(r"[^\n]"),
}
_REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT})


class UnsafePatternError(ValueError):
    """A pattern that could backtrack exponentially; the message says why."""


def _any_char(_: str) -> bool:
    return True


def _set_test(items: list[tuple[Any, Any]]) -> CharTest:
    """The test of one `[...]` class."""
    negate = bool(items) and items[0][0] is sre.NEGATE
    members = items[1:] if negate else items

    def member(char: str) -> bool:
        code = ord(char)
        for op, av in members:
            if op is sre.LITERAL and code == av:
                return True
            if op is sre.RANGE and av[0] <= code <= av[1]:
                return True
            if op is sre.CATEGORY and (
                av not in _CATEGORIES or _CATEGORIES[av].match(char) is not None
            ):
                return True
        return False

    return (lambda char: not member(char)) if negate else member


def _char_test(op: Any, av: Any) -> CharTest | None:
    """The test of a one-character item, or None for an item that is not one."""
    if op is sre.LITERAL:
        return lambda char: ord(char) == av
    if op is sre.NOT_LITERAL:
        return lambda char: ord(char) != av
    if op is sre.ANY:
        return _any_char
    if op is sre.IN:
        return _set_test(list(av))
    return None


def _children(op: Any, av: Any) -> Iterator[Any]:
    """The sub-patterns directly inside one item."""
    if op in _REPEATS or op is sre.POSSESSIVE_REPEAT:
        yield av[2]
    elif op is sre.SUBPATTERN:
        yield av[3]
    elif op is sre.ATOMIC_GROUP:
        yield av
    elif op is sre.BRANCH:
        yield from av[1]
    elif op in (sre.ASSERT, sre.ASSERT_NOT):
        yield av[1]
    elif op is sre.GROUPREF_EXISTS:
        yield av[1]
        if av[2] is not None:
            yield av[2]


def _first(seq: Iterable[tuple[Any, Any]]) -> tuple[list[CharTest], bool]:
    """The tests of the characters `seq` can start with, and whether it can match empty."""
    tests: list[CharTest] = []
    for op, av in seq:
        item_tests, nullable = _first_of_item(op, av)
        tests += item_tests
        if not nullable:
            return tests, False
    return tests, True


def _first_of_item(op: Any, av: Any) -> tuple[list[CharTest], bool]:
    test = _char_test(op, av)
    if test is not None:
        return [test], False
    if op is sre.AT or op in (sre.ASSERT, sre.ASSERT_NOT):
        return [], True  # zero width
    if op in _REPEATS or op is sre.POSSESSIVE_REPEAT:
        tests, nullable = _first(av[2])
        return tests, nullable or av[0] == 0
    if op in (sre.SUBPATTERN, sre.ATOMIC_GROUP, sre.BRANCH, sre.GROUPREF_EXISTS):
        tests, nullable = [], False
        branches = list(_children(op, av))
        for branch in branches:
            branch_tests, branch_nullable = _first(branch)
            tests += branch_tests
            nullable = nullable or branch_nullable
        if op is sre.GROUPREF_EXISTS and av[2] is None:
            nullable = True
        return tests, nullable
    # A backreference (or anything else) can be any text, empty included.
    return [_any_char], True


def _all_chars(seq: Iterable[tuple[Any, Any]]) -> list[CharTest]:
    """The tests of every character `seq` can match anywhere."""
    tests: list[CharTest] = []
    for op, av in seq:
        test = _char_test(op, av)
        if test is not None:
            tests.append(test)
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue
        elif op is sre.GROUPREF:
            tests.append(_any_char)
        else:
            for child in _children(op, av):
                tests += _all_chars(child)
    return tests


def _variable_chars(op: Any, av: Any) -> list[CharTest] | None:
    """The characters an item can take back when it matches text of varying length: a
    repeat of varying width, or an alternation of branches of different widths. None for
    an item of fixed width."""
    if op in _REPEATS:
        low, high = av[2].getwidth()
        if av[0] != av[1] or low != high:
            return _all_chars(av[2])
        return None
    if op is sre.BRANCH and len({branch.getwidth() for branch in av[1]}) > 1:
        # What a longer branch matches beyond the shortest one's length is what the
        # alternation can hand to the text after it.
        shortest = min(branch.getwidth()[0] for branch in av[1])
        tests: list[CharTest] = []
        for branch in av[1]:
            chars = [_char_test(item_op, item_av) for item_op, item_av in branch]
            if None in chars:
                tests += _all_chars(branch)
            else:
                tests += [test for test in chars[shortest:] if test is not None]
        return tests
    return None


def _trailing_variable_chars(seq: list[tuple[Any, Any]]) -> list[CharTest]:
    """The characters that repeats at the end of `seq` can give back to what follows."""
    tests: list[CharTest] = []
    for op, av in reversed(seq):
        variable = _variable_chars(op, av)
        if variable is not None:
            tests += variable
        if op in (sre.SUBPATTERN, sre.BRANCH):
            for child in _children(op, av):
                tests += _trailing_variable_chars(list(child))
        if not _first_of_item(op, av)[1]:
            break
    return tests


class _Checker:
    def __init__(self, alphabet: str, ignore_case: bool) -> None:
        self.alphabet = alphabet
        self.ignore_case = ignore_case

    def overlap(self, left: list[CharTest], right: list[CharTest]) -> bool:
        """Whether some character passes a test of each list."""
        for char in self.alphabet:
            variants = {char, char.lower(), char.upper()} if self.ignore_case else {char}
            if any(test(c) for test in left for c in variants) and any(
                test(c) for test in right for c in variants
            ):
                return True
        return False

    def problem(self, seq: Any) -> str | None:
        """The first problem in `seq` and everything inside it."""
        for op, av in seq:
            if (op in _REPEATS) and (av[1] is sre.MAXREPEAT or av[1] > MAX_SAFE_ROUNDS):
                found = self.repeat_problem(list(av[2]))
                if found:
                    return found
            for child in _children(op, av):
                found = self.problem(child)
                if found:
                    return found
        return None

    def repeat_problem(self, body: list[tuple[Any, Any]]) -> str | None:
        first, nullable = _first(body)
        if nullable:
            return "a repeated group can match empty text"
        if self.overlap(_trailing_variable_chars(body), first):
            return "a repeat inside a repeat can split the same text in many ways"
        found = self.adjacent_problem(body)
        if found:
            return found
        for branches in _alternations(body):
            for index, left in enumerate(branches):
                for right in branches[index + 1 :]:
                    if self.branches_ambiguous(list(left), list(right)):
                        return "a repeated alternation has branches that can match alike"
        return None

    def adjacent_problem(self, seq: list[tuple[Any, Any]]) -> str | None:
        """A varying repeat followed, inside the same repeated body, by what can match it."""
        for index, (op, av) in enumerate(seq):
            variable = _variable_chars(op, av)
            if variable is not None:
                follow, _ = _first(seq[index + 1 :])
                if self.overlap(variable, follow):
                    return "inside a repeat, a repeat is followed by text it can also match"
            if op is not sre.ATOMIC_GROUP and op is not sre.POSSESSIVE_REPEAT:
                for child in _children(op, av):
                    found = self.adjacent_problem(list(child))
                    if found:
                        return found
        return None

    def branches_ambiguous(self, left: list[tuple[Any, Any]], right: list[tuple[Any, Any]]) -> bool:
        left_first, left_nullable = _first(left)
        right_first, right_nullable = _first(right)
        if left_nullable and right_nullable:
            return True
        if not self.overlap(left_first, right_first):
            return False
        left_chars = [_char_test(op, av) for op, av in left]
        right_chars = [_char_test(op, av) for op, av in right]
        if None in left_chars or None in right_chars:
            return True  # not plain characters: assume the worst
        # Fixed runs of single characters: alike if each position of the shorter can match
        # the same character as the longer's.
        return all(
            self.overlap([a], [b])
            for a, b in zip(left_chars, right_chars, strict=False)
            if a is not None and b is not None
        )


def _alternations(seq: Any) -> Iterator[list[Any]]:
    """The branches of every alternation in `seq` that can backtrack (not atomic)."""
    for op, av in seq:
        if op is sre.BRANCH:
            yield list(av[1])
        if op is not sre.ATOMIC_GROUP and op is not sre.POSSESSIVE_REPEAT:
            for child in _children(op, av):
                yield from _alternations(child)


def _alphabet(seq: Any) -> str:
    """The representative characters plus every literal and range end in the pattern."""
    chars = set(_REPRESENTATIVES)
    stack = [seq]
    while stack:
        for op, av in stack.pop():
            if op in (sre.LITERAL, sre.NOT_LITERAL):
                chars.add(chr(av))
            elif op is sre.IN:
                for item_op, item_av in av:
                    if item_op is sre.LITERAL:
                        chars.add(chr(item_av))
                    elif item_op is sre.RANGE:
                        chars.update(chr(code) for code in (item_av[0], item_av[1]))
            stack.extend(_children(op, av))
    return "".join(sorted(chars))


def backtracking_problem(pattern: str, flags: int = 0) -> str | None:
    """Why `pattern` could backtrack exponentially, or None when it is safe. A pattern that
    does not compile gets the compiler's message."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    except RecursionError:
        return "not a valid regular expression: nested too deeply"
    ignore_case = bool(parsed.state.flags & re.IGNORECASE) or "(?i" in pattern
    checker = _Checker(_alphabet(parsed), ignore_case)
    found = checker.problem(parsed)
    if found is None:
        return None
    return (
        f"{found}, so matching can take exponential time (a catastrophic-backtracking "
        "pattern); rewrite it without nested or overlapping repeats, or make the inner "
        "repeat possessive (a++) or atomic ((?>...))"
    )


def compile_pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`re.compile(pattern, flags)` for a pattern that passes `backtracking_problem`."""
    found = backtracking_problem(pattern, flags)
    if found is not None:
        raise UnsafePatternError(f"pattern {pattern[:80]!r} refused: {found}")
    return re.compile(pattern, flags)
