"""Stack files as the offline tools read them: `secure:` values (never printed, shown as
`[secret]`, kept secret by the program), stacks that import ESC environments (read through
`pulumi config --json`), and `aws:` keys the stack's provider would ignore."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rft_env.components.config import SECRET_CAPABLE_KEYS, ConfigError
from rft_env.rftenv import stack_files, synth
from rft_env.rftenv.cli import main
from tests.fakes import FakeBedrock, FakeClock, offline

REPO = Path(__file__).resolve().parents[2]
CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQtN2YzYQ=="
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project once per module (copying it is the slow part)."""
    copy = tmp_path_factory.mktemp("pristine") / "project"
    shutil.copytree(
        REPO,
        copy,
        ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__", "*.egg-info"),
    )
    return copy


@pytest.fixture
def project(pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project, as the working directory, whose stack files a test edits."""
    copy = tmp_path / "project"
    shutil.copytree(pristine, copy)
    monkeypatch.chdir(copy)
    return copy


def add_config(project: Path, stack: str, lines: str) -> None:
    """Append `lines` (indented as entries of `config:`, its last key) to a stack file."""
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    path.write_text(path.read_text() + lines)


def secure_emails(project: Path, stack: str = "dev") -> None:
    """notificationEmails as `pulumi config set --path --secret` writes them: one address
    encrypted, one in plain text."""
    add_config(
        project,
        stack,
        f"  rft-env:notificationEmails:\n    - secure: {CIPHERTEXT}\n    - plain@example.com\n",
    )


# --------------------------------------------------------------------------------------
# secure: values
# --------------------------------------------------------------------------------------
def test_secure_values_become_secret_keys_with_stand_ins(project: Path) -> None:
    add_config(
        project,
        "dev",
        f"  rft-env:notificationEmails:\n    secure: {CIPHERTEXT}\n"
        f"  other:token:\n    secure: {CIPHERTEXT}\n",
    )
    values = stack_files.engine_config("dev")
    assert values.secret_keys == {"rft-env:notificationEmails", "other:token"}
    assert CIPHERTEXT not in json.dumps(values)
    # A list set as one secret hides its length: one stand-in address, never a real one.
    (address,) = json.loads(values["rft-env:notificationEmails"])
    assert address.endswith(".invalid")
    assert values["other:token"] == stack_files.SECRET
    # The rest of the stack is read as before.
    assert values["rft-env:environment"] == "dev"
    assert "rft-env:environment" not in values.secret_keys


def test_nested_secure_values_make_the_whole_key_secret(project: Path) -> None:
    secure_emails(project)
    values = stack_files.engine_config("dev")
    assert values.secret_keys == {"rft-env:notificationEmails"}
    stand_in, plain = json.loads(values["rft-env:notificationEmails"])
    assert stand_in.endswith("@rftenv.invalid") and plain == "plain@example.com"
    config = stack_files.stack_config("dev")
    assert config.is_secret("notificationEmails")
    assert not config.is_secret("tags")


def test_every_secret_capable_key_has_a_stand_in_the_config_accepts(project: Path) -> None:
    for key in SECRET_CAPABLE_KEYS:
        add_config(project, "dev", f"  rft-env:{key}:\n    secure: {CIPHERTEXT}\n")
    values = stack_files.engine_config("dev")
    assert {f"rft-env:{key}" for key in SECRET_CAPABLE_KEYS} <= values.secret_keys
    stack_files.stack_config("dev")  # raises ConfigError if a stand-in does not validate


def test_synth_shows_secret_values_as_secret_and_never_prints_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secure_emails(project)
    assert main(["synth", "dev", "--format", "json"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(printed)
    subscriptions = [r for r in result["resources"] if r["type"] == SUBSCRIPTION]
    # One subscription per address; the program keeps the whole (secret) key secret, so
    # each endpoint is secret in its inputs and in its state.
    assert len(subscriptions) == 2
    for subscription in subscriptions:
        assert subscription["inputs"]["endpoint"] == "[secret]"
        assert subscription["outputs"]["endpoint"] == "[secret]"
    for hidden in (CIPHERTEXT, "plain@example.com", "rftenv.invalid"):
        assert hidden not in printed

    assert main(["synth", "dev"]) == 0
    table = capsys.readouterr().out
    flagged = [line for line in table.splitlines() if "[secret: endpoint]" in line]
    assert len(flagged) == 2
    for hidden in (CIPHERTEXT, "plain@example.com", "rftenv.invalid"):
        assert hidden not in table


def test_synth_of_a_whole_list_set_as_one_secret(project: Path) -> None:
    add_config(project, "dev", f"  rft-env:notificationEmails:\n    secure: {CIPHERTEXT}\n")
    result = synth.synthesize("dev")
    (subscription,) = [r for r in result["resources"] if r["type"] == SUBSCRIPTION]
    assert subscription["inputs"]["endpoint"] == "[secret]"
    assert CIPHERTEXT not in json.dumps(result)


def test_a_secure_value_on_a_key_that_cannot_be_secret_is_refused_by_name(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "stacks" / "Pulumi.dev.yaml"
    text = path.read_text()
    assert "    CostCenter: ml-platform-dev\n" in text
    path.write_text(
        text.replace(
            "    CostCenter: ml-platform-dev\n", f"    CostCenter:\n      secure: {CIPHERTEXT}\n"
        )
    )
    assert main(["synth", "dev"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "1 problem" in captured.err
    assert "rft-env:tags: is set as a secret" in captured.err
    assert "only rft-env:notificationEmails may be secret" in captured.err
    assert CIPHERTEXT not in captured.err and "[secret]" not in captured.err
    with pytest.raises(ConfigError) as refused:
        stack_files.stack_config("dev")
    assert [p.key for p in refused.value.problems] == ["rft-env:tags"]


def test_audit_accepts_a_secure_value(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secure_emails(project)
    code = main(["audit", "dev", "--out", str(tmp_path / "rendered")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    written = "".join(p.read_text() for p in (tmp_path / "rendered").rglob("*") if p.is_file())
    for text in (captured.out, captured.err, written):
        assert CIPHERTEXT not in text and "rftenv.invalid" not in text


@pytest.fixture
def fake_bedrock(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeBedrock]:
    from rft_env.rftenv import jobs

    offline.offline_aws(monkeypatch, tmp_path, clock)
    monkeypatch.setattr(jobs, "credentials_clock", clock)
    with FakeBedrock(clock, account_id="111122223333") as fake:
        yield fake


def test_status_accepts_a_secure_value(
    project: Path, fake_bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    secure_emails(project)
    code = main(["status", "dev", "--endpoint-url", fake_bedrock.endpoint_url])
    captured = capsys.readouterr()
    # The config is valid: status goes on to Bedrock, where no job has started yet (1).
    assert code == 1, captured.err
    assert "no RFT job named rft-env-dev--rft-" in captured.err
    assert CIPHERTEXT not in captured.out + captured.err


# --------------------------------------------------------------------------------------
# ESC environments: through `pulumi config --json`
# --------------------------------------------------------------------------------------
def import_environments(project: Path, stack: str, environment: str) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    path.write_text(f"environment: {environment}\n{path.read_text()}")


def fake_pulumi(
    directory: Path, *, stdout: str = "", stderr: str = "", code: int = 0
) -> tuple[Path, Path]:
    """A `pulumi` executable in `directory` that records its arguments and working directory
    and answers with `stdout`, `stderr` and exit `code`."""
    directory.mkdir(exist_ok=True)
    record = directory / "calls.jsonl"
    script = directory / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd()}) + '\\n')\n"
        f"sys.stdout.write({stdout!r})\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.exit({code})\n"
    )
    script.chmod(0o755)
    return script, record


def cli_document(values: dict[str, str]) -> dict[str, Any]:
    """What `pulumi config --json` prints for the resolved config (3.274: a secret's value is
    left out)."""
    document: dict[str, Any] = {
        key: {"value": value, "secret": False} for key, value in values.items()
    }
    for key, value in values.items():
        if value.startswith(("{", "[")):
            document[key]["objectValue"] = json.loads(value)
    document["rft-env:notificationEmails"] = {"secret": True}
    return document


def test_a_stack_with_esc_environments_is_read_with_the_pulumi_cli(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved = dict(stack_files.engine_config("dev"))
    import_environments(project, "dev", "[my-org/rft/dev]")
    _, record = fake_pulumi(tmp_path / "bin", stdout=json.dumps(cli_document(resolved)))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    values = stack_files.engine_config("dev")
    (call,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert call == {
        "argv": ["config", "--json", "--open", "--stack", "dev", "--non-interactive"],
        "cwd": str(project),
    }
    assert "--show-secrets" not in call["argv"]
    # Every value as the CLI resolved it; the secret one as a stand-in, marked secret.
    secret = "rft-env:notificationEmails"
    assert {k: v for k, v in values.items() if k != secret} == {
        k: v for k, v in resolved.items() if k != secret
    }
    assert values.secret_keys == {"rft-env:notificationEmails"}
    config = stack_files.stack_config("dev")
    assert config.is_secret("notificationEmails") and config.environment == "dev"


def test_an_esc_stack_without_the_pulumi_cli_names_what_is_missing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import_environments(
        project, "dev", "{imports: [my-org/rft/dev, {my-org/shared: {merge: false}}]}"
    )
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["synth", "dev"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(project / "stacks" / "Pulumi.dev.yaml") in err
    assert "ESC environments (my-org/rft/dev, my-org/shared)" in err
    assert "Pulumi CLI, logged in to a backend that serves ESC" in err
    assert "no `pulumi` is on PATH" in err


def test_a_failing_pulumi_cli_is_reported_with_its_message(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import_environments(project, "dev", "[my-org/rft/dev]")
    fake_pulumi(
        tmp_path / "bin",
        stderr="error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive "
        "CLI sessions\n",
        code=255,
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert main(["synth", "dev"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "ESC environments (my-org/rft/dev)" in err
    assert "`pulumi config --json --open --stack dev --non-interactive` failed (exit 255)" in err
    assert "PULUMI_ACCESS_TOKEN must be set" in err


def test_unreadable_cli_output_names_the_key() -> None:
    with pytest.raises(ValueError, match="rft-env:region: expected a string value"):
        stack_files.config_from_cli_json({"rft-env:region": {"secret": False}})
    values = stack_files.config_from_cli_json(
        {
            "rft-env:region": {"value": "us-east-1", "secret": False},
            "x:y": {"value": "[secret]", "secret": True},
        }
    )
    assert values == {"rft-env:region": "us-east-1", "x:y": "[secret]"}
    assert values.secret_keys == {"x:y"}


# --------------------------------------------------------------------------------------
# aws: keys the stack's explicit provider would ignore
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("aws:region", "set `pulumi config set rft-env:region <region>`"),
        ("aws:profile", "AWS_PROFILE environment variable"),
    ],
)
def test_aws_region_and_profile_are_refused_with_what_to_set(
    key: str, says: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_config(project, "dev", f"  {key}: us-west-2\n")
    assert main(["synth", "dev"]) == 2
    err = capsys.readouterr().err
    assert f"{key}: is ignored" in err and says in err
    with pytest.raises(ConfigError) as refused:
        stack_files.stack_config("dev")
    assert [p.key for p in refused.value.problems] == [key]


def test_problems_never_show_a_secret_value() -> None:
    """Under the engine the program sees a secret's plain text: a problem with it shows
    `[secret]` instead."""
    from rft_env.components.config import load_stack_config

    raw = {"notificationEmails": ["oncall-7f3a-at-example.com"]}
    with pytest.raises(ConfigError) as refused:
        load_stack_config(raw, REPO, secret_keys=["notificationEmails"])
    message = str(refused.value)
    assert 'rft-env:notificationEmails[0]: got "[secret]"; allowed: an e-mail address' in message
    assert "oncall-7f3a" not in message
    with pytest.raises(ConfigError) as shown:
        load_stack_config(raw, REPO)
    assert "oncall-7f3a" in str(shown.value)
