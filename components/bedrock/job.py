"""RftCustomizationJob: a Bedrock reinforcement fine-tuning job as a Pulumi resource.

Lifecycle (see the README, "The RFT job"):

- create: CreateModelCustomizationJob with a client token derived from the resource's
  identity and everything that defines the training run. A run that crashed after the
  request was sent sends the same token again and adopts the same job, never a second
  paid one. Job and model names carry the token, so a replacement gets new names (names
  can never be reused on AWS). With `wait.enabled`, create returns only once the job has
  Completed, and raises with the ARN and failure message if it Failed or was Stopped.
- read (refresh): status, model ARN and metrics; a job or model that is gone reads as gone.
- diff: anything that defines the run replaces the job; tags update in place; the wait
  settings and credentials change nothing on AWS.
- delete: stops a running job, waits until it has ended (a stop can lose the race with
  completion), and deletes the custom model it produced. A model something still serves is
  never deleted: when that is the stack's own inference (a retrain whose new job has no
  model yet), the inference takes the model over and deletes it after swapping; anything
  else makes delete fail, naming it. `retain_on_delete` (production) keeps job and model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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

from rft_env.components import naming
from rft_env.components.bedrock.api import CREATE_JOB
from rft_env.components.bedrock.common import (
    PROVIDER_KEY,
    changed,
    client_token,
    delete_custom_model,
    from_engine,
    in_use,
    is_conflict,
    is_not_found,
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

# Everything that defines the training run: a change to any of these is a new job.
TRAINING_KEYS = (
    "identity",
    "revision",
    "namePrefix",
    "baseModelIdentifier",
    "serviceRoleArn",
    "trainingDataUri",
    "validationDataUri",
    "outputDataUri",
    "graderArn",
    "hyperParameters",
    "kmsKeyId",
    "vpcConfig",
)
OUTPUT_KEYS = (
    "jobArn",
    "jobName",
    "customModelName",
    "clientRequestToken",
    "status",
    "customModelArn",
    "failureMessage",
    "trainingMetrics",
    "validationMetrics",
    "creationTime",
    "endTime",
)
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
# Which input each member of the request comes from, for `check`'s failures.
REQUEST_SOURCES = (
    ("jobName", "namePrefix"),
    ("customModelName", "namePrefix"),
    ("roleArn", "serviceRoleArn"),
    ("clientRequestToken", "identity"),
    ("baseModelIdentifier", "baseModelIdentifier"),
    ("customizationConfig.rftConfig.graderConfig", "graderArn"),
    ("customizationConfig.rftConfig.hyperParameters", "hyperParameters"),
    ("trainingDataConfig", "trainingDataUri"),
    ("validationDataConfig", "validationDataUri"),
    ("outputDataConfig", "outputDataUri"),
    ("customModelKmsKeyId", "kmsKeyId"),
    ("vpcConfig", "vpcConfig"),
    ("jobTags", "jobTags"),
    ("customModelTags", "modelTags"),
)
DEFAULT_WAIT_SECONDS = 24 * 3600  # jobs "can take several hours"
# Creating, stopping and deleting retry throttling for up to five minutes (CALL_POLICY).
# How long `delete` waits for a stopped job to end. AWS documents no duration for
# Stopping (UNCONFIRMED, README): an hour, then delete fails naming the job.
STOP_WAIT = PollPolicy(timeout=3600, initial=5, cap=60)


class JobFailedError(RuntimeError):
    """The job ended without a model (Failed or Stopped), or its model is gone."""


def training_definition(props: dict[str, Any]) -> dict[str, Any]:
    # Normalised here, so every caller (the provider, `rftenv synth`, status lookups) hashes
    # the values the provider sends: integers, not the engine's doubles (2, not 2.0).
    props = from_engine(props)
    definition = {key: props.get(key) for key in TRAINING_KEYS}
    definition["region"] = (props.get("connection") or {}).get("region")
    return definition


def job_identity(props: dict[str, Any]) -> tuple[str, str, str]:
    """(client token, job name, model name), all derived from the training definition."""
    token = client_token("rft-customization-job", training_definition(props))
    prefix, suffix = props["namePrefix"], naming.job_suffix(token)
    return token, naming.job_name(prefix, suffix), naming.custom_model_name(prefix, suffix)


def create_request(props: dict[str, Any]) -> dict[str, Any]:
    """The CreateModelCustomizationJob request for these inputs (pure), exactly as `create`
    sends it, whether the inputs come from the engine (numbers as doubles) or not."""
    props = from_engine(props)
    token, job_name, model_name = job_identity(props)
    request: dict[str, Any] = {
        "jobName": job_name,
        "customModelName": model_name,
        "roleArn": props["serviceRoleArn"],
        "clientRequestToken": token,
        "baseModelIdentifier": props["baseModelIdentifier"],
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "customizationConfig": {
            "rftConfig": {
                "graderConfig": {"lambdaGrader": {"lambdaArn": props["graderArn"]}},
                "hyperParameters": dict(props["hyperParameters"]),
            }
        },
        "trainingDataConfig": {"s3Uri": props["trainingDataUri"]},
        "outputDataConfig": {"s3Uri": props["outputDataUri"]},
    }
    if props.get("validationDataUri"):
        request["validationDataConfig"] = {"validators": [{"s3Uri": props["validationDataUri"]}]}
    if props.get("kmsKeyId"):
        request["customModelKmsKeyId"] = props["kmsKeyId"]
    if props.get("vpcConfig"):
        vpc = props["vpcConfig"]
        request["vpcConfig"] = {
            "subnetIds": list(vpc["subnetIds"]),
            "securityGroupIds": list(vpc["securityGroupIds"]),
        }
    if props.get("jobTags"):
        request["jobTags"] = tag_list(props["jobTags"])
    if props.get("modelTags"):
        request["customModelTags"] = tag_list(props["modelTags"])
    return request


def job_outputs(job: dict[str, Any]) -> dict[str, Any]:
    """The resource outputs for a GetModelCustomizationJob response."""
    completed = job.get("status") == "Completed"
    return {
        "jobArn": job["jobArn"],
        "jobName": job.get("jobName"),
        "customModelName": job.get("outputModelName"),
        "clientRequestToken": job.get("clientRequestToken"),
        "status": job.get("status"),
        # Only a completed job has a usable model.
        "customModelArn": (job.get("outputModelArn") or "") if completed else "",
        "failureMessage": job.get("failureMessage") or "",
        "trainingMetrics": job.get("trainingMetrics") or {},
        "validationMetrics": job.get("validationMetrics") or [],
        "creationTime": iso(job.get("creationTime")),
        "endTime": iso(job.get("endTime")),
    }


def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in OUTPUT_KEYS and k != "__provider"}


def _describe_end(job: dict[str, Any]) -> str:
    message = job.get("failureMessage") or "no failure message"
    return f"RFT job {job['jobArn']} ended {job.get('status')}: {message}"


class RftCustomizationJobProvider(ResourceProvider):
    """Pickled by reference into state: keep this class at this module path."""

    # Nothing secret is captured: the provider object holds at most a test clock.
    serialize_as_secret_always = False

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock

    @property
    def _clock(self) -> Clock:
        return self.clock or SystemClock()

    # --- check / diff -------------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = from_engine(news)
        # Imported here: only `check` needs the input models, and the program (and every
        # `rftenv synth`) imports this module without calling it.
        from rft_env.components.bedrock.validation import JobInputs, check_with_request

        failures = check_with_request(JobInputs, news, CREATE_JOB, create_request, REQUEST_SOURCES)
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        replaces = [key for key in TRAINING_KEYS if changed(olds, news, key)]
        old_connection, new_connection = olds.get("connection") or {}, news.get("connection") or {}
        if changed(old_connection, new_connection, "region"):
            replaces.append("connection")
        # Tags change in place; wait settings and credentials are stored, nothing more.
        updates = [
            key
            for key in ("jobTags", "modelTags", "wait", "connection")
            if changed(olds, news, key)
        ]
        if provider_moved(olds, news):
            updates.append(PROVIDER_KEY)
        return DiffResult(changes=bool(replaces or updates), replaces=replaces)

    # --- create -------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        props = from_engine(props)
        client = Connection.from_props(props).client(clock=self._clock)
        request = create_request(props)
        job_arn = call_with_retries(
            lambda: self._start(client, request),
            CALL_POLICY,
            self._clock,
            what=f"starting RFT job {request['jobName']}",
        )
        job = self._get(client, job_arn)
        self._refuse_dead_job(client, job)
        wait = props.get("wait") or {}
        if wait.get("enabled") and job["status"] not in TERMINAL:
            job = self._wait(client, job_arn, PollPolicy.from_props(wait, DEFAULT_WAIT_SECONDS))
            if job["status"] != "Completed":
                raise JobFailedError(_describe_end(job))
        return CreateResult(job_arn, {**_inputs(props), **job_outputs(job)})

    def _get(self, client: Any, job: str) -> dict[str, Any]:
        """GetModelCustomizationJob, riding out throttling storms (not-found is raised)."""
        return call_with_retries(
            lambda: client.get_model_customization_job(jobIdentifier=job),
            CALL_POLICY,
            self._clock,
            what=f"reading RFT job {job}",
        )

    def _start(self, client: Any, request: dict[str, Any]) -> str:
        try:
            return client.create_model_customization_job(**request)["jobArn"]
        except Exception as error:
            if not is_conflict(error):
                raise
            # The name is taken: ours from an earlier attempt (same token), or someone else's.
            existing = self._get(client, request["jobName"])
            if existing.get("clientRequestToken") == request["clientRequestToken"]:
                return existing["jobArn"]
            raise

    def _refuse_dead_job(self, client: Any, job: dict[str, Any]) -> None:
        """An adopted job that can no longer produce a model is not silently reused."""
        hint = "fix the cause, then bump rft-env:job.revision to start a new job"
        if job["status"] in ("Failed", "Stopped", "Stopping"):
            raise JobFailedError(f"{_describe_end(job)}; {hint}")
        if job["status"] == "Completed" and not self._model_exists(client, job):
            raise JobFailedError(
                f"RFT job {job['jobArn']} completed, but its custom model "
                f"{job.get('outputModelArn')} no longer exists; {hint}"
            )

    def _until_ended(self, client: Any, job_arn: str, policy: PollPolicy) -> dict[str, Any]:
        """The job once it is Completed, Failed or Stopped; WaitTimeout at the deadline."""
        return poll(
            lambda: client.get_model_customization_job(jobIdentifier=job_arn),
            lambda job: job["status"] in TERMINAL,
            policy,
            self._clock,
            what=f"RFT job {job_arn}",
        )

    def _wait(self, client: Any, job_arn: str, policy: PollPolicy) -> dict[str, Any]:
        try:
            return self._until_ended(client, job_arn, policy)
        except WaitTimeout as timeout:
            status = (timeout.last or {}).get("status", "unknown")  # type: ignore[union-attr]
            raise WaitTimeout(
                f"RFT job {job_arn} is still {status} (it keeps running and is billed). Run "
                "`pulumi up` again to keep waiting: the same job is adopted through its client "
                "token. Or set rft-env:job.wait to false",
                policy.timeout,
                timeout.last,
            ) from None

    def _model_exists(self, client: Any, job: dict[str, Any]) -> bool:
        model_arn = job.get("outputModelArn")
        if not model_arn:
            return False
        try:
            call_with_retries(
                lambda: client.get_custom_model(modelIdentifier=model_arn),
                CALL_POLICY,
                self._clock,
                what=f"reading custom model {model_arn}",
            )
        except Exception as error:
            if is_not_found(error):
                return False
            raise
        return True

    # --- read ---------------------------------------------------------------------------
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = from_engine(props)
        client = Connection.from_props(props).client(clock=self._clock)
        try:
            job = self._get(client, id_)
        except Exception as error:
            if is_not_found(error):
                return ReadResult(None, {})
            raise
        if job.get("status") == "Completed" and not self._model_exists(client, job):
            return ReadResult(None, {})  # the model it produced was deleted: gone
        outputs = {**_inputs(props), **job_outputs(job)}
        # The tags as they are on AWS, so the next diff sees any difference from the program
        # and `update` applies it. This is how tags changed while the job ran reach the
        # model: it did not exist then, so `update` could not tag it.
        outputs["jobTags"] = self._tags(client, job["jobArn"])
        if outputs["customModelArn"]:
            outputs["modelTags"] = self._tags(client, outputs["customModelArn"])
        return ReadResult(id_, outputs)

    def _tags(self, client: Any, arn: str) -> dict[str, str]:
        response = call_with_retries(
            lambda: client.list_tags_for_resource(resourceARN=arn),
            CALL_POLICY,
            self._clock,
            what=f"reading the tags of {arn}",
        )
        return {tag["key"]: tag["value"] for tag in response.get("tags") or []}

    # --- update (tags only) -------------------------------------------------------------
    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        client = Connection.from_props(news).client(clock=self._clock)
        sync_tags(client, id_, olds.get("jobTags"), news.get("jobTags"))
        if olds.get("customModelArn"):
            sync_tags(client, olds["customModelArn"], olds.get("modelTags"), news.get("modelTags"))
        outputs = {key: olds.get(key) for key in OUTPUT_KEYS}
        return UpdateResult({**_inputs(news), **outputs})

    # --- delete -------------------------------------------------------------------------
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Stop the job if it runs, wait until it has ended (it may complete meanwhile and
        produce a model), then delete the model it produced unless something serves it."""
        props = from_engine(props)
        client = Connection.from_props(props).client(clock=self._clock)
        try:
            job: dict[str, Any] | None = self._get(client, id_)
        except Exception as error:
            if not is_not_found(error):
                raise
            job = None
        if job is not None and job.get("status") not in TERMINAL:
            if job.get("status") == "InProgress":
                self._stop(client, id_)
            job = self._wait_until_ended(client, job, props)
        completed = job is not None and job.get("status") == "Completed"
        model_arn = (job or {}).get("outputModelArn") if completed else props.get("customModelArn")
        if not model_arn:
            return  # a Stopped or Failed job produced no model
        servers = model_servers(client, model_arn, CALL_POLICY, self._clock)
        own = naming.inference_names(props["namePrefix"])
        if servers and all(server.name in own for server in servers):
            # Replaced while the stack's own inference still serves this model (a retrain
            # whose new job has no model yet): serving must not stop. The inference keeps the
            # model and deletes it once it has swapped to the new one (bedrock.inference).
            return
        advice = (
            "delete or repoint what serves it, then run `pulumi destroy` (or `pulumi up`) "
            "again; or keep the model with retain_on_delete (production stacks do)"
        )
        if servers:
            raise in_use(model_arn, servers, advice)
        delete_custom_model(client, model_arn, CALL_POLICY, self._clock, advice=advice)

    def _stop(self, client: Any, job_arn: str) -> None:
        try:
            call_with_retries(
                lambda: client.stop_model_customization_job(jobIdentifier=job_arn),
                CALL_POLICY,
                self._clock,
                what=f"stopping RFT job {job_arn}",
            )
        except Exception as error:
            if not is_conflict(error):  # it ended or began stopping meanwhile
                raise

    def _wait_until_ended(
        self, client: Any, job: dict[str, Any], props: dict[str, Any]
    ) -> dict[str, Any]:
        """Poll until the job is Completed, Failed or Stopped. A stop can lose the race with
        completion, and then the job has produced a model that must be deleted too."""
        job_arn = job["jobArn"]
        try:
            return self._until_ended(client, job_arn, STOP_WAIT)
        except WaitTimeout as timeout:
            status = (timeout.last or job).get("status", "unknown")  # type: ignore[union-attr]
            model = job.get("outputModelName") or props.get("customModelName") or "its model"
            raise JobFailedError(
                f"RFT job {job_arn} is still {status} after {STOP_WAIT.timeout:g} s of waiting "
                f"for it to stop, so nothing was deleted: if it completes, its custom model "
                f"{model} is left on AWS and billed. Run `pulumi destroy` (or `pulumi up`) "
                "again to keep waiting"
            ) from None


@dataclass(frozen=True)
class RftCustomizationJobArgs:
    connection: Connection
    identity: str  # project/stack/resource: part of the client token
    name_prefix: str
    base_model: str
    service_role_arn: pulumi.Input[str]
    training_data_uri: pulumi.Input[str]
    output_data_uri: pulumi.Input[str]
    grader_arn: pulumi.Input[str]
    hyper_parameters: dict[str, Any]
    validation_data_uri: pulumi.Input[str] | None = None
    kms_key_id: pulumi.Input[str] | None = None
    # Empty: no VPC. Outputs of another stack are welcome.
    subnet_ids: pulumi.Input[Sequence[str]] = ()
    security_group_ids: pulumi.Input[Sequence[str]] = ()
    job_tags: dict[str, str] = field(default_factory=dict)
    model_tags: dict[str, str] = field(default_factory=dict)
    revision: int = 1
    wait: bool = False
    wait_timeout_seconds: int = DEFAULT_WAIT_SECONDS
    max_poll_seconds: float = 300

    def to_props(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "connection": self.connection.to_props(),
            "identity": self.identity,
            "revision": self.revision,
            "namePrefix": self.name_prefix,
            "baseModelIdentifier": self.base_model,
            "serviceRoleArn": self.service_role_arn,
            "trainingDataUri": self.training_data_uri,
            "validationDataUri": self.validation_data_uri,
            "outputDataUri": self.output_data_uri,
            "graderArn": self.grader_arn,
            "hyperParameters": self.hyper_parameters,
            "kmsKeyId": self.kms_key_id,
            "vpcConfig": {"subnetIds": self.subnet_ids, "securityGroupIds": self.security_group_ids}
            if self.subnet_ids
            else None,
            "jobTags": self.job_tags,
            "modelTags": self.model_tags,
            "wait": {
                "enabled": self.wait,
                **wait_props(self.wait_timeout_seconds, self.max_poll_seconds),
            },
        }
        return props


class RftCustomizationJob(Resource, module="bedrock", name="RftCustomizationJob"):
    """Type token `pulumi-python:dynamic/bedrock:RftCustomizationJob`."""

    jobArn: pulumi.Output[str]
    jobName: pulumi.Output[str]
    customModelName: pulumi.Output[str]
    clientRequestToken: pulumi.Output[str]
    status: pulumi.Output[str]
    customModelArn: pulumi.Output[str]
    failureMessage: pulumi.Output[str]
    trainingMetrics: pulumi.Output[dict]
    validationMetrics: pulumi.Output[list]
    creationTime: pulumi.Output[str]
    endTime: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: RftCustomizationJobArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {**args.to_props(), **dict.fromkeys(OUTPUT_KEYS)}
        super().__init__(RftCustomizationJobProvider(), name, props, opts)
