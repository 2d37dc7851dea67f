"""Custom graders: the user's code behind the same contract."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rft_env.graders import custom
from rft_env.graders.contract import GRADER_ERROR_METRIC, GraderSpecError, grade_batch
from rft_env.graders.registry import build_grader, spec_problems

GRADE_CODE = """
def grade(sample):
    if sample["answer"] == "boom":
        raise RuntimeError("user bug")
    score = 1.0 if sample["answer"] == str(sample["reference_answer"]) else 0.0
    task = sample["metadata"]["task_id"] == "t-1"
    return score, {"answer_chars": len(sample["answer"]), "task": task}
"""

HANDLER_CODE = """
def lambda_handler(event, context):
    results = [
        {"id": s["id"], "aggregate_reward_score": 0.5,
         "metrics_list": [{"name": "m", "value": 1, "type": "Metric"}]}
        for s in event
    ]
    if len(results) > 2:
        results[1], results[2] = results[2], results[1]  # out of order on purpose
    return results
"""


@pytest.fixture(autouse=True)
def fresh_package() -> Iterator[None]:
    """Each test loads its own `custom_grader` (the Lambda has exactly one)."""
    for name in [
        m for m in sys.modules if m == custom.PACKAGE or m.startswith(custom.PACKAGE + ".")
    ]:
        del sys.modules[name]
    yield
    for name in [
        m for m in sys.modules if m == custom.PACKAGE or m.startswith(custom.PACKAGE + ".")
    ]:
        del sys.modules[name]


def user_dir(tmp_path: Path, code: str, module: str = "grader") -> Path:
    directory = tmp_path / "my-grader"
    directory.mkdir()
    (directory / f"{module}.py").write_text(code)
    return directory


def sample(answer: str, sample_id: str) -> dict[str, Any]:
    return {
        "id": sample_id,
        "messages": [{"role": "user", "content": "6*7?"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": 42, "task_id": "t-1"},
    }


def test_grade_function_scores_and_a_crash_costs_one_sample(tmp_path: Path) -> None:
    grader = build_grader({"type": "custom", "path": str(user_dir(tmp_path, GRADE_CODE))})
    results = grade_batch([sample("42", "a"), sample("boom", "b"), sample("41", "c")], grader)
    assert [r["id"] for r in results] == ["a", "b", "c"]
    assert [r["aggregate_reward_score"] for r in results] == [1.0, 0.0, 0.0]
    assert {"name": "answer_chars", "value": 2.0, "type": "Metric"} in results[0]["metrics_list"]
    assert results[1]["metrics_list"] == [
        {"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}
    ]
    assert "user bug" in results[1]["error"]


def test_a_full_handler_is_held_to_the_contract(tmp_path: Path) -> None:
    directory = user_dir(tmp_path, HANDLER_CODE, module="handler")
    grader = build_grader(
        {
            "type": "custom",
            "path": str(directory),
            "entry": "handler:lambda_handler",
            "handler": True,
        }
    )
    results = grade_batch([sample("x", i) for i in ("a", "b", "c")], grader)
    assert [r["id"] for r in results] == ["a", "b", "c"]
    assert results[0]["aggregate_reward_score"] == 0.5
    # The user's handler swapped b and c: those two score 0 with an explanation.
    assert [r["aggregate_reward_score"] for r in results[1:]] == [0.0, 0.0]
    assert "out of order" in results[1]["error"]


def test_spec_problems() -> None:
    found = dict(spec_problems({"type": "custom", "entry": "no colon", "handler": "yes", "pth": 1}))
    assert set(found) == {"path", "entry", "handler", "pth"}
    assert "did you mean 'path'" in found["pth"]
    assert spec_problems({"type": "custom", "path": "x", "entry": "pkg.mod:grade_fn"}) == []


def test_a_missing_entry_fails_at_build(tmp_path: Path) -> None:
    directory = user_dir(tmp_path, "def other(sample):\n    return 1.0\n")
    with pytest.raises(GraderSpecError, match=r"entry: grader\.grade is not a function"):
        build_grader({"type": "custom", "path": str(directory)})


EXITING_CODE = """
import json
import sys

def grade(sample):
    if sample["answer"] == "quit":
        sys.exit(3)
    if sample["answer"] == "inf":
        return float("inf")
    return 1.0
"""


def lambda_reply(monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], event: list) -> list:
    """What the Lambda would send back: the handler's output, as strict JSON."""
    from rft_env.graders import handler

    monkeypatch.setattr(handler, "_cached", None)
    monkeypatch.setenv(handler.ENV_VAR, json.dumps(spec))
    return json.loads(json.dumps(handler.lambda_handler(event, None), allow_nan=False))


def test_sys_exit_in_user_code_costs_one_sample_not_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"type": "custom", "path": str(user_dir(tmp_path, EXITING_CODE))}
    reply = lambda_reply(monkeypatch, spec, [sample("42", "a"), sample("quit", "b")])
    assert [r["aggregate_reward_score"] for r in reply] == [1.0, 0.0]
    assert reply[1]["metrics_list"] == [
        {"name": GRADER_ERROR_METRIC, "value": 1.0, "type": "Metric"}
    ]
    assert reply[1]["error"] == "UserExit: custom grader called sys.exit(3)"


def test_sys_exit_in_a_full_handler_fails_its_batch_not_the_process(tmp_path: Path) -> None:
    code = "import sys\ndef lambda_handler(event, context):\n    raise SystemExit('bye')\n"
    directory = user_dir(tmp_path, code, module="handler")
    grader = build_grader(
        {
            "type": "custom",
            "path": str(directory),
            "entry": "handler:lambda_handler",
            "handler": True,
        }
    )
    results = grade_batch([sample("x", "a"), sample("y", "b")], grader)
    assert [r["aggregate_reward_score"] for r in results] == [0.0, 0.0]
    assert all("called sys.exit('bye')" in r["error"] for r in results)


def test_a_keyboard_interrupt_still_stops_a_local_run(tmp_path: Path) -> None:
    code = "def grade(sample):\n    raise KeyboardInterrupt\n"
    grader = build_grader({"type": "custom", "path": str(user_dir(tmp_path, code))})
    with pytest.raises(KeyboardInterrupt):
        grade_batch([sample("42", "a")], grader)


def test_a_non_finite_score_from_user_code_is_an_error_alone_or_in_a_composite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom_spec = {"type": "custom", "path": str(user_dir(tmp_path, EXITING_CODE))}
    reply = lambda_reply(monkeypatch, custom_spec, [sample("inf", "a")])
    assert reply[0]["aggregate_reward_score"] == 0.0  # was 1.0: inf was clamped
    assert reply[0]["error"] == "ValueError: score must be a finite number, got inf"
    composite = {
        "type": "composite",
        "parts": [
            {"name": "user", "weight": 1, "grader": custom_spec},
            {"name": "exact", "weight": 1, "grader": {"type": "exact_match"}},
        ],
    }
    reply = lambda_reply(monkeypatch, composite, [sample("inf", "a")])
    metrics = {m["name"]: m["value"] for m in reply[0]["metrics_list"]}
    assert metrics["user"] == 0.0 and metrics["user.error"] == 1.0
    assert reply[0]["aggregate_reward_score"] == 0.0


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def grade(sample) return 1\n", "importing grader failed: SyntaxError: expected ':'"),
        ("import sys\nsys.exit(1)\n", "importing grader failed: UserExit: custom grader called"),
        ("import no_such_dependency\n", "No module named 'no_such_dependency'"),
        ("raise RuntimeError('at import')\n", "RuntimeError: at import"),
    ],
)
def test_a_module_that_cannot_be_imported_is_a_spec_error(
    tmp_path: Path, code: str, message: str
) -> None:
    with pytest.raises(GraderSpecError, match="custom grader: entry: ") as raised:
        build_grader({"type": "custom", "path": str(user_dir(tmp_path, code))})
    assert message in str(raised.value)
