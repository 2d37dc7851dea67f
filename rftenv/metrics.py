"""`rftenv metrics <stack>`: download a job's metric CSVs from S3, chart and summarise them.

Bedrock writes step-wise metrics under `<output s3Uri>/model-customization-job-<job id>/`
(Bedrock user guide, "Analyze the results of a model customization job"). The documented
files are the fine-tuning ones; what RFT writes (reward statistics such as
`critic/rewards/mean`) is unconfirmed, so every CSV under the job's folder is read the same
generic way: one step column, and every other numeric column is a metric. The parsing,
summary and chart functions are pure (files in, values or files out) and tested on
fixtures; only `run` talks to AWS. What each figure shows and how it is drawn lives in
`charts.py`. matplotlib and boto3 are imported when used, not when the CLI starts.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rft_env.rftenv import display, jobs
from rft_env.rftenv.command import Command, about

STEP_COLUMNS = ("step_number", "step", "global_step")
# Numeric columns that index rows rather than measure anything: kept out of the charts.
INDEX_COLUMNS = frozenset({"epoch_number", "epoch"})
TRAINING_FILE = "training_artifacts/step_wise_training_metrics.csv"
VALIDATION_FILES = (
    "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv",
    # Some readers of Bedrock's output expect one more level; accept either.
    "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
)
EXPECTED_FILES: dict[str, tuple[str, ...]] = {
    "training metrics": (TRAINING_FILE,),
    "validation metrics": VALIDATION_FILES,
}
GROUPS = ("loss", "rewards", "other")
MAX_PROBLEMS = 20
# Bounds on what one run reads and draws. Bedrock's files have a handful of metrics; a CSV
# with thousands of columns (one panel each) once took 5.5 GB to chart. Columns past the
# limit are not read, lines past it are not drawn, and both cuts are reported.
MAX_METRIC_COLUMNS = 50
MAX_LINES_PER_CHART = 12
# Points beyond this magnitude are left out of the charts (and reported): matplotlib's tick
# computation overflows near the float maximum (1e308 fails), and such a value flattens
# every other line of its chart to zero anyway. Summaries keep the true values.
MAX_CHART_MAGNITUDE = 1e15
# Validation results: metrics named val-…, val/…, val_…, validation_… (RFT's
# val-score/rewards/mean@1, the fine-tuning validation_loss) and every column of a file named
# so (validation_metrics.csv). "value…" and "valid…" are not.
VALIDATION_NAME = re.compile(r"val(?:idation)?(?![a-z])", re.IGNORECASE)


class MetricsFileError(ValueError):
    """A metrics CSV that cannot be read; names the file and the line of each problem."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"{source}: {self.problems[0]}"
        else:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            text = f"{source}: {len(self.problems)} problems\n{listed}"
        super().__init__(text)


@dataclass(frozen=True)
class Series:
    """One metric's values, ordered by step; steps without a value are left out."""

    name: str
    steps: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class MetricsTable:
    """One parsed CSV: its metrics, and the columns that are not metrics (and why)."""

    source: str
    step_column: str
    rows: int
    series: tuple[Series, ...]
    skipped: tuple[tuple[str, str], ...]  # (column, reason)
    # What was read but not used as it stands: columns past the limit, non-finite cells,
    # points too large to chart.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChartLine:
    """One series as a chart draws it: its legend label, and whether it holds validation
    results (sparse evaluations, drawn as markers rather than a line)."""

    label: str
    series: Series
    validation: bool


@dataclass(frozen=True)
class Summary:
    metric: str
    first: float
    last: float
    minimum: float
    maximum: float
    steps: int


# ---------------------------------------------------------------------------------- parsing


def _number(cell: str) -> float | None:
    """A cell's value: None when it holds none (empty, NaN or infinite), else the float.
    Raises ValueError for text that is not a number."""
    text = cell.strip()
    if not text:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def load_metrics_file(path: Path, source: str | None = None) -> MetricsTable:
    """Parse a metrics CSV from disk; errors name `source` (default: the path)."""
    return parse_metrics_bytes(path.read_bytes(), source or str(path))


def parse_metrics_bytes(data: bytes, source: str) -> MetricsTable:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise MetricsFileError(source, [f"line {line}: not UTF-8 text ({error.reason})"]) from None
    return parse_metrics_csv(text, source)


def parse_metrics_csv(text: str, source: str) -> MetricsTable:
    """Parse a step-wise metrics CSV: a header naming a step column (step_number, step or
    global_step) and metric columns. Empty, NaN and infinite cells are missing values; a
    column with no number at all is text and skipped; a number column with text in it is an
    error. Every problem is reported with its line, up to MAX_PROBLEMS."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    problems: list[str] = []
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise MetricsFileError(source, [f"line {reader.line_num}: {error}"]) from None
    rows = [(line, row) for line, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise MetricsFileError(source, ["line 1: empty file: no header row"])
    header_line, raw_header = rows[0]
    header = [name.strip() for name in raw_header]
    step_column = _check_header(header, header_line, problems)
    if problems:
        raise MetricsFileError(source, problems)
    assert step_column is not None
    step_index = header.index(step_column)

    notes: list[str] = []
    candidates = [n for n in header if n != step_column and n.lower() not in INDEX_COLUMNS]
    read = set(candidates[:MAX_METRIC_COLUMNS])
    if len(candidates) > MAX_METRIC_COLUMNS:
        notes.append(
            f"{len(candidates) - MAX_METRIC_COLUMNS:,} more metric columns not read (limit "
            f"{MAX_METRIC_COLUMNS} per file; the first is {candidates[MAX_METRIC_COLUMNS]!r})"
        )

    steps: list[tuple[int, float]] = []  # (line, step) of every usable row
    cells: dict[str, list[tuple[int, float, str]]] = {name: [] for name in read}
    for line, row in rows[1:]:
        if len(row) < len(header) or any(cell.strip() for cell in row[len(header) :]):
            problems.append(
                f"line {line}: {len(row)} cells, but the header (line {header_line}) has "
                f"{len(header)} columns"
            )
            continue
        try:
            step = _number(row[step_index])
        except ValueError:
            problems.append(
                f"line {line}: {step_column} {row[step_index].strip()!r} is not a number"
            )
            continue
        if step is None:
            problems.append(f"line {line}: {step_column} is empty")
            continue
        steps.append((line, step))
        for name, cell in zip(header, row, strict=False):
            if name in read:
                cells[name].append((line, step, cell))

    series: list[Series] = []
    skipped: list[tuple[str, str]] = []
    for name in header:
        if name == step_column:
            continue
        if name.lower() in INDEX_COLUMNS:
            skipped.append((name, "index"))
            continue
        if name not in read:
            continue
        found, bad, non_finite = _column(cells[name])
        if non_finite:
            notes.append(f"{name}: {non_finite} NaN or infinite value(s), read as missing")
        if found and bad:
            for line, cell in bad:
                problems.append(f"line {line}, column {name!r}: {cell.strip()!r} is not a number")
        elif bad:
            skipped.append((name, "text"))
        elif not found:
            skipped.append((name, "no values"))
        else:
            ordered = sorted(found, key=lambda point: point[0])  # stable: file order on ties
            series.append(Series(name, tuple(s for s, _ in ordered), tuple(v for _, v in ordered)))
            huge = sum(1 for point in ordered if not _chartable(*point))
            if huge:
                notes.append(
                    f"{name}: {huge} point(s) beyond ±{MAX_CHART_MAGNITUDE:g}, left out of "
                    "the charts"
                )
    if problems:
        if len(problems) > MAX_PROBLEMS:
            extra = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], f"... and {extra} more"]
        raise MetricsFileError(source, problems)
    return MetricsTable(
        source, step_column, len(steps), tuple(series), tuple(skipped), tuple(notes)
    )


def _chartable(step: float, value: float) -> bool:
    return abs(step) <= MAX_CHART_MAGNITUDE and abs(value) <= MAX_CHART_MAGNITUDE


def _check_header(header: list[str], line: int, problems: list[str]) -> str | None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            problems.append(f"line {line}: column {position} has no name")
        elif name in seen:
            problems.append(f"line {line}: column {name!r} appears more than once")
        seen.add(name)
    step_column = next((name for name in STEP_COLUMNS if name in header), None)
    if step_column is None:
        problems.append(
            f"line {line}: no step column: expected one of {', '.join(STEP_COLUMNS)}; "
            f"the header has {', '.join(header)}"
        )
    return step_column


def _column(
    cells: list[tuple[int, float, str]],
) -> tuple[list[tuple[float, float]], list[tuple[int, str]], int]:
    """(step, value) pairs of the finite numeric cells, (line, cell) of the non-numeric
    ones, and how many cells held NaN or an infinity (missing values, but reported)."""
    found: list[tuple[float, float]] = []
    bad: list[tuple[int, str]] = []
    non_finite = 0
    for line, step, cell in cells:
        text = cell.strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            bad.append((line, cell))
            continue
        if math.isfinite(value):
            found.append((step, value))
        else:
            non_finite += 1
    return found, bad, non_finite


# ---------------------------------------------------------------------------------- summary


def summarize(series: Series) -> Summary:
    """First and last value (by step), extremes and the number of steps with a value."""
    return Summary(
        metric=series.name,
        first=series.values[0],
        last=series.values[-1],
        minimum=min(series.values),
        maximum=max(series.values),
        steps=len(series.values),
    )


def group_of(metric: str) -> str:
    """The chart a metric goes on: loss, rewards (reward or score) or other."""
    name = metric.lower()
    if "loss" in name:
        return "loss"
    if "reward" in name or "score" in name:
        return "rewards"
    return "other"


def is_validation(metric: str, source: str = "") -> bool:
    """Whether a metric holds validation results, by its name or its file's name."""
    file_name = re.split(r"[\\/]", source)[-1]
    return bool(VALIDATION_NAME.match(metric) or VALIDATION_NAME.match(file_name))


def expected_files(relative_paths: Iterable[str]) -> dict[str, str | None]:
    """For each documented metrics file, the path it was found at (relative to the job's
    folder), or None when the job has not written it (yet)."""
    present = set(relative_paths)
    return {
        label: next((path for path in candidates if path in present), None)
        for label, candidates in EXPECTED_FILES.items()
    }


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def render_summary(tables: Sequence[MetricsTable]) -> str:
    """One block per file: metric, first, last, min, max, steps."""
    blocks: list[str] = []
    for table in tables:
        title = f"{table.source}: {table.rows} rows, step column {table.step_column}"
        lines = display.fill(title)
        if table.series:
            rows = [("metric", "first", "last", "min", "max", "steps")]
            for series in table.series:
                s = summarize(series)
                numbers = (s.first, s.last, s.minimum, s.maximum)
                rows.append((s.metric, *map(_fmt, numbers), str(s.steps)))
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            # 80 columns: a long metric name is shortened in the middle, not the numbers.
            room = display.WIDTH - 2 - sum(widths[1:]) - 2 * (len(widths) - 1)
            widths[0] = max(display.MIN_COLUMN, min(widths[0], room))
            for row in rows:
                cells = [display.shorten(row[0], widths[0]).ljust(widths[0])] + [
                    cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
                ]
                lines.append("  " + "  ".join(cells).rstrip())
        else:
            lines.append("  no metric values yet")
        if table.skipped:
            lines += display.fill(
                "  not charted: " + ", ".join(f"{name} ({why})" for name, why in table.skipped)
            )
        lines += [line for note in table.notes for line in display.fill(f"  note: {note}")]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------------------- charts


def chart_lines(tables: Sequence[MetricsTable]) -> dict[str, list[tuple[str, Series]]]:
    """(label, series) per chart group, at most MAX_LINES_PER_CHART each, without the points
    beyond MAX_CHART_MAGNITUDE (a series left with none is not drawn)."""
    return {
        group: [(line.label, line.series) for line in lines]
        for group, lines in chart_entries(tables).items()
    }


def chart_entries(tables: Sequence[MetricsTable]) -> dict[str, list[ChartLine]]:
    """What chart_lines draws, with each line's validation flag."""
    groups: dict[str, list[ChartLine]] = {}
    for group, lines in _all_chart_lines(tables).items():
        drawable = [
            ChartLine(line.label, chartable_points(line.series), line.validation) for line in lines
        ]
        kept = [line for line in drawable if line.series.values]
        if kept:
            groups[group] = kept[:MAX_LINES_PER_CHART]
    return groups


def chart_notes(tables: Sequence[MetricsTable]) -> list[str]:
    """What the charts leave out by the MAX_LINES_PER_CHART limit, per group."""
    notes = []
    for group, lines in _all_chart_lines(tables).items():
        drawable = [line.label for line in lines if chartable_points(line.series).values]
        if len(drawable) > MAX_LINES_PER_CHART:
            left_out = drawable[MAX_LINES_PER_CHART:]
            notes.append(
                f"{group}.png: {len(left_out)} of {len(drawable)} metrics not drawn (limit "
                f"{MAX_LINES_PER_CHART} per chart): {', '.join(left_out[:5])}"
                + (", ..." if len(left_out) > 5 else "")
            )
    return notes


def chartable_points(series: Series) -> Series:
    """`series` without the points beyond MAX_CHART_MAGNITUDE."""
    if all(
        _chartable(step, value) for step, value in zip(series.steps, series.values, strict=True)
    ):
        return series
    points = [p for p in zip(series.steps, series.values, strict=True) if _chartable(*p)]
    return Series(series.name, tuple(s for s, _ in points), tuple(v for _, v in points))


def _all_chart_lines(tables: Sequence[MetricsTable]) -> dict[str, list[ChartLine]]:
    """Lines per chart group, uncut. A metric name found in several files is
    labelled with its file, so training and validation perplexity stay apart."""
    counts: dict[str, int] = {}
    for table in tables:
        for series in table.series:
            counts[series.name] = counts.get(series.name, 0) + 1
    stems = [PurePosixPath(table.source).stem for table in tables]
    groups: dict[str, list[ChartLine]] = {group: [] for group in GROUPS}
    for table, stem in zip(tables, stems, strict=True):
        where = stem if stems.count(stem) == 1 else table.source
        for series in table.series:
            label = series.name if counts[series.name] == 1 else f"{series.name} ({where})"
            validation = is_validation(series.name, table.source)
            groups[group_of(series.name)].append(ChartLine(label, series, validation))
    return {group: lines for group, lines in groups.items() if lines}


def write_charts(
    tables: Sequence[MetricsTable], directory: Path, title: str, *, smooth: int = 1
) -> list[Path]:
    """One PNG per group that has metrics (loss.png, rewards.png, other.png), then
    overview.png when any of its RL metrics is there; `smooth` is the overview's trailing
    rolling-mean window, in points (1: none)."""
    from rft_env.rftenv import charts  # it imports this module, so here, not at the top

    step_columns = {table.step_column for table in tables if table.series}
    xlabel = step_columns.pop() if len(step_columns) == 1 else "step"
    written = []
    for group, lines in chart_entries(tables).items():
        path = directory / f"{group}.png"
        charts.save(charts.group_figure(group, lines, f"{title}: {group}", xlabel), path)
        written.append(path)
    overview = charts.overview(tables)
    if overview.panels:
        path = directory / charts.OVERVIEW_FILE
        figure = charts.overview_figure(overview.panels, title, xlabel, smooth=smooth)
        charts.save(figure, path)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------- command

DESCRIPTION = (
    "Download STACK's RFT job metrics from S3 and chart them. The job is the stack's newest "
    "(or the one --job names); its output folder is <output s3Uri>/model-customization-job-"
    "<job id>/. Every CSV there is downloaded into --out (default metrics/<stack>/<job "
    "name>/): the documented training_artifacts/step_wise_training_metrics.csv and "
    "validation_artifacts/post_fine_tuning_validation/[validation/]validation_metrics.csv, "
    "and any other, such as RFT reward statistics. Each CSV's numeric columns are charted "
    "per step, one PNG per group (loss.png, with the fine-tuning loss and each RL loss such "
    "as actor/pg_loss on its own axes; rewards.png for reward/score columns, a .../mean "
    "drawn with its .../min-.../max band and validation rewards as markers; other.png), "
    "and summarised: first, last, min, max and the number of steps, and the best "
    "validation reward with its step. overview.png puts reward and validation reward, "
    "entropy, response length, gradient norm, aborted ratio and KL side by side (panels "
    "whose columns are absent are left out, with a note); --smooth N draws its training "
    "lines as the mean of the last N points over the raw ones, drawn faintly. Exit codes: "
    "0 when metrics were read; 1 when there are none yet, a CSV is malformed (the others "
    "are still charted), the stack has no job, or an AWS call fails; 2 on unusable input "
    "(unknown stack, invalid config). Needs bedrock:ListModelCustomizationJobs, "
    "GetModelCustomizationJob, s3:ListBucket and s3:GetObject on the output bucket, and "
    "kms:Decrypt through S3."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the CSVs and charts here (default: metrics/<stack>/<job name>/)",
    )
    parser.add_argument(
        "--job",
        metavar="NAME_OR_ARN",
        help="read this job's metrics instead of the stack's newest job's",
    )
    parser.add_argument(
        "--endpoint-url",
        type=jobs.endpoint_url,
        metavar="URL",
        help="send Bedrock requests (and STS AssumeRole, when the stack has a deployment "
        "role) to URL: a loopback test endpoint (a fake)",
    )
    parser.add_argument(
        "--s3-endpoint-url",
        type=jobs.endpoint_url,
        metavar="URL",
        help="send S3 requests (and their STS AssumeRole) to URL: a loopback test endpoint",
    )
    parser.add_argument(
        "--smooth",
        type=smoothing_window,
        default=1,
        metavar="N",
        help="in overview.png, draw each training line as the mean of its last N points, "
        "with the raw values faintly behind (default 1: no smoothing)",
    )


def smoothing_window(text: str) -> int:
    """--smooth's value: a whole number of points, 1 or more."""
    try:
        window = int(text)
    except ValueError:
        window = 0
    if window < 1:
        raise argparse.ArgumentTypeError(
            f"--smooth: expected a whole number of points, 1 or more (1: no smoothing); "
            f"got {text!r}"
        )
    return window


def run(args: argparse.Namespace) -> int:
    """The handler: download, parse, chart, print; returns the exit code."""
    with about(args.stack):
        return _run(args)


COMMAND = Command(
    "metrics",
    help="download a stack's RFT job metrics from S3, chart and summarise them",
    description=DESCRIPTION,
    add_arguments=add_arguments,
    handler=run,
)


def _run(args: argparse.Namespace) -> int:
    from rft_env.rftenv.charts import best_validation_line, overview_notes

    stack = jobs.open_stack(args.stack)
    bedrock = jobs.client(stack.connection(args.endpoint_url), "bedrock")
    job = jobs.find_job(bedrock, stack, args.job)
    uri = jobs.artifacts_uri(job)
    bucket, prefix = jobs.split_s3_uri(uri)
    s3 = jobs.client(stack.connection(args.s3_endpoint_url), "s3")
    keys = [
        item["Key"]
        for page in _pages(s3, Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents") or []
    ]
    csv_keys = sorted(key for key in keys if key.lower().endswith(".csv"))
    status = job.get("status", "unknown")
    print(f"stack {stack.name}: job {job['jobName']} ({status})")
    print(f"artifacts: {uri}")
    if not csv_keys:
        what = f"{len(keys)} other object(s)" if keys else "nothing"
        raise jobs.CommandError(
            f"no metrics files under {uri} yet ({what} there; job status {status}): "
            "Bedrock writes them as the job trains, so try again later"
        )

    directory = args.out if args.out is not None else Path("metrics") / stack.name / job["jobName"]
    tables: list[MetricsTable] = []
    errors: list[str] = []
    relative_paths: list[str] = []
    for key in csv_keys:
        relative = key[len(prefix) :]
        if not _safe_relative(relative):
            errors.append(f"s3://{bucket}/{key}: skipped: not a plain relative path")
            continue
        body = _download(s3, bucket, key)
        local = directory / relative
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(body)
        except OSError as error:
            raise jobs.CommandError(f"cannot write {local}: {error}") from error
        relative_paths.append(relative)
        try:
            tables.append(parse_metrics_bytes(body, str(local)))
        except MetricsFileError as error:
            errors.append(str(error))

    print(f"downloaded {len(relative_paths)} CSV file(s) to {directory}/")
    for relative in relative_paths:
        print(f"  {relative}")
    missing = [label for label, path in expected_files(relative_paths).items() if path is None]
    for label in missing:
        candidates = " or ".join(EXPECTED_FILES[label])
        print(f"missing: {label} ({candidates})")
    if tables:
        print()
        print(render_summary(tables))
        best = best_validation_line(tables)
        if best is not None:
            print()
            print("\n".join(display.fill(best)))
    charts = write_charts(tables, directory, job["jobName"], smooth=args.smooth) if tables else []
    if charts:
        print()
        print("charts: " + ", ".join(str(path) for path in charts))
        for note in chart_notes(tables):
            print(f"  note: {note}")
        for note in overview_notes(tables):
            print("\n".join(display.fill(f"  note: {note}")))
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if not any(table.series for table in tables):
        if not errors:
            print(f"no metric values yet in {len(tables)} file(s) (job status {status})")
        return 1
    return 1 if errors else 0


def _pages(s3: Any, **request: Any) -> Iterable[dict[str, Any]]:
    """ListObjectsV2, page by page, with failures that name the bucket and prefix."""
    target = f"s3://{request['Bucket']}/{request['Prefix']}"
    token: str | None = None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = jobs.call(s3, "list_objects_v2", target=target, **request, **extra)
        yield page
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


def _download(s3: Any, bucket: str, key: str) -> bytes:
    """One object's bytes; a failure while streaming the body names the object too."""
    from botocore.exceptions import BotoCoreError

    uri = f"s3://{bucket}/{key}"
    response = jobs.call(s3, "get_object", target=uri, Bucket=bucket, Key=key)
    try:
        return response["Body"].read()
    except (BotoCoreError, OSError) as error:
        raise jobs.CommandError(f"GetObject ({uri}) failed while reading: {error}") from error


def _safe_relative(relative: str) -> bool:
    """An S3 key below the job's folder that maps to a file inside the output directory."""
    parts = relative.split("/")
    return bool(relative) and all(part not in ("", ".", "..") for part in parts)
