"""`rftenv audit`: rendered documents, lint, acceptance, freshness, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from rft_env.policies.rules import ALL_POLICIES
from rft_env.rftenv import audit, stack_files, synth
from rft_env.rftenv.cli import main
from rft_env.rftenv.pack_runner import run_pack
from tests.conftest import REPO, STACKS, Graph


@pytest.fixture(scope="module")
def reports(graphs: dict[str, Graph]) -> dict[str, audit.AuditReport]:
    return {
        stack: audit.audit(graph.result, stack_files.engine_config(stack))
        for stack, graph in graphs.items()
    }


# --- every example stack -----------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_the_audit(stack: str, reports: dict[str, audit.AuditReport]) -> None:
    report = reports[stack]
    assert report.problems() == []
    assert report.ok


@pytest.mark.parametrize("stack", STACKS)
def test_committed_rendered_documents_are_up_to_date(
    stack: str, reports: dict[str, audit.AuditReport]
) -> None:
    outdated = audit.stale(reports[stack].files(), REPO / audit.RENDERED_PATH / stack)
    assert outdated == [], (
        f"policies/rendered/{stack} is out of date ({', '.join(outdated)}): run "
        f"`rftenv audit {stack}` and commit the diff"
    )


def test_every_accepted_finding_is_still_needed(reports: dict[str, audit.AuditReport]) -> None:
    reasons = " / ".join(
        finding.accepted_because for report in reports.values() for finding in report.accepted
    )
    unused = [
        f"{a.issue} {a.documents}" for a in audit.load_acceptances() if a.reason not in reasons
    ]
    assert unused == [], "accepted findings that no stack produces any more: remove them"


def test_every_policy_bearing_resource_is_rendered(graph: Graph) -> None:
    documents = audit.collect_documents(graph.result)
    expected = (
        len(graph.of_type("aws:iam/role:Role"))  # trust policies
        + len(graph.of_type("aws:iam/rolePolicy:RolePolicy"))
        + len(graph.of_type("aws:kms/key:Key"))
        + len(graph.of_type("aws:s3/bucketPolicy:BucketPolicy"))
        + len(graph.of_type("aws:sns/topicPolicy:TopicPolicy"))
    )
    assert len(documents) == expected
    names = [d.filename for d in documents]
    assert len(set(names)) == len(names)
    # The rendered JSON is the document the resource carries, byte for byte once parsed.
    role_policy = graph.one("aws:iam/rolePolicy:RolePolicy", "rft-customization-policy")
    rendered = next(d for d in documents if d.resource == "rft-customization-policy")
    assert rendered.document == json.loads(role_policy["inputs"]["policy"])
    assert rendered.subject == f"role {role_policy['inputs']['role']}"


def test_summary_explains_every_statement(reports: dict[str, audit.AuditReport]) -> None:
    report = reports["prod"]
    summary = report.files()[audit.SUMMARY]
    assert "MISSING" not in summary and "OPEN" not in summary
    for document in report.documents:
        assert f"## {document.filename}" in summary
        for statement in document.statements:
            assert f"| {statement['Sid']} | {statement['Effect']} |" in summary
    # The one IAM grant on "*" in prod (a VPC job's Describe calls) is listed with its reason.
    assert "| iam-policy.rft-customization-policy.json | DescribeNetwork |" in summary
    assert "EC2 Describe* actions support no resource-level permissions" in summary


def test_totals_count_statements_and_wildcards(reports: dict[str, audit.AuditReport]) -> None:
    counts = audit.totals(reports["prod"])
    identity = counts[audit.IDENTITY]
    assert identity.documents == 3 and identity.deny == 0
    assert identity.star == 1  # DescribeNetwork
    dev = audit.totals(reports["dev"])[audit.IDENTITY]
    assert dev.star == 0


# --- documents the example stacks do not (yet) create ------------------------------------
def test_lambda_permissions_render_as_the_statement_lambda_adds() -> None:
    permission = {
        "type": "aws:lambda/permission:Permission",
        "name": "events-invoke",
        "inputs": {
            "statementId": "AllowEvents",
            "action": "lambda:InvokeFunction",
            "function": "rft-env-dev-grader-a",
            "principal": "events.amazonaws.com",
            "sourceArn": "arn:aws:events:us-east-1:111122223333:rule/x",
        },
    }
    (document,) = audit.collect_documents({"resources": [permission]})
    assert document.filename == "lambda-permission.events-invoke.json"
    assert document.document["Statement"] == [
        {
            "Sid": "AllowEvents",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": "rft-env-dev-grader-a",
            "Condition": {
                "ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:111122223333:rule/x"}
            },
        }
    ]


def test_inline_role_policies_are_rendered_separately() -> None:
    role = {
        "type": "aws:iam/role:Role",
        "name": "r",
        "inputs": {
            "name": "role-r",
            "assumeRolePolicy": json.dumps({"Statement": []}),
            "inlinePolicies": [{"name": "extra", "policy": json.dumps({"Statement": []})}],
        },
    }
    names = [d.filename for d in audit.collect_documents({"resources": [role]})]
    assert names == ["iam-policy.r.extra.json", "iam-trust.r.json"]


def test_a_policy_that_is_not_json_is_named() -> None:
    broken = {"type": "aws:iam/rolePolicy:RolePolicy", "name": "p", "inputs": {"policy": "{"}}
    with pytest.raises(audit.AuditInputError, match="RolePolicy p: policy is not a JSON policy"):
        audit.collect_documents({"resources": [broken]})


# --- lint and acceptance -----------------------------------------------------------------
def identity(name: str, *statements: dict[str, Any]) -> audit.PolicyDocument:
    return audit.PolicyDocument(
        audit.IDENTITY, name, "role x", {"Version": "2012-10-17", "Statement": list(statements)}
    )


def test_parliament_flags_a_broad_identity_policy() -> None:
    findings = audit.lint(
        [identity("p", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})]
    )
    assert [(f.document, f.issue, f.actions) for f in findings] == [
        ("iam-policy.p.json", "RESOURCE_STAR", ("s3:getobject",))
    ]


def test_trust_policies_are_linted_with_their_role_as_the_resource() -> None:
    trust = audit.PolicyDocument(
        audit.TRUST,
        "r",
        "role r",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRoleTypo",
                }
            ],
        },
    )
    findings = audit.lint([trust])
    accepted, open_ = audit.accept(findings, audit.load_acceptances())
    assert [f.issue for f in accepted] == []
    assert [f.issue for f in open_] == ["UNKNOWN_ACTION"]
    # The real ones: assuming the role is what a trust policy is for, and is accepted.
    trust.document["Statement"][0]["Action"] = "sts:AssumeRole"
    accepted, open_ = audit.accept(audit.lint([trust]), audit.load_acceptances())
    assert ([f.issue for f in accepted], open_) == (["CREDENTIALS_EXPOSURE"], [])


def test_acceptance_covers_only_its_issue_documents_and_actions() -> None:
    finding = audit.LintFinding(
        "iam-policy.a.json", "RESOURCE_STAR", "t", "LOW", ("s3:getobject",), ""
    )
    wider = audit.LintFinding(
        "iam-policy.a.json", "RESOURCE_STAR", "t", "LOW", ("s3:getobject", "s3:putobject"), ""
    )
    acceptance = audit.Acceptance(
        "RESOURCE_STAR", "iam-policy.*", frozenset({"s3:getobject"}), "ok"
    )
    accepted, open_ = audit.accept([finding, wider], [acceptance])
    assert [f.accepted_because for f in accepted] == ["ok"]
    assert open_ == [wider]
    other = audit.Acceptance("RESOURCE_STAR", "iam-trust.*", frozenset(), "x")
    assert audit.accept([finding], [other]) == ([], [finding])
    # Two entries together may cover one finding; both reasons are shown.
    put = audit.Acceptance("RESOURCE_STAR", "iam-policy.a.json", frozenset({"s3:putobject"}), "p")
    (both,), none = audit.accept([wider], [acceptance, put])
    assert both.accepted_because == "ok / p" and none == []
    # A finding that names no actions is matched by the text of its detail.
    typed = audit.LintFinding("iam-policy.a.json", "MISMATCHED_TYPE", "t", "LOW", (), "Arn x")
    by_detail = audit.Acceptance("MISMATCHED_TYPE", "*", frozenset(), "d", detail="Arn")
    other_detail = audit.Acceptance("MISMATCHED_TYPE", "*", frozenset(), "d", detail="Bool")
    assert len(audit.accept([typed], [by_detail])[0]) == 1
    assert audit.accept([typed], [other_detail]) == ([], [typed])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- issue: X\n  documents: '*'\n", r"accepted\.yaml\[0\]\.reason: required"),
        ("- issue: X\n  documents: '*'\n  reason: r\n  why: y\n", r"unknown keys \['why'\]"),
        ("- issue: X\n  documents: '*'\n  reason: r\n  actions: s3:x\n", "actions: expected"),
        ("- issue: X\n  documents: '*'\n  reason: r\n  detail: [1]\n", "detail: expected"),
        ("issue: X\n", "expected a list"),
    ],
)
def test_malformed_acceptances_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "accepted.yaml"
    path.write_text(text)
    with pytest.raises(audit.AuditInputError, match=message):
        audit.load_acceptances(path)


def test_a_statement_without_a_purpose_or_with_an_unlisted_wildcard_fails(
    graphs: dict[str, Graph],
) -> None:
    graph = json.loads(json.dumps(graphs["dev"].result))
    policy = next(r for r in graph["resources"] if r["name"] == "rft-customization-policy")
    document = json.loads(policy["inputs"]["policy"])
    document["Statement"].append(
        {"Sid": "ReadEverything", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    )
    policy["inputs"]["policy"] = json.dumps(document)
    report = audit.audit(graph, stack_files.engine_config("dev"))
    assert not report.ok
    assert report.missing_purposes == ["iam-policy.rft-customization-policy.json: ReadEverything"]
    assert report.unlisted_wildcards == ["iam-policy.rft-customization-policy.json: ReadEverything"]
    assert any(f.issue == "RESOURCE_STAR" for f in report.open_findings)
    assert any(v.policy == "iam-no-unlisted-wildcard-resources" for v in report.blocking)
    assert "MISSING" in report.files()[audit.SUMMARY]


# --- files ---------------------------------------------------------------------------------
def test_write_makes_the_folder_hold_exactly_the_files(tmp_path: Path) -> None:
    (tmp_path / "gone.json").write_text("{}")
    (tmp_path / "same.json").write_text("same")
    assert audit.stale({"same.json": "same", "new.json": "n"}, tmp_path) == [
        "gone.json",
        "new.json",
    ]
    changed = audit.write({"same.json": "same", "new.json": "n"}, tmp_path)
    assert changed == ["gone.json", "new.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "same.json"]
    assert audit.stale({"same.json": "same", "new.json": "n"}, tmp_path) == []


# --- CLI -------------------------------------------------------------------------------------
def test_cli_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rftenv audit dev (account 111122223333, us-east-1): PASS" in out
    written = sorted(p.name for p in (tmp_path / "dev").iterdir())
    assert audit.SUMMARY in written and "kms-key-policy.rft-kms-key.json" in written
    assert main(["audit", "dev", "--out", str(tmp_path), "--check"]) == 0
    capsys.readouterr()
    (tmp_path / "dev" / "kms-key-policy.rft-kms-key.json").write_text("{}\n")
    assert main(["audit", "dev", "--out", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL out of date:" in out and "kms-key-policy.rft-kms-key.json" in out


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit"]) == 2
    assert "name at least one stack, or --all" in capsys.readouterr().err
    assert main(["audit", "nope", "--out", str(tmp_path)]) == 2
    assert "no stack file" in capsys.readouterr().err
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"no-such-policy": "advisory"}))
    assert main(["audit", "dev", "--out", str(tmp_path), "--policy-pack-config", str(config)]) == 2
    assert "unknown policy 'no-such-policy'" in capsys.readouterr().err


# --- the deployment role -------------------------------------------------------------------
def test_the_deployment_role_is_rendered_from_config_and_the_rollout_plan(
    reports: dict[str, audit.AuditReport],
) -> None:
    documents = {d.kind: d for d in reports["prod"].documents}
    policy, trust = documents[audit.DEPLOY_POLICY], documents[audit.DEPLOY_TRUST]
    assert policy.filename == "deployment-role-policy.rft-env-deployer.json"
    (statement,) = trust.statements
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::123456789012:role/rft-env-release"]}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "rft-env-prod"}}
    # Prod's throughput is provisioned, and its buckets are never emptied.
    sids = {s["Sid"] for s in policy.statements}
    assert "ManageProvisionedThroughput" in sids and "EmptyStackBucketsOnDestroy" not in sids
    summary = reports["prod"].files()[audit.SUMMARY]
    assert "not a stack resource: create the role with it" in summary


def test_without_rollout_principals_no_trust_is_rendered(graphs: dict[str, Graph]) -> None:
    report = audit.audit(
        graphs["dev"].result, stack_files.engine_config("dev"), rollout_principals=[]
    )
    kinds = {d.kind for d in report.documents}
    assert audit.DEPLOY_POLICY in kinds and audit.DEPLOY_TRUST not in kinds
    assert report.ok


def test_cli_names_a_broken_rollout_plan(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "rollout.yaml"
    plan.write_text("rolloutPrincipals: [nobody]\nwaves: [{name: a, stacks: [dev]}]\n")
    monkeypatch.setattr(audit, "ROLLOUT_PLAN_PATH", plan)  # absolute: replaces the project's
    assert main(["audit", "dev", "--out", str(tmp_path)]) == 2
    assert 'rolloutPrincipals[0]: got "nobody"' in capsys.readouterr().err


# --- access from other accounts ------------------------------------------------------------
RELEASE = "arn:aws:iam::123456789012:role/rft-env-release"
ATTACKER = "arn:aws:iam::999999999999:role/attacker"
FOREIGN_KEY = "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEPLOY_TRUST_FILE = "deployment-role-trust.rft-env-deployer.json"


def dev_values(**changes: Any) -> dict[str, str]:
    values = stack_files.engine_config("dev")
    values.update({f"rft-env:{key}": json.dumps(value) for key, value in changes.items()})
    return values


def test_a_rollout_principal_of_another_account_must_be_listed(
    graphs: dict[str, Graph],
) -> None:
    report = audit.audit(
        graphs["dev"].result, stack_files.engine_config("dev"), rollout_principals=[ATTACKER]
    )
    assert not report.ok
    (grant,) = report.unlisted_cross_account
    assert (grant.document, grant.sid, grant.value) == (
        DEPLOY_TRUST_FILE,
        "RolloutPrincipalsAssume",
        ATTACKER,
    )
    assert [p for p in report.problems() if ATTACKER in p and "rft-env:crossAccount" in p]
    assert (
        f"| `{ATTACKER}` | 999999999999 | Principal | NOT LISTED |" in report.files()[audit.SUMMARY]
    )
    # A rollout principal of the stack's own account is no cross-account grant.
    own = audit.audit(
        graphs["dev"].result,
        stack_files.engine_config("dev"),
        rollout_principals=["arn:aws:iam::111122223333:role/release"],
    )
    assert own.ok and own.cross_account == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_cross_account_grant_is_printed_with_its_reason(
    stack: str, reports: dict[str, audit.AuditReport], tmp_path: Path
) -> None:
    report = reports[stack]
    (grant,) = report.cross_account
    assert grant.reason and "rollout" in grant.reason
    assert report.cross_account_principals == [RELEASE]
    summary = report.files()[audit.SUMMARY]
    assert "### Access from other accounts" in summary
    assert (
        f"| {DEPLOY_TRUST_FILE} | RolloutPrincipalsAssume | `{RELEASE}` | 123456789012 | "
        f"Principal | {grant.reason} |"
    ) in summary
    figures = "1 principal and 0 resources of other accounts, 0 not listed under"
    assert figures in summary
    printed = audit.render_report(report, tmp_path, [], written=False)
    assert all(len(line) <= 80 for line in printed.splitlines())  # wrapped, not cut
    assert f"cross-account: {figures} rft-env:crossAccount" in " ".join(printed.split())


def test_a_foreign_key_user_is_refused_by_config_and_pack_and_audited_when_listed() -> None:
    kms = {"deletionWindowDays": 7, "keyUserArns": [ATTACKER]}
    with pytest.raises(pulumi.RunError, match=r"rft-env:kms\.keyUserArns\[0\]"):
        synth.synthesize("dev", config=dev_values(kms=kms))
    entries = [
        *json.loads(stack_files.engine_config("dev")["rft-env:crossAccount"]),
        {"arn": ATTACKER, "reason": "the analytics account's pipeline reads job output"},
    ]
    listed = dev_values(kms=kms, crossAccount=entries)
    graph = synth.synthesize("dev", config=listed)
    report = audit.audit(graph, listed)
    assert report.ok, report.problems()
    assert report.cross_account_principals == [RELEASE, ATTACKER]
    key_grants = [g for g in report.cross_account if g.document.startswith("kms-key-policy")]
    assert {g.sid for g in key_grants} == {
        "OperatorUsesKeyThroughS3",
        "OperatorUsesKeyThroughBedrock",
        "OperatorGrantsToBedrock",
    }
    assert {g.via for g in key_grants} == {"Condition aws:PrincipalArn"}
    assert all(g.reason == entries[-1]["reason"] for g in key_grants)
    # The same graph under a stack config without the entry: the pack blocks the key.
    violations = run_pack(graph, ALL_POLICIES, stack_config=dev_values(kms=kms))
    blocked = [v for v in violations if v.policy == "cross-account-allow-listed"]
    assert {v.resource for v in blocked} == {"rft-kms-key"}
    assert all(ATTACKER in v.message for v in blocked)


def test_a_foreign_existing_key_is_refused_by_config_and_audited_when_listed() -> None:
    with pytest.raises(pulumi.RunError, match=r"rft-env:kms\.existingKeyArn"):
        synth.synthesize("dev", config=dev_values(kms={"existingKeyArn": FOREIGN_KEY}))
    entries = [
        *json.loads(stack_files.engine_config("dev")["rft-env:crossAccount"]),
        {"arn": FOREIGN_KEY, "reason": "the platform account's shared data key"},
    ]
    listed = dev_values(kms={"existingKeyArn": FOREIGN_KEY}, crossAccount=entries)
    report = audit.audit(synth.synthesize("dev", config=listed), listed)
    assert report.ok, report.problems()
    assert report.cross_account_resources == [FOREIGN_KEY]
    documents = {g.document for g in report.cross_account if g.value == FOREIGN_KEY}
    assert "deployment-role-policy.rft-env-deployer.json" in documents
    assert "iam-policy.rft-customization-policy.json" in documents
