"""Test fakes that real boto3 clients talk to over HTTP on 127.0.0.1."""

from tests.fakes.bedrock import FakeBedrock
from tests.fakes.clock import FakeClock

__all__ = ["FakeBedrock", "FakeClock"]
