"""Notifications: the real program switching a real HAProxy tells a real webhook server.

The webhook is a local HTTP server that records each POST; it can also answer 500, or
accept the connection and never answer. Whatever it does, the switch itself succeeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.http import unblocked

pytestmark = pytest.mark.haproxy

PROGRAM = Path(sys.executable).with_name("pmb-console")
WEBHOOK_ENV = "PMB_TEST_WEBHOOK"
SECRET_PATH = "/services/T000/B000/s3cr3t-token"


class Webhook:
    """An incoming-webhook stand-in: `mode` is "ok", "error" (HTTP 500) or "silent"."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.posts: list[dict[str, Any]] = []
        self._release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.posts.append(json.loads(body))
                if hook.mode == "silent":
                    hook._release.wait(30)  # hold the connection open and say nothing
                    return
                status = 500 if hook.mode == "error" else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = unblocked(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{SECRET_PATH}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [p.get("text", "") for p in self.posts]

    def close(self) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def config_with_notify(haproxy, tmp_path: Path, timeout: float = 1.0) -> Path:
    path = haproxy.write_pmb_config(tmp_path)
    with path.open("a", encoding="utf-8") as f:
        f.write(f'\n[notify]\nwebhook_env = "{WEBHOOK_ENV}"\ntimeout = {timeout}\n')
    return path


def switch_to_green(config: Path, webhook_url: str | None) -> subprocess.CompletedProcess[str]:
    if not PROGRAM.exists():
        pytest.skip(f"the pmb-console program is not installed beside {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k not in ("PMB_CONSOLE_CONFIG", WEBHOOK_ENV)}
    if webhook_url is not None:
        env[WEBHOOK_ENV] = webhook_url
    done = subprocess.run(
        [str(PROGRAM), "switch", "--to", "green", "--yes", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_the_webhook_hears_the_start_and_the_end(haproxy, tmp_path, webhook):
    done = switch_to_green(config_with_notify(haproxy, tmp_path), webhook.url)

    assert done.returncode == 0, done.stderr
    assert haproxy.weights() == {"blue": 0, "green": 100}
    texts = webhook.texts()
    assert len(texts) == 2, texts
    assert texts[0].startswith("[test] tester started switch")
    assert "SUCCEEDED" in texts[1] and "switch by tester" in texts[1]
    assert "notification" not in done.stderr


def test_a_webhook_answering_500_is_said_and_the_switch_still_succeeds(haproxy, tmp_path, webhook):
    webhook.mode = "error"
    done = switch_to_green(config_with_notify(haproxy, tmp_path), webhook.url)

    assert done.returncode == 0, done.stderr
    assert haproxy.weights() == {"blue": 0, "green": 100}
    assert "notification not sent: the webhook answered HTTP 500" in done.stderr
    assert "s3cr3t" not in done.stderr + done.stdout  # the webhook URL is a secret


def test_a_webhook_that_never_answers_does_not_hold_the_switch(haproxy, tmp_path, webhook):
    webhook.mode = "silent"
    started = time.monotonic()
    done = switch_to_green(config_with_notify(haproxy, tmp_path, timeout=0.5), webhook.url)
    took = time.monotonic() - started

    assert done.returncode == 0, done.stderr
    assert haproxy.weights() == {"blue": 0, "green": 100}
    assert "the webhook did not answer within 0.5 s" in done.stderr
    # Not a timing assertion on speed: a bound showing the program did not wait on the hook
    # forever (it would hang for the server's 30 s hold otherwise).
    assert took < 20, took


def test_an_unset_webhook_variable_is_said_once_and_changes_nothing_else(haproxy, tmp_path):
    done = switch_to_green(config_with_notify(haproxy, tmp_path), None)

    assert done.returncode == 0, done.stderr
    assert haproxy.weights() == {"blue": 0, "green": 100}
    assert done.stderr.count(f"[notify] webhook_env names {WEBHOOK_ENV}, which is not set") == 1
