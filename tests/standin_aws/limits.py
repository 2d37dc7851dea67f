"""The AWS limits the stand-in enforces, each with where it comes from.

Wherever botocore's service models (shipped in its data directory) carry a limit as data,
`min`/`max`/`pattern`/`enum` on a shape, it is read from there, so the stand-in moves with
the installed botocore. A few limits exist in AWS only as prose: those are copied here with
the document that states them, and tests/standin_aws_test checks that botocore's own
documentation text still states the ones it carries.

AWS applies a model's `pattern` to the whole value; botocore's patterns are unanchored, so
they are matched with `re.fullmatch`, and with ASCII semantics for `\\w`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.loaders import Loader


@functools.cache
def _loader() -> Loader:
    return Loader()


@functools.cache
def _shapes(service: str) -> dict[str, Any]:
    return _loader().load_service_model(service, "service-2")["shapes"]


def shape(service: str, name: str) -> dict[str, Any]:
    """A shape of a botocore service model, e.g. shape("iam", "roleNameType")."""
    return _shapes(service)[name]


def documentation(service: str, name: str, member: str | None = None) -> str:
    """The documentation botocore ships for a shape, or for one member of a structure."""
    found = shape(service, name)
    if member is not None:
        found = found["members"][member]
    return str(found.get("documentation", ""))


class Limit(Protocol):
    def problem(self, value: Any) -> str | None:
        """Why `value` is refused, or None."""
        ...


@dataclass(frozen=True)
class StringLimit:
    source: str
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string ({self.source})"
        if self.min_length is not None and len(value) < self.min_length:
            return f"must be at least {self.min_length} characters long ({self.source})"
        if self.max_length is not None and len(value) > self.max_length:
            return (
                f"must be at most {self.max_length} characters long, not {len(value)} "
                f"({self.source})"
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, value, re.ASCII):
            return f"must match {self.pattern} ({self.source})"
        return None


@dataclass(frozen=True)
class NumberLimit:
    source: str
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[int, ...] | None = None

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number ({self.source})"
        if not float(value).is_integer():
            return f"must be a whole number ({self.source})"
        if self.allowed is not None and int(value) not in self.allowed:
            listed = ", ".join(str(day) for day in self.allowed)
            return f"must be one of {listed} ({self.source})"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g} ({self.source})"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g} ({self.source})"
        return None


@dataclass(frozen=True)
class EnumLimit:
    source: str
    values: tuple[str, ...]

    def problem(self, value: Any) -> str | None:
        if value not in self.values:
            return f"must be one of {', '.join(self.values)} ({self.source})"
        return None


def botocore_string(service: str, name: str) -> StringLimit:
    found = shape(service, name)
    return StringLimit(
        source=f"botocore {service} shape {name}",
        min_length=found.get("min"),
        max_length=found.get("max"),
        pattern=found.get("pattern"),
    )


def botocore_number(service: str, name: str) -> NumberLimit:
    found = shape(service, name)
    return NumberLimit(
        source=f"botocore {service} shape {name}",
        minimum=found.get("min"),
        maximum=found.get("max"),
    )


def botocore_enum(service: str, name: str) -> EnumLimit:
    return EnumLimit(
        source=f"botocore {service} shape {name}", values=tuple(shape(service, name)["enum"])
    )


# --- limits AWS states only in prose ---------------------------------------------------------
S3_BUCKET_NAMING = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"


@dataclass(frozen=True)
class S3BucketName:
    """General purpose bucket naming rules (S3_BUCKET_NAMING; botocore's BucketName shape
    carries none)."""

    source: str = f"S3 bucket naming rules, {S3_BUCKET_NAMING}"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string ({self.source})"
        if not 3 <= len(value) <= 63:
            return f"must be 3-63 characters long, not {len(value)} ({self.source})"
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", value):
            return (
                "must contain only lowercase letters, digits, dots and hyphens, and begin "
                f"and end with a letter or digit ({self.source})"
            )
        if ".." in value:
            return f"must not contain two adjacent periods ({self.source})"
        if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", value):
            return f"must not be formatted as an IP address ({self.source})"
        for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
            if value.startswith(prefix):
                return f"must not start with {prefix!r} ({self.source})"
        for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
            if value.endswith(suffix):
                return f"must not end with {suffix!r} ({self.source})"
        return None


@dataclass(frozen=True)
class S3ObjectKey:
    """botocore's ObjectKey shape gives the minimum; the 1,024-byte maximum is in
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html"""

    def problem(self, value: Any) -> str | None:
        found = botocore_string("s3", "ObjectKey").problem(value)
        if found:
            return found
        if len(str(value).encode()) > 1024:
            return "must be at most 1024 bytes long in UTF-8 (S3 object key naming)"
        return None


@dataclass(frozen=True)
class KmsAliasName:
    """AliasNameType's length and pattern (botocore), plus the `alias/` prefix rules that
    CreateAlias's documentation states (see ALIAS_PREFIX_DOC)."""

    def problem(self, value: Any) -> str | None:
        found = botocore_string("kms", "AliasNameType").problem(value)
        if found:
            return found
        if not value.startswith("alias/") or value == "alias/":
            return "must begin with 'alias/' followed by a name (KMS CreateAlias AliasName)"
        if value.startswith("alias/aws/"):
            return (
                "must not begin with 'alias/aws/', reserved for AWS managed keys (KMS CreateAlias)"
            )
        return None


# The documented phrases the prose limits copy, as (service, shape, member or None, phrase);
# the unit tests assert that botocore's documentation still says each of them.
DocumentedLimit = tuple[str, str, str | None, str]
ALIAS_PREFIX_DOC: DocumentedLimit = (
    "kms",
    "CreateAliasRequest",
    "AliasName",
    "cannot begin with <code>alias/aws/</code>",
)
FUNCTION_NAME_DOC: DocumentedLimit = (
    "lambda",
    "CreateFunctionRequest",
    "FunctionName",
    "it is limited to 64 characters in length",
)
TOPIC_NAME_DOC: DocumentedLimit = (
    "sns",
    "CreateTopicInput",
    "Name",
    "must be between 1 and 256 characters long",
)
DASHBOARD_NAME_DOC: DocumentedLimit = (
    "cloudwatch",
    "PutDashboardInput",
    "DashboardName",
    'The maximum length is 255, and valid characters are A-Z, a-z, 0-9, "-", and "_"',
)
KMS_DELETION_WINDOW_DOC: DocumentedLimit = (
    "kms",
    "ScheduleKeyDeletionRequest",
    "PendingWindowInDays",
    "it must be between 7 and 30, inclusive",
)
LOG_RETENTION_DOC: DocumentedLimit = (
    "logs",
    "Days",
    None,
    "Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
    "1096, 1827, 2192, 2557, 2922, 3288, and 3653.",
)
PROSE_LIMITS: tuple[DocumentedLimit, ...] = (
    ALIAS_PREFIX_DOC,
    FUNCTION_NAME_DOC,
    TOPIC_NAME_DOC,
    DASHBOARD_NAME_DOC,
    KMS_DELETION_WINDOW_DOC,
    LOG_RETENTION_DOC,
)


def _documented(doc: DocumentedLimit) -> str:
    service, name, member, _ = doc
    return f"botocore {service} {name}{'.' + member if member else ''} documentation"


# Lambda's FunctionName shape is for a name or an ARN (max 140); a bare name is limited to
# 64 characters (FUNCTION_NAME_DOC) of the name part of the shape's pattern.
FUNCTION_NAME = StringLimit(
    source=_documented(FUNCTION_NAME_DOC), min_length=1, max_length=64, pattern=r"[a-zA-Z0-9-_]+"
)
# botocore's topicName shape is a bare string; CreateTopic's documentation has the rule
# (a FIFO topic's name may end in `.fifo`, TOPIC_NAME_DOC).
TOPIC_NAME = StringLimit(
    source=_documented(TOPIC_NAME_DOC),
    min_length=1,
    max_length=256,
    pattern=r"[A-Za-z0-9_-]+(\.fifo)?",
)
DASHBOARD_NAME = StringLimit(
    source=_documented(DASHBOARD_NAME_DOC), min_length=1, max_length=255, pattern=r"[A-Za-z0-9_-]+"
)
# PendingWindowInDaysType says 1-365; ScheduleKeyDeletion's documentation says 7-30, which
# is what pulumi-aws's deletionWindowInDays validation allows too.
KMS_DELETION_WINDOW = NumberLimit(
    source=_documented(KMS_DELETION_WINDOW_DOC), minimum=7, maximum=30
)
# botocore's Days shape is a bare integer; the allowed values are in its documentation.
# pulumi-aws also accepts 0, "never expire", its default.
LOG_RETENTION_DAYS = NumberLimit(
    source=f"{_documented(LOG_RETENTION_DOC)}; 0 means never expire in pulumi-aws",
    allowed=(0, *(int(days) for days in re.findall(r"\d+", LOG_RETENTION_DOC[3]))),
)


@functools.cache
def property_limits(resource_type: str) -> dict[str, Limit]:
    """The limits on one resource type's input properties, by property name."""
    s3_bucket = S3BucketName()
    role_name = botocore_string("iam", "roleNameType")
    rule_name = botocore_string("events", "RuleName")
    limits: dict[str, dict[str, Limit]] = {
        "aws:iam/role:Role": {"name": role_name},
        "aws:iam/rolePolicy:RolePolicy": {
            "name": botocore_string("iam", "policyNameType"),
            "role": role_name,
        },
        "aws:lambda/function:Function": {
            "name": FUNCTION_NAME,
            "timeout": botocore_number("lambda", "Timeout"),
            "memorySize": botocore_number("lambda", "MemorySize"),
            "runtime": botocore_enum("lambda", "Runtime"),
            "packageType": botocore_enum("lambda", "PackageType"),
        },
        "aws:cloudwatch/logGroup:LogGroup": {
            "name": botocore_string("logs", "LogGroupName"),
            "retentionInDays": LOG_RETENTION_DAYS,
        },
        "aws:kms/alias:Alias": {"name": KmsAliasName()},
        "aws:kms/key:Key": {"deletionWindowInDays": KMS_DELETION_WINDOW},
        "aws:sns/topic:Topic": {"name": TOPIC_NAME},
        "aws:cloudwatch/eventRule:EventRule": {"name": rule_name},
        "aws:cloudwatch/eventTarget:EventTarget": {
            "rule": rule_name,
            "targetId": botocore_string("events", "TargetId"),
        },
        "aws:cloudwatch/metricAlarm:MetricAlarm": {
            "name": botocore_string("cloudwatch", "AlarmName"),
            "comparisonOperator": botocore_enum("cloudwatch", "ComparisonOperator"),
            "evaluationPeriods": botocore_number("cloudwatch", "EvaluationPeriods"),
        },
        "aws:cloudwatch/dashboard:Dashboard": {"dashboardName": DASHBOARD_NAME},
        "aws:s3/bucketObjectv2:BucketObjectv2": {"bucket": s3_bucket, "key": S3ObjectKey()},
        "aws:s3/bucketLogging:BucketLogging": {"bucket": s3_bucket, "targetBucket": s3_bucket},
    }
    found = limits.get(resource_type, {})
    if resource_type.startswith("aws:s3/") and "bucket" not in found:
        # A bucket and every bucket sub-resource name a bucket by its name.
        found = {**found, "bucket": s3_bucket}
    return found
