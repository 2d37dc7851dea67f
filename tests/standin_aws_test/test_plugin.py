"""The installed plugin: where the engine looks for it, and the gRPC protocol it serves,
driven here as the engine drives it (a process that prints its port), without the CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import provider_pb2_grpc

from tests.standin_aws import (
    LOG_ENV,
    STATE_ENV,
    install,
    load_cloud,
    plugin_version,
    read_calls,
    wire,
)


def requested_version() -> str:
    spec = importlib.util.find_spec("pulumi_aws")
    assert spec is not None and spec.submodule_search_locations
    manifest = Path(next(iter(spec.submodule_search_locations))) / "pulumi-plugin.json"
    return json.loads(manifest.read_text())["version"]


def test_install_puts_a_launcher_where_the_engine_looks(tmp_path: Path) -> None:
    home = tmp_path / "pulumi-home"
    version = requested_version()
    assert plugin_version() == version

    launcher = install(home)

    entry = home / "plugins" / f"resource-aws-v{version}"
    assert launcher == entry / "pulumi-resource-aws"
    assert os.access(launcher, os.X_OK)
    script = launcher.read_text()
    assert script.startswith("#!/bin/sh\n") and sys.executable in script
    assert "-m tests.standin_aws" in script
    assert not (home / "plugins" / f"resource-aws-v{version}.partial").exists()


def test_install_replaces_a_broken_install(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    entry = plugins / f"resource-aws-v{plugin_version()}"
    entry.mkdir(parents=True)
    (entry / "leftover").write_text("from an install that died")
    (plugins / f"{entry.name}.partial").touch()

    install(tmp_path)
    install(tmp_path)

    assert sorted(p.name for p in entry.iterdir()) == ["pulumi-resource-aws"]
    assert not (plugins / f"{entry.name}.partial").exists()


def test_install_refuses_the_users_own_pulumi_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError, match="refusing"):
        install(tmp_path / ".pulumi")
    assert not (tmp_path / ".pulumi").exists()


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[tuple[provider_pb2_grpc.ResourceProviderStub, Path]]:
    """The installed launcher, started as the engine starts it; its stub and its folder."""
    launcher = install(tmp_path / "home")
    env = {
        **os.environ,
        STATE_ENV: str(tmp_path / "cloud.json"),
        LOG_ENV: str(tmp_path / "calls.jsonl"),
    }
    process = subprocess.Popen(
        [str(launcher), "127.0.0.1:1"], stdout=subprocess.PIPE, cwd=tmp_path, env=env
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel), tmp_path
    finally:
        process.kill()
        process.wait(timeout=10)


BUCKET_URN = "urn:pulumi:t::smoke::aws:s3/bucket:Bucket::data"


def struct(props: dict[str, Any]) -> Any:
    return wire.to_struct(props)


def test_the_plugin_serves_the_provider_protocol(
    plugin: tuple[provider_pb2_grpc.ResourceProviderStub, Path],
) -> None:
    stub, folder = plugin
    handshake = stub.Handshake(proto.ProviderHandshakeRequest(engine_address="127.0.0.1:1"))
    assert handshake.accept_secrets and not handshake.accept_resources
    assert stub.GetPluginInfo(empty_pb2.Empty()).version == plugin_version()
    stub.Configure(
        proto.ConfigureRequest(
            args=struct(
                {
                    "region": "us-east-1",
                    "allowedAccountIds": '["111122223333"]',
                    "defaultTags": '{"tags": {"Project": "smoke"}}',
                }
            ),
            acceptSecrets=True,
        )
    )

    # Check keeps secrets and unknowns as they came; a preview Create leaves unknown what
    # depends on an unknown.
    news = {"bucket": wire.UNKNOWN, "tags": wire.secret({"Owner": "hidden-owner"})}
    checked = stub.Check(proto.CheckRequest(urn=BUCKET_URN, olds=struct({}), news=struct(news)))
    assert list(checked.failures) == [] and wire.from_struct(checked.inputs) == news
    preview = stub.Create(
        proto.CreateRequest(urn=BUCKET_URN, properties=checked.inputs, preview=True)
    )
    previewed = wire.from_struct(preview.properties)
    assert preview.id == "" and previewed["arn"] == wire.UNKNOWN
    assert wire.is_secret(previewed["tags"]) and wire.is_secret(previewed["tagsAll"])

    refused = stub.Check(
        proto.CheckRequest(urn=BUCKET_URN, olds=struct({}), news=struct({"bucket": "No_Good"}))
    )
    assert [(f.property, "lowercase" in f.reason) for f in refused.failures] == [("bucket", True)]

    inputs = {"bucket": "standin-smoke-data", "tags": wire.secret({"Owner": "hidden-owner"})}
    created = stub.Create(proto.CreateRequest(urn=BUCKET_URN, properties=struct(inputs)))
    outputs = wire.from_struct(created.properties)
    assert created.id == "standin-smoke-data"
    assert outputs["arn"] == "arn:aws:s3:::standin-smoke-data"
    assert outputs["tagsAll"] == wire.secret({"Project": "smoke", "Owner": "hidden-owner"})

    diff = stub.Diff(
        proto.DiffRequest(
            urn=BUCKET_URN,
            id=created.id,
            olds=created.properties,
            news=struct({**inputs, "bucket": "standin-smoke-renamed"}),
            old_inputs=struct(inputs),
        )
    )
    assert diff.changes == proto.DiffResponse.DIFF_SOME and list(diff.replaces) == ["bucket"]
    assert diff.detailedDiff["bucket"].kind == proto.PropertyDiff.UPDATE_REPLACE
    assert diff.hasDetailedDiff and not diff.deleteBeforeReplace

    read = stub.Read(
        proto.ReadRequest(urn=BUCKET_URN, id=created.id, properties=created.properties)
    )
    assert read.id == created.id and wire.from_struct(read.properties) == outputs
    stub.Delete(proto.DeleteRequest(urn=BUCKET_URN, id=created.id, properties=created.properties))
    gone = stub.Read(
        proto.ReadRequest(urn=BUCKET_URN, id=created.id, properties=created.properties)
    )
    assert gone.id == ""

    with pytest.raises(grpc.RpcError) as unsupported:
        stub.Check(
            proto.CheckRequest(
                urn="urn:pulumi:t::smoke::aws:ec2/instance:Instance::web",
                olds=struct({}),
                news=struct({}),
            )
        )
    assert unsupported.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "aws:ec2/instance:Instance" in unsupported.value.details()
    with pytest.raises(grpc.RpcError) as no_schema:
        stub.GetSchema(proto.GetSchemaRequest())
    assert no_schema.value.code() == grpc.StatusCode.UNIMPLEMENTED

    assert load_cloud(folder / "cloud.json").resources == ()
    log = (folder / "calls.jsonl").read_text()
    assert "hidden-owner" not in log
    assert [call.method for call in read_calls(folder / "calls.jsonl")][:3] == [
        "Handshake",
        "GetPluginInfo",
        "Configure",
    ]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited, whoever has yet to reap it


def test_the_plugin_exits_when_the_engine_that_started_it_dies(tmp_path: Path) -> None:
    launcher = install(tmp_path / "home")
    # A shell stands in for the engine: it starts the plugin, says its pid, and is killed.
    engine = subprocess.Popen(
        ["sh", "-c", f'"{launcher}" 127.0.0.1:1 & echo $!; wait'],
        stdout=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, STATE_ENV: str(tmp_path / "cloud.json")},
    )
    assert engine.stdout is not None
    plugin_pid = int(engine.stdout.readline())
    try:
        int(engine.stdout.readline())  # the plugin's port: it is serving
        assert _running(plugin_pid)

        engine.kill()
        engine.wait(timeout=10)

        deadline = time.monotonic() + 10
        while _running(plugin_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(plugin_pid)
    finally:
        if _running(plugin_pid):
            os.kill(plugin_pid, signal.SIGKILL)
