"""boto3 sessions for the dynamic providers, built per call from resource inputs.

The providers do not inherit credentials from the stack's `aws.Provider`: the region,
the deployment role to assume (the same one the aws provider assumes) and, for tests, an
endpoint URL are inputs. Nothing here is kept on a provider object: boto3 clients do not
pickle, and the provider is pickled into state.

The role's credentials are refreshable, so a wait may outlive one role session (AssumeRole
gives one hour by default): botocore's own assume-role fetcher calls AssumeRole again, with
the same external id, before the current credentials expire.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rft_env.graders.endpoints import check_endpoint_url

if TYPE_CHECKING:
    from rft_env.components.bedrock.waiting import Clock

SESSION_NAME = "rft-env-bedrock"
# botocore's name for credentials from an assume-role fetcher (its AssumeRoleProvider's).
CREDENTIALS_METHOD = "assume-role"


class _NoCache(dict[str, Any]):
    """The assume-role fetcher's response cache, kept empty.

    botocore's fetcher judges a cached response's expiry by the system clock, not by the
    injected one; the refreshable credentials already hold the current set, so every refresh
    they ask for must call AssumeRole.
    """

    def __setitem__(self, key: str, value: Any) -> None:
        pass


def time_fetcher(clock: Clock) -> Callable[[], datetime]:
    """`clock` as botocore's refreshable credentials read the time: an aware datetime."""
    return lambda: datetime.fromtimestamp(clock.time(), UTC)


@dataclass(frozen=True)
class Connection:
    region: str
    role_arn: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = None
    # botocore's standard retry mode (throttling, 5xx, with backoff): attempts per call,
    # the first included.
    total_max_attempts: int = 8
    # Seconds a call may wait for its response (model inference may need far more).
    read_timeout: int = 60

    def __post_init__(self) -> None:
        # An override receives every signed request and the role's token: loopback test
        # endpoints only (graders.endpoints), whoever builds the connection.
        if self.endpoint_url is not None:
            check_endpoint_url(self.endpoint_url)

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> Connection:
        connection = props.get("connection") or {}
        return cls(
            region=connection["region"],
            role_arn=connection.get("roleArn") or None,
            external_id=connection.get("externalId") or None,
            endpoint_url=connection.get("endpointUrl") or None,
        )

    def to_props(self) -> dict[str, Any]:
        props: dict[str, Any] = {"region": self.region}
        if self.role_arn:
            props["roleArn"] = self.role_arn
        if self.external_id:
            props["externalId"] = self.external_id
        if self.endpoint_url:
            props["endpointUrl"] = self.endpoint_url
        return props

    def for_judge(self, region: str | None, endpoint_url: str | None) -> Connection:
        """This connection as an LLM judge uses it: the judge's `region` if it names one, the
        judge's endpoint override unless this connection has one, and one attempt per call
        (the judge retries and backs off itself, as in the Lambda)."""
        return dataclasses.replace(
            self,
            region=region or self.region,
            endpoint_url=self.endpoint_url or endpoint_url,
            total_max_attempts=1,
        )

    def _config(self) -> Any:
        from botocore.config import Config

        return Config(
            region_name=self.region,
            retries={"mode": "standard", "total_max_attempts": self.total_max_attempts},
            connect_timeout=10,
            read_timeout=self.read_timeout,
            user_agent_extra="rft-env",
        )

    def assume_role_request(self) -> dict[str, str]:
        """What every AssumeRole sends besides RoleArn (botocore's fetcher adds that)."""
        request = {"RoleSessionName": SESSION_NAME}
        if self.external_id:
            request["ExternalId"] = self.external_id
        return request

    def client(self, service: str = "bedrock", clock: Clock | None = None) -> Any:
        """A fresh client; with a deployment role, its credentials are that role's, refreshed
        by botocore before they expire. `clock` is what expiry is measured on (the system
        clock when None); the role is assumed once here, so a refusal surfaces now."""
        # Imported here, not at module level: the Pulumi program imports this module to
        # declare resources and never calls AWS itself; boto3 costs ~0.15 s to import.
        import boto3

        if not self.role_arn:
            session = boto3.session.Session(region_name=self.region)
            return session.client(service, endpoint_url=self.endpoint_url, config=self._config())
        return self._role_session(clock).client(
            service, endpoint_url=self.endpoint_url, config=self._config()
        )

    def _role_session(self, clock: Clock | None) -> Any:
        import functools

        import boto3
        import botocore.session
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            DeferredRefreshableCredentials,
        )
        from botocore.exceptions import NoCredentialsError

        # The source credentials: the default chain (environment, shared files, SSO,
        # instance metadata), which may itself refresh.
        base = botocore.session.Session()
        source = base.get_credentials()
        if source is None:
            raise NoCredentialsError()
        fetcher = AssumeRoleCredentialFetcher(
            # STS is called where Bedrock is: same region, endpoint (a fake in tests) and
            # retry settings.
            functools.partial(
                base.create_client,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=self._config(),
            ),
            source,
            self.role_arn,
            extra_args=self.assume_role_request(),
            cache=_NoCache(),
        )
        extra: dict[str, Any] = {} if clock is None else {"time_fetcher": time_fetcher(clock)}
        credentials = DeferredRefreshableCredentials(
            fetcher.fetch_credentials, CREDENTIALS_METHOD, **extra
        )
        # The first AssumeRole, with the providers' bounded retry on top of botocore's: a
        # throttled STS must not fail `refresh` or `up` before any Bedrock call is made.
        from rft_env.components.bedrock.waiting import CALL_POLICY, SystemClock, call_with_retries

        call_with_retries(
            credentials.get_frozen_credentials,
            CALL_POLICY,
            clock or SystemClock(),
            what=f"assuming {self.role_arn}",
        )
        role = botocore.session.Session()
        # botocore has no public setter for a session's credentials; this is the attribute
        # its own get_credentials() fills from the credential chain.
        role._credentials = credentials
        return boto3.session.Session(botocore_session=role, region_name=self.region)
