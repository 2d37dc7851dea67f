"""Symbolic answers for `math_answer`: a small parser and evaluator, standard library only.

`math_answer` imports this module only when an answer or a reference is not a plain number,
so a grader that only ever sees numbers never pays for it.

It also finds where an expression around a number in prose begins and ends
(`expression_bounds`), for the last-number scan.

`parse_value` reads a cleaned-up answer ("2\\sqrt{3}", "\\frac{\\pi}{2}", "[0, 1)",
"\\{1, 2\\}", "x = 5") into a value:
- a real number: a `Fraction` when it is exact (integers, decimals, fractions and integer
  powers of them, roots that come out whole such as \\sqrt{16}), else a `Decimal` evaluated
  to `DIGITS` significant digits (\\sqrt{2}, \\pi, e, and anything combined with them);
  `INFINITY` (\\infty, ∞) only as it is or negated;
- an `Interval` (a bracket on either side, or an infinite endpoint), an `OrderedTuple`
  ("(1, 2)", which also equals the open interval (1, 2)), a `FiniteSet` ("\\{1, 2\\}", and a
  bare list "1, 2") or an `IntervalUnion` ("[0, 1) \\cup (2, 3]").

Syntax: numbers, + - * / ^, implicit multiplication ("2\\sqrt{3}", "3(1+2)", "2\\pi"; never
between two numbers, so "42 41" is not 1722), \\frac (and its variants), \\sqrt, \\sqrt[n],
\\pi, e, \\infty, \\cdot, \\times, \\div and their Unicode signs, parentheses, brackets and braces
as grouping, \\emptyset. A single-letter assignment "x = ..." stands for its right-hand side.
Any other letter is a free variable, and an expression with one is not a value; so is
anything else (functions such as \\log, ±, complex numbers). `ExpressionError` says why.
"""

import re
from collections.abc import Callable
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from fractions import Fraction
from typing import NamedTuple, TypeAlias

# Working precision of inexact values; comparisons allow far less than this much error.
DIGITS = 60
_CONTEXT = Context(
    prec=DIGITS, Emax=10_000, Emin=-10_000, traps=[InvalidOperation, DivisionByZero, Overflow]
)
INFINITY = Decimal("Infinity")
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640628621")
_E = _CONTEXT.exp(Decimal(1))

# Bounds that keep hostile input cheap: exact powers stay below this many bits (beyond,
# they are evaluated as Decimals), roots are taken exactly only up to this index, nesting
# stops at this depth, and collections hold at most this many items.
MAX_EXACT_BITS = 10_000
MAX_EXACT_ROOT = 64
MAX_DEPTH = 40
MAX_ITEMS = 64

Real: TypeAlias = Fraction | Decimal


class Interval(NamedTuple):
    lower: Real
    upper: Real
    lower_closed: bool
    upper_closed: bool


class OrderedTuple(NamedTuple):
    items: "tuple[Value, ...]"


class FiniteSet(NamedTuple):
    items: "tuple[Value, ...]"


class IntervalUnion(NamedTuple):
    parts: tuple[Interval, ...]


Value: TypeAlias = Real | Interval | OrderedTuple | FiniteSet | IntervalUnion


class ExpressionError(ValueError):
    """The text is not an expression this module can evaluate to a value."""


_TOKEN_RE = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3}(?![0-9]))?)"
    r"|(?P<command>\\[A-Za-z]+)"
    r"|(?P<escaped>\\[{}])"
    r"|(?P<symbol>[-+*/^()\[\]{},=\u00d7\u00b7\u00f7\u03c0\u03a0\u221a\u221e])"
    r"|(?P<letter>[A-Za-z])"
)
_MULTIPLY = frozenset({"*", "\u00d7", "\u00b7", "\\cdot", "\\times"})
_DIVIDE = frozenset({"/", "\u00f7", "\\div"})
_FRACTIONS = frozenset({"\\frac", "\\dfrac", "\\tfrac", "\\cfrac"})
# Tokens that may start a factor multiplied implicitly ("2\\pi", "3(4)", "\\sqrt2\\sqrt3").
_IMPLICIT_STARTS = frozenset(
    {"(", "{", "π", "Π", "√", "∞", "\\pi", "\\sqrt", "\\infty", *_FRACTIONS}
)
_INFINITIES = frozenset({"\\infty", "∞"})
_EMPTY_SETS = frozenset({"\\emptyset", "\\varnothing"})


class _Token(NamedTuple):
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise ExpressionError(f"unexpected {text[position]!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None  # every alternative is a named group
        if kind != "space":
            tokens.append(_Token(kind, match.group()))
    return tokens


# --- arithmetic ---------------------------------------------------------------------------


def _real(value: Value) -> Real:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ExpressionError("arithmetic with infinity")
        return value
    raise ExpressionError("arithmetic on an interval, tuple or set")


def _decimal(value: Real) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return _CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


def _exact_or_decimal(
    left: Value,
    right: Value,
    exact: Callable[[Fraction, Fraction], Fraction],
    inexact: Callable[[Decimal, Decimal], Decimal],
) -> Real:
    a, b = _real(left), _real(right)
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return exact(a, b)
    return inexact(_decimal(a), _decimal(b))


def _add(left: Value, right: Value) -> Real:
    return _exact_or_decimal(left, right, lambda a, b: a + b, _CONTEXT.add)


def _subtract(left: Value, right: Value) -> Real:
    return _exact_or_decimal(left, right, lambda a, b: a - b, _CONTEXT.subtract)


def _multiply(left: Value, right: Value) -> Real:
    return _exact_or_decimal(left, right, lambda a, b: a * b, _CONTEXT.multiply)


def _divide(left: Value, right: Value) -> Real:
    if _real(right) == 0:
        raise ExpressionError("division by zero")
    return _exact_or_decimal(left, right, lambda a, b: a / b, _CONTEXT.divide)


def _negate(value: Value) -> Value:
    if isinstance(value, Decimal):
        return -value  # infinities too: "-\infty" is an interval endpoint
    return -_real(value)


def _integer_root(n: int, k: int) -> int | None:
    """The k-th root of n >= 0 when it is an integer, else None (Newton's method on ints)."""
    if n < 2:
        return n
    guess = 1 << -(-n.bit_length() // k)  # a power of two at or above the root
    while True:
        better = ((k - 1) * guess + n // guess ** (k - 1)) // k
        if better >= guess:
            return guess if guess**k == n else None
        guess = better


def _root(value: Value, index: int) -> Real:
    """The real `index`-th root; exact when it comes out rational."""
    radicand = _real(value)
    if index < 1:
        raise ExpressionError("a root's index must be a positive integer")
    if radicand < 0:
        if index % 2 == 0:
            raise ExpressionError("an even root of a negative number is not real")
        return _negate(_root(-radicand, index))  # type: ignore[return-value]
    if isinstance(radicand, Fraction) and index <= MAX_EXACT_ROOT:
        numerator = _integer_root(radicand.numerator, index)
        denominator = _integer_root(radicand.denominator, index)
        if numerator is not None and denominator is not None:
            return Fraction(numerator, denominator)
    if radicand == 0:
        return Fraction(0)
    if index == 2:
        return _CONTEXT.sqrt(_decimal(radicand))
    exponent = _CONTEXT.divide(Decimal(1), Decimal(index))
    return _CONTEXT.power(_decimal(radicand), exponent)


def _exact_power_fits(base: Fraction, exponent: int) -> bool:
    size = max(base.numerator.bit_length(), base.denominator.bit_length())
    return size * abs(exponent) <= MAX_EXACT_BITS


def _power(base_value: Value, exponent_value: Value) -> Real:
    base, exponent = _real(base_value), _real(exponent_value)
    if base == 0:
        if exponent > 0:
            return Fraction(0)
        raise ExpressionError("zero to a power that is not positive")
    if isinstance(exponent, Fraction):
        if exponent.denominator == 1:
            whole = exponent.numerator
            if isinstance(base, Fraction) and _exact_power_fits(base, whole):
                return base**whole
            return _CONTEXT.power(_decimal(base), Decimal(whole))
        if exponent.denominator <= MAX_EXACT_ROOT:
            # base^(p/q) = (q-th root of base)^p: exact when the root is.
            return _power(_root(base, exponent.denominator), Fraction(exponent.numerator))
    if base < 0:
        raise ExpressionError("a negative number to an irrational power")
    return _CONTEXT.power(_decimal(base), _decimal(exponent))


# --- parsing ------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.position].text if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        if self.position >= len(self.tokens):
            raise ExpressionError("unexpected end")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ExpressionError(f"expected {text!r}, got {token.text!r}")

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("nested too deeply")

    def answer(self) -> Value:
        # "x = 5": a single-letter assignment stands for its right-hand side.
        if len(self.tokens) > 2 and self.tokens[0].kind == "letter" and self.tokens[1].text == "=":
            self.position = 2
        value = self.collection(closers=())
        if self.position != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.position].text!r}")
        return value

    def items(self, closers: tuple[str, ...]) -> list[Value]:
        """Comma-separated values up to (not including) one of `closers` or the end."""
        items = [self.union()]
        while self.peek() == ",":
            self.take()
            if len(items) >= MAX_ITEMS:
                raise ExpressionError("too many items")
            items.append(self.union())
        if self.peek() is not None and self.peek() not in closers:
            raise ExpressionError(f"unexpected {self.peek()!r}")
        return items

    def collection(self, closers: tuple[str, ...]) -> Value:
        items = self.items(closers)
        return items[0] if len(items) == 1 else FiniteSet(tuple(items))

    def union(self) -> Value:
        value = self.expression()
        if self.peek() != "\\cup":
            return value
        parts = [value]
        while self.peek() == "\\cup":
            self.take()
            parts.append(self.expression())
        # "(2, 3)" is an open interval here, not a tuple.
        intervals = [_as_open_interval(p) if isinstance(p, OrderedTuple) else p for p in parts]
        if not all(isinstance(part, Interval) for part in intervals):
            raise ExpressionError("\\cup joins intervals only")
        return IntervalUnion(tuple(intervals))  # type: ignore[arg-type]

    def expression(self) -> Value:
        if self.peek() in ("+", "-"):
            negative = self.take().text == "-"
            value = self.term()
            if negative:
                value = _negate(value)
        else:
            value = self.term()
        while self.peek() in ("+", "-"):
            operator = self.take().text
            right = self.term()
            value = _add(value, right) if operator == "+" else _subtract(value, right)
        return value

    def term(self) -> Value:
        value = self.factor()
        while True:
            token = self.peek()
            if token in _MULTIPLY:
                self.take()
                value = _multiply(value, self.factor())
            elif token in _DIVIDE:
                self.take()
                value = _divide(value, self.factor())
            elif token in _IMPLICIT_STARTS or self._is_variable_next():
                self._refuse_mixed_number(value)
                value = _multiply(value, self.power())
            else:
                return value

    def _is_variable_next(self) -> bool:
        return self.position < len(self.tokens) and self.tokens[self.position].kind == "letter"

    def _refuse_mixed_number(self, left: Value) -> None:
        # "2\frac{1}{2}" reads as the mixed number 2 1/2 or as 2 x 1/2: refuse to guess.
        # (\frac of other things, as in "2\frac{\pi}{3}", can only be a product.)
        if self.peek() not in _FRACTIONS or self.tokens[self.position - 1].kind != "number":
            return
        shape = "".join(
            "#" if token.kind == "number" else token.text
            for token in self.tokens[self.position + 1 : self.position + 7]
        )
        if isinstance(left, Fraction) and (shape.startswith("{#}{#}") or shape[:1] == "#"):
            raise ExpressionError("a number followed by \\frac of numbers is ambiguous")

    def factor(self) -> Value:
        if self.peek() in ("+", "-"):
            negative = self.take().text == "-"
            self.nested()
            value = self.factor()
            self.depth -= 1
            return _negate(value) if negative else value
        return self.power()

    def power(self) -> Value:
        base = self.primary()
        if self.peek() == "^":
            self.take()
            self.nested()
            exponent = self.factor()
            self.depth -= 1
            return _power(base, exponent)
        return base

    def argument(self) -> Value:
        """A command's argument: a {group}, or a single token ("\\frac12", "\\sqrt2")."""
        if self.peek() == "{":
            self.take()
            self.nested()
            value = self.expression()
            self.depth -= 1
            self.expect("}")
            return value
        token = self.take()
        if token.kind == "number" and len(token.text) > 1 and token.text.isdigit():
            # "\frac12": LaTeX takes one digit; the rest is the next argument.
            self.position -= 1
            self.tokens[self.position] = _Token("number", token.text[1:])
            return Fraction(int(token.text[0]))
        self.position -= 1
        return self.primary()

    def primary(self) -> Value:
        token = self.take()
        if token.kind == "number":
            return _number(token.text)
        text = token.text
        if text in ("(", "["):
            return self.bracketed(text)
        if text in ("{", "\\{"):
            closer = "}" if text == "{" else "\\}"
            self.nested()
            if text == "\\{" and self.peek() == closer:
                value: Value = FiniteSet(())
            else:
                items = self.items((closer,))
                # {a} is LaTeX grouping; \{a\} and {a, b} are sets.
                grouping = text == "{" and len(items) == 1
                value = items[0] if grouping else FiniteSet(tuple(items))
            self.depth -= 1
            self.expect(closer)
            return value
        if text in _FRACTIONS:
            self.nested()
            numerator = self.argument()
            denominator = self.argument()
            self.depth -= 1
            return _divide(numerator, denominator)
        if text == "\\sqrt":
            return self.square_root()
        if text == "√":
            self.nested()
            value = _root(self.power(), 2)
            self.depth -= 1
            return value
        if text in ("\\pi", "π", "Π"):
            return _PI
        if text in _INFINITIES:
            return INFINITY
        if text in _EMPTY_SETS:
            return FiniteSet(())
        if text == "e":
            return _E
        if token.kind == "letter":
            raise ExpressionError(f"free variable {text!r}")
        raise ExpressionError(f"unexpected {text!r}")

    def square_root(self) -> Value:
        index = 2
        self.nested()
        if self.peek() == "[":
            self.take()
            given = self.expression()
            self.expect("]")
            if not (isinstance(given, Fraction) and given.denominator == 1 and given >= 1):
                raise ExpressionError("a root's index must be a positive integer")
            if given > MAX_EXACT_ROOT:
                raise ExpressionError("a root's index is too large")
            index = int(given)
        value = _root(self.argument(), index)
        self.depth -= 1
        return value

    def bracketed(self, opener: str) -> Value:
        self.nested()
        items = self.items((")", "]"))
        closer = self.take().text
        self.depth -= 1
        if len(items) == 1:
            if (opener, closer) in (("(", ")"), ("[", "]")):
                return items[0]  # grouping
            raise ExpressionError("an interval needs two endpoints")
        infinite = any(isinstance(item, Decimal) and not item.is_finite() for item in items)
        if len(items) == 2 and (opener == "[" or closer == "]" or infinite):
            return _interval(items[0], items[1], opener == "[", closer == "]")
        if (opener, closer) in (("(", ")"), ("[", "]")):
            return OrderedTuple(tuple(items))
        raise ExpressionError("mismatched brackets")


def _number(text: str) -> Fraction:
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, decimals = mantissa.partition(".")
    value = Fraction(int(whole or "0") * 10 ** len(decimals) + int(decimals or "0"))
    scale = int(exponent or "0") - len(decimals)
    return value * 10**scale if scale >= 0 else value / 10**-scale


def _interval(lower: Value, upper: Value, lower_closed: bool, upper_closed: bool) -> Interval:
    for endpoint in (lower, upper):
        if not isinstance(endpoint, Fraction | Decimal):
            raise ExpressionError("an interval's endpoints must be numbers")
    assert isinstance(lower, Fraction | Decimal) and isinstance(upper, Fraction | Decimal)
    if lower > upper:
        raise ExpressionError("an interval's lower end is above its upper end")
    # An infinite end is never included, however it was bracketed.
    lower_closed = lower_closed and lower != -INFINITY
    upper_closed = upper_closed and upper != INFINITY
    return Interval(lower, upper, lower_closed, upper_closed)


def parse_value(text: str) -> Value:
    """The value of a cleaned-up answer; raises ExpressionError if it has none."""
    try:
        return _Parser(_tokens(text)).answer()
    except (ArithmeticError, ValueError, RecursionError) as exc:
        # Decimal's signals are ArithmeticErrors; int() of a huge digit string is a
        # ValueError. Either way the text has no value we can compare.
        if isinstance(exc, ExpressionError):
            raise
        raise ExpressionError(f"cannot evaluate: {type(exc).__name__}") from exc


# --- the extent of an expression in prose -------------------------------------------------

# How far an expression around a number reaches each way, and the widest run of spaces it
# crosses (a wider one is layout, not maths).
EXPRESSION_REACH = 120
MAX_GAP = 8
MAX_WORD = 32
_OPERATORS = frozenset("+-*/^\u00d7\u00b7\u00f7")
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")
_MATHS_WORDS = frozenset({"pi", "sqrt", "infinity", "inf"})
# Where an expression around a number ends whatever comes next.
_EXPRESSION_STOPS = frozenset("=:;!?<>\"'\u2264\u2265\u2248")


def _word_at(text: str, index: int) -> tuple[int, int]:
    """The run of letters around text[index] (a letter), up to MAX_WORD letters each way:
    a longer one is prose whatever it holds."""
    start, end = index, index + 1
    while start > 0 and text[start - 1].isalpha() and index - start < MAX_WORD:
        start -= 1
    while end < len(text) and text[end].isalpha() and end - index < MAX_WORD:
        end += 1
    return start, end


def _is_maths_letter(text: str, index: int) -> bool:
    """A letter that can be maths: a single letter ("x"), part of a command ("\\pi") or of
    a spelt-out one ("2 pi"), not a word of prose ("is")."""
    start, end = _word_at(text, index)
    if end - start == 1 or (start > 0 and text[start - 1] == "\\"):
        return True
    return text[start:end].lower() in _MATHS_WORDS


def _continues(text: str, index: int) -> bool:
    """Whether maths goes on through the character at `index` (across a space)."""
    if index < 0 or index >= len(text):
        return False
    char = text[index]
    if char in _OPERATORS or char in _OPENERS or char in _CLOSERS or char in ",\\":
        return True
    if char.isdigit() or char in "\u03c0\u221e\u221a":
        return True
    return char.isalpha() and _is_maths_letter(text, index)


def expression_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The expression around text[start:end]: maths characters, spaces between maths, up
    to a relation or a word of prose, then trimmed to balanced brackets."""
    left, floor = start, max(0, start - EXPRESSION_REACH)
    while left > floor:
        char = text[left - 1]
        if char.isspace():
            before = left - 1
            while before >= 0 and text[before].isspace() and left - before <= MAX_GAP:
                before -= 1
            # Across a space when both sides are maths: "4 \sqrt{2}", "2 + 3", "1, 2"; not
            # between two numbers ("3 4" is two of them), nor across a gap of layout.
            if (
                before < floor
                or text[before].isspace()
                or (text[before].isdigit() and text[left].isdigit())
                or not _continues(text, before)
            ):
                break
            left = before + 1
        elif char in _EXPRESSION_STOPS:
            break
        elif char.isalpha():
            word_start, _ = _word_at(text, left - 1)
            if not _is_maths_letter(text, left - 1):
                break
            left = max(word_start, floor)
        else:
            left -= 1
    right, ceiling = end, min(len(text), end + EXPRESSION_REACH)
    while right < ceiling:
        char = text[right]
        if char.isspace():
            after = right
            while after < len(text) and text[after].isspace() and after - right < MAX_GAP:
                after += 1
            joins = text[right - 1] in _OPERATORS or text[right - 1] in ",([{"
            if (
                after >= ceiling
                or text[after].isspace()
                or not (joins or (_continues(text, after) and not text[after].isdigit()))
            ):
                break
            right = after
        elif char in _EXPRESSION_STOPS:
            break
        elif char.isalpha():
            _, word_end = _word_at(text, right)
            if not _is_maths_letter(text, right):
                break
            right = min(word_end, ceiling)
        else:
            right += 1
    left, right = _balanced(text, left, right, start, end)
    # A comma or full stop at either end joins the expression to the sentence, not to maths.
    while left < start and text[left] in " ,":
        left += 1
    while right > end and text[right - 1] in " ,.;":
        right -= 1
    return left, right


def _balanced(text: str, left: int, right: int, start: int, end: int) -> tuple[int, int]:
    """Narrow text[left:right] around text[start:end] until its brackets pair up."""
    openers: list[int] = []
    for index in range(left, right):
        char = text[index]
        if char in _OPENERS:
            openers.append(index)
        elif char in _CLOSERS:
            if openers:
                openers.pop()
            elif index >= end:
                right = index  # "(which is 42)": the ")" closes a bracket outside
                break
            else:
                left = index + 1
    for index in openers:
        if index < right:
            if index < start:
                left = max(left, index + 1)
            else:
                right = min(right, index)
    return left, right


# --- equivalence --------------------------------------------------------------------------


def equivalent(
    answer: Value | float, reference: Value | float, reals_match: Callable[[Real, Real], bool]
) -> bool:
    """Whether two values are equal: reals by `reals_match` (which owns the tolerances),
    intervals by endpoints and openness, tuples in order, sets and unions in any order. A
    tuple of two equals the open interval with those ends: "(1, 2)" is both."""

    def same(a: Value | float, b: Value | float) -> bool:
        return equivalent(a, b, reals_match)

    if isinstance(answer, Fraction | Decimal | float) or isinstance(
        reference, Fraction | Decimal | float
    ):
        both_real = isinstance(answer, Fraction | Decimal | float) and isinstance(
            reference, Fraction | Decimal | float
        )
        return both_real and reals_match(answer, reference)  # type: ignore[arg-type]
    if isinstance(answer, OrderedTuple) and len(answer.items) == 2:
        answer = _as_open_interval(answer)
    if isinstance(reference, OrderedTuple) and len(reference.items) == 2:
        reference = _as_open_interval(reference)
    if isinstance(answer, Interval) and isinstance(reference, Interval):
        return (
            answer.lower_closed == reference.lower_closed
            and answer.upper_closed == reference.upper_closed
            and reals_match(answer.lower, reference.lower)
            and reals_match(answer.upper, reference.upper)
        )
    if isinstance(answer, OrderedTuple) and isinstance(reference, OrderedTuple):
        return len(answer.items) == len(reference.items) and all(
            same(a, b) for a, b in zip(answer.items, reference.items, strict=True)
        )
    if isinstance(answer, FiniteSet | IntervalUnion) and type(answer) is type(reference):
        mine, theirs = answer[0], reference[0]  # the items or the parts
        return all(any(same(a, b) for b in theirs) for a in mine) and all(
            any(same(a, b) for a in mine) for b in theirs
        )
    return False


def _as_open_interval(pair: OrderedTuple) -> Value:
    lower, upper = pair.items
    reals = isinstance(lower, Fraction | Decimal) and isinstance(upper, Fraction | Decimal)
    if reals and lower <= upper:  # type: ignore[operator]
        return Interval(lower, upper, False, False)  # type: ignore[arg-type]
    return pair
