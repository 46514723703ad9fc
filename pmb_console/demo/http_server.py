"""The demo's HTTP servers: real sockets on 127.0.0.1 that close cleanly when the demo ends.

The PM Buddy instances and the GitHub double both answer through a `DemoHTTPServer`,
each with its own `handle(request)`.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

_IDLE_CONNECTION_S = 10.0


class Responder(Protocol):
    def handle(self, req: DemoRequestHandler) -> None:
        """Answer one request (GET or POST) with `send` or `send_json`."""


class DemoHTTPServer(ThreadingHTTPServer):
    """A threading server that can close its open keep-alive connections when it stops.

    Handler threads are not daemons and `server_close` joins them, so once `close` returns
    nothing of this server is left running.
    """

    daemon_threads = False
    block_on_close = True

    def __init__(self, port: int, responder: Responder) -> None:
        self.responder = responder
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), DemoRequestHandler)
        # serve_forever accepts once select says a connection waits; on a blocking socket,
        # a connection gone by then (a health checker's reset) blocks accept() for good,
        # and the instance stops answering. Non-blocking, such an accept just fails.
        self.socket.setblocking(False)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close(self) -> None:
        self.shutdown()
        with self._open_lock:
            still_open = list(self._open)
        for sock in still_open:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a handler waiting on a kept-alive client
            except OSError:
                pass
        self.server_close()


class DemoRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_CONNECTION_S
    server: DemoHTTPServer

    def do_GET(self) -> None:
        self.server.responder.handle(self)

    def do_POST(self) -> None:
        self.server.responder.handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # an instance writes its own access log, in the app's format


def send_json(req: DemoRequestHandler, status: int, payload: Any) -> int:
    body = json.dumps(payload).encode()
    send(req, status, body, "application/json")
    return len(body)


def send(req: DemoRequestHandler, status: int, body: bytes, content_type: str) -> None:
    try:
        req.send_response(status)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
    except OSError:
        req.close_connection = True  # the client went away; nothing to answer
