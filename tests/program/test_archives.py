"""Synth lists every file each grader archive ships, in the JSON and, counted, in the table."""

from __future__ import annotations

import json

import pulumi
import pytest

from rft_env.rftenv import stack_files, synth

CONCISE = {"type": "custom", "path": "stacks/graders/concise"}


def test_synth_lists_what_each_grader_archive_ships() -> None:
    values = stack_files.engine_config("dev")
    graders = json.loads(values["rft-env:graders"])
    values["rft-env:graders"] = json.dumps({**graders, "concise": CONCISE})
    result = synth.synthesize("dev", config=values)
    archives = {a["name"]: a for a in result["archives"]}
    assert set(archives) == {
        "rft-grader-arithmetic-function",
        "rft-grader-judged-function",
        "rft-grader-concise-function",
    }
    concise = archives["rft-grader-concise-function"]
    assert concise["input"] == "code"
    assert concise["urn"].endswith("::rft-grader-concise-function")
    # The user's folder holds only code: no bytecode cache reaches the archive.
    assert [f for f in concise["files"] if not f.startswith("graders/")] == [
        "custom_grader/grader.py"
    ]
    function = next(r for r in result["resources"] if r["urn"] == concise["urn"])
    assert concise["files"] == sorted(function["inputs"]["code"]["$archive"])
    table = synth.render_table(result)
    count = len(concise["files"])
    assert (
        f"  rft-grader-concise-function code: {count} files (custom_grader/ 1, graders/ "
        f"{count - 1})" in table
    )


def test_a_composites_custom_part_ships_its_directory() -> None:
    """staging's `reasoned` grader combines math_answer with the custom `concise`: its
    Lambda must carry the custom code, or every sample would score a grader_error."""
    result = synth.synthesize("staging")
    archives = {a["name"]: a for a in result["archives"]}
    reasoned = archives["rft-grader-reasoned-function"]
    assert [f for f in reasoned["files"] if not f.startswith("graders/")] == [
        "custom_grader/grader.py"
    ]


def test_one_custom_grader_per_lambda() -> None:
    """The archive has one `custom_grader` package: a second custom part is refused,
    naming its key, before anything is built."""
    values = stack_files.engine_config("dev")
    graders = json.loads(values["rft-env:graders"])
    part = {"name": "a", "weight": 1, "grader": CONCISE}
    composite = {"type": "composite", "parts": [part, {**part, "name": "b"}]}
    values["rft-env:graders"] = json.dumps({**graders, "both": composite})
    with pytest.raises(pulumi.RunError) as raised:
        synth.synthesize("dev", config=values)
    assert (
        'rft-env:graders.both.parts[1].grader: got "custom"; allowed: one custom grader per '
        "grader Lambda (rft-env:graders.both.parts[0].grader is one)"
    ) in str(raised.value)
