"""Helpers for the console benchmarks: a program in a pseudo-terminal, and a small stack.

`PtyProgram` starts a command on a pty of a given size and reads everything it writes
(the bytes a terminal would receive). `LocalStack` serves /healthz and /metrics for a
blue and a green instance on 127.0.0.1 at a steady request rate, and writes a console
config for them with the demo router, so a benchmark needs no HAProxy or network.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class PtyProgram:
    def __init__(
        self, argv: list[str], cols: int, rows: int, env: dict[str, str] | None = None
    ) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={
                **os.environ,
                "TERM": "xterm-256color",
                "COLUMNS": str(cols),
                "LINES": str(rows),
                **(env or {}),
            },
        )
        os.close(slave)
        self.output = bytearray()

    def read_for(self, seconds: float) -> int:
        """Read whatever arrives during `seconds`; returns the number of bytes."""
        deadline = time.perf_counter() + seconds
        got = 0
        while (left := deadline - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                got += len(chunk)
                self.output += chunk
        return got

    def wait_for(self, *markers: bytes, within: float = 30.0) -> float:
        """Seconds from start until every marker has appeared in the output."""
        deadline = time.perf_counter() + within
        while time.perf_counter() < deadline:
            if all(m in self.output for m in markers):
                return time.perf_counter() - self.started
            ready, _, _ = select.select([self.master], [], [], 0.005)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    break
        raise RuntimeError(
            f"markers {markers} never appeared; last output: {bytes(self.output[-400:])!r}"
        )

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


class _Instance:
    """One instance: /healthz answers 200, /metrics counts ~50 requests/s since start."""

    def __init__(self) -> None:
        started = time.monotonic()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/metrics"):
                    n = int((time.monotonic() - started) * 50)
                    body = (
                        "# TYPE http_requests_total counter\n"
                        f'http_requests_total{{status="200"}} {n}\n'
                        "# TYPE http_request_duration_seconds histogram\n"
                        f'http_request_duration_seconds_bucket{{le="0.1"}} {n}\n'
                        f'http_request_duration_seconds_bucket{{le="+Inf"}} {n}\n'
                        f"http_request_duration_seconds_count {n}\n"
                        f"http_request_duration_seconds_sum {n * 0.02}\n"
                    ).encode()
                else:
                    body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LocalStack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.instances = {color: _Instance() for color in ("blue", "green")}

    def write_config(self) -> Path:
        from pmb_console.demo.router import write_weights

        state_file = self.workdir / "weights.json"
        write_weights(state_file, {"blue": 0, "green": 100})

        def instance(color: str) -> str:
            port = self.instances[color].port
            return (
                f'{{ name = "{color}-1", health_url = "http://127.0.0.1:{port}/healthz", '
                f'metrics_url = "http://127.0.0.1:{port}/metrics" }}'
            )

        path = self.workdir / "console.toml"
        path.write_text(
            f"""
[console]
environment = "production"
operator = "bench"
state_dir = {json.dumps(str(self.workdir / "state"))}
[release]
version = "v1.1.0"
[colors.blue]
version = "v1.0.0"
instances = [ {instance("blue")} ]
[colors.green]
version = "v1.1.0"
instances = [ {instance("green")} ]
[traffic]
provider = "demo"
[traffic.demo]
state_file = {json.dumps(str(state_file))}
""",
            encoding="utf-8",
        )
        return path

    def close(self) -> None:
        for instance in self.instances.values():
            instance.close()
