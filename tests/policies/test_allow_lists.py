"""The policy pack states its own allow-lists and imports none from the code it guards: a
guardrail must not loosen in the same diff as the thing it guards. The components' lists
must stay within the pack's, so a component that widens its list fails here, and widening
the pack's list is a change of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from rft_env.components import documents, tags
from rft_env.policies.rules import iam, stack
from tests.imports import REPO, imported_names, imports_of, is_within

COMPONENTS = "rft_env.components"
# What the pack may take from the components, and why none of it is an allow-list.
PERMITTED_FROM_COMPONENTS: dict[str, str] = {
    f"{COMPONENTS}.naming.PROJECT": "the config namespace the rules read the stack's keys in",
    f"{COMPONENTS}.cross_account.CROSS_ACCOUNT_KEY": "the config key of the stack's own list",
    f"{COMPONENTS}.cross_account.AllowList": "the type of the stack's own list",
    f"{COMPONENTS}.cross_account.allow_list_from_raw": "reads the list from the stack's "
    "config, where a reviewer sees it (the same reading config validation uses)",
    f"{COMPONENTS}.cross_account.foreign_account": "which account an ARN names",
}
PACK_FILES = sorted((REPO / "policies").rglob("*.py"))


def from_components(path: Path) -> set[str]:
    return {name for name in imports_of(path) if is_within(name, COMPONENTS)}


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_pack_imports_no_allow_list_from_the_components(path: Path) -> None:
    unreviewed = sorted(from_components(path) - set(PERMITTED_FROM_COMPONENTS))
    assert not unreviewed, (
        f"{path.relative_to(REPO)} imports {unreviewed} from the code the pack guards; "
        "state the pack's own list instead"
    )


def test_every_rule_module_is_checked() -> None:
    checked = {path.relative_to(REPO).as_posix() for path in PACK_FILES}
    assert {"policies/__main__.py", "policies/rules/iam.py", "policies/rules/stack.py"} <= checked


@pytest.mark.parametrize(
    "source",
    [
        "from rft_env.components.documents import WILDCARD_RESOURCE_ACTIONS",
        "from rft_env.components import tags",
        "import rft_env.components.documents",
        "def lazily():\n    from rft_env.components.tags import RESERVED_TAG_KEYS",
    ],
)
def test_every_form_of_such_an_import_is_seen(source: str) -> None:
    names = imported_names(source, "rft_env.policies.rules.iam")
    assert {name for name in names if is_within(name, COMPONENTS)} - set(PERMITTED_FROM_COMPONENTS)


def test_the_components_grant_on_star_only_what_the_pack_allows() -> None:
    allowed = {action.lower() for action in iam.ALLOWED_WILDCARD_RESOURCE_ACTIONS}
    beyond = sorted(a for a in documents.WILDCARD_RESOURCE_ACTIONS if a.lower() not in allowed)
    assert not beyond, (
        f"components.documents.WILDCARD_RESOURCE_ACTIONS goes beyond the pack's list: {beyond}"
    )


def test_each_action_the_pack_allows_on_star_has_its_reason() -> None:
    assert iam.ALLOWED_WILDCARD_RESOURCE_ACTIONS
    assert all(reason.strip() for reason in iam.ALLOWED_WILDCARD_RESOURCE_ACTIONS.values())


def test_the_stacks_carry_every_tag_the_pack_requires() -> None:
    carried = tags.default_tags(project="rft-env", environment="dev", stack="dev")
    missing = sorted(set(stack.REQUIRED_TAG_KEYS) - set(carried))
    assert not missing, f"components.tags.default_tags no longer sets {missing}"
    # and a stack's own tags can never replace them
    assert set(stack.REQUIRED_TAG_KEYS) <= set(tags.RESERVED_TAG_KEYS)
