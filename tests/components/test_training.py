"""The inferenceStatus output, in words."""

from __future__ import annotations

from rft_env.components.training import inference_status

JOB = "arn:aws:bedrock:us-east-1:111122223333:model-customization-job/m/abc"


def test_inference_status_messages() -> None:
    assert inference_status("none", JOB, "InProgress", None, "").startswith("none:")
    pending = inference_status("provisioned", JOB, "InProgress", "PendingModel", "")
    assert pending.startswith("pending: provisioned inference waits for RFT job " + JOB)
    assert "pulumi up --refresh" in pending
    blocked = inference_status("on_demand", JOB, "Failed", "PendingModel", "")
    assert blocked.startswith("blocked:") and "job.revision" in blocked
    ready = inference_status("on_demand", JOB, "Completed", "Active", "arn:deployment")
    assert ready == "Active: arn:deployment"


MODEL = "arn:aws:bedrock:us-east-1:111122223333:custom-model/m/old"
PT = "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abc"


def test_a_retrain_reports_that_the_old_model_keeps_serving() -> None:
    waiting = inference_status("provisioned", JOB, "InProgress", "InService", PT, MODEL, True)
    assert waiting.startswith(f"swap-pending: {PT} keeps serving {MODEL} until RFT job {JOB}")
    assert "pulumi up --refresh" in waiting
    failed = inference_status("provisioned", JOB, "Failed", "InService", PT, MODEL, True)
    assert failed.startswith(f"blocked: {PT} keeps serving {MODEL}")
    assert "job.revision" in failed
    swapped = inference_status("provisioned", JOB, "Completed", "InService", PT, MODEL, False)
    assert swapped == f"InService: {PT}"
