"""What both fake AWS services share: an HTTP server on 127.0.0.1 in a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LocalServer(ThreadingHTTPServer):
    # The default backlog of 5 can drop connections (and make clients wait a second for a SYN
    # retransmit) when a concurrency test opens dozens at once.
    request_queue_size = 128
    daemon_threads = True  # a stuck client connection must not block interpreter exit


class ServedFake:
    """start/stop and `with` for a fake whose requests `handler` serves; the handler
    reaches the fake as `self.server.fake`."""

    handler: type[BaseHTTPRequestHandler]
    endpoint_url: str = ""
    _server: LocalServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint_url
        server = LocalServer(("127.0.0.1", 0), self.handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.endpoint_url = f"http://127.0.0.1:{server.server_address[1]}"
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
