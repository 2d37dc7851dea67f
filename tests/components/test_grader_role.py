"""A grader's execution role may invoke the judge models in its spec, composites' parts
included, and nothing else besides writing its logs."""

from __future__ import annotations

from rft_env.components.graders import grader_role_statements
from rft_env.components.naming import Names

NAMES = Names("dev", "111122223333", "us-east-1")
PRO = {"type": "llm_judge", "modelId": "amazon.nova-pro-v1:0"}
LITE = {"type": "llm_judge", "modelId": "amazon.nova-lite-v1:0"}


def test_judges_nested_in_composites_each_get_their_statement() -> None:
    spec = {
        "type": "composite",
        "parts": [
            {"name": "pro", "weight": 1, "grader": PRO},
            {
                "name": "inner",
                "weight": 1,
                "grader": {
                    "type": "composite",
                    "parts": [
                        {"name": "exact", "weight": 1, "grader": {"type": "exact_match"}},
                        {"name": "lite", "weight": 1, "grader": LITE},
                    ],
                },
            },
        ],
    }
    statements = grader_role_statements(NAMES, spec)
    assert [(s["Sid"], s["Resource"]) for s in statements] == [
        ("InvokeJudgeModel0", NAMES.foundation_model_arn("amazon.nova-pro-v1:0")),
        ("InvokeJudgeModel1", NAMES.foundation_model_arn("amazon.nova-lite-v1:0")),
    ]


def test_a_single_judge_keeps_the_plain_sid_and_a_rule_grader_gets_nothing() -> None:
    (statement,) = grader_role_statements(NAMES, PRO)
    assert statement["Sid"] == "InvokeJudgeModel"
    assert grader_role_statements(NAMES, {"type": "exact_match"}) == []
