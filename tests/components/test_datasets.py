import functools
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rft_env.components import datasets
from rft_env.components.datasets import (
    DatasetError,
    DatasetProblem,
    DatasetReport,
    content_key,
    require_valid_dataset,
)

# Most cases here repeat one valid line; duplicate prompts have tests of their own below.
validate_dataset = functools.partial(datasets.validate_dataset, allow_duplicates=True)

DATA_DIR = Path(__file__).resolve().parents[2] / "stacks" / "data"
EXAMPLES = {"arithmetic-train.jsonl": 200, "arithmetic-validation.jsonl": 100}

SYSTEM = {"role": "system", "content": "You are a calculator."}
USER = {"role": "user", "content": "What is 2 + 2?"}
ASSISTANT = {"role": "assistant", "content": "Let me think."}


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"messages": [SYSTEM, USER], "reference_answer": "4"}
    base.update(overrides)
    return base


VALID_LINE = json.dumps(record())


def write(path: Path, lines: list[str | dict[str, Any]], *, end: str = "\n") -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + end, encoding="utf-8")
    return path


def only_problem(report: DatasetReport) -> DatasetProblem:
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    return report.problems[0]


# --- example data -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), EXAMPLES.items())
def test_example_files_pass_with_default_limits(name: str, count: int) -> None:
    report = require_valid_dataset(DATA_DIR / name)
    assert report.ok
    assert report.problems == ()
    assert report.records == count


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_records_are_synthetic_integer_problems(name: str) -> None:
    ids = set()
    for line in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        assert rec["synthetic"] is True
        assert [m["role"] for m in rec["messages"]] == ["system", "user"]
        assert re.fullmatch(r"-?\d+", rec["reference_answer"])
        assert rec["task_id"].startswith("arithmetic-")
        ids.add(rec["id"])
    assert len(ids) == EXAMPLES[name]


def test_example_splits_do_not_share_questions() -> None:
    def questions(name: str) -> set[str]:
        lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
        return {json.loads(line)["messages"][-1]["content"] for line in lines}

    train, validation = (questions(name) for name in EXAMPLES)
    assert len(train) == 200
    assert len(validation) == 100
    assert not train & validation


def test_example_data_regenerates_byte_for_byte(tmp_path: Path) -> None:
    script = DATA_DIR / "make_example_data.py"
    for out in (tmp_path / "a", tmp_path / "b"):
        out.mkdir()
        subprocess.run(
            [sys.executable, str(script), "--out-dir", str(out)], check=True, capture_output=True
        )
    for name in EXAMPLES:
        committed = (DATA_DIR / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() == committed
        assert (tmp_path / "b" / name).read_bytes() == committed


# --- accepted shapes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rec",
    [
        pytest.param(record(messages=[USER]), id="no-system"),
        pytest.param(record(messages=[SYSTEM, USER, ASSISTANT, USER]), id="multi-turn"),
        pytest.param(
            record(
                messages=[
                    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is"},
                            {"type": "text", "text": " 2 + 2?"},
                        ],
                    },
                ]
            ),
            id="text-parts",
        ),
        pytest.param(record(reference_answer=0), id="answer-zero"),
        pytest.param(record(reference_answer=False), id="answer-false"),
        pytest.param(record(reference_answer={"value": 4, "unit": None}), id="answer-object"),
        pytest.param(record(id="x-1", task_id="math", extra={"k": [1]}), id="extra-fields"),
        pytest.param(
            record(messages=[{"role": "user", "content": "Qu'est-ce que 2 + 2 ? é ü 日本"}]),
            id="non-ascii",
        ),
    ],
)
def test_valid_records_pass(tmp_path: Path, rec: dict[str, Any]) -> None:
    report = validate_dataset(write(tmp_path / "d.jsonl", [rec, rec]), min_records=1)
    assert report.ok, [str(p) for p in report.problems]
    assert report.records == 2


def test_missing_trailing_newline_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [VALID_LINE, VALID_LINE], end="")
    assert validate_dataset(path, min_records=1).ok


def test_crlf_line_endings_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(f"{VALID_LINE}\r\n{VALID_LINE}\r\n".encode())
    report = validate_dataset(path, min_records=1)
    assert report.ok, [str(p) for p in report.problems]
    assert report.records == 2


# --- per-line problems ------------------------------------------------------------------------


def parts(*items: Any) -> list[dict[str, Any]]:
    return [SYSTEM, {"role": "user", "content": list(items)}]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param('{"messages": [', "invalid JSON: ", id="bad-json"),
        pytest.param("[1, 2]", "expected a JSON object, got array", id="array"),
        pytest.param('"text"', "expected a JSON object, got string", id="string"),
        pytest.param(
            '{"messages": [{"role": "user", "content": "q"}], "reference_answer": NaN}',
            "invalid JSON: NaN",
            id="nan",
        ),
        pytest.param("[" * 100_000, "invalid JSON: nested too deeply", id="deep-nesting"),
        pytest.param(
            '{"messages": [{"role": "user", "content": "q"}], "reference_answer": '
            + "9" * 5000
            + "}",
            "invalid JSON: ",
            id="huge-int",
        ),
        pytest.param({"reference_answer": "4"}, "messages: missing", id="messages-missing"),
        pytest.param(
            record(messages="hi"), "messages: expected a non-empty array, got string", id="msgs-str"
        ),
        pytest.param(record(messages=[]), "messages: must not be empty", id="messages-empty"),
        pytest.param(
            record(messages=[SYSTEM, "hi", USER]),
            "messages[1]: expected an object, got string",
            id="message-not-object",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"content": "q"}]),
            "messages[1].role: missing",
            id="role-missing",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"role": 5, "content": "q"}]),
            "messages[1].role: got 5; allowed: system, user, assistant",
            id="role-number",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"role": "User", "content": "q"}]),
            "messages[1].role: got 'User'; allowed: system, user, assistant",
            id="role-case",
        ),
        pytest.param(
            record(messages=[USER, SYSTEM, USER]),
            "messages[1].role: 'system' is only allowed as the first message",
            id="system-not-first",
        ),
        pytest.param(
            record(messages=[SYSTEM, USER, ASSISTANT]),
            "messages[2].role: the last message must be 'user'",
            id="ends-with-assistant",
        ),
        pytest.param(
            record(messages=[SYSTEM]),
            "messages[0].role: the last message must be 'user'",
            id="only-system",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"role": "user"}]),
            "messages[1].content: missing",
            id="content-missing",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"role": "user", "content": ""}]),
            "messages[1].content: must not be empty",
            id="content-empty",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"role": "user", "content": " \t "}]),
            "messages[1].content: must not be empty",
            id="content-blank",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"role": "user", "content": None}]),
            "messages[1].content: expected a string or an array of text parts, got null",
            id="content-null",
        ),
        pytest.param(
            record(messages=[SYSTEM, {"role": "user", "content": 4}]),
            "messages[1].content: expected a string or an array of text parts, got number",
            id="content-number",
        ),
        pytest.param(
            record(messages=parts()),
            "messages[1].content: must not be an empty array",
            id="parts-empty",
        ),
        pytest.param(
            record(messages=parts("q")),
            "messages[1].content[0]: expected a text part object, got string",
            id="part-not-object",
        ),
        pytest.param(
            record(messages=parts({"text": "q"})),
            "messages[1].content[0].type: missing",
            id="part-type-missing",
        ),
        pytest.param(
            record(
                messages=parts(
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
                )
            ),
            "messages[1].content[1].type: got 'image_url'; only 'text' parts are supported",
            id="part-image",
        ),
        pytest.param(
            record(messages=parts({"type": "text"})),
            "messages[1].content[0].text: missing",
            id="part-text-missing",
        ),
        pytest.param(
            record(messages=parts({"type": "text", "text": 7})),
            "messages[1].content[0].text: expected a string, got number",
            id="part-text-number",
        ),
        pytest.param(
            record(messages=parts({"type": "text", "text": ""})),
            "messages[1].content[0].text: must not be empty",
            id="part-text-empty",
        ),
        pytest.param(
            {"messages": [SYSTEM, USER]}, "reference_answer: missing", id="answer-missing"
        ),
        pytest.param(
            record(reference_answer=None), "reference_answer: must not be null", id="answer-null"
        ),
        pytest.param(
            record(reference_answer=""),
            "reference_answer: must not be empty or whitespace-only",
            id="answer-empty-string",
        ),
        pytest.param(
            record(reference_answer=" \t\n"),
            "reference_answer: must not be empty or whitespace-only",
            id="answer-whitespace-string",
        ),
    ],
)
def test_each_problem_kind_is_reported_on_its_line(
    tmp_path: Path, line: str | dict[str, Any], expected: str
) -> None:
    path = write(tmp_path / "d.jsonl", [VALID_LINE, line, VALID_LINE])
    report = validate_dataset(path, min_records=1)
    assert not report.ok
    assert report.records == 3
    problem = only_problem(report)
    assert problem.line == 2
    assert problem.message.startswith(expected), problem.message
    assert str(problem).startswith(f"line 2: {expected}")


def test_bad_role_message_names_field_and_allowed_values(tmp_path: Path) -> None:
    bot = {"role": "bot", "content": "4"}
    lines: list[str | dict[str, Any]] = [VALID_LINE] * 6
    lines.append(record(messages=[SYSTEM, USER, bot, USER]))
    report = validate_dataset(write(tmp_path / "d.jsonl", lines), min_records=1)
    assert [str(p) for p in report.problems] == [
        "line 7: messages[2].role: got 'bot'; allowed: system, user, assistant"
    ]


def test_several_problems_on_one_line_are_all_reported(tmp_path: Path) -> None:
    bad = {"messages": [{"role": "bot", "content": ""}, SYSTEM, ASSISTANT]}
    report = validate_dataset(write(tmp_path / "d.jsonl", [bad]), min_records=1)
    assert [str(p) for p in report.problems] == [
        "line 1: messages[0].role: got 'bot'; allowed: system, user, assistant",
        "line 1: messages[0].content: must not be empty or whitespace-only",
        "line 1: messages[1].role: 'system' is only allowed as the first message",
        "line 1: messages[2].role: the last message must be 'user' "
        "(the prompt must not contain the answer), got 'assistant'",
        "line 1: reference_answer: missing (required; any JSON value except null)",
    ]


def test_long_values_are_truncated_in_messages(tmp_path: Path) -> None:
    rec = record(messages=[{"role": "x" * 500, "content": "q"}, USER])
    problem = only_problem(validate_dataset(write(tmp_path / "d.jsonl", [rec]), min_records=1))
    assert len(problem.message) < 150
    assert "..." in problem.message


def test_bom_is_reported_on_line_one(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + f"{VALID_LINE}\n{VALID_LINE}\n".encode())
    problem = only_problem(validate_dataset(path, min_records=1))
    assert problem.line == 1
    assert "byte order mark" in problem.message


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_line_in_the_middle_is_a_problem(tmp_path: Path, blank: str) -> None:
    path = write(tmp_path / "d.jsonl", [VALID_LINE, VALID_LINE, blank, VALID_LINE])
    report = validate_dataset(path, min_records=1)
    problem = only_problem(report)
    assert problem.line == 3
    assert problem.message.startswith("blank line")
    # Blank lines are not records.
    assert report.records == 3


def test_trailing_blank_lines_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(f"{VALID_LINE}\n{VALID_LINE}\n\n\n", encoding="utf-8")
    report = validate_dataset(path, min_records=1)
    assert [(p.line, p.message.split(";")[0]) for p in report.problems] == [
        (3, "blank line"),
        (4, "blank line"),
    ]
    assert report.records == 2


# --- UTF-8 --------------------------------------------------------------------------------------


def test_invalid_utf8_reports_line_of_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    good = VALID_LINE.encode()
    path.write_bytes(b"\n".join([good, good, b'{"messages": "\xff\xfe"}', good, b"\xc3"]) + b"\n")
    report = validate_dataset(path, min_records=1)
    assert [str(p) for p in report.problems] == [
        "line 3: not valid UTF-8: byte 0xff at column 15",
        # A multi-byte sequence cut off at the end of a line.
        "line 5: not valid UTF-8: byte 0xc3 at column 1",
    ]
    assert report.records == 5


# --- record count -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "ok"), [(0, False), (99, False), (100, True), (20_000, True), (20_001, False)]
)
def test_record_count_bounds(tmp_path: Path, count: int, ok: bool) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(f"{VALID_LINE}\n" * count, encoding="utf-8")
    report = validate_dataset(path)
    assert report.records == count
    assert report.ok is ok
    if not ok:
        problem = only_problem(report)
        assert problem.line is None
        assert str(problem) == f"dataset has {count:,} records; allowed: 100 to 20,000"


def test_custom_record_bounds(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [VALID_LINE] * 3)
    assert validate_dataset(path, min_records=3, max_records=3).ok
    problem = only_problem(validate_dataset(path, min_records=1, max_records=2))
    assert problem.message == "dataset has 3 records; allowed: 1 to 2"


@pytest.mark.parametrize(
    "kwargs",
    [{"max_problems": 0}, {"min_records": -1}, {"min_records": 5, "max_records": 4}],
)
def test_invalid_arguments_raise(tmp_path: Path, kwargs: dict[str, int]) -> None:
    path = write(tmp_path / "d.jsonl", [VALID_LINE])
    with pytest.raises(ValueError):
        validate_dataset(path, **kwargs)


# --- problem cap --------------------------------------------------------------------------------


def test_problems_are_capped_with_a_suppression_note(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", ["not json"] * 10)
    report = validate_dataset(path, min_records=1, max_problems=3)
    assert [p.line for p in report.problems] == [1, 2, 3, None]
    assert report.problems[-1].message == "7 more problems suppressed (showing the first 3)"
    assert report.records == 10


def test_cap_keeps_file_level_problems_first(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", ["not json"] * 60)
    report = validate_dataset(path)
    assert len(report.problems) == 51
    assert report.problems[0].message == "dataset has 60 records; allowed: 100 to 20,000"
    assert [p.line for p in report.problems[1:50]] == list(range(1, 50))
    assert report.problems[-1].message == "11 more problems suppressed (showing the first 50)"


def test_no_suppression_note_at_exactly_the_cap(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", ["not json"] * 3)
    report = validate_dataset(path, min_records=1, max_problems=3)
    assert [p.line for p in report.problems] == [1, 2, 3]


# --- unreadable files ---------------------------------------------------------------------------


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    report = validate_dataset(tmp_path / "nope.jsonl")
    problem = only_problem(report)
    assert problem.line is None
    assert problem.message.startswith("cannot read file")
    assert (report.records, report.sha256, report.size_bytes) == (0, "", 0)
    assert not report.ok


def test_directory_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    problem = only_problem(validate_dataset(str(tmp_path)))
    assert problem.message.startswith("cannot read file")


# --- hashing and keys ---------------------------------------------------------------------------


def test_sha256_and_size_match_the_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    data = f"{VALID_LINE}\r\n\n".encode() + b"\xff no newline at end"
    path.write_bytes(data)
    report = validate_dataset(path, min_records=1)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size_bytes == len(data)


@pytest.mark.parametrize("name", EXAMPLES)
def test_sha256_of_example_file(name: str) -> None:
    data = (DATA_DIR / name).read_bytes()
    assert validate_dataset(DATA_DIR / name).sha256 == hashlib.sha256(data).hexdigest()


def test_content_key_tracks_content_only(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = validate_dataset(write(tmp_path / "a" / "train.jsonl", [VALID_LINE]), min_records=1)
    same = validate_dataset(write(tmp_path / "b" / "train.jsonl", [VALID_LINE]), min_records=1)
    again = validate_dataset(tmp_path / "a" / "train.jsonl", min_records=1)
    changed = validate_dataset(
        write(tmp_path / "a" / "train.jsonl", [record(reference_answer="5")]), min_records=1
    )

    key = content_key(first, "training")
    assert key == f"datasets/training/{first.sha256[:16]}/train.jsonl"
    assert content_key(same, "training") == key
    assert content_key(again, "training") == key
    assert content_key(changed, "training") != key
    assert content_key(first, "validation") == key.replace("training", "validation", 1)


def test_content_key_sanitises_file_name(tmp_path: Path) -> None:
    report = validate_dataset(write(tmp_path / "my data (v2).jsonl", [VALID_LINE]), min_records=1)
    assert content_key(report, "training").endswith("/my-data-v2-.jsonl")


@pytest.mark.parametrize("purpose", ["train", "Training", "", "test"])
def test_content_key_rejects_unknown_purpose(tmp_path: Path, purpose: str) -> None:
    report = validate_dataset(write(tmp_path / "d.jsonl", [VALID_LINE]), min_records=1)
    with pytest.raises(ValueError, match="purpose"):
        content_key(report, purpose)


def test_content_key_rejects_unreadable_report(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="content hash"):
        content_key(validate_dataset(tmp_path / "missing.jsonl"), "training")


# --- errors -------------------------------------------------------------------------------------


def test_problem_str() -> None:
    problem = DatasetProblem(12, "reference_answer: missing")
    assert str(problem) == "line 12: reference_answer: missing"
    assert str(DatasetProblem(None, "too few")) == "too few"


def test_dataset_error_lists_path_and_every_problem(tmp_path: Path) -> None:
    other_prompt = [SYSTEM, {"role": "user", "content": "What is 5 - 1?"}]
    path = write(
        tmp_path / "bad.jsonl",
        [VALID_LINE, "oops", record(messages=other_prompt, reference_answer=None)],
    )
    with pytest.raises(DatasetError) as excinfo:
        require_valid_dataset(path, min_records=5)
    err = excinfo.value
    assert isinstance(err, ValueError)
    assert len(err.report.problems) == 3
    message = str(err)
    assert str(path) in message
    assert "3 problems" in message
    for problem in err.report.problems:
        assert f"  - {problem}" in message
    assert "line 2: invalid JSON" in message
    assert "line 3: reference_answer: must not be null" in message
    assert "dataset has 3 records; allowed: 5 to 20,000" in message


def test_require_valid_dataset_returns_report_when_ok(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [VALID_LINE])
    report = require_valid_dataset(path, min_records=1, max_records=1)
    assert report.ok
    assert report.path == path


# --- robustness ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["role", "content", "type", "text", "x"]), children)
    ),
    max_leaves=12,
)
json_records = st.dictionaries(
    st.sampled_from(["messages", "reference_answer", "id"]), json_values
).map(json.dumps)
file_bytes = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=512).map(lambda s: s.encode("utf-8")),
    st.lists(json_records | st.text(max_size=40), max_size=6).map(
        lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=file_bytes, max_problems=st.integers(1, 5))
def test_arbitrary_bytes_never_raise(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, max_problems: int
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "d.jsonl"
    path.write_bytes(data)
    report = validate_dataset(path, min_records=0, max_problems=max_problems)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size_bytes == len(data)
    assert len(report.problems) <= max_problems + 1
    assert all(isinstance(p, DatasetProblem) for p in report.problems)
    assert report.ok == (report.problems == ())


def test_duplicate_prompts_are_problems_with_both_lines(tmp_path: Path) -> None:
    other = json.dumps(record(messages=[SYSTEM, {"role": "user", "content": "What is 3 + 3?"}]))
    path = write(tmp_path / "d.jsonl", [VALID_LINE, other, VALID_LINE])
    report = datasets.validate_dataset(path, min_records=1)
    assert [str(p) for p in report.problems] == [
        "line 3: duplicate prompt: the same messages as line 1"
    ]
    assert datasets.validate_dataset(path, min_records=1, allow_duplicates=True).ok


def test_the_example_data_has_no_duplicate_prompts() -> None:
    for name in EXAMPLES:
        assert datasets.validate_dataset(DATA_DIR / name).ok, name
