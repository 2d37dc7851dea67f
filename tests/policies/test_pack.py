"""The pack as a whole: names, descriptions, config schemas, PulumiPolicy.yaml and the
`__main__` that serves it (read, never imported: PolicyPack starts a server and blocks)."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    Policy,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from rft_env.policies.rules import ALL_POLICIES, PACK_NAME
from tests.policies.helpers import policy_named, resource, resource_args, run

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
JSON_SCHEMA_TYPES = {"array", "boolean", "integer", "null", "number", "object", "string"}


def test_pack_name() -> None:
    assert re.match(r"^[a-zA-Z0-9-_.]{1,100}$", PACK_NAME)
    assert PACK_NAME == "rft-env"


def test_every_policy_is_listed_once_with_a_kebab_case_name() -> None:
    names = [p.name for p in ALL_POLICIES]
    assert len(names) == len(set(names)) == 23
    assert all(KEBAB.match(name) for name in names), names
    assert all(
        isinstance(p, ResourceValidationPolicy | StackValidationPolicy) for p in ALL_POLICIES
    )


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda p: p.name)
def test_every_policy_has_a_description(policy: Policy) -> None:
    assert len(policy.description) > 40
    assert policy.description.rstrip().endswith(".")


def _check_schema_structure(schema: dict[str, Any], where: str) -> None:
    """What can be checked without jsonschema: types, nested items/properties."""
    kind = schema.get("type")
    assert kind in JSON_SCHEMA_TYPES, f"{where}: type {kind!r}"
    assert isinstance(schema.get("description", ""), str), where
    if kind == "array":
        _check_schema_structure(schema["items"], f"{where}.items")
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        _check_schema_structure(schema["additionalProperties"], f"{where}.additionalProperties")
    for key in ("minimum", "maximum", "minLength"):
        assert isinstance(schema.get(key, 0), int), f"{where}.{key}"


@pytest.mark.parametrize(
    "policy", [p for p in ALL_POLICIES if p.config_schema], ids=lambda p: p.name
)
def test_config_schemas_are_valid(policy: Policy) -> None:
    schema = policy.config_schema
    assert schema is not None
    assert schema.properties
    assert "enforcementLevel" not in schema.properties
    for key, property_schema in schema.properties.items():
        _check_schema_structure(property_schema, f"{policy.name}.{key}")
    document = {"type": "object", "properties": schema.properties}
    if schema.required:
        document["required"] = schema.required
    if importlib.util.find_spec("jsonschema") is not None:
        import jsonschema

        jsonschema.validators.validator_for(document).check_schema(document)


def test_config_schema_keys() -> None:
    keys = {p.name: sorted(p.config_schema.properties) for p in ALL_POLICIES if p.config_schema}
    assert keys == {
        "kms-key-deletion-window": ["minimumDays", "production"],
        "iam-no-unlisted-wildcard-resources": ["allowedWildcardActions"],
        "iam-no-aws-managed-policies": ["allowedManagedPolicies"],
        "aws-required-tags": ["requiredTags"],
    }


def test_pulumi_policy_yaml() -> None:
    settings = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert settings["runtime"]["name"] == "python"
    assert settings["runtime"]["options"]["virtualenv"] == "../.venv"
    assert re.match(r"^\d+\.\d+\.\d+$", str(settings["version"]))
    assert settings["description"]


def test_main_builds_the_pack_from_all_policies() -> None:
    tree = ast.parse((PACK_DIR / "__main__.py").read_text())
    imports = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "rft_env.policies.rules"
        for alias in node.names
    }
    assert imports == {"ALL_POLICIES", "PACK_NAME"}
    (call,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "PolicyPack"
    ]
    keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert keywords["name"] == "PACK_NAME"
    assert keywords["policies"] == "ALL_POLICIES"
    assert keywords["enforcement_level"] == "EnforcementLevel.MANDATORY"
    assert "description" in keywords


def test_pack_folder_shadows_no_module() -> None:
    """Pulumi puts policies/ first on sys.path, so any other module or package there (an
    `inspect.py`, say) would shadow the standard library or a dependency."""
    code = (".py", ".pyc", ".so")
    importable = {
        p.name
        for p in PACK_DIR.iterdir()
        if p.suffix in code
        # A folder without code (the rendered documents) can only be a namespace package,
        # which never takes precedence over a real module of the same name.
        or (
            p.is_dir()
            and any(f.suffix in code for f in p.rglob("*") if "__pycache__" not in f.parts)
        )
    }
    assert importable == {"__init__.py", "__main__.py", "rules"}
    assert (PACK_DIR / "rendered").is_dir()
    assert (PACK_DIR / "PulumiPolicy.yaml").is_file()


# --------------------------------------------------------------------------------------
# Unknown values propagate, so CrossGuard can skip the policy during preview
# --------------------------------------------------------------------------------------
def test_unknown_resource_prop_is_not_swallowed() -> None:
    args = resource_args("aws:kms/key:Key", {"policy": UNKNOWN_STRING_VALUE})
    with pytest.raises(UnknownValueError):
        run(policy_named("kms-key-policy-no-wildcard-grants"), args)


def test_unknown_stack_prop_is_not_swallowed() -> None:
    bucket = resource("aws:s3/bucket:Bucket", "b", {"bucket": UNKNOWN_STRING_VALUE})
    with pytest.raises(UnknownValueError):
        run(policy_named("s3-bucket-tls-only"), StackValidationArgs([bucket]))
