"""Helpers of the stand-in's own tests: synth's resources in the wire encoding the engine
would send, and providers configured like each stack's."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Graph
from tests.standin_aws import CloudStore, StandinAwsProvider, wire
from tests.standin_aws.calllog import CallLog
from tests.standin_aws.provider import CheckResult

PROVIDER_TYPE = "pulumi:providers:aws"


def to_wire(value: Any) -> Any:
    """synth's JSON-friendly values as the engine sends them: assets with their hash."""
    if isinstance(value, dict):
        if "$asset" in value:
            return {wire.SIGNATURE: wire.ASSET, "path": value["$asset"], "hash": value["sha256"]}
        if "$archive" in value:
            members = value["$archive"]
            if isinstance(members, str):
                return {wire.SIGNATURE: wire.ARCHIVE, "path": members}
            return {
                wire.SIGNATURE: wire.ARCHIVE,
                "assets": {name: to_wire(member) for name, member in members.items()},
            }
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    return value


def dependency_order(graph: Graph) -> list[dict[str, Any]]:
    """The graph's resources, each after everything it depends on (the engine's order)."""
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(resource: dict[str, Any]) -> None:
        if resource["urn"] in seen:
            return
        seen.add(resource["urn"])
        needed = list(resource["dependencies"])
        needed += [urn for urns in resource["propertyDependencies"].values() for urn in urns]
        for urn in needed:
            if urn in graph.by_urn:
                visit(graph.by_urn[urn])
        ordered.append(resource)

    for resource in graph.resources:
        visit(resource)
    return ordered


def aws_resources(graph: Graph) -> list[dict[str, Any]]:
    return [r for r in dependency_order(graph) if r["type"].startswith("aws:")]


def provider_inputs(graph: Graph) -> dict[str, Any]:
    return next(r for r in graph.resources if r["type"] == PROVIDER_TYPE)["inputs"]


def resource(graph: Graph, type_: str) -> dict[str, Any]:
    """The first resource of a type, its inputs a copy the test may change."""
    found = copy.deepcopy(graph.of_type(type_)[0])
    found["inputs"] = to_wire(found["inputs"])
    return found


class Deployment:
    """A provider configured like one stack's, over its own cloud and call log."""

    def __init__(self, root: Path, graph: Graph) -> None:
        self.graph = graph
        self.cloud_path = root / "cloud.json"
        self.log_path = root / "calls.jsonl"
        self.provider = StandinAwsProvider(CloudStore(self.cloud_path), CallLog(self.log_path))
        self.provider.configure(provider_inputs(graph))

    @property
    def cloud(self) -> CloudStore:
        return CloudStore(self.cloud_path)

    def check(self, res: dict[str, Any], inputs: dict[str, Any] | None = None) -> CheckResult:
        return self.provider.check(
            res["urn"], {}, to_wire(res["inputs"]) if inputs is None else inputs
        )

    def create(
        self, res: dict[str, Any], inputs: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        checked = self.check(res, inputs)
        assert not checked.failures, checked.failures
        return self.provider.create(res["urn"], checked.inputs)

    def create_all(self, until: str | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
        """Creates the stack's AWS resources in dependency order (up to the urn `until`)."""
        created = {}
        for res in aws_resources(self.graph):
            created[res["urn"]] = self.create(res)
            if res["urn"] == until:
                break
        return created


MakeDeployment = Callable[..., Deployment]


@pytest.fixture
def deploy(tmp_path: Path, graphs: dict[str, Graph]) -> Iterator[MakeDeployment]:
    """deploy(stack="dev", name="a") -> a Deployment; the same name shares one cloud."""

    def make(stack: str = "dev", name: str = "cloud") -> Deployment:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        return Deployment(root, graphs[stack])

    yield make
