"""Which endpoint URL overrides are allowed: loopback test endpoints only.

An endpoint override sends a client's signed requests (and, for a role session, its
security token) wherever it points. rft-env needs one only for the fake AWS services in
tests, which listen on the loopback interface, so that is all it allows: `127.0.0.0/8`,
`[::1]` and `localhost`. Link-local addresses (the instance metadata service at
169.254.169.254, fd00:ec2::254), private and public addresses and other host names are
refused. VPC endpoints need no override: with private DNS, the default endpoint name
resolves to them.

The URL must match a strict form (scheme, host, optional port and plain path), so that no
URL parser reads a different host from it than this check did (`\\`, `@`, whitespace and
percent-escapes are refused). Standard library only: the grader Lambda, the providers'
`check` and the CLI all use this one rule.
"""

from __future__ import annotations

import ipaddress
import re

ALLOWED = (
    "allowed: an http(s) URL of a loopback test endpoint (127.0.0.0/8, [::1] or localhost), "
    "e.g. http://127.0.0.1:8080"
)
_FORM = re.compile(
    r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>/[A-Za-z0-9._~/-]*)?",
    re.ASCII,
)


def endpoint_url_problem(url: object) -> str | None:
    """Why `url` may not be used as an endpoint override (None: it may)."""
    match = _FORM.fullmatch(url) if isinstance(url, str) else None
    if match is None:
        return ALLOWED
    host = match["host"].lower()
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        return f"port {match['port']} is out of range; {ALLOWED}"
    if host == "localhost":
        return None
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        if host.startswith("[") != (address.version == 6):
            raise ValueError(host)  # brackets hold an IPv6 address, and only one
    except ValueError:
        # Any other name could resolve anywhere, the metadata service included.
        return f"host {host} is not a loopback address; {ALLOWED}"
    if address.is_loopback:
        return None
    if address.is_link_local or str(address) == "fd00:ec2::254":
        return f"host {host} is link-local (the instance metadata service lives there); {ALLOWED}"
    return f"host {host} is not a loopback address; {ALLOWED}"


def check_endpoint_url(url: str) -> str:
    """`url` if it is an allowed endpoint override, else ValueError saying why."""
    problem = endpoint_url_problem(url)
    if problem is not None:
        raise ValueError(f"endpoint URL {url!r}: {problem}")
    return url
