"""The scrape source against real HTTP servers on 127.0.0.1.

Each instance is a path on a threaded http.server whose body is what a real app would
expose: a prometheus_client registry with the requests counter and the duration
histogram, advanced by the test between polls. Every bad-endpoint case is a real server
doing the bad thing; both HTTP clients (httpx, and aiohttp for fleets) go through them.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from pmb_console.config import ColorConfig, ColorsConfig, Config, Instance, MetricsConfig
from pmb_console.providers.metrics import build_metrics_source
from pmb_console.providers.metrics_fetch import make_fetcher
from pmb_console.providers.metrics_math import parse_focused, parse_reference
from pmb_console.providers.metrics_scrape import LoopSlice, ScrapeMetricsSource

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)


class Server(ThreadingHTTPServer):
    # http.server's default backlog of 5 drops the SYNs of a poll's concurrent
    # connections, and the kernel retries them a second later.
    request_queue_size = 128
    daemon_threads = True


class App:
    """What one instance exposes: a registry like a real app's, and how it misbehaves."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        self.restart()

    def restart(self) -> None:
        """A fresh process: every counter back to zero."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "Requests.", ["method", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Durations.",
            ["method"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def serve(self, status: str, count: int, seconds: float) -> None:
        self.requests.labels("GET", status).inc(count)
        for _ in range(count):
            self.duration.labels("GET").observe(seconds)


class Fleet:
    """A threaded HTTP server answering /<name>/metrics for each App."""

    def __init__(self) -> None:
        self.apps: dict[str, App] = {}
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                app = fleet.apps.get(self.path.split("/")[1])
                if app is None:
                    self._send(404, b"no such instance\n")
                    return
                if app.delay:
                    time.sleep(app.delay)
                fleet.answer(self, app)

            def _send(
                self, status: int, body: bytes, ctype: str = "text/plain; version=0.0.4"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.handler = Handler
        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, h: BaseHTTPRequestHandler, app: App) -> None:
        send = h._send  # type: ignore[attr-defined]
        mode = app.mode
        if mode == "ok":
            send(200, generate_latest(app.registry))
        elif mode == "500":
            send(500, b"Internal Server Error\n")
        elif mode == "html":
            send(
                200,
                b"<!doctype html><html><body><h1>Welcome to PM Buddy</h1></body></html>",
                "text/html",
            )
        elif mode == "html-as-text":
            send(200, b"<html><body>502 Bad Gateway</body></html>\n")
        elif mode == "garbage":
            send(200, b"hello\nthis is { not metrics at all\n\x00\xff\n")
        elif mode == "nan":
            send(
                200, b'# TYPE http_requests_total counter\nhttp_requests_total{status="200"} NaN\n'
            )
        elif mode == "huge":
            send(200, b"# padding\n" * 800_000)  # 8 MB, declared
        elif mode == "huge-undeclared":
            # No Content-Length: the body ends when the connection closes, so only
            # reading with a cap stops it.
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Connection", "close")
            h.end_headers()
            chunk = b"# padding\n" * 10_000
            try:
                for _ in range(800):
                    h.wfile.write(chunk)
            except OSError:
                pass
            h.close_connection = True
        elif mode == "trickle":
            # Each byte comes well within a per-read timeout; the whole never does.
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            try:
                for _ in range(1000):
                    h.wfile.write(b"#")
                    h.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

    def add(self, name: str) -> App:
        self.apps[name] = App()
        return self.apps[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    f = Fleet()
    yield f
    f.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(blue: dict[str, str], green: dict[str, str], **metrics: object) -> Config:
    def color(instances: dict[str, str]) -> ColorConfig:
        return ColorConfig(
            instances=[Instance(name=n, metrics_url=u) for n, u in instances.items()]
        )

    return Config(
        colors=ColorsConfig(blue=color(blue), green=color(green)),
        metrics=MetricsConfig(**{"timeout": 0.5, "slow_ms": 1000.0, **metrics}),  # type: ignore[arg-type]
    )


@pytest.fixture(params=["httpx", "aiohttp"])
def client(request) -> str:
    return request.param


def source(cfg: Config, client: str, parser=None) -> ScrapeMetricsSource:
    m = cfg.metrics
    count = len(cfg.colors.blue.instances) + len(cfg.colors.green.instances)
    return ScrapeMetricsSource(
        cfg,
        fetcher=make_fetcher(count, m.timeout, m.max_bytes, m.concurrency, client),
        parser=parser,
    )


async def test_rates_error_share_and_p95_across_two_polls(fleet, client):
    b1, b2, g1 = fleet.add("b1"), fleet.add("b2"), fleet.add("g1")
    for app in (b1, b2, g1):
        app.serve("200", 5, 0.01)  # history before the console started
    cfg = config({"b1": fleet.url("b1"), "b2": fleet.url("b2")}, {"g1": fleet.url("g1")})
    src = source(cfg, client)
    try:
        first = await src.poll()
        # One scrape gives no rate: the instance is up, its figures unknown yet.
        assert [i.up for i in first["blue"].instances] == [True, True]
        assert first["blue"].requests_per_second is None

        # b1: 90 fast 200s and 10 slow 500s; b2: 100 medium 200s; g1 nothing.
        b1.serve("200", 90, 0.03)
        b1.serve("500", 10, 0.7)
        b2.serve("200", 100, 0.2)
        await asyncio.sleep(0.2)
        second = await src.poll()
    finally:
        await src.aclose()

    blue = second["blue"]
    rows = {i.name: i for i in blue.instances}
    assert rows["b1"].up and rows["b1"].error == ""
    assert rows["b1"].error_rate == pytest.approx(0.10)
    assert rows["b2"].error_rate == 0.0
    # 200 requests over the ~0.2 s between the two scrapes: the rate is per second.
    interval = rows["b1"].requests_per_second and 100 / rows["b1"].requests_per_second
    assert 0.15 < interval < 1.0
    assert blue.requests_per_second == pytest.approx(
        rows["b1"].requests_per_second + rows["b2"].requests_per_second
    )
    # Pooled over 200 requests: 10 errors = 5%, not the mean of 10% and 0%.
    assert blue.error_rate == pytest.approx(0.05)
    # Pooled histogram: 90 ≤ 0.05 s, 100 in (0.1, 0.25], 10 in (0.5, 1.0].
    # Rank 190 is the last of (0.1, 0.25]: p95 = 250 ms.
    assert blue.p95_ms == pytest.approx(250.0)
    # b1 alone: rank 95 of 100 lies in (0.5, 1.0], 5 of its 10 in: 750 ms.
    assert rows["b1"].p95_ms == pytest.approx(750.0)

    green = second["green"]
    assert green.requests_per_second == 0.0
    assert green.error_rate is None  # no requests: no share to speak of
    assert green.p95_ms is None


async def test_counter_reset_counts_from_zero(fleet, client):
    app = fleet.add("b1")
    app.serve("200", 1000, 0.01)
    cfg = config({"b1": fleet.url("b1")}, {})
    src = source(cfg, client)
    try:
        await src.poll()
        app.restart()  # the process restarted ...
        app.serve("200", 30, 0.01)  # ... and served 40 requests since, 10 of them 5xx
        app.serve("503", 10, 0.01)
        after = await src.poll()
    finally:
        await src.aclose()
    blue = after["blue"]
    row = blue.instances[0]
    assert row.up
    assert blue.requests_per_second is not None and blue.requests_per_second > 0
    assert blue.error_rate == pytest.approx(0.25)  # 10 of 40, never negative
    assert row.requests_per_second == pytest.approx(blue.requests_per_second)


BAD = [
    ("500", r"HTTP 500"),
    ("html", r"answered HTML"),
    ("html-as-text", r"HTML"),
    ("garbage", r"not Prometheus text|no http_requests_total"),
    ("nan", r"NaN"),
    ("huge", r"larger than 1\.0 MB"),
    ("huge-undeclared", r"larger than 1\.0 MB"),
    ("trickle", r"no answer within 0\.5 s"),
]


@pytest.mark.parametrize(("mode", "said"), BAD, ids=[m for m, _ in BAD])
async def test_a_bad_endpoint_is_an_error_on_its_row_never_healthy(fleet, client, mode, said):
    good, bad = fleet.add("good"), fleet.add("bad")
    cfg = config({"good": fleet.url("good"), "bad": fleet.url("bad")}, {}, max_bytes=1_000_000)
    src = source(cfg, client)
    try:
        await src.poll()
        good.serve("200", 10, 0.01)
        bad.serve("500", 50, 0.9)  # what it really served, had we been able to read it
        bad.mode = mode
        figures = await src.poll()
    finally:
        await src.aclose()
    rows = {i.name: i for i in figures["blue"].instances}
    assert rows["good"].up
    row = rows["bad"]
    assert not row.up
    assert row.requests_per_second is None and row.error_rate is None
    assert row.error and re.search(said, row.error), row.error
    assert row.down_since == pytest.approx(row.scraped_at)
    # The color's figures come from the healthy instance only.
    assert figures["blue"].error_rate == 0.0


async def test_connection_refused_and_a_hung_endpoint(fleet, client):
    hung = fleet.add("hung")
    hung.delay = 1.5
    refused = f"http://127.0.0.1:{free_port()}/metrics"
    cfg = config({"refused": refused, "hung": fleet.url("hung")}, {"none": ""})
    src = source(cfg, client)
    started = time.monotonic()
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    assert time.monotonic() - started < 1.4  # bounded by [metrics] timeout, not the server
    rows = {i.name: i for i in figures["blue"].instances}
    assert not rows["refused"].up
    assert "connection refused" in rows["refused"].error
    assert not rows["hung"].up
    assert rows["hung"].error == "no answer within 0.5 s"
    none = figures["green"].instances[0]
    assert not none.up and none.error == "no metrics_url in the config"
    assert figures["blue"].requests_per_second is None
    assert figures["blue"].error == "none of its 2 instances answered"
    assert figures["green"].error == "none of its 1 instance answered"


async def test_slow_but_answering_is_up_and_marked_slow(fleet, client):
    app = fleet.add("b1")
    app.delay = 0.3
    cfg = config({"b1": fleet.url("b1")}, {}, timeout=2.0, slow_ms=100.0)
    src = source(cfg, client)
    try:
        row = (await src.poll())["blue"].instances[0]
    finally:
        await src.aclose()
    assert row.up and row.slow
    assert row.latency_ms >= 300


async def test_down_since_holds_while_down_and_clears_when_back(fleet, client):
    app = fleet.add("b1")
    cfg = config({"b1": fleet.url("b1")}, {})
    src = source(cfg, client)
    try:
        app.mode = "500"
        first = (await src.poll())["blue"].instances[0]
        await asyncio.sleep(0.05)
        second = (await src.poll())["blue"].instances[0]
        app.mode = "ok"
        back = (await src.poll())["blue"].instances[0]
    finally:
        await src.aclose()
    assert not first.up and not second.up
    assert second.down_since == first.down_since
    assert second.scraped_at > first.scraped_at
    assert back.up and back.down_since is None


async def test_a_password_in_the_url_never_reaches_the_error(client):
    url = f"http://scraper:s3cret@127.0.0.1:{free_port()}/metrics"
    src = source(config({"b1": url}, {}), client)
    try:
        row = (await src.poll())["blue"].instances[0]
    finally:
        await src.aclose()
    assert not row.up
    assert "s3cret" not in row.error


@pytest.mark.parametrize("parser", [parse_reference, parse_focused])
async def test_both_parsers_give_the_same_figures_from_a_real_app(fleet, parser):
    app = fleet.add("b1")
    cfg = config({"b1": fleet.url("b1")}, {})
    src = source(cfg, "httpx", parser=parser)
    try:
        await src.poll()
        app.serve("200", 60, 0.07)
        app.serve("502", 40, 0.4)
        blue = (await src.poll())["blue"]
    finally:
        await src.aclose()
    assert blue.error_rate == pytest.approx(0.4)
    # Rank 95: (0.25, 0.5] holds requests 61..100, 35 of its 40 in: 0.25 + 0.25 * 35/40.
    assert blue.p95_ms == pytest.approx(468.75)


async def test_build_picks_the_scrape_source_and_a_fleet_gets_the_fast_path():
    small = build_metrics_source(config({"b1": "http://127.0.0.1:1/metrics"}, {}))
    many = {f"b{i}": f"http://127.0.0.1:1/{i}" for i in range(300)}
    large = build_metrics_source(config(many, {}))
    try:
        assert isinstance(small, ScrapeMetricsSource) and isinstance(large, ScrapeMetricsSource)
        assert type(small.fetcher).__name__ == "HttpxFetcher"
        assert small.parser is parse_reference
        assert type(large.fetcher).__name__ == "AiohttpFetcher"
        assert large.parser is parse_focused
    finally:
        await small.aclose()
        await large.aclose()


async def test_two_polls_at_once_take_turns(fleet):
    app = fleet.add("b1")
    app.delay = 0.2
    src = source(config({"b1": fleet.url("b1")}, {}), "httpx")
    try:
        await src.poll()
        app.serve("200", 10, 0.01)
        first, second = await asyncio.gather(src.poll(), src.poll())
    finally:
        await src.aclose()
    # Each poll's rate spans its own interval: the second starts once the first is done,
    # so it sees no new requests, never a negative or doubled count.
    assert first["blue"].requests_per_second > 0
    assert second["blue"].requests_per_second == 0.0
    assert second["blue"].instances[0].scraped_at > first["blue"].instances[0].scraped_at


async def test_a_color_without_instances_says_so():
    src = source(config({}, {}), "httpx")
    try:
        figures = await src.poll()
    finally:
        await src.aclose()
    assert figures["blue"].instances == ()
    assert figures["blue"].error == "no instances in the config"


async def test_a_burst_of_answers_is_parsed_over_several_turns_of_the_loop():
    """A hundred answers arriving together must not hold the loop until all are parsed."""
    slice_ = LoopSlice(budget=0.004)
    loop = asyncio.get_running_loop()
    turns = 0
    done = False

    def heartbeat() -> None:  # runs once per turn of the loop while the burst lasts
        nonlocal turns
        if not done:
            turns += 1
            loop.call_soon(heartbeat)

    async def parse_one() -> None:
        await slice_.take_turn()
        end = time.perf_counter() + 0.001  # a parse's worth of work on the loop
        while time.perf_counter() < end:
            pass

    loop.call_soon(heartbeat)
    await asyncio.gather(*(parse_one() for _ in range(100)))
    done = True
    # 100 ms of parsing at 4 ms a turn: the loop came around many times in between.
    # Parsed back to back, it would have come around once or twice.
    assert turns >= 10
