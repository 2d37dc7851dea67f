"""The stack-file reader's CLI path against the real CLI: what `pulumi config --json` prints
for a stack (the path every stack that imports ESC environments takes when the CLI is
present) is read into the same config as the stack file, secrets kept secret.

ESC environments themselves need a backend that serves ESC (Pulumi Cloud), which these
machines do not have; the output format they are read through is the CLI's own, and that
is what this checks, with the exact command rftenv runs."""

from __future__ import annotations

import json

import pytest

from rft_env.rftenv import stack_files
from tests.engine.conftest import MakeEngine

pytestmark = pytest.mark.engine

SECRET_EMAIL = "secret-oncall-1b2c@example.com"


def parsed(config: stack_files.EngineConfig) -> dict[str, object]:
    """The non-secret values, JSON text read (a plain string stays as it is)."""

    def value(text: str) -> object:
        try:
            return json.loads(text)
        except ValueError:
            return text

    return {k: value(v) for k, v in config.items() if k not in config.secret_keys}


def test_pulumi_config_json_reads_as_the_stack_file_does(make_engine: MakeEngine) -> None:
    engine = make_engine(stack_files.stack_config("dev").account.id)
    engine.init("dev")
    engine.config_set("dev", "rft-env:notificationEmails[0]", SECRET_EMAIL, "--path", "--secret")
    # The command rftenv runs for a stack with ESC imports (without the CLI's own flags
    # that the harness adds).
    command = stack_files.cli_command("dev")
    args = [a for a in command if a not in ("--non-interactive", "--stack", "dev")]
    shown = engine.pulumi(*args, stack="dev")
    assert SECRET_EMAIL not in shown.stdout

    from_cli = stack_files.config_from_cli_json(json.loads(shown.stdout))
    from_file = stack_files.engine_config("dev", engine.project)
    assert from_cli.secret_keys == from_file.secret_keys == {"rft-env:notificationEmails"}
    # Structured values are JSON text on both sides; their spacing is the writer's own.
    assert parsed(from_cli) == parsed(from_file)
    # Both validate to the same stack config.
    read_cli = stack_files.stack_config("dev", engine.project, from_cli)
    read_file = stack_files.stack_config("dev", engine.project, from_file)
    assert read_cli.model_dump() == read_file.model_dump()
    assert read_cli.is_secret("notificationEmails")
