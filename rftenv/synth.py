"""Offline synthesis: run the real `__main__.py` under Pulumi's mock runtime.

No Pulumi CLI, no cloud: the stack's config file is read the way the engine reads it, the
program registers its resources with an in-process mock monitor, and every registration
is recorded (type, name, parent, provider, inputs, mocked outputs). Mocked ids and ARNs
are deterministic and built from the stack's account, region and each resource's
physical name, so the result reads like a real deployment.

The JSON shape returned by `synthesize` is a stable interface (see ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import runpy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from rft_env.components.bedrock.common import from_engine
from rft_env.components.bedrock.evaluation import NO_MODEL_YET, RftEvaluationProvider
from rft_env.components.bedrock.inference import PENDING
from rft_env.components.bedrock.job import job_identity
from rft_env.components.naming import PROJECT, partition_for
from rft_env.rftenv import display
from rft_env.rftenv import pulumi_internals as internals
from rft_env.rftenv.project import project_root
from rft_env.rftenv.stack_files import SECRET, engine_config, project_settings

_ID_NAMESPACE = uuid.UUID("6f1d9a52-3c1e-4d5b-9a77-0e2a7c5d1f00")
# The promotion gate's status in synth once the job has a model: `pulumi up` would evaluate
# it then, which needs Bedrock. Synth-only (the provider never reports it): it claims no
# decision either way.
NOT_EVALUATED = "PendingEvaluation"


# --------------------------------------------------------------------------------------
# Deterministic mocks
# --------------------------------------------------------------------------------------
def _short_hash(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


STACK_REFERENCE = "pulumi:pulumi:StackReference"


class StackReferenceMissingError(LookupError):
    """The program reads another stack's outputs, which offline synthesis was not given."""

    def __init__(self, stack: str) -> None:
        super().__init__(
            f"the program reads the outputs of stack {stack}, which synth cannot reach "
            f"offline: give them with --stack-reference {stack}=FILE, FILE being what "
            f"`pulumi stack output --json --show-secrets --stack {stack}` prints"
        )
        self.stack = stack


class SynthMocks(pulumi.runtime.Mocks):
    """Mocked outputs that read like real ones: ARNs from account, region and names.
    `stack_references` holds the outputs of the stacks the program references, by name."""

    def __init__(
        self,
        account_id: str,
        region: str,
        stack_references: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.partition = partition_for(region)
        self.stack_references = dict(stack_references or {})
        self.missing_references: list[str] = []

    def _arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        state = dict(inputs)
        physical = str(inputs.get("name") or inputs.get("bucket") or name)
        if typ.startswith("pulumi:providers:"):
            return str(uuid.uuid5(_ID_NAMESPACE, f"{typ}/{name}")), state
        if typ == STACK_REFERENCE:
            stack = str(inputs.get("name") or name)
            if stack not in self.stack_references:
                # Raised from here, the SDK would bury it in a gRPC error: recorded, and
                # raised by synthesize() once the program has stopped.
                self.missing_references.append(stack)
                return stack, {**state, "outputs": {}, "secretOutputNames": []}
            outputs = dict(self.stack_references[stack])
            return stack, {**state, "outputs": outputs, "secretOutputNames": []}
        if typ == "aws:kms/key:Key":
            key_id = str(uuid.uuid5(_ID_NAMESPACE, f"{self.account_id}/{self.region}/key/{name}"))
            state.update(keyId=key_id, arn=self._arn("kms", f"key/{key_id}"))
            return key_id, state
        if typ == "aws:kms/alias:Alias":
            state.update(arn=self._arn("kms", physical), targetKeyArn=None)
            return physical, state
        if typ == "aws:s3/bucket:Bucket":
            state.update(
                arn=f"arn:{self.partition}:s3:::{physical}",
                bucketDomainName=f"{physical}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{physical}.s3.{self.region}.amazonaws.com",
                region=self.region,
            )
            return physical, state
        if typ == "aws:s3/bucketObjectv2:BucketObjectv2":
            key = str(inputs.get("key", name))
            state.update(
                arn=f"arn:{self.partition}:s3:::{inputs.get('bucket')}/{key}",
                versionId=_short_hash(str(inputs.get("bucket")), key, length=32),
            )
            return key, state
        if typ.startswith("aws:s3/"):
            # Bucket sub-resources are identified by their bucket, as in the provider.
            return str(inputs.get("bucket", physical)), state
        if typ == "aws:iam/role:Role":
            state.update(
                arn=f"arn:{self.partition}:iam::{self.account_id}:role/{physical}",
                uniqueId="AROA" + _short_hash(self.account_id, physical, length=17).upper(),
            )
            return physical, state
        if typ == "aws:iam/rolePolicy:RolePolicy":
            return f"{inputs.get('role')}:{physical}", state
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            state.update(arn=self._arn("logs", f"log-group:{physical}"))
            return physical, state
        if typ == "aws:lambda/function:Function":
            arn = self._arn("lambda", f"function:{physical}")
            state.update(
                arn=arn,
                qualifiedArn=f"{arn}:$LATEST",
                invokeArn=(
                    f"arn:{self.partition}:apigateway:{self.region}:lambda:path/2015-03-31"
                    f"/functions/{arn}/invocations"
                ),
                version="$LATEST",
            )
            return physical, state
        if typ == "aws:sns/topic:Topic":
            # The provider identifies a topic by its ARN.
            arn = self._arn("sns", physical)
            state.update(arn=arn, owner=self.account_id)
            return arn, state
        if typ == "aws:sns/topicPolicy:TopicPolicy":
            state.update(owner=self.account_id)
            return str(inputs.get("arn")), state
        if typ == "aws:sns/topicSubscription:TopicSubscription":
            # A secret endpoint (notificationEmails set as a secret) counts by its value,
            # as the stand-in provider of the engine tests counts it.
            topic = str(inputs.get("topic"))
            endpoint = str(internals.unwrap_secret(inputs.get("endpoint")))
            arn = f"{topic}:{uuid.uuid5(_ID_NAMESPACE, f'{topic}/{endpoint}')}"
            state.update(
                arn=arn,
                ownerId=self.account_id,
                pendingConfirmation=inputs.get("protocol") == "email",
            )
            return arn, state
        if typ == "aws:cloudwatch/eventRule:EventRule":
            # On the default bus the id is the rule's name.
            state.update(arn=self._arn("events", f"rule/{physical}"))
            return physical, state
        if typ == "aws:cloudwatch/eventTarget:EventTarget":
            return f"{inputs.get('rule')}-{inputs.get('targetId')}", state
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            state.update(arn=self._arn("cloudwatch", f"alarm:{physical}"))
            return physical, state
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            dashboard = str(inputs.get("dashboardName") or name)
            # Dashboards are global: no region in their ARN.
            state.update(
                dashboardArn=self._arn("cloudwatch", f"dashboard/{dashboard}", regional=False)
            )
            return dashboard, state
        if typ.startswith("pulumi-python:dynamic/bedrock:"):
            return self._bedrock(typ.rsplit(":", 1)[1], inputs, state)
        if typ.startswith("aws:"):
            service = typ.split(":")[1].split("/")[0]
            kind = typ.rsplit(":", 1)[-1].lower()
            state.setdefault("arn", self._arn(service, f"{kind}/{physical}"))
            return physical, state
        # Components have no physical id.
        return "", state

    def _bedrock(self, kind: str, inputs: dict, state: dict) -> tuple[str, dict]:
        """What the Bedrock providers would report: a waited-for job has Completed and
        has a model; an un-waited one is still running, so its inference is pending."""
        if kind == "RftCustomizationJob":
            token, job_name, model_name = job_identity(inputs)
            base = str(inputs["baseModelIdentifier"]).rsplit("/", 1)[-1]
            job_arn = self._arn("bedrock", f"model-customization-job/{base}/{token[12:24]}")
            done = bool((inputs.get("wait") or {}).get("enabled"))
            state.update(
                jobArn=job_arn,
                jobName=job_name,
                customModelName=model_name,
                clientRequestToken=token,
                status="Completed" if done else "InProgress",
                customModelArn=(
                    self._arn("bedrock", f"custom-model/{base}/{token[24:36]}") if done else ""
                ),
                failureMessage="",
            )
            return job_arn, state
        if kind == "RftEvaluation":
            return self._evaluation(inputs, state)
        model = inputs.get("modelId") if kind == "ProvisionedThroughput" else inputs.get("modelArn")
        resource = (
            "provisioned-model" if kind == "ProvisionedThroughput" else ("custom-model-deployment")
        )
        suffix = _short_hash(str(inputs.get("identity")), str(model))
        arn = self._arn("bedrock", f"{resource}/{suffix}") if model else ""
        arn_key = "provisionedModelArn" if kind == "ProvisionedThroughput" else "deploymentArn"
        ready = "InService" if kind == "ProvisionedThroughput" else "Active"
        served = "modelArn" if kind == "ProvisionedThroughput" else "deployedModelArn"
        state.update(
            {
                arn_key: arn,
                "status": ready if model else PENDING,
                served: model or "",
                "failureMessage": "",
                # A first deployment has no previous model to keep serving.
                "awaitingModel": False,
            }
        )
        return (arn or f"pending-{suffix}"), state

    def _evaluation(self, inputs: dict, state: dict) -> tuple[str, dict]:
        """The promotion gate before any evaluation. Without a model it is pending, as the
        provider reports it; with one, `pulumi up` would deploy and call both models, which
        synth cannot: no scores, no promotion, so no model for the throughput either way."""
        # Numbers arrive as floats (protobuf): 50 prompts, not 50.0.
        inputs = from_engine(inputs)
        if inputs.get("modelArn"):
            status = NOT_EVALUATED
            reason = (
                "not evaluated yet (synth runs offline): `pulumi up` compares the trained "
                f"model with {inputs.get('baseModelId')} on {inputs.get('samples')} held-out "
                "prompts, and creates the throughput only if it is promoted"
            )
        else:
            # The provider's own words while the job has no model.
            status, reason = PENDING, NO_MODEL_YET
        state.update(RftEvaluationProvider.unevaluated_outputs(status, reason))
        return RftEvaluationProvider.resource_id(inputs), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        # The program makes no provider calls; a bare dict (not a tuple with None) is what
        # the SDK's mock monitor accepts.
        return {}


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str
    protect: bool
    retain_on_delete: bool
    custom: bool
    id: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    # Which resources each input came from (what CrossGuard's stack policies link by).
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


class RecordingMonitor(internals.MockMonitor):
    """The SDK's mock monitor, plus what it does not keep: parents, providers, options,
    registration order and the stack's outputs."""

    mocks: SynthMocks

    def __init__(self, mocks: SynthMocks) -> None:
        super().__init__(mocks)
        self._thread_loops: list[asyncio.AbstractEventLoop] = []
        self.registrations: list[Registration] = []
        self.stack_urn = ""
        self.stack_outputs: dict[str, Any] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: a child's type is qualified by its parent's whole type
        chain (`A$B$C`), where the SDK's mock keeps only the parent's last type (the engine
        tests found synth's URNs wrong for every resource two levels down). Children of
        the root stack carry no parent type."""
        if parent and "::pulumi:pulumi:Stack::" not in parent:
            type_ = f"{parent.split('::')[2]}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def _own_thread_loop(self) -> None:
        """The SDK's monitor runs in executor threads and gives each an event loop that
        nobody closes; create those loops here so that `close` can close them."""
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._thread_loops.append(loop)

    def close(self) -> None:
        for loop in self._thread_loops:
            loop.close()
        self._thread_loops.clear()

    def Invoke(self, request: Any) -> Any:
        self._own_thread_loop()
        return super().Invoke(request)

    def RegisterResource(self, request: Any) -> Any:
        self._own_thread_loop()
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
        registration = self.resources[response.urn]
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                provider=request.provider,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                custom=bool(request.custom),
                id=registration.id or "",
                inputs=internals.deserialize_properties(request.object),
                outputs=registration.state,
                dependencies=sorted(set(request.dependencies)),
                property_dependencies={
                    key: sorted(set(deps.urns))
                    for key, deps in sorted(request.propertyDependencies.items())
                    if deps.urns
                },
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn == self.stack_urn:
            self.stack_outputs = internals.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


# --------------------------------------------------------------------------------------
# Running the program
# --------------------------------------------------------------------------------------
def _plain(value: Any, project_dir: Path) -> Any:
    """Make engine values JSON-friendly; assets become {"$asset": path, "sha256": ...}, and a
    secret (its value, or anything holding it) `[secret]`, as `pulumi preview` shows it."""
    if internals.is_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {
            k: _provider_marker(v) if k == "__provider" else _plain(v, project_dir)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v, project_dir) for v in value]
    if isinstance(value, pulumi.FileAsset):
        # Shown as the program gave it; relative paths resolve against the project
        # directory, which is the program's working directory under the engine.
        path = Path(str(value.path))
        digest = hashlib.sha256((project_dir / path).read_bytes()).hexdigest()
        return {"$asset": path.as_posix(), "sha256": digest}
    if isinstance(value, pulumi.StringAsset):
        return {"$asset": "string", "text": value.text}
    if isinstance(value, pulumi.AssetArchive):
        return {"$archive": {k: _plain(v, project_dir) for k, v in sorted(value.assets.items())}}
    if isinstance(value, pulumi.FileArchive):
        return {"$archive": str(value.path)}
    return value


def _provider_marker(serialized: Any) -> dict[str, Any]:
    """A dynamic resource's pickled provider, summarized: the blob itself says nothing to a
    reader, its size and hash say whether it changed."""
    text = str(serialized)
    return {"$provider": hashlib.sha256(text.encode()).hexdigest()[:16], "bytes": len(text)}


def _identity(config: Mapping[str, str]) -> tuple[str, str]:
    """Account and region for the mocks, read leniently: validation is the program's job."""
    account_id, region = "123456789012", "us-east-1"
    try:
        account = json.loads(config.get(f"{PROJECT}:account", "{}"))
        if isinstance(account, dict) and isinstance(account.get("id"), str):
            account_id = account["id"]
    except ValueError:
        pass
    region = config.get(f"{PROJECT}:region", region)
    return account_id, region


def run_program(
    stack: str,
    values: Mapping[str, str],
    monitor: RecordingMonitor,
    project_dir: Path | None = None,
    program: Path | None = None,
) -> None:
    """Run `program` (the project's `__main__.py` by default) for `stack` with engine-style
    config `values` (an EngineConfig's secret keys are passed on as secret), registering
    with `monitor`. Raises whatever the program raises (`pulumi.RunError` for invalid
    config)."""
    project_dir = project_root(project_dir)
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_unretrieved_exceptions_are_the_programs)
    asyncio.set_event_loop(loop)
    # The engine runs a program in its project directory; the program finds its files
    # (Pulumi.yaml, stacks/, data, custom graders) there.
    previous_cwd = os.getcwd()
    try:
        os.chdir(project_dir)
        # The mock monitor discards where each resource was declared: skip the stack walk.
        with internals.with_stack_traces_skipped():
            # The project's own name (a project built on the installed library has its
            # own); the library's config keys keep their `rft-env:` namespace whatever it is.
            project = project_settings(project_dir).get("name") or PROJECT
            pulumi.runtime.reset_options(project=project, stack=stack)
            # Secret keys as the engine passes them: the program keeps their values secret.
            secret_keys = sorted(getattr(values, "secret_keys", ()))
            pulumi.runtime.set_all_config(dict(values), secret_keys=secret_keys)
            pulumi.runtime.set_mocks(
                monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor
            )
            # set_mocks installs (and finishes) a root stack of its own; the program needs
            # a live one so that its exports are recorded, as under the engine.
            internals.start_without_root_stack()
            path = str(program or project_dir / "__main__.py")
            internals.run_program_in_stack(lambda: runpy.run_path(path, run_name="__main__"))
    finally:
        os.chdir(previous_cwd)
        _drain(loop)
        loop.close()
        monitor.close()
        asyncio.set_event_loop(None)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and settle what a failed program left running (the SDK's registrations and
    applies waiting on an output that raised), so nothing of it runs later."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _unretrieved_exceptions_are_the_programs(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    """The loop's exception handler while synth runs a program. When the program fails,
    the SDK leaves futures holding that same error, never awaited; when one is collected,
    asyncio's default handler logs it with a formatted traceback, at whatever moment that
    is. The error itself reaches synth's caller through run_in_stack, so these are dropped:
    formatting them inside a later `ast.parse` (Python 3.11 tracebacks parse source for
    their carets) broke it with "AST constructor recursion depth mismatch"."""
    if "exception" not in context:
        loop.default_exception_handler(context)


def synthesize(
    stack: str,
    project_dir: Path | None = None,
    *,
    config: Mapping[str, str] | None = None,
    program: Path | None = None,
    stack_references: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the program for `stack` under mocks and return the resource graph as data.

    `config` replaces the stack file's config (tests use it for variants of a stack; an
    EngineConfig's secret keys stay secret), and
    `program` the project's `__main__.py` (tests use it for a deliberately broken stack);
    relative asset paths still resolve against `project_dir`. `stack_references` gives
    the outputs of the stacks the program reads with `pulumi.StackReference`, by name;
    StackReferenceMissingError names one it reads and was not given.
    """
    project_dir = project_root(project_dir)
    values = engine_config(stack, project_dir) if config is None else config
    account_id, region = _identity(values)
    mocks = SynthMocks(account_id, region, stack_references)
    monitor = RecordingMonitor(mocks)
    try:
        run_program(stack, values, monitor, project_dir, program)
    finally:
        if mocks.missing_references:
            raise StackReferenceMissingError(mocks.missing_references[0])
    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "provider": r.provider,
            "protect": r.protect,
            "retainOnDelete": r.retain_on_delete,
            "id": r.id,
            "inputs": _plain(r.inputs, project_dir),
            "outputs": _plain(r.outputs, project_dir) if r.custom else {},
            "dependencies": r.dependencies,
            "propertyDependencies": r.property_dependencies,
        }
        for r in _tree_order(monitor.registrations)
    ]
    return {
        "stack": stack,
        "project": project_settings(project_dir).get("name") or PROJECT,
        "accountId": account_id,
        "region": region,
        "resources": resources,
        "archives": archive_contents(resources),
        "outputs": _plain(monitor.stack_outputs, project_dir),
    }


def archive_contents(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every file each asset archive input ships (a grader Lambda's `code`), so that a
    reviewer sees exactly what leaves the machine: [{urn, name, input, files}]."""
    return [
        {"urn": r["urn"], "name": r["name"], "input": key, "files": sorted(value["$archive"])}
        for r in resources
        for key, value in sorted(r["inputs"].items())
        if isinstance(value, dict) and isinstance(value.get("$archive"), dict)
    ]


def _tree_order(registrations: list[Registration]) -> list[Registration]:
    """Parents before children, siblings by type and name: stable whatever order the
    engine happened to complete registrations in."""
    children: dict[str | None, list[Registration]] = {}
    urns = {r.urn for r in registrations}
    for registration in registrations:
        parent = registration.parent if registration.parent in urns else None
        children.setdefault(parent, []).append(registration)
    ordered: list[Registration] = []

    def visit(parent: str | None) -> None:
        for child in sorted(
            children.get(parent, []),
            key=lambda r: (not r.type.startswith("pulumi:providers:"), r.custom, r.type, r.name),
        ):
            ordered.append(child)
            visit(child.urn)

    visit(None)
    return ordered


def _shows_secret(value: Any) -> bool:
    """Whether a JSON-friendly value (`_plain`'s) holds a secret, shown as `[secret]`."""
    if isinstance(value, dict):
        return any(_shows_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_shows_secret(v) for v in value)
    return value == SECRET


def _display_type(token: str) -> str:
    """A type token as `pulumi preview` shows it: `aws:s3/bucket:Bucket` is `aws:s3:Bucket`
    (the module's last segment only repeats the type's name); any other token as it is."""
    parts = token.split(":")
    if len(parts) != 3 or "/" not in parts[1]:
        return token
    module, _, last = parts[1].rpartition("/")
    if last != parts[2][:1].lower() + parts[2][1:]:
        return token
    return f"{parts[0]}:{module}:{parts[2]}"


def resource_counts(resources: list[dict[str, Any]]) -> dict[str, int]:
    """How many of `resources` are providers, components and (custom) resources. A custom
    resource is whatever has a physical id: every AWS resource, and the Bedrock ones that
    dynamic providers manage (`pulumi-python:dynamic/...`, the RFT job among them);
    components have none (SynthMocks gives them ""), whatever their type's package."""
    providers = sum(r["type"].startswith("pulumi:providers:") for r in resources)
    custom = sum(bool(r["id"]) for r in resources) - providers
    return {
        "resources": custom,
        "components": len(resources) - custom - providers,
        "providers": providers,
    }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_table(result: dict[str, Any]) -> str:
    """What `pulumi up` would create, as an indented tree: each resource's type and name,
    then (indented under it) its physical id and flags. Every line fits 80 columns; long
    ids are shortened in the middle (`--format json` has them whole)."""
    resources = result["resources"]
    by_urn = {r["urn"]: r for r in resources}
    width = display.WIDTH

    def depth(resource: dict[str, Any]) -> int:
        level, parent = 0, resource["parent"]
        while parent in by_urn:
            level, parent = level + 1, by_urn[parent]["parent"]
        return level

    counts = resource_counts(resources)
    lines = [
        *display.fill(
            f"rft-env stack '{result['stack']}' (account {result['accountId']}, region "
            f"{result['region']})"
        ),
        *display.fill(
            f"pulumi up would create {len(resources)} resources: "
            f"{_plural(counts['resources'], 'AWS resource')}, "
            f"{_plural(counts['components'], 'component')}, "
            f"{_plural(counts['providers'], 'provider')}"
        ),
        "",
        "TYPE  NAME",
        "    PHYSICAL ID [FLAGS]",
    ]
    for resource in resources:
        indent = "  " * depth(resource)
        flags = " [protected]" if resource["protect"] else ""
        flags += " [retained on delete]" if resource.get("retainOnDelete") else ""
        hidden = [key for key, value in sorted(resource["inputs"].items()) if _shows_secret(value)]
        flags += f" [secret: {', '.join(hidden)}]" if hidden else ""
        lines.append(_type_and_name(indent, _display_type(resource["type"]), resource["name"]))
        detail = f"{indent}    "
        if resource["id"]:
            room = width - len(detail) - len(flags)
            # A long flag list does not squeeze the id to nothing: it wraps below instead.
            if room >= 24 or len(detail + resource["id"]) + len(flags) <= width:
                lines.append(detail + display.shorten(resource["id"], max(room, 8)) + flags)
                continue
            lines.append(detail + display.shorten(resource["id"], width - len(detail)))
        if flags:
            lines += display.fill(detail + flags.strip(), width)
    if result.get("archives"):
        lines += ["", "Archives (every file: --format json):"]
    for archive in result.get("archives", []):
        folders: dict[str, int] = {}
        for path in archive["files"]:
            folder = path.split("/", 1)[0] + "/" if "/" in path else path
            folders[folder] = folders.get(folder, 0) + 1
        counts_text = ", ".join(f"{folder} {count}" for folder, count in sorted(folders.items()))
        lines += display.fill(
            f"  {archive['name']} {archive['input']}: {len(archive['files'])} files ({counts_text})"
        )
    lines += ["", "Outputs:"]
    for key, value in sorted(result["outputs"].items()):
        lines += _output_lines(key, value, "  ", width)
    if display.any_shortened(lines):
        lines += ["", display.SHORTENED_NOTE]
    return "\n".join(lines)


def _type_and_name(indent: str, type_: str, name: str, width: int = display.WIDTH) -> str:
    """`type  name`; when too long, the type is shortened first (the rows around it show
    the same types whole), then the name."""
    room = width - len(indent) - 2 - len(name)
    type_ = display.shorten(type_, max(room, 16))
    return display.shorten(f"{indent}{type_}  {name}", width)


def _output_lines(key: str, value: Any, indent: str, width: int) -> list[str]:
    """`key: value` on one line when it fits, else the value on the next line, indented;
    objects and arrays one entry a line, each by the same rule."""
    if isinstance(value, dict) and value:
        lines = [f"{indent}{key}:"]
        for inner, item in sorted(value.items()):
            lines += _output_lines(inner, item, indent + "  ", width)
        return lines
    if isinstance(value, list) and value:
        lines = [f"{indent}{key}:"]
        for item in value:
            shown = json.dumps(item, sort_keys=True) if isinstance(item, dict | list) else item
            lines.append(display.shorten(f"{indent}  - {shown}", width))
        return lines
    shown = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    line = f"{indent}{key}: {shown}".rstrip()
    if len(line) <= width:
        return [line]
    below = indent + "  "
    return [f"{indent}{key}:", *(below + part for part in display.wrap(shown, width - len(below)))]
