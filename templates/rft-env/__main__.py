"""${DESCRIPTION}

An rft-env environment: the stack's `rft-env:*` config, validated, becomes a KMS key,
encrypted buckets, the grader Lambda, the Bedrock service role and the RFT job.
"""

from pathlib import Path

import pulumi

from rft_env.components.config import ConfigError, load_from_pulumi
from rft_env.components.environment import RftEnvironment, RftEnvironmentArgs
from rft_env.components.providers import resource_options, target_account_provider

project_dir = Path.cwd()  # Pulumi runs a program in its project directory
try:
    config = load_from_pulumi(project_dir)
except ConfigError as error:
    # One message naming every bad key; nothing has been registered.
    raise pulumi.RunError(str(error)) from error

environment = RftEnvironment(
    "rft",
    RftEnvironmentArgs(config=config, stack=pulumi.get_stack(), project_dir=project_dir),
    opts=resource_options(target_account_provider(config, pulumi.get_stack())),
)
for name, value in environment.outputs.items():
    if value is not None:
        pulumi.export(name, value)
