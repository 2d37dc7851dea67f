"""Lambda rules: graders are invoked by Bedrock through IAM only, and their logs are
encrypted, retained and owned by the stack."""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rft_env.policies.rules.common import as_number, dependencies_of, get, of_type, text

FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SERVICE_PRINCIPAL_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")


def _validate_function_url(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FUNCTION_URL:
        return
    auth = text(args.props.get("authorizationType"))
    if auth.upper() != "AWS_IAM":
        report_violation(
            f"Lambda function URL '{args.name}' has authorizationType '{auth or '(unset)'}', "
            "so anyone on the internet can invoke the function; set it to 'AWS_IAM'.",
            None,
        )


def _validate_permission(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != PERMISSION:
        return
    principal = text(args.props.get("principal"))
    where = f"Lambda permission '{args.name}'"
    if "*" in principal:
        unauthenticated = text(args.props.get("functionUrlAuthType")).upper() == "NONE"
        note = " through an unauthenticated function URL" if unauthenticated else ""
        report_violation(
            f"{where} grants invoke to principal '{principal}' (anyone){note}; name the "
            "account, role or service that calls the function.",
            None,
        )
        return
    if principal.lower().endswith(SERVICE_PRINCIPAL_SUFFIXES):
        source_arn = text(args.props.get("sourceArn"))
        source_account = text(args.props.get("sourceAccount"))
        if not source_arn and not source_account:
            report_violation(
                f"{where} lets the service '{principal}' invoke the function without "
                "sourceArn or sourceAccount, so any account's use of that service can; set "
                "sourceArn (and sourceAccount) to the calling resource.",
                None,
            )


def _validate_log_group(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != LOG_GROUP:
        return
    where = f"CloudWatch log group '{args.name}'"
    if not text(args.props.get("kmsKeyId")):
        report_violation(
            f"{where} sets no kmsKeyId; encrypt it with the stack's customer-managed key "
            "(grader logs contain model outputs).",
            None,
        )
    retention = as_number(args.props.get("retentionInDays"))
    if not retention or retention <= 0:
        report_violation(
            f"{where} has no retentionInDays (its logs never expire); set a retention in days.",
            None,
        )


def _expected_log_group(function_props: object) -> str:
    """The group a function logs to: loggingConfig.logGroup, else /aws/lambda/<name>."""
    configured = text(get(function_props, "loggingConfig", "logGroup"))
    if configured:
        return configured
    name = text(get(function_props, "name"))
    return f"/aws/lambda/{name}" if name else ""


def _validate_function_log_groups(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    log_groups = of_type(args.resources, LOG_GROUP)
    for function in of_type(args.resources, FUNCTION):
        if dependencies_of(function, "loggingConfig", LOG_GROUP):
            continue
        expected = _expected_log_group(function.props)
        where = f"Lambda function '{function.name}'"
        if not expected:
            report_violation(
                f"{where} has neither a name nor loggingConfig.logGroup, so its log group "
                "cannot be known; set loggingConfig.logGroup to a LogGroup of the stack.",
                function.urn,
            )
            continue
        if not any(text(group.props.get("name")) == expected for group in log_groups):
            report_violation(
                f"{where} logs to '{expected}', which is not a LogGroup of the stack; Lambda "
                "would create it unencrypted and never expiring. Declare the LogGroup (with "
                "kmsKeyId and retentionInDays) and point loggingConfig.logGroup at it.",
                function.urn,
            )


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="lambda-function-url-auth-required",
        description="Lambda function URLs require IAM authorization (authorizationType "
        "AWS_IAM); a grader is never invocable anonymously.",
        validate=_validate_function_url,
    ),
    ResourceValidationPolicy(
        name="lambda-permission-not-public",
        description="Lambda permissions never grant invoke to '*', and grant it to an AWS "
        "service only for a named source (sourceArn or sourceAccount).",
        validate=_validate_permission,
    ),
    ResourceValidationPolicy(
        name="cloudwatch-log-group-encrypted-retained",
        description="CloudWatch log groups are encrypted with a customer-managed KMS key "
        "(kmsKeyId) and expire (retentionInDays > 0).",
        validate=_validate_log_group,
    ),
    StackValidationPolicy(
        name="lambda-function-log-group-managed",
        description="Every Lambda function's log group (loggingConfig.logGroup, or "
        "/aws/lambda/<name>) is a LogGroup of the stack; otherwise Lambda creates it on "
        "first invocation, unencrypted and never expiring.",
        validate=_validate_function_log_groups,
    ),
]
