"""Inference for the job's custom model: provisioned throughput or an on-demand deployment.

Both can exist only once the job has produced a model. Until then (a job started without
`wait`), the resource is *pending*: create records a placeholder and calls no AWS API,
and the stack output says inference waits on the job. After the job completes,
`pulumi up --refresh` reads the model ARN into the job's state, the model input of the
inference resource changes from empty to that ARN, and an update turns the placeholder into
the real resource, with no config change. It is an update, not a replacement, so that a
committed throughput can be protected from its first `pulumi up`: the engine refuses to
replace a protected resource. An update cannot change a resource's id, so such a resource
keeps the placeholder's id, and every AWS call takes the ARN from its outputs.

A real resource is never replaced for its model, so a retrain never stops serving. While
the new job has no model (the input is empty, or unknown at preview) it keeps serving the
old one and reports `awaitingModel`; once the new model exists it is swapped in place
(UpdateProvisionedModelThroughput / UpdateCustomModelDeployment). The model it stops
serving, or still serves when it is deleted, is no longer any job's (the replaced job's
delete handed it over while it was served): it is deleted then, unless `retainModels`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from rft_env.components.bedrock.api import CREATE_DEPLOYMENT, CREATE_THROUGHPUT
from rft_env.components.bedrock.common import (
    PROVIDER_KEY,
    changed,
    client_token,
    delete_custom_model,
    from_engine,
    in_use,
    is_not_found,
    is_unknown,
    iso,
    model_servers,
    provider_moved,
    sync_tags,
    tag_list,
)
from rft_env.components.bedrock.session import Connection
from rft_env.components.bedrock.waiting import (
    CALL_POLICY,
    Clock,
    PollPolicy,
    SystemClock,
    WaitTimeout,
    call_with_retries,
    poll,
    wait_props,
)

PENDING = "PendingModel"


class InferenceError(RuntimeError):
    pass


def is_pending(props: dict[str, Any]) -> bool:
    return props.get("status") == PENDING


class _InferenceProvider(ResourceProvider):
    """What both inference providers share: pending placeholders, the clock, check."""

    serialize_as_secret_always = False
    inputs_model: str  # the name of its input model in components.bedrock.validation
    model_key: str  # the input holding the custom model ARN
    served_key: str  # the output holding the model it serves, as AWS reports it
    arn_key: str  # the output holding the resource's ARN
    output_keys: tuple[str, ...]
    replace_keys: tuple[str, ...]
    kind: str
    default_wait_seconds: float

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock

    @property
    def _clock(self) -> Clock:
        return self.clock or SystemClock()

    def _inputs(self, props: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in props.items() if k not in self.output_keys and k != "__provider"}

    def _policy(self, props: dict[str, Any]) -> PollPolicy:
        return PollPolicy.from_props(props.get("wait"), self.default_wait_seconds)

    def _call(self, call: Callable[[], Any], what: str) -> Any:
        """One read, update or delete, riding out throttling and 5xx beyond botocore's own
        attempts, as creates do (not-found and other refusals are raised at once)."""
        return call_with_retries(call, CALL_POLICY, self._clock, what=what)

    def _arn(self, id_: str, props: dict[str, Any]) -> str:
        """The ARN AWS knows the resource by: its id, unless it began as a placeholder."""
        return props.get(self.arn_key) or id_

    def _pending_result(self, props: dict[str, Any]) -> CreateResult:
        placeholder = f"pending-{client_token(self.kind, props['identity'])[:12]}"
        outputs: dict[str, Any] = dict.fromkeys(self.output_keys, "")
        outputs.update(status=PENDING, awaitingModel=False)
        return CreateResult(placeholder, {**self._inputs(props), **outputs})

    def _awaiting(self, props: dict[str, Any]) -> bool:
        """A real resource whose job has no model yet: it keeps serving the previous one."""
        return not is_pending(props) and not props.get(self.model_key)

    def _swap_due(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        """The job has a model (known) that the resource does not serve yet."""
        target = news.get(self.model_key)
        return bool(target) and not is_unknown(target) and target != olds.get(self.served_key)

    def _retire(
        self, client: Any, props: dict[str, Any], model: str | None, deleted: str = ""
    ) -> None:
        """Delete `model`, which this resource no longer serves (`deleted`: its own ARN, just
        deleted), if no job of the stack owns it any more and models are not retained."""
        if not model or props.get("retainModels") or model == props.get(self.model_key):
            return
        advice = (
            "it belonged to a replaced RFT job; delete or repoint what serves it, then delete "
            "the model (`aws bedrock delete-custom-model`)"
        )
        servers = [
            server
            for server in model_servers(client, model, CALL_POLICY, self._clock)
            if server.arn != deleted
        ]
        if servers:
            raise in_use(model, servers, advice)
        delete_custom_model(client, model, CALL_POLICY, self._clock, advice=advice)

    # The Create operation, its request (None while pending: nothing is sent), and which
    # input each request member comes from.
    operation: str
    request_sources: tuple[tuple[str, str], ...]

    def request(self, props: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = from_engine(news)
        # Imported here: only `check` needs the input models, and the program (and every
        # `rftenv synth`) imports this module without calling it.
        from rft_env.components.bedrock import validation

        failures = validation.check_with_request(
            getattr(validation, self.inputs_model),
            news,
            self.operation,
            self.request,
            self.request_sources,
        )
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        replaces = [key for key in self.replace_keys if changed(olds, news, key)]
        if changed(olds.get("connection") or {}, news.get("connection") or {}, "region"):
            replaces.append("connection")
        # A placeholder becomes the real resource by an update once the job has a model. A
        # real resource is never replaced for its model either: a new model is swapped in
        # place, and while the new job has none ("" or unknown) the current model keeps
        # serving.
        updates = [
            key
            for key in (self.model_key, "name", "tags", "wait", "connection", "retainModels")
            if changed(olds, news, key)
        ]
        if not is_pending(olds) and self._swap_due(olds, news):
            updates.append(self.model_key)
        if provider_moved(olds, news):
            updates.append(PROVIDER_KEY)
        # Names are reused by the replacement: the old resource must go first.
        return DiffResult(
            changes=bool(replaces or updates), replaces=replaces, delete_before_replace=True
        )

    def _leave_placeholder(self, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult | None:
        """Update of a placeholder: create the real resource once there is a model, else
        only record the new inputs. None for a real resource."""
        if not is_pending(olds):
            return None
        if self.request(news) is None:
            return UpdateResult(
                {**self._inputs(news), **{k: olds.get(k) for k in self.output_keys}}
            )
        return UpdateResult(self.create(news).outs)

    def _create_with(
        self, props: dict[str, Any], start: Callable[[Any], str], ready: Callable[[Any, str], Any]
    ) -> tuple[str, Any]:
        client = Connection.from_props(props).client(clock=self._clock)
        arn = call_with_retries(
            lambda: start(client), CALL_POLICY, self._clock, what=f"creating {props['name']}"
        )
        return arn, ready(client, arn)

    def _wait(
        self, fetch: Callable[[], dict], done: Callable[[dict], bool], props: dict, what: str
    ):
        policy = self._policy(props)
        try:
            return poll(fetch, done, policy, self._clock, what=what)
        except WaitTimeout as timeout:
            raise WaitTimeout(
                f"{what} is not ready (it is still being set up, and billed). Run `pulumi up` "
                "again to keep waiting: the same request is adopted through its client token",
                policy.timeout,
                timeout.last,
            ) from None


# ------------------------------------------------------------------------------------------
# Provisioned throughput
# ------------------------------------------------------------------------------------------
class ProvisionedThroughputProvider(_InferenceProvider):
    """Pickled by reference into state: keep this class at this module path."""

    inputs_model = "ThroughputInputs"
    model_key = "modelId"
    served_key = "modelArn"
    arn_key = "provisionedModelArn"
    output_keys = (
        "provisionedModelArn",
        "status",
        "modelArn",
        "commitmentExpirationTime",
        "failureMessage",
        "awaitingModel",
    )
    # Model units and commitment cannot change on AWS; name and model can.
    replace_keys = ("identity", "modelUnits", "commitment")
    kind = "provisioned-throughput"
    default_wait_seconds = 3600
    operation = CREATE_THROUGHPUT
    request_sources = (
        ("provisionedModelName", "name"),
        ("modelId", "modelId"),
        ("modelUnits", "modelUnits"),
        ("commitmentDuration", "commitment"),
        ("clientRequestToken", "identity"),
        ("tags", "tags"),
    )

    def request(self, props: dict[str, Any]) -> dict[str, Any] | None:
        """The CreateProvisionedModelThroughput request (pure); None while pending."""
        props = from_engine(props)
        if not props.get("modelId"):
            return None
        request: dict[str, Any] = {
            "provisionedModelName": props["name"],
            "modelId": props["modelId"],
            "modelUnits": props["modelUnits"],
            "clientRequestToken": client_token(
                self.kind,
                props["identity"],
                props["name"],
                props["modelId"],
                props["modelUnits"],
                props.get("commitment", "none"),
            ),
        }
        if props.get("commitment", "none") != "none":
            request["commitmentDuration"] = props["commitment"]
        if props.get("tags"):
            request["tags"] = tag_list(props["tags"])
        return request

    @staticmethod
    def _outputs(pt: dict[str, Any]) -> dict[str, Any]:
        return {
            "provisionedModelArn": pt["provisionedModelArn"],
            "status": pt.get("status"),
            "modelArn": pt.get("modelArn") or "",
            "commitmentExpirationTime": iso(pt.get("commitmentExpirationTime")) or "",
            "failureMessage": pt.get("failureMessage") or "",
        }

    def _get_pt(self, client: Any, arn: str) -> dict[str, Any]:
        return self._call(
            lambda: client.get_provisioned_model_throughput(provisionedModelId=arn),
            f"reading provisioned throughput {arn}",
        )

    def _ready(self, client: Any, arn: str, props: dict[str, Any]) -> dict[str, Any]:
        pt = self._wait(
            lambda: client.get_provisioned_model_throughput(provisionedModelId=arn),
            lambda pt: pt["status"] in ("InService", "Failed"),
            props,
            f"provisioned throughput {arn}",
        )
        if pt["status"] == "Failed":
            raise InferenceError(
                f"provisioned throughput {arn} failed: {pt.get('failureMessage') or 'no message'}"
            )
        return pt

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = from_engine(props)
        request = self.request(props)
        if request is None:
            return self._pending_result(props)
        arn, pt = self._create_with(
            props,
            lambda client: client.create_provisioned_model_throughput(**request)[
                "provisionedModelArn"
            ],
            lambda client, arn: self._ready(client, arn, props),
        )
        outputs = {**self._outputs(pt), "awaitingModel": False}
        return CreateResult(arn, {**self._inputs(props), **outputs})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = from_engine(props)
        if is_pending(props):
            return ReadResult(id_, props)
        client = Connection.from_props(props).client(clock=self._clock)
        try:
            pt = self._get_pt(client, self._arn(id_, props))
        except Exception as error:
            if is_not_found(error):
                return ReadResult(None, {})
            raise
        outputs = {**self._outputs(pt), "awaitingModel": self._awaiting(props)}
        return ReadResult(id_, {**self._inputs(props), **outputs})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        placeholder = self._leave_placeholder(olds, news)
        if placeholder is not None:
            return placeholder
        arn = self._arn(id_, olds)
        client = Connection.from_props(news).client(clock=self._clock)
        request: dict[str, Any] = {}
        if changed(olds, news, "name"):
            request["desiredProvisionedModelName"] = news["name"]
        if self._swap_due(olds, news):
            request["desiredModelId"] = news["modelId"]
        pt = None
        if request:
            self._call(
                lambda: client.update_provisioned_model_throughput(
                    provisionedModelId=arn, **request
                ),
                f"updating provisioned throughput {arn}",
            )
            pt = self._wait(
                lambda: client.get_provisioned_model_throughput(provisionedModelId=arn),
                lambda pt: (
                    pt["status"] in ("InService", "Failed")
                    and pt.get("modelArn") == pt.get("desiredModelArn", pt.get("modelArn"))
                ),
                news,
                f"updating provisioned throughput {arn}",
            )
        sync_tags(client, arn, olds.get("tags"), news.get("tags"))
        outputs = self._outputs(pt) if pt else {k: olds.get(k) for k in self.output_keys}
        outputs["awaitingModel"] = self._awaiting(news)
        if "desiredModelId" in request:
            self._retire(client, news, olds.get("modelArn"))
        return UpdateResult({**self._inputs(news), **outputs})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        if is_pending(props):
            return
        arn = self._arn(id_, props)
        client = Connection.from_props(props).client(clock=self._clock)
        try:
            pt = self._get_pt(client, arn)
        except Exception as error:
            if is_not_found(error):
                self._retire(client, props, props.get("modelArn"), deleted=arn)
                return
            raise
        expiry = pt.get("commitmentExpirationTime")
        if isinstance(expiry, datetime) and expiry.timestamp() > self._clock.time():
            raise InferenceError(
                f"provisioned throughput {arn} has a {pt.get('commitmentDuration')} commitment "
                f"that runs until {expiry.isoformat()}: AWS refuses to delete it before then. "
                "Keep it (it is protected), or remove it from the stack without deleting it: "
                f"`pulumi state delete` on its URN"
            )
        try:
            self._call(
                lambda: client.delete_provisioned_model_throughput(provisionedModelId=arn),
                f"deleting provisioned throughput {arn}",
            )
        except Exception as error:
            if not is_not_found(error):
                raise InferenceError(
                    f"deleting provisioned throughput {arn} failed: {error}"
                ) from error
        self._retire(client, props, pt.get("modelArn"), deleted=arn)


# ------------------------------------------------------------------------------------------
# On-demand custom model deployment
# ------------------------------------------------------------------------------------------
class CustomModelDeploymentProvider(_InferenceProvider):
    """Pickled by reference into state: keep this class at this module path."""

    inputs_model = "DeploymentInputs"
    model_key = "modelArn"
    served_key = "deployedModelArn"
    arn_key = "deploymentArn"
    output_keys = ("deploymentArn", "status", "deployedModelArn", "failureMessage", "awaitingModel")
    # The model can be swapped in place; name and description cannot change.
    replace_keys = ("identity", "name", "description")
    kind = "custom-model-deployment"
    default_wait_seconds = 3600
    operation = CREATE_DEPLOYMENT
    request_sources = (
        ("modelDeploymentName", "name"),
        ("modelArn", "modelArn"),
        ("description", "description"),
        ("clientRequestToken", "identity"),
        ("tags", "tags"),
    )

    def request(self, props: dict[str, Any]) -> dict[str, Any] | None:
        """The CreateCustomModelDeployment request (pure); None while pending."""
        props = from_engine(props)
        if not props.get("modelArn"):
            return None
        request: dict[str, Any] = {
            "modelDeploymentName": props["name"],
            "modelArn": props["modelArn"],
            "clientRequestToken": client_token(
                self.kind, props["identity"], props["name"], props["modelArn"]
            ),
        }
        if props.get("description"):
            request["description"] = props["description"]
        if props.get("tags"):
            request["tags"] = tag_list(props["tags"])
        return request

    @staticmethod
    def _outputs(deployment: dict[str, Any]) -> dict[str, Any]:
        return {
            "deploymentArn": deployment["customModelDeploymentArn"],
            "status": deployment.get("status"),
            "deployedModelArn": deployment.get("modelArn") or "",
            "failureMessage": deployment.get("failureMessage") or "",
        }

    def _get(self, client: Any, arn: str) -> dict[str, Any]:
        return client.get_custom_model_deployment(customModelDeploymentIdentifier=arn)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = from_engine(props)
        request = self.request(props)
        if request is None:
            return self._pending_result(props)

        def ready(client: Any, arn: str) -> dict[str, Any]:
            deployment = self._wait(
                lambda: self._get(client, arn),
                lambda d: d["status"] in ("Active", "Failed"),
                props,
                f"custom model deployment {arn}",
            )
            if deployment["status"] == "Failed":
                message = deployment.get("failureMessage") or "no message"
                raise InferenceError(f"custom model deployment {arn} failed: {message}")
            return deployment

        arn, deployment = self._create_with(
            props,
            lambda client: client.create_custom_model_deployment(**request)[
                "customModelDeploymentArn"
            ],
            ready,
        )
        outputs = {**self._outputs(deployment), "awaitingModel": False}
        return CreateResult(arn, {**self._inputs(props), **outputs})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = from_engine(props)
        if is_pending(props):
            return ReadResult(id_, props)
        arn = self._arn(id_, props)
        client = Connection.from_props(props).client(clock=self._clock)
        try:
            deployment = self._call(
                lambda: self._get(client, arn), f"reading custom model deployment {arn}"
            )
        except Exception as error:
            if is_not_found(error):
                return ReadResult(None, {})
            raise
        outputs = {**self._outputs(deployment), "awaitingModel": self._awaiting(props)}
        return ReadResult(id_, {**self._inputs(props), **outputs})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        placeholder = self._leave_placeholder(olds, news)
        if placeholder is not None:
            return placeholder
        arn = self._arn(id_, olds)
        client = Connection.from_props(news).client(clock=self._clock)
        deployment = None
        swapped = self._swap_due(olds, news)
        if swapped:
            self._call(
                lambda: client.update_custom_model_deployment(
                    customModelDeploymentIdentifier=arn, modelArn=news["modelArn"]
                ),
                f"swapping the model of deployment {arn}",
            )
            deployment = self._wait(
                lambda: self._get(client, arn),
                lambda d: (
                    (d.get("updateDetails") or {}).get("updateStatus")
                    in ("UpdateCompleted", "UpdateFailed")
                ),
                news,
                f"swapping the model of deployment {arn}",
            )
            if deployment["updateDetails"]["updateStatus"] == "UpdateFailed":
                message = deployment.get("failureMessage") or "no message"
                raise InferenceError(f"model swap of deployment {arn} failed: {message}")
        sync_tags(client, arn, olds.get("tags"), news.get("tags"))
        outputs = (
            self._outputs(deployment) if deployment else {k: olds.get(k) for k in self.output_keys}
        )
        outputs["awaitingModel"] = self._awaiting(news)
        if swapped:
            self._retire(client, news, olds.get("deployedModelArn"))
        return UpdateResult({**self._inputs(news), **outputs})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        if is_pending(props):
            return
        arn = self._arn(id_, props)
        client = Connection.from_props(props).client(clock=self._clock)
        try:
            self._call(
                lambda: client.delete_custom_model_deployment(customModelDeploymentIdentifier=arn),
                f"deleting custom model deployment {arn}",
            )
        except Exception as error:
            if not is_not_found(error):
                raise
        self._retire(client, props, props.get("deployedModelArn"), deleted=arn)


# ------------------------------------------------------------------------------------------
# Resources
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InferenceArgs:
    connection: Connection
    identity: str
    name: str
    model_arn: pulumi.Input[str]  # the job's custom model ARN ("" until it has one)
    tags: dict[str, str] = field(default_factory=dict)
    # Keep the models it stops serving (production: the jobs are retained too).
    retain_models: bool = False
    wait_timeout_seconds: int = 3600
    max_poll_seconds: float = 60
    # provisioned throughput only
    model_units: int = 1
    commitment: str = "none"
    # deployment only
    description: str | None = None

    def _common(self) -> dict[str, Any]:
        return {
            "connection": self.connection.to_props(),
            "identity": self.identity,
            "name": self.name,
            "tags": self.tags,
            "retainModels": self.retain_models,
            "wait": wait_props(self.wait_timeout_seconds, self.max_poll_seconds),
        }


class ProvisionedThroughput(Resource, module="bedrock", name="ProvisionedThroughput"):
    provisionedModelArn: pulumi.Output[str]
    status: pulumi.Output[str]
    modelArn: pulumi.Output[str]
    commitmentExpirationTime: pulumi.Output[str]
    failureMessage: pulumi.Output[str]
    awaitingModel: pulumi.Output[bool]

    def __init__(
        self, name: str, args: InferenceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {
            **args._common(),
            "modelId": args.model_arn,
            "modelUnits": args.model_units,
            "commitment": args.commitment,
            **dict.fromkeys(ProvisionedThroughputProvider.output_keys),
        }
        super().__init__(ProvisionedThroughputProvider(), name, props, opts)


class CustomModelDeployment(Resource, module="bedrock", name="CustomModelDeployment"):
    deploymentArn: pulumi.Output[str]
    status: pulumi.Output[str]
    deployedModelArn: pulumi.Output[str]
    failureMessage: pulumi.Output[str]
    awaitingModel: pulumi.Output[bool]

    def __init__(
        self, name: str, args: InferenceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {
            **args._common(),
            "modelArn": args.model_arn,
            "description": args.description,
            **dict.fromkeys(CustomModelDeploymentProvider.output_keys),
        }
        super().__init__(CustomModelDeploymentProvider(), name, props, opts)
