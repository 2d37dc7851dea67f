"""The whole pack on whole programs: every example stack passes, a broken one is blocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from rft_env.policies.rules import ALL_POLICIES
from rft_env.rftenv import audit, stack_files, synth
from rft_env.rftenv.cli import main
from rft_env.rftenv.pack_runner import Violation, run_pack
from tests.conftest import STACKS, Graph

BROKEN_PROGRAM = Path(__file__).parent / "broken_program" / "__main__.py"


@pytest.mark.parametrize("stack", STACKS)
def test_every_example_stack_passes_the_whole_pack(stack: str, graphs: dict[str, Graph]) -> None:
    violations = run_pack(
        graphs[stack].result, ALL_POLICIES, stack_config=stack_files.engine_config(stack)
    )
    assert [str(v) for v in violations] == []


@pytest.fixture(scope="module")
def broken() -> dict:
    """The prod stack's program plus deliberately non-compliant resources."""
    return synth.synthesize("prod", program=BROKEN_PROGRAM)


@pytest.fixture(scope="module")
def broken_violations(broken: dict) -> list[Violation]:
    return run_pack(broken, ALL_POLICIES, stack_config=stack_files.engine_config("prod"))


# Which resource of the broken program each rule must block.
EXPECTED = {
    "s3-bucket-sse-kms-customer-key": "loose-bucket",
    "s3-bucket-public-access-blocked": "loose-bucket",
    "s3-bucket-tls-only": "loose-bucket",
    "s3-bucket-versioning-enabled": "loose-bucket",
    "s3-bucket-logging-enabled": "loose-bucket",
    "kms-key-rotation-enabled": "careless-key",
    "kms-key-deletion-window": "careless-key",
    "kms-key-policy-no-wildcard-grants": "careless-key",
    "iam-no-wildcard-actions": "admin-role-policy",
    "iam-no-unlisted-wildcard-resources": "admin-role-policy",
    "iam-no-passrole-on-wildcard": "admin-role-policy",
    "iam-bedrock-trust-confused-deputy": "admin-role",
    "iam-no-aws-managed-policies": "admin-role-administrator",
    "lambda-function-url-auth-required": "open-function-url",
    "lambda-permission-not-public": "open-function-invoke",
    "cloudwatch-log-group-encrypted-retained": "forever-logs",
    "lambda-function-log-group-managed": "open-function",
    "bedrock-job-stack-key-and-role": "foreign-job",
    "bedrock-committed-throughput-protected": "committed-throughput",
    "aws-explicit-provider": "default-provider-topic",
    "aws-required-tags": "loose-bucket",
    "sns-topic-encrypted": "plain-topic",
    "cross-account-allow-listed": "foreign-trusted-role",
}


def test_the_expectations_name_every_rule_of_the_pack() -> None:
    assert set(EXPECTED) == {policy.name for policy in ALL_POLICIES}


@pytest.mark.parametrize(("policy", "resource"), sorted(EXPECTED.items()))
def test_each_rule_blocks_the_broken_stack(
    policy: str, resource: str, broken_violations: list[Violation]
) -> None:
    hits = [v for v in broken_violations if v.policy == policy]
    assert resource in {v.resource for v in hits}, [str(v) for v in hits]
    assert all(v.blocking for v in hits)
    # Each message names the resource it is about, so the CLI output can be acted on.
    assert all(resource in v.message for v in hits if v.resource == resource)


def test_the_compliant_part_of_the_broken_stack_stays_clean(
    broken: dict, broken_violations: list[Violation]
) -> None:
    """Violations land on the broken additions only, never on the real environment."""
    environment = {r["name"] for r in broken["resources"] if r["name"].startswith("rft")}
    assert environment and not {v.resource for v in broken_violations} & environment


def test_audit_of_the_broken_stack_fails(
    broken: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = audit.audit(broken, stack_files.engine_config("prod"))
    assert not report.ok
    assert {v.policy for v in report.blocking} == set(EXPECTED)
    summary = report.files()[audit.SUMMARY]
    assert f"{len(report.blocking)} blocking violations" in summary


def test_cli_exits_1_on_the_broken_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = synth.synthesize
    monkeypatch.setattr(
        synth, "synthesize", lambda stack, *a, **k: real(stack, *a, program=BROKEN_PROGRAM, **k)
    )
    assert main(["audit", "prod", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "rftenv audit prod" in out and "FAIL" in out
    assert "FAIL [mandatory] s3-bucket-tls-only: loose-bucket:" in out
