"""Running the real Pulumi engine over a copy of this project, against the fakes.

Each test gets a copy of the project (the engine writes encryption salts into stack files),
a local file backend, the stand-in `aws` plugin in a test-only PULUMI_HOME, and the fake
Bedrock (with STS) served on 127.0.0.1. The Bedrock providers run in the engine's dynamic
provider process; botocore's `AWS_ENDPOINT_URL_<SERVICE>` variables send their calls to
the fake, so nothing here can reach AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import standin_aws
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "rft-env-engine-tests"
# What a copy of the project leaves out: environments, caches and the CLI build.
_NOT_COPIED = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".tools",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
    "build",
    ".build",
    "metrics",
)
# One engine command may run the whole program and every provider; none should come near.
COMMAND_TIMEOUT = 900


class FlowingClock(FakeClock):
    """The fake's clock for engine tests: real time, plus whatever a test advances.

    The providers in the engine's plugin process wait on the real clock, and botocore
    compares the fake STS's credential expiry with real time, so the fake's time must flow
    with it; `advance` still jumps ahead (a job that "has run for an hour")."""

    def __init__(self) -> None:
        super().__init__(start=0.0)

    def time(self) -> float:
        return time.time() + super().time()


# How long a fake job runs, in the real seconds the engine's providers wait (a test
# advances the fake's clock to finish one sooner).
JOB_SECONDS = 15.0


class EngineError(AssertionError):
    """A pulumi command failed; the message carries its output."""


@dataclass
class Engine:
    """`pulumi` commands over one project copy, one backend and one fake AWS."""

    root: Path
    project: Path
    fake: FakeBedrock
    env: dict[str, str]

    def pulumi(
        self, *args: str, stack: str | None = None, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = ["pulumi", *args, "--non-interactive"]
        if stack is not None:
            command += ["--stack", stack]
        completed = subprocess.run(
            command,
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check and completed.returncode != 0:
            raise EngineError(
                f"`{' '.join(command)}` exited {completed.returncode}\n"
                f"--- stdout\n{completed.stdout[-8000:]}\n--- stderr\n{completed.stderr[-8000:]}"
            )
        return completed

    def start(self, *args: str, stack: str) -> subprocess.Popen[str]:
        """A pulumi command in a session of its own (see `kill_session`), not waited for."""
        command = ["pulumi", *args, "--non-interactive", "--stack", stack]
        return subprocess.Popen(
            command,
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def run_python(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python ARGS` as a user runs a module of the project from its directory: the
        copy's packages first on the path, with the engine's environment."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.project,
            env={**self.env, "PYTHONPATH": str(self.project)},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    # --- the commands tests use ----------------------------------------------------------
    def init(self, stack: str) -> None:
        self.pulumi("stack", "init", stack)

    def config_set(self, stack: str, key: str, value: str, *flags: str) -> None:
        self.pulumi("config", "set", *flags, key, value, stack=stack)

    def preview(
        self, stack: str, *flags: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.pulumi("preview", "--diff", *flags, stack=stack, check=check)

    def up(self, stack: str, *flags: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pulumi("up", "--yes", "--skip-preview", *flags, stack=stack, check=check)

    def refresh(self, stack: str, *flags: str) -> subprocess.CompletedProcess[str]:
        return self.pulumi("refresh", "--yes", "--skip-preview", *flags, stack=stack)

    def destroy(
        self, stack: str, *flags: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.pulumi("destroy", "--yes", "--skip-preview", *flags, stack=stack, check=check)

    def outputs(self, stack: str, *, show_secrets: bool = False) -> dict[str, Any]:
        flags = ["--show-secrets"] if show_secrets else []
        shown = self.pulumi("stack", "output", "--json", *flags, stack=stack)
        return json.loads(shown.stdout)

    def export(self, stack: str) -> dict[str, Any]:
        """The stack's checkpoint, secrets still encrypted, as the backend stores it."""
        return json.loads(self.pulumi("stack", "export", stack=stack).stdout)

    def state_file(self, stack: str) -> str:
        """The raw checkpoint file of the local backend."""
        path = self.root / "state" / ".pulumi" / "stacks" / self.project_name() / f"{stack}.json"
        return path.read_text()

    def project_name(self) -> str:
        for line in (self.project / "Pulumi.yaml").read_text().splitlines():
            if line.startswith("name:"):
                return line.split(":", 1)[1].strip()
        raise AssertionError(f"{self.project}/Pulumi.yaml names no project")

    def resources(self, stack: str) -> list[dict[str, Any]]:
        return self.export(stack)["deployment"].get("resources") or []


PROGRAMS = Path(__file__).resolve().parent / "programs"


def kill_session(leader: subprocess.Popen[str]) -> list[int]:
    """SIGKILL every process of `leader`'s session at once, as a crash or a power cut
    would: the CLI, its language host and every plugin it started (the engine puts plugins
    in process groups of their own, so killing one group is not enough). Returns the pids."""
    session = leader.pid
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) == session:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
        except (ProcessLookupError, PermissionError):
            continue
    return killed


def copy_project(destination: Path, source: Path = REPO) -> Path:
    """A project as a user has it (this one, or a test program of PROGRAMS): its files, and
    its virtualenv (this interpreter's, linked) where Pulumi.yaml says it is."""
    shutil.copytree(source, destination, ignore=_NOT_COPIED)
    (destination / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return destination


def engine_env(
    *, root: Path, pulumi_home: Path, fake: FakeBedrock, extra: dict[str, str] | None = None
) -> dict[str, str]:
    cli = shutil.which("pulumi")
    assert cli is not None, "the engine tests need the Pulumi CLI on PATH"
    path = os.pathsep.join(
        [str(Path(cli).resolve().parent), str(Path(sys.executable).parent), os.environ["PATH"]]
    )
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the caller's AWS or Pulumi setup may leak into a test.
        if not key.startswith(("AWS_", "PULUMI_"))
    }
    env.update(
        {
            "PATH": path,
            "PULUMI_HOME": str(pulumi_home),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # Enables `--event-log` (as the Automation API does): engine events, in order.
            "PULUMI_DEBUG_COMMANDS": "true",
            # A plugin that is not installed is an error here, never a download.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # The Bedrock providers' boto3 clients: to the fake, with the fake's keys.
            "AWS_ENDPOINT_URL_BEDROCK": fake.endpoint_url,
            "AWS_ENDPOINT_URL_STS": fake.endpoint_url,
            # The promotion gate's Converse calls and SNS message: served at the same
            # endpoint once a FakeBedrockRuntime is attached (FakeBedrock.attach_runtime).
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake.endpoint_url,
            "AWS_ENDPOINT_URL_SNS": fake.endpoint_url,
            "AWS_ACCESS_KEY_ID": "AKIAENGINETESTS00000",
            "AWS_SECRET_ACCESS_KEY": "engine-tests-secret-key",
            "AWS_REGION": fake.region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    env.update(extra or {})
    return env


def build_engine(root: Path, pulumi_home: Path, account_id: str, program: Path = REPO) -> Engine:
    """An Engine at `root` (made here): a copy of `program`, a backend, the stand-in's
    cloud and log, and a started fake Bedrock of `account_id` (the caller stops it)."""
    (root / "state").mkdir(parents=True)
    fake = FakeBedrock(FlowingClock(), account_id=account_id)
    # The engine's providers wait on the real clock: a job runs JOB_SECONDS of it, and
    # inference is ready at once.
    fake.job_duration = JOB_SECONDS
    fake.stop_duration = 0.0
    fake.pt_duration = fake.pt_update_duration = 0.0
    fake.deployment_duration = fake.deployment_update_duration = 0.0
    fake.start()
    env = engine_env(
        root=root,
        pulumi_home=pulumi_home,
        fake=fake,
        extra={
            standin_aws.STATE_ENV: str(root / "aws-cloud.json"),
            standin_aws.LOG_ENV: str(root / "aws-calls.jsonl"),
        },
    )
    return Engine(root=root, project=copy_project(root / "project", program), fake=fake, env=env)
