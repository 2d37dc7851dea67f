"""What the stand-in does for each provider call, on wire-encoded property maps.

`StandinAwsProvider` is the whole behaviour; server.py only turns gRPC messages into calls
on it, so tests drive it in-process (no engine, no gRPC) and get the same results.

Ids and computed outputs come from rftenv.synth's SynthMocks (the one place that predicts
them), with the account and region of the provider's configuration.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pulumi

from rft_env.rftenv.synth import SynthMocks
from tests.standin_aws import wire
from tests.standin_aws.calllog import CallLog, LoggedCall, secret_strings
from tests.standin_aws.cloud import STATE_ENV, CloudStore
from tests.standin_aws.resources import (
    S3_BUCKET,
    S3_OBJECT,
    SPECS,
    ResourceSpec,
    Scope,
    UnsupportedResourceType,
    check_inputs,
    spec_for,
)
from tests.standin_aws.wire import Props

PROVIDER_TYPE = "pulumi:providers:aws"
# The account of the ambient credentials when no role is assumed (the stand-in has no
# credentials to ask STS with); without it, the single allowed account id is used.
CALLER_ACCOUNT_ENV = "RFTENV_STANDIN_AWS_CALLER_ACCOUNT"
# Computed outputs the stand-in adds to synth's: never inputs, never diffed.
COMPUTED_EXTRAS = frozenset({"tagsAll", "codeSha256", "etag"})


class ErrorKind(Enum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"


class StandinError(Exception):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class CheckFailure:
    property: str
    reason: str


@dataclass
class CheckResult:
    inputs: Props
    failures: list[CheckFailure] = field(default_factory=list)


class DiffKind(Enum):
    # The names are those of pulumirpc.PropertyDiff.Kind.
    ADD = "ADD"
    ADD_REPLACE = "ADD_REPLACE"
    DELETE = "DELETE"
    DELETE_REPLACE = "DELETE_REPLACE"
    UPDATE = "UPDATE"
    UPDATE_REPLACE = "UPDATE_REPLACE"

    @property
    def replaces(self) -> bool:
        return self.name.endswith("_REPLACE")


@dataclass
class DiffResult:
    detailed: dict[str, DiffKind] = field(default_factory=dict)
    delete_before_replace: bool = False

    @property
    def changes(self) -> bool:
        return bool(self.detailed)

    @property
    def diffs(self) -> list[str]:
        return sorted(self.detailed)

    @property
    def replaces(self) -> list[str]:
        return sorted(key for key, kind in self.detailed.items() if kind.replaces)


@dataclass
class ReadResult:
    id: str
    outputs: Props
    inputs: Props


@dataclass(frozen=True)
class ProviderConfig:
    region: str
    account_id: str
    default_tags: Props

    @property
    def mocks(self) -> SynthMocks:
        return SynthMocks(self.account_id, self.region)

    @property
    def partition(self) -> str:
        return self.mocks.partition


def parse_urn(urn: str) -> tuple[str, str]:
    """(type, logical name) of `urn:pulumi:<stack>::<project>::<qualified type>::<name>`."""
    parts = urn.split("::", 3)
    if len(parts) != 4:
        raise StandinError(ErrorKind.INVALID_ARGUMENT, f"not a resource URN: {urn!r}")
    return parts[2].rsplit("$", 1)[-1], parts[3]


def _decoded(value: Any) -> Any:
    """A provider setting: the SDK sends structured settings as JSON text."""
    value = wire.plain(value)
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _strings(value: Any) -> list[str]:
    decoded = _decoded(value)
    if decoded is None:
        return []
    if isinstance(decoded, list):
        return [str(item) for item in decoded]
    return [str(decoded)]


@dataclass
class _Call:
    """What one call leaves in the call log; filled in as the call proceeds."""

    method: str
    urn: str = ""
    id: str = ""
    inputs: list[str] = field(default_factory=list)
    summary: str = ""
    secrets: set[str] = field(default_factory=set)


class StandinAwsProvider:
    def __init__(self, cloud: CloudStore | None, log: CallLog | None = None) -> None:
        self.cloud = cloud
        self.log = log or CallLog(None)
        self.config: ProviderConfig | None = None

    @classmethod
    def from_environment(cls) -> StandinAwsProvider:
        return cls(CloudStore.from_environment(), CallLog.from_environment())

    # --- the call log -----------------------------------------------------------------------
    @contextmanager
    def call(
        self, method: str, urn: str = "", resource_id: str = "", *props: Any
    ) -> Iterator[_Call]:
        """Records the call when it ends, failed or not. `props` are the request's property
        maps: the first one's names are logged, and every secret in any is scrubbed."""
        names = sorted(props[0]) if props and isinstance(props[0], dict) else []
        record = _Call(method, urn, resource_id, names, secrets=secret_strings(*props))
        error: str | None = None
        try:
            yield record
        except Exception as failure:
            error = str(failure)
            raise
        finally:
            resource_type, name = ("", "")
            if urn:
                with suppress(StandinError):
                    resource_type, name = parse_urn(urn)
            self.log.record(
                LoggedCall(
                    method=method,
                    type=resource_type,
                    urn=urn,
                    name=name,
                    id=record.id,
                    inputs=record.inputs,
                    summary=record.summary,
                    error=error,
                ),
                record.secrets,
            )

    # --- the provider resource --------------------------------------------------------------
    def check_config(self, urn: str, olds: Props, news: Props) -> CheckResult:
        with self.call("CheckConfig", urn, "", news, olds) as record:
            failures = []
            if not (_decoded(news.get("region")) or _environment_region()):
                # pulumi-aws's words when it finds no region anywhere.
                failures.append(
                    CheckFailure(
                        "region",
                        "Missing region information: set the provider's region, e.g. "
                        "`pulumi config set aws:region us-west-2`",
                    )
                )
            if _strings(news.get("allowedAccountIds")) and _strings(
                news.get("forbiddenAccountIds")
            ):
                failures.append(
                    CheckFailure(
                        "allowedAccountIds",
                        "allowedAccountIds and forbiddenAccountIds cannot both be set",
                    )
                )
            record.summary = "; ".join(f"{f.property}: {f.reason}" for f in failures) or "ok"
            return CheckResult(dict(news), failures)

    def diff_config(self, urn: str, olds: Props, news: Props, old_inputs: Props) -> DiffResult:
        with self.call("DiffConfig", urn, "", news, olds, old_inputs) as record:
            detailed = _property_diff(
                olds,
                news,
                old_inputs,
                # A new region moves every resource: pulumi-aws replaces them all
                # (pulumi/pulumi-aws#4000). Other settings change only how AWS is reached.
                replace_on_change=frozenset({"region"}),
                ignored=frozenset({"version"}),
            )
            result = DiffResult(detailed)
            record.summary = _diff_summary(result)
            return result

    def configure(
        self, args: Props, variables: dict[str, str] | None = None, urn: str = ""
    ) -> ProviderConfig:
        """Reads the settings like pulumi-aws: region, the account (of the assumed role, else
        of the caller), allowed and forbidden accounts, default tags."""
        settings = dict(args)
        if not settings and variables:
            settings = {
                key.split(":config:", 1)[1]: value
                for key, value in variables.items()
                if ":config:" in key
            }
        with self.call("Configure", urn, "", settings) as record:
            region = str(_decoded(settings.get("region")) or _environment_region() or "")
            if not region:
                raise StandinError(
                    ErrorKind.INVALID_ARGUMENT, "Missing region information: set aws:region"
                )
            account = self._account(settings)
            allowed = _strings(settings.get("allowedAccountIds"))
            forbidden = _strings(settings.get("forbiddenAccountIds"))
            if (allowed and account not in allowed) or account in forbidden:
                # terraform-provider-aws's VerifyAccountIDAllowed, which pulumi-aws runs
                # when it configures.
                raise StandinError(
                    ErrorKind.PERMISSION_DENIED, f"AWS account ID not allowed: {account}"
                )
            self.config = ProviderConfig(
                region, account, _default_tags(settings.get("defaultTags"))
            )
            record.summary = f"account {account}, region {region}"
            return self.config

    @staticmethod
    def _account(settings: Props) -> str:
        roles = _decoded(settings.get("assumeRoles")) or []
        legacy = _decoded(settings.get("assumeRole"))
        if isinstance(legacy, dict):
            roles = [*roles, legacy]
        role_arns = [
            str(role["roleArn"]) for role in roles if isinstance(role, dict) and role.get("roleArn")
        ]
        if role_arns:
            # With chained roles, the resources are made by the last one assumed.
            parts = role_arns[-1].split(":")
            if len(parts) < 6 or not parts[4].isdigit():
                raise StandinError(
                    ErrorKind.INVALID_ARGUMENT, f"assumeRoles: not a role ARN: {role_arns[-1]!r}"
                )
            return parts[4]
        caller = os.environ.get(CALLER_ACCOUNT_ENV, "").strip()
        if caller:
            return caller
        allowed = _strings(settings.get("allowedAccountIds"))
        if len(allowed) == 1:
            return allowed[0]
        raise StandinError(
            ErrorKind.INVALID_ARGUMENT,
            "the stand-in cannot tell which account it is in: assume a role (assumeRoles), "
            f"allow exactly one account (allowedAccountIds), or set {CALLER_ACCOUNT_ENV}",
        )

    # --- resources ------------------------------------------------------------------------
    def check(self, urn: str, olds: Props, news: Props) -> CheckResult:
        with self.call("Check", urn, "", news, olds) as record:
            resource_type, name = parse_urn(urn)
            spec = _spec(resource_type)
            inputs = dict(news)
            if (
                spec.autoname
                and inputs.get(spec.autoname) is None
                and inputs.get("namePrefix") is None
            ):
                # pulumi-aws autonames from the logical name plus a random suffix; the
                # stand-in uses the logical name alone, which is what rftenv synth predicts.
                inputs[spec.autoname] = name
            failures = [CheckFailure(prop, reason) for prop, reason in check_inputs(spec, inputs)]
            record.summary = "; ".join(f"{f.property}: {f.reason}" for f in failures) or "ok"
            return CheckResult(inputs, failures)

    def diff(
        self,
        urn: str,
        resource_id: str,
        olds: Props,
        news: Props,
        old_inputs: Props,
        ignore_changes: tuple[str, ...] = (),
    ) -> DiffResult:
        with self.call("Diff", urn, resource_id, news, olds, old_inputs) as record:
            resource_type, name = parse_urn(urn)
            spec = _spec(resource_type)
            result = DiffResult(
                _property_diff(
                    olds,
                    news,
                    old_inputs,
                    replace_on_change=spec.replace_on_change,
                    ignored=frozenset(ignore_changes) | COMPUTED_EXTRAS,
                )
            )
            if result.replaces:
                # Create-before-delete is the default; when the replacement gets the same
                # physical id it would collide with the resource it replaces, in the fake
                # cloud as in AWS, so the old one must go first. An id that cannot be known
                # yet (preview) is assumed to be the same.
                new_id = self._predicted_id(spec, name, news)
                result.delete_before_replace = new_id is None or new_id == resource_id
            record.summary = _diff_summary(result)
            return result

    def create(self, urn: str, inputs: Props, preview: bool = False) -> tuple[str, Props]:
        with self.call("Create", urn, "", inputs) as record:
            resource_type, name = parse_urn(urn)
            spec = _spec(resource_type)
            config = self._configured()
            resource_id, outputs = self._outputs(spec, name, inputs, config)
            record.id = self._logged_id(spec, resource_id, inputs)
            if preview:
                record.summary = "preview"
                return "", outputs
            with self._store().transaction() as document:
                records = document["resources"]
                key = self._record_key(spec, resource_id, inputs, config)
                if key in records:
                    raise StandinError(
                        ErrorKind.ALREADY_EXISTS,
                        _duplicate_message(spec, resource_id, records[key], config),
                    )
                self._require_parent(spec, inputs, records, config)
                records[key] = self._record(
                    spec, urn, resource_id, inputs, outputs, config, document["salt"]
                )
            record.summary = f"created {record.id}"
            return resource_id, outputs

    def read(self, urn: str, resource_id: str, properties: Props, inputs: Props) -> ReadResult:
        with self.call("Read", urn, resource_id, inputs, properties) as record:
            resource_type, _ = parse_urn(urn)
            spec = _spec(resource_type)
            config = self._configured()
            document = self._store().document()
            records = document["resources"]
            key = self._record_key(spec, resource_id, inputs or properties, config)
            stored = records.get(key)
            if stored is None or not self._parent_exists(spec, stored["inputs"], records, config):
                record.summary = "gone"
                return ReadResult("", {}, {})
            salt = document["salt"]
            record.summary = "found"
            return ReadResult(
                resource_id,
                wire.restore_secrets(stored["outputs"], salt, properties, inputs),
                wire.restore_secrets(stored["inputs"], salt, inputs, properties),
            )

    def update(
        self,
        urn: str,
        resource_id: str,
        olds: Props,
        news: Props,
        old_inputs: Props,
        preview: bool = False,
    ) -> Props:
        with self.call("Update", urn, resource_id, news, olds, old_inputs) as record:
            resource_type, name = parse_urn(urn)
            spec = _spec(resource_type)
            config = self._configured()
            new_id, outputs = self._outputs(spec, name, news, config)
            if new_id and new_id != resource_id:
                # Every input an id derives from forces a replacement (see the tests).
                raise StandinError(
                    ErrorKind.FAILED_PRECONDITION,
                    f"updating {spec.type} {resource_id!r} would change its id to {new_id!r}; "
                    "that is a replacement, not an update",
                )
            if preview:
                record.summary = "preview"
                return outputs
            with self._store().transaction() as document:
                records = document["resources"]
                key = self._record_key(spec, resource_id, news, config)
                if key not in records:
                    raise StandinError(
                        ErrorKind.NOT_FOUND,
                        f"updating {spec.type} {resource_id!r}: it does not exist in account "
                        f"{config.account_id} (deleted outside Pulumi? `pulumi refresh` notices)",
                    )
                records[key] = self._record(
                    spec, urn, resource_id, news, outputs, config, document["salt"]
                )
            changed = _property_diff(olds, news, old_inputs, frozenset(), COMPUTED_EXTRAS)
            record.summary = f"updated: {_diff_summary(DiffResult(changed))}"
            return outputs

    def delete(self, urn: str, resource_id: str, properties: Props, old_inputs: Props) -> None:
        with self.call("Delete", urn, resource_id, old_inputs, properties) as record:
            resource_type, _ = parse_urn(urn)
            spec = _spec(resource_type)
            config = self._configured()
            with self._store().transaction() as document:
                key = self._record_key(spec, resource_id, old_inputs or properties, config)
                # Like pulumi-aws, a resource that is already gone counts as deleted.
                record.summary = (
                    "deleted" if document["resources"].pop(key, None) else "already gone"
                )

    # --- helpers ------------------------------------------------------------------------------
    def _configured(self) -> ProviderConfig:
        if self.config is None:
            raise StandinError(
                ErrorKind.FAILED_PRECONDITION, "the stand-in aws provider was not configured"
            )
        return self.config

    def _store(self) -> CloudStore:
        if self.cloud is None:
            raise StandinError(
                ErrorKind.FAILED_PRECONDITION,
                f"the stand-in aws provider has no cloud: set {STATE_ENV} to a JSON file path",
            )
        return self.cloud

    def _outputs(
        self, spec: ResourceSpec, name: str, inputs: Props, config: ProviderConfig
    ) -> tuple[str, Props]:
        """(id, outputs): the inputs, secrets and all, plus what AWS would compute, as
        SynthMocks predicts it. While an input the id derives from is unknown (previews),
        so are the id ("") and every computed output."""
        plain_inputs = wire.plain(inputs)
        resource_id, state = config.mocks.new_resource(
            pulumi.runtime.MockResourceArgs(typ=spec.type, name=name, inputs=plain_inputs)
        )
        computed: Props = {key: value for key, value in state.items() if key not in plain_inputs}
        if not self._derivable(spec, inputs):
            resource_id = ""
            computed = {key: wire.UNKNOWN for key in computed}
        if spec.type == "aws:lambda/function:Function" and isinstance(inputs.get("code"), dict):
            # Lambda's CodeSha256: base64 of a SHA-256 (here of the archive's content hash,
            # not of a zip the stand-in never builds).
            computed["codeSha256"] = base64.b64encode(
                hashlib.sha256(wire.content_digest(inputs["code"]).encode()).digest()
            ).decode()
        if spec.type == S3_OBJECT and isinstance(inputs.get("source"), dict):
            # An ETag-shaped digest of the content (S3's is an MD5, or opaque under SSE-KMS).
            computed["etag"] = wire.content_digest(inputs["source"])[:32]
        if spec.taggable:
            computed["tagsAll"] = self._tags_all(inputs.get("tags"), config)
        return resource_id, {**wire.with_digests(inputs), **computed}

    @staticmethod
    def _derivable(spec: ResourceSpec, inputs: Props) -> bool:
        return not any(wire.contains_unknown(inputs.get(prop)) for prop in spec.derived_from)

    def _predicted_id(self, spec: ResourceSpec, name: str, inputs: Props) -> str | None:
        if self.config is None or not self._derivable(spec, inputs):
            return None
        resource_id, _ = self.config.mocks.new_resource(
            pulumi.runtime.MockResourceArgs(typ=spec.type, name=name, inputs=wire.plain(inputs))
        )
        return resource_id

    @staticmethod
    def _tags_all(tags: Any, config: ProviderConfig) -> Any:
        """pulumi-aws's tagsAll: the provider's default tags, overridden by the resource's."""
        if wire.is_unknown(tags):
            return wire.UNKNOWN
        merged = dict(config.default_tags)
        if wire.is_secret(tags):
            merged.update(wire.plain(tags) or {})
            return wire.secret(merged)
        if isinstance(tags, dict):
            merged.update(tags)
        return merged

    @staticmethod
    def _logged_id(spec: ResourceSpec, resource_id: str, inputs: Props) -> str:
        if any(wire.contains_secret(inputs.get(prop)) for prop in spec.derived_from):
            return wire.REDACTED
        return resource_id

    @staticmethod
    def _scope(spec: ResourceSpec, config: ProviderConfig) -> str:
        if spec.scope is Scope.PARTITION:
            return config.partition
        if spec.scope is Scope.ACCOUNT:
            return f"{config.partition}:{config.account_id}"
        return f"{config.partition}:{config.account_id}:{config.region}"

    def _record_key(
        self, spec: ResourceSpec, resource_id: str, inputs: Props, config: ProviderConfig
    ) -> str:
        return f"{spec.type}|{self._scope(spec, config)}|{spec.cloud_identity(resource_id, inputs)}"

    def _record(
        self,
        spec: ResourceSpec,
        urn: str,
        resource_id: str,
        inputs: Props,
        outputs: Props,
        config: ProviderConfig,
        salt: str,
    ) -> dict[str, Any]:
        return {
            "type": spec.type,
            "id": resource_id,
            "urn": urn,
            "account": config.account_id,
            "region": config.region,
            "inputs": wire.redact_secrets(wire.with_digests(inputs), salt),
            "outputs": wire.redact_secrets(outputs, salt),
        }

    def _parent_key(self, spec: ResourceSpec, inputs: Props, config: ProviderConfig) -> str | None:
        if spec.parent is None:
            return None
        value = wire.plain(inputs.get(spec.parent.property))
        if not isinstance(value, str):
            return None
        parent_id = spec.parent.parent_id(value, config.account_id)
        if parent_id is None:
            return None
        return self._record_key(SPECS[spec.parent.type], parent_id, {}, config)

    def _require_parent(
        self, spec: ResourceSpec, inputs: Props, records: dict[str, Any], config: ProviderConfig
    ) -> None:
        key = self._parent_key(spec, inputs, config)
        if key is None:
            return
        assert spec.parent is not None
        parent_id = key.rsplit("|", 1)[-1]
        parent = records.get(key)
        if parent is None:
            raise StandinError(
                ErrorKind.NOT_FOUND,
                f"creating {spec.type}: its {spec.parent.property}, {spec.parent.type} "
                f"{parent_id!r}, does not exist in the stand-in cloud",
            )
        if spec.parent.type == S3_BUCKET and parent["account"] != config.account_id:
            raise StandinError(
                ErrorKind.PERMISSION_DENIED,
                f"creating {spec.type}: AccessDenied: bucket {parent_id!r} belongs to account "
                f"{parent['account']}",
            )

    def _parent_exists(
        self, spec: ResourceSpec, inputs: Props, records: dict[str, Any], config: ProviderConfig
    ) -> bool:
        key = self._parent_key(spec, inputs, config)
        return key is None or key in records


def _spec(resource_type: str) -> ResourceSpec:
    try:
        return spec_for(resource_type)
    except UnsupportedResourceType as error:
        raise StandinError(ErrorKind.INVALID_ARGUMENT, str(error)) from None


def _environment_region() -> str:
    # Where pulumi-aws looks when the provider sets none (besides the shared config file,
    # which the stand-in does not read).
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""


def _default_tags(value: Any) -> Props:
    secret = wire.contains_secret(value)
    decoded = _decoded(value)
    tags = decoded.get("tags") if isinstance(decoded, dict) else None
    if not isinstance(tags, dict):
        return {}
    return {key: wire.secret(tag) if secret else tag for key, tag in tags.items()}


def _property_diff(
    olds: Props,
    news: Props,
    old_inputs: Props,
    replace_on_change: frozenset[str],
    ignored: frozenset[str],
) -> dict[str, DiffKind]:
    """How each input changed, compared with the resource's last state like pulumi-aws:
    computed outputs (in the state but never inputs) are not compared. Without old inputs
    (states written before engines sent them) removals cannot be told from outputs."""
    previous_inputs = set(old_inputs) if old_inputs else set(news)
    detailed: dict[str, DiffKind] = {}
    for key in sorted((set(news) | previous_inputs) - ignored):
        new = news.get(key)
        old = olds[key] if key in olds else old_inputs.get(key)
        if new is None and old is None:
            continue
        if not wire.contains_unknown(new) and wire.comparable(new) == wire.comparable(old):
            continue
        replace = key in replace_on_change
        if old is None:
            detailed[key] = DiffKind.ADD_REPLACE if replace else DiffKind.ADD
        elif new is None:
            detailed[key] = DiffKind.DELETE_REPLACE if replace else DiffKind.DELETE
        else:
            detailed[key] = DiffKind.UPDATE_REPLACE if replace else DiffKind.UPDATE
    return detailed


def _diff_summary(result: DiffResult) -> str:
    if not result.changes:
        return "no changes"
    text = ", ".join(f"{key} {kind.name.lower()}" for key, kind in sorted(result.detailed.items()))
    if result.delete_before_replace:
        text += " (delete before replace)"
    return text


def _duplicate_message(
    spec: ResourceSpec, resource_id: str, existing: dict[str, Any], config: ProviderConfig
) -> str:
    owner = f"created by {existing['urn']}"
    if spec.type == S3_BUCKET:
        if existing["account"] == config.account_id:
            code = (
                "BucketAlreadyOwnedByYou: your previous request to create the named bucket "
                "succeeded"
            )
        else:
            code = "BucketAlreadyExists: the bucket namespace is shared by all AWS accounts"
        return (
            f"creating {spec.type} {resource_id!r}: {code} ({owner}, account {existing['account']})"
        )
    if spec.duplicate_error:
        return (
            f"creating {spec.type} {resource_id!r}: {spec.duplicate_error}: it already exists "
            f"({owner})"
        )
    return (
        f"creating {spec.type} {resource_id!r}: it already exists ({owner}); AWS would silently "
        "overwrite or adopt it, leaving two resources sharing one, so the stand-in refuses"
    )
