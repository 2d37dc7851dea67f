"""Held-out prompts: the records a grader or a model is tried on, read from a dataset file.

Training records as JSONL (with or without `candidates`), or a Lambda event (a JSON array of
samples, whose last message, the answer, is dropped). Used by `rftenv grade --probe`,
`rftenv evaluate`, and the promotion gate's evaluation in the `RftEvaluation` dynamic
provider, so it lives here rather than in the CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rft_env.components.files import NotTextError, read_text

# A training record's keys that hold candidate answers to grade, not metadata.
CANDIDATE_KEYS = ("candidates", "answers")


class PromptsError(ValueError):
    """The prompts file cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class Prompt:
    """One held-out prompt: its messages (ending with the user's turn), reference answer and
    metadata (passed to the grader as the Lambda event's `metadata`)."""

    id: str
    messages: list[Any]
    reference: Any
    metadata: dict[str, Any]


def message_text(content: object) -> str:
    """A message's text: a string, or the text blocks of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _prompt(where: str, record: object) -> Prompt:
    """A prompt from a training record, or from a Lambda-event sample (whose last message,
    the answer, is dropped)."""
    if not isinstance(record, dict):
        raise PromptsError(f"{where}: expected a JSON object")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise PromptsError(f"{where}: `messages` must be a non-empty list")
    last = messages[-1]
    if isinstance(last, dict) and last.get("role") == "assistant":
        messages = messages[:-1]
    if not messages:
        raise PromptsError(f"{where}: `messages` holds only an answer, no prompt")
    event_metadata = record.get("metadata")
    if isinstance(event_metadata, dict):  # the Lambda event's shape
        metadata = dict(event_metadata)
    else:  # a training record: its other keys are the metadata, as Bedrock passes them
        metadata = {
            key: value for key, value in record.items() if key not in ("messages", *CANDIDATE_KEYS)
        }
    reference = metadata.get("reference_answer", record.get("reference_answer"))
    if reference is None:
        raise PromptsError(f"{where}: `reference_answer` is missing")
    metadata.pop("reference_answer", None)
    return Prompt(str(record.get("id", where)), list(messages), reference, metadata)


def load_prompts(path: Path, limit: int | None = None) -> list[Prompt]:
    """The first `limit` distinct prompts in `path` (all when None): training records as
    JSONL (with or without `candidates`), or a Lambda event (JSON array). PromptsError if
    unusable, OSError if unreadable."""
    try:
        text = read_text(path)
    except NotTextError as error:
        raise PromptsError(f"{path}: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    except RecursionError:
        raise PromptsError(f"{path}: nested too deeply to read") from None
    records: list[tuple[str, object]] = []
    if isinstance(document, list):
        records = [(f"{path}: sample {index}", item) for index, item in enumerate(document)]
    elif isinstance(document, dict):
        records = [(f"{path}: line 1", document)]
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((f"{path}: line {lineno}", json.loads(line)))
            except json.JSONDecodeError as error:
                raise PromptsError(f"{path}: line {lineno}: invalid JSON: {error.msg}") from None
            except RecursionError:
                raise PromptsError(f"{path}: line {lineno}: nested too deeply to read") from None
    prompts: dict[str, Prompt] = {}
    for where, record in records:
        prompt = _prompt(where, record)
        prompts.setdefault(json.dumps(prompt.messages, sort_keys=True, default=str), prompt)
        if limit is not None and len(prompts) >= limit:
            break
    if not prompts:
        raise PromptsError(f"{path}: no prompts")
    return list(prompts.values())
