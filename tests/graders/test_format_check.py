from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft_env.graders.contract import grade_sample, parse_event
from rft_env.graders.exact_match import MAX_REGEX_INPUT_CHARS
from rft_env.graders.format_check import TYPE, build, reasoning_tags_ok, spec_problems

THINK = {"open": "<think>", "close": "</think>", "required": True}


def grade(answer: Any, reference: Any = "unused", **options: Any) -> dict[str, Any]:
    """The contract's result for one sample graded by a format spec."""
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
    assert result["metrics_list"][0] == {
        "name": "format",
        "value": result["aggregate_reward_score"],
        "type": "Reward",
    }
    return result


def score(answer: Any, **options: Any) -> float:
    return grade(answer, **options)["aggregate_reward_score"]


def metrics(result: dict[str, Any]) -> dict[str, float]:
    assert all(m["type"] == "Metric" for m in result["metrics_list"][1:])
    return {m["name"]: m["value"] for m in result["metrics_list"][1:]}


# --- length ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "options", "expected"),
    [
        ("abc", {"minLength": 3}, 1.0),
        ("abc", {"minLength": 4}, 0.0),
        ("abc", {"maxLength": 3}, 1.0),
        ("abcd", {"maxLength": 3}, 0.0),
        ("", {"maxLength": 0}, 1.0),
        ("", {"minLength": 0}, 1.0),
        ("abc", {"minLength": 2, "maxLength": 4}, 1.0),
        ("a", {"minLength": 2, "maxLength": 4}, 0.0),
        ("abcde", {"minLength": 2, "maxLength": 4}, 0.0),
        ("abc", {"minLength": 3, "maxLength": 3}, 1.0),
        ("éàü", {"maxLength": 3}, 1.0),  # characters, not bytes
        ("👍👍", {"minLength": 2, "maxLength": 2}, 1.0),
        ("  ", {"minLength": 2}, 1.0),  # whitespace counts; the answer is not stripped
    ],
)
def test_length(answer: str, options: dict[str, Any], expected: float) -> None:
    result = grade(answer, **options)
    assert result["aggregate_reward_score"] == expected
    assert metrics(result)["length_ok"] == expected


def test_min_and_max_are_separate_checks() -> None:
    result = grade("a", minLength=2, maxLength=4, scoring="fraction")
    assert result["aggregate_reward_score"] == 0.5
    assert metrics(result) == {"length_ok": 0.0, "checks_passed": 1}


# --- patterns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "options", "expected"),
    [
        ("answer: 42", {"requiredPatterns": [r"\d+", "answer"]}, 1.0),
        ("answer: x", {"requiredPatterns": [r"\d+", "answer"]}, 0.0),  # all must match
        ("Answer: 42", {"requiredPatterns": ["answer"]}, 0.0),  # case-sensitive by default
        ("Answer: 42", {"requiredPatterns": ["answer"], "caseSensitive": False}, 1.0),
        ("x = 1", {"requiredPatterns": [r"^x = \d$"]}, 1.0),
        ("intro\nx = 1", {"requiredPatterns": [r"^x = \d$"]}, 0.0),  # no MULTILINE by default
        ("intro\nx = 1", {"requiredPatterns": [r"(?m)^x = \d$"]}, 1.0),
        ("fine", {"forbiddenPatterns": ["sorry", "as an ai"]}, 1.0),
        ("I am sorry", {"forbiddenPatterns": ["sorry", "as an ai"]}, 0.0),
        ("Sorry!", {"forbiddenPatterns": ["sorry"]}, 1.0),
        ("Sorry!", {"forbiddenPatterns": ["sorry"], "caseSensitive": False}, 0.0),
        ("", {"forbiddenPatterns": [".+"]}, 1.0),
        ("", {"requiredPatterns": ["^$"]}, 1.0),
    ],
)
def test_patterns(answer: str, options: dict[str, Any], expected: float) -> None:
    assert score(answer, **options) == expected


def test_pattern_family_metrics() -> None:
    result = grade(
        "answer: 42, sorry",
        requiredPatterns=[r"\d+", "answer", "missing"],
        forbiddenPatterns=["sorry", "nope"],
        scoring="fraction",
    )
    assert result["aggregate_reward_score"] == pytest.approx(3 / 5)
    assert metrics(result) == {
        "required_patterns_ok": 0.0,
        "forbidden_patterns_ok": 0.0,
        "checks_passed": 3,
    }


def test_patterns_search_only_the_capped_text() -> None:
    answer = "a" * MAX_REGEX_INPUT_CHARS + "needle"
    assert score(answer, requiredPatterns=["needle"]) == 0.0
    assert score(answer, forbiddenPatterns=["needle"]) == 1.0
    # Length checks still see the whole answer.
    assert score(answer, maxLength=MAX_REGEX_INPUT_CHARS) == 0.0


def test_reference_is_ignored() -> None:
    for reference in ["x", 42, ["a", "b"], {"answer": "z"}]:
        assert score("answer: 42", reference=reference, requiredPatterns=[r"\d"]) == 1.0


# --- reasoning tags -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("<think>6 * 7 = 42</think>42", True),
        ("<think>\nreasoning\n</think>\n\nThe answer is 42.\n", True),
        ("<think></think>42", True),  # an empty reasoning part is allowed
        ("Sure. <think>hm</think> 42", True),  # text before the open tag is allowed
        ("42", False),  # missing (required)
        ("<think>reasoning 42", False),  # no close tag
        ("reasoning</think>42", False),  # no open tag
        ("</think>reasoning<think>42", False),  # close before open
        ("<think>a<think>b</think>c</think>42", False),  # nested
        ("<think>a</think>b<think>c</think>42", False),  # two pairs
        ("<think>a</think>42</think>", False),  # duplicated close
        ("<think>a</think>", False),  # nothing after the close tag
        ("<think>a</think>  \n\t ", False),  # only whitespace after the close tag
        ("<THINK>a</THINK>42", False),  # tags are case-sensitive, so none are present
        ("<think >a</think>42", False),  # "<think >" is not the open tag
    ],
)
def test_reasoning_tags_required(answer: str, expected: bool) -> None:
    result = grade(answer, reasoningTags=THINK)
    assert result["aggregate_reward_score"] == float(expected)
    assert metrics(result) == {"reasoning_tags_ok": float(expected), "checks_passed": expected}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("42", True),  # no tags at all is fine when optional
        ("<think>a</think>42", True),
        ("<think>a 42", False),  # but present tags must be well-formed
        ("a</think>42", False),
        ("<think>a</think>", False),
        ("<think>a</think>b<think>c</think>42", False),
    ],
)
def test_reasoning_tags_optional(answer: str, expected: bool) -> None:
    assert score(answer, reasoningTags={"required": False}) == float(expected)


def test_reasoning_tags_defaults_and_custom_tags() -> None:
    assert score("<think>a</think>b", reasoningTags={}) == 1.0
    assert score("b", reasoningTags={}) == 0.0  # required by default
    custom = {"open": "[REASONING]", "close": "[/REASONING]"}
    assert score("[REASONING]x[/REASONING] y", reasoningTags=custom) == 1.0
    assert score("<think>x</think> y", reasoningTags=custom) == 0.0


def test_reasoning_tags_overlapping_open_and_close() -> None:
    # Tags that pass validation can still overlap in the text: "<a>" and ">b" in "<a>b".
    assert not reasoning_tags_ok("<a>b rest", "<a>", ">b", required=True)
    assert reasoning_tags_ok("<a>x>b rest", "<a>", ">b", required=True)


# --- scoring and metrics --------------------------------------------------------------------

ALL_CHECKS: dict[str, Any] = {
    "minLength": 5,
    "maxLength": 100,
    "requiredPatterns": [r"\d+", "answer"],
    "forbiddenPatterns": ["sorry"],
    "reasoningTags": THINK,
}


@pytest.mark.parametrize(
    ("answer", "passed", "families"),
    [
        (
            "<think>6*7</think> answer: 42",
            6,
            {"length_ok": 1, "required": 1, "forbidden": 1, "tags": 1},
        ),
        (
            "<think>six times seven</think> answer: x",
            5,
            {"length_ok": 1, "required": 0, "forbidden": 1, "tags": 1},
        ),
        ("answer 42, sorry", 4, {"length_ok": 1, "required": 1, "forbidden": 0, "tags": 0}),
        ("x", 2, {"length_ok": 0, "required": 0, "forbidden": 1, "tags": 0}),
        ("sorry" + "<think>" * 30, 1, {"length_ok": 0, "required": 0, "forbidden": 0, "tags": 0}),
    ],
)
def test_scoring_modes_and_metrics(answer: str, passed: int, families: dict[str, int]) -> None:
    expected_metrics = {
        "length_ok": families["length_ok"],
        "required_patterns_ok": families["required"],
        "forbidden_patterns_ok": families["forbidden"],
        "reasoning_tags_ok": families["tags"],
        "checks_passed": passed,
    }
    fraction = grade(answer, scoring="fraction", **ALL_CHECKS)
    assert fraction["aggregate_reward_score"] == pytest.approx(passed / 6)
    assert metrics(fraction) == expected_metrics
    for options in ({"scoring": "all"}, {}):
        everything = grade(answer, **options, **ALL_CHECKS)
        assert everything["aggregate_reward_score"] == (1.0 if passed == 6 else 0.0)
        assert metrics(everything) == expected_metrics


def test_metric_order_and_only_configured_families() -> None:
    result = grade("x", reasoningTags={"required": False}, maxLength=3)
    assert [(m["name"], m["type"]) for m in result["metrics_list"]] == [
        ("format", "Reward"),
        ("length_ok", "Metric"),
        ("reasoning_tags_ok", "Metric"),
        ("checks_passed", "Metric"),
    ]


def test_content_parts_are_joined() -> None:
    content = [{"type": "text", "text": "<think>a</think>"}, {"type": "text", "text": "b"}]
    assert score(content, reasoningTags=THINK) == 1.0


# --- spec validation ------------------------------------------------------------------------


def problems(**options: Any) -> list[tuple[str, str]]:
    return spec_problems({"type": TYPE, **options})


def test_valid_specs() -> None:
    assert problems(**ALL_CHECKS, caseSensitive=False, scoring="fraction") == []
    assert problems(minLength=0) == []
    assert problems(reasoningTags={}) == []
    assert problems(minLength=3, maxLength=3) == []


def test_at_least_one_check() -> None:
    assert problems() == [
        (
            "",
            "no check is set; set at least one of: minLength, maxLength, requiredPatterns, "
            "forbiddenPatterns, reasoningTags",
        )
    ]
    assert problems(scoring="fraction") == problems()


def test_wrong_type_and_unknown_keys() -> None:
    assert spec_problems({"type": "formats", "minLength": 1}) == [
        ("type", "got 'formats'; allowed: format")
    ]
    [(key, message)] = problems(minLength=1, requiredPattern=["x"])
    assert key == "requiredPattern"
    assert message.startswith("unknown key (did you mean 'requiredPatterns'?); allowed keys: ")


@pytest.mark.parametrize("value", [-1, 1.5, True, "3", None])
@pytest.mark.parametrize("key", ["minLength", "maxLength"])
def test_bad_lengths(key: str, value: object) -> None:
    assert problems(**{key: value}) == [(key, f"got {value!r}; allowed: an integer >= 0")]


def test_min_must_not_exceed_max() -> None:
    assert problems(minLength=5, maxLength=4) == [
        ("minLength", "got 5; must not exceed maxLength (4)")
    ]


@pytest.mark.parametrize("key", ["requiredPatterns", "forbiddenPatterns"])
def test_bad_pattern_lists(key: str) -> None:
    assert problems(**{key: "x"}) == [(key, "got 'x'; allowed: an array of regex strings")]
    assert problems(**{key: []}) == [(key, "got []; give at least one regex or leave the key out")]
    found = problems(**{key: ["ok", 3, "(", "a{99999999999}", "(" * 2000 + ")" * 2000, "fine"]})
    assert [path for path, _ in found] == [f"{key}[1]", f"{key}[2]", f"{key}[3]", f"{key}[4]"]
    assert found[0][1] == "got 3; allowed: a regex string"
    assert found[1][1].startswith("got '('; not a valid regex: missing )")
    assert "not a valid regex: the repetition number is too large" in found[2][1]
    assert "not a valid regex: maximum recursion depth exceeded" in found[3][1]


@pytest.mark.parametrize("key", ["requiredPatterns", "forbiddenPatterns"])
def test_catastrophic_patterns_are_refused_at_their_index(key: str) -> None:
    """Each of these backtracks for seconds to minutes on a near-miss answer."""
    found = problems(**{key: [r"^\s*<think>", r"^(a+)+$", r"^(\w+\s?)*$"]})
    assert [path for path, _ in found] == [f"{key}[1]", f"{key}[2]"]
    assert found[0][1].startswith("got '^(a+)+$'; ")
    assert all("exponential time" in message for _, message in found)
    # Case-insensitive matching is checked with its flag: [a-z]+ then overlaps "A".
    [(path, _)] = problems(**{key: [r"(?:[a-z]+A)+b"]}, caseSensitive=False)
    assert path == f"{key}[0]"
    assert problems(**{key: [r"(?:[a-z]+A)+b"]}) == []


def test_bad_reasoning_tags() -> None:
    assert problems(reasoningTags="<think>") == [
        ("reasoningTags", "got '<think>'; allowed: an object with open, close, required")
    ]
    assert problems(reasoningTags={"open": "", "close": 3, "required": "yes", "opne": "<t>"}) == [
        (
            "reasoningTags.opne",
            "unknown key (did you mean 'open'?); allowed keys: open, close, required",
        ),
        ("reasoningTags.open", "got ''; allowed: a non-empty string"),
        ("reasoningTags.close", "got 3; allowed: a non-empty string"),
        ("reasoningTags.required", "got 'yes'; allowed: true, false"),
    ]


@pytest.mark.parametrize(("open_tag", "close_tag"), [("```", "```"), ("<t>", "<t>>"), ("[/", "[")])
def test_tags_must_not_contain_each_other(open_tag: str, close_tag: str) -> None:
    assert problems(reasoningTags={"open": open_tag, "close": close_tag}) == [
        (
            "reasoningTags",
            f"open {open_tag!r} and close {close_tag!r} must differ and neither may contain the "
            "other",
        )
    ]


def test_bad_case_sensitive_and_scoring() -> None:
    assert problems(requiredPatterns=["x"], caseSensitive="no") == [
        ("caseSensitive", "got 'no'; allowed: true, false")
    ]
    assert problems(minLength=1, caseSensitive=False) == [
        ("caseSensitive", "only used by requiredPatterns and forbiddenPatterns; neither is set")
    ]
    assert problems(minLength=1, scoring="any") == [
        ("scoring", "got 'any'; allowed: all, fraction")
    ]


def test_every_problem_is_reported() -> None:
    spec = {
        "type": TYPE,
        "minLength": 10,
        "maxLength": 2,
        "requiredPatterns": ["[", "ok"],
        "forbiddenPatterns": "sorry",
        "reasoningTags": {"open": "<think>", "close": "<think>"},
        "caseSensitive": 1,
        "scoring": "most",
        "extra": True,
    }
    assert [path for path, _ in spec_problems(spec)] == [
        "extra",
        "minLength",
        "caseSensitive",
        "requiredPatterns[0]",
        "forbiddenPatterns",
        "reasoningTags",
        "scoring",
    ]


# --- properties -----------------------------------------------------------------------------

PATTERNS = [r"\d+", "^a", "b$", "(?s).*", "[^x]", "é", r"\s", "<think>"]
specs = st.fixed_dictionaries(
    {"reasoningTags": st.fixed_dictionaries({}, optional={"required": st.booleans()})},
    optional={
        "minLength": st.integers(0, 5),
        "maxLength": st.integers(5, 50),
        "requiredPatterns": st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3),
        "forbiddenPatterns": st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3),
        "scoring": st.sampled_from(["all", "fraction"]),
    },
)
texts = st.text() | st.lists(
    st.sampled_from(["<think>", "</think>", "a", "1", " "]), max_size=8
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, specs)
def test_arbitrary_answers_never_raise_and_stay_in_range(answer: str, spec: dict[str, Any]) -> None:
    result = grade(answer, **spec)
    value = result["aggregate_reward_score"]
    assert 0.0 <= value <= 1.0
    checks = (
        ("minLength" in spec)
        + ("maxLength" in spec)
        + len(spec.get("requiredPatterns", []))
        + len(spec.get("forbiddenPatterns", []))
        + 1
    )
    passed = metrics(result)["checks_passed"]
    assert 0 <= passed <= checks
    if spec.get("scoring") == "fraction":
        assert value == pytest.approx(passed / checks)
    else:
        assert value == float(passed == checks)


@given(
    st.text().filter(lambda s: "<think>" not in s and "</think>" not in s),
    st.text().filter(lambda s: s.strip() and "<think>" not in s and "</think>" not in s),
    st.text().filter(lambda s: "<think>" not in s and "</think>" not in s),
)
def test_well_formed_tags_always_pass(before: str, final: str, reasoning: str) -> None:
    text = f"{before}<think>{reasoning}</think>{final}"
    assert reasoning_tags_ok(text, "<think>", "</think>", required=True)
    assert not reasoning_tags_ok(text + "</think>", "<think>", "</think>", required=False)
