"""`rftenv grade` runs a stack's grader locally: custom graders' directories, composites'
parts included, are made absolute in a copy of the spec, and every LLM judge is connected
the way the stack's other commands connect (its region, its deployment role)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

from rft_env.components.bedrock.session import Connection
from rft_env.graders.registry import build_grader
from rft_env.rftenv.cli import _resolve_paths
from rft_env.rftenv.grading import judge_connection, judges
from rft_env.rftenv.project import selected_project


def test_custom_paths_are_resolved_at_every_depth_in_a_copy(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    judge = {"type": "llm_judge", "modelId": "amazon.nova-pro-v1:0"}
    spec: dict[str, Any] = {
        "type": "composite",
        "parts": [
            {"name": "mine", "weight": 1, "grader": {"type": "custom", "path": "g/top"}},
            {
                "name": "inner",
                "weight": 1,
                "grader": {
                    "type": "composite",
                    "parts": [
                        {
                            "name": "deep",
                            "weight": 1,
                            "grader": {"type": "custom", "path": "g/deep"},
                        },
                        {"name": "judge", "weight": 1, "grader": judge},
                    ],
                },
            },
        ],
    }
    given = copy.deepcopy(spec)
    with selected_project(tmp_path):
        resolved = _resolve_paths(spec)
    root = tmp_path.resolve()
    assert resolved["parts"][0]["grader"]["path"] == str(root / "g" / "top")
    inner = resolved["parts"][1]["grader"]["parts"]
    assert inner[0]["grader"]["path"] == str(root / "g" / "deep")
    assert inner[1]["grader"] == judge
    assert spec == given  # the stack's spec is not changed


def test_a_spec_without_custom_graders_comes_back_equal(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    spec = {"type": "exact_match"}
    with selected_project(tmp_path):
        assert _resolve_paths(spec) == {"type": "exact_match"}


def judge(**overrides: Any) -> Any:
    spec = {"type": "llm_judge", "modelId": "us.amazon.nova-pro-v1:0", "rubric": "{answer}"}
    return build_grader({**spec, **overrides})


STACK = Connection(
    region="us-east-1",
    role_arn="arn:aws:iam::111122223333:role/rft-env-deployer",
    external_id="rft-env-dev",
)


def test_a_judge_connects_through_the_stacks_role_in_the_stacks_region() -> None:
    connection = judge_connection(STACK, judge())
    assert connection == replace(STACK, total_max_attempts=1)  # the judge retries itself


def test_a_judges_own_region_and_endpoint_are_kept_unless_overridden() -> None:
    own = judge(region="eu-west-1", endpointUrl="http://127.0.0.1:9")
    connection = judge_connection(STACK, own)
    assert (connection.region, connection.endpoint_url) == ("eu-west-1", "http://127.0.0.1:9")
    assert connection.role_arn == STACK.role_arn and connection.external_id == "rft-env-dev"
    # --endpoint-url wins over the spec's.
    overridden = judge_connection(replace(STACK, endpoint_url="http://127.0.0.1:8"), own)
    assert overridden.endpoint_url == "http://127.0.0.1:8"


def test_every_judge_of_a_composite_is_found() -> None:
    inner = {"type": "llm_judge", "modelId": "amazon.nova-lite-v1:0", "rubric": "{answer}"}
    spec = {
        "type": "composite",
        "parts": [
            {"name": "a", "weight": 1, "grader": {"type": "math_answer"}},
            {
                "name": "b",
                "weight": 1,
                "grader": {
                    "type": "composite",
                    "parts": [
                        {"name": "c", "weight": 1, "grader": inner},
                        {"name": "d", "weight": 1, "grader": {"type": "exact_match"}},
                    ],
                },
            },
        ],
    }
    assert [j.model_id for j in judges(build_grader(spec))] == ["amazon.nova-lite-v1:0"]
    assert judges(build_grader({"type": "exact_match"})) == []
