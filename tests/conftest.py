"""Shared fixtures: every example stack synthesized once per test session."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rft_env.components.config import StackConfig
from rft_env.rftenv import stack_files, synth
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock

# The repository is the project the tests work on; rftenv finds it, like `pulumi` does, as
# the working directory, so the tests run there wherever pytest was started.
REPO = Path(__file__).resolve().parent.parent
os.chdir(REPO)
STACKS = stack_files.available_stacks()

# `make engine-test` and CI set this: there, an engine test that cannot run is a failure.
REQUIRE_ENGINE = "RFTENV_REQUIRE_ENGINE"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `engine` need the Pulumi CLI: skip them, saying why, when there is
    none on PATH, unless the run requires them."""
    engine_tests = [item for item in items if item.get_closest_marker("engine")]
    if not engine_tests or shutil.which("pulumi"):
        return
    how = "`make pulumi-cli` builds one into .tools/pulumi/bin, and `make test` puts that on PATH"
    if os.environ.get(REQUIRE_ENGINE) == "1":
        raise pytest.UsageError(f"{REQUIRE_ENGINE}=1, but there is no `pulumi` on PATH: {how}")
    reason = f"needs the Pulumi CLI on PATH: {how}"
    for item in engine_tests:
        item.add_marker(pytest.mark.skip(reason=reason))


class Graph:
    """One synthesized stack, with the lookups the graph-wide tests need."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.stack: str = result["stack"]
        self.resources: list[dict[str, Any]] = result["resources"]
        self.outputs: dict[str, Any] = result["outputs"]
        self.by_urn = {r["urn"]: r for r in self.resources}
        self.config: StackConfig = stack_files.stack_config(self.stack)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_]

    def one(self, type_: str, name: str) -> dict[str, Any]:
        matches = [r for r in self.of_type(type_) if r["name"] == name]
        assert len(matches) == 1, f"expected one {type_} named {name}, got {len(matches)}"
        return matches[0]

    def aws(self) -> Iterator[dict[str, Any]]:
        return (r for r in self.resources if r["type"].startswith("aws:"))

    def for_bucket(self, type_: str, bucket: str) -> dict[str, Any]:
        matches = [r for r in self.of_type(type_) if r["inputs"].get("bucket") == bucket]
        assert len(matches) == 1, f"expected one {type_} for {bucket}, got {len(matches)}"
        return matches[0]

    def policy(self, resource: dict[str, Any], key: str = "policy") -> dict[str, Any]:
        return json.loads(resource["inputs"][key])


@pytest.fixture(scope="session")
def graphs() -> dict[str, Graph]:
    return {stack: Graph(synth.synthesize(stack)) for stack in STACKS}


@pytest.fixture(params=STACKS)
def graph(request: pytest.FixtureRequest, graphs: dict[str, Graph]) -> Graph:
    return graphs[request.param]


# --- the fake AWS control plane, on a fake clock (tests never sleep) ----------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeBedrock]:
    """Fake Bedrock (and STS) in its default account, 111122223333; a module may override
    it (the grader tests use the bedrock-runtime fake under this name)."""
    with FakeBedrock(clock) as server:
        yield server
