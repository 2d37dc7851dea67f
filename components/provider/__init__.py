"""The rft-env component provider: a plugin directory (PulumiPlugin.yaml and __main__.py)
that the Pulumi engine runs to serve `rftenv:index:Environment` to other languages.

`plugin_directory()` is where it is, in the repository and in an installed wheel alike;
`pulumi package add` takes that path.
"""

from __future__ import annotations

from pathlib import Path


def plugin_directory() -> Path:
    return Path(__file__).resolve().parent
