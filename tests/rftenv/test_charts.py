"""`rftenv metrics` charts as an RL engineer reads them, checked on the figure objects (axes,
lines, shaded bands, markers, labels) and on the pure functions that decide what they show."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rft_env.rftenv import charts, metrics
from rft_env.rftenv.metrics import MetricsTable, load_metrics_file, parse_metrics_csv
from tests.rftenv.test_metrics import FIXTURES, RFT, TRAINING, VALIDATION

RFT_FULL = FIXTURES / "rft_full" / "rft_step_metrics.csv"


def load(*paths: Path) -> list[MetricsTable]:
    return [load_metrics_file(path, path.relative_to(FIXTURES).as_posix()) for path in paths]


def column(tables: list[MetricsTable], name: str) -> metrics.Series:
    return next(series for table in tables for series in table.series if series.name == name)


def lines_by_label(axes: Axes) -> dict[str, Line2D]:
    return {str(line.get_label()): line for line in axes.get_lines()}


def band_extent(band: PolyCollection) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per x of a fill_between band: its outline's smallest and largest y."""
    vertices = band.get_paths()[0].vertices
    xs = np.unique(vertices[:, 0])
    low = np.array([vertices[vertices[:, 0] == x, 1].min() for x in xs])
    high = np.array([vertices[vertices[:, 0] == x, 1].max() for x in xs])
    return low, high


def group_figure(tables: list[MetricsTable], group: str) -> Figure:
    return charts.group_figure(group, metrics.chart_entries(tables)[group], "t", "step")


# ------------------------------------------------------------------------------ rewards


def test_rewards_are_the_mean_with_a_min_max_band_and_validation_markers() -> None:
    tables = load(RFT)
    figure = group_figure(tables, "rewards")
    [axes] = figure.axes
    lines = lines_by_label(axes)
    # min and max are the band, not lines of their own.
    assert set(lines) == {"critic/rewards/mean", "val-score/rewards/mean@1"}
    mean = column(tables, "critic/rewards/mean")
    assert tuple(lines["critic/rewards/mean"].get_ydata()) == mean.values
    assert lines["critic/rewards/mean"].get_linestyle() == "-"

    [band] = axes.collections
    assert isinstance(band, PolyCollection)
    assert band.get_label() == "critic/rewards/min-max"
    low, high = band_extent(band)
    assert tuple(low) == pytest.approx(column(tables, "critic/rewards/min").values)
    assert tuple(high) == pytest.approx(column(tables, "critic/rewards/max").values)
    # The band has its mean's colour.
    assert tuple(band.get_facecolor()[0][:3]) == to_rgb(lines["critic/rewards/mean"].get_color())

    # The two evaluations are markers: no line suggests values between steps 10 and 20.
    validation = lines["val-score/rewards/mean@1"]
    assert validation.get_linestyle() == "None"
    assert validation.get_marker() == "D"
    assert (tuple(validation.get_xdata()), tuple(validation.get_ydata())) == (
        (10.0, 20.0),
        (0.6248, 0.725),
    )
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == [
        "critic/rewards/min-max",
        "critic/rewards/mean",
        "val-score/rewards/mean@1",
    ]


def test_no_band_without_both_ends() -> None:
    table = parse_metrics_csv(
        "step,critic/rewards/mean,critic/rewards/min\n1,0.5,0.1\n2,0.6,0.2\n", "r.csv"
    )
    [axes] = group_figure([table], "rewards").axes
    assert len(axes.collections) == 0
    assert set(lines_by_label(axes)) == {"critic/rewards/mean", "critic/rewards/min"}


def test_a_band_stays_within_its_file() -> None:
    """The same family in two files: each mean gets its own file's band."""
    first = parse_metrics_csv("step,r/mean,r/min,r/max\n1,0.5,0.1,0.9\n2,0.6,0.2,0.8\n", "a.csv")
    second = parse_metrics_csv("step,r/mean,r/min,r/max\n1,5,1,9\n2,6,2,8\n", "b.csv")
    [axes] = group_figure([first, second], "other").axes
    assert set(lines_by_label(axes)) == {"r/mean (a)", "r/mean (b)"}
    bands = {str(band.get_label()): band_extent(band) for band in axes.collections}
    assert set(bands) == {"r/min-max (a)", "r/min-max (b)"}
    assert tuple(bands["r/min-max (b)"][1]) == (9.0, 8.0)


def test_the_band_keeps_the_steps_both_ends_have() -> None:
    low = metrics.Series("x/min", (1.0, 2.0, 3.0), (0.1, 0.2, 0.3))
    high = metrics.Series("x/max", (2.0, 3.0, 4.0), (0.8, 0.9, 1.0))
    assert charts.band_between("x", low, high) == charts.Band(
        "x", (2.0, 3.0), (0.2, 0.3), (0.8, 0.9)
    )


# ------------------------------------------------------------------------------ losses


def test_the_policy_gradient_loss_has_its_own_axes() -> None:
    figure = group_figure(load(TRAINING, VALIDATION, RFT), "loss")
    fine_tuning, policy_gradient = figure.axes
    assert fine_tuning.get_ylabel() == "fine-tuning loss"
    assert set(lines_by_label(fine_tuning)) == {"training_loss", "validation_loss"}
    assert lines_by_label(fine_tuning)["validation_loss"].get_linestyle() == "None"
    assert policy_gradient.get_ylabel() == "policy-gradient loss"
    [pg_loss] = policy_gradient.get_lines()
    assert pg_loss.get_label() == "actor/pg_loss"
    # Its scale is its own: the fine-tuning loss (0.46 to 2.35) does not squash it.
    bottom, top = policy_gradient.get_ylim()
    assert -0.2 < bottom < -0.13 and 0.026 < top < 0.1


def test_each_rl_loss_gets_an_axes() -> None:
    table = load(RFT_FULL)
    figure = group_figure(table, "loss")
    assert [axes.get_ylabel() for axes in figure.axes] == ["policy-gradient loss", "KL loss"]


# ------------------------------------------------------------------------------ overview


def test_the_overview_with_every_documented_column() -> None:
    found = charts.overview(load(RFT_FULL))
    assert found.missing == ()
    assert [panel.title for panel in found.panels] == [
        "reward",
        "entropy",
        "response length",
        "gradient norm",
        "aborted ratio",
        "KL",
    ]
    figure = charts.overview_figure(found.panels, "job", "step")
    assert [axes.get_title() for axes in figure.axes] == [panel.title for panel in found.panels]
    reward, entropy, length, grad_norm, aborted, kl = figure.axes
    assert set(lines_by_label(reward)) == {"critic/rewards/mean", "val-score/rewards/mean@1"}
    assert [band.get_label() for band in reward.collections] == ["critic/rewards/min-max"]
    assert lines_by_label(reward)["val-score/rewards/mean@1"].get_linestyle() == "None"
    assert [band.get_label() for band in length.collections] == ["response_length/min-max"]
    assert set(lines_by_label(grad_norm)) == {"actor/grad_norm"}
    assert set(lines_by_label(aborted)) == {"response/aborted_ratio"}
    # The KL loss, not the KL coefficient (a setting).
    assert set(lines_by_label(kl)) == {"actor/kl_loss"}
    assert entropy.get_xlabel() == "" and aborted.get_xlabel() == kl.get_xlabel() == "step"
    assert figure.get_suptitle() == "job: overview"


def test_absent_columns_leave_panels_out_with_a_note() -> None:
    tables = load(RFT)
    found = charts.overview(tables)
    assert [panel.title for panel in found.panels] == ["reward", "entropy", "response length"]
    assert found.missing == (
        "response_length/min and response_length/max (the band of response_length/mean)",
        "actor/grad_norm",
        "response/aborted_ratio",
        "a KL column (a name with the word kl, such as actor/kl_loss)",
    )
    [note] = charts.overview_notes(tables)
    assert note.startswith("overview.png: not found, so not drawn: response_length/min and ")
    figure = charts.overview_figure(found.panels, "job", "step")
    # Three panels in a grid two wide: the empty fourth cell is removed, and the panel above
    # it labels its own step axis.
    assert len(figure.axes) == 3
    assert [axes.get_xlabel() for axes in figure.axes] == ["", "step", "step"]
    assert figure.axes[1].xaxis.get_ticklabels()[0].get_visible()


def test_a_validation_reward_alone_still_gets_the_reward_panel() -> None:
    table = parse_metrics_csv("step,val-score/rewards/mean@1,actor/kl_loss\n5,0.4,0.01\n", "v")
    found = charts.overview([table])
    assert [(panel.title, len(panel.traces)) for panel in found.panels] == [
        ("reward", 1),
        ("KL", 1),
    ]
    assert found.panels[0].traces[0].validation
    assert found.missing[0] == "critic/rewards/mean or critic/score/mean"


def test_no_rl_metric_means_no_overview(tmp_path: Path) -> None:
    tables = load(TRAINING, VALIDATION)
    assert charts.overview(tables).panels == ()
    assert charts.overview_notes(tables) == [
        "overview.png: not written: none of its RL metrics found (critic/rewards/mean, "
        "critic/score/mean, actor/entropy, response_length/mean, actor/grad_norm, "
        "response/aborted_ratio, KL)"
    ]
    written = metrics.write_charts(tables, tmp_path, "t")
    assert [path.name for path in written] == ["loss.png", "other.png"]
    with pytest.raises(ValueError, match="no panels"):
        charts.overview_figure((), "t", "step")


def test_overview_points_beyond_the_chart_range_are_left_out() -> None:
    table = parse_metrics_csv("step,actor/entropy,actor/grad_norm\n1,1e308,1e308\n2,0.5,", "h")
    found = charts.overview([table])
    [entropy] = found.panels
    assert entropy.traces[0].series.values == (0.5,)
    assert "actor/grad_norm (no value within the chart's range)" in found.missing


# ------------------------------------------------------------------------------ smoothing


def test_smoothing_draws_the_rolling_mean_over_the_raw_line() -> None:
    tables = load(RFT_FULL)
    found = charts.overview(tables)
    figure = charts.overview_figure(found.panels, "job", "step", smooth=5)
    assert figure.get_suptitle() == "job: overview (mean of the last 5 points; raw values faint)"
    reward = figure.axes[0]
    lines = lines_by_label(reward)
    mean = column(tables, "critic/rewards/mean")
    raw, smooth = lines["_raw critic/rewards/mean"], lines["critic/rewards/mean (smoothed)"]
    assert tuple(raw.get_ydata()) == mean.values
    assert raw.get_alpha() == charts.RAW_ALPHA and smooth.get_alpha() is None
    assert raw.get_color() == smooth.get_color()
    assert tuple(smooth.get_ydata()) == charts.rolling_mean(mean.values, 5)
    # The raw line stays out of the legend; validation results are never smoothed.
    legend = [text.get_text() for text in reward.get_legend().get_texts()]
    assert legend == [
        "critic/rewards/min-max",
        "critic/rewards/mean (smoothed)",
        "val-score/rewards/mean@1",
    ]
    validation = column(tables, "val-score/rewards/mean@1")
    assert tuple(lines["val-score/rewards/mean@1"].get_ydata()) == validation.values
    # The band is smoothed with the mean.
    low, _ = band_extent(reward.collections[0])
    expected = charts.rolling_mean(column(tables, "critic/rewards/min").values, 5)
    assert tuple(low) == pytest.approx(expected)
    # Every training line of every panel.
    for axes in figure.axes:
        labels = [str(line.get_label()) for line in axes.get_lines()]
        raws = [label for label in labels if label.startswith("_raw ")]
        assert raws and all(f"{label[5:]} (smoothed)" in labels for label in raws)


def test_without_smoothing_there_is_no_faint_line() -> None:
    figure = charts.overview_figure(charts.overview(load(RFT_FULL)).panels, "job", "step")
    for axes in figure.axes:
        assert all(line.get_alpha() is None for line in axes.get_lines())
        assert not any(str(line.get_label()).startswith("_") for line in axes.get_lines())


@pytest.mark.parametrize(
    ("values", "window", "expected"),
    [
        ((1.0, 2.0, 3.0, 4.0, 5.0), 1, (1.0, 2.0, 3.0, 4.0, 5.0)),
        ((1.0, 2.0, 3.0, 4.0, 5.0), 2, (1.0, 1.5, 2.5, 3.5, 4.5)),
        ((3.0, 0.0, 0.0, 6.0), 3, (3.0, 1.5, 1.0, 2.0)),
        ((2.0, 4.0), 10, (2.0, 3.0)),  # a window longer than the run: the running mean
        ((), 4, ()),
    ],
)
def test_rolling_mean(values: tuple[float, ...], window: int, expected: tuple[float, ...]) -> None:
    assert charts.rolling_mean(values, window) == expected


def test_rolling_mean_is_exact_after_a_spike() -> None:
    """A float running total would keep ~0.1 of a 1e15 spike once it left the window."""
    values = (1e15, *(0.1 * index for index in range(1, 40)), -1e15, 0.3, 0.7)
    for window in (1, 3, 7, 50):
        expected = tuple(
            math.fsum(values[max(0, end - window) : end]) / min(end, window)
            for end in range(1, len(values) + 1)
        )
        assert charts.rolling_mean(values, window) == expected


def test_rolling_mean_needs_a_window() -> None:
    with pytest.raises(ValueError, match="expected 1 or more points, got 0"):
        charts.rolling_mean((1.0,), 0)


# ------------------------------------------------------------------------------ summary


def test_best_validation_reward_and_its_step() -> None:
    best = charts.best_validation(load(RFT_FULL))
    assert best == charts.BestValidation(
        metric="val-score/rewards/mean@1", value=0.7412, step=30.0, evaluations=4, last=0.7288
    )
    assert charts.best_validation_line(load(RFT_FULL)) == (
        "best validation reward: 0.7412 at step 30 (val-score/rewards/mean@1; 4 evaluations, "
        "last 0.7288)"
    )


def test_a_tie_goes_to_the_first_step_reaching_it() -> None:
    table = parse_metrics_csv("step,val-score/rewards/mean@1\n30,0.8\n10,0.8\n20,0.5\n", "v.csv")
    best = charts.best_validation([table])
    assert best is not None and (best.value, best.step, best.last) == (0.8, 10.0, 0.8)


def test_another_validation_reward_name_is_found() -> None:
    table = parse_metrics_csv(
        "step,critic/rewards/mean,val-core/gsm8k/reward/mean@1\n1,0.1,\n2,0.2,0.3\n", "m.csv"
    )
    best = charts.best_validation([table])
    assert best is not None and (best.metric, best.step) == ("val-core/gsm8k/reward/mean@1", 2.0)
    assert charts.best_validation_line([table]) == (
        "best validation reward: 0.3 at step 2 (val-core/gsm8k/reward/mean@1; 1 evaluation, "
        "last 0.3)"
    )


def test_no_validation_reward_yet() -> None:
    table = parse_metrics_csv("step,critic/rewards/mean,val-score/rewards/mean@1\n1,0.1,\n", "r")
    assert charts.best_validation([table]) is None
    assert charts.best_validation_line([table]) == (
        "best validation reward: none yet (no val-score/rewards/mean@1 values)"
    )
    # A fine-tuning job has no reward at all: no line.
    assert charts.best_validation_line(load(TRAINING, VALIDATION)) is None


# ------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("metric", "source", "validation"),
    [
        ("val-score/rewards/mean@1", "rft.csv", True),
        ("val/test_score/gsm8k", "rft.csv", True),
        ("validation_loss", "x.csv", True),
        ("val_loss", "x.csv", True),
        ("perplexity", "out/validation_artifacts/p/validation_metrics.csv", True),
        ("perplexity", "training_artifacts/step_wise_training_metrics.csv", False),
        ("value_loss", "x.csv", False),
        ("critic/values/mean", "x.csv", False),
        # A directory named like validation does not make its files validation results.
        ("critic/rewards/mean", "validation-runs/rft_step_metrics.csv", False),
    ],
)
def test_is_validation(metric: str, source: str, validation: bool) -> None:
    assert metrics.is_validation(metric, source) is validation


@pytest.mark.parametrize(
    ("metric", "kl"),
    [
        ("actor/kl_loss", True),
        ("critic/kl", True),
        ("actor/ppo_kl", True),
        ("kl", True),
        ("actor/kl_coef", False),
        ("critic/kl_coeff", False),
        ("actor/entropy", False),
        ("timing/skl", False),
    ],
)
def test_is_kl_metric(metric: str, kl: bool) -> None:
    assert charts.is_kl_metric(metric) is kl


@pytest.mark.parametrize(
    ("metric", "found"),
    [
        ("critic/rewards/mean", ("critic/rewards", "mean")),
        ("response_length/max", ("response_length", "max")),
        ("critic/rewards/mean@1", None),
        ("mean", None),
        ("response_length/clip_ratio", None),
    ],
)
def test_statistic_of(metric: str, found: tuple[str, str] | None) -> None:
    assert charts.statistic_of(metric) == found
