"""The built-in `text_similarity` grader: a graded (0..1) similarity of answer and reference.

Spec (JSON object, camelCase keys):
- `type`: "text_similarity" (required)
- `metric`: "token_f1" (default) | "rouge_l" | "fuzzy_ratio"
- `caseSensitive`: bool, default false (otherwise text is casefolded)
- `normalizeWhitespace`: bool, default true (collapse whitespace runs, strip the ends); only
  affects "fuzzy_ratio": the token metrics split on whitespace anyway
- `answerFrom`: "full" (default) | "last_line" (the last non-empty line of the answer)
- `threshold`: number in [0, 1], optional; when set the score is binary: 1.0 if the
  similarity is >= threshold, else 0.0
- `reportAll`: bool, default false; also report the two other measures as metrics

Measures:
- "token_f1": SQuAD-style F1. Text is casefolded (unless caseSensitive), punctuation (Unicode
  punctuation and ASCII `string.punctuation`) is deleted except what belongs to a number (a
  minus sign, a decimal point, a thousands comma: "-42" is not "42", "3.5" is not "35"; see
  `exact_match.number_punctuation`), the text is split on whitespace and the tokens "a",
  "an" and "the" are dropped; F1 of the multiset overlap.
- "rouge_l": ROUGE-L F-measure (beta = 1) of the longest common token subsequence, with the
  token_f1 tokens except that articles are kept (as standard ROUGE does).
- "fuzzy_ratio": `difflib.SequenceMatcher(None, answer, reference, autojunk=False).ratio()`
  on the text after case and whitespace normalisation.
A reference alternative that normalises to no tokens ("The", "...") is compared on fewer
normalisations, the same for the answer: first with articles kept, then on the plain
(casefolded) whitespace-separated words; otherwise an empty answer would match it with 1.0.
Only a reference with no words at all (empty or whitespace) gives 1.0 to an empty answer;
when one side has no tokens and the other has some, the similarity is 0.0.

Metrics: the chosen measure as a "Reward" named after it (holding the score, so binary with a
threshold); with reportAll the other two measures' similarities as "Metric"; and, whenever
fuzzy_ratio is computed, `fuzzy_ratio_partial` (see below).

The reference answer becomes text alternatives exactly as for exact_match (a list means "any
of these"); each measure is the best over the alternatives, independently of the others.

Bounded cost per sample:
- fuzzy_ratio compares at most MAX_FUZZY_CHARS (3,000) characters of each side, and all
  fuzzy comparisons of one sample share FUZZY_WORK_BUDGET units of matching work.
  SequenceMatcher is cubic in the worst case (e.g. "aaaa..." against "abab..."), so when the
  budget runs out the ratio counts only the matches found so far: a lower bound, never an
  inflated score. The `fuzzy_ratio_partial` metric is 1.0 when that happened.
- rouge_l compares at most MAX_LCS_TOKENS (10,000) tokens of each side (bit-parallel LCS).
- token_f1 is linear in the text length and needs no cap.
Text beyond a cap is ignored.
"""

import difflib
import functools
import itertools
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .contract import Checked, Grader, Sample
from .exact_match import (
    PunctuationTable,
    drop_punctuation,
    normalize,
    reference_alternatives,
    select_answer,
)
from .spec import bool_problems, choice_problems, show, unknown_keys

TYPE = "text_similarity"
METRICS = ("token_f1", "rouge_l", "fuzzy_ratio")
ANSWER_FROM = ("full", "last_line")
BOOL_KEYS = {"caseSensitive": False, "normalizeWhitespace": True, "reportAll": False}
SPEC_KEYS = ("type", "metric", *BOOL_KEYS, "answerFrom", "threshold")

# Measured on English prose: 3,000-char texts cost at most ~6M units (~0.2 s), so ordinary
# text never runs out; degenerate repetitive text can cost ~0.1 us a unit, so ~1 s at most.
# (Without the budget "a" * 3000 against "ab" * 1500 takes minutes.) For long texts use
# rouge_l, which scales far better.
MAX_FUZZY_CHARS = 3_000
FUZZY_WORK_BUDGET = 10_000_000
# Bit-parallel LCS costs about len(a) * len(b) / 64 word operations: ~25 ms at this size.
MAX_LCS_TOKENS = 10_000
# A word longer than this around a number is looked at through the number-aware text instead.
MAX_WORD_CHARS = 200
# A longer reference (case-insensitive) is counted token by token in the answer; past this
# many words, counting every answer token once is cheaper.
MAX_COUNTED_REFERENCE_WORDS = 32
# Normalised references kept, per (alternatives, caseSensitive): the several answers to one
# prompt share a reference, so it is normalised once for them. Only references up to
# MAX_CACHED_REFERENCE_CHARS are kept, which bounds the cache to under 10 MB.
REFERENCE_CACHE = 256
MAX_CACHED_REFERENCE_CHARS = 2_000
PARTIAL_METRIC = "fuzzy_ratio_partial"
ARTICLES = frozenset({"a", "an", "the"})
_ASCII_DIGIT = re.compile(r"[0-9]")


def _is_threshold(value: object) -> bool:
    # bool is a number in Python but `threshold: true` is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value <= 1


def spec_problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with a text_similarity spec as `(key_path, message)`; [] when valid."""
    problems = unknown_keys(spec, SPEC_KEYS)

    if spec.get("type") != TYPE:
        problems.append(("type", f"got {show(spec.get('type'))}; allowed: {TYPE}"))
    problems += choice_problems(spec, "metric", METRICS)
    problems += choice_problems(spec, "answerFrom", ANSWER_FROM)
    problems += bool_problems(spec, BOOL_KEYS)
    if "threshold" in spec and not _is_threshold(spec["threshold"]):
        problems.append(
            ("threshold", f"got {show(spec['threshold'])}; allowed: a number from 0 to 1")
        )

    # Like exact_match's stray `pattern`: an option that would be silently ignored hides a
    # mistake. With reportAll the fuzzy_ratio metric does use it.
    metric = spec.get("metric", "token_f1")
    if (
        "normalizeWhitespace" in spec
        and metric != "fuzzy_ratio"
        and spec.get("reportAll") is not True
    ):
        problems.append(
            (
                "normalizeWhitespace",
                f"only used by metric 'fuzzy_ratio' (or with reportAll); metric is {show(metric)}",
            )
        )
    return problems


# --- token measures -------------------------------------------------------------------------


def _is_punctuation(ch: str) -> bool:
    # ASCII string.punctuation includes symbols like "+" and "$" that SQuAD also strips.
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


_DROP_PUNCTUATION = PunctuationTable(_is_punctuation)


def tokens(
    text: str, *, case_sensitive: bool, drop_articles: bool, numbers: bool = True
) -> list[str]:
    """The tokens the token measures compare (see the module docstring); see `_words` for
    `numbers`."""
    words = _words(text, case_sensitive, numbers)
    if drop_articles:
        # Articles are matched case-insensitively even when caseSensitive: "The" is an article.
        if case_sensitive:
            words = [w for w in words if w.casefold() not in ARTICLES]
        else:
            words = [w for w in words if w not in ARTICLES]
    return words


def _f_measure(common: int, len_a: int, len_b: int) -> float:
    if len_a == 0 and len_b == 0:
        return 1.0
    # 2PR/(P+R) with P = common/len_a and R = common/len_b simplifies to this; computing it
    # directly keeps identical inputs at exactly 1.0.
    return 2 * common / (len_a + len_b)


def _words(text: str, case_sensitive: bool, numbers: bool = True) -> list[str]:
    """token_f1's words of `text` before articles are dropped (see `tokens`). With `numbers`
    false, the punctuation of numbers is deleted too: that changes only tokens with digits
    (into tokens with digits) and never their count, so it gives the same similarity against
    a reference without digits, and skips a scan of the answer."""
    if not case_sensitive:
        text = text.casefold()
    if numbers:
        return drop_punctuation(text, _DROP_PUNCTUATION).split()
    return _DROP_PUNCTUATION.translate(text).split()


def _any_digit(texts: Sequence[str]) -> bool:
    """Whether any of `texts` (reference alternatives: short) holds an ASCII digit."""
    return any(_ASCII_DIGIT.search(text) for text in texts)


def _plain_words(text: str, case_sensitive: bool) -> list[str]:
    """The whitespace-separated words of `text`, casefolded unless case_sensitive: what a
    reference with no tokens after normalisation is compared on."""
    return (text if case_sensitive else text.casefold()).split()


def _has_content(words: Sequence[str], case_sensitive: bool) -> bool:
    """Whether `words` keep a token once articles are dropped."""
    if case_sensitive:
        return any(word.casefold() not in ARTICLES for word in words)
    return any(word not in ARTICLES for word in words)


@dataclass(frozen=True, slots=True)
class TokenReference:
    """One alternative's token_f1 words, as `best_token_f1` compares them."""

    text: str
    words: tuple[str, ...]
    has_content: bool  # a token is left once articles are dropped
    # With has_content, case-insensitive and short: the token counts SpacedTokens compares.
    counts: tuple[tuple[str, int], ...] | None


def token_references(
    alternatives: tuple[str, ...], case_sensitive: bool
) -> tuple[tuple[TokenReference, ...], bool]:
    """The alternatives' token_f1 words, and whether any holds an ASCII digit (see `_words`
    for what that changes); cached for short references."""
    if sum(map(len, alternatives)) <= MAX_CACHED_REFERENCE_CHARS:
        return cached_token_references(alternatives, case_sensitive)
    return _token_references(alternatives, case_sensitive)


def _token_references(
    alternatives: tuple[str, ...], case_sensitive: bool
) -> tuple[tuple[TokenReference, ...], bool]:
    references = []
    for alternative in alternatives:
        words = tuple(_words(alternative, case_sensitive))
        has_content = _has_content(words, case_sensitive)
        counts = None
        if has_content and not case_sensitive and len(words) <= MAX_COUNTED_REFERENCE_WORDS:
            counts = tuple(reference_counts(words).items())
        references.append(TokenReference(alternative, words, has_content, counts))
    return tuple(references), _any_digit(alternatives)


cached_token_references = functools.lru_cache(maxsize=REFERENCE_CACHE)(_token_references)


def best_token_f1(answer: str, alternatives: list[str], case_sensitive: bool) -> float:
    """token_f1 of `answer` against its best alternative. An alternative with no tokens is
    compared with articles kept, then on plain words (see the module docstring)."""
    references, numbers = token_references(tuple(alternatives), case_sensitive)
    answer_words: list[str] | SpacedTokens | None = None
    best = 0.0
    for reference in references:
        if reference.counts is not None:
            if not isinstance(answer_words, SpacedTokens):
                answer_words = SpacedTokens(answer, numbers=numbers)
            f1 = answer_words.f1_of_counts(reference.counts)
        elif reference.has_content:
            if not isinstance(answer_words, list):
                answer_words = _words(answer, case_sensitive, numbers)
            f1 = token_f1(
                [w for w in answer_words if w.casefold() not in ARTICLES],
                [w for w in reference.words if w.casefold() not in ARTICLES],
            )
        elif reference.words:  # only articles: compare with articles kept
            f1 = token_f1(_words(answer, case_sensitive), reference.words)
        else:
            f1 = token_f1(
                _plain_words(answer, case_sensitive),
                _plain_words(reference.text, case_sensitive),
            )
        best = max(best, f1)
        if best >= 1.0:
            break
    return best


def best_rouge_l(answer: str, alternatives: list[str], case_sensitive: bool) -> float:
    """rouge_l of `answer` against its best alternative; an alternative with no tokens is
    compared on plain words (see the module docstring)."""

    answer_tokens: list[str] | None = None
    best = 0.0
    for alternative in alternatives:
        reference = tokens(alternative, case_sensitive=case_sensitive, drop_articles=False)
        if reference:
            if answer_tokens is None:
                answer_tokens = tokens(
                    answer,
                    case_sensitive=case_sensitive,
                    drop_articles=False,
                    numbers=_any_digit(alternatives),
                )
            similarity = rouge_l(answer_tokens, reference)
        else:
            similarity = rouge_l(
                _plain_words(answer, case_sensitive), _plain_words(alternative, case_sensitive)
            )
        best = max(best, similarity)
        if best >= 1.0:
            break
    return best


class _SpacingTable(PunctuationTable):
    """token_f1's punctuation table that also turns every whitespace character (what
    `str.split` splits on) into a plain space."""

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        self[code] = " " if ch.isspace() else (None if self.is_punctuation(ch) else ch)
        return self[code]


_SPACING = _SpacingTable(_is_punctuation)
# Each article, as SpacedTokens counts it, and twice in a row (see `SpacedTokens.count`).
_SPACED_ARTICLES = tuple(
    (article, f" {article} ", f" {article} {article} ") for article in ARTICLES
)


# Every ASCII byte but the space becomes "x": a token then starts at each " x".
_TOKEN_STARTS = bytes(ord(" ") if code == ord(" ") else ord("x") for code in range(256))


def _spaced(text: str) -> tuple[str, int]:
    """`text` (whitespace already turned into spaces) between two spaces, and how many
    tokens it holds. Runs of spaces are left alone: counting a token finds it between any
    spaces. For ASCII text the tokens are counted as the starts of runs of non-spaces, in
    C; otherwise the runs are squeezed first."""
    if not text.strip(" "):
        return "", 0
    if text.isascii():
        marks = f" {text}".encode("ascii").translate(_TOKEN_STARTS)
        return f" {text} ", marks.count(b" x")
    text = text.strip(" ")
    while "  " in text:
        text = text.replace("  ", " ")
    return f" {text} ", text.count(" ") + 1


def _count_in(spaced: str, token: str) -> int:
    """How often `token` is a token of `spaced` (tokens between spaces, and one at each
    end). `str.count` misses every other one of equal neighbours parted by one space
    (" 5 5 " holds " 5 " once: matches do not overlap), so then a zero-width-context
    pattern counts."""
    found = spaced.count(f" {token} ")
    if found and f" {token} {token} " in spaced:
        return len(re.findall(f"(?<= ){re.escape(token)}(?= )", spaced))
    return found


class SpacedTokens:
    """A casefolded answer's token_f1 tokens, counted without splitting it: a 4 KB answer
    has about 800 tokens, and building a string object for each costs more than the rest
    of the grading. Its text holds the tokens separated by single spaces, so a token's
    count is one C-speed `str.count` of " token ". That count misses every other one of
    equal neighbours (" 5 5 " holds " 5 " once, not overlapping), so when a token follows
    itself the count is taken with a zero-width-context pattern instead."""

    # Up to this many characters, a number-aware answer is read in one pass (measured: the
    # break-even of the two ways is near 1,000 characters).
    whole_pass_chars = 1_000

    def __init__(self, answer: str, *, numbers: bool) -> None:
        casefolded = answer.casefold()
        # The tokens with every punctuation mark deleted. Keeping a number's sign, point and
        # commas changes only tokens with digits, into tokens with digits, and never their
        # number; so this text gives the length and the count of every word without a
        # digit, and the number-aware text (three regex scans of the whole answer) is only
        # made when a word with digits cannot be counted around its occurrences.
        self._number_aware: str | None = None
        if numbers and len(casefolded) <= self.whole_pass_chars:
            # Short: one number-aware pass costs less than looking around each number.
            self.spaced, words = _spaced(drop_punctuation(casefolded, _SPACING))
            self._casefolded = None
        else:
            self.spaced, words = _spaced(_SPACING.translate(casefolded))
            self._casefolded = casefolded if numbers else None
        # Articles dropped: the number of tokens token_f1 compares. `count`, unrolled: this
        # runs for every answer.
        articles = 0
        for article, spaced, doubled in _SPACED_ARTICLES:
            found = self.spaced.count(spaced)
            articles += self._plain_count(article) if found and doubled in self.spaced else found
        self.length = words - articles

    def _plain_count(self, token: str) -> int:
        return _count_in(self.spaced, token)

    def count(self, token: str) -> int:
        if self._casefolded is None or not _ASCII_DIGIT.search(token):
            return self._plain_count(token)
        plain = _SPACING.translate(token)
        if not self._plain_count(plain):  # no word reads as it even without number rules
            return 0
        found = self._count_around(token, plain)
        if found is not None:
            return found
        if self._number_aware is None:
            self._number_aware = _spaced(drop_punctuation(self._casefolded, _SPACING))[0]
        return _count_in(self._number_aware, token)

    def _count_around(self, token: str, plain: str) -> int | None:
        """How many answer tokens read as `token` once number-aware, found by looking at
        the whitespace-separated word around each place where `plain`'s characters stand
        with nothing but symbols between them: every word whose plain form is `plain`
        (the only ones that can read as `token`) is among those. None when a word is too
        long to look at."""
        text = self._casefolded
        assert text is not None
        pattern = _spread_pattern(plain)
        matched = 0
        found = pattern.search(text)
        while found is not None:
            start, end = found.span()
            while start > 0 and not text[start - 1].isspace():
                start -= 1
                if found.start() - start > MAX_WORD_CHARS:
                    return None
            while end < len(text) and not text[end].isspace():
                end += 1
                if end - found.end() > MAX_WORD_CHARS:
                    return None
            matched += drop_punctuation(text[start:end], _SPACING) == token
            found = pattern.search(text, end)
        return matched

    def f1(self, reference: Sequence[str]) -> float:
        """token_f1 against the (casefolded) reference words, articles dropped on both
        sides, as `token_f1` of the two token lists gives it."""
        return self.f1_of_counts(reference_counts(reference).items())

    def f1_of_counts(self, reference: Iterable[tuple[str, int]]) -> float:
        """`f1` of the reference given as `reference_counts(words).items()`."""
        common = total = 0
        for word, n in reference:
            common += min(n, self.count(word))
            total += n
        return _f_measure(common, self.length, total)


@functools.lru_cache(maxsize=256)
def _spread_pattern(plain: str) -> re.Pattern[str]:
    """`plain`'s characters with any run of characters that are neither spaces nor ASCII
    letters or digits between them: where a word whose punctuation is deleted reads as
    `plain` can stand (a superset: each word found is checked). No two parts of it can
    match the same character, so it runs in linear time."""
    between = r"[^\s0-9a-z]*"
    return re.compile(between.join(map(re.escape, plain)))


def reference_counts(words: Sequence[str]) -> dict[str, int]:
    """How often each of the (casefolded) `words` that is not an article occurs."""
    counts: dict[str, int] = {}
    for word in words:
        if word not in ARTICLES:
            counts[word] = counts.get(word, 0) + 1
    return counts


def token_f1(answer: Sequence[str], reference: Sequence[str]) -> float:
    # Multiset overlap, walking the smaller count: `Counter & Counter` builds a third
    # Counter in Python code, several times slower for the short texts graded here.
    small, large = Counter(answer), Counter(reference)
    if len(small) > len(large):
        small, large = large, small
    common = sum(min(count, large[token]) for token, count in small.items() if token in large)
    return _f_measure(common, len(answer), len(reference))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004)."""
    if not a or not b:
        return 0
    # masks[t] has bit j set where b[j] == t.
    masks: dict[str, int] = {}
    for j, token in enumerate(b):
        masks[token] = masks.get(token, 0) | (1 << j)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    # Each zero bit of v marks one step of the LCS.
    return len(b) - v.bit_count()


def rouge_l(answer: list[str], reference: list[str]) -> float:
    answer, reference = answer[:MAX_LCS_TOKENS], reference[:MAX_LCS_TOKENS]
    return _f_measure(lcs_length(answer, reference), len(answer), len(reference))


# --- fuzzy ratio ----------------------------------------------------------------------------


@dataclass
class FuzzyBudget:
    """Matching work left for one sample's fuzzy comparisons, and whether any ran out."""

    remaining: int = FUZZY_WORK_BUDGET
    exhausted: bool = False


def fuzzy_ratio(
    answer: str, reference: str, budget: FuzzyBudget, above: float | None = None
) -> float | None:
    """difflib's `ratio()` of the (already normalised) texts, or a lower bound of it once the
    budget is spent; None when `above` is given and the ratio cannot exceed it."""
    a, b = answer[:MAX_FUZZY_CHARS], reference[:MAX_FUZZY_CHARS]
    if a == b:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # difflib's cheap upper bounds (O(1), then linear) let a hopeless comparison be skipped
    # without changing any result.
    if above is not None and (
        matcher.real_quick_ratio() <= above or matcher.quick_ratio() <= above
    ):
        return None

    # get_matching_blocks(), with its work metered: find_longest_match over a[alo:ahi] visits
    # each i once and each position of b holding a[i], so cost[ahi] - cost[alo] bounds it.
    b2j = matcher.b2j
    cost = list(itertools.accumulate((1 + len(b2j.get(ch, ())) for ch in a), initial=0))
    matches = 0
    queue = [(0, len(a), 0, len(b))]
    while queue:
        alo, ahi, blo, bhi = queue.pop()
        work = cost[ahi] - cost[alo]
        if work > budget.remaining:
            budget.exhausted = True
            break
        budget.remaining -= work
        i, j, k = matcher.find_longest_match(alo, ahi, blo, bhi)
        if k:
            matches += k
            if alo < i and blo < j:
                queue.append((alo, i, blo, j))
            if i + k < ahi and j + k < bhi:
                queue.append((i + k, ahi, j + k, bhi))
    return 2 * matches / (len(a) + len(b))


# --- grader ---------------------------------------------------------------------------------


def build(spec: Mapping[str, Any]) -> Grader:
    """A grader for a spec that `spec_problems` accepted."""
    metric: str = spec.get("metric", "token_f1")
    answer_from: str = spec.get("answerFrom", "full")
    options = {key: spec.get(key, default) for key, default in BOOL_KEYS.items()}
    case_sensitive: bool = options["caseSensitive"]
    threshold: float | None = spec.get("threshold")
    measures = list(METRICS) if options["reportAll"] else [metric]
    only_token_f1 = measures == ["token_f1"]

    def fuzzy_text(text: str) -> str:
        return normalize(
            text,
            case_sensitive=case_sensitive,
            normalize_whitespace=options["normalizeWhitespace"],
            ignore_punctuation=False,
        )

    def fuzzy_best(answer: str, alternatives: list[str], goal: float | None) -> tuple[float, bool]:
        """Best ratio over the alternatives, and whether the work budget ran out. With `goal`
        it stops at the first alternative reaching it and skips those that cannot."""
        budget = FuzzyBudget()
        text = fuzzy_text(answer)
        best = 0.0
        for alternative in alternatives:
            # Only a ratio above `best` (or, with a goal, one reaching it) changes the outcome.
            above = best if goal is None else max(best, math.nextafter(goal, -math.inf))
            ratio = fuzzy_ratio(text, fuzzy_text(alternative), budget, above)
            if ratio is not None:
                best = max(best, ratio)
            if best >= 1.0 or (goal is not None and best >= goal):
                break
        return best, budget.exhausted

    def grade(sample: Sample) -> Checked | tuple[float, list[dict[str, Any]]]:
        answer = select_answer(sample.answer_text, answer_from)
        alternatives = reference_alternatives(sample.reference)
        if only_token_f1:
            # The default spec's per-sample hot path: the general one below gives the same.
            similarity = best_token_f1(answer, alternatives, case_sensitive)
            score = similarity if threshold is None else float(similarity >= threshold)
            # Checked: the only metric's value is the score, which the contract checks.
            return Checked(score, [{"name": metric, "value": score, "type": "Reward"}])
        values: dict[str, float] = {}
        partial: bool | None = None
        for name in measures:
            # The thresholded measure only needs to know whether it reaches the threshold.
            goal = threshold if name == metric else None
            if name == "fuzzy_ratio":
                values[name], partial = fuzzy_best(answer, alternatives, goal)
                continue
            if name == "token_f1":
                # The default measure's per-sample hot path (see SpacedTokens).
                values[name] = best_token_f1(answer, alternatives, case_sensitive)
            else:
                values[name] = best_rouge_l(answer, alternatives, case_sensitive)

        similarity = values[metric]
        score = similarity if threshold is None else float(similarity >= threshold)
        metrics = [{"name": metric, "value": score, "type": "Reward"}]
        metrics += [
            {"name": name, "value": value, "type": "Metric"}
            for name, value in values.items()
            if name != metric
        ]
        if partial is not None:
            metrics.append({"name": PARTIAL_METRIC, "value": float(partial), "type": "Metric"})
        return score, metrics

    return grade
