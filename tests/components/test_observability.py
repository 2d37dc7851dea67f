"""Observability: names, the event pattern and message, alarm specs, the dashboard body,
e-mail subscriptions, and the component's wiring under the mock runtime."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto.events.models import EventPattern

from rft_env.components import observability
from rft_env.components.bedrock.job import job_identity
from rft_env.components.naming import Names
from rft_env.components.observability import MonitoredGrader
from rft_env.rftenv import synth

NAMES = Names("dev", "111122223333", "us-east-1")
GRADERS = [
    MonitoredGrader("arithmetic", "rft-env-dev-grader-arithmetic", 300),
    MonitoredGrader("judged", "rft-env-dev-grader-judged", 900),
]
ENVIRONMENTS = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
GRADER_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,23}", fullmatch=True)


# --- names ------------------------------------------------------------------------------
def test_names_and_arns() -> None:
    assert NAMES.notification_topic == "rft-env-dev-notifications"
    assert NAMES.notification_topic_arn == (
        "arn:aws:sns:us-east-1:111122223333:rft-env-dev-notifications"
    )
    assert NAMES.job_state_rule == "rft-env-dev-job-state"
    assert NAMES.event_rule_arn(NAMES.job_state_rule) == (
        "arn:aws:events:us-east-1:111122223333:rule/rft-env-dev-job-state"
    )
    assert NAMES.grader_alarm("a", "errors") == "rft-env-dev-grader-a-errors"
    assert NAMES.alarm_arn("x") == "arn:aws:cloudwatch:us-east-1:111122223333:alarm:x"
    assert NAMES.dashboard == "rft-env-dev"
    assert NAMES.job_name_prefix == "rft-env-dev--rft-"
    gov = Names("dev", "111122223333", "us-gov-west-1")
    assert gov.notification_topic_arn.startswith("arn:aws-us-gov:sns:us-gov-west-1:")


@given(ENVIRONMENTS, GRADER_NAMES)
def test_names_fit_aws_limits(environment: str, grader: str) -> None:
    names = Names(environment, "111122223333", "us-east-1")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", names.notification_topic)
    assert re.fullmatch(r"[.\-_A-Za-z0-9]{1,64}", names.job_state_rule)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", names.dashboard)
    for kind in ("errors", "throttles", "duration"):
        assert len(names.grader_alarm(grader, kind)) <= 255


# --- the job-state rule ---------------------------------------------------------------------
def test_event_pattern_matches_this_stacks_jobs_by_name() -> None:
    assert observability.job_state_event_pattern(NAMES) == {
        "source": ["aws.bedrock"],
        "detail-type": ["Model Customization Job State Change"],
        "detail": {
            "jobName": [{"prefix": "rft-env-dev--rft-"}],
            "jobStatus": ["Completed", "Failed", "Stopped"],
        },
    }


def job_props(environment: str, revision: int) -> dict[str, Any]:
    """The job provider's inputs for a stack of `environment` in one shared account."""
    names = Names(environment, "111122223333", "us-east-1")
    return {
        "connection": {"region": names.region},
        "identity": f"rft-env/{environment}/rft-training-job",
        "revision": revision,
        "namePrefix": names.prefix,
        "baseModelIdentifier": "amazon.nova-2-lite-v1:0:256k",
        "serviceRoleArn": names.role_arn(names.customization_role),
        "trainingDataUri": f"s3://{names.bucket('data')}/datasets/train.jsonl",
        "outputDataUri": f"s3://{names.bucket('output')}/rft-output/",
        "graderArn": names.function_arn(names.grader_function("a")),
        "hyperParameters": {"epochCount": 1},
    }


def job_state_event(job_name: str, status: str) -> dict[str, Any]:
    """A job state change as Bedrock sends it to the default bus (the envelope and detail
    fields of EventBridge's Bedrock event reference)."""
    arn = "arn:aws:bedrock:us-east-1:111122223333:model-customization-job/amazon.nova/abc123def456"
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Model Customization Job State Change",
        "source": "aws.bedrock",
        "account": "111122223333",
        "time": "2025-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {"version": "0.0", "jobName": job_name, "jobArn": arn, "jobStatus": status},
    }


def test_each_stacks_rule_catches_its_own_jobs_and_not_the_others() -> None:
    """Environments `dev` and `dev-rft` in one account: each rule matches every revision of
    its own stack's jobs and none of the other's, as judged by moto's EventBridge pattern
    matcher (moto.events.models.EventPattern, offline) on the JSON the component deploys.
    Before job names had a '--', dev's prefix `rft-env-dev-rft-` matched dev-rft's jobs."""
    environments = ("dev", "dev-rft")
    rules = {
        env: EventPattern.load(
            json.dumps(
                observability.job_state_event_pattern(Names(env, "111122223333", "us-east-1")),
                sort_keys=True,
            )
        )
        for env in environments
    }
    for env in environments:
        for revision in (1, 2, 7):
            job_name = job_identity(job_props(env, revision))[1]
            for status in observability.JOB_END_STATUSES:
                event = job_state_event(job_name, status)
                assert {other: rules[other].matches_event(event) for other in environments} == {
                    other: other == env for other in environments
                }, (job_name, status)
            # Only end statuses are sent.
            assert not rules[env].matches_event(job_state_event(job_name, "InProgress"))


def test_event_message_uses_only_defined_detail_paths() -> None:
    template = observability.job_event_input_template()
    message = json.loads(template)  # a JSON string, as EventBridge expects
    assert isinstance(message, str)
    used = set(re.findall(r"<([A-Za-z]+)>", message))
    assert used == set(observability.JOB_EVENT_INPUT_PATHS)
    assert observability.JOB_EVENT_INPUT_PATHS["jobStatus"] == "$.detail.jobStatus"
    assert all(p.startswith("$.detail.") for p in observability.JOB_EVENT_INPUT_PATHS.values())
    assert message.startswith("RFT job <jobName> is <jobStatus>.")


# --- alarms ---------------------------------------------------------------------------------
def test_alarm_specs_per_grader() -> None:
    specs = {s.kind: s for s in observability.alarm_specs(NAMES, "arithmetic", 300)}
    assert list(specs) == ["errors", "throttles", "duration"]
    for kind, metric in (("errors", "Errors"), ("throttles", "Throttles")):
        spec = specs[kind]
        assert spec.name == f"rft-env-dev-grader-arithmetic-{kind}"
        assert (spec.metric, spec.statistic) == (metric, "Sum")
        assert (spec.comparison, spec.threshold) == ("GreaterThanThreshold", 0)
        assert (spec.period, spec.evaluation_periods) == (300, 1)
    duration = specs["duration"]
    assert (duration.metric, duration.statistic) == ("Duration", "Maximum")
    assert duration.comparison == "GreaterThanOrEqualToThreshold"
    assert duration.threshold == 240_000  # 80% of 300 s, in ms
    assert "300 s timeout" in duration.description


@given(st.integers(min_value=1, max_value=900))
def test_duration_threshold_is_eighty_percent_of_the_timeout(timeout: int) -> None:
    (duration,) = [
        s for s in observability.alarm_specs(NAMES, "g", timeout) if s.kind == "duration"
    ]
    assert duration.threshold == timeout * 800
    assert duration.threshold < timeout * 1000


def test_alarm_arns_cover_every_grader() -> None:
    arns = observability.alarm_arns(NAMES, GRADERS)
    assert len(arns) == 6
    assert "arn:aws:cloudwatch:us-east-1:111122223333:alarm:rft-env-dev-grader-judged-duration" in (
        arns
    )


# --- the dashboard --------------------------------------------------------------------------
def test_dashboard_body_is_sorted_json_with_a_row_per_grader() -> None:
    body = observability.dashboard_body(NAMES, GRADERS)
    parsed = json.loads(body)
    assert json.dumps(parsed, sort_keys=True) == body
    alarm_widget, *metric_widgets = parsed["widgets"]
    assert alarm_widget["type"] == "alarm"
    assert alarm_widget["properties"]["alarms"] == observability.alarm_arns(NAMES, GRADERS)
    assert len(metric_widgets) == 4 * len(GRADERS)
    for grader in GRADERS:
        mine = [
            w
            for w in metric_widgets
            if all(m[3] == grader.function_name for m in w["properties"]["metrics"])
        ]
        shown = {m[1] for w in mine for m in w["properties"]["metrics"]}
        assert shown == {"Invocations", "Errors", "Throttles", "Duration"}
        (duration,) = [w for w in mine if w["properties"]["metrics"][0][1] == "Duration"]
        lines = {a["value"] for a in duration["properties"]["annotations"]["horizontal"]}
        assert lines == {grader.timeout_seconds * 1000, grader.timeout_seconds * 800}
        assert all(w["properties"]["region"] == "us-east-1" for w in mine)


def test_dashboard_widgets_fit_the_grid_without_overlap() -> None:
    widgets = json.loads(observability.dashboard_body(NAMES, GRADERS))["widgets"]
    cells: set[tuple[int, int]] = set()
    for widget in widgets:
        assert widget["x"] + widget["width"] <= 24
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not area & cells
        cells |= area


def test_dashboard_needs_resolved_function_names() -> None:
    with pytest.raises(TypeError, match="grader g"):
        observability.dashboard_body(NAMES, [MonitoredGrader("g", 42, 300)])  # type: ignore[arg-type]


# --- e-mail subscriptions -------------------------------------------------------------------
def test_email_subscriptions_are_distinct_and_stable() -> None:
    emails = ["a@example.com", "B@example.com", "A@Example.com"]
    subscriptions = observability.email_subscriptions(emails)
    assert sorted(subscriptions.values()) == ["B@example.com", "a@example.com"]
    assert observability.email_subscriptions(list(reversed(emails[:2]))) == subscriptions
    # The logical name carries a hash, never the address.
    assert all(re.fullmatch(r"[0-9a-f]{10}", suffix) for suffix in subscriptions)
    assert observability.email_subscriptions([]) == {}


# --- the component, under the mock runtime --------------------------------------------------
PROGRAM = """
import pulumi
import pulumi_aws as aws

from rft_env.components.naming import Names
from rft_env.components.observability import MonitoredGrader, Observability, ObservabilityArgs

provider = aws.Provider("target-account", region="us-east-1", allowed_account_ids=["111122223333"])
component = Observability(
    "obs",
    ObservabilityArgs(
        names=Names("dev", "111122223333", "us-east-1"),
        key_arn="arn:aws:kms:us-east-1:111122223333:key/k",
        graders=[
            MonitoredGrader("a", pulumi.Output.from_input("rft-env-dev-grader-a"), 60),
            MonitoredGrader("b", "rft-env-dev-grader-b", 900),
        ],
        notification_emails=["ops@example.com", "OPS@example.com", "ml@example.com"],
    ),
    opts=pulumi.ResourceOptions(providers={"aws": provider}),
)
pulumi.export("topicArn", component.topic_arn)
pulumi.export("dashboardName", component.dashboard_name)
pulumi.export("ruleArn", component.rule_arn)
"""


@pytest.fixture(scope="module")
def component_graph(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    program = Path(tmp_path_factory.mktemp("observability")) / "__main__.py"
    program.write_text(PROGRAM)
    return synth.synthesize("dev", program=program)


def test_component_children_are_parented_and_use_the_inherited_provider(
    component_graph: dict[str, Any],
) -> None:
    resources = component_graph["resources"]
    (component,) = [r for r in resources if r["type"] == "rftenv:observability:Observability"]
    (provider,) = [r for r in resources if r["type"] == "pulumi:providers:aws"]
    children = [r for r in resources if r["type"].startswith("aws:")]
    assert children
    for child in children:
        assert child["parent"] == component["urn"]
        assert child["provider"] == f"{provider['urn']}::{provider['id']}"
        assert child["name"].startswith("obs-")
    counts: dict[str, int] = {}
    for child in children:
        counts[child["type"]] = counts.get(child["type"], 0) + 1
    assert counts == {
        "aws:sns/topic:Topic": 1,
        "aws:sns/topicPolicy:TopicPolicy": 1,
        "aws:cloudwatch/eventRule:EventRule": 1,
        "aws:cloudwatch/eventTarget:EventTarget": 1,
        "aws:cloudwatch/metricAlarm:MetricAlarm": 6,
        "aws:cloudwatch/dashboard:Dashboard": 1,
        "aws:sns/topicSubscription:TopicSubscription": 2,
    }


def test_component_wiring(component_graph: dict[str, Any]) -> None:
    by_name = {r["name"]: r for r in component_graph["resources"]}
    topic = by_name["obs-topic"]
    topic_arn = "arn:aws:sns:us-east-1:111122223333:rft-env-dev-notifications"
    assert topic["id"] == topic["outputs"]["arn"] == topic_arn
    assert topic["inputs"]["kmsMasterKeyId"] == "arn:aws:kms:us-east-1:111122223333:key/k"
    assert by_name["obs-topic-policy"]["inputs"]["arn"] == topic_arn
    rule = by_name["obs-job-state"]
    assert json.loads(rule["inputs"]["eventPattern"]) == observability.job_state_event_pattern(
        NAMES
    )
    target = by_name["obs-job-state-target"]
    assert target["inputs"]["arn"] == topic_arn
    assert target["inputs"]["rule"] == "rft-env-dev-job-state"
    # Messages flow only once the topic policy lets them in.
    assert by_name["obs-topic-policy"]["urn"] in target["dependencies"]
    duration = by_name["obs-grader-a-duration"]["inputs"]
    assert duration["dimensions"] == {"FunctionName": "rft-env-dev-grader-a"}
    assert duration["threshold"] == 48_000
    assert duration["alarmActions"] == duration["okActions"] == [topic_arn]
    body = json.loads(by_name["obs-dashboard"]["inputs"]["dashboardBody"])
    functions = {w["properties"]["metrics"][0][3] for w in body["widgets"][1:]}
    assert functions == {"rft-env-dev-grader-a", "rft-env-dev-grader-b"}
    endpoints = sorted(
        r["inputs"]["endpoint"]
        for r in component_graph["resources"]
        if r["type"] == "aws:sns/topicSubscription:TopicSubscription"
    )
    assert endpoints == ["ml@example.com", "ops@example.com"]
    assert component_graph["outputs"] == {
        "topicArn": topic_arn,
        "dashboardName": "rft-env-dev",
        "ruleArn": "arn:aws:events:us-east-1:111122223333:rule/rft-env-dev-job-state",
    }
