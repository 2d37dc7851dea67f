"""An example custom grader: rewards a short final line (the answer without the working).

rft-env packages this directory into the grader Lambda as the `custom_grader` package and
calls `grade` once per sample, behind the same contract as the built-in graders: if this
raises, that one sample scores 0 with a `grader_error` metric. Add a `requirements.txt`
here (pinned versions) and rft-env vendors it for the Lambda's architecture.
"""

TARGET_CHARS = 12  # a bare number or short phrase
SLACK_CHARS = 200  # the reward falls to 0 over this many extra characters


def grade(sample: dict) -> tuple[float, dict[str, float]]:
    lines = [line.strip() for line in sample["answer"].splitlines() if line.strip()]
    final = lines[-1] if lines else ""
    excess = max(0, len(final) - TARGET_CHARS)
    score = max(0.0, 1.0 - excess / SLACK_CHARS) if final else 0.0
    return score, {"final_line_chars": float(len(final))}
