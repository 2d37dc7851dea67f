"""Every Bedrock call rft-env makes as the deployment role, with what AWS documents it needs.

One row per call (tagging split by resource), in one place: the README's table is
rendered from `BEDROCK_CALLS` (`python -m components.bedrock_calls`, and a test checks the
README is current), and a test evaluates the deployment-role policy together with the key
policy against every row of every example stack. A row's resources are resource types of
the Service Authorization Reference; a request is authorized against all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Resource types (Service Authorization Reference names), plus "*" for an action that
# supports no resource-level permissions.
FOUNDATION_MODEL = "foundation-model"
CUSTOM_MODEL = "custom-model"
JOB = "model-customization-job"
PROVISIONED_MODEL = "provisioned-model"
DEPLOYMENT = "custom-model-deployment"
INFERENCE_PROFILE = "inference-profile"
NO_RESOURCE = "*"

# What Bedrock does with the stack key in the caller's name when the model is encrypted
# with it: kms:ViaService is bedrock.<region>.amazonaws.com, and CreateGrant carries
# kms:GrantIsForAWSResource = true.
MODEL_KEY_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey")

# Inference modes a row applies to (config `inference.mode`).
ALWAYS = ("none", "on_demand", "provisioned")
PROVISIONED = ("provisioned",)
ON_DEMAND = ("on_demand",)
# The modes with a trained model to evaluate.
INFERENCE = ("on_demand", "provisioned")

JOB_PROVIDER = "job provider"
STATUS = "`rftenv status`"
THROUGHPUT_PROVIDER = "throughput provider"
DEPLOYMENT_PROVIDER = "deployment provider"
PROMOTION_GATE = "promotion gate"
EVALUATE = "`rftenv evaluate`"

SOURCES: dict[str, tuple[str, str]] = {
    "SAR": (
        "Service Authorization Reference: Actions, resources, and condition keys for "
        "Amazon Bedrock",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonbedrock.html",
    ),
    "ENC": (
        "Amazon Bedrock User Guide: Encryption of custom models",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/encryption-custom-job.html",
    ),
    "API": (
        "Amazon Bedrock API Reference: CreateModelCustomizationJob (`roleArn`: the caller "
        "needs iam:PassRole)",
        "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateModelCustomizationJob.html",
    ),
    "PT": (
        "Amazon Bedrock User Guide: Prerequisites for Provisioned Throughput",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/prov-thru-prereq.html",
    ),
    "OD": (
        "Amazon Bedrock User Guide: Deploy a custom model",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/deploy-custom-model.html",
    ),
    "CONV": (
        "Amazon Bedrock User Guide: Prerequisites for inference / Converse API: the caller "
        "needs bedrock:InvokeModel",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-call.html",
    ),
    "IP": (
        "Amazon Bedrock User Guide: Prerequisites for inference profiles (the profile, and "
        "the foundation model in each Region it routes to; `bedrock:InferenceProfileArn` "
        "limits the model to the profile)",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html",
    ),
}


@dataclass(frozen=True)
class BedrockCall:
    """One Bedrock API call and what AWS documents it needs from its caller."""

    call: str  # the API operation(s)
    made_by: tuple[str, ...]
    modes: tuple[str, ...]  # inference modes in which the call is made
    actions: tuple[str, ...]  # IAM actions, each authorized on every resource below
    resources: tuple[str, ...]  # resource types, or ("*",)
    sources: tuple[str, ...]  # keys of SOURCES
    # KMS actions on the stack key that Bedrock performs in the caller's name.
    key_actions: tuple[str, ...] = ()
    # The Bedrock service role handed over with the request (iam:PassRole).
    passes_role: bool = False
    # What AWS does not say, and the safe choice made (README: UNCONFIRMED).
    unconfirmed: str = ""
    # Made only with `inference.promotion` (which config allows with mode provisioned only).
    needs_promotion: bool = False
    # The request names the base model's Converse id (naming.base_inference_id). Through a
    # cross-Region inference profile it is authorized on the profile and, with
    # `bedrock:InferenceProfileArn` = the profile, on the foundation model in each Region
    # the profile routes to; a foundation-model id, on that model alone. So here
    # `foundation-model` is the model the profile routes to, not `job.baseModel`.
    through_profile: bool = False


BEDROCK_CALLS: tuple[BedrockCall, ...] = (
    BedrockCall(
        "CreateModelCustomizationJob",
        (JOB_PROVIDER,),
        ALWAYS,
        ("bedrock:CreateModelCustomizationJob",),
        (FOUNDATION_MODEL, CUSTOM_MODEL),
        ("SAR", "ENC", "API"),
        key_actions=MODEL_KEY_ACTIONS,
        passes_role=True,
        unconfirmed="whether tags in the request (`jobTags`, `customModelTags`) also need "
        "bedrock:TagResource; the role may tag the job and the model (rows below)",
    ),
    BedrockCall(
        "GetModelCustomizationJob",
        (JOB_PROVIDER, STATUS),
        ALWAYS,
        ("bedrock:GetModelCustomizationJob",),
        (JOB,),
        ("SAR",),
    ),
    BedrockCall(
        "StopModelCustomizationJob",
        (JOB_PROVIDER,),
        ALWAYS,
        ("bedrock:StopModelCustomizationJob",),
        (JOB,),
        ("SAR",),
    ),
    BedrockCall(
        "ListModelCustomizationJobs",
        (STATUS,),
        ALWAYS,
        ("bedrock:ListModelCustomizationJobs",),
        (NO_RESOURCE,),
        ("SAR",),
    ),
    BedrockCall(
        "GetCustomModel",
        (JOB_PROVIDER,),
        ALWAYS,
        ("bedrock:GetCustomModel",),
        (CUSTOM_MODEL,),
        ("SAR",),
    ),
    BedrockCall(
        "DeleteCustomModel",
        # The inference providers delete a model a replaced job handed over to them.
        (JOB_PROVIDER, THROUGHPUT_PROVIDER, DEPLOYMENT_PROVIDER),
        ALWAYS,
        ("bedrock:DeleteCustomModel",),
        (CUSTOM_MODEL,),
        ("SAR",),
    ),
    BedrockCall(
        "TagResource, UntagResource, ListTagsForResource (the job)",
        (JOB_PROVIDER,),
        ALWAYS,
        ("bedrock:TagResource", "bedrock:UntagResource", "bedrock:ListTagsForResource"),
        (JOB,),
        ("SAR",),
    ),
    BedrockCall(
        "TagResource, UntagResource, ListTagsForResource (the custom model)",
        (JOB_PROVIDER,),
        ALWAYS,
        ("bedrock:TagResource", "bedrock:UntagResource", "bedrock:ListTagsForResource"),
        (CUSTOM_MODEL,),
        ("SAR",),
    ),
    BedrockCall(
        "CreateProvisionedModelThroughput",
        (THROUGHPUT_PROVIDER,),
        PROVISIONED,
        ("bedrock:CreateProvisionedModelThroughput",),
        (CUSTOM_MODEL, FOUNDATION_MODEL),
        ("SAR", "ENC", "PT"),
        key_actions=MODEL_KEY_ACTIONS,
    ),
    BedrockCall(
        "GetProvisionedModelThroughput",
        (THROUGHPUT_PROVIDER, STATUS, EVALUATE),
        PROVISIONED,
        ("bedrock:GetProvisionedModelThroughput",),
        (PROVISIONED_MODEL,),
        ("SAR",),
    ),
    BedrockCall(
        "UpdateProvisionedModelThroughput",
        (THROUGHPUT_PROVIDER,),
        PROVISIONED,
        ("bedrock:UpdateProvisionedModelThroughput",),
        (PROVISIONED_MODEL, CUSTOM_MODEL, FOUNDATION_MODEL),
        ("SAR", "ENC"),
        key_actions=MODEL_KEY_ACTIONS,
        unconfirmed="which KMS actions a model swap makes; allowed: the same as a create",
    ),
    BedrockCall(
        "DeleteProvisionedModelThroughput",
        (THROUGHPUT_PROVIDER,),
        PROVISIONED,
        ("bedrock:DeleteProvisionedModelThroughput",),
        (PROVISIONED_MODEL,),
        ("SAR",),
    ),
    BedrockCall(
        "ListProvisionedModelThroughputs",
        # Before deleting a model: what serves it (modelArnEquals), in every mode.
        (JOB_PROVIDER, THROUGHPUT_PROVIDER, DEPLOYMENT_PROVIDER, STATUS, EVALUATE),
        ALWAYS,
        ("bedrock:ListProvisionedModelThroughputs",),
        (NO_RESOURCE,),
        ("SAR",),
    ),
    BedrockCall(
        "TagResource, UntagResource (the throughput)",
        (THROUGHPUT_PROVIDER,),
        PROVISIONED,
        ("bedrock:TagResource", "bedrock:UntagResource"),
        (PROVISIONED_MODEL,),
        ("SAR",),
    ),
    BedrockCall(
        "CreateCustomModelDeployment",
        (DEPLOYMENT_PROVIDER,),
        ON_DEMAND,
        ("bedrock:CreateCustomModelDeployment",),
        (CUSTOM_MODEL,),
        ("SAR", "ENC", "OD"),
        key_actions=MODEL_KEY_ACTIONS,
        unconfirmed="which KMS actions deploying an encrypted model makes (AWS says it "
        "needs access to the key); allowed: the same as the job",
    ),
    BedrockCall(
        "GetCustomModelDeployment",
        (DEPLOYMENT_PROVIDER, STATUS, EVALUATE),
        ON_DEMAND,
        ("bedrock:GetCustomModelDeployment",),
        (DEPLOYMENT,),
        ("SAR",),
    ),
    BedrockCall(
        "UpdateCustomModelDeployment",
        (DEPLOYMENT_PROVIDER,),
        ON_DEMAND,
        ("bedrock:UpdateCustomModelDeployment",),
        (DEPLOYMENT, CUSTOM_MODEL),
        ("SAR", "ENC", "OD"),
        key_actions=MODEL_KEY_ACTIONS,
        unconfirmed="which KMS actions a model swap makes; allowed: the same as a create",
    ),
    BedrockCall(
        "DeleteCustomModelDeployment",
        (DEPLOYMENT_PROVIDER,),
        ON_DEMAND,
        ("bedrock:DeleteCustomModelDeployment",),
        (DEPLOYMENT,),
        ("SAR",),
    ),
    BedrockCall(
        "ListCustomModelDeployments",
        # The gate finds a leftover evaluation deployment by name; evaluate, the inference.
        (
            JOB_PROVIDER,
            THROUGHPUT_PROVIDER,
            DEPLOYMENT_PROVIDER,
            STATUS,
            PROMOTION_GATE,
            EVALUATE,
        ),
        ALWAYS,
        ("bedrock:ListCustomModelDeployments",),
        (NO_RESOURCE,),
        ("SAR",),
    ),
    BedrockCall(
        "TagResource, UntagResource (the deployment)",
        (DEPLOYMENT_PROVIDER,),
        ON_DEMAND,
        ("bedrock:TagResource", "bedrock:UntagResource"),
        (DEPLOYMENT,),
        ("SAR",),
    ),
    # The promotion gate (components/bedrock/evaluation.py) deploys the trained model on
    # demand through the deployment provider's code, in mode provisioned.
    BedrockCall(
        "CreateCustomModelDeployment (the evaluation deployment)",
        (PROMOTION_GATE,),
        PROVISIONED,
        ("bedrock:CreateCustomModelDeployment",),
        (CUSTOM_MODEL,),
        ("SAR", "ENC", "OD"),
        key_actions=MODEL_KEY_ACTIONS,
        unconfirmed="which KMS actions deploying an encrypted model makes; allowed: the same "
        "as the job",
        needs_promotion=True,
    ),
    BedrockCall(
        "GetCustomModelDeployment (the evaluation deployment)",
        # Evaluate falls back to a deployment the gate kept (`keepDeployment`).
        (PROMOTION_GATE, EVALUATE),
        PROVISIONED,
        ("bedrock:GetCustomModelDeployment",),
        (DEPLOYMENT,),
        ("SAR",),
        needs_promotion=True,
    ),
    BedrockCall(
        "UpdateCustomModelDeployment (the evaluation deployment)",
        # A kept deployment gets the next model swapped in.
        (PROMOTION_GATE,),
        PROVISIONED,
        ("bedrock:UpdateCustomModelDeployment",),
        (DEPLOYMENT, CUSTOM_MODEL),
        ("SAR", "ENC", "OD"),
        key_actions=MODEL_KEY_ACTIONS,
        unconfirmed="which KMS actions a model swap makes; allowed: the same as a create",
        needs_promotion=True,
    ),
    BedrockCall(
        "DeleteCustomModelDeployment (the evaluation deployment)",
        (PROMOTION_GATE,),
        PROVISIONED,
        ("bedrock:DeleteCustomModelDeployment",),
        (DEPLOYMENT,),
        ("SAR",),
        needs_promotion=True,
    ),
    BedrockCall(
        "TagResource, UntagResource (the evaluation deployment)",
        (PROMOTION_GATE,),
        PROVISIONED,
        ("bedrock:TagResource", "bedrock:UntagResource"),
        (DEPLOYMENT,),
        ("SAR",),
        needs_promotion=True,
    ),
    # Converse (bedrock-runtime) is authorized as bedrock:InvokeModel.
    BedrockCall(
        "Converse (the evaluation deployment)",
        (PROMOTION_GATE, EVALUATE),
        PROVISIONED,
        ("bedrock:InvokeModel",),
        (DEPLOYMENT,),
        ("SAR", "CONV", "OD"),
        needs_promotion=True,
    ),
    BedrockCall(
        "Converse (the throughput)",
        (EVALUATE,),
        PROVISIONED,
        ("bedrock:InvokeModel",),
        (PROVISIONED_MODEL,),
        ("SAR", "CONV"),
    ),
    BedrockCall(
        "Converse (the deployment)",
        (EVALUATE,),
        ON_DEMAND,
        ("bedrock:InvokeModel",),
        (DEPLOYMENT,),
        ("SAR", "CONV", "OD"),
    ),
    BedrockCall(
        "Converse (the base model)",
        # The gate runs in mode provisioned with promotion only, a case of these modes.
        (PROMOTION_GATE, EVALUATE),
        INFERENCE,
        ("bedrock:InvokeModel",),
        (INFERENCE_PROFILE, FOUNDATION_MODEL),
        ("SAR", "CONV", "IP"),
        through_profile=True,
    ),
)


def calls_for(inference_mode: str, *, promotion: bool) -> tuple[BedrockCall, ...]:
    """The rows that apply to a stack with this `inference.mode`, with or without
    `inference.promotion`."""
    return tuple(
        row
        for row in BEDROCK_CALLS
        if inference_mode in row.modes and (promotion or not row.needs_promotion)
    )


def _code(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{value}`" for value in values) or "—"


def _modes(row: BedrockCall) -> str:
    modes = "always" if row.modes == ALWAYS else " ".join(f"`{mode}`" for mode in row.modes)
    return f"{modes} with `inference.promotion`" if row.needs_promotion else modes


def markdown() -> str:
    """The README's table of these rows, with its sources and unconfirmed points."""
    lines = [
        "| Bedrock call | made by | `inference.mode` | IAM actions | on resources (all of) "
        "| KMS on the stack key, via Bedrock | source |",
        "|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for row in BEDROCK_CALLS:
        actions = row.actions + (("iam:PassRole",) if row.passes_role else ())
        resources = row.resources + (
            ("role/rft-env-<env>-bedrock-customization",) * row.passes_role
        )
        on = _code(resources)
        if row.through_profile:
            on += " (the base model's profile, and its model under `bedrock:InferenceProfileArn`)"
        sources = ", ".join(f"[{key}]" for key in row.sources)
        if row.unconfirmed:
            notes.append(f"- {row.call}: {row.unconfirmed}.")
            sources += " (UNCONFIRMED¹)"
        lines.append(
            f"| {row.call} | {', '.join(row.made_by)} | {_modes(row)} | "
            f"{_code(actions)} | {on} | {_code(row.key_actions)} | {sources} |"
        )
    lines += ["", "Sources:", ""]
    lines += [f"- [{key}] {title}: <{url}>" for key, (title, url) in SOURCES.items()]
    lines += ["", "¹ UNCONFIRMED: AWS does not say; the safe choice is allowed:", "", *notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
