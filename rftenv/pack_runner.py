"""Run the policy pack in-process on a synthesized graph, the way the Pulumi engine would.

`pulumi preview --policy-pack policies` needs the CLI. This module gives the same rules the
same inputs without it: every resource's inputs go to each resource policy (the engine's
`Analyze`), and the whole graph, with parents, dependencies and property dependencies, goes
to each stack policy (`AnalyzeStack`). Props are wrapped in pulumi_policy's own proxy, so a
rule that would break on the engine's read-only mappings breaks here too. Policy config has
the CLI's `--policy-pack-config` shape, and the stack's config is visible to rules through
`pulumi.Config`, as the engine passes it to policy packs.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import unknown_checking_proxy

from rft_env.graders.contract import json_type_name

Graph = Mapping[str, Any]  # the JSON shape of `rftenv.synth.synthesize`


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str  # "mandatory" | "advisory"
    resource: str  # the resource's name, or "" for a stack-wide finding
    urn: str
    message: str

    @property
    def blocking(self) -> bool:
        return self.enforcement == EnforcementLevel.MANDATORY.value

    def __str__(self) -> str:
        where = f" {self.resource}:" if self.resource else ""
        return f"[{self.enforcement}] {self.policy}:{where} {self.message}"


class PolicyConfigError(ValueError):
    pass


def require_policy_config(config: object) -> Mapping[str, Any]:
    """`config` if it has the shape of a `--policy-pack-config` document (an object keyed
    by policy name); PolicyConfigError otherwise."""
    if not isinstance(config, Mapping):
        raise PolicyConfigError(
            f"policy config: got {json_type_name(config)}; allowed: an object of policy "
            'names, such as {"all": "mandatory"}'
        )
    return config


def _levels_and_config(
    policies: Sequence[Policy], config: Mapping[str, Any] | None, default: EnforcementLevel
) -> tuple[dict[str, EnforcementLevel], dict[str, dict[str, Any]]]:
    """`--policy-pack-config` semantics: {"all": level, "<policy>": level | {...}}."""
    names = {policy.name for policy in policies}
    levels = {
        policy.name: policy.enforcement_level if policy.enforcement_level is not None else default
        for policy in policies
    }
    settings: dict[str, dict[str, Any]] = {}
    config = dict(require_policy_config(config if config is not None else {}))
    if "all" in config:
        everything = _level("all", config.pop("all"))
        levels = dict.fromkeys(levels, everything)
    for name, value in config.items():
        if name not in names:
            known = ", ".join(sorted(names))
            raise PolicyConfigError(f"policy config names unknown policy {name!r} (known: {known})")
        if isinstance(value, str):
            levels[name] = _level(name, value)
        elif isinstance(value, Mapping):
            body = dict(value)
            if "enforcementLevel" in body:
                levels[name] = _level(name, body.pop("enforcementLevel"))
            settings[name] = body
        else:
            raise PolicyConfigError(f"policy config {name}: expected a level or an object")
    return levels, settings


def _level(name: str, value: object) -> EnforcementLevel:
    try:
        return EnforcementLevel(value)
    except ValueError:
        allowed = ", ".join(level.value for level in EnforcementLevel)
        raise PolicyConfigError(
            f"policy config {name}: got enforcement level {value!r}; allowed: {allowed}"
        ) from None


def _props(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return unknown_checking_proxy(deserialize_properties(dict(values)))


def _options(resource: Mapping[str, Any]) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(resource.get("protect")),
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.get("parent"),
    )


def _providers(graph: Graph) -> dict[str, PolicyProviderResource]:
    return {
        resource["urn"]: PolicyProviderResource(
            resource["type"], _props(resource["inputs"]), resource["urn"], resource["name"]
        )
        for resource in graph["resources"]
        if resource["type"].startswith("pulumi:providers:")
    }


def _provider_of(
    resource: Mapping[str, Any], providers: Mapping[str, PolicyProviderResource]
) -> PolicyProviderResource | None:
    reference = resource.get("provider") or ""
    return providers.get(reference.rsplit("::", 1)[0]) if reference else None


def policy_resources(
    graph: Graph, providers: Mapping[str, PolicyProviderResource] | None = None
) -> list[PolicyResource]:
    """The graph as `AnalyzeStack` sees it: state (outputs over inputs) and links."""
    providers = _providers(graph) if providers is None else providers
    resources: dict[str, PolicyResource] = {}
    for resource in graph["resources"]:
        state = {**resource["inputs"], **(resource.get("outputs") or {})}
        resources[resource["urn"]] = PolicyResource(
            resource["type"],
            _props(state),
            resource["urn"],
            resource["name"],
            _options(resource),
            _provider_of(resource, providers),
            None,
            [],
            {},
        )
    for resource in graph["resources"]:
        target = resources[resource["urn"]]
        target.parent = resources.get(resource.get("parent") or "")
        target.dependencies = [
            resources[urn] for urn in resource.get("dependencies", []) if urn in resources
        ]
        target.property_dependencies = {
            key: [resources[urn] for urn in urns if urn in resources]
            for key, urns in (resource.get("propertyDependencies") or {}).items()
        }
    return list(resources.values())


def _validate(policy: Policy, args: Any, report: Any) -> None:
    """One validation, as the engine runs it: awaited on a fresh loop if async, and a
    rule that declares itself not applicable (`args.not_applicable()`) reports nothing."""
    try:
        result = policy.validate(args, report)  # type: ignore[attr-defined]
        if inspect.isawaitable(result):
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(result)
            finally:
                loop.close()
    except _NotApplicableError:
        pass


def run_pack(
    graph: Graph,
    policies: Sequence[Policy],
    *,
    stack_config: Mapping[str, str] | None = None,
    policy_config: Mapping[str, Any] | None = None,
    default_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> list[Violation]:
    """Every violation the pack reports for `graph`, resource policies first.

    `stack_config` is the engine-style config map (`rft-env:production` -> "true"); rules
    read it through `pulumi.Config`, as under the engine.
    """
    levels, settings = _levels_and_config(policies, policy_config, default_level)
    if stack_config is not None:
        pulumi.runtime.set_all_config(dict(stack_config), secret_keys=[])
    providers = _providers(graph)
    by_urn = {resource["urn"]: resource["name"] for resource in graph["resources"]}
    violations: list[Violation] = []

    def reporter(policy: Policy, default_urn: str, fixed: bool) -> Any:
        level = levels[policy.name]

        def report(message: str, urn: str | None = None) -> None:
            where = default_urn if fixed or not urn else urn
            violations.append(
                Violation(policy.name, level.value, by_urn.get(where, ""), where, message)
            )

        return report

    active = [p for p in policies if levels[p.name] is not EnforcementLevel.DISABLED]
    for policy in active:
        if not isinstance(policy, ResourceValidationPolicy):
            continue
        for resource in graph["resources"]:
            args = ResourceValidationArgs(
                resource["type"],
                _props(resource["inputs"]),
                resource["urn"],
                resource["name"],
                _options(resource),
                _provider_of(resource, providers),
                settings.get(policy.name),
            )
            _validate(policy, args, reporter(policy, resource["urn"], fixed=True))
    stack_resources = policy_resources(graph, providers)
    for policy in active:
        if isinstance(policy, StackValidationPolicy):
            args = StackValidationArgs(stack_resources, settings.get(policy.name))
            _validate(policy, args, reporter(policy, "", fixed=False))
    return violations
