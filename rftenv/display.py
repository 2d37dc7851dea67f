"""Console text that fits an 80-column terminal.

Tables and `label  value` lists go through these helpers: prose wraps at word boundaries,
and a single word too long for its room (an ARN, a URN, an S3 URI) is shortened in the
middle, where such identifiers repeat what the reader already knows (partition, account,
prefix) and keep what names the thing (its end). Every command with such output has a
`--format json` that prints the values whole.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Sequence

WIDTH = 80
ELLIPSIS = "…"
SHORTENED_NOTE = f"({ELLIPSIS} marks a value shortened to fit; --format json prints it whole)"
# A column is not narrowed below this (or below its header): a table too wide even then
# keeps its lines long rather than show only ellipses.
MIN_COLUMN = 8


def shorten(text: str, width: int) -> str:
    """`text`, or when it is longer than `width`, its start and (the longer) end joined by
    an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    tail = width // 2
    head = width - 1 - tail
    return text[:head] + ELLIPSIS + text[len(text) - tail :]


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, broken between words; a word longer than a line
    is shortened rather than split (half an ARN on each line helps nobody)."""
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    return [shorten(line, width) for line in lines] or [""]


def fill(text: str, width: int = WIDTH, indent: str = "  ") -> list[str]:
    """One logical line, wrapped: continuation lines are indented by `indent` more than the
    first line's own leading spaces."""
    lead = text[: len(text) - len(text.lstrip(" "))]
    if len(text) <= width:
        return [text]
    first, *rest = wrap(text.lstrip(" "), width - len(lead))
    if not rest:
        return [lead + first]
    more = wrap(" ".join(rest), width - len(lead) - len(indent))
    return [lead + first, *(lead + indent + line for line in more)]


def fields(rows: Sequence[tuple[str, str]], indent: str = "  ", width: int = WIDTH) -> list[str]:
    """`label  value` lines with the values aligned; a value too long for the room left of
    the line wraps under itself."""
    if not rows:
        return []
    label_width = max(len(label) for label, _ in rows)
    room = max(MIN_COLUMN, width - len(indent) - label_width - 2)
    lines = []
    for label, value in rows:
        first, *rest = wrap(value, room)
        lines.append(f"{indent}{label:<{label_width}}  {first}".rstrip())
        lines += [" " * (len(indent) + label_width + 2) + line for line in rest]
    return lines


def table(
    rows: Sequence[Sequence[str]],
    width: int = WIDTH,
    gap: int = 2,
    keep: Collection[int] = (),
) -> list[str]:
    """Aligned columns, the first row being the header. While the table is wider than
    `width`, its widest column is narrowed (never those in `keep`), and cells longer than
    their column are shortened in the middle."""
    if not rows:
        return []
    count = len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(count)]
    floors = [widths[i] if i in keep else max(MIN_COLUMN, len(rows[0][i])) for i in range(count)]
    while sum(widths) + gap * (count - 1) > width:
        column = max(range(count), key=lambda i: widths[i] - floors[i])
        if widths[column] <= floors[column]:
            break
        widths[column] -= 1
    return [
        (" " * gap)
        .join(shorten(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True))
        .rstrip()
        for row in rows
    ]


def any_shortened(lines: Sequence[str]) -> bool:
    return any(ELLIPSIS in line for line in lines)
