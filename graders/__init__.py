"""Code that runs inside the grader (reward) Lambda functions. Standard library only."""

from .contract import GraderSpecError, Sample, grade_batch, parse_event
from .registry import GRADER_TYPES, build_grader, spec_problems

__all__ = [
    "GRADER_TYPES",
    "GraderSpecError",
    "Sample",
    "build_grader",
    "grade_batch",
    "parse_event",
    "spec_problems",
]
