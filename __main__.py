"""rft-env: a Bedrock reinforcement fine-tuning environment in one `pulumi up`.

Kept thin on purpose: validate the stack config, make the explicit provider, build the
environment, export its outputs. Everything else lives in `components/`.
"""

from pathlib import Path

import pulumi

from rft_env.components.config import ConfigError, load_from_pulumi
from rft_env.components.environment import RftEnvironment, RftEnvironmentArgs
from rft_env.components.providers import resource_options, target_account_provider

# Pulumi runs the program in its project directory (so does `rftenv synth`).
PROJECT_DIR = Path.cwd()

try:
    config = load_from_pulumi(PROJECT_DIR)
except ConfigError as error:
    # A clean, complete message instead of a traceback; nothing has been registered.
    raise pulumi.RunError(str(error)) from error

provider = target_account_provider(config, pulumi.get_stack())
environment = RftEnvironment(
    "rft",
    RftEnvironmentArgs(config=config, stack=pulumi.get_stack(), project_dir=PROJECT_DIR),
    opts=resource_options(provider),
)
for name, value in environment.outputs.items():
    if value is not None:
        pulumi.export(name, value)
