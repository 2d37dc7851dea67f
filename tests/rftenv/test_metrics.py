"""`rftenv metrics`: parsing, summaries and charts on fixture files, and the command against
the fake Bedrock (the job) and moto (the output bucket)."""

from __future__ import annotations

import argparse
import csv
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rft_env.components.bedrock.job import create_request
from rft_env.rftenv import jobs, metrics
from rft_env.rftenv.cli import main
from rft_env.rftenv.metrics import MetricsFileError, load_metrics_file, parse_metrics_csv
from tests.fakes import FakeBedrock, FakeClock, offline

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
JOB_DIR = FIXTURES / "model-customization-job-abc123def456"
TRAINING = JOB_DIR / "training_artifacts" / "step_wise_training_metrics.csv"
RFT = JOB_DIR / "training_artifacts" / "rft_step_metrics.csv"
VALIDATION = (
    JOB_DIR / "validation_artifacts" / "post_fine_tuning_validation" / "validation_metrics.csv"
)
ACCOUNT = "111122223333"
BUCKET = f"rft-env-dev-output-{ACCOUNT}-us-east-1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fixture_tables() -> list[metrics.MetricsTable]:
    return [
        load_metrics_file(path, path.relative_to(JOB_DIR).as_posix())
        for path in (
            TRAINING,
            VALIDATION,
            RFT,
        )
    ]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------------- parsing


def test_step_wise_training_metrics() -> None:
    table = load_metrics_file(TRAINING, "training.csv")
    assert (table.source, table.step_column, table.rows) == ("training.csv", "step_number", 20)
    assert [s.name for s in table.series] == ["training_loss", "perplexity"]
    assert table.skipped == (("epoch_number", "index"),)
    loss = table.series[0]
    assert loss.steps == tuple(float(step) for step in range(20))
    assert metrics.summarize(loss) == metrics.Summary(
        metric="training_loss", first=2.351, last=0.4605, minimum=0.4605, maximum=2.351, steps=20
    )


def test_validation_metrics() -> None:
    table = load_metrics_file(VALIDATION)
    assert table.source == str(VALIDATION)
    assert table.rows == 2
    validation = table.series[0]
    assert (validation.name, validation.steps, validation.values) == (
        "validation_loss",
        (9.0, 19.0),
        (0.6123, 0.4871),
    )


def test_rft_reward_statistics_with_sparse_validation_scores() -> None:
    table = load_metrics_file(RFT)
    assert table.step_column == "step"
    assert [s.name for s in table.series] == [
        "critic/rewards/mean",
        "critic/rewards/max",
        "critic/rewards/min",
        "val-score/rewards/mean@1",
        "actor/entropy",
        "actor/pg_loss",
        "response_length/mean",
        "perf/throughput",
    ]
    score = table.series[3]
    assert (score.steps, score.values) == ((10.0, 20.0), (0.6248, 0.725))
    summary = metrics.summarize(table.series[0])
    assert (summary.first, summary.last, summary.minimum, summary.maximum, summary.steps) == (
        0.2255,
        0.755,
        0.2255,
        0.755,
        20,
    )


def test_text_columns_gaps_bom_and_blank_lines() -> None:
    table = load_metrics_file(FIXTURES / "edge" / "text_and_gaps.csv")
    assert table.step_column == "global_step"  # found despite the byte-order mark
    assert table.rows == 4  # the blank line is not a row
    by_name = {s.name: s for s in table.series}
    assert set(by_name) == {"reward_score", "kl"}
    assert (by_name["reward_score"].steps, by_name["reward_score"].values) == (
        (1.0, 2.0, 4.0),
        (0.1, 0.2, 0.45),
    )
    assert by_name["kl"].steps == (2.0, 3.0)  # NaN and inf are missing values
    assert table.skipped == (("phase", "text"), ("empty_col", "no values"))


def test_header_only_file_has_no_values_yet() -> None:
    table = load_metrics_file(FIXTURES / "edge" / "header_only.csv")
    assert (table.rows, table.series) == (0, ())
    assert "no metric values yet" in metrics.render_summary([table])


def test_rows_are_ordered_by_step() -> None:
    table = parse_metrics_csv("step,loss\n3,0.3\n1,0.9\n2,0.5\n", "t.csv")
    loss = table.series[0]
    assert (loss.steps, loss.values) == ((1.0, 2.0, 3.0), (0.9, 0.5, 0.3))
    assert (metrics.summarize(loss).first, metrics.summarize(loss).last) == (0.9, 0.3)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "non_numeric.csv",
            "{path}: 2 problems\n"
            "  - line 4, column 'training_loss': 'abc' is not a number\n"
            "  - line 7, column 'perplexity': 'n/a' is not a number",
        ),
        (
            "missing_step.csv",
            "{path}: line 1: no step column: expected one of step_number, step, global_step; "
            "the header has epoch_number, training_loss, perplexity",
        ),
        ("empty.csv", "{path}: line 1: empty file: no header row"),
        (
            "ragged.csv",
            "{path}: 2 problems\n"
            "  - line 3: 3 cells, but the header (line 1) has 4 columns\n"
            "  - line 4: 5 cells, but the header (line 1) has 4 columns",
        ),
        (
            "bad_step.csv",
            "{path}: 2 problems\n"
            "  - line 3: step_number 'three' is not a number\n"
            "  - line 4: step_number is empty",
        ),
        ("not_utf8.csv", "{path}: line 3: not UTF-8 text (invalid start byte)"),
    ],
)
def test_malformed_files_name_the_file_and_line(name: str, message: str) -> None:
    path = FIXTURES / "malformed" / name
    with pytest.raises(MetricsFileError) as info:
        load_metrics_file(path)
    assert str(info.value) == message.format(path=path)
    assert info.value.source == str(path)


def test_header_problems() -> None:
    with pytest.raises(MetricsFileError) as info:
        parse_metrics_csv("step,loss,,loss\n1,2,3,4\n", "h.csv")
    assert info.value.problems == [
        "line 1: column 3 has no name",
        "line 1: column 'loss' appears more than once",
    ]


def test_problems_are_capped() -> None:
    text = "step,loss\n0,0.5\n" + "".join(f"{n},bad{n}\n" for n in range(1, 26))
    with pytest.raises(MetricsFileError) as info:
        parse_metrics_csv(text, "many.csv")
    problems = info.value.problems
    assert len(problems) == metrics.MAX_PROBLEMS + 1
    assert problems[0] == "line 3, column 'loss': 'bad1' is not a number"
    assert problems[-1] == "... and 5 more"


def test_csv_errors_name_the_line() -> None:
    limit = csv.field_size_limit()
    csv.field_size_limit(20)
    try:
        with pytest.raises(MetricsFileError) as info:
            parse_metrics_csv("step,loss\n1,0.5\n2," + "9" * 30 + "\n", "big.csv")
    finally:
        csv.field_size_limit(limit)
    assert str(info.value) == "big.csv: line 3: field larger than field limit (20)"


# ---------------------------------------------------------------------------- summary, groups


@pytest.mark.parametrize(
    ("metric", "group"),
    [
        ("training_loss", "loss"),
        ("validation_loss", "loss"),
        ("actor/pg_loss", "loss"),
        ("critic/rewards/mean", "rewards"),
        ("val-score/rewards/mean@1", "rewards"),
        ("Reward_Score", "rewards"),
        ("accuracy_score", "rewards"),
        ("perplexity", "other"),
        ("actor/entropy", "other"),
        ("response_length/mean", "other"),
    ],
)
def test_group_of(metric: str, group: str) -> None:
    assert metrics.group_of(metric) == group


def test_expected_files_accepts_both_validation_layouts() -> None:
    nested = "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv"
    assert metrics.expected_files([metrics.TRAINING_FILE, nested]) == {
        "training metrics": metrics.TRAINING_FILE,
        "validation metrics": nested,
    }
    assert metrics.expected_files([metrics.VALIDATION_FILES[0]]) == {
        "training metrics": None,
        "validation metrics": metrics.VALIDATION_FILES[0],
    }
    assert set(metrics.expected_files(["other.csv"]).values()) == {None}


def test_render_summary() -> None:
    training, validation, _ = fixture_tables()
    assert metrics.render_summary([validation, training]).splitlines() == [
        # Wrapped: every line fits 80 columns.
        "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv: 2 rows,",
        "  step column step_number",
        "  metric            first    last     min     max  steps",
        "  validation_loss  0.6123  0.4871  0.4871  0.6123      2",
        "  perplexity       1.8447  1.6276  1.6276  1.8447      2",
        "  not charted: epoch_number (index)",
        "",
        "training_artifacts/step_wise_training_metrics.csv: 20 rows, step column",
        "  step_number",
        "  metric           first    last     min      max  steps",
        "  training_loss    2.351  0.4605  0.4605    2.351     20",
        "  perplexity     10.4961  1.5849  1.5849  10.4961     20",
        "  not charted: epoch_number (index)",
    ]


def test_chart_lines_group_and_label_metrics() -> None:
    groups = metrics.chart_lines(fixture_tables())
    labels = {group: [label for label, _ in lines] for group, lines in groups.items()}
    assert labels == {
        "loss": ["training_loss", "validation_loss", "actor/pg_loss"],
        "rewards": [
            "critic/rewards/mean",
            "critic/rewards/max",
            "critic/rewards/min",
            "val-score/rewards/mean@1",
        ],
        "other": [
            "perplexity (step_wise_training_metrics)",
            "perplexity (validation_metrics)",
            "actor/entropy",
            "response_length/mean",
            "perf/throughput",
        ],
    }
    # A group without metrics gets no chart.
    only_training = metrics.chart_lines(fixture_tables()[:1])
    assert set(only_training) == {"loss", "other"}


def test_charts_are_deterministic_pngs(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    written = metrics.write_charts(fixture_tables(), first, "rft-env-dev--rft-0123456789ab")
    assert [p.name for p in written] == ["loss.png", "rewards.png", "other.png", "overview.png"]
    metrics.write_charts(fixture_tables(), second, "rft-env-dev--rft-0123456789ab")
    for path in written:
        data = path.read_bytes()
        assert data == (second / path.name).read_bytes(), f"{path.name} differs between runs"
        assert b"Software" not in data and b"atplotlib" not in data
    # The fine-tuning losses on one axes, actor/pg_loss on its own.
    assert png_size(first / "loss.png") == (900, 800)
    assert png_size(first / "rewards.png") == (900, 400)
    # One panel per metric name in "other": perplexity, entropy, length, throughput.
    assert png_size(first / "other.png") == (900, 1600)
    # Reward, entropy, response length: a grid two panels wide, two rows.
    assert png_size(first / "overview.png") == (1300, 700)


def test_charts_ignore_the_users_matplotlibrc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib

    baseline = tmp_path / "baseline"
    styled = tmp_path / "styled"
    baseline.mkdir()
    styled.mkdir()
    metrics.write_charts(fixture_tables()[:1], baseline, "t")
    monkeypatch.setitem(matplotlib.rcParams, "lines.linewidth", 7.0)
    monkeypatch.setitem(matplotlib.rcParams, "figure.facecolor", "black")
    metrics.write_charts(fixture_tables()[:1], styled, "t")
    assert (baseline / "loss.png").read_bytes() == (styled / "loss.png").read_bytes()


def test_importing_the_commands_stays_light() -> None:
    code = (
        "import sys, rft_env.rftenv.metrics, rft_env.rftenv.status, rft_env.rftenv.jobs\n"
        "heavy = sorted(m for m in ('matplotlib', 'boto3', 'botocore', 'pulumi') "
        "if m in sys.modules)\n"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=FIXTURES
    )
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- the command


@pytest.fixture(autouse=True)
def offline_aws_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, tmp_path: Path
) -> None:
    """Static test credentials, no shared config, botocore's back-off and the expiry of
    assumed-role credentials on the fake clock."""
    offline.offline_aws(monkeypatch, tmp_path, clock)
    monkeypatch.setattr(jobs, "credentials_clock", clock)


@pytest.fixture
def s3() -> Iterator[Any]:
    """moto's in-process S3 (and STS, for the stack's AssumeRole) with the output bucket."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def job(fake: FakeBedrock) -> dict[str, str]:
    """The dev stack's job, started as its provider starts it."""
    props = {
        "connection": {"region": "us-east-1"},
        "identity": "rft-env/dev/rft-training-job",
        "revision": 1,
        "namePrefix": "rft-env-dev",
        "baseModelIdentifier": "amazon.nova-2-lite-v1:0:256k",
        "serviceRoleArn": f"arn:aws:iam::{ACCOUNT}:role/rft-env-dev-bedrock-customization",
        "trainingDataUri": f"s3://rft-env-dev-data-{ACCOUNT}-us-east-1/datasets/t.jsonl",
        "outputDataUri": f"s3://{BUCKET}/rft-output/",
        "graderArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rft-env-dev-grader-arithmetic",
        "hyperParameters": {"epochCount": 1, "batchSize": 64, "learningRate": 1e-05},
    }
    request = create_request(props)
    bedrock = boto3.client("bedrock", region_name="us-east-1", endpoint_url=fake.endpoint_url)
    arn = bedrock.create_model_customization_job(**request)["jobArn"]
    job_id = arn.rsplit("/", 1)[-1]
    return {
        "name": request["jobName"],
        "arn": arn,
        "prefix": f"rft-output/model-customization-job-{job_id}/",
    }


def upload(s3: Any, job: dict[str, str], files: dict[str, Path | bytes]) -> None:
    for relative, source in files.items():
        body = source if isinstance(source, bytes) else source.read_bytes()
        s3.put_object(Bucket=BUCKET, Key=job["prefix"] + relative, Body=body)


def cli(*argv: str) -> int:
    return main(list(argv))


def run_metrics(fake: FakeBedrock, *extra: str) -> int:
    return cli("metrics", "dev", "--endpoint-url", fake.endpoint_url, *extra)


ALL_FILES = {
    metrics.TRAINING_FILE: TRAINING,
    metrics.VALIDATION_FILES[0]: VALIDATION,
    "training_artifacts/rft_step_metrics.csv": RFT,
    "training_artifacts/model.json": b"{}",
}


def test_downloads_charts_and_summarises(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    upload(s3, job, ALL_FILES)
    out_dir = tmp_path / "out"
    assert run_metrics(fake, "--out", str(out_dir)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[:7] == [
        f"stack dev: job {job['name']} (InProgress)",
        f"artifacts: s3://{BUCKET}/{job['prefix']}",
        f"downloaded 3 CSV file(s) to {out_dir}/",
        "  training_artifacts/rft_step_metrics.csv",
        "  training_artifacts/step_wise_training_metrics.csv",
        "  validation_artifacts/post_fine_tuning_validation/validation_metrics.csv",
        "",
    ]
    assert "missing:" not in captured.out
    assert "  training_loss    2.351  0.4605  0.4605    2.351     20" in lines
    assert "  critic/rewards/mean       0.2255   0.755  0.2255   0.755     20" in lines
    # After the tables, wrapped to 80 columns.
    best = "best validation reward: 0.725 at step 20 (val-score/rewards/mean@1; 2"
    assert lines[lines.index(best) - 1 : lines.index(best) + 3] == [
        "",
        best,
        "  evaluations, last 0.725)",
        "",
    ]
    charts = [out_dir / f"{name}.png" for name in ("loss", "rewards", "other", "overview")]
    charts_line = "charts: " + ", ".join(str(path) for path in charts)
    assert lines.index(charts_line) == lines.index(best) + 3
    # The overview names what it could not draw; nothing follows.
    assert " ".join(line.strip() for line in lines[lines.index(charts_line) + 1 :]) == (
        "note: overview.png: not found, so not drawn: response_length/min and "
        "response_length/max (the band of response_length/mean); actor/grad_norm; "
        "response/aborted_ratio; a KL column (a name with the word kl, such as "
        "actor/kl_loss)"
    )
    assert all(len(line) <= 80 for line in lines[lines.index(charts_line) + 1 :])
    for relative, source in ALL_FILES.items():
        local = out_dir / relative
        if relative.endswith(".csv"):
            assert local.read_bytes() == source.read_bytes()  # type: ignore[union-attr]
        else:
            assert not local.exists()
    for chart in charts:
        assert chart.read_bytes()[:8] == PNG_SIGNATURE
    # The stack's deployment role was assumed for Bedrock (through the fake's STS).
    assert [params["RoleArn"] for name, params in fake.calls if name == "AssumeRole"] == [
        f"arn:aws:iam::{ACCOUNT}:role/rft-env-deployer"
    ]


def test_two_runs_write_identical_files(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    upload(s3, job, ALL_FILES)
    assert run_metrics(fake, "--out", str(tmp_path / "a")) == 0
    assert run_metrics(fake, "--out", str(tmp_path / "b")) == 0
    first = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    second = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    assert first == second and len(first) == 7  # 3 CSV files, 4 charts
    for relative in first:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()


def test_default_directory_and_missing_validation(
    fake: FakeBedrock,
    s3: Any,
    job: dict[str, str],
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Run from another directory: the project comes from --project-dir, and the charts
    # land under the working directory.
    project = Path.cwd()
    monkeypatch.chdir(tmp_path)
    upload(s3, job, {metrics.TRAINING_FILE: TRAINING})
    assert run_metrics(fake, "--project-dir", str(project)) == 0
    out = capsys.readouterr().out
    directory = Path("metrics") / "dev" / job["name"]
    assert (tmp_path / directory / metrics.TRAINING_FILE).read_bytes() == TRAINING.read_bytes()
    assert f"downloaded 1 CSV file(s) to {directory}/" in out
    assert (
        "missing: validation metrics (validation_artifacts/post_fine_tuning_validation/"
        "validation_metrics.csv or validation_artifacts/post_fine_tuning_validation/"
        "validation/validation_metrics.csv)"
    ) in out
    assert sorted(p.name for p in (tmp_path / directory).glob("*.png")) == [
        "loss.png",
        "other.png",
    ]


def test_nested_validation_layout_counts_as_present(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    nested = metrics.VALIDATION_FILES[1]
    upload(s3, job, {metrics.TRAINING_FILE: TRAINING, nested: VALIDATION})
    assert run_metrics(fake, "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "missing:" not in out
    assert (tmp_path / nested).is_file()


def test_job_option_and_completed_job(
    fake: FakeBedrock, clock: FakeClock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    upload(s3, job, {metrics.TRAINING_FILE: TRAINING})
    clock.advance(fake.job_duration)
    assert run_metrics(fake, "--job", job["arn"], "--out", str(tmp_path)) == 0
    assert capsys.readouterr().out.startswith(f"stack dev: job {job['name']} (Completed)\n")
    assert fake.count("ListModelCustomizationJobs") == 0


@pytest.mark.parametrize(
    ("files", "detail"),
    [({}, "nothing there"), ({"manifest.json": b"{}"}, "1 other object(s) there")],
)
def test_no_metrics_yet_exits_1(
    fake: FakeBedrock,
    s3: Any,
    job: dict[str, str],
    tmp_path: Path,
    capsys: Any,
    files: dict[str, bytes],
    detail: str,
) -> None:
    upload(s3, job, files)
    assert run_metrics(fake, "--out", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"rftenv metrics dev: no metrics files under s3://{BUCKET}/{job['prefix']} yet "
        f"({detail}; job status InProgress): Bedrock writes them as the job trains, so try "
        "again later"
    )
    assert not (tmp_path / "out").exists()


def test_header_only_metrics_exit_1(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    upload(s3, job, {metrics.TRAINING_FILE: FIXTURES / "edge" / "header_only.csv"})
    assert run_metrics(fake, "--out", str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "no metric values yet in 1 file(s) (job status InProgress)" in out
    assert list(tmp_path.glob("*.png")) == []


def test_malformed_file_is_reported_and_the_rest_charted(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    upload(
        s3,
        job,
        {
            metrics.TRAINING_FILE: TRAINING,
            "training_artifacts/broken.csv": FIXTURES / "malformed" / "non_numeric.csv",
        },
    )
    assert run_metrics(fake, "--out", str(tmp_path)) == 1
    captured = capsys.readouterr()
    broken = tmp_path / "training_artifacts" / "broken.csv"
    assert captured.err.splitlines() == [
        f"error: {broken}: 2 problems",
        "  - line 4, column 'training_loss': 'abc' is not a number",
        "  - line 7, column 'perplexity': 'n/a' is not a number",
    ]
    assert broken.is_file()  # kept, so the operator can look at it
    assert (tmp_path / "loss.png").is_file()
    assert "  training_loss    2.351" in captured.out


def test_missing_bucket_names_the_operation(
    fake: FakeBedrock, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    with mock_aws():  # no bucket created
        assert run_metrics(fake, "--out", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"rftenv metrics dev: ListObjectsV2 (s3://{BUCKET}/{job['prefix']}) failed: NoSuchBucket"
    )


def test_s3_endpoint_url_is_used_for_s3_only(
    fake: FakeBedrock, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    # Nothing listens on port 9 of 127.0.0.1: the S3 side (its AssumeRole first) fails there,
    # after the Bedrock side has found the job through the fake.
    assert run_metrics(fake, "--s3-endpoint-url", "http://127.0.0.1:9", "--out", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"rftenv metrics dev: AssumeRole (arn:aws:iam::{ACCOUNT}:role/rft-env-deployer) failed: "
        "EndpointConnectionError"
    )
    assert "http://127.0.0.1:9" in err
    assert fake.count("GetModelCustomizationJob") == 1


def test_no_job_and_unknown_stack(fake: FakeBedrock, capsys: Any) -> None:
    assert run_metrics(fake) == 1
    assert "no RFT job named rft-env-dev--rft-<hash>" in capsys.readouterr().err
    assert cli("metrics", "nope") == 2
    assert capsys.readouterr().err.startswith("rftenv metrics nope: no stack file ")


def test_register_documents_options_and_exit_codes() -> None:
    parser = argparse.ArgumentParser(prog="rftenv")
    commands = parser.add_subparsers(dest="command", required=True)
    metrics.COMMAND.register(commands)
    help_text = " ".join(commands.choices["metrics"].format_help().split())
    for phrase in (
        "--out DIR",
        "--job NAME_OR_ARN",
        "--endpoint-url URL",
        "--s3-endpoint-url URL",
        "Exit codes: 0 when metrics were read; 1 when there are none yet",
    ):
        assert phrase in help_text
    args = parser.parse_args(["metrics", "dev", "--out", "x"])
    assert (args.out, args.handler) == (Path("x"), metrics.run)


def test_unsafe_keys_are_skipped() -> None:
    assert metrics._safe_relative("training_artifacts/a.csv")
    for bad in ("", "../a.csv", "a/../../b.csv", "a//b.csv", "./a.csv"):
        assert not metrics._safe_relative(bad), bad


# ---------------------------------------------------------------------------- bounds


def wide_csv(columns: int, rows: int = 3) -> str:
    """A CSV with `columns` metric columns (none named like a loss or reward: all "other",
    one panel each, the worst case for chart size)."""
    header = ",".join(["step", *(f"m{index}" for index in range(columns))])
    body = "".join(
        ",".join([str(step), *(f"{step * 0.1 + index}" for index in range(columns))]) + "\n"
        for step in range(rows)
    )
    return f"{header}\n{body}"


def test_a_file_with_thousands_of_columns_is_read_and_charted_within_bounds(
    tmp_path: Path,
) -> None:
    """3,000 columns once meant one 400-pixel panel each: a 1.2-million-pixel-tall image
    and 5.5 GB. Columns past the limit are not read; lines past the chart limit not drawn."""
    path = tmp_path / "wide.csv"
    path.write_text(wide_csv(3000))
    table = load_metrics_file(path, "wide.csv")
    assert len(table.series) == metrics.MAX_METRIC_COLUMNS
    assert table.notes == (
        f"{3000 - metrics.MAX_METRIC_COLUMNS:,} more metric columns not read (limit "
        f"{metrics.MAX_METRIC_COLUMNS} per file; the first is 'm{metrics.MAX_METRIC_COLUMNS}')",
    )
    assert "  note: 2,950 more metric columns not read" in metrics.render_summary([table])
    [chart] = metrics.write_charts([table], tmp_path, "t")
    assert png_size(chart) == (900, 400 * metrics.MAX_LINES_PER_CHART)
    [note] = metrics.chart_notes([table])
    assert note.startswith(
        f"other.png: {metrics.MAX_METRIC_COLUMNS - metrics.MAX_LINES_PER_CHART} of "
        f"{metrics.MAX_METRIC_COLUMNS} metrics not drawn (limit {metrics.MAX_LINES_PER_CHART} "
        "per chart): m12, m13, m14, m15, m16, ..."
    )


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1.7976931348623157e308"])
def test_huge_values_are_summarised_but_left_out_of_the_charts(tmp_path: Path, value: str) -> None:
    """1e308 made matplotlib's tick computation overflow; the summary keeps the value."""
    table = parse_metrics_csv(
        f"step,loss,thing\n1,0.5,{value}\n2,{value},-1e308\n3,0.25,1\n", "huge.csv"
    )
    assert table.notes == (
        "loss: 1 point(s) beyond ±1e+15, left out of the charts",
        "thing: 2 point(s) beyond ±1e+15, left out of the charts",
    )
    summary = metrics.render_summary([table])
    assert f"{float(value):.6g}" in summary
    groups = metrics.chart_lines([table])
    assert groups["loss"][0][1].values == (0.5, 0.25)
    assert groups["other"][0][1].values == (1.0,)
    written = metrics.write_charts([table], tmp_path, "t")
    assert [path.name for path in written] == ["loss.png", "other.png"]


def test_a_series_with_only_huge_values_draws_no_chart(tmp_path: Path) -> None:
    table = parse_metrics_csv("step,loss\n1,1e308\n2,-1e308\n", "huge.csv")
    assert metrics.chart_lines([table]) == {}
    assert metrics.write_charts([table], tmp_path, "t") == []
    assert "max" in metrics.render_summary([table])


def test_non_finite_cells_are_reported() -> None:
    table = load_metrics_file(FIXTURES / "edge" / "text_and_gaps.csv", "gaps.csv")
    assert table.notes == ("kl: 2 NaN or infinite value(s), read as missing",)
    assert "  note: kl: 2 NaN or infinite value(s), read as missing" in metrics.render_summary(
        [table]
    )


def test_the_command_reports_the_cuts(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    wide = wide_csv(200).replace("0.1,", "1e308,", 1).encode()
    upload(s3, job, {metrics.TRAINING_FILE: TRAINING, "training_artifacts/wide.csv": wide})
    assert run_metrics(fake, "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "  note: 150 more metric columns not read (limit 50 per file" in out
    assert "  note: m0: 1 point(s) beyond ±1e+15, left out of the charts" in out
    assert "  note: other.png: 39 of 51 metrics not drawn (limit 12 per chart)" in out
    assert png_size(tmp_path / "other.png") == (900, 400 * metrics.MAX_LINES_PER_CHART)


# ---------------------------------------------------------------------------- RL charts

RFT_FULL = FIXTURES / "rft_full" / "rft_step_metrics.csv"


def test_smoothing_the_overview_and_the_best_validation_reward(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    upload(s3, job, {"training_artifacts/rft_step_metrics.csv": RFT_FULL})
    assert run_metrics(fake, "--out", str(tmp_path / "raw")) == 0
    raw_out = capsys.readouterr().out
    assert run_metrics(fake, "--out", str(tmp_path / "smooth"), "--smooth", "5") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    # Every documented column is there: no note, and the best evaluation is not the last.
    assert "note:" not in captured.out
    assert (
        "best validation reward: 0.7412 at step 30 (val-score/rewards/mean@1; 4\n"
        "  evaluations, last 0.7288)\n"
    ) in captured.out
    # Smoothing changes the overview only, and not the text.
    assert captured.out == raw_out.replace(str(tmp_path / "raw"), str(tmp_path / "smooth"))
    for name in ("loss.png", "rewards.png", "other.png"):
        assert (tmp_path / "raw" / name).read_bytes() == (tmp_path / "smooth" / name).read_bytes()
    raw_overview = (tmp_path / "raw" / "overview.png").read_bytes()
    assert raw_overview != (tmp_path / "smooth" / "overview.png").read_bytes()
    # Six panels, two wide.
    assert png_size(tmp_path / "smooth" / "overview.png") == (1300, 1050)


def test_a_fine_tuning_job_gets_no_overview_and_no_reward_line(
    fake: FakeBedrock, s3: Any, job: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    upload(s3, job, {metrics.TRAINING_FILE: TRAINING, metrics.VALIDATION_FILES[0]: VALIDATION})
    assert run_metrics(fake, "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "best validation reward" not in out
    assert sorted(path.name for path in tmp_path.glob("*.png")) == ["loss.png", "other.png"]
    assert out.rstrip().endswith(
        "  note: overview.png: not written: none of its RL metrics found\n"
        "    (critic/rewards/mean, critic/score/mean, actor/entropy,\n"
        "    response_length/mean, actor/grad_norm, response/aborted_ratio, KL)"
    )


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "five"])
def test_smooth_must_be_a_positive_whole_number(fake: FakeBedrock, capsys: Any, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        run_metrics(fake, "--smooth", value)
    assert info.value.code == 2
    assert (
        f"--smooth: expected a whole number of points, 1 or more (1: no smoothing); got {value!r}"
    ) in capsys.readouterr().err


def test_smooth_is_documented_and_defaults_to_none() -> None:
    parser = argparse.ArgumentParser(prog="rftenv")
    commands = parser.add_subparsers(dest="command", required=True)
    metrics.COMMAND.register(commands)
    help_text = " ".join(commands.choices["metrics"].format_help().split())
    assert "--smooth N" in help_text
    assert "overview.png" in help_text and "best validation reward" in help_text
    assert parser.parse_args(["metrics", "dev"]).smooth == 1
    assert parser.parse_args(["metrics", "dev", "--smooth", "7"]).smooth == 7


def test_chart_entries_mark_validation_results() -> None:
    entries = metrics.chart_entries(fixture_tables())
    flags = {line.label: line.validation for lines in entries.values() for line in lines}
    assert [label for label, validation in flags.items() if validation] == [
        "validation_loss",
        "val-score/rewards/mean@1",
        "perplexity (validation_metrics)",
    ]
