"""boto3 sessions for the dynamic providers, built per call from resource inputs.

The providers do not inherit credentials from the stack's `aws.Provider`: the region,
the deployment role to assume (the same one the aws provider assumes) and, for tests, an
endpoint URL are inputs. Nothing here is kept on a provider object: boto3 clients do not
pickle, and the provider is pickled into state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SESSION_NAME = "rft-env-bedrock"


@dataclass(frozen=True)
class Connection:
    region: str
    role_arn: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = None
    # botocore's standard retry mode (throttling, 5xx, with backoff): attempts per call,
    # the first included.
    total_max_attempts: int = 8

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

    def _config(self) -> Any:
        from botocore.config import Config

        return Config(
            region_name=self.region,
            retries={"mode": "standard", "total_max_attempts": self.total_max_attempts},
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="rft-env",
        )

    def client(self, service: str = "bedrock") -> Any:
        """A fresh client; assumes the deployment role first when one is set."""
        # Imported here, not at module level: the Pulumi program imports this module to
        # declare resources and never calls AWS itself; boto3 costs ~0.15 s to import.
        import boto3

        session = boto3.session.Session(region_name=self.region)
        if self.role_arn:
            sts = session.client("sts", endpoint_url=self.endpoint_url, config=self._config())
            request: dict[str, Any] = {"RoleArn": self.role_arn, "RoleSessionName": SESSION_NAME}
            if self.external_id:
                request["ExternalId"] = self.external_id
            credentials = sts.assume_role(**request)["Credentials"]
            session = boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=self.region,
            )
        return session.client(service, endpoint_url=self.endpoint_url, config=self._config())
