"""A stand-in for the pulumi-aws resource plugin, used only by rft-env's engine tests.

What it is: a Pulumi resource provider plugin named `aws` that the real Pulumi engine loads,
in place of pulumi-aws, from a test-only PULUMI_HOME (`install`), so that `pulumi preview`,
`up`, `refresh` and `destroy` of the real program can run offline. It speaks the provider
gRPC protocol, keeps secrets secret, tolerates unknowns during previews and never puts file
bytes of assets into outputs. Its "cloud" is a JSON file (RFTENV_STANDIN_AWS_STATE) shared,
under a file lock, by every plugin process of a test run: creating what already exists is
refused as AWS would refuse it, deletions are forgotten, refresh sees out-of-band changes.
Every call is recorded, secrets redacted, in RFTENV_STANDIN_AWS_LOG when that is set.

What it is not: it never talks to AWS, nor to anything else, and has no credentials. It
implements only the resource types in `resources.SPECS` (the ones the program uses), and
only the AWS limits in `limits` (from botocore's service models where they exist there)
plus required inputs, policy-document JSON and parent resources that must exist. Its ids,
ARNs and other computed outputs are rftenv synth's predictions (rftenv.synth.SynthMocks,
with the provider's account and region), not what AWS would make up. Product code never
imports it.

Public API:
    install(pulumi_home) -> launcher path       install.install
    plugin_version()                             the version pulumi_aws asks for
    load_cloud(path) -> CloudContents            what exists (cloud.CloudContents)
    CloudStore(path).forget(type, id)            an out-of-band deletion
    read_calls(path) -> list[LoggedCall]         the call log
    StandinAwsProvider                           the behaviour, callable in-process
    STATE_ENV, LOG_ENV, CALLER_ACCOUNT_ENV       the environment variables it reads
"""

from tests.standin_aws.calllog import LOG_ENV, LoggedCall, read_calls
from tests.standin_aws.cloud import STATE_ENV, CloudContents, CloudResource, CloudStore, load_cloud
from tests.standin_aws.install import install, plugin_version
from tests.standin_aws.provider import CALLER_ACCOUNT_ENV, StandinAwsProvider, StandinError

__all__ = [
    "CALLER_ACCOUNT_ENV",
    "LOG_ENV",
    "STATE_ENV",
    "CloudContents",
    "CloudResource",
    "CloudStore",
    "LoggedCall",
    "StandinAwsProvider",
    "StandinError",
    "install",
    "load_cloud",
    "plugin_version",
    "read_calls",
]
