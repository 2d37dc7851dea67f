"""The gRPC face of the stand-in: pulumirpc.ResourceProvider, served as a plugin process.

A resource plugin is started by the engine with the engine's address as its argument; it
listens on a free port of 127.0.0.1, writes that port and a newline as the first and only
thing on stdout, and serves until the engine kills it (pkg/resource/plugin/plugin.go in
the engine reads the port this way). Calls arrive concurrently, so this is a threaded
server; StandinAwsProvider's state is the configuration, set once by Configure, and the
cloud file, which is locked per call.

Implemented: Handshake, GetPluginInfo, CheckConfig, DiffConfig, Configure, Check, Diff,
Create, Read, Update, Delete, Cancel. GetSchema is not: the engine asks for a schema only
for code generation, `pulumi import` and credential checks of `pulumi new`, never for
preview, up, refresh or destroy. Invoke, Call and Construct are refused by name.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent import futures
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import empty_pb2

from rft_env.rftenv.pulumi_internals import GRPC_CHANNEL_OPTIONS, proto, provider_pb2_grpc
from tests.standin_aws import wire
from tests.standin_aws.install import plugin_version
from tests.standin_aws.provider import (
    CheckResult,
    DiffResult,
    ErrorKind,
    StandinAwsProvider,
    StandinError,
)

Response = TypeVar("Response")

_STATUS = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
}


def _answer(context: grpc.ServicerContext, handle: Callable[[], Response]) -> Response:
    """`handle()`, with the stand-in's errors turned into gRPC statuses the engine shows."""
    try:
        return handle()
    except StandinError as error:
        context.abort(_STATUS[error.kind], str(error))
    except Exception as error:  # a bug in the stand-in: say so, with where
        context.abort(
            grpc.StatusCode.INTERNAL,
            f"stand-in aws provider failed: {error!r}\n{traceback.format_exc()}",
        )
    raise AssertionError("unreachable: context.abort raises")


def _check_response(result: CheckResult) -> proto.CheckResponse:
    return proto.CheckResponse(
        inputs=wire.to_struct(result.inputs),
        failures=[
            proto.CheckFailure(property=f.property, reason=f.reason) for f in result.failures
        ],
    )


def _diff_response(result: DiffResult) -> proto.DiffResponse:
    return proto.DiffResponse(
        changes=proto.DiffResponse.DIFF_SOME if result.changes else proto.DiffResponse.DIFF_NONE,
        replaces=result.replaces,
        diffs=result.diffs,
        detailedDiff={
            key: proto.PropertyDiff(kind=proto.PropertyDiff.Kind.Value(kind.name), inputDiff=True)
            for key, kind in result.detailed.items()
        },
        hasDetailedDiff=True,
        deleteBeforeReplace=result.delete_before_replace,
    )


class StandinAwsServicer(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, provider: StandinAwsProvider, version: str) -> None:
        self.provider = provider
        self.version = version

    def _refuse(self, context: grpc.ServicerContext, method: str, what: str) -> NoReturn:
        with self.provider.call(method) as record:
            record.summary = f"refused: {what}"
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"the stand-in aws provider (tests/standin_aws) does not implement {what}",
        )
        raise AssertionError("unreachable: context.abort raises")

    # --- plugin lifecycle -------------------------------------------------------------------
    def Handshake(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.provider.call("Handshake") as record:
            record.summary = "secrets accepted; resources and outputs as plain values"
        # Resource references and output values arrive flattened to ids and plain values,
        # which is all these resource types need. (After a handshake the engine also
        # assumes support for previews, which the stand-in has.)
        return proto.ProviderHandshakeResponse(
            accept_secrets=True, accept_resources=False, accept_outputs=False
        )

    def GetPluginInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.provider.call("GetPluginInfo") as record:
            record.summary = self.version
        return proto.PluginInfo(version=self.version)

    def GetSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse(context, "GetSchema", "GetSchema: it has no schema")

    def Cancel(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.provider.call("Cancel") as record:
            record.summary = "nothing to cancel"
        return empty_pb2.Empty()

    def Invoke(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse(context, "Invoke", f"function {request.tok!r}")

    def Call(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse(context, "Call", f"method {request.tok!r}")

    def Construct(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse(context, "Construct", f"component {request.type!r}")

    # --- the provider resource --------------------------------------------------------------
    def CheckConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _answer(
            context,
            lambda: _check_response(
                self.provider.check_config(
                    request.urn, wire.from_struct(request.olds), wire.from_struct(request.news)
                )
            ),
        )

    def DiffConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _answer(
            context,
            lambda: _diff_response(
                self.provider.diff_config(
                    request.urn,
                    wire.from_struct(request.olds),
                    wire.from_struct(request.news),
                    wire.from_struct(request.old_inputs),
                )
            ),
        )

    def Configure(self, request: Any, context: grpc.ServicerContext) -> Any:
        def configure() -> Any:
            self.provider.configure(
                wire.from_struct(request.args), dict(request.variables), request.urn
            )
            # Must match the handshake's answers.
            return proto.ConfigureResponse(
                acceptSecrets=True, supportsPreview=True, acceptResources=False, acceptOutputs=False
            )

        return _answer(context, configure)

    # --- resources --------------------------------------------------------------------------
    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _answer(
            context,
            lambda: _check_response(
                self.provider.check(
                    request.urn, wire.from_struct(request.olds), wire.from_struct(request.news)
                )
            ),
        )

    def Diff(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _answer(
            context,
            lambda: _diff_response(
                self.provider.diff(
                    request.urn,
                    request.id,
                    wire.from_struct(request.olds),
                    wire.from_struct(request.news),
                    wire.from_struct(request.old_inputs),
                    tuple(request.ignoreChanges),
                )
            ),
        )

    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        def create() -> Any:
            resource_id, outputs = self.provider.create(
                request.urn, wire.from_struct(request.properties), request.preview
            )
            return proto.CreateResponse(id=resource_id, properties=wire.to_struct(outputs))

        return _answer(context, create)

    def Read(self, request: Any, context: grpc.ServicerContext) -> Any:
        def read() -> Any:
            result = self.provider.read(
                request.urn,
                request.id,
                wire.from_struct(request.properties),
                wire.from_struct(request.inputs),
            )
            if not result.id:
                # An empty id tells the engine the resource is gone.
                return proto.ReadResponse(id="")
            return proto.ReadResponse(
                id=result.id,
                properties=wire.to_struct(result.outputs),
                inputs=wire.to_struct(result.inputs),
            )

        return _answer(context, read)

    def Update(self, request: Any, context: grpc.ServicerContext) -> Any:
        def update() -> Any:
            outputs = self.provider.update(
                request.urn,
                request.id,
                wire.from_struct(request.olds),
                wire.from_struct(request.news),
                wire.from_struct(request.old_inputs),
                request.preview,
            )
            return proto.UpdateResponse(properties=wire.to_struct(outputs))

        return _answer(context, update)

    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        def delete() -> Any:
            self.provider.delete(
                request.urn,
                request.id,
                wire.from_struct(request.properties),
                wire.from_struct(request.old_inputs),
            )
            return empty_pb2.Empty()

        return _answer(context, delete)


def _exit_with_the_engine() -> None:
    """An engine that dies without killing its plugins (SIGKILL, a crash) must not leave this
    server running: when the process that started it is gone, so is it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-the-engine", daemon=True).start()


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="the rft-env engine tests' stand-in aws plugin")
    parser.add_argument("engine", nargs="?", help="the engine's address (unused)")
    parser.parse_known_args(argv)  # the engine may add --logtostderr, -v=..., --tracing

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), options=GRPC_CHANNEL_OPTIONS)
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(
        StandinAwsServicer(StandinAwsProvider.from_environment(), plugin_version()), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    _exit_with_the_engine()
    # The engine reads the port from the first line of stdout.
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()
