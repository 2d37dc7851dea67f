"""The inferenceStatus output, in words."""

from __future__ import annotations

from components.training import inference_status

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
