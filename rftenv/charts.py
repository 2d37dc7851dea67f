"""The charts of `rftenv metrics`: what each figure shows, decided by pure functions, and
drawing it with matplotlib (imported when a figure is drawn, not when the CLI starts).

An RL engineer reads a reinforcement fine-tuning run as: is the reward going up, and is
its spread closing (the mean with its min-max band); does it hold on held-out prompts (the
validation reward, a few evaluations, drawn as markers since a line between two far-apart
evaluations suggests values that were never measured); is the policy collapsing (entropy,
response length, aborted generations) or unstable (gradient norm, KL, the policy-gradient
loss, which lives on another scale than the fine-tuning loss). The column names are the
ones the Amazon Nova RFT documentation lists (critic/rewards/mean|min|max,
val-score/rewards/mean@1, actor/entropy, actor/pg_loss, actor/grad_norm,
response_length/mean|min|max, response/aborted_ratio); it lists no KL column, so any
column named like one (actor/kl_loss, critic/kl, actor/ppo_kl) gets the KL panel.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rft_env.rftenv.metrics import (
    MAX_LINES_PER_CHART,
    ChartLine,
    MetricsTable,
    Series,
    chartable_points,
    group_of,
    is_validation,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Fixed size and resolution, and no Software tag: the same data gives the same PNG bytes.
FIGURE_WIDTH, AXES_HEIGHT, DPI = 9.0, 4.0, 100
PNG_METADATA: dict[str, Any] = {"Software": None}
OVERVIEW_FILE = "overview.png"
OVERVIEW_COLUMNS = 2
OVERVIEW_PANEL_WIDTH, OVERVIEW_PANEL_HEIGHT = 6.5, 3.5
# `rftenv evaluate`'s reward histograms: tenths, as `rftenv grade` shows rewards.
EVALUATION_BINS = 10
# Faint enough to read as background next to the smoothed line, visible enough to show
# the noise the smoothing hides.
RAW_ALPHA = 0.3
BAND_ALPHA = 0.2
# Markers on an unsmoothed line while its points can still be told apart.
MAX_MARKED_POINTS = 30
STATISTICS = ("mean", "min", "max")
FINE_TUNING_LOSS = "fine-tuning loss"
PANEL_TITLES = {
    "actor/pg_loss": "policy-gradient loss",
    "actor/kl_loss": "KL loss",
    "critic/vf_loss": "value loss",
}

# The overview's columns, in order of preference: the first one found is drawn.
REWARD_COLUMNS = ("critic/rewards/mean", "critic/score/mean")
VALIDATION_REWARD_COLUMNS = ("val-score/rewards/mean@1",)
OVERVIEW_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entropy", ("actor/entropy",)),
    ("response length", ("response_length/mean",)),
    ("gradient norm", ("actor/grad_norm",)),
    ("aborted ratio", ("response/aborted_ratio",)),
)
KL_TITLE = "KL"
# A KL column: "kl" as a word of its name; the KL coefficient is a setting, not a KL.
KL_WORD = re.compile(r"(?:^|[^a-z0-9])kl(?:[^a-z0-9]|$)", re.IGNORECASE)
COEFFICIENT_WORD = re.compile(r"coef", re.IGNORECASE)


@dataclass(frozen=True)
class Band:
    """The min-max range of a mean, at the steps where both ends have a value."""

    label: str
    steps: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


@dataclass(frozen=True)
class Trace:
    """One thing drawn on an axes: a line (with its band, if any), or validation markers."""

    label: str
    series: Series
    validation: bool = False
    band: Band | None = None


@dataclass(frozen=True)
class Panel:
    """One axes: its y-axis label and what is drawn on it."""

    title: str
    traces: tuple[Trace, ...]


@dataclass(frozen=True)
class Overview:
    """The overview's panels, and what it looked for and did not find."""

    panels: tuple[Panel, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class BestValidation:
    metric: str
    value: float
    step: float
    evaluations: int
    last: float


# ------------------------------------------------------------------------------ planning


def statistic_of(metric: str) -> tuple[str, str] | None:
    """(family, statistic) for a metric named <family>/mean, /min or /max, else None."""
    family, _, statistic = metric.rpartition("/")
    return (family, statistic) if family and statistic in STATISTICS else None


def band_between(label: str, low: Series, high: Series) -> Band:
    """The range between two series, at the steps both have (the first value of a step
    that appears twice)."""
    highs: dict[float, float] = {}
    for step, value in zip(high.steps, high.values, strict=True):
        highs.setdefault(step, value)
    steps: list[float] = []
    lows: list[float] = []
    for step, value in zip(low.steps, low.values, strict=True):
        if step in highs and (not steps or steps[-1] != step):
            steps.append(step)
            lows.append(value)
    return Band(label, tuple(steps), tuple(lows), tuple(highs[step] for step in steps))


def traces_of(lines: Sequence[ChartLine]) -> list[Trace]:
    """Lines as drawn: a training <family>/mean whose /min and /max are both among `lines`
    (from the same file) becomes one line with a band, the two ends no lines of their own;
    everything else is drawn as it is, validation results as markers."""
    by_key: dict[tuple[str, str, str], ChartLine] = {}
    for line in lines:
        found = statistic_of(line.series.name)
        if found is not None and not line.validation:
            suffix = line.label[len(line.series.name) :]  # " (file)" when names repeat
            by_key[(found[0], suffix, found[1])] = line
    banded: dict[str, Band] = {}
    ends: set[str] = set()
    for (family, suffix, statistic), line in by_key.items():
        low, high = by_key.get((family, suffix, "min")), by_key.get((family, suffix, "max"))
        if statistic == "mean" and low is not None and high is not None:
            label = f"{family}/min-max{suffix}"
            banded[line.label] = band_between(label, low.series, high.series)
            ends.update((low.label, high.label))
    return [
        Trace(line.label, line.series, line.validation, banded.get(line.label))
        for line in lines
        if line.label not in ends
    ]


def group_panels(group: str, lines: Sequence[ChartLine]) -> list[Panel]:
    """The axes of one group's chart. rewards: one axes. loss: the fine-tuning losses
    (training_loss, validation_loss) share one; each RL loss (actor/pg_loss, a name with a
    "/") gets its own, as its scale and sign have nothing in common with theirs. other: one
    axes per metric (per family, for a mean with its band)."""
    keyed: dict[str, list[ChartLine]] = {}
    for line in lines:
        keyed.setdefault(_panel_key(group, line.series.name), []).append(line)
    return [
        Panel(PANEL_TITLES.get(key, key), tuple(traces_of(members)))
        for key, members in keyed.items()
    ]


def _panel_key(group: str, metric: str) -> str:
    if group == "rewards":
        return "rewards"
    if group == "loss":
        return metric if "/" in metric else FINE_TUNING_LOSS
    found = statistic_of(metric)
    return found[0] if found is not None else metric


def is_kl_metric(metric: str) -> bool:
    """A KL divergence column (actor/kl_loss, critic/kl, actor/ppo_kl), not a KL coefficient."""
    return bool(KL_WORD.search(metric)) and not COEFFICIENT_WORD.search(metric)


def _find(tables: Sequence[MetricsTable], names: Sequence[str]) -> tuple[MetricsTable, Series]:
    """The first of `names` that some table has (in that order of preference, first table
    first); raises LookupError when none has any."""
    for name in names:
        for table in tables:
            for series in table.series:
                if series.name == name:
                    return table, series
    raise LookupError(", ".join(names))


def _validation_reward(tables: Sequence[MetricsTable]) -> Series | None:
    """The validation reward: a documented name, else the first validation metric named
    like a reward or score."""
    try:
        return _find(tables, VALIDATION_REWARD_COLUMNS)[1]
    except LookupError:
        pass
    for table in tables:
        for series in table.series:
            validation = is_validation(series.name, table.source)
            if validation and group_of(series.name) == "rewards":
                return series
    return None


def _mean_trace(
    tables: Sequence[MetricsTable], names: Sequence[str], missing: list[str]
) -> Trace | None:
    """The first of `names` found, with the band of its family's /min and /max from the
    same file when both are there (else noted in `missing`)."""
    try:
        table, mean = _find(tables, names)
    except LookupError:
        missing.append(" or ".join(names))
        return None
    points = chartable_points(mean)
    if not points.values:
        missing.append(f"{mean.name} (no value within the chart's range)")
        return None
    family = statistic_of(mean.name)
    if family is None:
        return Trace(mean.name, points)
    ends = {series.name: series for series in table.series}
    low, high = ends.get(f"{family[0]}/min"), ends.get(f"{family[0]}/max")
    if low is None or high is None:
        missing.append(f"{family[0]}/min and {family[0]}/max (the band of {mean.name})")
        return Trace(mean.name, points)
    band = band_between(f"{family[0]}/min-max", chartable_points(low), chartable_points(high))
    return Trace(mean.name, points, band=band)


def overview(tables: Sequence[MetricsTable]) -> Overview:
    """The overview's panels, in a fixed order: reward (its mean and band, and the
    validation reward as markers on the same axes, to compare), entropy, response length,
    gradient norm, aborted ratio, KL. A panel whose columns are absent is left out and
    named in `missing`."""
    panels: list[Panel] = []
    missing: list[str] = []
    reward = _mean_trace(tables, REWARD_COLUMNS, missing)
    validation = _validation_reward(tables)
    validation_points = chartable_points(validation) if validation is not None else None
    reward_traces = [reward] if reward is not None else []
    if validation_points is not None and validation_points.values:
        reward_traces.append(Trace(validation_points.name, validation_points, validation=True))
    else:
        missing.append(" or ".join(VALIDATION_REWARD_COLUMNS) + " (validation reward)")
    if reward_traces:
        panels.append(Panel("reward", tuple(reward_traces)))
    for title, names in OVERVIEW_METRICS:
        trace = _mean_trace(tables, names, missing)
        if trace is not None:
            panels.append(Panel(title, (trace,)))
    kl_series: dict[str, Series] = {}  # a name in several files: the first file's
    for table in tables:
        for series in table.series:
            if is_kl_metric(series.name) and series.name not in kl_series:
                kl_series[series.name] = chartable_points(series)
    kl = [Trace(name, points) for name, points in kl_series.items() if points.values]
    if kl:
        panels.append(Panel(KL_TITLE, tuple(kl[:MAX_LINES_PER_CHART])))
    else:
        missing.append("a KL column (a name with the word kl, such as actor/kl_loss)")
    return Overview(tuple(panels), tuple(missing))


def overview_notes(tables: Sequence[MetricsTable]) -> list[str]:
    """What the overview could not draw, for the command's output."""
    found = overview(tables)
    if not found.panels:
        return [
            f"{OVERVIEW_FILE}: not written: none of its RL metrics found ("
            + ", ".join([*REWARD_COLUMNS, *(names[0] for _, names in OVERVIEW_METRICS)])
            + ", KL)"
        ]
    if not found.missing:
        return []
    return [f"{OVERVIEW_FILE}: not found, so not drawn: " + "; ".join(found.missing)]


def best_validation(tables: Sequence[MetricsTable]) -> BestValidation | None:
    """The highest validation reward and the first step that reached it."""
    series = _validation_reward(tables)
    if series is None or not series.values:
        return None
    best = max(range(len(series.values)), key=lambda index: (series.values[index], -index))
    return BestValidation(
        metric=series.name,
        value=series.values[best],
        step=series.steps[best],
        evaluations=len(series.values),
        last=series.values[-1],
    )


def best_validation_line(tables: Sequence[MetricsTable]) -> str | None:
    """The summary's line on the validation reward; None for metrics with no reward at all
    (a fine-tuning job), where it would say nothing."""
    best = best_validation(tables)
    if best is not None:
        evaluations = f"{best.evaluations} evaluation" + ("s" if best.evaluations > 1 else "")
        return (
            f"best validation reward: {best.value:.6g} at step {best.step:.6g} "
            f"({best.metric}; {evaluations}, last {best.last:.6g})"
        )
    has_reward = any(
        group_of(series.name) == "rewards" for table in tables for series in table.series
    )
    if not has_reward:
        return None
    return f"best validation reward: none yet (no {' or '.join(VALIDATION_REWARD_COLUMNS)} values)"


def rolling_mean(values: Sequence[float], window: int) -> tuple[float, ...]:
    """Each value replaced by the mean of itself and the up to window-1 values before it:
    trailing, so a point never depends on later steps, and the first points average what
    there is. The window counts points, not steps."""
    if window < 1:
        raise ValueError(f"smoothing window: expected 1 or more points, got {window}")
    # An exact running sum: one pass whatever the window, and a spike (up to
    # MAX_CHART_MAGNITUDE) that leaves the window leaves no rounding error behind, as
    # subtracting it from a float total would.
    partials: list[float] = []
    means: list[float] = []
    for index, value in enumerate(values):
        _add_exactly(partials, value)
        if index >= window:
            _add_exactly(partials, -values[index - window])
        means.append(math.fsum(partials) / min(index + 1, window))
    return tuple(means)


def _add_exactly(partials: list[float], value: float) -> None:
    """Add `value` to a sum kept as non-overlapping floats whose exact total is the sum
    (Shewchuk's algorithm, the one math.fsum uses)."""
    kept = 0
    for partial in partials:
        if abs(value) < abs(partial):
            value, partial = partial, value
        high = value + partial
        low = partial - (high - value)
        if low:
            partials[kept] = low
            kept += 1
        value = high
    partials[kept:] = [value]


def smoothed(series: Series, window: int) -> Series:
    return Series(series.name, series.steps, rolling_mean(series.values, window))


# ------------------------------------------------------------------------------ drawing


def group_figure(group: str, lines: Sequence[ChartLine], title: str, xlabel: str) -> Figure:
    """One group's chart: its panels stacked on a shared step axis."""
    panels = group_panels(group, lines)
    with _style():
        figure, axes_list = _figure(len(panels), 1, FIGURE_WIDTH, AXES_HEIGHT, sharex=True)
        for axes, panel in zip(axes_list, panels, strict=True):
            draw_panel(axes, panel)
        axes_list[0].set_title(title)
        axes_list[-1].set_xlabel(xlabel)
        figure.tight_layout()
    return figure


def overview_figure(panels: Sequence[Panel], title: str, xlabel: str, *, smooth: int = 1) -> Figure:
    """The overview: its panels in a grid, OVERVIEW_COLUMNS wide, each with its own step
    axis labelled on the lowest panel of each column."""
    if not panels:
        raise ValueError("overview figure: no panels to draw")
    columns = min(OVERVIEW_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    with _style():
        figure, axes_list = _figure(
            rows, columns, OVERVIEW_PANEL_WIDTH * columns, OVERVIEW_PANEL_HEIGHT
        )
        for index, axes in enumerate(axes_list):
            if index >= len(panels):
                axes.remove()  # the grid's last row is not full
                continue
            draw_panel(axes, panels[index], smooth=smooth)
            axes.set_title(panels[index].title)
            if index + columns >= len(panels):
                axes.set_xlabel(xlabel)
        how = f" (mean of the last {smooth} points; raw values faint)" if smooth > 1 else ""
        figure.suptitle(f"{title}: overview{how}")
        figure.tight_layout()
    return figure


def draw_panel(axes: Axes, panel: Panel, *, smooth: int = 1) -> None:
    """Draw one panel. Each trace has its own colour, shared by its band. With smooth > 1 a
    training line and its band are smoothed and the raw line is drawn faintly behind, out
    of the legend; validation markers are never smoothed (a few evaluations are no trend)."""
    from matplotlib.ticker import MaxNLocator

    for index, trace in enumerate(panel.traces):
        color = f"C{index % 10}"
        series = trace.series
        if trace.validation:
            axes.plot(
                series.steps,
                series.values,
                linestyle="none",
                marker="D",
                markersize=6,
                color=color,
                label=trace.label,
                zorder=3,
            )
            continue
        if trace.band is not None:
            band = trace.band
            low, high = band.low, band.high
            if smooth > 1:
                low, high = rolling_mean(low, smooth), rolling_mean(high, smooth)
            axes.fill_between(
                band.steps, low, high, color=color, alpha=BAND_ALPHA, linewidth=0, label=band.label
            )
        if smooth > 1:
            axes.plot(
                series.steps,
                series.values,
                color=color,
                alpha=RAW_ALPHA,
                linewidth=1,
                label=f"_raw {trace.label}",  # a leading underscore keeps it out of the legend
            )
            line = smoothed(series, smooth)
            axes.plot(line.steps, line.values, color=color, label=f"{trace.label} (smoothed)")
        else:
            marker = "o" if len(series.values) <= MAX_MARKED_POINTS else None
            axes.plot(
                series.steps,
                series.values,
                color=color,
                marker=marker,
                markersize=3,
                label=trace.label,
            )
    axes.set_ylabel(panel.title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def evaluation_figure(
    rewards: Mapping[str, Sequence[float]], title: str, *, xlabel: str = "reward"
) -> Figure:
    """`rftenv evaluate`'s chart: each model's per-prompt rewards as histograms side by side
    in each bin (overlaid ones hide each other where rewards are all 0 or 1), in tenths of
    [0, 1], widened to any reward outside it; each model's mean a dashed line."""
    values = [value for series in rewards.values() for value in series]
    low, high = min([0.0, *values]), max([1.0, *values])
    edges = [low + (high - low) * i / EVALUATION_BINS for i in range(EVALUATION_BINS + 1)]
    with _style():
        figure, (axes,) = _figure(1, 1, FIGURE_WIDTH, AXES_HEIGHT)
        labels = list(rewards)
        colors = [f"C{index % 10}" for index in range(len(labels))]
        axes.hist(
            [list(rewards[label]) for label in labels],
            bins=edges,
            color=colors,
            label=[f"{label} (n={len(rewards[label])})" for label in labels],
        )
        for label, color in zip(labels, colors, strict=True):
            if rewards[label]:
                mean = math.fsum(rewards[label]) / len(rewards[label])
                axes.axvline(mean, color=color, linestyle="--", label=f"{label} mean {mean:.3f}")
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel("prompts")
        axes.grid(True, axis="y", alpha=0.3)
        axes.legend(loc="best", fontsize="small")
        figure.tight_layout()
    return figure


def save(figure: Figure, path: Path) -> None:
    with _style():
        figure.savefig(path, format="png", dpi=DPI, metadata=PNG_METADATA)


def _style() -> Any:
    """The default style, whatever the user's matplotlibrc says: same data, same bytes."""
    import matplotlib.style

    return matplotlib.style.context("default")


def _figure(
    rows: int, columns: int, width: float, height_per_row: float, *, sharex: bool = False
) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height_per_row * rows), dpi=DPI)
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, sharex=sharex, squeeze=False)
    return figure, [axes for row in grid for axes in row]
