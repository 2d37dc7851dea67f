"""What a judge `modelId` names, and the ARNs IAM must allow for calling it.

This is the one place that decides. The llm_judge grader validates its spec with
`model_id_problem`, and the grader role's policy (`components.documents`) is built from
`judge_model`. Both go through `parse`, so they cannot classify an id differently. Pure
and dependency-free: graders never import components or pulumi (components import this).

Accepted forms (AWS sources in the README, "Judge model ids"):
- a foundation-model id, `amazon.nova-pro-v1:0`, or its ARN
  `arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0`;
- a cross-Region (system-defined) inference profile id, `<prefix>.<model id>` with a
  prefix of `PROFILE_PREFIXES` (`us.amazon.nova-pro-v1:0`, `global.anthropic...`), or its
  ARN `arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.amazon.nova-pro-v1:0`;
- an application inference profile ARN,
  `arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/<id>`.
A three-part id with any other prefix (`sa.amazon.nova-pro-v1:0`) is refused: it is
neither a foundation model nor a profile AWS defines, and guessing either way would grant
an ARN that does not exist.
"""

import re
from typing import NamedTuple

FOUNDATION_MODEL = "foundation-model"
INFERENCE_PROFILE = "inference-profile"
APPLICATION_INFERENCE_PROFILE = "application-inference-profile"

# Prefixes of cross-Region inference profile ids: the geographic ones and `global`.
PROFILE_PREFIXES = ("us", "us-gov", "eu", "apac", "jp", "au", "ca", "global")
# A global profile routes to any commercial region, and AWS authorizes its model through
# the region-less foundation-model ARN as well as the regional ones.
GLOBAL_PREFIX = "global"

_PART = r"[a-z0-9-]{1,63}"
# provider.model[:version[:context]], e.g. amazon.nova-2-lite-v1:0:256k
_MODEL_ID = re.compile(rf"{_PART}\.{_PART}(?::{_PART})*")
# prefix.provider.model..., e.g. us.amazon.nova-pro-v1:0
_PROFILE_ID = re.compile(rf"(?P<prefix>{_PART})\.(?P<model>{_PART}\.{_PART}(?::{_PART})*)")
_APPLICATION_PROFILE_ID = re.compile(r"[a-z0-9]{1,64}")
_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):bedrock:(?P<region>[a-z0-9-]{1,20}):(?P<account>\d{12})?:"
    rf"(?P<kind>{FOUNDATION_MODEL}|{INFERENCE_PROFILE}|{APPLICATION_INFERENCE_PROFILE})"
    r"/(?P<id>.+)"
)

ALLOWED = (
    "a model id like 'amazon.nova-pro-v1:0', an inference profile id like "
    f"'us.amazon.nova-pro-v1:0' (prefixes: {', '.join(PROFILE_PREFIXES)}), or a "
    "foundation-model, inference-profile or application-inference-profile ARN"
)


class ModelIdError(ValueError):
    """A `modelId` that names no model a judge can call; the message says why."""


class ParsedModelId(NamedTuple):
    kind: str  # FOUNDATION_MODEL | INFERENCE_PROFILE | APPLICATION_INFERENCE_PROFILE
    identifier: str  # the model id, the profile id, or the application profile's id
    # The foundation model a system-defined profile routes to; None for an application
    # profile (its model is not part of its ARN).
    model: str | None
    prefix: str | None  # a system-defined profile's prefix ("us", "global", ...)
    # Set when the id is an ARN.
    partition: str | None = None
    region: str | None = None
    account: str | None = None


class JudgeModel(NamedTuple):
    """What a judge role must be allowed to `bedrock:InvokeModel` (which Converse needs)."""

    kind: str
    # The ARN the request names: the foundation model's, or the profile's.
    arn: str
    # For a profile: the foundation-model ARNs it routes to, allowed only through `arn`
    # (condition `ArnEquals bedrock:InferenceProfileArn`). Empty for a foundation model.
    routes_to: tuple[str, ...] = ()

    @property
    def is_profile(self) -> bool:
        return self.kind != FOUNDATION_MODEL


def _show(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")


def _profile(identifier: str, what: str) -> ParsedModelId:
    match = _PROFILE_ID.fullmatch(identifier)
    if match is None:
        raise ModelIdError(f"got {_show(what)}; the ARN does not end in an inference profile id")
    if match["prefix"] not in PROFILE_PREFIXES:
        raise ModelIdError(
            f"got {_show(what)}; {match['prefix']!r} is not an inference profile prefix "
            f"(known: {', '.join(PROFILE_PREFIXES)}), and a model id has two parts, "
            "like 'amazon.nova-pro-v1:0'"
        )
    return ParsedModelId(INFERENCE_PROFILE, identifier, match["model"], match["prefix"])


def parse(model_id: str) -> ParsedModelId:
    """Classify a judge `modelId`; raises ModelIdError (with the reason) for anything else."""
    arn = _ARN.fullmatch(model_id)
    if arn is None:
        if model_id.startswith("arn:"):
            raise ModelIdError(f"got {_show(model_id)}; allowed: {ALLOWED}")
        if _MODEL_ID.fullmatch(model_id):
            return ParsedModelId(FOUNDATION_MODEL, model_id, model_id, None)
        if _PROFILE_ID.fullmatch(model_id):
            return _profile(model_id, model_id)
        raise ModelIdError(f"got {_show(model_id)}; allowed: {ALLOWED}")
    where = {"partition": arn["partition"], "region": arn["region"], "account": arn["account"]}
    identifier = arn["id"]
    if arn["kind"] == FOUNDATION_MODEL:
        if arn["account"] is not None:
            raise ModelIdError(f"got {_show(model_id)}; a foundation-model ARN has no account id")
        if not _MODEL_ID.fullmatch(identifier):
            raise ModelIdError(f"got {_show(model_id)}; the ARN does not end in a model id")
        return ParsedModelId(FOUNDATION_MODEL, identifier, identifier, None, **where)
    if arn["account"] is None:
        raise ModelIdError(f"got {_show(model_id)}; a profile ARN needs the 12-digit account id")
    if arn["kind"] == APPLICATION_INFERENCE_PROFILE:
        if not _APPLICATION_PROFILE_ID.fullmatch(identifier):
            raise ModelIdError(
                f"got {_show(model_id)}; the ARN does not end in an application inference "
                "profile id (lowercase letters and digits)"
            )
        return ParsedModelId(APPLICATION_INFERENCE_PROFILE, identifier, None, None, **where)
    return _profile(identifier, model_id)._replace(**where)


def model_id_problem(model_id: str) -> str | None:
    """Why `model_id` is not a judge model id, or None when it is one."""
    try:
        parse(model_id)
    except ModelIdError as error:
        return str(error)
    return None


def judge_model(
    model_id: str, *, region: str, account_id: str, partition: str = "aws"
) -> JudgeModel:
    """The ARNs a judge role calling `model_id` from `region` must be allowed to invoke.

    An id is resolved in `region` and `account_id` (profile ARNs belong to the caller's
    account and region); an ARN stands for itself. Through a profile, the foundation model
    is allowed in every region (`*`: the profile chooses among its destination regions),
    plus the region-less ARN AWS documents for global profiles. For an application
    profile, whose model is not in its ARN, every foundation model and the account's
    system-defined profiles are allowed, but only through that profile.
    """
    parsed = parse(model_id)
    partition = parsed.partition or partition
    bedrock = f"arn:{partition}:bedrock"
    if parsed.kind == FOUNDATION_MODEL:
        arn = model_id if parsed.partition else f"{bedrock}:{region}::{FOUNDATION_MODEL}/{model_id}"
        return JudgeModel(FOUNDATION_MODEL, arn)
    arn = (
        model_id
        if parsed.partition
        else f"{bedrock}:{region}:{account_id}:{parsed.kind}/{parsed.identifier}"
    )
    if parsed.model is None:
        # An application profile: its model, or the system-defined profile it copies, is
        # not in its ARN (README: whether the copied profile is authorized too is
        # unconfirmed, so it is allowed, under the same condition).
        account = parsed.account or account_id
        routes = [
            f"{bedrock}:*::{FOUNDATION_MODEL}/*",
            f"{bedrock}:*:{account}:{INFERENCE_PROFILE}/*",
        ]
    else:
        routes = [f"{bedrock}:*::{FOUNDATION_MODEL}/{parsed.model}"]
        if parsed.prefix == GLOBAL_PREFIX:
            routes.append(f"{bedrock}:::{FOUNDATION_MODEL}/{parsed.model}")
    return JudgeModel(parsed.kind, arn, tuple(routes))
