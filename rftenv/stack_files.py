"""A project's Pulumi.yaml and stack files, read the way the engine reads them.

Every offline tool (synth, status, audit, grade, rollout) gets a stack's config here: the
config map the engine would hand the program (namespaced keys, string values, structured
values as JSON, project-level defaults filled in) and which of its keys are secret.

Two things in a stack file cannot be read from the file alone:

- `secure:` values (`pulumi config set --secret`), whose ciphertext only the stack's
  secrets provider decrypts. The tools never decrypt, print or derive anything from it:
  the key is marked secret and the program gets a stand-in of the right shape
  (`_stand_in`), which it, like the real value, only ever passes on as a secret, so synth
  shows `[secret]` wherever it would appear. A key that may not be secret keeps the
  stand-in `[secret]`, and config validation refuses it by name.
- `environment:` (Pulumi ESC imports), whose values only the Pulumi CLI, logged in to a
  backend that serves ESC, can resolve: such a stack is read with `pulumi config --json`.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rft_env.components.naming import CONFIG_NAMESPACE, PROJECT
from rft_env.rftenv import yamlfile
from rft_env.rftenv.project import project_root

if TYPE_CHECKING:
    from rft_env.components.config import StackConfig

# Stack files, Pulumi.yaml and rollout plans are read by one bounded YAML 1.2 loader
# (rftenv.yamlfile); its YamlFileError names the file and line.
load_yaml = yamlfile.load_yaml
StackFileError = yamlfile.YamlFileError

# How a secret is shown wherever its value would appear (the Pulumi CLI's own word).
SECRET = "[secret]"
# `pulumi config --json` may take a while to open ESC environments; it never should hang.
CLI_TIMEOUT_SECONDS = 120


class StackNotFoundError(LookupError):
    pass


class StackEnvironmentError(StackFileError):
    """A stack file imports ESC environments, and its config could not be resolved."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(path, None, problem)


class EngineConfig(dict[str, str]):
    """The config map the engine hands the program, and `secret_keys`: the keys (namespace
    included, e.g. `rft-env:notificationEmails`) set as secrets, as the engine passes them.
    A plain dict made from it loses `secret_keys`."""

    def __init__(
        self, values: Mapping[str, str] | None = None, secret_keys: Iterable[str] = ()
    ) -> None:
        super().__init__(values or {})
        self.secret_keys = frozenset(secret_keys)


def project_settings(project_dir: Path | None = None) -> dict[str, Any]:
    project_dir = project_root(project_dir)
    return yamlfile.load_mapping(
        project_dir / "Pulumi.yaml", {"config": dict, "name": str, "stackConfigDir": str}
    )


def stack_file(stack: str, project_dir: Path | None = None) -> Path:
    project_dir = project_root(project_dir)
    settings = project_settings(project_dir)
    config_dir = project_dir / (settings.get("stackConfigDir") or ".")
    path = config_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(available_stacks(project_dir)) or "none"
        raise StackNotFoundError(f"no stack file {path} (stacks: {known})")
    return path


def available_stacks(project_dir: Path | None = None) -> list[str]:
    project_dir = project_root(project_dir)
    settings = project_settings(project_dir)
    config_dir = project_dir / (settings.get("stackConfigDir") or ".")
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml"))


def engine_config(stack: str, project_dir: Path | None = None) -> EngineConfig:
    """The config map the engine hands the program: namespaced keys, string values
    (structured values as JSON), project-level defaults filled in; `secure:` values as
    stand-ins, their keys in `secret_keys`. A stack that imports ESC environments is read
    through the Pulumi CLI. Raises StackNotFoundError or StackFileError (a
    StackEnvironmentError when the CLI is missing or fails)."""
    project_dir = project_root(project_dir)
    settings = project_settings(project_dir)
    project = settings.get("name") or PROJECT
    path = stack_file(stack, project_dir)
    document = yamlfile.load_mapping(path, {"config": dict})
    if document.get("environment"):
        return cli_config(stack, project_dir, path, esc_imports(document["environment"]))
    values: dict[str, Any] = {}
    for key, declaration in (settings.get("config") or {}).items():
        # Pulumi.yaml gives a key's project-wide value as `value:` (the only form for an
        # object or a list), a bare scalar, or a typed declaration's `default:`.
        if isinstance(declaration, dict):
            if "value" in declaration or "default" in declaration:
                project_value = declaration.get("value", declaration.get("default"))
                values[key if ":" in key else f"{project}:{key}"] = project_value
        else:
            values[key if ":" in key else f"{project}:{key}"] = declaration
    for key, value in (document.get("config") or {}).items():
        values[key if ":" in key else f"{project}:{key}"] = value
    readable = {
        key: _replace_secure(key, value, itertools.count()) for key, value in values.items()
    }
    # As the engine does: a key holding a secure value anywhere is secret as a whole.
    secret_keys = [key for key, value in values.items() if readable[key] is not value]
    return EngineConfig(
        {key: v if isinstance(v, str) else json.dumps(v) for key, v in readable.items()},
        secret_keys,
    )


def stack_config(
    stack: str, project_dir: Path | None = None, values: Mapping[str, str] | None = None
) -> StackConfig:
    """A stack's validated config, from its stack file read the way the engine reads it
    (or from engine-style `values`; an EngineConfig's secret keys count as secrets).
    Raises StackNotFoundError, StackFileError or ConfigError."""
    project_dir = project_root(project_dir)
    from rft_env.components.config import decode_config_values, load_stack_config

    raw = engine_config(stack, project_dir) if values is None else values
    prefix = f"{CONFIG_NAMESPACE}:"
    secret_keys = [
        key[len(prefix) :] for key in getattr(raw, "secret_keys", ()) if key.startswith(prefix)
    ]
    return load_stack_config(
        decode_config_values(dict(raw)),
        project_dir,
        source=f"stack {stack}",
        secret_keys=secret_keys,
        stack_keys=raw.keys(),
    )


# --------------------------------------------------------------------------------------
# Secrets the offline tools cannot decrypt
# --------------------------------------------------------------------------------------
def is_secure(value: Any) -> bool:
    """A `secure:` value as Pulumi writes it: a mapping whose only key is `secure`, holding
    the ciphertext (at the top of a key, or anywhere inside a structured value set with
    `pulumi config set --path --secret`)."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("secure"), str)


def _stand_in(key: str, index: int, *, whole: bool) -> Any:
    """What the program gets offline for the `index`-th `secure:` value of `key` (its
    whole value when `whole`). Only values of keys the program keeps secret
    (components.config.SECRET_CAPABLE_KEYS) need a real shape; the `.invalid` domain
    (RFC 2606) makes a stand-in address one nobody can own, and the program shows it only
    as `[secret]`."""
    if key == f"{CONFIG_NAMESPACE}:notificationEmails":
        address = f"[secret-{index + 1}]@rftenv.invalid"
        # A list set as one secret hides its length too: offline it counts as one address.
        return [address] if whole else address
    return SECRET


def _replace_secure(key: str, value: Any, counter: Iterator[int], *, whole: bool = True) -> Any:
    """`value` of `key` with each `secure:` value replaced by its stand-in (numbered by
    `counter`); `value` itself (the same object) when it holds none."""
    if is_secure(value):
        return _stand_in(key, next(counter), whole=whole)
    if isinstance(value, list):
        items = [_replace_secure(key, item, counter, whole=False) for item in value]
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return items if changed else value
    if isinstance(value, dict):
        entries = {k: _replace_secure(key, v, counter, whole=False) for k, v in value.items()}
        changed = any(entries[k] is not v for k, v in value.items())
        return entries if changed else value
    return value


# --------------------------------------------------------------------------------------
# Stacks that import ESC environments: read through the Pulumi CLI
# --------------------------------------------------------------------------------------
def esc_imports(environment: Any) -> list[str]:
    """What a stack file's `environment:` brings in, for messages: the ESC environments it
    imports (`[org/project/env]`, or `{imports: [...]}`; an import may be `name` or
    `{name: {merge: false}}`), and `inline values` for a definition's own `values:`."""
    imports = environment.get("imports") if isinstance(environment, dict) else environment
    if isinstance(imports, str):
        imports = [imports]
    names = [
        item if isinstance(item, str) else next(iter(item), "?") if isinstance(item, dict) else "?"
        for item in (imports if isinstance(imports, list) else [])
    ]
    if isinstance(environment, dict) and environment.get("values"):
        names.append("inline values")
    return [str(name) for name in names] or ["an ESC environment definition"]


def cli_command(stack: str) -> list[str]:
    """`pulumi config --json` for `stack`. `--open` resolves what the environments' providers
    supply (without it, such values read `[unknown]`); secret values stay out of the output
    (no --show-secrets): the JSON carries only `"secret": true` for them."""
    return ["config", "--json", "--open", "--stack", stack, "--non-interactive"]


def cli_config(stack: str, project_dir: Path, path: Path, imports: list[str]) -> EngineConfig:
    """The stack's config as the engine would resolve it, environments included, read with
    `pulumi config --json` in the project directory. Raises StackEnvironmentError."""
    environments = ", ".join(imports)
    needs = (
        f"the stack imports ESC environments ({environments}), whose values only the Pulumi "
        "CLI, logged in to a backend that serves ESC (`pulumi login`), can resolve"
    )
    executable = shutil.which("pulumi")
    if executable is None:
        raise StackEnvironmentError(path, f"{needs}; no `pulumi` is on PATH")
    shown = "pulumi " + " ".join(cli_command(stack))
    try:
        completed = subprocess.run(
            [executable, *cli_command(stack)],
            cwd=project_dir,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=CLI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackEnvironmentError(
            path, f"{needs}; `{shown}` gave no answer in {CLI_TIMEOUT_SECONDS} s"
        ) from None
    except OSError as error:
        raise StackEnvironmentError(path, f"{needs}; `{shown}` could not run: {error}") from None
    if completed.returncode != 0:
        lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
        said = lines[-1] if lines else "no message"
        raise StackEnvironmentError(
            path, f"{needs}; `{shown}` failed (exit {completed.returncode}): {said}"
        )
    try:
        return config_from_cli_json(json.loads(completed.stdout))
    except (ValueError, RecursionError) as error:
        raise StackEnvironmentError(
            path, f"`{shown}` printed what rftenv cannot read: {error}"
        ) from None


def config_from_cli_json(document: Any) -> EngineConfig:
    """Engine-style config from what `pulumi config --json` prints: `{key: {"value": text,
    "objectValue"?: ..., "secret": bool}}`. A secret's value is left out (older CLIs print
    `[secret]`): it gets a stand-in, as a `secure:` value in a stack file does. Raises
    ValueError naming the key when the shape differs."""
    if not isinstance(document, dict):
        raise ValueError(f"expected an object of config keys, got {type(document).__name__}")
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, entry in document.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("secret", False), bool):
            raise ValueError(f"{key}: expected {{value, secret}}, got {json.dumps(entry)[:80]}")
        if entry.get("secret"):
            secret_keys.add(key)
            stand_in = _stand_in(key, 0, whole=True)
            values[key] = stand_in if isinstance(stand_in, str) else json.dumps(stand_in)
        elif isinstance(entry.get("value"), str):
            values[key] = entry["value"]
        else:
            raise ValueError(f"{key}: expected a string value, got {json.dumps(entry)[:80]}")
    return EngineConfig(values, secret_keys)
