"""The JIRA client against real local HTTP servers: rate limits honoured, back-off with
jitter, faults worded. Waits are real (a second or two); the client's own wait reports
(what the progress line shows) say how long each one was."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pmb_console.config import JiraConfig
from pmb_console.errors import ProviderError, UsageError
from pmb_console.jira.client import JiraClient, retry_after

ENV = {"JIRA_EMAIL": "me@example.com", "JIRA_API_TOKEN": "t0ken"}
LAST_PAGE = (200, {"issues": [{"key": "PMB-1", "fields": {}}], "isLast": True}, {})


class ScriptedJira:
    """Answers each request with the next scripted (status, body, headers)."""

    def __init__(self, script: list[tuple[int, Any, dict[str, str]]]) -> None:
        self.script = list(script)
        self.seen: list[float] = []
        jira = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                jira.seen.append(time.monotonic())
                status, body, headers = jira.script.pop(0) if jira.script else LAST_PAGE
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[ScriptedJira] = []

    def start(*script: tuple[int, Any, dict[str, str]]) -> ScriptedJira:
        servers.append(ScriptedJira(list(script)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client_for(url: str, waits: list[tuple[float, str]], **config: Any) -> JiraClient:
    cfg = JiraConfig(url=url, jql="project = PMB", **config)
    return JiraClient(cfg, env=ENV, on_wait=lambda s, why: waits.append((s, why)) if s else None)


def test_429_waits_as_long_as_retry_after_says(scripted):
    jira = scripted(
        (429, {"errorMessages": ["Rate limit exceeded."]}, {"Retry-After": "1"}), LAST_PAGE
    )
    waits: list[tuple[float, str]] = []
    page = client_for(jira.url, waits).search_page(["summary"])
    assert [i["key"] for i in page.issues] == ["PMB-1"]
    assert waits == [(1.0, "rate limited (HTTP 429)")]
    assert jira.seen[1] - jira.seen[0] >= 1.0


def test_503_waits_until_x_ratelimit_reset(scripted):
    reset = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    jira = scripted((503, b"", {"X-RateLimit-Reset": reset}), LAST_PAGE)
    waits: list[tuple[float, str]] = []
    client_for(jira.url, waits).search_page(["summary"])
    ((seconds, why),) = waits
    assert 1.0 < seconds <= 2.0 and why == "JIRA unavailable (HTTP 503)"


def test_without_a_hint_the_client_backs_off_exponentially_with_jitter(scripted):
    jira = scripted((503, b"", {}), (502, b"", {}), LAST_PAGE)
    waits: list[tuple[float, str]] = []
    client_for(jira.url, waits).search_page(["summary"])
    first, second = (s for s, _ in waits)
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # half fixed, half random


def test_retries_are_bounded_and_the_error_says_what_to_do(scripted):
    jira = scripted(*[(429, b"", {"Retry-After": "0"})] * 3)
    with pytest.raises(ProviderError) as caught:
        client_for(jira.url, [], max_retries=2).search_page(["summary"])
    assert caught.value.message == "JIRA kept answering HTTP 429 after 2 retries"
    assert "--resume" in caught.value.hint


def test_a_wait_longer_than_any_rate_limit_is_an_outage(scripted):
    jira = scripted((429, b"", {"Retry-After": "3600"}))
    with pytest.raises(ProviderError, match="asks to wait 3600 s"):
        client_for(jira.url, []).search_page(["summary"])


def test_a_bad_jql_is_reported_with_jiras_own_words(scripted):
    jira = scripted((400, {"errorMessages": ["Field 'projct' does not exist."], "errors": {}}, {}))
    with pytest.raises(ProviderError) as caught:
        client_for(jira.url, []).search_page(["summary"])
    assert (
        caught.value.message
        == "JIRA rejected the request (HTTP 400): Field 'projct' does not exist."
    )
    assert "[jira] jql" in caught.value.hint


def test_an_html_answer_is_named_not_a_decoding_traceback(scripted):
    jira = scripted((200, b"<html>login</html>", {"Content-Type": "text/html"}))
    with pytest.raises(ProviderError, match="not JSON"):
        client_for(jira.url, []).search_page(["summary"])


def test_pages_follow_next_page_token_until_is_last(scripted):
    jira = scripted(
        (200, {"issues": [{"key": "PMB-1"}], "nextPageToken": "abc", "isLast": False}, {}),
        (200, {"issues": [{"key": "PMB-2"}], "isLast": True}, {}),
    )
    pages = list(client_for(jira.url, []).pages(["summary"]))
    assert [(p.position, p.next_position) for p in pages] == [("", "abc"), ("abc", None)]


def test_missing_secrets_are_config_errors():
    with pytest.raises(UsageError, match=r"\$JIRA_API_TOKEN is not set"):
        JiraClient(JiraConfig(url="http://127.0.0.1:9", jql="x"), env={})
    with pytest.raises(UsageError, match=r"\$JIRA_EMAIL is not set"):
        JiraClient(JiraConfig(url="http://127.0.0.1:9", jql="x"), env={"JIRA_API_TOKEN": "t"})
    # datacenter signs in with a personal access token alone
    JiraClient(
        JiraConfig(url="http://127.0.0.1:9", jql="x", flavor="datacenter"),
        env={"JIRA_API_TOKEN": "t"},
    ).close()


def test_retry_after_reads_seconds_http_dates_and_rate_limit_resets():
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert retry_after({"Retry-After": "7"}, now) == 7.0
    assert (
        retry_after({"Retry-After": format_datetime(now + timedelta(seconds=30), usegmt=True)}, now)
        == 30.0
    )
    assert retry_after({"X-RateLimit-Reset": "2026-11-24T12:00:05Z"}, now) == 5.0
    assert retry_after({"X-RateLimit-Reset": str(now.timestamp() + 12)}, now) == 12.0
    assert retry_after({"X-RateLimit-Reset": "2026-11-24T11:00:00Z"}, now) == 0.0  # already past
    assert retry_after({"X-RateLimit-Reset": "soon"}, now) is None
    assert retry_after({}, now) is None
