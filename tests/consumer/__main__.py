"""ACME's RFT environment: rft-env's component, with the VPC and the key another stack owns.

The network stack exports the private subnets, a security group for training jobs and
the data key; this program reads them with a StackReference and hands them to the
component as Pulumi Outputs, as any Pulumi program would.
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
    raise pulumi.RunError(str(error)) from error

network = pulumi.StackReference(pulumi.Config().require("networkStack"))
provider = target_account_provider(config, pulumi.get_stack())
environment = RftEnvironment(
    "acme",
    RftEnvironmentArgs(
        config=config,
        stack=pulumi.get_stack(),
        project_dir=project_dir,
        subnet_ids=network.require_output("privateSubnetIds"),
        security_group_ids=network.require_output("trainingSecurityGroupIds"),
        kms_key_arn=network.require_output("dataKeyArn"),
    ),
    opts=resource_options(provider),
)
pulumi.export("jobArn", environment.outputs["jobArn"])
pulumi.export("graderFunctionArns", environment.outputs["graderFunctionArns"])
pulumi.export("keyArn", environment.outputs["keyArn"])
