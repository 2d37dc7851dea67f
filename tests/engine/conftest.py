"""Fixtures of the engine tests: the stand-in aws plugin in a test PULUMI_HOME, and one
Engine (project copy, file backend, fake Bedrock) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import standin_aws
from tests.engine.harness import REPO, Engine, build_engine


@pytest.fixture(scope="session")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PULUMI_HOME of the tests' own, holding only the stand-in aws plugin."""
    home = tmp_path_factory.mktemp("pulumi-home")
    standin_aws.install(home)
    return home


MakeEngine = Callable[..., Engine]


@pytest.fixture
def make_engine(tmp_path: Path, pulumi_home: Path) -> Iterator[MakeEngine]:
    """make_engine(account_id=...) -> an Engine whose fake Bedrock belongs to that account."""
    engines: list[Engine] = []

    def make(
        account_id: str = "111122223333", name: str = "engine", program: Path = REPO
    ) -> Engine:
        engine = build_engine(tmp_path / name, pulumi_home, account_id, program)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.fake.stop()
