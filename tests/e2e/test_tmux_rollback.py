"""The real program in a real terminal: roll back with one key and one confirmation.

`pmb-console --config X` runs in tmux at 160×45 against a real HAProxy whose two
instances serve /healthz and Prometheus /metrics. The test reads the screen as a person
would (capture-pane) and asks HAProxy, through its runtime API, where traffic went.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.fixtures.haproxy import ColorServer

pytestmark = [pytest.mark.e2e, pytest.mark.haproxy]

PROGRAM = Path(sys.executable).with_name("pmb-console")
TMUX = shutil.which("tmux")


class MetricsColorServer(ColorServer):
    """A color's instance that also serves Prometheus text: requests by status, durations."""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler()
        owner = self
        owner.scrapes = 0

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:
                if not self.path.startswith("/metrics"):
                    return super().do_GET()
                owner.scrapes += 1
                n = owner.scrapes * 50
                body = (
                    "# TYPE http_requests_total counter\n"
                    f'http_requests_total{{status="200"}} {n}\n'
                    f'http_requests_total{{status="500"}} {owner.scrapes}\n'
                    "# TYPE http_request_duration_seconds histogram\n"
                    f'http_request_duration_seconds_bucket{{le="0.1"}} {n - owner.scrapes * 5}\n'
                    f'http_request_duration_seconds_bucket{{le="0.5"}} {n}\n'
                    f'http_request_duration_seconds_bucket{{le="+Inf"}} {n + owner.scrapes}\n'
                    f"http_request_duration_seconds_count {n + owner.scrapes}\n"
                    f"http_request_duration_seconds_sum {n * 0.05}\n"
                )
                self._answer(200, "text/plain; version=0.0.4", body)

        return Handler


@pytest.fixture
def color_servers() -> Iterator[dict[str, ColorServer]]:
    servers = {color: MetricsColorServer(color) for color in ("blue", "green")}
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def write_config(haproxy, directory: Path) -> Path:
    def instance(color: str) -> str:
        port = haproxy.servers[color].port
        return (
            f'{{ name = "{color}", health_url = "http://127.0.0.1:{port}/healthz", '
            f'metrics_url = "http://127.0.0.1:{port}/metrics" }}'
        )

    path = directory / "console.toml"
    path.write_text(
        f"""
[console]
environment = "production"
operator = "e2e"
state_dir = {json.dumps(str(directory / "state"))}

[release]
version = "v1.1.0"

[colors.blue]
version = "v1.0.0"
instances = [ {instance("blue")} ]

[colors.green]
version = "v1.1.0"
instances = [ {instance("green")} ]

[traffic]
provider = "haproxy"

[traffic.haproxy]
runtime_api = {json.dumps(haproxy.runtime_api)}
backend = "pmbuddy"
servers = {{ blue = ["blue"], green = ["green"] }}
""",
        encoding="utf-8",
    )
    return path


class Terminal:
    """A tmux session running one command, read with capture-pane."""

    def __init__(self, command: list[str], width: int = 160, height: int = 45) -> None:
        self.name = f"pmb-e2e-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "TERM": "xterm-256color"}
        subprocess.run(
            [
                TMUX,
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(width),
                "-y",
                str(height),
                " ".join(command) + "; sleep 30",
            ],
            check=True,
            env=env,
        )

    def screen(self) -> str:
        return subprocess.run(
            [TMUX, "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([TMUX, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, words: str, within: float = 15.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            text = self.screen()
            if words in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"the screen never said {words!r}; it shows:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([TMUX, "kill-session", "-t", self.name], capture_output=True)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (make test installs it)")
def test_rollback_key_in_the_real_program_moves_haproxy_back(haproxy, tmp_path):
    config = write_config(haproxy, tmp_path)
    switched = subprocess.run(
        [str(PROGRAM), "--config", str(config), "switch", "--to", "green", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert haproxy.weights() == {"blue": 0, "green": 100}

    terminal = Terminal([str(PROGRAM), "--config", str(config)])
    try:
        screen = terminal.wait_for("LIVE GREEN 100% · blue 0%")
        assert "PRODUCTION" in screen
        terminal.wait_for("requests/s")
        terminal.keys("r")
        screen = terminal.wait_for("Confirm roll back traffic")
        assert "green was live" not in screen and "blue was live before" in screen
        time.sleep(0.4)  # a confirmation inside 300 ms of the screen opening is ignored
        terminal.keys("Tab", "Enter")
        screen = terminal.wait_for("DONE AND VERIFIED")
        assert haproxy.weights() == {"blue": 100, "green": 0}
        assert haproxy.requests(10) == {"blue": 10}
        terminal.keys("Enter")
        # RUNBOOK §3 step 2 follows the rollback: the database assessment, closed to go on.
        terminal.wait_for("Database after the rollback")
        terminal.keys("Escape")
        terminal.wait_for("LIVE BLUE 100% · green 0%")
        terminal.wait_for("rollback succeeded")  # the audit feed, read back
        terminal.keys("q")
    finally:
        terminal.close()
