"""Fixtures of the engine tests: the stand-in aws plugin in a test PULUMI_HOME, and one
Engine (project copy, file backend, fake Bedrock) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import standin_aws
from tests.engine.harness import REPO, Engine, FlowingClock, copy_project, engine_env
from tests.fakes.bedrock import FakeBedrock


@pytest.fixture(scope="session")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PULUMI_HOME of the tests' own, holding only the stand-in aws plugin."""
    home = tmp_path_factory.mktemp("pulumi-home")
    standin_aws.install(home)
    return home


MakeEngine = Callable[..., Engine]
JOB_SECONDS = 15.0


@pytest.fixture
def make_engine(tmp_path: Path, pulumi_home: Path) -> Iterator[MakeEngine]:
    """make_engine(account_id=...) -> an Engine whose fake Bedrock belongs to that account."""
    fakes: list[FakeBedrock] = []

    def make(
        account_id: str = "111122223333", name: str = "engine", program: Path = REPO
    ) -> Engine:
        root = tmp_path / name
        (root / "state").mkdir(parents=True)
        fake = FakeBedrock(FlowingClock(), account_id=account_id)
        # The providers in the engine's plugin process wait on the real clock: a job runs
        # for JOB_SECONDS of it (a test advances the clock to finish one sooner), and
        # inference is ready at once.
        fake.job_duration = JOB_SECONDS
        fake.stop_duration = 0.0
        fake.pt_duration = fake.pt_update_duration = 0.0
        fake.deployment_duration = fake.deployment_update_duration = 0.0
        fake.start()
        fakes.append(fake)
        env = engine_env(
            root=root,
            pulumi_home=pulumi_home,
            fake=fake,
            extra={
                standin_aws.STATE_ENV: str(root / "aws-cloud.json"),
                standin_aws.LOG_ENV: str(root / "aws-calls.jsonl"),
            },
        )
        return Engine(
            root=root, project=copy_project(root / "project", program), fake=fake, env=env
        )

    yield make
    for fake in fakes:
        fake.stop()
