"""Endpoint overrides are for loopback test endpoints only: one rule (graders.endpoints) for
the providers' inputs, every Connection (the CLI's too) and the LLM judge's spec."""

from __future__ import annotations

import pytest

from rft_env.components.bedrock.session import Connection
from rft_env.components.bedrock.validation import ConnectionInputs, check_failures
from rft_env.graders.endpoints import check_endpoint_url, endpoint_url_problem

ALLOWED = [
    "http://127.0.0.1:8080",
    "http://127.0.0.1:8080/",
    "https://127.255.0.9/bedrock/v1",
    "http://localhost:4566",
    "http://LOCALHOST",
    "http://[::1]:9000/",
]
REFUSED = [
    # the instance metadata service and the rest of link-local
    ("http://169.254.169.254/", "link-local"),
    ("http://169.254.169.254/latest/meta-data/iam/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fd00:ec2::254]/", "link-local"),
    # private, public and any other name (it could resolve to the metadata service)
    ("http://10.0.0.5/", "not a loopback address"),
    ("http://0.0.0.0:8080/", "not a loopback address"),
    ("https://bedrock-runtime.us-east-1.amazonaws.com", "not a loopback address"),
    ("http://localhost.example.com/", "not a loopback address"),
    ("http://[::ffff:169.254.169.254]/", "not a loopback address"),
    ("http://[127.0.0.1]/", "not a loopback address"),
    ("http://127.1/", "not a loopback address"),
    ("http://2130706433/", "not a loopback address"),
    ("http://127.0.0.1:99999/", "out of range"),
    # forms that URL parsers disagree on: refused outright
    ("http://127.0.0.1@169.254.169.254/", "allowed: an http(s) URL"),
    ("http://169.254.169.254\\@127.0.0.1/", "allowed: an http(s) URL"),
    ("http://127.0.0.1\n@169.254.169.254/", "allowed: an http(s) URL"),
    ("http://127.0.0.1/%2e%2e", "allowed: an http(s) URL"),
    ("ftp://127.0.0.1/", "allowed: an http(s) URL"),
    ("notaurl", "allowed: an http(s) URL"),
]


@pytest.mark.parametrize("url", ALLOWED)
def test_loopback_endpoints_are_allowed(url: str) -> None:
    assert endpoint_url_problem(url) is None
    assert check_endpoint_url(url) == url
    assert check_failures(ConnectionInputs, {"region": "us-east-1", "endpointUrl": url}) == []
    assert Connection("us-east-1", endpoint_url=url).endpoint_url == url


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_anything_else_is_refused_everywhere(url: str, reason: str) -> None:
    problem = endpoint_url_problem(url)
    assert problem is not None and reason in problem
    (failure,) = check_failures(ConnectionInputs, {"region": "us-east-1", "endpointUrl": url})
    assert failure.property == "endpointUrl"
    assert reason in failure.reason and "127.0.0.0/8" in failure.reason
    with pytest.raises(ValueError, match="allowed: an http"):
        Connection("us-east-1", endpoint_url=url)
    with pytest.raises(ValueError, match="allowed: an http"):
        Connection.from_props({"connection": {"region": "us-east-1", "endpointUrl": url}})


def test_no_override_is_the_default() -> None:
    assert Connection("us-east-1").endpoint_url is None
    assert check_failures(ConnectionInputs, {"region": "us-east-1"}) == []
    # In state an empty string means none; as an input it is refused like any non-URL.
    empty = {"connection": {"region": "us-east-1", "endpointUrl": ""}}
    assert Connection.from_props(empty).endpoint_url is None
    assert endpoint_url_problem("") is not None
