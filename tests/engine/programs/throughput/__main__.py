"""One provisioned throughput, named and pointed at a model by stack config.

Run by the engine tests: renaming it must update it in place through the real engine
(diff across two runs, the provider pickled into the engine's plugin process)."""

import pulumi

from rft_env.components.bedrock.inference import InferenceArgs, ProvisionedThroughput
from rft_env.components.bedrock.session import Connection

config = pulumi.Config()
throughput = ProvisionedThroughput(
    "throughput",
    InferenceArgs(
        connection=Connection(region="us-east-1"),
        identity="rft-env-engine-tests/throughput",
        name=config.require("name"),
        model_arn=config.require("modelArn"),
        tags={"Environment": "engine-tests"},
        wait_timeout_seconds=600,
        max_poll_seconds=10,
    ),
)
pulumi.export("provisionedModelArn", throughput.provisionedModelArn)
pulumi.export("modelArn", throughput.modelArn)
pulumi.export("status", throughput.status)
