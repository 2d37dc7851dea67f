"""Synth lists every file each grader archive ships, in the JSON and, counted, in the table."""

from __future__ import annotations

import json

from rft_env.rftenv import synth

CONCISE = {"type": "custom", "path": "stacks/graders/concise"}


def test_synth_lists_what_each_grader_archive_ships() -> None:
    values = synth.engine_config("dev")
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
