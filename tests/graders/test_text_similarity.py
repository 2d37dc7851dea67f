import difflib
import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft_env.graders import text_similarity as ts
from rft_env.graders.contract import grade_sample, parse_event
from rft_env.graders.text_similarity import (
    FUZZY_WORK_BUDGET,
    MAX_FUZZY_CHARS,
    MAX_LCS_TOKENS,
    PARTIAL_METRIC,
    TYPE,
    FuzzyBudget,
    build,
    fuzzy_ratio,
    lcs_length,
    rouge_l,
    spec_problems,
    token_f1,
    tokens,
)


def grade(answer: Any, reference: Any, **options: Any) -> dict[str, Any]:
    """The contract's result for one sample graded by a text_similarity spec."""
    spec = {"type": TYPE, **options}
    assert spec_problems(spec) == []
    [sample] = parse_event(
        [
            {
                "id": "s",
                "messages": [{"role": "assistant", "content": answer}],
                "metadata": {"reference_answer": reference},
            }
        ]
    )
    result = grade_sample(sample, build(spec))
    assert "error" not in result, result
    return result


def metrics(result: dict[str, Any]) -> dict[str, tuple[float, str]]:
    return {m["name"]: (m["value"], m["type"]) for m in result["metrics_list"]}


def score(answer: Any, reference: Any, **options: Any) -> float:
    result = grade(answer, reference, **options)
    metric = options.get("metric", "token_f1")
    # The chosen measure is always reported first, as the Reward, holding the score.
    assert result["metrics_list"][0] == {
        "name": metric,
        "value": result["aggregate_reward_score"],
        "type": "Reward",
    }
    return result["aggregate_reward_score"]


def difflib_ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


# --- token_f1 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("The cat sat on the mat", "A cat sat on a mat", 1.0),  # articles dropped
        ("cat sat", "cat sat on mat", 2 * 2 / (2 + 4)),
        ("Paris, France.", "paris", 2 * 1 / (2 + 1)),
        ("dog", "cat", 0.0),
        ("x x y", "x y y", 2 * 2 / (3 + 3)),  # multiset overlap: min counts 1 + 1
        ("x x x", "x", 2 * 1 / (3 + 1)),
        ("x x y", "x x z", 2 * 2 / (3 + 3)),  # repeated tokens count as often as both have them
        ("don't", "dont", 1.0),  # punctuation deleted, not turned into a space
        ("1+1=2", "112", 1.0),  # ASCII symbols count as punctuation, as in SQuAD
        ("«Bonjour» ¿qué?", "bonjour qué", 1.0),  # Unicode punctuation
        ("STRASSE", "straße", 1.0),  # casefold
        ("", "cat", 0.0),
        ("cat", "", 0.0),
        ("", "", 1.0),  # both have no tokens
        ("the", "a an", 0.0),  # a reference of only articles is compared with articles kept
        ("a an", "an a", 1.0),
        ("!!!", "?", 0.0),  # a reference of only punctuation is compared on plain words
        ("?", "?", 1.0),
        ("d c b a", "a b c d", 1.0),  # order does not matter
    ],
)
def test_token_f1_golden(answer: str, reference: str, expected: float) -> None:
    assert score(answer, reference) == pytest.approx(expected)
    assert score(answer, reference, metric="token_f1") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("answer", "reference"),
    [("42", "-42"), ("-42", "42"), ("35", "3.5"), ("3.5", "35"), ("1234", "1,234")],
)
def test_token_f1_keeps_number_punctuation(answer: str, reference: str) -> None:
    assert score(answer, reference) == 0.0
    assert score(answer, reference, metric="rouge_l") == 0.0


def test_numbers_still_match_around_other_punctuation() -> None:
    assert score("It is -42.", "-42") == pytest.approx(2 * 1 / (3 + 1))
    assert score("(3.5)", "3.5") == 1.0
    assert score("$1,234!", "1,234") == 1.0
    assert tokens("x = -3.5, y = 1,000.", case_sensitive=False, drop_articles=True) == [
        "x",
        "-3.5",
        "y",
        "1,000",
    ]


@pytest.mark.parametrize("metric", ["token_f1", "rouge_l", "fuzzy_ratio"])
@pytest.mark.parametrize("reference", ["The", "a", "...", "?!", "the end", "x"])
def test_an_empty_answer_scores_zero(metric: str, reference: str) -> None:
    """An answer with nothing in it only matches a reference with nothing in it."""
    for answer in ("", "   ", "\n"):
        assert score(answer, reference, metric=metric) == 0.0


@pytest.mark.parametrize("metric", ["token_f1", "rouge_l", "fuzzy_ratio"])
def test_a_reference_without_tokens_still_matches_itself(metric: str) -> None:
    assert score("The", "the", metric=metric) == 1.0
    assert score("...", "...", metric=metric) == 1.0
    assert score("", "  ", metric=metric) == 1.0  # both literally empty


def test_token_f1_case_sensitive() -> None:
    assert score("Cat", "cat", caseSensitive=True) == 0.0
    assert score("Cat dog", "Cat cat", caseSensitive=True) == pytest.approx(0.5)
    # Articles are dropped whatever their case.
    assert score("The cat", "cat", caseSensitive=True) == 1.0


def test_tokens() -> None:
    assert tokens("The cat's hat!", case_sensitive=False, drop_articles=True) == ["cats", "hat"]
    assert tokens("The cat", case_sensitive=False, drop_articles=False) == ["the", "cat"]
    assert tokens("The Cat", case_sensitive=True, drop_articles=False) == ["The", "Cat"]
    assert tokens(" a\tb\n ", case_sensitive=False, drop_articles=False) == ["a", "b"]


# --- rouge_l --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("the cat sat on the mat", "the cat on the mat", 2 * 5 / (6 + 5)),
        ("x y z", "x z", 2 * 2 / (3 + 2)),
        ("a b c d", "d c b a", 2 * 1 / (4 + 4)),  # articles are kept for rouge_l
        ("police killed the gunman", "the gunman killed police", 2 * 2 / (4 + 4)),
        ("one two three", "one two three", 1.0),
        ("One, two; THREE.", "one two three", 1.0),
        ("x", "y", 0.0),
        ("", "x", 0.0),
        ("", "", 1.0),
    ],
)
def test_rouge_l_golden(answer: str, reference: str, expected: float) -> None:
    assert score(answer, reference, metric="rouge_l") == pytest.approx(expected)


def test_rouge_l_is_order_sensitive_where_token_f1_is_not() -> None:
    assert score("police killed the gunman", "the gunman killed police") == 1.0
    assert score("police killed the gunman", "the gunman killed police", metric="rouge_l") == 0.5


def test_rouge_l_caps_tokens() -> None:
    reference = " ".join(["w"] * MAX_LCS_TOKENS)
    # Tokens beyond the cap are ignored on both sides.
    assert score(reference + " extra words here", reference, metric="rouge_l") == 1.0
    assert score(reference, reference + " more", metric="rouge_l") == 1.0


def lcs_reference(a: list[str], b: list[str]) -> int:
    """Textbook dynamic programming LCS, to check the bit-parallel one against."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


@given(
    st.lists(st.sampled_from("abcd"), max_size=70), st.lists(st.sampled_from("abcde"), max_size=70)
)
def test_lcs_length_matches_dynamic_programming(a: list[str], b: list[str]) -> None:
    assert lcs_length(a, b) == lcs_reference(a, b)


# --- fuzzy_ratio ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reference", "options", "expected"),
    [
        ("abcd", "abce", {}, 2 * 3 / 8),
        ("Hello World", "hello   world", {}, 1.0),  # case and whitespace normalised
        ("a  b", "a b", {"normalizeWhitespace": False}, 2 * 3 / 7),
        ("ABC", "abc", {"caseSensitive": True}, 0.0),
        ("ABC", "abc", {}, 1.0),
        ("", "", {}, 1.0),
        ("", "x", {}, 0.0),
        ("x", "", {}, 0.0),
        ("42.", "42", {}, 2 * 2 / 5),  # punctuation counts for fuzzy_ratio
    ],
)
def test_fuzzy_ratio_golden(
    answer: str, reference: str, options: dict[str, Any], expected: float
) -> None:
    result = grade(answer, reference, metric="fuzzy_ratio", **options)
    assert result["aggregate_reward_score"] == pytest.approx(expected)
    assert metrics(result) == {
        "fuzzy_ratio": (pytest.approx(expected), "Reward"),
        PARTIAL_METRIC: (0.0, "Metric"),
    }


@settings(max_examples=200)
@given(st.text(alphabet="abc ", max_size=40), st.text(alphabet="abcd ", max_size=40))
def test_fuzzy_ratio_is_difflibs_ratio(a: str, b: str) -> None:
    budget = FuzzyBudget()
    assert fuzzy_ratio(a, b, budget) == difflib_ratio(a, b)
    assert not budget.exhausted


def test_fuzzy_ratio_caps_characters() -> None:
    reference = "x" * MAX_FUZZY_CHARS
    assert score(reference + "tail", reference, metric="fuzzy_ratio") == 1.0


def test_fuzzy_budget_gives_a_lower_bound_quickly() -> None:
    # Unbudgeted, difflib needs minutes for this pair; its true ratio is 0.5.
    answer, reference = "a" * MAX_FUZZY_CHARS, "ab" * (MAX_FUZZY_CHARS // 2)
    start = time.monotonic()
    result = grade(answer, reference, metric="fuzzy_ratio")
    assert time.monotonic() - start < 20
    assert metrics(result)[PARTIAL_METRIC] == (1.0, "Metric")
    assert 0.0 <= result["aggregate_reward_score"] <= 0.5


def test_exhausted_budget_gives_lower_bounds() -> None:
    a, b = "abcabcabcxyz" * 5, "abcxyzabc" * 5
    # Enough for the first find_longest_match over everything (585 units), not for the rest.
    budget = FuzzyBudget(remaining=700)
    partial = fuzzy_ratio(a, b, budget)
    assert budget.exhausted
    assert partial is not None
    assert 0.0 < partial <= difflib_ratio(a, b)
    spent = FuzzyBudget(remaining=0)
    assert fuzzy_ratio("xyz", "xy", spent) == 0.0
    assert spent.exhausted
    assert fuzzy_ratio("xyz", "xyz", spent) == 1.0  # equal texts need no matching
    assert FuzzyBudget().remaining == FUZZY_WORK_BUDGET


def test_fuzzy_ratio_skips_what_cannot_win() -> None:
    budget = FuzzyBudget()
    assert fuzzy_ratio("abc", "xyz", budget, above=0.0) is None
    assert fuzzy_ratio("abcd", "abce", budget, above=0.75) is None  # quick_ratio is exactly 0.75
    assert fuzzy_ratio("ab", "abcdef", budget, above=0.6) is None  # real_quick_ratio is 0.5
    assert budget.remaining == FUZZY_WORK_BUDGET  # skipping spends nothing
    assert fuzzy_ratio("abcd", "abce", budget, above=0.7) == 0.75
    assert budget.remaining < FUZZY_WORK_BUDGET


# --- alternatives, thresholds, answerFrom, reportAll ----------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (["cat sat", "dog ran fast"], 2 * 2 / (2 + 3)),  # best alternative wins
        ({"answer": ["cat", "dog ran"]}, 1.0),
        ({"answer": "dog", "explanation": "ignored"}, 2 * 1 / 3),
        ([], 0.0),  # nothing to match
        ([None, "dog ran"], 1.0),
    ],
)
def test_reference_alternatives(reference: Any, expected: float) -> None:
    assert score("dog ran", reference) == pytest.approx(expected)


def test_number_reference_uses_json_spelling() -> None:
    assert score("42", 42) == 1.0
    assert score("the answer is 42", 42) == pytest.approx(2 * 1 / 4)
    assert score("true", True, metric="rouge_l") == 1.0


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.0, 1.0), (0.5, 1.0), (0.8, 1.0), (0.81, 0.0), (1.0, 0.0), (1, 0.0)],
)
def test_threshold_makes_the_reward_binary(threshold: float, expected: float) -> None:
    # token_f1 of this pair is exactly 0.8; reaching the threshold is enough.
    assert score("dog ran", "dog ran fast", threshold=threshold) == expected


def test_threshold_for_each_metric() -> None:
    assert score("the cat on the mat", "the cat sat on the mat", metric="rouge_l") == (
        pytest.approx(10 / 11)
    )
    assert (
        score("the cat on the mat", "the cat sat on the mat", metric="rouge_l", threshold=0.9) == 1
    )
    assert score("abcd", "abce", metric="fuzzy_ratio", threshold=0.75) == 1.0
    assert score("abcd", "abce", metric="fuzzy_ratio", threshold=0.76) == 0.0
    assert score("abcd", ["zzzz", "abce"], metric="fuzzy_ratio", threshold=0.75) == 1.0
    assert score("abcd", ["zzzz", "abzz"], metric="fuzzy_ratio", threshold=0.75) == 0.0


def test_threshold_with_no_alternatives() -> None:
    assert score("x", [], threshold=0.5) == 0.0
    assert score("x", [], threshold=0.0) == 1.0


def test_answer_from_last_line() -> None:
    answer = "Let me think about it.\nThe capital is Paris.\nFinal answer: Paris\n\n  \n"
    assert score(answer, "final answer paris", answerFrom="last_line") == 1.0
    assert score(answer, "final answer paris", answerFrom="full") < 1.0
    # let me think about it capital is paris final answer paris: 11 tokens, 3 shared.
    assert score(answer, "final answer paris", answerFrom="full") == pytest.approx(2 * 3 / (11 + 3))
    assert score("\n\n", "x", answerFrom="last_line") == 0.0


def test_answer_from_content_parts() -> None:
    content = [{"type": "text", "text": "dog "}, {"type": "image"}, {"type": "text", "text": "ran"}]
    assert score(content, "dog ran") == 1.0


def test_report_all_reports_each_measures_own_best() -> None:
    answer, alternatives = "x y z", ["z y x", "x y"]
    result = grade(answer, alternatives, reportAll=True)
    assert [(m["name"], m["type"]) for m in result["metrics_list"]] == [
        ("token_f1", "Reward"),
        ("rouge_l", "Metric"),
        ("fuzzy_ratio", "Metric"),
        (PARTIAL_METRIC, "Metric"),
    ]
    values = metrics(result)
    assert values["token_f1"][0] == 1.0  # "z y x" as a bag of tokens
    assert values["rouge_l"][0] == pytest.approx(0.8)  # "x y" as a sequence
    expected_fuzzy = max(difflib_ratio(answer, alt) for alt in alternatives)
    assert values["fuzzy_ratio"][0] == pytest.approx(expected_fuzzy)


def test_report_all_with_threshold_keeps_other_measures_raw() -> None:
    result = grade("dog ran", "dog ran fast", metric="rouge_l", threshold=0.9, reportAll=True)
    assert result["aggregate_reward_score"] == 0.0
    values = metrics(result)
    assert values["rouge_l"] == (0.0, "Reward")
    assert values["token_f1"] == (pytest.approx(0.8), "Metric")
    assert values["fuzzy_ratio"] == (
        pytest.approx(difflib_ratio("dog ran", "dog ran fast")),
        "Metric",
    )


def test_default_reports_only_the_chosen_measure() -> None:
    assert [m["name"] for m in grade("a", "a")["metrics_list"]] == ["token_f1"]
    assert [m["name"] for m in grade("a", "a", metric="rouge_l")["metrics_list"]] == ["rouge_l"]


# --- spec validation ------------------------------------------------------------------------


def problems(**options: Any) -> list[tuple[str, str]]:
    return spec_problems({"type": TYPE, **options})


def test_valid_specs() -> None:
    assert problems() == []
    assert (
        problems(
            metric="fuzzy_ratio",
            caseSensitive=True,
            normalizeWhitespace=False,
            answerFrom="last_line",
            threshold=0.5,
            reportAll=False,
        )
        == []
    )
    assert problems(metric="rouge_l", normalizeWhitespace=True, reportAll=True) == []
    assert problems(threshold=0) == [] and problems(threshold=1) == []


def test_unknown_key_with_hint() -> None:
    [(key, message)] = problems(metirc="rouge_l")
    assert key == "metirc"
    assert message.startswith("unknown key (did you mean 'metric'?); allowed keys: type, metric")
    [(key, message)] = problems(zzz=1)
    assert message.startswith("unknown key; allowed keys: ")


def test_wrong_type() -> None:
    assert spec_problems({"type": "exact_match"}) == [
        ("type", "got 'exact_match'; allowed: text_similarity")
    ]


def test_bad_choices() -> None:
    assert problems(metric="bleu") == [
        ("metric", "got 'bleu'; allowed: token_f1, rouge_l, fuzzy_ratio")
    ]
    assert problems(answerFrom="first_line") == [
        ("answerFrom", "got 'first_line'; allowed: full, last_line")
    ]


@pytest.mark.parametrize("key", ["caseSensitive", "reportAll"])
@pytest.mark.parametrize("value", [1, "true", None])
def test_bools_must_be_bools(key: str, value: object) -> None:
    assert problems(**{key: value}) == [(key, f"got {value!r}; allowed: true, false")]


@pytest.mark.parametrize("value", [1.5, -0.1, True, "0.5", None, math.nan, math.inf, [0.5]])
def test_bad_threshold(value: object) -> None:
    assert problems(threshold=value) == [
        ("threshold", f"got {value!r}; allowed: a number from 0 to 1")
    ]


def test_normalize_whitespace_only_with_fuzzy() -> None:
    assert problems(normalizeWhitespace=False) == [
        (
            "normalizeWhitespace",
            "only used by metric 'fuzzy_ratio' (or with reportAll); metric is 'token_f1'",
        )
    ]
    assert problems(metric="fuzzy_ratio", normalizeWhitespace=False) == []


def test_every_problem_is_reported() -> None:
    spec = {
        "type": TYPE,
        "metric": "cosine",
        "answerFrom": 3,
        "caseSensitive": "no",
        "normalizeWhitespace": 0,
        "reportAll": "yes",
        "threshold": 2,
        "treshold": 0.5,
    }
    assert spec_problems(spec) == [
        (
            "treshold",
            "unknown key (did you mean 'threshold'?); allowed keys: type, metric, caseSensitive, "
            "normalizeWhitespace, reportAll, answerFrom, threshold",
        ),
        ("metric", "got 'cosine'; allowed: token_f1, rouge_l, fuzzy_ratio"),
        ("answerFrom", "got 3; allowed: full, last_line"),
        ("caseSensitive", "got 'no'; allowed: true, false"),
        ("normalizeWhitespace", "got 0; allowed: true, false"),
        ("reportAll", "got 'yes'; allowed: true, false"),
        ("threshold", "got 2; allowed: a number from 0 to 1"),
        (
            "normalizeWhitespace",
            "only used by metric 'fuzzy_ratio' (or with reportAll); metric is 'cosine'",
        ),
    ]


# --- properties -----------------------------------------------------------------------------

option_sets = st.fixed_dictionaries(
    {},
    optional={
        "metric": st.sampled_from(["token_f1", "rouge_l", "fuzzy_ratio"]),
        "caseSensitive": st.booleans(),
        "answerFrom": st.sampled_from(["full", "last_line"]),
        "threshold": st.floats(min_value=0, max_value=1),
    },
).map(lambda options: {**options, "reportAll": True, "normalizeWhitespace": True})
# Any JSON reference but null (which the contract rejects as a missing reference).
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
references = (
    st.text()
    | st.lists(json_scalars, max_size=4)
    | st.dictionaries(st.text(max_size=8), json_scalars, max_size=3)
    | st.integers()
    | st.floats()
)


@settings(max_examples=300, deadline=None)
@given(st.text(), references, option_sets)
def test_arbitrary_text_never_raises_and_stays_in_range(
    answer: str, reference: Any, options: dict[str, Any]
) -> None:
    result = grade(answer, reference, **options)
    assert 0.0 <= result["aggregate_reward_score"] <= 1.0
    for metric in result["metrics_list"]:
        assert 0.0 <= metric["value"] <= 1.0
    if "threshold" in options:
        assert result["aggregate_reward_score"] in (0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1), st.booleans())
def test_identical_text_scores_one(text: str, case_sensitive: bool) -> None:
    result = grade(text, text, reportAll=True, caseSensitive=case_sensitive)
    values = metrics(result)
    assert values["token_f1"][0] == 1.0
    assert values["rouge_l"][0] == 1.0
    assert values["fuzzy_ratio"][0] == 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="ab c", max_size=30),
    st.lists(st.text(alphabet="abc d", max_size=30), max_size=5),
    st.none() | st.floats(min_value=0, max_value=1),
)
def test_fuzzy_best_of_alternatives_matches_brute_force(
    answer: str, alternatives: list[str], threshold: float | None
) -> None:
    def norm(text: str) -> str:
        return " ".join(text.casefold().split())

    best = max((difflib_ratio(norm(answer), norm(alt)) for alt in alternatives), default=0.0)
    options: dict[str, Any] = {"metric": "fuzzy_ratio"}
    if threshold is None:
        assert score(answer, alternatives, **options) == pytest.approx(best)
    else:
        assert score(answer, alternatives, threshold=threshold, **options) == float(
            best >= threshold
        )


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab 1-2.,3!", max_size=30),
    st.lists(st.text(alphabet="ab -.,!the", max_size=12), min_size=1, max_size=3),
    st.booleans(),
)
def test_number_punctuation_needs_no_scan_against_references_without_digits(
    answer: str, alternatives: list[str], case_sensitive: bool
) -> None:
    """Without digits in the reference, scoring skips the number scan of the answer; the
    tokens that scan changes (those with digits) cannot match such a reference anyway."""
    scanned = tokens(answer, case_sensitive=case_sensitive, drop_articles=False)
    plain = tokens(answer, case_sensitive=case_sensitive, drop_articles=False, numbers=False)
    assert len(scanned) == len(plain)
    for alternative in alternatives:
        reference = tokens(alternative, case_sensitive=case_sensitive, drop_articles=False)
        assert token_f1(scanned, reference) == token_f1(plain, reference)
        assert rouge_l(scanned, reference) == rouge_l(plain, reference)


# The default measure counts the answer's tokens without splitting it (SpacedTokens): it
# must give exactly what token_f1 of the two token lists gives.
_TOKEN_PIECES = ["5", "5", "a", "the", "an", "x", "-", ".", ",", " ", "\n", "\t", "é", "!"]
_TOKEN_TEXT = st.lists(
    st.sampled_from([*_TOKEN_PIECES, "\u00a0", "THE", "-5", "5.5", "1,000"]), max_size=30
).map("".join)


@settings(max_examples=500, deadline=None)
@given(answer=_TOKEN_TEXT, reference=_TOKEN_TEXT, numbers=st.booleans())
def test_counting_tokens_in_place_agrees_with_splitting(
    answer: str, reference: str, numbers: bool
) -> None:
    words = ts._words(reference, False)
    if not ts._has_content(words, False):
        return
    by_list = ts.token_f1(
        [w for w in ts._words(answer, False, numbers) if w not in ts.ARTICLES],
        [w for w in words if w not in ts.ARTICLES],
    )
    assert ts.SpacedTokens(answer, numbers=numbers).f1(words) == by_list
    assert LookingAround(answer, numbers=numbers).f1(words) == by_list


class LookingAround(ts.SpacedTokens):
    """SpacedTokens that reads every answer as a long one: numbers looked at where they
    stand, not in one number-aware pass."""

    whole_pass_chars = 0


@pytest.mark.parametrize(
    ("answer", "token", "count"),
    [("5 5", "5", 2), ("5 5 5 5", "5", 4), ("the\n\nthe the", "the", 3), ("55 5", "5", 1)],
)
def test_equal_neighbours_are_each_counted(answer: str, token: str, count: int) -> None:
    assert ts.SpacedTokens(answer, numbers=True).count(token) == count


def test_a_shared_reference_is_normalised_once() -> None:
    # GRPO grades several answers per prompt against one reference: its words are cached.
    ts.cached_token_references.cache_clear()
    assert score("the total is 1,624", "1,624") == pytest.approx(2 * 1 / (3 + 1))
    assert score("1,624", "1,624") == 1.0
    assert score("1624", "1,624") == 0.0
    info = ts.cached_token_references.cache_info()
    assert (info.hits, info.misses) == (2, 1)
    assert info.maxsize == ts.REFERENCE_CACHE


def test_a_long_reference_is_not_cached() -> None:
    # Bounded memory: a long reference is normalised for every answer instead.
    ts.cached_token_references.cache_clear()
    reference = "word " * (ts.MAX_CACHED_REFERENCE_CHARS // 5 + 1)
    assert score(reference, reference) == 1.0
    assert score("word", reference) == pytest.approx(
        2 / (1 + ts.MAX_CACHED_REFERENCE_CHARS // 5 + 1)
    )
    assert ts.cached_token_references.cache_info().currsize == 0


def test_the_reference_cache_keeps_case_settings_apart() -> None:
    ts.cached_token_references.cache_clear()
    assert score("Paris", "Paris", caseSensitive=True) == 1.0
    assert score("paris", "Paris", caseSensitive=True) == 0.0
    assert score("paris", "Paris") == 1.0


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("(42) 42. -42 4'2 4,2 4.2 x42 42!", "42"),  # 4'2 is found only number-aware
        ("(42) 42. -42 4,2 4.2 x42 42!", "42"),  # every candidate seen around "42"
        ("-3.5 3.5, $3.5 35 3,5", "3.5"),
        ("1,000 1000 (1,000) 1.000", "1,000"),
        ("5 5 -5 5", "-5"),
        ("a" * 300 + "42 42", "42"),  # a word too long to look around
    ],
)
def test_numbers_counted_around_their_occurrences_agree_with_splitting(
    answer: str, reference: str
) -> None:
    words = ts._words(reference, False)
    by_list = ts.token_f1(
        [w for w in ts._words(answer, False, True) if w not in ts.ARTICLES],
        [w for w in words if w not in ts.ARTICLES],
    )
    assert ts.SpacedTokens(answer, numbers=True).f1(words) == by_list
    assert LookingAround(answer, numbers=True).f1(words) == by_list
