"""Observability: RFT job state changes and grader alarms, sent to one encrypted topic.

The job runs for hours with nobody watching `pulumi up`, and a grader in trouble shows up
only in its Lambda metrics, not in the job's status. So every stack gets an SNS topic
(SSE-KMS under the stack key), an EventBridge rule for its jobs' state changes, alarms on
each grader Lambda's errors, throttles and duration, and a dashboard. E-mail subscriptions
follow `notificationEmails`; other subscribers can be added to the topic later.

The decisions (names, event pattern, message, alarm specs, dashboard body) are pure
functions below; the component only wires them to resources.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from rft_env.components import documents
from rft_env.components.naming import Names

# As EventBridge reports it (not "Bedrock Model Customization Job State Change").
JOB_STATE_DETAIL_TYPE = "Model Customization Job State Change"
# EventBridge variables -> paths in the event (the status is `detail.jobStatus`).
JOB_EVENT_INPUT_PATHS = {
    "jobArn": "$.detail.jobArn",
    "jobName": "$.detail.jobName",
    "jobStatus": "$.detail.jobStatus",
    "failureMessage": "$.detail.failureMessage",
    "outputModelArn": "$.detail.outputModelArn",
}
JOB_EVENT_MESSAGE = (
    "RFT job <jobName> is <jobStatus>. <failureMessage> "
    "Output model: <outputModelArn>. Job: <jobArn>"
)
JOB_EVENT_TARGET_ID = "notification-topic"

LAMBDA_NAMESPACE = "AWS/Lambda"
ALARM_PERIOD_SECONDS = 300
# A grader whose slowest invocation takes this percentage of its timeout is about to time
# out, and a timed-out invocation returns no rewards for its batch.
DURATION_ALARM_PERCENT = 80
DASHBOARD_PERIOD_SECONDS = 300
WIDGET_WIDTH = 6
WIDGET_HEIGHT = 6


# --------------------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------------------
# The statuses a job ends in: people hear when a multi-hour job is over, not every step.
JOB_END_STATUSES = ("Completed", "Failed", "Stopped")


def job_state_event_pattern(names: Names) -> dict[str, Any]:
    """This stack's RFT jobs reaching an end status, later revisions included. The job-name
    prefix starts this stack's job names and no other stack's (naming.job_name_prefix), and
    EventBridge documents prefix matching on string fields. The exact name would miss jobs
    still running from an earlier revision."""
    return {
        "source": ["aws.bedrock"],
        "detail-type": [JOB_STATE_DETAIL_TYPE],
        "detail": {
            "jobName": [{"prefix": names.job_name_prefix}],
            "jobStatus": list(JOB_END_STATUSES),
        },
    }


def job_event_input_template() -> str:
    """The message as a JSON string (in quotes), the template form EventBridge documents
    for plain-text targets such as an SNS e-mail."""
    return json.dumps(JOB_EVENT_MESSAGE)


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm on a grader function's metric."""

    kind: str  # "errors" | "throttles" | "duration": part of the names
    name: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    description: str
    period: int = ALARM_PERIOD_SECONDS
    evaluation_periods: int = 1


def duration_threshold_ms(timeout_seconds: int) -> int:
    """In whole milliseconds (integer arithmetic: no 0.8 rounding error)."""
    return timeout_seconds * 1000 * DURATION_ALARM_PERCENT // 100


def alarm_specs(names: Names, grader: str, timeout_seconds: int) -> list[AlarmSpec]:
    """Errors or throttles at all in 5 minutes, or an invocation close to the timeout."""
    function = names.grader_function(grader)
    threshold = duration_threshold_ms(timeout_seconds)
    return [
        AlarmSpec(
            kind="errors",
            name=names.grader_alarm(grader, "errors"),
            metric="Errors",
            statistic="Sum",
            comparison="GreaterThanThreshold",
            threshold=0.0,
            description=f"Grader {function} failed invocations (Errors > 0 in 5 minutes): "
            "their samples got no rewards.",
        ),
        AlarmSpec(
            kind="throttles",
            name=names.grader_alarm(grader, "throttles"),
            metric="Throttles",
            statistic="Sum",
            comparison="GreaterThanThreshold",
            threshold=0.0,
            description=f"Grader {function} was throttled (Throttles > 0 in 5 minutes): "
            "check the account's Lambda concurrency.",
        ),
        AlarmSpec(
            kind="duration",
            name=names.grader_alarm(grader, "duration"),
            metric="Duration",
            statistic="Maximum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=float(threshold),
            description=f"Grader {function} took at least {DURATION_ALARM_PERCENT}% of its "
            f"{timeout_seconds} s timeout ({threshold} ms): raise timeoutSeconds or make "
            "it faster before batches time out.",
        ),
    ]


def alarm_arns(names: Names, graders: Sequence[MonitoredGrader]) -> list[str]:
    """The ARNs of every grader alarm (known before the alarms exist)."""
    return [
        names.alarm_arn(spec.name)
        for grader in graders
        for spec in alarm_specs(names, grader.grader, grader.timeout_seconds)
    ]


def _metric_widget(
    names: Names, x: int, y: int, title: str, metrics: list[list[Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": title,
            "view": "timeSeries",
            "region": names.region,
            "period": DASHBOARD_PERIOD_SECONDS,
            "stat": "Sum",
            "metrics": metrics,
            **extra,
        },
    }


def dashboard_body(names: Names, graders: Sequence[MonitoredGrader]) -> str:
    """The dashboard: alarm states on top, then one row per grader with invocations,
    errors, throttles and duration (the timeout and the alarm threshold drawn as lines).
    `function_name`s must be resolved strings here."""
    arns = alarm_arns(names, graders)
    alarm_height = 2 + len(graders)
    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": 4 * WIDGET_WIDTH,
            "height": alarm_height,
            "properties": {"title": f"{names.prefix} grader alarms", "alarms": arns},
        }
    ]
    for row, grader in enumerate(graders):
        function = grader.function_name
        if not isinstance(function, str):
            raise TypeError(f"grader {grader.grader}: function_name must be resolved to a str")
        y = alarm_height + row * WIDGET_HEIGHT
        dimension = ["FunctionName", function]
        timeout_ms = grader.timeout_seconds * 1000
        widgets += [
            _metric_widget(
                names,
                x,
                y,
                f"{grader.grader}: {metric.lower()}",
                [[LAMBDA_NAMESPACE, metric, *dimension]],
            )
            for x, metric in zip(
                range(0, 3 * WIDGET_WIDTH, WIDGET_WIDTH),
                ("Invocations", "Errors", "Throttles"),
                strict=True,
            )
        ]
        widgets.append(
            _metric_widget(
                names,
                3 * WIDGET_WIDTH,
                y,
                f"{grader.grader}: duration (ms)",
                [
                    [LAMBDA_NAMESPACE, "Duration", *dimension, {"stat": "Maximum"}],
                    [LAMBDA_NAMESPACE, "Duration", *dimension, {"stat": "Average"}],
                ],
                annotations={
                    "horizontal": [
                        {"label": f"timeout ({grader.timeout_seconds} s)", "value": timeout_ms},
                        {
                            "label": f"alarm ({DURATION_ALARM_PERCENT}% of timeout)",
                            "value": duration_threshold_ms(grader.timeout_seconds),
                        },
                    ]
                },
                yAxis={"left": {"min": 0}},
            )
        )
    return json.dumps({"widgets": widgets}, sort_keys=True)


def email_subscriptions(emails: Sequence[str]) -> dict[str, str]:
    """Logical-name suffix -> address, one per distinct address (case-insensitive). The
    suffix is a hash of the address: stable when the list is reordered, and the address
    itself stays out of resource URNs."""
    subscriptions: dict[str, str] = {}
    for email in emails:
        suffix = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:10]
        subscriptions.setdefault(suffix, email.strip())
    return subscriptions


# --------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MonitoredGrader:
    grader: str  # the grader's name in stack config
    function_name: pulumi.Input[str]
    timeout_seconds: int


@dataclass(frozen=True)
class ObservabilityArgs:
    names: Names
    key_arn: pulumi.Input[str]  # the stack key (or kms.existingKeyArn); encrypts the topic
    graders: list[MonitoredGrader]
    notification_emails: list[str] = field(default_factory=list)
    # Set with `pulumi config set --secret`: the addresses reach state only encrypted.
    notification_emails_secret: bool = False


class Observability(pulumi.ComponentResource):
    """The notification topic, the job-state rule, grader alarms and the dashboard."""

    topic_arn: pulumi.Output[str]
    rule_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    # What must exist before a job starts, so that its first state change is delivered.
    job_notifications: list[pulumi.Resource]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rftenv:observability:Observability", name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)

        topic = aws.sns.Topic(
            f"{name}-topic",
            name=names.notification_topic,
            display_name=f"rft-env {names.environment}",
            kms_master_key_id=args.key_arn,
            opts=child,
        )
        topic_policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=topic.arn.apply(
                lambda arn: documents.to_json(
                    documents.notification_topic_policy(
                        names,
                        arn,
                        rule_arn=names.event_rule_arn(names.job_state_rule),
                        alarm_arns=alarm_arns(names, args.graders),
                    )
                )
            ),
            opts=child,
        )
        # Publishing needs the topic policy; creating these does not, but a message sent
        # before it exists would be dropped.
        after_policy = pulumi.ResourceOptions(parent=self, depends_on=[topic_policy])

        rule = aws.cloudwatch.EventRule(
            f"{name}-job-state",
            name=names.job_state_rule,
            description=f"State changes of {names.prefix}'s RFT jobs",
            event_bus_name="default",
            event_pattern=json.dumps(job_state_event_pattern(names), sort_keys=True),
            opts=child,
        )
        target = aws.cloudwatch.EventTarget(
            f"{name}-job-state-target",
            rule=rule.name,
            event_bus_name="default",
            target_id=JOB_EVENT_TARGET_ID,
            arn=topic.arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=JOB_EVENT_INPUT_PATHS,
                input_template=job_event_input_template(),
            ),
            opts=after_policy,
        )

        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for grader in args.graders:
            for spec in alarm_specs(names, grader.grader, grader.timeout_seconds):
                self.alarms[spec.name] = aws.cloudwatch.MetricAlarm(
                    f"{name}-grader-{grader.grader}-{spec.kind}",
                    name=spec.name,
                    alarm_description=spec.description,
                    namespace=LAMBDA_NAMESPACE,
                    metric_name=spec.metric,
                    dimensions={"FunctionName": grader.function_name},
                    statistic=spec.statistic,
                    period=spec.period,
                    evaluation_periods=spec.evaluation_periods,
                    comparison_operator=spec.comparison,
                    threshold=spec.threshold,
                    # No invocations is not a problem: the job is not running.
                    treat_missing_data="notBreaching",
                    alarm_actions=[topic.arn],
                    ok_actions=[topic.arn],
                    opts=after_policy,
                )

        function_names = [grader.function_name for grader in args.graders]
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=names.dashboard,
            dashboard_body=pulumi.Output.all(*function_names).apply(
                lambda resolved: dashboard_body(
                    names,
                    [
                        replace(grader, function_name=function)
                        for grader, function in zip(args.graders, resolved, strict=True)
                    ],
                )
            ),
            opts=child,
        )

        for suffix, email in email_subscriptions(args.notification_emails).items():
            # The recipient must confirm the subscription from the e-mail AWS sends.
            aws.sns.TopicSubscription(
                f"{name}-email-{suffix}",
                topic=topic.arn,
                protocol="email",
                endpoint=pulumi.Output.secret(email) if args.notification_emails_secret else email,
                opts=child,
            )

        self.topic_arn = topic.arn
        self.rule_arn = rule.arn
        self.dashboard_name = dashboard.dashboard_name
        self.job_notifications = [topic_policy, target]
        self.register_outputs(
            {
                "topicArn": self.topic_arn,
                "ruleArn": self.rule_arn,
                "dashboardName": self.dashboard_name,
            }
        )
