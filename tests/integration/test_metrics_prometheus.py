"""The Prometheus source against a local server that answers like Prometheus's query API.

The answers are shaped like the ones Prometheus 2.x sends for `/api/v1/query` (instant
vectors with `[timestamp, "value"]`, `NaN` as a string, `status: error` with
`errorType`); the server answers only the exact PromQL it was given, so these tests also
check the queries the source builds.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from pmb_console.config import (
    ColorConfig,
    ColorsConfig,
    Config,
    Instance,
    MetricsConfig,
    PrometheusSourceConfig,
    parse_config,
)
from pmb_console.errors import ConfigError
from pmb_console.providers.metrics import build_metrics_source
from pmb_console.providers.metrics_prometheus import (
    PrometheusMetricsSource,
    QueryFailed,
    default_queries,
    parse_answer,
)
from tests.fixtures.http import unblocked

NOW = 1764028800.123


def vector(*series: tuple[dict[str, str], str]) -> dict:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": labels, "value": [NOW, value]} for labels, value in series],
        },
    }


def one(value: str) -> dict:
    return vector(({}, value))


def up(color: str, *states: tuple[str, str]) -> dict:
    return vector(
        *(
            (
                {"__name__": "up", "color": color, "instance": instance, "job": "pmbuddy"},
                value,
            )
            for instance, value in states
        )
    )


BAD_DATA = {
    "status": "error",
    "errorType": "bad_data",
    "error": 'invalid parameter "query": 1:12: parse error: unexpected end of input',
}


class Server(ThreadingHTTPServer):
    # http.server's default backlog of 5 drops the SYNs of a poll's concurrent
    # connections, and the kernel retries them a second later.
    request_queue_size = 128
    daemon_threads = True


class FakePrometheus:
    """Answers /api/v1/query from a table of PromQL → (HTTP status, body)."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, object]] = {}
        self.asked: list[str] = []
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/api/v1/query":
                    return self._send(404, "404 page not found\n", "text/plain")
                query = parse_qs(parts.query).get("query", [""])[0]
                fake.asked.append(query)
                if fake.delay:
                    time.sleep(fake.delay)
                status, body = fake.answers.get(query, (400, BAD_DATA))
                if isinstance(body, str):
                    return self._send(status, body, "text/plain")
                self._send(status, json.dumps(body), "application/json")

            def _send(self, status: int, text: str, ctype: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = unblocked(Server(("127.0.0.1", 0), Handler))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    p = FakePrometheus()
    yield p
    p.close()


def config(
    url: str, queries: dict[str, dict[str, str]] | None = None, timeout: float = 1.0
) -> Config:
    return Config(
        colors=ColorsConfig(
            blue=ColorConfig(
                instances=[Instance(name="blue-1", metrics_url="http://10.0.1.10:8080/metrics")]
            )
        ),
        metrics=MetricsConfig(
            source="prometheus",
            timeout=timeout,
            prometheus=PrometheusSourceConfig(url=url, queries=queries or {}),
        ),
    )


def healthy(prom: FakePrometheus, cfg: Config) -> None:
    for color, rps, err, p95 in (("blue", "412.5", "0.004", "0.182"), ("green", "0", "NaN", "NaN")):
        q = default_queries(cfg.metrics, color)
        prom.answers[q["requests_per_second"]] = (200, one(rps))
        prom.answers[q["error_rate"]] = (200, one(err))
        prom.answers[q["p95_seconds"]] = (200, one(p95))
    prom.answers[default_queries(cfg.metrics, "blue")["up"]] = (
        200,
        up("blue", ("10.0.1.11:8080", "1"), ("10.0.1.10:8080", "0")),
    )
    prom.answers[default_queries(cfg.metrics, "green")["up"]] = (
        200,
        up("green", ("10.0.2.10:8080", "1")),
    )


async def test_figures_per_color_from_the_default_queries(prom):
    cfg = config(prom.url)
    healthy(prom, cfg)
    src = build_metrics_source(cfg)
    assert isinstance(src, PrometheusMetricsSource)
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    blue, green = figures["blue"], figures["green"]
    assert blue.error == "" and green.error == ""
    assert blue.requests_per_second == 412.5
    assert blue.error_rate == pytest.approx(0.004)
    assert blue.p95_ms == pytest.approx(182.0)
    # No traffic on green: the rate is 0, and 0/0 (NaN) means "unknown", not an error.
    assert green.requests_per_second == 0.0
    assert green.error_rate is None and green.p95_ms is None
    # Instance rows from `up`, sorted by target, the down one said in words; a target
    # the config knows by its metrics_url is shown by its config name.
    assert [(i.name, i.up) for i in blue.instances] == [
        ("blue-1", False),
        ("10.0.1.11:8080", True),
    ]
    down = blue.instances[0]
    assert "up == 0" in down.error and down.down_since is not None
    # The color is selected by label, the metric names come from the config.
    asked = " ".join(prom.asked)
    assert 'http_requests_total{color="blue",status=~"5.."}' in asked
    assert 'http_request_duration_seconds_bucket{color="green"}' in asked


async def test_configured_queries_replace_the_defaults_for_that_color(prom):
    custom = {"blue": {"requests_per_second": 'sum(rate(nginx_requests_total{pool="blue"}[30s]))'}}
    cfg = config(prom.url, custom)
    healthy(prom, cfg)
    prom.answers[custom["blue"]["requests_per_second"]] = (200, one("99"))
    src = build_metrics_source(cfg)
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    assert figures["blue"].requests_per_second == 99.0
    assert figures["blue"].error_rate == pytest.approx(0.004)  # still the default query
    assert default_queries(cfg.metrics, "blue")["requests_per_second"] not in prom.asked


async def test_a_rejected_query_blanks_its_figure_and_says_why(prom):
    cfg = config(prom.url)
    healthy(prom, cfg)
    del prom.answers[default_queries(cfg.metrics, "blue")["p95_seconds"]]  # → 400 bad_data
    prom.answers[default_queries(cfg.metrics, "green")["requests_per_second"]] = (
        200,
        vector(({"instance": "a"}, "1"), ({"instance": "b"}, "2")),
    )
    src = build_metrics_source(cfg)
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    blue, green = figures["blue"], figures["green"]
    assert blue.p95_ms is None
    assert blue.requests_per_second == 412.5  # the other figures stand
    assert "p95 seconds: Prometheus said bad_data: invalid parameter" in blue.error
    assert green.requests_per_second is None
    assert "answered 2 series, expected one (wrap it in sum(...))" in green.error


async def test_an_empty_answer_is_no_data_not_an_error(prom):
    cfg = config(prom.url)
    healthy(prom, cfg)
    prom.answers[default_queries(cfg.metrics, "blue")["requests_per_second"]] = (200, vector())
    src = build_metrics_source(cfg)
    try:
        blue = (await src.poll())["blue"]
    finally:
        await src.aclose()
    assert blue.requests_per_second is None
    assert blue.error == ""


async def test_prometheus_unreachable_is_said_per_color_never_raised():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = build_metrics_source(config(f"http://127.0.0.1:{port}"))
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    for cm in figures.values():
        assert cm.requests_per_second is None and cm.instances == ()
        assert f"cannot connect to Prometheus at http://127.0.0.1:{port}" in cm.error


async def test_a_hung_prometheus_times_out_in_words(prom):
    cfg = config(prom.url, timeout=0.3)
    healthy(prom, cfg)
    prom.delay = 1.0
    src = build_metrics_source(cfg)
    started = time.monotonic()
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    assert time.monotonic() - started < 0.9
    assert "did not answer within 0.3 s" in figures["blue"].error


async def test_an_answer_that_is_not_json(prom):
    cfg = config(prom.url)
    healthy(prom, cfg)
    prom.answers[default_queries(cfg.metrics, "green")["error_rate"]] = (503, "Service Unavailable")
    src = build_metrics_source(cfg)
    try:
        green = (await src.poll())["green"]
    finally:
        await src.aclose()
    assert "error rate: HTTP 503, and the answer is not JSON" in green.error


async def test_no_url_configured():
    src = build_metrics_source(config(""))
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    assert "no [metrics.prometheus] url" in figures["blue"].error


async def test_a_password_in_the_prometheus_url_is_not_shown():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = build_metrics_source(config(f"http://watcher:hunter2@127.0.0.1:{port}"))
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    assert figures["blue"].error and "hunter2" not in figures["blue"].error


def test_a_misspelt_query_name_is_a_config_error_not_a_silent_default():
    text = '[metrics.prometheus]\nqueries = { blue = { p95_second = "x" } }\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "console.toml")
    said = str(caught.value)
    assert "metrics.prometheus.queries" in said
    assert "unknown query p95_second for blue" in said


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            "answered a matrix",
        ),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [7]}},
            "unreadable vector",
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [1, "x"]}]},
            },
            "unreadable",
        ),
        ({"status": "success"}, "answer has no data"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_answers_of_the_wrong_shape_are_said_not_raised(payload, said):
    with pytest.raises(QueryFailed, match=said):
        parse_answer(payload)


def test_a_scalar_answer_is_one_value():
    assert (
        parse_answer(
            {"status": "success", "data": {"resultType": "scalar", "result": [NOW, "3.5"]}}
        )[0].value
        == 3.5
    )
