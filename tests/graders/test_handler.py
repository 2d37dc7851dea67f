import ast
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rft_env.graders import handler
from rft_env.graders.contract import GraderSpecError, Sample

ROOT = Path(__file__).resolve().parents[2]

EVENT = [
    {"id": "a", "messages": [{"role": "assistant", "content": "42"}], "reference_answer": "42"},
    {"id": "b", "messages": [{"role": "assistant", "content": "41"}], "reference_answer": "42"},
]


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Each test starts as a cold container.
    monkeypatch.setattr(handler, "_cached", None)
    monkeypatch.delenv("GRADER_SPEC", raising=False)
    yield


@pytest.fixture
def build_count(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    real = handler.build_grader

    def counting(spec: object) -> Any:
        calls.append(spec)
        return real(spec)

    monkeypatch.setattr(handler, "build_grader", counting)
    return calls


def scores(results: list[dict[str, Any]]) -> list[float]:
    return [r["aggregate_reward_score"] for r in results]


def test_grades_with_spec_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SPEC", json.dumps({"type": "exact_match"}))
    results = handler.lambda_handler(EVENT, None)
    assert [r["id"] for r in results] == ["a", "b"]
    assert scores(results) == [1.0, 0.0]


def test_grader_built_once_per_container(
    monkeypatch: pytest.MonkeyPatch, build_count: list[object]
) -> None:
    monkeypatch.setenv("GRADER_SPEC", '{"type": "exact_match"}')
    for _ in range(3):
        assert scores(handler.lambda_handler(EVENT, None)) == [1.0, 0.0]
    assert build_count == [{"type": "exact_match"}]


def test_grader_rebuilt_when_env_changes(
    monkeypatch: pytest.MonkeyPatch, build_count: list[object]
) -> None:
    monkeypatch.setenv("GRADER_SPEC", '{"type": "exact_match"}')
    assert scores(handler.lambda_handler(EVENT, None)) == [1.0, 0.0]
    monkeypatch.setenv("GRADER_SPEC", '{"type": "exact_match", "operation": "ne"}')
    assert scores(handler.lambda_handler(EVENT, None)) == [0.0, 1.0]
    assert scores(handler.lambda_handler(EVENT, None)) == [0.0, 1.0]
    assert len(build_count) == 2


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_spec_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv("GRADER_SPEC", value)
    with pytest.raises(GraderSpecError, match=r"^GRADER_SPEC: environment variable is not set$"):
        handler.lambda_handler(EVENT, None)


def test_non_json_spec_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SPEC", "{type: exact_match")
    with pytest.raises(GraderSpecError, match=r"^GRADER_SPEC: not valid JSON: "):
        handler.lambda_handler(EVENT, None)


def test_invalid_spec_names_the_variable_and_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SPEC", '{"type": "exact_match", "operation": "equals", "x": 1}')
    with pytest.raises(GraderSpecError) as info:
        handler.lambda_handler(EVENT, None)
    message = str(info.value)
    assert message.startswith("GRADER_SPEC is invalid: ")
    assert "operation: got 'equals'; allowed: eq, ne, contains, regex" in message
    assert [key for key, _ in info.value.problems] == ["x", "operation"]


def test_invalid_spec_after_valid_one_is_not_masked_by_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRADER_SPEC", '{"type": "exact_match"}')
    handler.lambda_handler(EVENT, None)
    monkeypatch.setenv("GRADER_SPEC", '{"type": "nope"}')
    with pytest.raises(GraderSpecError, match="GRADER_SPEC is invalid: type: got 'nope'"):
        handler.lambda_handler(EVENT, None)


def test_non_finite_ids_come_back_as_valid_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's json (the Lambda runtime's) reads NaN and Infinity; echoing them would make
    the whole reply invalid JSON. They come back as their JSON text."""
    monkeypatch.setenv("GRADER_SPEC", '{"type": "exact_match"}')
    good = '"messages": [{"role": "assistant", "content": "42"}], "reference_answer": "42"'
    event = json.loads(
        f'[{{"id": NaN, {good}}}, {{"id": Infinity, {good}}}, {{"id": [-Infinity, 1], {good}}},'
        f' {{"id": {{"k": NaN}}, {good}}}, {{"id": 7, {good}}}, {{"id": "ok", {good}}}]'
    )
    results = handler.lambda_handler(event, None)
    reply = json.loads(json.dumps(results, allow_nan=False))
    assert [r["id"] for r in reply] == ["NaN", "Infinity", "[-Infinity, 1]", '{"k": NaN}', 7, "ok"]
    assert scores(reply) == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert all("id must be a non-empty string" in r["error"] for r in reply[:5])


def test_import_is_cheap_and_needs_no_spec() -> None:
    # A cold import must not read GRADER_SPEC or pull in anything beyond the stdlib.
    code = (
        "import sys, graders.handler as h; "
        "assert h._cached is None; "
        "assert not {'boto3', 'pulumi', 'hypothesis'} & set(sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SPEC"}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


# The LLM judge calls Bedrock: boto3 ships with the Lambda runtime, and the judge imports
# it only when it builds its client (tests/graders/test_llm_judge.py checks that importing
# the module does not import boto3).
RUNTIME_EXTRAS = {"llm_judge.py": {"boto3", "botocore"}}


def test_graders_package_imports_only_stdlib() -> None:
    for path in (ROOT / "graders").glob("*.py"):
        allowed = set(sys.stdlib_module_names) | RUNTIME_EXTRAS.get(path.name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name}: {name}"


class FakeContext:
    """The part of the Lambda context the handler reads."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_stalling_sample_fails_alone_within_the_lambdas_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each sample gets its share of the remaining time (less the response margin): the
    catastrophic regex sample, 14-16 s unbounded, fails; the batch is answered in time."""
    catastrophic = re.compile(r"^(a+)+$")

    def grader(sample: Sample) -> float:
        return 1.0 if catastrophic.match(sample.answer_text) else 0.0

    # A warm container whose grader (any plain grader) is already built.
    monkeypatch.setenv("GRADER_SPEC", '{"type": "exact_match"}')
    monkeypatch.setattr(handler, "_cached", ('{"type": "exact_match"}', grader))
    event = [
        {"id": sid, "messages": [{"role": "assistant", "content": answer}], "reference_answer": "x"}
        for sid, answer in (("a", "aaa"), ("slow", "a" * 28 + "b"), ("b", "aa"))
    ]
    remaining_ms = int((handler.RESPONSE_MARGIN_SECONDS + 0.3) * 1000)
    started = time.monotonic()
    results = handler.lambda_handler(event, FakeContext(remaining_ms))
    assert time.monotonic() - started < 0.6
    assert [r["id"] for r in results] == ["a", "slow", "b"]
    assert scores(results) == [1.0, 0.0, 1.0]
    assert results[1]["metrics_list"] == [{"name": "grader_error", "value": 1.0, "type": "Metric"}]
    assert results[1]["error"].startswith("SampleTimeoutError: timed out after 0.")
    assert results[1]["error"].endswith("s (the sample's share of the Lambda's remaining time)")
