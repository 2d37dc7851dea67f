"""`rftenv grade` runs a stack's grader locally: custom graders' directories, composites'
parts included, are made absolute in a copy of the spec."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from rft_env.rftenv.cli import _resolve_paths
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
