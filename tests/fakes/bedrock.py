"""A fake Amazon Bedrock control plane (plus STS AssumeRole) served over HTTP on 127.0.0.1.

Real boto3 clients talk to it through `endpoint_url`, so every request goes through botocore's
real serialization and response parsing. Status is computed from an injected FakeClock whenever
state is read, so there are no background threads and tests never wait.

With a FakeBedrockRuntime attached (`attach_runtime`), the same endpoint also serves Converse
and SNS Publish, as the dynamic providers reach every service through one endpoint URL.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import secrets
import string
import threading
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from rft_env.components.bedrock.values import (
    RFT_CONTEXT_TOKENS,
    RFT_MAX_INFERENCE_TOKENS,
)
from tests.fakes._wire import (
    ROLE_ARN,
    ServiceError,
    allowed_errors,
    assume_role_problem,
    error_status,
    iso,
    match_route,
    parse_request,
    render,
    service_model,
    validate,
)
from tests.fakes.clock import FakeClock
from tests.fakes.server import ServedFake

if TYPE_CHECKING:  # bedrock_runtime.py refers back to this module
    from tests.fakes.bedrock_runtime import FakeBedrockRuntime

Params = dict[str, Any]
Record = dict[str, Any]

# The service of an attached FakeBedrockRuntime, whose routes this endpoint also serves.
_RUNTIME = "bedrock-runtime"

_ID_ALPHABET = string.ascii_lowercase + string.digits
_DAY = 86_400.0
_COMMITMENT_DAYS = {"OneMonth": 30, "SixMonths": 180}
_MAX_TAGS = 200
_FOUNDATION_PREFIX = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]*::foundation-model/")
_KEY_ID = re.compile(r"[a-zA-Z0-9-]{36}")
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

# Request-authentication errors the fake answers. AWS lists them among the errors common to
# every API (each API reference's "Common Errors" page), so no Bedrock operation's model
# declares them: a check that the fake raises only declared errors must allow these.
COMMON_AUTH_ERRORS = frozenset({"ExpiredTokenException"})
_EXPIRED_TOKEN = "ExpiredTokenException"
_EXPIRED_TOKEN_MESSAGE = "The security token included in the request is expired"
# HTTP status of ExpiredTokenException: 403 on the Common Errors page (Bedrock); STS's own
# model declares it with 400.
_EXPIRED_TOKEN_STATUS = 403
# SigV4: "Authorization: AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/<service>/
# aws4_request, SignedHeaders=..., Signature=...".
_SIGV4_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
# AssumeRole's DurationSeconds when the request sets none, and a role's MaxSessionDuration
# unless set otherwise: one hour each (STS AssumeRole and IAM CreateRole API references).
_DEFAULT_SESSION_SECONDS = 3600

_INJECTED_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "InternalServerException": "Internal server error (injected)",
    "ServiceUnavailable": "Service unavailable (injected)",
    "ServiceUnavailableException": "Service unavailable (injected)",
    "ValidationException": "Validation failed (injected)",
    "ServiceQuotaExceededException": "Service quota exceeded (injected)",
    "AccessDeniedException": "User is not authorized to perform this action (injected)",
}


@dataclass(frozen=True)
class _Fault:
    error: str
    apply: bool


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    error_code: str | None = None


def _new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def _tags_from(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or []}


def _not_found(kind: str, identifier: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"Could not find {kind} '{identifier}'.")


class FakeBedrock(ServedFake):
    """Bedrock model customization, custom models, PTs and deployments, with scenario knobs."""

    def __init__(
        self, clock: FakeClock, *, account_id: str = "111122223333", region: str = "us-east-1"
    ) -> None:
        self.clock = clock
        self.account_id = account_id
        self.region = region
        self.endpoint_url = ""

        # Scenario knobs: read when a resource (or update) is created.
        self.job_duration: float = 3600.0
        self.job_outcome: str = "Completed"
        self.job_failure_message: str = "Grader Lambda returned invalid output"
        self.stop_duration: float = 60.0
        self.pt_duration: float = 1800.0
        self.pt_outcome: str = "InService"
        self.pt_failure_message: str = "Insufficient capacity for the requested model units"
        self.pt_update_duration: float = 300.0
        self.deployment_duration: float = 600.0
        self.deployment_outcome: str = "Active"
        self.deployment_failure_message: str = "Deployment failed to become active"
        self.deployment_update_duration: float = 300.0
        # The page size of the List operations when a request gives no maxResults. AWS
        # documents no default; a small value lets tests exercise nextToken paging.
        self.list_page_size: int = 100
        # The account's model-unit quotas: 2 without a commitment is AWS's documented
        # default; committed units are whatever AWS Support granted.
        self.no_commitment_unit_quota: int = 2
        self.committed_unit_quota: int = 50
        # How long a clientRequestToken makes a repeated create a no-op. Bedrock documents
        # none (UNCONFIRMED); other AWS APIs document 8 hours. Tests shorten it to check that
        # the providers never rely on it.
        self.idempotency_window: float = 8 * 3600.0
        # The assumed role's MaxSessionDuration: AssumeRole refuses a longer DurationSeconds.
        self.role_max_session_duration: int = _DEFAULT_SESSION_SECONDS

        # Called in the request's thread once a request has taken effect, before its answer
        # is sent: a test can act between the two (the engine tests kill `pulumi up` there).
        self.after_apply: dict[str, Callable[[], None]] = {}
        # Serves Converse and SNS Publish at this endpoint once attached.
        self.runtime: FakeBedrockRuntime | None = None

        self.calls: list[tuple[str, dict]] = []
        # (operation, code) of every error the fake raised that the operation does not declare.
        self.undeclared: list[tuple[str, str]] = []
        # Re-entrant: the public dict properties settle state and are also used inside handlers.
        self._lock = threading.RLock()
        self._jobs: dict[str, Record] = {}
        self._models: dict[str, Record] = {}
        self._throughputs: dict[str, Record] = {}
        self._deployments: dict[str, Record] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        # Access key id -> expiry (fake clock) of every credential set the fake STS issued.
        self._issued_keys: dict[str, float] = {}
        self._handlers: dict[str, Callable[[Params], Record]] = {
            "CreateModelCustomizationJob": self._create_job,
            "GetModelCustomizationJob": self._get_job,
            "StopModelCustomizationJob": self._stop_job,
            "GetCustomModel": self._get_model,
            "DeleteCustomModel": self._delete_model,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags,
            "CreateProvisionedModelThroughput": self._create_pt,
            "GetProvisionedModelThroughput": self._get_pt,
            "UpdateProvisionedModelThroughput": self._update_pt,
            "DeleteProvisionedModelThroughput": self._delete_pt,
            "CreateCustomModelDeployment": self._create_deployment,
            "GetCustomModelDeployment": self._get_deployment,
            "UpdateCustomModelDeployment": self._update_deployment,
            "DeleteCustomModelDeployment": self._delete_deployment,
            "ListModelCustomizationJobs": self._list_jobs,
            "ListProvisionedModelThroughputs": self._list_pts,
            "ListCustomModelDeployments": self._list_deployments,
        }

    # ------------------------------------------------------------------ server lifecycle

    # ------------------------------------------------------------------ test-facing API

    def inject(self, operation: str, error: str, *, times: int = 1, apply: bool = False) -> None:
        """Make the next `times` calls of `operation` fail with `error`.

        apply=True lets the request take effect before the error is returned, like a response
        lost after the service acted.
        """
        known = set(service_model("bedrock").operation_names) | set(
            service_model("sts").operation_names
        )
        if operation not in known:
            raise ValueError(f"unknown operation {operation!r}")
        service = "bedrock" if operation in service_model("bedrock").operation_names else "sts"
        allowed = allowed_errors(service, operation)
        if error not in allowed:
            raise ValueError(
                f"{operation} never answers {error!r}: its model declares, with the common "
                f"errors, only {sorted(allowed)}"
            )
        with self._lock:
            queue = self._faults.setdefault(operation, deque())
            queue.extend(_Fault(error, apply) for _ in range(times))

    def count(self, operation: str) -> int:
        with self._lock:
            return sum(1 for name, _ in self.calls if name == operation)

    @property
    def jobs(self) -> dict[str, dict]:
        with self._lock:
            self._settle()
            return self._jobs

    @property
    def custom_models(self) -> dict[str, dict]:
        with self._lock:
            self._settle()
            return self._models

    @property
    def throughputs(self) -> dict[str, dict]:
        with self._lock:
            self._settle()
            return self._throughputs

    @property
    def deployments(self) -> dict[str, dict]:
        with self._lock:
            self._settle()
            return self._deployments

    def attach_runtime(self, runtime: FakeBedrockRuntime) -> None:
        """Serve `runtime`'s Converse and SNS Publish at this endpoint, with this fake's
        deployments and PTs as the models it checks. The runtime is switched to this fake's
        clock (`runtime.clock = self.clock`), so expiry, status and pacing share one time.
        Requests signed with expired keys are refused before reaching it; AssumeRole stays
        here, as this fake issues those keys."""
        self.runtime = runtime
        runtime.control = self
        runtime.clock = self.clock

    def delete_out_of_band(self, arn: str) -> None:
        """Remove a job/model/PT/deployment as if someone else deleted it."""
        with self._lock:
            self._settle()
            for table in (self._jobs, self._models, self._throughputs, self._deployments):
                if arn in table:
                    del table[arn]
                    return
        raise KeyError(f"FakeBedrock holds no resource {arn!r}")

    # ------------------------------------------------------------------ HTTP dispatch

    def _handle_http(self, method: str, target: str, headers: Any, body: bytes) -> _Response:
        url = urlsplit(target)
        content_type = (headers.get("Content-Type") or "").lower()
        is_sts = (
            method == "POST"
            and url.path == "/"
            and content_type.startswith("application/x-www-form-urlencoded")
        )
        if self._signed_with_expired_key(headers):
            return self._refuse_expired(method, url.path, body, is_sts)
        runtime = self.runtime
        if runtime is not None:
            if is_sts and _form_action(body) == "Publish":
                return _from_runtime(runtime._sns(body))
            # The two services' routes never overlap (checked in the fakes' tests).
            if match_route(method, url.path, _RUNTIME) is not None:
                return _from_runtime(runtime._handle(method, target, headers, body))
        if is_sts:
            return self._handle_sts(body)
        return self._handle_bedrock(method, url.path, url.query, headers, body)

    # ------------------------------------------------------------------ request authentication

    def _signed_with_expired_key(self, headers: Any) -> bool:
        """Whether the request is signed with credentials the fake STS issued that have
        expired on the fake clock. Other keys (the tests' long-term ones) never expire."""
        match = _SIGV4_ACCESS_KEY.search(headers.get("Authorization") or "")
        if match is None:
            return False
        with self._lock:
            expires = self._issued_keys.get(match.group(1))
        return expires is not None and self.clock.time() >= expires

    def _refuse_expired(self, method: str, path: str, body: bytes, is_sts: bool) -> _Response:
        """AWS refuses such a request before the operation runs: it is logged in `calls` with
        the error (no injected fault is used up), and answered in the service's wire format."""
        if is_sts:
            operation = _form_action(body) or "<no Action>"
        else:
            found = match_route(method, path)
            if found is None and self.runtime is not None:
                found = match_route(method, path, _RUNTIME)
            operation = found[0] if found else f"{method} {path}"
        with self._lock:
            self.calls.append((operation, {"_refused": _EXPIRED_TOKEN}))
        if is_sts:
            status = error_status("sts").get(_EXPIRED_TOKEN, 400)
            return _xml_error(_EXPIRED_TOKEN, _EXPIRED_TOKEN_MESSAGE, status=status)
        message = json.dumps({"message": _EXPIRED_TOKEN_MESSAGE}).encode()
        return _Response(_EXPIRED_TOKEN_STATUS, message, error_code=_EXPIRED_TOKEN)

    def refused(self, error: str = _EXPIRED_TOKEN) -> list[str]:
        """The operations of the calls refused with `error` before they ran."""
        with self._lock:
            return [name for name, params in self.calls if params.get("_refused") == error]

    def _handle_bedrock(
        self, method: str, path: str, query: str, headers: Any, body: bytes
    ) -> _Response:
        found = match_route(method, path)
        if found is None:
            return _json_error(
                "NotImplemented", f"FakeBedrock: no Bedrock operation {method} {path}"
            )
        operation, path_values = found
        op_model = service_model("bedrock").operation_model(operation)
        try:
            params = parse_request(op_model, path_values, query, headers, body)
        except ServiceError as exc:
            self._record(operation, {"_raw": body.decode(errors="replace")})
            return _json_error(exc.code, exc.message)
        fault = self._record(operation, params)
        handler = self._handlers.get(operation)
        if handler is None:
            return _json_error(
                "NotImplemented", f"FakeBedrock does not implement {operation} ({method} {path})"
            )
        if fault is not None and not fault.apply:
            return _json_error(fault.error, _INJECTED_MESSAGES.get(fault.error, "injected"))
        try:
            with self._lock:
                self._settle()
                self._check_tag_counts(op_model.input_shape, params)
                validate(op_model.input_shape, params)
                result = handler(copy.deepcopy(params))
        except ServiceError as exc:
            if exc.code not in allowed_errors("bedrock", operation):
                return self._undeclared(operation, exc)
            return _json_error(exc.code, exc.message)
        hook = self.after_apply.get(operation)
        if hook is not None:
            hook()
        if fault is not None:
            return _json_error(fault.error, _INJECTED_MESSAGES.get(fault.error, "injected"))
        payload = render(op_model.output_shape, result) if op_model.output_shape else {}
        return _Response(op_model.http.get("responseCode", 200), json.dumps(payload).encode())

    def _undeclared(self, operation: str, exc: ServiceError) -> _Response:
        """The fake tried an error AWS would never answer for this operation: a bug in the
        fake. The call fails (not retryably) and the `with` block fails the test."""
        with self._lock:
            self.undeclared.append((operation, exc.code))
        return _json_error(
            "FakeBedrockUndeclaredError",
            f"FakeBedrock answered {exc.code} to {operation}, which its model does not "
            f"declare: {exc.message}",
        )

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        if self.undeclared and exc[0] is None:
            raise AssertionError(f"FakeBedrock answered undeclared errors: {self.undeclared}")

    def _record(self, operation: str, params: Params) -> _Fault | None:
        """Log the call and take its pending fault, if any."""
        with self._lock:
            self.calls.append((operation, copy.deepcopy(params)))
            queue = self._faults.get(operation)
            return queue.popleft() if queue else None

    @staticmethod
    def _check_tag_counts(shape: Any, params: Params) -> None:
        # Checked before the generic length check so callers see the modelled TooManyTags error.
        for name, member in shape.members.items():
            is_tags = member.type_name == "list" and member.member.name == "Tag"
            if is_tags and len(params.get(name) or []) > _MAX_TAGS:
                raise ServiceError(
                    "TooManyTagsException", f"{name}: at most {_MAX_TAGS} tags are allowed"
                )

    # ------------------------------------------------------------------ lazy status

    def _settle(self) -> None:
        """Bring every resource's status up to the clock (caller holds the lock)."""
        now = self.clock.time()
        for job in list(self._jobs.values()):
            self._settle_job(job, now)
        for pt in self._throughputs.values():
            self._settle_pt(pt, now)
        for dep in self._deployments.values():
            self._settle_deployment(dep, now)

    def _settle_job(self, job: Record, now: float) -> None:
        if job["_stopAt"] is not None:
            stopped_at = job["_stopAt"] + job["_stopDuration"]
            if now >= stopped_at:
                job.update(status="Stopped", endTime=stopped_at, lastModifiedTime=stopped_at)
            return
        ends = job["_created"] + job["_duration"]
        if now < ends or job["status"] != "InProgress":
            return
        job.update(status=job["_outcome"], endTime=ends, lastModifiedTime=ends)
        if job["_outcome"] == "Failed":
            job["failureMessage"] = job["_failureMessage"]
            return
        # The custom model comes into existence only when the job completes.
        model_arn = (
            f"arn:aws:bedrock:{self.region}:{self.account_id}:custom-model/"
            f"{job['_baseModelId']}/{_new_id()}"
        )
        job["outputModelArn"] = model_arn
        job["trainingMetrics"] = {"trainingLoss": 0.12}
        job["validationMetrics"] = [{"validationLoss": 0.15}]
        self._models[model_arn] = {
            "modelArn": model_arn,
            "modelName": job["outputModelName"],
            "jobName": job["jobName"],
            "jobArn": job["jobArn"],
            "baseModelArn": job["baseModelArn"],
            "customizationType": job.get("customizationType"),
            "customizationConfig": copy.deepcopy(job.get("customizationConfig")),
            "modelKmsKeyArn": job.get("outputModelKmsKeyArn"),
            "hyperParameters": copy.deepcopy(job.get("hyperParameters")),
            "trainingDataConfig": copy.deepcopy(job.get("trainingDataConfig")),
            "validationDataConfig": copy.deepcopy(job.get("validationDataConfig")),
            "outputDataConfig": copy.deepcopy(job.get("outputDataConfig")),
            "trainingMetrics": {"trainingLoss": 0.12},
            "validationMetrics": [{"validationLoss": 0.15}],
            "creationTime": ends,
            "modelStatus": "Active",
            "_tags": dict(job["_customModelTags"]),
        }

    def _settle_pt(self, pt: Record, now: float) -> None:
        if pt["status"] == "Creating":
            ready = pt["_created"] + pt["_duration"]
            if now >= ready:
                pt.update(status=pt["_outcome"], lastModifiedTime=ready)
                if pt["_outcome"] == "Failed":
                    pt["failureMessage"] = pt["_failureMessage"]
        update = pt.get("_update")
        if pt["status"] == "Updating" and update is not None:
            done = update["at"] + update["duration"]
            if now >= done:
                pt.update(
                    status="InService",
                    modelArn=pt["desiredModelArn"],
                    provisionedModelName=update["name"],
                    lastModifiedTime=done,
                    _update=None,
                )

    def _settle_deployment(self, dep: Record, now: float) -> None:
        if dep["status"] == "Creating":
            ready = dep["_created"] + dep["_duration"]
            if now >= ready:
                dep.update(status=dep["_outcome"], lastUpdatedAt=ready)
                if dep["_outcome"] == "Failed":
                    dep["failureMessage"] = dep["_failureMessage"]
        details = dep.get("updateDetails")
        if details and details["updateStatus"] == "Updating":
            done = dep["_updateAt"] + dep["_updateDuration"]
            if now >= done:
                details["updateStatus"] = "UpdateCompleted"
                dep.update(modelArn=details["modelArn"], lastUpdatedAt=done)

    # ------------------------------------------------------------------ lookups

    def _repeats(self, token: str | None, earlier: str | None, created: float) -> bool:
        """Is a create with `token` a repeat of one made at `created` with `earlier`? Only
        within the idempotency window: after it, the request is new (and its names are
        taken)."""
        fresh = self.clock.time() - created < self.idempotency_window
        return token is not None and token == earlier and fresh

    def _arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{self.account_id}:{kind}/{resource_id}"

    @staticmethod
    def _find(table: dict[str, Record], name_key: str, identifier: str, kind: str) -> Record:
        if identifier.startswith("arn:"):
            record = table.get(identifier)
        else:
            record = next((r for r in table.values() if r[name_key] == identifier), None)
        if record is None:
            raise _not_found(kind, identifier)
        return record

    def _find_job(self, identifier: str) -> Record:
        return self._find(self._jobs, "jobName", identifier, "model customization job")

    def _find_model(self, identifier: str) -> Record:
        return self._find(self._models, "modelName", identifier, "custom model")

    def _find_pt(self, identifier: str) -> Record:
        return self._find(
            self._throughputs, "provisionedModelName", identifier, "provisioned model"
        )

    def _find_deployment(self, identifier: str) -> Record:
        return self._find(
            self._deployments, "modelDeploymentName", identifier, "custom model deployment"
        )

    def _find_any(self, arn: str) -> Record:
        for table in (self._jobs, self._models, self._throughputs, self._deployments):
            if arn in table:
                return table[arn]
        raise _not_found("resource", arn)

    def _base_model_id(self, identifier: str) -> str:
        if _FOUNDATION_PREFIX.match(identifier):
            return _FOUNDATION_PREFIX.sub("", identifier, count=1)
        if identifier.startswith("arn:") or "." not in identifier:
            # A custom model (ARN or name) as the base: continue from its foundation model.
            model = self._find_model(identifier)
            return _FOUNDATION_PREFIX.sub("", model["baseModelArn"], count=1)
        return identifier

    def _foundation_arn(self, model_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}"

    def _kms_key_arn(self, key_id: str) -> str:
        if key_id.startswith("arn:") and ":key/" in key_id:
            return key_id
        if not _KEY_ID.fullmatch(key_id):
            # An alias resolves to some key; a stable fake id keeps Get deterministic.
            key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, key_id))
        return f"arn:aws:kms:{self.region}:{self.account_id}:key/{key_id}"

    # ------------------------------------------------------------------ customization jobs

    def _create_job(self, p: Params) -> Record:
        self._check_rft_request(p)
        token = p.get("clientRequestToken")
        for job in self._jobs.values():
            if self._repeats(token, job.get("clientRequestToken"), job["_created"]):
                return {"jobArn": job["jobArn"]}  # same token: the service ignores the repeat
        name = p["jobName"]
        if any(j["jobName"] == name for j in self._jobs.values()):
            raise ServiceError(
                "ConflictException", f"A model customization job named '{name}' already exists."
            )
        model_name = p["customModelName"]
        if any(m["modelName"] == model_name for m in self._models.values()) or any(
            j["outputModelName"] == model_name and j["status"] == "InProgress"
            for j in self._jobs.values()
        ):
            raise ServiceError(
                "ConflictException", f"A custom model named '{model_name}' already exists."
            )
        base_id = self._base_model_id(p["baseModelIdentifier"])
        now = self.clock.time()
        arn = self._arn(f"model-customization-job/{base_id}", _new_id())
        job: Record = {
            "jobArn": arn,
            "jobName": name,
            "outputModelName": model_name,
            "roleArn": p["roleArn"],
            "clientRequestToken": token,
            "baseModelArn": self._foundation_arn(base_id),
            "status": "InProgress",
            "creationTime": now,
            "lastModifiedTime": now,
            "customizationType": p.get("customizationType"),
            "customizationConfig": p.get("customizationConfig"),
            "hyperParameters": p.get("hyperParameters"),
            "trainingDataConfig": p["trainingDataConfig"],
            # Required in Get's output shape, so an omitted config reads back empty.
            "validationDataConfig": p.get("validationDataConfig") or {"validators": []},
            "outputDataConfig": p["outputDataConfig"],
            "vpcConfig": p.get("vpcConfig"),
            "_request": copy.deepcopy(p),
            "_baseModelId": base_id,
            "_created": now,
            "_duration": float(self.job_duration),
            "_outcome": self.job_outcome,
            "_failureMessage": self.job_failure_message,
            "_stopAt": None,
            "_stopDuration": float(self.stop_duration),
            "_tags": _tags_from(p.get("jobTags")),
            "_customModelTags": _tags_from(p.get("customModelTags")),
        }
        if p.get("customModelKmsKeyId"):
            job["outputModelKmsKeyArn"] = self._kms_key_arn(p["customModelKmsKeyId"])
        self._jobs[arn] = job
        return {"jobArn": arn}

    @staticmethod
    def _check_rft_request(p: Params) -> None:
        """What the model cannot express: RFT-only rules and positive-only hyperparameters."""

        def invalid(message: str) -> ServiceError:
            return ServiceError("ValidationException", message)

        if p.get("customizationType") != "REINFORCEMENT_FINE_TUNING":
            raise invalid(
                "customizationType must be REINFORCEMENT_FINE_TUNING "
                f"(FakeBedrock serves RFT only), got {p.get('customizationType')!r}"
            )
        rft = (p.get("customizationConfig") or {}).get("rftConfig")
        if rft is None:
            raise invalid("customizationConfig.rftConfig is required for REINFORCEMENT_FINE_TUNING")
        lambda_arn = ((rft.get("graderConfig") or {}).get("lambdaGrader") or {}).get("lambdaArn")
        if not lambda_arn:
            raise invalid(
                "customizationConfig.rftConfig.graderConfig.lambdaGrader.lambdaArn is required"
            )
        hyper = rft.get("hyperParameters") or {}
        for field in ("maxPromptLength", "inferenceMaxTokens"):
            value = hyper.get(field)
            if value is not None and value <= 0:
                raise invalid(
                    f"customizationConfig.rftConfig.hyperParameters.{field} must be positive, "
                    f"got {value}"
                )
        # Upper bounds AWS does not document: the fake refuses past rft-env's safe choice
        # (README, "Unconfirmed AWS behaviour").
        prompt, tokens = hyper.get("maxPromptLength", 0), hyper.get("inferenceMaxTokens", 0)
        if (
            prompt > RFT_CONTEXT_TOKENS
            or tokens > RFT_MAX_INFERENCE_TOKENS
            or prompt + tokens > RFT_CONTEXT_TOKENS
        ):
            raise invalid(
                f"maxPromptLength {prompt} and inferenceMaxTokens {tokens} do not fit the "
                f"model's {RFT_CONTEXT_TOKENS}-token context (at most "
                f"{RFT_MAX_INFERENCE_TOKENS} generated tokens)"
            )
        data = p.get("trainingDataConfig") or {}
        if not data.get("s3Uri") and not data.get("invocationLogsConfig"):
            raise invalid("trainingDataConfig needs s3Uri or invocationLogsConfig")

    def _get_job(self, p: Params) -> Record:
        return self._find_job(p["jobIdentifier"])

    def _stop_job(self, p: Params) -> Record:
        job = self._find_job(p["jobIdentifier"])
        if job["status"] != "InProgress":
            raise ServiceError(
                "ConflictException",
                f"Job '{job['jobName']}' is {job['status']}; only InProgress jobs can be stopped.",
            )
        now = self.clock.time()
        job.update(status="Stopping", lastModifiedTime=now, _stopAt=now)
        return {}

    # ------------------------------------------------------------------ custom models

    def _get_model(self, p: Params) -> Record:
        return self._find_model(p["modelIdentifier"])

    def _delete_model(self, p: Params) -> Record:
        model = self._find_model(p["modelIdentifier"])
        arn = model["modelArn"]
        users = [
            pt["provisionedModelArn"]
            for pt in self._throughputs.values()
            if arn in (pt["modelArn"], pt["desiredModelArn"])
        ] + [
            dep["customModelDeploymentArn"]
            for dep in self._deployments.values()
            if arn == dep["modelArn"] or arn == (dep.get("updateDetails") or {}).get("modelArn")
        ]
        if users:
            raise ServiceError(
                "ConflictException", f"Custom model '{arn}' is in use by {', '.join(users)}."
            )
        del self._models[arn]
        return {}

    # ------------------------------------------------------------------ tags

    def _tag_resource(self, p: Params) -> Record:
        record = self._find_any(p["resourceARN"])
        merged = {**record["_tags"], **_tags_from(p["tags"])}
        if len(merged) > _MAX_TAGS:
            raise ServiceError("TooManyTagsException", f"a resource has at most {_MAX_TAGS} tags")
        record["_tags"] = merged
        return {}

    def _untag_resource(self, p: Params) -> Record:
        record = self._find_any(p["resourceARN"])
        for key in p["tagKeys"]:
            record["_tags"].pop(key, None)
        return {}

    def _list_tags(self, p: Params) -> Record:
        record = self._find_any(p["resourceARN"])
        return {"tags": [{"key": k, "value": v} for k, v in record["_tags"].items()]}

    # ------------------------------------------------------------------ provisioned throughput

    def _create_pt(self, p: Params) -> Record:
        token = p.get("clientRequestToken")
        for pt in self._throughputs.values():
            if self._repeats(token, pt["_token"], pt["_created"]):
                return {"provisionedModelArn": pt["provisionedModelArn"]}
        name = p["provisionedModelName"]
        if self._pt_name_taken(name):
            # The model declares no ConflictException here; which declared error AWS answers
            # is unconfirmed, and ValidationException is the one that fits.
            raise ServiceError(
                "ValidationException", f"A provisioned model named '{name}' already exists."
            )
        model = self._find_model(p["modelId"])
        commitment = p.get("commitmentDuration")
        quota = self.committed_unit_quota if commitment else self.no_commitment_unit_quota
        if p["modelUnits"] > quota:  # the account's quota, as AWS enforces it
            raise ServiceError(
                "ServiceQuotaExceededException",
                f"{p['modelUnits']} model units exceed the account's quota of {quota}",
            )
        now = self.clock.time()
        arn = self._arn("provisioned-model", _new_id())
        self._throughputs[arn] = {
            "provisionedModelArn": arn,
            "provisionedModelName": name,
            "modelArn": model["modelArn"],
            "desiredModelArn": model["modelArn"],
            "foundationModelArn": model["baseModelArn"],
            "modelUnits": p["modelUnits"],
            "desiredModelUnits": p["modelUnits"],
            "status": "Creating",
            "commitmentDuration": commitment,
            "commitmentExpirationTime": (
                now + _COMMITMENT_DAYS[commitment] * _DAY if commitment else None
            ),
            "creationTime": now,
            "lastModifiedTime": now,
            "_request": copy.deepcopy(p),
            "_token": token,
            "_created": now,
            "_duration": float(self.pt_duration),
            "_outcome": self.pt_outcome,
            "_failureMessage": self.pt_failure_message,
            "_update": None,
            "_tags": _tags_from(p.get("tags")),
        }
        return {"provisionedModelArn": arn}

    def _pt_name_taken(self, name: str, *, other_than: str | None = None) -> bool:
        return any(
            arn != other_than
            and name in (pt["provisionedModelName"], (pt["_update"] or {}).get("name"))
            for arn, pt in self._throughputs.items()
        )

    def _get_pt(self, p: Params) -> Record:
        return self._find_pt(p["provisionedModelId"])

    def _update_pt(self, p: Params) -> Record:
        pt = self._find_pt(p["provisionedModelId"])
        new_name = p.get("desiredProvisionedModelName")
        new_model = p.get("desiredModelId")
        if new_name is None and new_model is None:
            raise ServiceError(
                "ValidationException", "Give desiredProvisionedModelName or desiredModelId."
            )
        if pt["status"] != "InService":
            raise ServiceError(
                "ValidationException",
                f"Provisioned model '{pt['provisionedModelName']}' is {pt['status']}; "
                "only InService provisioned models can be updated.",
            )
        if new_name is not None and self._pt_name_taken(
            new_name, other_than=pt["provisionedModelArn"]
        ):
            raise ServiceError(
                "ValidationException", f"A provisioned model named '{new_name}' already exists."
            )
        desired_arn = pt["modelArn"]
        if new_model is not None:
            if _FOUNDATION_PREFIX.match(new_model) or (
                not new_model.startswith("arn:") and "." in new_model
            ):
                desired_arn = self._foundation_arn(_FOUNDATION_PREFIX.sub("", new_model, count=1))
                base_arn = desired_arn
            else:
                model = self._find_model(new_model)
                desired_arn, base_arn = model["modelArn"], model["baseModelArn"]
            if base_arn != pt["foundationModelArn"]:
                raise ServiceError(
                    "ValidationException",
                    f"desiredModelId '{new_model}' is not based on {pt['foundationModelArn']}; "
                    "a provisioned model can only switch to a model with the same base model.",
                )
        now = self.clock.time()
        pt.update(
            status="Updating",
            desiredModelArn=desired_arn,
            lastModifiedTime=now,
            _update={
                "at": now,
                "duration": float(self.pt_update_duration),
                "name": new_name if new_name is not None else pt["provisionedModelName"],
            },
        )
        return {}

    def _delete_pt(self, p: Params) -> Record:
        pt = self._find_pt(p["provisionedModelId"])
        expires = pt.get("commitmentExpirationTime")
        if expires is not None and self.clock.time() < expires:
            raise ServiceError(
                "ValidationException",
                f"Provisioned model '{pt['provisionedModelName']}' has a "
                f"{pt['commitmentDuration']} commitment that expires at {iso(expires)}; "
                "it cannot be deleted before the commitment term ends.",
            )
        del self._throughputs[pt["provisionedModelArn"]]
        return {}

    # ------------------------------------------------------------------ deployments

    def _create_deployment(self, p: Params) -> Record:
        token = p.get("clientRequestToken")
        for dep in self._deployments.values():
            if self._repeats(token, dep["_token"], dep["_created"]):
                return {"customModelDeploymentArn": dep["customModelDeploymentArn"]}
        name = p["modelDeploymentName"]
        if any(d["modelDeploymentName"] == name for d in self._deployments.values()):
            raise ServiceError(  # as for throughputs: no ConflictException is declared
                "ValidationException", f"A custom model deployment named '{name}' already exists."
            )
        model = self._find_model(p["modelArn"])
        now = self.clock.time()
        arn = self._arn("custom-model-deployment", _new_id())
        self._deployments[arn] = {
            "customModelDeploymentArn": arn,
            "modelDeploymentName": name,
            "modelArn": model["modelArn"],
            "description": p.get("description"),
            "status": "Creating",
            "createdAt": now,
            "lastUpdatedAt": now,
            "updateDetails": None,
            "_request": copy.deepcopy(p),
            "_token": token,
            "_created": now,
            "_duration": float(self.deployment_duration),
            "_outcome": self.deployment_outcome,
            "_failureMessage": self.deployment_failure_message,
            "_updateAt": None,
            "_updateDuration": None,
            "_tags": _tags_from(p.get("tags")),
        }
        return {"customModelDeploymentArn": arn}

    def _get_deployment(self, p: Params) -> Record:
        return self._find_deployment(p["customModelDeploymentIdentifier"])

    def _update_deployment(self, p: Params) -> Record:
        dep = self._find_deployment(p["customModelDeploymentIdentifier"])
        model = self._find_model(p["modelArn"])
        if dep["status"] != "Active" or (dep["updateDetails"] or {}).get("updateStatus") == (
            "Updating"
        ):
            raise ServiceError(
                "ValidationException",
                f"Deployment '{dep['modelDeploymentName']}' is {dep['status']}"
                f"{' and updating' if dep['status'] == 'Active' else ''}; "
                "only an Active deployment that is not updating can be updated.",
            )
        now = self.clock.time()
        dep.update(
            updateDetails={"modelArn": model["modelArn"], "updateStatus": "Updating"},
            lastUpdatedAt=now,
            _updateAt=now,
            _updateDuration=float(self.deployment_update_duration),
        )
        return {"customModelDeploymentArn": dep["customModelDeploymentArn"]}

    def _delete_deployment(self, p: Params) -> Record:
        dep = self._find_deployment(p["customModelDeploymentIdentifier"])
        del self._deployments[dep["customModelDeploymentArn"]]
        return {}

    # ------------------------------------------------------------------ listing

    def _list_jobs(self, p: Params) -> Record:
        """ListModelCustomizationJobs: the summary renames the output model's members."""
        jobs = self._filtered(
            self._jobs,
            p,
            name_key="jobName",
            time_key="creationTime",
            after="creationTimeAfter",
            before="creationTimeBefore",
        )
        summaries = [
            {
                "jobArn": job["jobArn"],
                "baseModelArn": job["baseModelArn"],
                "jobName": job["jobName"],
                "status": job["status"],
                "lastModifiedTime": job["lastModifiedTime"],
                "creationTime": job["creationTime"],
                "endTime": job.get("endTime"),
                "customModelArn": job.get("outputModelArn"),
                "customModelName": job["outputModelName"],
                "customizationType": job.get("customizationType"),
            }
            for job in jobs
        ]
        return self._page(
            "ListModelCustomizationJobs", "modelCustomizationJobSummaries", summaries, p
        )

    def _list_pts(self, p: Params) -> Record:
        pts = self._filtered(
            self._throughputs,
            p,
            name_key="provisionedModelName",
            time_key="creationTime",
            after="creationTimeAfter",
            before="creationTimeBefore",
        )
        if p.get("modelArnEquals"):
            pts = [pt for pt in pts if pt["modelArn"] == p["modelArnEquals"]]
        # The stored record already uses the summary's member names; render drops the rest.
        return self._page("ListProvisionedModelThroughputs", "provisionedModelSummaries", pts, p)

    def _list_deployments(self, p: Params) -> Record:
        deployments = self._filtered(
            self._deployments,
            p,
            name_key="modelDeploymentName",
            time_key="createdAt",
            after="createdAfter",
            before="createdBefore",
        )
        if p.get("modelArnEquals"):
            deployments = [d for d in deployments if d["modelArn"] == p["modelArnEquals"]]
        summaries = [
            {
                "customModelDeploymentArn": dep["customModelDeploymentArn"],
                "customModelDeploymentName": dep["modelDeploymentName"],
                "modelArn": dep["modelArn"],
                "createdAt": dep["createdAt"],
                "status": dep["status"],
                "lastUpdatedAt": dep["lastUpdatedAt"],
                "failureMessage": dep.get("failureMessage"),
            }
            for dep in deployments
        ]
        return self._page("ListCustomModelDeployments", "modelDeploymentSummaries", summaries, p)

    @staticmethod
    def _filtered(
        table: dict[str, Record],
        p: Params,
        *,
        name_key: str,
        time_key: str,
        after: str,
        before: str,
    ) -> list[Record]:
        """The records matching the common filters, sorted by creation time (newest first
        unless sortOrder is Ascending). Records created at the same instant keep their
        creation order, so "newest" is well defined even on a clock that stands still."""
        records = list(enumerate(table.values()))
        if p.get("nameContains"):
            records = [(i, r) for i, r in records if p["nameContains"] in r[name_key]]
        if p.get("statusEquals"):
            records = [(i, r) for i, r in records if r["status"] == p["statusEquals"]]
        for member, keep in (
            (after, lambda t, limit: t > limit),
            (before, lambda t, limit: t < limit),
        ):
            if p.get(member):
                limit = _epoch(member, p[member])
                records = [(i, r) for i, r in records if keep(r[time_key], limit)]
        records.sort(key=lambda item: (item[1][time_key], item[0]))
        if p.get("sortOrder", "Descending") == "Descending":
            records.reverse()
        return [r for _, r in records]

    def _page(self, operation: str, key: str, items: list[Record], p: Params) -> Record:
        """One page of `items`; nextToken is opaque to clients and bound to the operation."""
        start = _decode_token(operation, p["nextToken"]) if p.get("nextToken") else 0
        size = p.get("maxResults") or self.list_page_size
        page: Record = {key: items[start : start + size]}
        if start + size < len(items):
            page["nextToken"] = _encode_token(operation, start + size)
        return page

    # ------------------------------------------------------------------ STS (query protocol)

    def _handle_sts(self, body: bytes) -> _Response:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        action = form.pop("Action", "")
        form.pop("Version", None)
        fault = self._record(action or "<no Action>", form)
        if action not in ("AssumeRole", "GetCallerIdentity"):
            return _xml_error("NotImplemented", f"FakeBedrock does not implement STS {action!r}")
        if fault is not None:
            # Nothing in STS changes state here, so apply=True and apply=False look alike.
            return _xml_error(fault.error, _INJECTED_MESSAGES.get(fault.error, "injected"))
        if action == "GetCallerIdentity":
            result = (
                f"<Arn>arn:aws:iam::{self.account_id}:user/testing</Arn>"
                f"<UserId>AIDAFAKE{self.account_id}</UserId>"
                f"<Account>{self.account_id}</Account>"
            )
            return _xml_result(action, result)
        problem = self._assume_role_problem(form)
        if problem is not None:
            return _xml_error("ValidationError", problem)
        match = ROLE_ARN.fullmatch(form["RoleArn"])
        assert match is not None  # checked by assume_role_problem
        account, role_name = match.groups()
        session = form["RoleSessionName"]
        expires = self.clock.time() + int(form.get("DurationSeconds") or _DEFAULT_SESSION_SECONDS)
        suffix = secrets.token_hex(6).upper()
        with self._lock:
            self._issued_keys[f"ASIAFAKE{suffix}"] = expires
        result = (
            "<Credentials>"
            f"<AccessKeyId>ASIAFAKE{suffix}</AccessKeyId>"
            f"<SecretAccessKey>fake-secret-{secrets.token_hex(16)}</SecretAccessKey>"
            f"<SessionToken>fake-session-token-{secrets.token_hex(32)}</SessionToken>"
            f"<Expiration>{iso(expires)}</Expiration>"
            "</Credentials>"
            "<AssumedRoleUser>"
            f"<AssumedRoleId>AROAFAKE{suffix}:{escape(session)}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{escape(role_name)}/{escape(session)}</Arn>"
            "</AssumedRoleUser>"
            "<PackedPolicySize>0</PackedPolicySize>"
        )
        return _xml_result(action, result)

    def _assume_role_problem(self, form: dict[str, str]) -> str | None:
        """What STS would refuse in an AssumeRole request: the model's constraints, and a
        DurationSeconds above the role's MaxSessionDuration."""
        problem = assume_role_problem(form)
        if problem is not None:
            return problem
        duration = form.get("DurationSeconds")
        if duration is not None and int(duration) > self.role_max_session_duration:
            return "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        return None


def _epoch(member: str, value: str) -> float:
    """A querystring timestamp (botocore sends ISO 8601) as epoch seconds."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError as exc:
        raise ServiceError(
            "ValidationException", f"{member}: {value!r} is not an ISO 8601 timestamp"
        ) from exc


def _encode_token(operation: str, offset: int) -> str:
    raw = json.dumps({"operation": operation, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(operation: str, token: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        valid = data["operation"] == operation and isinstance(data["offset"], int)
    except (ValueError, TypeError, KeyError, binascii.Error):
        valid = False
    if not valid or data["offset"] < 0:
        raise ServiceError("ValidationException", f"Invalid pagination token for {operation}.")
    return data["offset"]


def _form_action(body: bytes) -> str:
    """The Action of a query-protocol form body ("" when none)."""
    return (parse_qs(body.decode(), keep_blank_values=True).get("Action") or [""])[0]


def _from_runtime(response: Any) -> _Response:
    """The runtime fake's response (same fields, another class) as this fake's."""
    return _Response(
        response.status,
        response.body,
        content_type=response.content_type,
        error_code=response.error_code,
    )


def _json_error(code: str, message: str) -> _Response:
    status = error_status().get(code, 400)
    return _Response(status, json.dumps({"message": message}).encode(), error_code=code)


def _xml_result(action: str, inner: str) -> _Response:
    body = (
        f'<{action}Response xmlns="{_STS_NS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return _Response(200, body.encode(), content_type="text/xml")


def _xml_error(code: str, message: str, status: int | None = None) -> _Response:
    if status is None:
        status = error_status().get(code, 400)
    fault_type = "Receiver" if status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>{fault_type}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return _Response(status, body.encode(), content_type="text/xml")


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive threads outlive a test.
    protocol_version = "HTTP/1.0"

    def _serve(self) -> None:
        fake: FakeBedrock = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            response = fake._handle_http(self.command, self.path, self.headers, body)
        except Exception:
            # A bug in the fake must surface in the test, not as a hung or empty response.
            response = _json_error(
                "InternalFailure", "FakeBedrock crashed:\n" + traceback.format_exc()
            )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if response.error_code:
            self.send_header("x-amzn-ErrorType", response.error_code)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; `calls` records every request


FakeBedrock.handler = _Handler
