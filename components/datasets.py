"""Validation of Amazon Bedrock reinforcement fine-tuning (RFT) datasets.

Used at deploy time (DataBuckets validates files before uploading them) and by
``rftenv validate-data``. Standard library only, so the CLI can use it without
a Pulumi engine, and it never raises for bad content: every defect becomes a
``DatasetProblem`` so users see all of them at once instead of one per failed job.
"""

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rft_env.components.files import open_regular
from rft_env.graders.contract import json_type_name

ALLOWED_ROLES: tuple[str, ...] = ("system", "user", "assistant")
PURPOSES: tuple[str, ...] = ("training", "validation")
DEFAULT_MIN_RECORDS = 100
DEFAULT_MAX_RECORDS = 20_000
DEFAULT_MAX_PROBLEMS = 50

# Long user values would drown the message that explains what is wrong with them.
_PREVIEW_CHARS = 40
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class DatasetProblem:
    """One defect; ``line`` is 1-based, or None for file-level problems."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class DatasetReport:
    """Outcome of validating one JSONL file.

    ``records`` counts non-blank lines, valid or not, because that is what the
    service counts against the job limits. ``sha256`` and ``size_bytes`` describe
    the exact bytes read; both are empty/zero when the file could not be read.
    """

    path: Path
    records: int
    sha256: str
    size_bytes: int
    problems: tuple[DatasetProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class DatasetError(ValueError):
    """Raised by ``require_valid_dataset``; ``report`` holds the full result."""

    def __init__(self, report: DatasetReport) -> None:
        self.report = report
        count = len(report.problems)
        header = f"{report.path}: invalid RFT dataset ({count} problem{'s' * (count != 1)}):"
        super().__init__("\n".join([header, *(f"  - {p}" for p in report.problems)]))


def validate_dataset(
    path: Path | str,
    *,
    min_records: int = DEFAULT_MIN_RECORDS,
    max_records: int = DEFAULT_MAX_RECORDS,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    allow_duplicates: bool = False,
    max_bytes: int | None = None,
) -> DatasetReport:
    """Check an RFT JSONL file, reading it once and line by line.

    A prompt (its `messages`) that repeats an earlier line's is a problem unless
    `allow_duplicates`.

    Raises ValueError only for invalid arguments; problems with the file itself
    (missing, unreadable, malformed) are returned in the report.
    """
    if min_records < 0 or max_records < min_records:
        raise ValueError(f"need 0 <= min_records <= max_records, got {min_records}, {max_records}")
    if max_problems < 1:
        raise ValueError(f"max_problems must be at least 1, got {max_problems}")

    path = Path(path)
    digest = hashlib.sha256()
    size = 0
    records = 0
    line_problems: list[DatasetProblem] = []
    prompts: dict[bytes, int] | None = None if allow_duplicates else {}
    suppressed = 0
    try:
        # Only a regular file: reading a FIFO would block for ever.
        with open_regular(path) as fh:
            # Iterating the binary file streams it and lets the hash cover every byte,
            # newlines included. A b"\n" never occurs inside a multi-byte UTF-8
            # sequence, so decoding per line reports the exact line of a bad byte.
            for lineno, raw in enumerate(fh, start=1):
                digest.update(raw)
                size += len(raw)
                if raw.strip():
                    records += 1
                    messages = list(_line_problems(raw, lineno=lineno, prompts=prompts))
                else:
                    messages = ["blank line; JSONL needs exactly one JSON object per line"]
                for message in messages:
                    if len(line_problems) < max_problems:
                        line_problems.append(DatasetProblem(lineno, message))
                    else:
                        suppressed += 1
    except OSError as exc:
        reason = exc.strerror or str(exc)
        problem = DatasetProblem(None, f"cannot read file: {reason}")
        return DatasetReport(path, records=0, sha256="", size_bytes=0, problems=(problem,))

    file_problems: list[DatasetProblem] = []
    # AWS documents no byte limit for RFT data; a caller may set one of its own.
    if max_bytes is not None and size > max_bytes:
        file_problems.append(
            DatasetProblem(None, f"file is {size:,} bytes; allowed: at most {max_bytes:,}")
        )
    if not min_records <= records <= max_records:
        file_problems.append(
            DatasetProblem(
                None,
                f"dataset has {records:,} records; allowed: {min_records:,} to {max_records:,}",
            )
        )
    # File-level problems go first so the cap can never hide them behind line noise.
    problems = file_problems + line_problems
    suppressed += max(0, len(problems) - max_problems)
    problems = problems[:max_problems]
    if suppressed:
        problems.append(
            DatasetProblem(
                None,
                f"{suppressed:,} more problem{'s' * (suppressed != 1)} suppressed "
                f"(showing the first {max_problems})",
            )
        )
    return DatasetReport(
        path,
        records=records,
        sha256=digest.hexdigest(),
        size_bytes=size,
        problems=tuple(problems),
    )


def require_valid_dataset(
    path: Path | str,
    *,
    min_records: int = DEFAULT_MIN_RECORDS,
    max_records: int = DEFAULT_MAX_RECORDS,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> DatasetReport:
    """Like ``validate_dataset`` but raises ``DatasetError`` unless the file is valid."""
    report = validate_dataset(
        path, min_records=min_records, max_records=max_records, max_problems=max_problems
    )
    if not report.ok:
        raise DatasetError(report)
    return report


def content_key(report: DatasetReport, purpose: str) -> str:
    """S3 key for a dataset that changes exactly when its bytes change.

    Content addressing lets a deploy upload a new object instead of overwriting
    one that a running job may still be reading.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose: got {purpose!r}; allowed: {', '.join(PURPOSES)}")
    if not _SHA256_HEX.fullmatch(report.sha256):
        raise ValueError(f"{report.path}: report has no content hash (was the file readable?)")
    # Restrict the name to characters that need no escaping in S3 URIs handed to Bedrock.
    name = _UNSAFE_KEY_CHARS.sub("-", report.path.name).strip("-") or "dataset.jsonl"
    return f"datasets/{purpose}/{report.sha256[:16]}/{name}"


def _line_problems(
    raw: bytes, *, lineno: int, prompts: dict[bytes, int] | None = None
) -> Iterator[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
        return
    if lineno == 1 and text.startswith("\ufeff"):
        yield "file starts with a UTF-8 byte order mark; save it as UTF-8 without BOM"
        text = text[1:]
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        yield f"invalid JSON: {exc.msg} (column {exc.colno})"
        return
    except RecursionError:
        yield "invalid JSON: nested too deeply to parse"
        return
    except ValueError as exc:
        # Python-specific limits (e.g. digits in an integer) and NaN/Infinity.
        yield f"invalid JSON: {exc}"
        return
    yield from _record_problems(record)
    if (
        prompts is not None
        and isinstance(record, dict)
        and isinstance(record.get("messages"), list)
    ):
        # The same prompt twice weighs it double in training, and is almost always a
        # data-preparation mistake (a join or an append run twice).
        key = hashlib.sha256(json.dumps(record["messages"], sort_keys=True).encode()).digest()
        if key in prompts:
            yield f"duplicate prompt: the same messages as line {prompts[key]}"
        else:
            prompts[key] = lineno


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity, but they are not JSON and other parsers reject them.
    raise ValueError(f"{name} is not a valid JSON value")


def _record_problems(record: object) -> Iterator[str]:
    if not isinstance(record, dict):
        yield f"expected a JSON object, got {json_type_name(record)}"
        return
    yield from _messages_problems(record)
    if "reference_answer" not in record:
        yield "reference_answer: missing (required; any JSON value except null)"
    elif record["reference_answer"] is None:
        yield "reference_answer: must not be null"
    elif isinstance(record["reference_answer"], str) and not record["reference_answer"].strip():
        # Graders compare the answer with it: an empty reference is contained in, or (after
        # normalisation) equal to, answers that say nothing, so it rewards the wrong thing.
        yield "reference_answer: must not be empty or whitespace-only"


def _messages_problems(record: dict[str, Any]) -> Iterator[str]:
    if "messages" not in record:
        yield "messages: missing (required)"
        return
    messages = record["messages"]
    if not isinstance(messages, list):
        yield f"messages: expected a non-empty array, got {json_type_name(messages)}"
        return
    if not messages:
        yield "messages: must not be empty"
        return
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            yield f"{where}: expected an object, got {json_type_name(message)}"
            continue
        if "role" not in message:
            yield f"{where}.role: missing (required)"
        elif not isinstance(message["role"], str) or message["role"] not in ALLOWED_ROLES:
            got = _preview(message["role"])
            yield f"{where}.role: got {got}; allowed: {', '.join(ALLOWED_ROLES)}"
        elif message["role"] == "system" and index > 0:
            yield f"{where}.role: 'system' is only allowed as the first message"
        yield from _content_problems(message, where)
    last = messages[-1]
    # Only judge the final turn when its role is otherwise valid, to avoid a second
    # complaint about the same field.
    if isinstance(last, dict):
        role = last.get("role")
        if isinstance(role, str) and role in ALLOWED_ROLES and role != "user":
            yield (
                f"messages[{len(messages) - 1}].role: the last message must be 'user' "
                f"(the prompt must not contain the answer), got {role!r}"
            )


def _content_problems(message: dict[str, Any], where: str) -> Iterator[str]:
    field = f"{where}.content"
    if "content" not in message:
        yield f"{field}: missing (required)"
        return
    content = message["content"]
    if isinstance(content, str):
        if not content.strip():
            yield f"{field}: must not be empty or whitespace-only"
        return
    if not isinstance(content, list):
        yield f"{field}: expected a string or an array of text parts, got {json_type_name(content)}"
        return
    if not content:
        yield f"{field}: must not be an empty array"
        return
    for index, part in enumerate(content):
        part_where = f"{field}[{index}]"
        if not isinstance(part, dict):
            yield f"{part_where}: expected a text part object, got {json_type_name(part)}"
            continue
        if "type" not in part:
            yield f"{part_where}.type: missing (required; must be 'text')"
            continue
        if part["type"] != "text":
            got = _preview(part["type"])
            yield f"{part_where}.type: got {got}; only 'text' parts are supported"
            continue
        if "text" not in part:
            yield f"{part_where}.text: missing (required)"
        elif not isinstance(part["text"], str):
            yield f"{part_where}.text: expected a string, got {json_type_name(part['text'])}"
        elif not part["text"].strip():
            yield f"{part_where}.text: must not be empty or whitespace-only"


def _preview(value: object) -> str:
    if isinstance(value, str):
        if len(value) > _PREVIEW_CHARS:
            return repr(value[:_PREVIEW_CHARS]) + "..."
        return repr(value)
    if isinstance(value, list | dict):
        # Structures are summarised rather than dumped: they can be huge or deeply nested.
        return f"an {json_type_name(value)}"
    return json.dumps(value)
