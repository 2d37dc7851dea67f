"""Lambda and CloudWatch Logs policies, against the grader component's resources."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.helpers import (
    ACCOUNT,
    KEY_ARN,
    resource,
    resource_args,
    run,
    run_with_urns,
    stack_args,
    urn,
)
from tests.policies.helpers import policy_named as named

URL = named("lambda-function-url-auth-required")
PERMISSION = named("lambda-permission-not-public")
LOG_GROUP = named("cloudwatch-log-group-encrypted-retained")
MANAGED_LOGS = named("lambda-function-log-group-managed")

FUNCTION_TYPE = "aws:lambda/function:Function"
LOG_GROUP_TYPE = "aws:cloudwatch/logGroup:LogGroup"
PERMISSION_TYPE = "aws:lambda/permission:Permission"
FUNCTION_NAME = "rft-env-dev-grader-arithmetic"


# --------------------------------------------------------------------------------------
# Function URLs
# --------------------------------------------------------------------------------------
def test_iam_function_url_complies() -> None:
    props = {"functionName": FUNCTION_NAME, "authorizationType": "AWS_IAM"}
    assert run(URL, resource_args("aws:lambda/functionUrl:FunctionUrl", props)) == []


@pytest.mark.parametrize("auth", ["NONE", None])
def test_public_function_url_is_rejected(auth: str | None) -> None:
    props = {"functionName": FUNCTION_NAME}
    if auth:
        props["authorizationType"] = auth
    args = resource_args("aws:lambda/functionUrl:FunctionUrl", props, name="grader-url")
    (message,) = run(URL, args)
    assert f"Lambda function URL 'grader-url' has authorizationType '{auth or '(unset)'}'" in (
        message
    )
    assert "'AWS_IAM'" in message


# --------------------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------------------
def permission(**props: Any) -> Any:
    return resource_args(
        PERMISSION_TYPE,
        {"action": "lambda:InvokeFunction", "function": FUNCTION_NAME, **props},
        name="grader-invoke",
    )


@pytest.mark.parametrize(
    "props",
    [
        {"principal": "bedrock.amazonaws.com", "sourceAccount": ACCOUNT},
        {
            "principal": "events.amazonaws.com",
            "sourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r",
        },
        {"principal": ACCOUNT},
        {"principal": f"arn:aws:iam::{ACCOUNT}:role/rft-env-dev-bedrock-customization"},
    ],
    ids=["service-account", "service-arn", "account", "role"],
)
def test_scoped_permissions_comply(props: dict[str, Any]) -> None:
    assert run(PERMISSION, permission(**props)) == []


@pytest.mark.parametrize("principal", ["*", "*.amazonaws.com"])
def test_wildcard_principal_is_rejected(principal: str) -> None:
    (message,) = run(PERMISSION, permission(principal=principal, sourceAccount=ACCOUNT))
    assert f"Lambda permission 'grader-invoke' grants invoke to principal '{principal}'" in (
        message
    )


def test_public_function_url_permission_says_so() -> None:
    (message,) = run(PERMISSION, permission(principal="*", functionUrlAuthType="NONE"))
    assert "unauthenticated function URL" in message


def test_service_without_source_is_rejected() -> None:
    (message,) = run(PERMISSION, permission(principal="s3.amazonaws.com", sourceArn=""))
    assert "service 's3.amazonaws.com'" in message
    assert "without sourceArn or sourceAccount" in message


# --------------------------------------------------------------------------------------
# Log groups
# --------------------------------------------------------------------------------------
GRADER_LOGS = {
    "name": f"/aws/lambda/{FUNCTION_NAME}",
    "kmsKeyId": KEY_ARN,
    "retentionInDays": 30.0,
}


def test_program_log_group_complies() -> None:
    assert run(LOG_GROUP, resource_args(LOG_GROUP_TYPE, GRADER_LOGS)) == []


@pytest.mark.parametrize("retention", [None, 0, 0.0])
def test_log_group_never_expiring_is_rejected(retention: float | None) -> None:
    props = {**GRADER_LOGS, "retentionInDays": retention}
    props = {k: v for k, v in props.items() if v is not None}
    (message,) = run(LOG_GROUP, resource_args(LOG_GROUP_TYPE, props, name="logs"))
    assert "CloudWatch log group 'logs' has no retentionInDays" in message


def test_log_group_unencrypted_is_rejected() -> None:
    props = {**GRADER_LOGS, "kmsKeyId": ""}
    (message,) = run(LOG_GROUP, resource_args(LOG_GROUP_TYPE, props, name="logs"))
    assert "CloudWatch log group 'logs' sets no kmsKeyId" in message


def test_log_group_both_problems_are_reported() -> None:
    args = resource_args(LOG_GROUP_TYPE, {"name": "/aws/lambda/x"}, name="logs")
    assert len(run(LOG_GROUP, args)) == 2


# --------------------------------------------------------------------------------------
# Function log groups in the stack
# --------------------------------------------------------------------------------------
def grader(logging_config: dict[str, Any] | None = None, **deps: Any) -> Any:
    props: dict[str, Any] = {
        "name": FUNCTION_NAME,
        "runtime": "python3.13",
        "handler": "graders.handler.lambda_handler",
        "timeout": 120.0,
    }
    if logging_config is not None:
        props["loggingConfig"] = logging_config
    return resource(FUNCTION_TYPE, "rft-grader-arithmetic-function", props, deps=deps or None)


def logs(name: str = f"/aws/lambda/{FUNCTION_NAME}") -> Any:
    return resource(LOG_GROUP_TYPE, "rft-grader-arithmetic-logs", {**GRADER_LOGS, "name": name})


def test_program_function_and_log_group_comply() -> None:
    function = grader({"logFormat": "JSON", "logGroup": f"/aws/lambda/{FUNCTION_NAME}"})
    assert run(MANAGED_LOGS, stack_args([logs(), function])) == []


def test_default_log_group_name_matches() -> None:
    assert run(MANAGED_LOGS, stack_args([logs(), grader()])) == []


def test_custom_log_group_matches_by_name() -> None:
    function = grader({"logFormat": "JSON", "logGroup": "/rft-env/graders/arithmetic"})
    assert run(MANAGED_LOGS, stack_args([logs("/rft-env/graders/arithmetic"), function])) == []


def test_log_group_matched_by_dependency() -> None:
    group = logs("/computed")
    function = grader({"logGroup": "unknown-until-apply"}, loggingConfig=[group])
    assert run(MANAGED_LOGS, stack_args([group, function])) == []


def test_missing_log_group_is_rejected() -> None:
    found = run_with_urns(MANAGED_LOGS, stack_args([grader()]))
    assert len(found) == 1
    message, where = found[0]
    assert "Lambda function 'rft-grader-arithmetic-function'" in message
    assert f"'/aws/lambda/{FUNCTION_NAME}', which is not a LogGroup of the stack" in message
    assert where == urn(FUNCTION_TYPE, "rft-grader-arithmetic-function")


def test_log_group_with_another_name_does_not_count() -> None:
    function = grader({"logGroup": "/rft-env/graders/arithmetic"})
    (message,) = run(MANAGED_LOGS, stack_args([logs(), function]))
    assert "'/rft-env/graders/arithmetic'" in message


def test_function_without_name_or_log_group() -> None:
    function = resource(FUNCTION_TYPE, "nameless", {"runtime": "python3.13"})
    (message,) = run(MANAGED_LOGS, stack_args([function]))
    assert "Lambda function 'nameless' has neither a name nor loggingConfig.logGroup" in message
