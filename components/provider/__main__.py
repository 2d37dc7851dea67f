"""Serves the rft-env Environment component to the Pulumi engine.

The Python language host runs this directory (`python -u <dir> <engine args>`) for
GetSchema and Construct; the schema is inferred from components/multilang.py.
"""

from pulumi.provider.experimental import component_provider_host

from rft_env.components.multilang import PACKAGE, Environment, package_version

if __name__ == "__main__":
    component_provider_host([Environment], PACKAGE, version=package_version())
