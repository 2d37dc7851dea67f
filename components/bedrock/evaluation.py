"""RftEvaluation: the promotion gate between the RFT job's model and provisioned throughput.

Provisioned throughput bills by the hour, so with `inference.promotion` the trained model is
first evaluated against its base model (components.evaluation): it is served through an
on-demand custom model deployment (billed per token), the held-out prompts go to both
models by Converse (components.bedrock.converse), and the answers are graded locally by the
job's grader and the guard graders. The result is stored in state, and `promotedModelArn`
is the model ARN when the gate passed, else "". The throughput takes that as its model:
"" leaves it a placeholder (or, already serving an earlier promoted model, keeps it
serving that one), exactly as while the job has no model (bedrock.inference).

- Pending: while the job has no model (`modelArn` ""), nothing is called, as with the
  inference placeholders.
- An evaluation is one create or update. Only what changes the scores re-evaluates: the
  model, the data (its sha256), the number of samples, the graders, the base model or
  maxTokens. A new minRewardGain, or fewer guard graders, is decided again from the stored
  report, without calling any model.
- An evaluation that cannot complete (the deployment vanished, too many failed calls)
  raises: nothing is stored, so no throughput is created and the next `pulumi up`
  evaluates again. The deployment it made is removed either way, unless `keepDeployment`.
- Each evaluation publishes one message to the stack's SNS topic; a failed publish is
  recorded in `notification`, never fatal (the decision is what counts).

The evaluation deployment is driven through CustomModelDeploymentProvider (its create,
update and delete, with `retainModels`: the gate never deletes a model; the job and the
inference own them).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from rft_env.components.bedrock.api import CREATE_DEPLOYMENT
from rft_env.components.bedrock.common import (
    PROVIDER_KEY,
    canonical,
    changed,
    client_token,
    from_engine,
    is_unknown,
    json_safe,
    provider_moved,
)
from rft_env.components.bedrock.inference import (
    PENDING,
    CustomModelDeploymentProvider,
    is_pending,
)
from rft_env.components.bedrock.session import Connection
from rft_env.components.bedrock.waiting import (
    CALL_POLICY,
    Clock,
    PollPolicy,
    SystemClock,
    call_with_retries,
    poll,
    wait_props,
)

PROMOTED = "Promoted"
# The reason while the job has no model (pending).
NO_MODEL_YET = "the RFT job has no model yet"
NOT_PROMOTED = "NotPromoted"
BASELINE_LABEL = "base"
CANDIDATE_LABEL = "trained"
# SNS takes a Subject "less than 100 characters long", without line breaks or control
# characters (botocore's `sns` model, Publish); printable ASCII is the safe reading.
SUBJECT_LIMIT = 99

OUTPUT_KEYS = (
    "status",
    "promoted",
    "promotedModelArn",
    "reason",
    "summary",
    "report",
    "evaluatedModelArn",
    "evaluatedGraders",
    "deploymentArn",
    "evaluatedAt",
    "notification",
)
# Inputs that change the scores: a change of any of them is a new evaluation (`graders` is
# compared against what the stored report covers, see `_needs_evaluation`).
EVALUATION_KEYS = ("modelArn", "datasetSha256", "samples", "baseModelId", "maxTokens")
# Where the evaluation deployment is: a change means the kept one cannot be reused.
DEPLOYMENT_KEYS = ("deploymentName", "identity")
# Inputs the diff ignores: the absolute project directory differs per checkout, and a
# checkout elsewhere must not show as a change.
IGNORED_KEYS = ("projectDir",)
# Report keys whose values are numbers that may be NaN (no usable reward): state is JSON,
# which has no NaN, so they are stored as null and restored when deciding again.
_NUMBER_KEYS = frozenset({"mean", "gain", "interval", "p50", "p95"})


class EvaluationError(RuntimeError):
    """The evaluation could not complete; nothing was stored."""


# ------------------------------------------------------------------------- pure helpers


def restore_report(value: Any, key: str | None = None) -> Any:
    """A stored report as `evaluate` made it: the numbers stored as null are NaN again."""
    if isinstance(value, dict):
        return {k: restore_report(item, k) for k, item in value.items()}
    if isinstance(value, list):
        return [restore_report(item, key) for item in value]
    if value is None and key in _NUMBER_KEYS:
        return math.nan
    return value


def grader_order(graders: Mapping[str, Any], primary: str, guards: Sequence[str]) -> list[str]:
    """The graders in report order: the job's grader first, then the guards, then the rest.
    (The engine hands maps over unordered, so order is not taken from `graders` itself.)"""
    rest = [name for name in guards if name in graders and name != primary]
    return [primary, *rest, *sorted(set(graders) - {primary, *rest})]


def summarize(report: Mapping[str, Any], guard_graders: Sequence[str]) -> dict[str, Any]:
    """The small, JSON-ready gist of a report: what the stack output and the message show."""
    primary = report["primaryGrader"]
    comparison = report["comparison"]
    pair = comparison["graders"][primary]
    by_label = {m["label"]: m["graders"][primary] for m in report["models"]}
    return json_safe(
        {
            "primaryGrader": primary,
            "baselineMean": by_label[comparison["baseline"]]["mean"],
            "candidateMean": by_label[comparison["candidate"]]["mean"],
            "gain": pair["gain"],
            "interval": list(pair["interval"]),
            "wins": pair["wins"],
            "ties": pair["ties"],
            "losses": pair["losses"],
            "pValue": pair["pValue"],
            "sampleCount": report["prompts"],
            "pairedCount": pair["n"],
            "guards": {
                name: {
                    "gain": comparison["graders"][name]["gain"],
                    "interval": list(comparison["graders"][name]["interval"]),
                }
                for name in guard_graders
            },
        }
    )


def _unusable(report: Mapping[str, Any]) -> str:
    """Per model: its failed calls and ungradable answers, with a first error."""
    return "; ".join(
        f"{m['label']} ({m['modelId']}): {m['failedCalls']} of {m['calls']} calls failed, "
        f"{max((g['gradingErrors'] for g in m['graders'].values()), default=0)} answers "
        "ungradable" + (f", e.g. {m['failures'][0]['error']}" if m["failures"] else "")
        for m in report["models"]
    )


def subject(environment: str, promoted: bool) -> str:
    """The SNS Subject: printable ASCII, at most SUBJECT_LIMIT characters."""
    verdict = "trained model promoted" if promoted else "trained model not promoted"
    env = "".join(ch for ch in environment if 32 <= ord(ch) < 127)
    room = SUBJECT_LIMIT - len(f"rft-env : {verdict}")
    return f"rft-env {env[: max(room, 0)]}: {verdict}"


def message(props: Mapping[str, Any], reason: str, summary: Mapping[str, Any]) -> str:
    return (
        f"{reason}\n\nmodel: {props['modelArn']}\nbase model: {props['baseModelId']}\n"
        f"held-out prompts: {props['samplesFile']} (sha256 {props['datasetSha256']})\n\n"
        f"{json.dumps(summary, indent=2, sort_keys=True)}\n"
    )


# ------------------------------------------------------------------------- the provider


class RftEvaluationProvider(ResourceProvider):
    """Pickled by reference into state: keep this class at this module path."""

    serialize_as_secret_always = False
    kind = "rft-evaluation"
    default_wait_seconds = 3600

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock

    @property
    def _clock(self) -> Clock:
        return self.clock or SystemClock()

    def _deployments(self) -> CustomModelDeploymentProvider:
        return CustomModelDeploymentProvider(clock=self.clock)

    @staticmethod
    def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in props.items() if k not in OUTPUT_KEYS and k != PROVIDER_KEY}

    # --- check and diff ------------------------------------------------------------------
    @staticmethod
    def deployment_request(props: dict[str, Any]) -> dict[str, Any] | None:
        """The CreateCustomModelDeployment request the evaluation sends (pure); None while
        pending. Only `check` uses it: create goes through CustomModelDeploymentProvider."""
        props = from_engine(props)
        if not props.get("modelArn"):
            return None
        return CustomModelDeploymentProvider().request(_deployment_props(props, ""))

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = from_engine(news)
        # Imported here, as in the other providers: only `check` needs the input models.
        from rft_env.components.bedrock import validation

        failures = validation.check_with_request(
            validation.EvaluationInputs,
            news,
            CREATE_DEPLOYMENT,
            self.deployment_request,
            (("modelDeploymentName", "deploymentName"), ("modelArn", "modelArn"), ("tags", "tags")),
        )
        graders = news.get("graders")
        if isinstance(graders, dict) and not is_unknown(graders):
            named = [("primaryGrader", news.get("primaryGrader"))]
            named += [("guardGraders", name) for name in news.get("guardGraders") or []]
            failures += [
                CheckFailure(key, f"got {name!r}; allowed: a grader of `graders`")
                for key, name in named
                if isinstance(name, str) and not is_unknown(name) and name not in graders
            ]
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        # Never a replacement: an update decides what to do (evaluate, decide again, or
        # only record the inputs), and the throughput behind it is never touched for it.
        keys = sorted((set(self._inputs(olds)) | set(self._inputs(news))) - set(IGNORED_KEYS))
        updates = [key for key in keys if changed(olds, news, key)]
        if provider_moved(olds, news):
            updates.append(PROVIDER_KEY)
        return DiffResult(changes=bool(updates), replaces=[], delete_before_replace=False)

    # --- create, update -------------------------------------------------------------------
    @classmethod
    def resource_id(cls, props: Mapping[str, Any]) -> str:
        """The gate's id: from its identity alone (synth predicts it the same way)."""
        return f"evaluation-{client_token(cls.kind, props['identity'])[:12]}"

    @staticmethod
    def unevaluated_outputs(status: str, reason: str) -> dict[str, Any]:
        """Every output, empty where only an evaluation fills it (pending, or offline)."""
        outputs: dict[str, Any] = dict.fromkeys(OUTPUT_KEYS, "")
        outputs.update(
            status=status,
            promoted=False,
            reason=reason,
            summary=None,
            report=None,
            evaluatedGraders=None,
        )
        return outputs

    def _pending(self, props: dict[str, Any]) -> dict[str, Any]:
        return {**self._inputs(props), **self.unevaluated_outputs(PENDING, NO_MODEL_YET)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = from_engine(props)
        id_ = self.resource_id(props)
        if not props.get("modelArn"):
            return CreateResult(id_, self._pending(props))
        return CreateResult(id_, self._evaluate(props, kept=None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        kept = self._kept(olds, news)
        if not news.get("modelArn"):
            # The (new) job has no model yet. A kept deployment serves a model the stack's
            # next job replaces: removed, so that the replaced job can delete its model.
            if kept is not None:
                self._remove(kept)
            return UpdateResult(self._pending(news))
        if self._needs_evaluation(olds, news):
            return UpdateResult(self._evaluate(news, kept=kept))
        outputs = {key: olds.get(key) for key in OUTPUT_KEYS}
        outputs.update(self._decision(news, restore_report(olds["report"])))
        if outputs["promoted"] != olds.get("promoted"):
            # A new threshold turned the decision: the topic hears of it, as of an evaluation.
            outputs["notification"] = self._publish(news, outputs["promoted"], outputs)
        if kept is None:
            outputs["deploymentArn"] = ""
        elif not news.get("keepDeployment"):
            self._remove(kept)
            outputs["deploymentArn"] = ""
        return UpdateResult({**self._inputs(news), **outputs})

    @staticmethod
    def _needs_evaluation(olds: dict[str, Any], news: dict[str, Any]) -> bool:
        """Whether the stored report no longer answers for the new inputs: the first
        evaluation, a change to what the scores depend on, or a grader (new, or with a new
        spec) it did not score. Fewer guard graders need no new scores."""
        if is_pending(olds) or not olds.get("report"):
            return True
        if any(changed(olds, news, key) for key in EVALUATION_KEYS):
            return True
        evaluated = olds.get("evaluatedGraders") or {}
        if news.get("primaryGrader") != olds["report"].get("primaryGrader"):
            return True
        # A grader's custom code, compared grader by grader: dropping a guard is no change.
        digests = olds.get("graderCodeDigests") or {}
        if any(
            digests.get(name) != digest
            for name, digest in (news.get("graderCodeDigests") or {}).items()
        ):
            return True
        return any(
            name not in evaluated or canonical(evaluated[name]) != canonical(spec)
            for name, spec in (news.get("graders") or {}).items()
        )

    def _decision(self, props: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
        """The gate's outputs for `report` under the inputs' thresholds (pure)."""
        from rft_env.components.evaluation import decide

        guards = list(props.get("guardGraders") or [])
        decision = decide(
            report, min_reward_gain=float(props["minRewardGain"]), guard_graders=guards
        )
        return {
            "status": PROMOTED if decision.promoted else NOT_PROMOTED,
            "promoted": decision.promoted,
            "promotedModelArn": props["modelArn"] if decision.promoted else "",
            "reason": decision.reason,
            "summary": summarize(report, guards),
        }

    # --- the evaluation ---------------------------------------------------------------------
    def _evaluate(self, props: dict[str, Any], kept: dict[str, Any] | None) -> dict[str, Any]:
        from rft_env.components.bedrock.converse import ModelGone
        from rft_env.components.evaluation import failure_share

        prompts = self._prompts(props)
        graders = self._graders(props)
        started = self._clock.time()
        answered: dict[str, int] = {}
        deployment: dict[str, Any] | None = None
        try:
            deployment = self._deploy(props, kept, started)
            report = self._run(props, prompts, graders, deployment["deploymentArn"], answered)
            share = failure_share(report)
            if share > float(props["maxFailureShare"]):
                raise EvaluationError(
                    f"the evaluation of {props['modelArn']} could not complete: {share:.1%} of "
                    "a model's prompts have no usable reward (failed calls, or answers its "
                    f"graders could not grade), above maxFailureShare "
                    f"{float(props['maxFailureShare']):.1%} ({_unusable(report)}). Nothing was "
                    "stored and no provisioned throughput was created; `pulumi up` will "
                    "evaluate again"
                )
        except BaseException as error:
            # Nothing is stored, so no state would know a deployment kept now.
            if deployment is not None:
                self._remove(deployment)
            if isinstance(error, ModelGone):
                raise EvaluationError(
                    f"the evaluation of {props['modelArn']} could not complete: {error} "
                    f"(after {answered.get(CANDIDATE_LABEL, 0)} of {len(prompts)} prompts were "
                    f"answered by the trained model, {answered.get(BASELINE_LABEL, 0)} of "
                    f"{len(prompts)} by the base model). Nothing was stored and no provisioned "
                    "throughput was created; `pulumi up` will evaluate again"
                ) from error
            raise
        keep = bool(props.get("keepDeployment"))
        outputs = self._decision(props, report)
        outputs.update(
            report=json_safe(report),
            evaluatedModelArn=props["modelArn"],
            evaluatedGraders=props.get("graders") or {},
            evaluatedAt=datetime.fromtimestamp(started, UTC).isoformat(),
            deploymentArn=deployment["deploymentArn"],
        )
        outputs["notification"] = self._publish(props, outputs["promoted"], outputs)
        if not keep:
            self._remove(deployment)
            outputs["deploymentArn"] = ""
        return {**self._inputs(props), **outputs}

    def _prompts(self, props: dict[str, Any]) -> list[Any]:
        from rft_env.components.files import file_sha256
        from rft_env.components.project_paths import resolve_in_project
        from rft_env.components.prompts import load_prompts

        path = resolve_in_project(Path(props["projectDir"]), props["samplesFile"])
        digest = file_sha256(path)
        if digest != props["datasetSha256"]:
            raise EvaluationError(
                f"{props['samplesFile']} has sha256 {digest}, but the program read it with "
                f"sha256 {props['datasetSha256']}: it changed during the update. Run `pulumi "
                "up` again to evaluate the file as it is now"
            )
        return load_prompts(path, int(props["samples"]))

    def _graders(self, props: dict[str, Any]) -> dict[str, Any]:
        """The graders built from their specs (the job's first), custom graders' code found
        under the project directory, judges connected like the stack's other Bedrock calls."""
        from rft_env.components.project_paths import with_code_paths_resolved
        from rft_env.graders.composite import nested_graders
        from rft_env.graders.llm_judge import LlmJudgeGrader
        from rft_env.graders.registry import build_grader

        specs = props["graders"]
        order = grader_order(specs, props["primaryGrader"], props.get("guardGraders") or [])
        connection = Connection.from_props(props)
        built: dict[str, Any] = {}
        for name in order:
            grader = build_grader(with_code_paths_resolved(specs[name], Path(props["projectDir"])))
            for inner in nested_graders(grader):
                if isinstance(inner, LlmJudgeGrader):
                    judge = connection.for_judge(inner.region, inner.endpoint_url)
                    inner.use_client(judge.client("bedrock-runtime", clock=self._clock))
                    inner.clock = self._clock
            built[name] = grader
        return built

    def _run(
        self,
        props: dict[str, Any],
        prompts: list[Any],
        graders: dict[str, Any],
        deployment_arn: str,
        answered: dict[str, int],
    ) -> dict[str, Any]:
        from rft_env.components.bedrock.converse import (
            converse_all,
            converse_request,
            runtime_connection,
        )
        from rft_env.components.evaluation import Contender, evaluate

        client = runtime_connection(Connection.from_props(props)).client(
            "bedrock-runtime", clock=self._clock
        )
        max_tokens = props.get("maxTokens")

        lock = threading.Lock()

        def ask(contender: Contender, batch: Sequence[Any]) -> list[Any]:
            def count(_index: int, reply: Any) -> None:
                if reply.ok:  # workers call this concurrently
                    with lock:
                        answered[contender.label] = answered.get(contender.label, 0) + 1

            return converse_all(
                client,
                [
                    converse_request(contender.model_id, p.messages, max_tokens=max_tokens)
                    for p in batch
                ],
                concurrency=int(props["concurrency"]),
                rate=float(props["requestsPerSecond"]),
                clock=self._clock,
                on_reply=count,
            )

        return evaluate(
            prompts,
            Contender(BASELINE_LABEL, props["baseModelId"]),
            Contender(CANDIDATE_LABEL, deployment_arn),
            graders,
            ask,
            keep_answers=False,
        )

    # --- the deployment -----------------------------------------------------------------------
    def _kept(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any] | None:
        """The deployment an earlier evaluation kept, as CustomModelDeploymentProvider's
        state, if it still exists; one that moved (a new name or identity) is removed."""
        arn = olds.get("deploymentArn")
        if not arn:
            return None
        state = {
            **_deployment_props(olds, ""),
            "modelArn": olds.get("evaluatedModelArn") or "",
            "deploymentArn": arn,
            "deployedModelArn": olds.get("evaluatedModelArn") or "",
            "status": "Active",
            "failureMessage": "",
            "awaitingModel": False,
        }
        if any(changed(olds, news, key) for key in DEPLOYMENT_KEYS) or changed(
            olds.get("connection") or {}, news.get("connection") or {}, "region"
        ):
            self._remove(state)
            return None
        read = self._deployments().read(arn, state)
        return {**state, **read.outs} if read.id else None

    def _deploy(
        self, props: dict[str, Any], kept: dict[str, Any] | None, started: float
    ) -> dict[str, Any]:
        """An Active deployment of the model: the kept one (its model swapped in place if it
        serves another), a leftover of an interrupted run, or a new one."""
        provider = self._deployments()
        wanted = _deployment_props(props, str(started))
        if kept is not None:
            if kept.get("deployedModelArn") == props["modelArn"]:
                return kept
            return provider.update(
                kept["deploymentArn"], kept, {**wanted, "identity": kept["identity"]}
            ).outs
        leftover = self._leftover(props)
        if leftover is not None:
            return leftover
        created = provider.create(wanted)
        return created.outs

    def _leftover(self, props: dict[str, Any]) -> dict[str, Any] | None:
        """A deployment of this name that no state knows (a run interrupted, or one whose
        evaluation failed with keepDeployment): adopted if it serves this model, else
        deleted, so that the name is free."""
        client = Connection.from_props(props).client(clock=self._clock)
        name = props["deploymentName"]
        page = call_with_retries(
            lambda: client.list_custom_model_deployments(nameContains=name),
            CALL_POLICY,
            self._clock,
            what=f"looking up custom model deployment {name}",
        )
        for summary in page.get("modelDeploymentSummaries") or []:
            if summary.get("customModelDeploymentName") != name:
                continue
            arn = summary["customModelDeploymentArn"]
            state = {
                **_deployment_props(props, ""),
                "deploymentArn": arn,
                "deployedModelArn": summary.get("modelArn") or "",
                "status": summary.get("status"),
                "failureMessage": "",
                "awaitingModel": False,
            }
            if summary.get("modelArn") == props["modelArn"] and summary.get("status") != "Failed":
                return self._until_active(client, arn, state)
            self._remove(state)
        return None

    def _until_active(self, client: Any, arn: str, state: dict[str, Any]) -> dict[str, Any]:
        policy = PollPolicy.from_props(state.get("wait"), self.default_wait_seconds)
        deployment = poll(
            lambda: client.get_custom_model_deployment(customModelDeploymentIdentifier=arn),
            lambda d: d["status"] in ("Active", "Failed"),
            policy,
            self._clock,
            what=f"custom model deployment {arn}",
        )
        if deployment["status"] == "Failed":
            raise EvaluationError(
                f"custom model deployment {arn} failed: "
                f"{deployment.get('failureMessage') or 'no message'}"
            )
        return {**state, "status": "Active"}

    def _remove(self, deployment: dict[str, Any]) -> None:
        """Delete the evaluation deployment (gone already is fine; its model is kept)."""
        arn = deployment.get("deploymentArn")
        if arn:
            self._deployments().delete(arn, {**deployment, "retainModels": True})

    # --- the notification ---------------------------------------------------------------------
    def _publish(self, props: dict[str, Any], promoted: bool, outputs: dict[str, Any]) -> str:
        """One message to the stack's topic: its MessageId, or why it was not sent."""
        topic = props.get("topicArn")
        if not topic:
            return "not published: no notification topic"
        body = message(props, outputs["reason"], outputs["summary"])
        try:
            client = Connection.from_props(props).client("sns", clock=self._clock)
            response = call_with_retries(
                lambda: client.publish(
                    TopicArn=topic,
                    Subject=subject(str(props.get("environment") or ""), promoted),
                    Message=body,
                ),
                CALL_POLICY,
                self._clock,
                what=f"publishing to {topic}",
            )
        except Exception as error:  # the decision stands without the message
            return f"not published: {error}"
        return str(response.get("MessageId") or "")

    # --- read, delete ---------------------------------------------------------------------
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = from_engine(props)
        if props.get("deploymentArn"):
            kept = self._kept(props, props)
            if kept is None:
                props = {**props, "deploymentArn": ""}
        return ReadResult(id_, props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        # A kept deployment goes with the gate; a deployment already gone is fine.
        if props.get("deploymentArn"):
            self._remove({**_deployment_props(props, ""), "deploymentArn": props["deploymentArn"]})


def _deployment_props(props: Mapping[str, Any], nonce: str) -> dict[str, Any]:
    """CustomModelDeploymentProvider's inputs for the evaluation deployment. `nonce` makes
    each evaluation's client token its own: a token repeated after its deployment was
    deleted must not name that deployment again (a run that is interrupted finds its
    deployment by name instead, `_leftover`)."""
    identity = f"{props['identity']}/deployment" + (f"/{nonce}" if nonce else "")
    return {
        "connection": props["connection"],
        "identity": identity,
        "name": props["deploymentName"],
        "modelArn": props.get("modelArn") or "",
        "description": (
            f"rft-env {props.get('environment') or ''}: evaluation of the trained model "
            "(promotion gate)"
        ),
        "tags": props.get("tags") or {},
        # The gate never deletes a model: the job and the inference own them.
        "retainModels": True,
        "wait": props.get("wait"),
    }


# ------------------------------------------------------------------------- the resource


@dataclass(frozen=True)
class RftEvaluationArgs:
    connection: Connection
    identity: str
    model_arn: pulumi.Input[str]  # the job's custom model ARN ("" until it has one)
    deployment_name: str
    base_model_id: str  # the base model's Converse id
    samples_file: str  # relative to the project
    project_dir: Path  # absolute; where files are read, ignored by the diff
    dataset_sha256: str  # of the samples file's bytes, as the program read it
    graders: dict[str, dict[str, Any]]  # name -> spec, the job's grader among them
    primary_grader: str  # the job's grader
    min_reward_gain: float
    guard_graders: list[str] = field(default_factory=list)
    # sha256 of custom graders' code, by grader: new code scores differently.
    grader_code_digests: dict[str, str] = field(default_factory=dict)
    samples: int = 200
    keep_deployment: bool = False
    concurrency: int = 4
    requests_per_second: float = 2.0
    max_tokens: int | None = None
    max_failure_share: float = 0.05
    topic_arn: pulumi.Input[str] | None = None
    environment: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    wait_timeout_seconds: int = 3600
    max_poll_seconds: float = 60

    def to_props(self) -> dict[str, Any]:
        return {
            "connection": self.connection.to_props(),
            "identity": self.identity,
            "modelArn": self.model_arn,
            "deploymentName": self.deployment_name,
            "keepDeployment": self.keep_deployment,
            "baseModelId": self.base_model_id,
            "samplesFile": self.samples_file,
            "projectDir": str(self.project_dir),
            "datasetSha256": self.dataset_sha256,
            "samples": self.samples,
            "graders": self.graders,
            "primaryGrader": self.primary_grader,
            "graderCodeDigests": self.grader_code_digests,
            "minRewardGain": self.min_reward_gain,
            "guardGraders": list(self.guard_graders),
            "concurrency": self.concurrency,
            "requestsPerSecond": self.requests_per_second,
            "maxTokens": self.max_tokens,
            "maxFailureShare": self.max_failure_share,
            "topicArn": self.topic_arn or "",
            "environment": self.environment,
            "tags": self.tags,
            "wait": wait_props(self.wait_timeout_seconds, self.max_poll_seconds),
        }


class RftEvaluation(Resource, module="bedrock", name="RftEvaluation"):
    """Type token `pulumi-python:dynamic/bedrock:RftEvaluation`."""

    status: pulumi.Output[str]
    promoted: pulumi.Output[bool]
    promotedModelArn: pulumi.Output[str]
    reason: pulumi.Output[str]
    summary: pulumi.Output[dict]
    report: pulumi.Output[dict]
    evaluatedModelArn: pulumi.Output[str]
    evaluatedGraders: pulumi.Output[dict]
    deploymentArn: pulumi.Output[str]
    evaluatedAt: pulumi.Output[str]
    notification: pulumi.Output[str]

    def __init__(
        self, name: str, args: RftEvaluationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {**args.to_props(), **dict.fromkeys(OUTPUT_KEYS)}
        super().__init__(RftEvaluationProvider(), name, props, opts)
