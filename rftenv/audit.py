"""`rftenv audit`: every policy document a stack creates, rendered for review and checked.

From the synthesized graph (the real program under mocks) this collects each IAM trust and
permission policy, KMS key policy, bucket policy, Lambda permission and topic policy, and
renders each as sorted, pretty JSON under a stable file name, plus a SUMMARY.md table
(principal, actions, resources, conditions, why). It then runs the policy pack's rules on
the same graph and parliament (an IAM linter) on every IAM permission policy. The audit
passes only with no pack violation, no lint finding that is not accepted with a reason in
`policies/accepted-findings.yaml`, and a recorded purpose for every statement.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rft_env.components.cross_account import CROSS_ACCOUNT_KEY, AllowList
from rft_env.components.deployment_role import DEPLOYMENT_WILDCARD_RESOURCE_ACTIONS
from rft_env.components.documents import WILDCARD_RESOURCE_ACTIONS, statement_purpose
from rft_env.policies.rules.cross_account import foreign_references
from rft_env.rftenv import display
from rft_env.rftenv.pack_runner import Graph, Violation, run_pack
from rft_env.rftenv.project import project_root
from rft_env.rftenv.yamlfile import YamlFileError, load_yaml

# Where the audit reads and writes, relative to the project directory.
RENDERED_PATH = Path("policies") / "rendered"
ACCEPTED_FINDINGS_PATH = Path("policies") / "accepted-findings.yaml"
ROLLOUT_PLAN_PATH = Path("stacks") / "rollout.yaml"
SUMMARY = "SUMMARY.md"

# Document kinds, in the order the summary lists them: (kind, title, resource type, prop).
IDENTITY = "iam-policy"
TRUST = "iam-trust"
_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    (IDENTITY, "IAM permission policy", "aws:iam/rolePolicy:RolePolicy", "policy"),
    (IDENTITY, "IAM permission policy", "aws:iam/policy:Policy", "policy"),
    (IDENTITY, "IAM permission policy", "aws:iam/userPolicy:UserPolicy", "policy"),
    (IDENTITY, "IAM permission policy", "aws:iam/groupPolicy:GroupPolicy", "policy"),
    (TRUST, "IAM trust policy", "aws:iam/role:Role", "assumeRolePolicy"),
    ("kms-key-policy", "KMS key policy", "aws:kms/key:Key", "policy"),
    ("kms-key-policy", "KMS key policy", "aws:kms/keyPolicy:KeyPolicy", "policy"),
    ("s3-bucket-policy", "S3 bucket policy", "aws:s3/bucketPolicy:BucketPolicy", "policy"),
    ("sns-topic-policy", "SNS topic policy", "aws:sns/topicPolicy:TopicPolicy", "policy"),
    ("lambda-permission", "Lambda permission", "aws:lambda/permission:Permission", ""),
)
# Documents of the deployment role, which you create in the target account (not a stack
# resource): rendered from the stack's config and the rollout plan.
DEPLOY_POLICY = "deployment-role-policy"
DEPLOY_TRUST = "deployment-role-trust"
KIND_TITLES = {kind: title for kind, title, _, _ in _SOURCES} | {
    DEPLOY_POLICY: "Deployment role permission policy",
    DEPLOY_TRUST: "Deployment role trust policy",
}
PERMISSION_KINDS = (IDENTITY, DEPLOY_POLICY)  # documents whose principal is their subject
LINTED_KINDS = (IDENTITY, TRUST, DEPLOY_POLICY, DEPLOY_TRUST)


def wildcard_allow_list(kind: str) -> Mapping[str, str]:
    """Actions a document of this kind may grant on "*", each with its reason."""
    return (
        DEPLOYMENT_WILDCARD_RESOURCE_ACTIONS if kind == DEPLOY_POLICY else WILDCARD_RESOURCE_ACTIONS
    )


class AuditInputError(ValueError):
    """The audit's own inputs (accepted findings, a policy document) are malformed."""


# --------------------------------------------------------------------------------------
# Collecting documents
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyDocument:
    kind: str
    resource: str  # the logical name of the resource that carries it
    subject: str  # whom it is about: "role x", "key y", "bucket z"
    document: dict[str, Any]
    file_suffix: str = ""  # distinguishes several documents on one resource
    resource_arn: str = ""  # of the resource carrying it, when known (a role's ARN)

    @property
    def filename(self) -> str:
        return f"{self.kind}.{self.resource}{self.file_suffix}.json"

    @property
    def statements(self) -> list[dict[str, Any]]:
        statements = self.document.get("Statement", [])
        return statements if isinstance(statements, list) else [statements]


def _parse(resource: Mapping[str, Any], prop: str) -> dict[str, Any]:
    value = resource["inputs"].get(prop)
    if isinstance(value, dict):
        return value
    try:
        document = json.loads(value)
    except (TypeError, ValueError) as error:
        raise AuditInputError(
            f"{resource['type']} {resource['name']}: {prop} is not a JSON policy ({error})"
        ) from None
    if not isinstance(document, dict):
        raise AuditInputError(f"{resource['type']} {resource['name']}: {prop} is not an object")
    return document


# Whom a document is about, for resources that name it in one input: type -> (label, input).
_SUBJECT_INPUTS = {
    "aws:iam/rolePolicy:RolePolicy": ("role", "role"),
    "aws:iam/userPolicy:UserPolicy": ("user", "user"),
    "aws:iam/groupPolicy:GroupPolicy": ("group", "group"),
    "aws:s3/bucketPolicy:BucketPolicy": ("bucket", "bucket"),
    "aws:sns/topicPolicy:TopicPolicy": ("topic", "arn"),
    "aws:kms/keyPolicy:KeyPolicy": ("key", "keyId"),
}


def _subject(resource: Mapping[str, Any]) -> str:
    inputs, kind = resource["inputs"], resource["type"]
    if kind in _SUBJECT_INPUTS:
        label, key = _SUBJECT_INPUTS[kind]
        return f"{label} {inputs.get(key, '?')}"
    if kind == "aws:iam/role:Role":
        return f"role {inputs.get('name') or resource.get('id') or resource['name']}"
    if kind == "aws:kms/key:Key":
        return f"key {(resource.get('outputs') or {}).get('arn') or resource['name']}"
    if kind == "aws:iam/policy:Policy":
        return f"managed policy {inputs.get('name') or resource['name']}"
    return resource["name"]


def lambda_permission_document(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda permission as the statement Lambda adds to the function's policy."""
    inputs = resource["inputs"]
    principal = str(inputs.get("principal", ""))
    statement: dict[str, Any] = {
        "Sid": inputs.get("statementId") or resource["name"],
        "Effect": "Allow",
        "Principal": {"Service": principal}
        if principal.endswith(".amazonaws.com")
        else ("*" if principal == "*" else {"AWS": principal}),
        "Action": inputs.get("action", ""),
        "Resource": inputs.get("function", ""),
    }
    condition: dict[str, dict[str, str]] = {}
    if inputs.get("sourceArn"):
        condition.setdefault("ArnLike", {})["AWS:SourceArn"] = inputs["sourceArn"]
    if inputs.get("sourceAccount"):
        condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = inputs["sourceAccount"]
    if inputs.get("functionUrlAuthType"):
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = inputs[
            "functionUrlAuthType"
        ]
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def collect_documents(graph: Graph) -> list[PolicyDocument]:
    """Every policy document in the graph, in summary order (kind, then resource name)."""
    documents: list[PolicyDocument] = []
    order = {kind: index for index, (kind, *_rest) in enumerate(_SOURCES)}
    for resource in graph["resources"]:
        for kind, _title, type_, prop in _SOURCES:
            if resource["type"] != type_:
                continue
            if kind == "lambda-permission":
                document = lambda_permission_document(resource)
            elif resource["inputs"].get(prop) in (None, ""):
                continue
            else:
                document = _parse(resource, prop)
            documents.append(
                PolicyDocument(
                    kind,
                    resource["name"],
                    _subject(resource),
                    document,
                    resource_arn=str((resource.get("outputs") or {}).get("arn") or ""),
                )
            )
        if resource["type"] == "aws:iam/role:Role":
            for inline in resource["inputs"].get("inlinePolicies") or []:
                if not inline.get("policy"):
                    continue
                documents.append(
                    PolicyDocument(
                        IDENTITY,
                        resource["name"],
                        _subject(resource),
                        _parse({**resource, "inputs": inline}, "policy"),
                        file_suffix=f".{inline.get('name', 'inline')}",
                    )
                )
    return sorted(documents, key=lambda d: (order[d.kind], d.filename))


# --------------------------------------------------------------------------------------
# Reading statements
# --------------------------------------------------------------------------------------
def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def principal_text(statement: Mapping[str, Any], document: PolicyDocument) -> str:
    if document.kind in PERMISSION_KINDS:
        return document.subject
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if principal == "*":
        return "*"
    if isinstance(principal, Mapping):
        return ", ".join(
            f"{kind}: {value}" for kind in sorted(principal) for value in as_list(principal[kind])
        )
    return str(principal)


def condition_text(statement: Mapping[str, Any]) -> str:
    parts = []
    for operator, entries in sorted((statement.get("Condition") or {}).items()):
        for key, values in sorted(entries.items()):
            shown = ", ".join(str(v) for v in as_list(values))
            parts.append(f"{operator} {key} = {shown}")
    return "; ".join(parts)


def wildcard_kind(statement: Mapping[str, Any]) -> str:
    """ "star" for Resource "*" (or any NotResource), "pattern" for an ARN with a
    wildcard, "" for exact resources."""
    resources = [str(r) for r in as_list(statement.get("Resource"))]
    if "NotResource" in statement or "*" in resources:
        return "star"
    return "pattern" if any("*" in r or "?" in r for r in resources) else ""


# --------------------------------------------------------------------------------------
# Lint findings and their acceptance
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LintFinding:
    document: str  # file name
    issue: str
    title: str
    severity: str
    actions: tuple[str, ...]  # lower-case, when the finding names actions
    detail: str
    accepted_because: str = ""

    def __str__(self) -> str:
        about = ", ".join(self.actions) or self.detail
        return f"{self.document}: {self.issue} ({self.severity}) {about}".rstrip()


@dataclass(frozen=True)
class Acceptance:
    issue: str
    documents: str  # a glob over file names
    actions: frozenset[str]  # lower-case; empty accepts the issue whatever it names
    reason: str
    detail: str = ""  # when set, the finding's detail must contain it

    def applies_to(self, finding: LintFinding) -> bool:
        return (
            finding.issue == self.issue
            and fnmatch.fnmatchcase(finding.document, self.documents)
            and self.detail in finding.detail
        )


def load_acceptances(path: Path | None = None) -> list[Acceptance]:
    """The project's accepted findings (policies/accepted-findings.yaml by default)."""
    path = path or project_root() / ACCEPTED_FINDINGS_PATH
    if not path.is_file():
        return []
    try:
        entries = load_yaml(path) or []  # the project's one bounded YAML loader
    except YamlFileError as error:
        raise AuditInputError(str(error)) from None
    if not isinstance(entries, list):
        raise AuditInputError(f"{path}: expected a list of accepted findings")
    acceptances = []
    for index, entry in enumerate(entries):
        where = f"{path.name}[{index}]"
        if not isinstance(entry, dict):
            raise AuditInputError(f"{where}: expected a mapping")
        unknown = set(entry) - {"issue", "documents", "actions", "reason", "detail"}
        if unknown:
            raise AuditInputError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("issue", "documents", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise AuditInputError(f"{where}.{key}: required, a non-empty string")
        actions = entry.get("actions") or []
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise AuditInputError(f"{where}.actions: expected a list of action names")
        if not isinstance(entry.get("detail", ""), str):
            raise AuditInputError(f"{where}.detail: expected a string")
        acceptances.append(
            Acceptance(
                entry["issue"],
                entry["documents"],
                frozenset(a.lower() for a in actions),
                " ".join(entry["reason"].split()),
                entry.get("detail", ""),
            )
        )
    return acceptances


def _finding_actions(finding: Any) -> tuple[str, ...]:
    detail, location = finding.detail, finding.location or {}
    names: list[str] = []
    if isinstance(location, dict) and isinstance(location.get("actions"), list):
        names = [str(a) for a in location["actions"]]
    elif isinstance(detail, list):
        for item in detail:
            names.append(str(item.get("action", "")) if isinstance(item, dict) else str(item))
    return tuple(sorted({n.lower() for n in names if n}))


def _community_config(parliament: Any) -> None:
    """Titles and severities of the community auditors' issues, as parliament's CLI loads
    them with --include-community-auditors (once: it merges into a module global)."""
    if "PERMISSIONS_MANAGEMENT_ACTIONS" not in parliament.config:
        override = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
        parliament.override_config(str(override))


def _lintable(document: PolicyDocument) -> dict[str, Any]:
    """parliament reads identity policies. A trust policy's resource is its role, so each
    statement gets the role as `Resource`: then parliament checks its actions and
    conditions instead of stopping at the missing element."""
    if document.kind not in (TRUST, DEPLOY_TRUST):
        return document.document
    role = document.resource_arn or "arn:aws:iam::111122223333:role/trust-policy-subject"
    return {
        **document.document,
        "Statement": [{**statement, "Resource": role} for statement in document.statements],
    }


def lint(documents: Iterable[PolicyDocument]) -> list[LintFinding]:
    """parliament (with its community auditors) on every IAM document: permission and
    trust policies. (It has no mode for resource policies, which the pack's rules cover.)"""
    try:
        with warnings.catch_warnings():
            # parliament imports pkg_resources, which warns on import.
            warnings.simplefilter("ignore")
            import parliament
    except ImportError as error:
        # An extra: parliament needs pkg_resources, so a setuptools older than 81, which
        # the library itself should not impose on a project.
        raise AuditInputError(
            f"the IAM lint needs parliament ({error}): pip install 'rft-env[audit]'"
        ) from None
    _community_config(parliament)

    findings = []
    for document in documents:
        if document.kind not in LINTED_KINDS:
            continue
        analysed = parliament.analyze_policy_string(
            json.dumps(_lintable(document)), include_community_auditors=True
        )
        for raw in analysed.findings:
            enhanced = parliament.enhance_finding(raw)
            actions = _finding_actions(enhanced)
            findings.append(
                LintFinding(
                    document.filename,
                    enhanced.issue,
                    enhanced.title,
                    str(enhanced.severity),
                    actions,
                    "" if actions else str(enhanced.detail),
                )
            )
    return sorted(set(findings), key=lambda f: (f.document, f.issue, f.actions, f.detail))


def accept(
    findings: Sequence[LintFinding], acceptances: Sequence[Acceptance]
) -> tuple[list[LintFinding], list[LintFinding]]:
    """(accepted, with their reasons; not accepted). A finding is accepted when entries for
    its issue and document together cover every action it names (an entry without
    actions covers them all)."""
    accepted, open_ = [], []
    for finding in findings:
        entries = [a for a in acceptances if a.applies_to(finding)]
        used = [a for a in entries if not a.actions or set(finding.actions) & a.actions]
        covered = set().union(*(a.actions for a in used)) if used else set()
        if not used or (all(a.actions for a in used) and not set(finding.actions) <= covered):
            open_.append(finding)
            continue
        reasons = " / ".join(dict.fromkeys(a.reason for a in used))
        accepted.append(LintFinding(**{**finding.__dict__, "accepted_because": reasons}))
    return accepted, open_


# --------------------------------------------------------------------------------------
# Cross-account grants
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossAccountGrant:
    """A principal or resource of another account that a statement names, and the reason
    `rft-env:crossAccount` gives for it (None: not listed, which fails the audit)."""

    document: str  # file name
    sid: str
    value: str
    account: str
    via: str  # "Principal", "Resource" or "Condition <key>"
    reason: str | None

    @property
    def is_principal(self) -> bool:
        return self.via != "Resource"

    def __str__(self) -> str:
        return f"{self.document}: {self.sid or '(no Sid)'}: {self.value} ({self.via})"


def cross_account_grants(
    documents: Iterable[PolicyDocument], own_accounts: Sequence[str], listed: AllowList
) -> list[CrossAccountGrant]:
    """Every principal and resource of another account named by the documents (the same
    reading as the policy pack's cross-account rule), once per statement."""
    grants: list[CrossAccountGrant] = []
    for document in documents:
        for ref in foreign_references(document.document, own_accounts):
            grant = CrossAccountGrant(
                document.filename,
                ref.sid or ref.statement,
                ref.value,
                ref.account,
                ref.via,
                listed.reason_for(ref.value),
            )
            if not any(
                (g.document, g.sid, g.value) == (grant.document, grant.sid, grant.value)
                for g in grants
            ):
                grants.append(grant)
    return grants


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------
@dataclass
class AuditReport:
    stack: str
    account_id: str
    region: str
    documents: list[PolicyDocument]
    violations: list[Violation]
    accepted: list[LintFinding]
    open_findings: list[LintFinding]
    policy_count: int
    missing_purposes: list[str] = field(default_factory=list)  # "file: Sid"
    unlisted_wildcards: list[str] = field(default_factory=list)
    cross_account: list[CrossAccountGrant] = field(default_factory=list)

    @property
    def unlisted_cross_account(self) -> list[CrossAccountGrant]:
        return [grant for grant in self.cross_account if grant.reason is None]

    @property
    def cross_account_principals(self) -> list[str]:
        """The distinct principals of other accounts the stack's documents name."""
        return sorted({g.value for g in self.cross_account if g.is_principal})

    @property
    def cross_account_resources(self) -> list[str]:
        return sorted({g.value for g in self.cross_account if not g.is_principal})

    @property
    def blocking(self) -> list[Violation]:
        return [v for v in self.violations if v.blocking]

    @property
    def ok(self) -> bool:
        return not (
            self.blocking
            or self.open_findings
            or self.missing_purposes
            or self.unlisted_wildcards
            or self.unlisted_cross_account
        )

    def files(self) -> dict[str, str]:
        """File name -> content of everything the audit writes for the stack."""
        files = {
            d.filename: json.dumps(d.document, indent=2, sort_keys=True) + "\n"
            for d in self.documents
        }
        files[SUMMARY] = render_summary(self)
        return files

    def problems(self) -> list[str]:
        return [
            *(str(v) for v in self.blocking),
            *(f"lint: {f}" for f in self.open_findings),
            *(
                f"no recorded purpose (components.documents.STATEMENT_PURPOSES): {m}"
                for m in self.missing_purposes
            ),
            *(
                f'Resource "*" for actions outside the allow-list: {w}'
                for w in self.unlisted_wildcards
            ),
            *(
                f"another account's principal or resource not listed under "
                f"rft-env:{CROSS_ACCOUNT_KEY} (with a reason): {g}"
                for g in self.unlisted_cross_account
            ),
        ]


def deployment_documents(
    stack: str, stack_config: Mapping[str, str], rollout_principals: Sequence[str]
) -> list[PolicyDocument]:
    """The deployment role's documents for this stack (see
    `components.environment.deployment_role_documents`)."""
    from rft_env.components.environment import deployment_role_documents
    from rft_env.rftenv import stack_files

    config = stack_files.stack_config(stack, values=dict(stack_config))
    role_arn = config.account.deployment_role_arn
    role = role_arn.rsplit("/", 1)[-1] if role_arn else "deployer"
    subject = f"role {role_arn}" if role_arn else "the principal that runs `pulumi up`"
    policy, trust = deployment_role_documents(config, list(rollout_principals))
    rendered = [PolicyDocument(DEPLOY_POLICY, role, subject, policy)]
    if trust is not None:
        rendered.append(
            PolicyDocument(DEPLOY_TRUST, role, subject, trust, resource_arn=role_arn or "")
        )
    return rendered


def plan_principals(plan: Path | None = None) -> list[str]:
    """The rollout principals of the plan (stacks/rollout.yaml by default), if there is a
    plan: the audit renders the deployment roles' trust for them."""
    plan = plan or project_root() / ROLLOUT_PLAN_PATH
    if not plan.is_file():
        return []
    from rft_env.rftenv.rollout import load_plan
    from rft_env.rftenv.stack_files import available_stacks

    return list(load_plan(plan, available_stacks()).rollout_principals)


def audit(
    graph: Graph,
    stack_config: Mapping[str, str],
    *,
    policy_config: Mapping[str, Any] | None = None,
    acceptances: Sequence[Acceptance] | None = None,
    rollout_principals: Sequence[str] | None = None,
) -> AuditReport:
    """Everything `rftenv audit` checks for one stack. `rollout_principals` default to
    those of stacks/rollout.yaml."""
    from rft_env.policies.rules import ALL_POLICIES
    from rft_env.rftenv import stack_files

    principals = plan_principals() if rollout_principals is None else rollout_principals
    config = stack_files.stack_config(str(graph["stack"]), values=dict(stack_config))
    documents = collect_documents(graph) + deployment_documents(
        str(graph["stack"]), stack_config, principals
    )
    violations = run_pack(
        graph, ALL_POLICIES, stack_config=stack_config, policy_config=policy_config
    )
    accepted, open_findings = accept(
        lint(documents), load_acceptances() if acceptances is None else acceptances
    )
    missing, unlisted = [], []
    for document in documents:
        for index, statement in enumerate(document.statements):
            sid = str(statement.get("Sid") or f"#{index}")
            if statement_purpose(sid) is None:
                missing.append(f"{document.filename}: {sid}")
            if document.kind in PERMISSION_KINDS and wildcard_kind(statement) == "star":
                actions = as_list(statement.get("Action"))
                extra = [a for a in actions if a not in wildcard_allow_list(document.kind)]
                if extra or "NotAction" in statement:
                    unlisted.append(f"{document.filename}: {sid}")
    return AuditReport(
        stack=str(graph["stack"]),
        account_id=str(graph.get("accountId", "")),
        region=str(graph.get("region", "")),
        documents=documents,
        violations=violations,
        accepted=accepted,
        open_findings=open_findings,
        policy_count=len(ALL_POLICIES),
        missing_purposes=missing,
        unlisted_wildcards=unlisted,
        # The deployment role's trust (rollout principals) is no stack resource, so the
        # pack never sees it: this check is what holds it to the allow-list.
        cross_account=cross_account_grants(
            documents, [config.account.id], config.cross_account_allow_list
        ),
    )


# --------------------------------------------------------------------------------------
# SUMMARY.md
# --------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _code(values: Iterable[Any]) -> str:
    return ", ".join(f"`{v}`" for v in values) or "-"


@dataclass
class Totals:
    documents: int = 0
    statements: int = 0
    allow: int = 0
    deny: int = 0
    star: int = 0
    pattern: int = 0


def totals(report: AuditReport) -> dict[str, Totals]:
    counts: dict[str, Totals] = {}
    for document in report.documents:
        entry = counts.setdefault(document.kind, Totals())
        entry.documents += 1
        for statement in document.statements:
            entry.statements += 1
            if statement.get("Effect") == "Deny":
                entry.deny += 1
                continue
            entry.allow += 1
            wildcard = wildcard_kind(statement)
            entry.star += wildcard == "star"
            entry.pattern += wildcard == "pattern"
    return counts


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def cross_account_figures(report: AuditReport) -> str:
    """One line: how many principals and resources of other accounts the stack names."""
    unlisted = len({g.value for g in report.unlisted_cross_account})
    return (
        f"{_plural(len(report.cross_account_principals), 'principal')} and "
        f"{_plural(len(report.cross_account_resources), 'resource')} of other accounts, "
        f"{unlisted} not listed under `rft-env:{CROSS_ACCOUNT_KEY}`"
    )


def _cross_account_lines(report: AuditReport) -> list[str]:
    lines = [
        "### Access from other accounts",
        "",
        f"Principals and resources outside account {report.account_id} that a statement "
        f"names (in Principal, a principal condition such as `aws:PrincipalArn`, or "
        f"Resource), each with the reason its `rft-env:{CROSS_ACCOUNT_KEY}` entry gives: "
        f"{cross_account_figures(report)}.",
        "",
    ]
    if not report.cross_account:
        return [*lines, "None."]
    lines += [
        "| document | Sid | principal or resource | account | named in | reason |",
        "|---|---|---|---|---|---|",
    ]
    for grant in report.cross_account:
        lines.append(
            f"| {grant.document} | {_cell(grant.sid)} | `{grant.value}` | {grant.account} | "
            f"{grant.via} | {_cell(grant.reason or 'NOT LISTED')} |"
        )
    return lines


def render_summary(report: AuditReport) -> str:
    lines = [
        f"# Policy documents of stack `{report.stack}`",
        "",
        f"Account {report.account_id}, region {report.region}. Written by "
        f"`rftenv audit {report.stack}` from the synthesized program; a test fails when this "
        "folder is out of date, so every change to a permission shows up here as a diff.",
        "",
        "## Totals",
        "",
        "| kind | documents | statements | Allow | Deny | Allow on `*` | Allow on a wildcard "
        "pattern |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    counts = totals(report)
    for kind, entry in counts.items():
        lines.append(
            f"| {KIND_TITLES[kind]} | {entry.documents} | {entry.statements} | {entry.allow} | "
            f"{entry.deny} | {entry.star} | {entry.pattern} |"
        )
    lines += [
        "",
        'In a key policy `"Resource": "*"` is the key itself, and a bucket policy\'s wildcard '
        "is the bucket's own objects; only IAM permission policies can reach other resources.",
        "",
        '### IAM permissions on `"*"`',
        "",
    ]
    star_rows = [
        (document, statement)
        for document in report.documents
        if document.kind in PERMISSION_KINDS
        for statement in document.statements
        if statement.get("Effect") == "Allow" and wildcard_kind(statement) == "star"
    ]
    if star_rows:
        lines += ["| document | Sid | actions | why nothing narrower |", "|---|---|---|---|"]
        for document, statement in star_rows:
            actions = as_list(statement.get("Action"))
            allowed = wildcard_allow_list(document.kind)
            reasons = sorted({allowed.get(a, "NOT ALLOWED") for a in actions})
            lines.append(
                f"| {document.filename} | {statement.get('Sid', '')} | {_code(actions)} | "
                f"{_cell('; '.join(reasons))} |"
            )
    else:
        lines.append("None.")
    lines += ["", *_cross_account_lines(report), "", "## Checks", ""]
    blocking = len(report.blocking)
    lines.append(
        f"- Policy pack `rft-env` ({report.policy_count} policies) on the synthesized graph: "
        f"{blocking} blocking violation{'s' if blocking != 1 else ''}."
    )
    linted = sum(d.kind in LINTED_KINDS for d in report.documents)
    total = len(report.accepted) + len(report.open_findings)
    lines.append(
        f"- parliament on the {linted} IAM permission and trust policies: {total} finding"
        f"{'s' if total != 1 else ''}, {len(report.accepted)} accepted with a reason "
        f"(`policies/accepted-findings.yaml`), {len(report.open_findings)} open."
    )
    if report.accepted or report.open_findings:
        lines += [
            "",
            "| document | finding | actions | accepted because |",
            "|---|---|---|---|",
        ]
        for finding in [*report.accepted, *report.open_findings]:
            lines.append(
                f"| {finding.document} | {finding.issue}: {_cell(finding.title)} | "
                f"{_code(finding.actions) if finding.actions else _cell(finding.detail)} | "
                f"{_cell(finding.accepted_because or 'OPEN: not accepted')} |"
            )
    for document in report.documents:
        lines += [
            "",
            f"## {document.filename}",
            "",
            f"{KIND_TITLES[document.kind]} of {document.subject}"
            + (
                " (not a stack resource: create the role with it before the first `pulumi up`)."
                if document.kind in (DEPLOY_POLICY, DEPLOY_TRUST)
                else f" (resource `{document.resource}`)."
            ),
            "",
            "| Sid | Effect | Principal | Actions | Resources | Conditions | Why |",
            "|---|---|---|---|---|---|---|",
        ]
        for statement in document.statements:
            sid = str(statement.get("Sid", ""))
            actions = as_list(statement.get("Action")) or [
                f"NOT {a}" for a in as_list(statement.get("NotAction"))
            ]
            resources = as_list(statement.get("Resource")) or [
                f"NOT {r}" for r in as_list(statement.get("NotResource"))
            ]
            why = statement_purpose(sid) if sid else None
            lines.append(
                f"| {_cell(sid)} | {statement.get('Effect', '')} | "
                f"{_cell(principal_text(statement, document))} | {_code(actions)} | "
                f"{_code(resources)} | {_cell(condition_text(statement))} | "
                f"{_cell(why or 'MISSING')} |"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Files on disk
# --------------------------------------------------------------------------------------
def write(files: Mapping[str, str], directory: Path) -> list[str]:
    """Make `directory` hold exactly `files`; returns the names that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale(files, directory)
    for name in {p.name for p in directory.iterdir() if p.is_file()} - set(files):
        (directory / name).unlink()
    for name, text in files.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return changed


def stale(files: Mapping[str, str], directory: Path) -> list[str]:
    """Names whose committed copy differs from `files`, is missing, or should not exist."""
    present = {p.name for p in directory.iterdir() if p.is_file()} if directory.is_dir() else set()
    differs = [
        name
        for name, text in files.items()
        if name not in present or (directory / name).read_text(encoding="utf-8") != text
    ]
    return sorted(differs + sorted(present - set(files)))


def render_report(
    report: AuditReport, directory: Path, changed: Sequence[str], *, written: bool
) -> str:
    """The console summary of one stack's audit."""
    counts = totals(report)
    identity = counts.get(IDENTITY, Totals())
    verb = "wrote" if written else "checked"
    findings = len(report.accepted) + len(report.open_findings)
    try:
        shown = directory.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = directory
    lines = [
        f"rftenv audit {report.stack} (account {report.account_id}, {report.region}): "
        f"{'PASS' if report.ok else 'FAIL'}",
        f"  {len(report.documents)} policy documents, {verb} {shown} "
        f"({len(changed)} file{'s' if len(changed) != 1 else ''} changed)",
        f'  IAM permissions: {identity.allow} Allow statements, {identity.star} on "*", '
        f"{identity.pattern} on wildcard patterns",
        f"  policy pack: {report.policy_count} policies, {len(report.blocking)} blocking "
        f"violations, {len(report.violations) - len(report.blocking)} advisory",
        f"  parliament: {findings} finding{'s' if findings != 1 else ''}, "
        f"{len(report.accepted)} accepted, {len(report.open_findings)} open",
        f"  cross-account: {cross_account_figures(report).replace('`', '')}",
    ]
    lines += [f"  advisory {v}" for v in report.violations if not v.blocking]
    # Wrapped to 80 columns, continuation lines indented under their line.
    return "\n".join(wrapped for line in lines for wrapped in display.fill(line, indent="    "))
