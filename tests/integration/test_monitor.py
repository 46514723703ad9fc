"""The monitoring window against a real instance serving Prometheus text, behind a real HAProxy.

The green instance's /metrics is a prometheus_client registry; every scrape first serves
100 requests, a share of them 500s as the test sets it, so the error rate the console
computes between two scrapes is exactly that share.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.traffic import SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.journal import ReleaseJournal
from pmb_console.monitor import MonitorReport, MonitorWindow, watch, window_status
from pmb_console.providers.base import ColorMetrics
from pmb_console.providers.metrics import build_metrics_source
from tests.fixtures.haproxy import Haproxy
from tests.fixtures.http import unblocked

REQUESTS_PER_SCRAPE = 100


class MetricsInstance:
    def __init__(self) -> None:
        self.error_share = 0.0
        self.scrapes = 0
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "Requests.", ["status"], registry=self.registry)
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Durations.",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0),
        )
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = owner.scrape()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = unblocked(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/metrics"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def scrape(self) -> bytes:
        errors = round(REQUESTS_PER_SCRAPE * self.error_share)
        self.requests.labels("500").inc(errors)
        self.requests.labels("200").inc(REQUESTS_PER_SCRAPE - errors)
        for _ in range(REQUESTS_PER_SCRAPE):
            self.duration.observe(0.03)
        self.scrapes += 1
        return generate_latest(self.registry)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def green_metrics() -> Iterator[MetricsInstance]:
    server = MetricsInstance()
    yield server
    server.close()


def write_config(
    haproxy: Haproxy, metrics: MetricsInstance, tmp_path: Path, *, auto_rollback: bool
) -> Path:
    blue, green = haproxy.servers["blue"], haproxy.servers["green"]
    path = tmp_path / "config.toml"
    path.write_text(f"""
[console]
environment = "test"
operator = "tester"
state_dir = {json.dumps(str(tmp_path / "state"))}

[release]
version = "v1.1.0"

[colors.blue]
instances = [ {{ name = "blue", health_url = "{blue.health_url}" }} ]

[colors.green]
version = "v1.1.0"
instances = [ {{ name = "green", health_url = "{green.health_url}", metrics_url = "{metrics.url}" }} ]

[metrics]
interval = 0.2
error_rate_threshold = 0.02

[monitor]
window_minutes = 60
breach_polls = 3
auto_rollback = {str(auto_rollback).lower()}

[traffic]
provider = "haproxy"

[traffic.haproxy]
runtime_api = {json.dumps(haproxy.runtime_api)}
backend = "pmbuddy"
servers = {{ blue = ["blue"], green = ["green"] }}
""")
    return path


def test_the_banner_appears_after_n_polls_over_the_threshold(
    haproxy: Haproxy, green_metrics: MetricsInstance, tmp_path: Path
) -> None:
    ctx = bootstrap(
        load_config(write_config(haproxy, green_metrics, tmp_path, auto_rollback=False))
    )
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    journal = ReleaseJournal.of(ctx).read()
    assert window_status(journal["monitor"], time.time()).state == "watching"
    assert journal["steps"]["monitor"]["state"] == "running"
    reports: list[MonitorReport] = []

    def seen(report: MonitorReport) -> None:
        reports.append(report)
        if len(reports) == 2:
            green_metrics.error_share = 0.10  # from the third poll on, 10% of green's requests fail

    async def run() -> None:
        source = build_metrics_source(ctx.config)
        try:
            await asyncio.wait_for(
                watch(ctx, source, seen, asyncio.Event(), MonitorWindow(ctx)), 30
            )
        finally:
            await source.aclose()

    asyncio.run(run())
    over = [r for r in reports if r.over]
    assert len(over) == 3, [r.over for r in reports]
    assert [r.banner for r in reports[:-1]] == [""] * (len(reports) - 1)
    breach = reports[-1].breach
    assert (
        breach is not None and breach.metric == "error rate" and breach.value == pytest.approx(0.10)
    )
    assert reports[-1].banner == (
        "BREACH: green error rate 10.0% > 2.0% for 3 consecutive polls — press the rollback key"
    )
    assert haproxy.weights() == {"blue": 0, "green": 100}  # no automatic rollback configured
    window = ReleaseJournal.of(ctx).read()["monitor"]
    assert window_status(window, 0).state == "breached" and window["polls"] == len(reports)
    monitor_step = ReleaseJournal.of(ctx).read()["steps"]["monitor"]
    assert monitor_step["state"] == "failed"
    assert (
        monitor_step["evidence"] == "breach: green error rate 10.0% > 2.0% for 3 consecutive polls"
    )
    audited = ctx.audit.last(lambda r: r.get("action") == "monitor-breach")
    assert audited["message"] == "green error rate 10.0% > 2.0% for 3 consecutive polls"


def test_auto_rollback_moves_haproxy_back_through_the_real_program(
    haproxy: Haproxy, green_metrics: MetricsInstance, tmp_path: Path
) -> None:
    path = write_config(haproxy, green_metrics, tmp_path, auto_rollback=True)
    ctx = bootstrap(load_config(path))
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    assert set(haproxy.requests(6)) == {"green"}
    green_metrics.error_share = 0.25
    proc = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(path), "monitor"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "BREACH: green error rate 25.0% > 2.0% for 3 consecutive polls" in proc.stdout
    assert "automatic rollback: roll back traffic done and verified" in proc.stdout
    assert haproxy.weights() == {"blue": 100, "green": 0}
    assert set(haproxy.requests(6)) == {"blue"}
    rollback = ctx.audit.last(
        lambda r: r.get("action") == "rollback" and r.get("outcome") == "succeeded"
    )
    assert rollback["reason"].startswith("automatic rollback at ")
    assert rollback["reason"].endswith("green error rate 25.0% > 2.0% for 3 consecutive polls")
    steps = ReleaseJournal.of(ctx).read()["steps"]
    assert steps["rollback-traffic"]["state"] == "done"
    # 1 poll to start the rates, then 3 over the threshold: the window needed no more.
    assert green_metrics.scrapes == 4

    timeline = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(path), "postmortem"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    rows = [line.split(" | ")[1:4] for line in timeline.splitlines() if line.startswith("| 20")]
    assert rows == [  # the audit log's actions, with the journal's monitoring window
        ["tester", "switch", "succeeded"],
        ["console", "monitoring window", "opened"],
        ["tester", "monitor-breach", "breach"],
        ["tester", "rollback", "succeeded"],
        ["console", "monitoring window", "did not pass"],
    ]


def test_extending_the_window_pushes_its_end_and_is_audited(
    haproxy: Haproxy, green_metrics: MetricsInstance, tmp_path: Path
) -> None:
    path = write_config(haproxy, green_metrics, tmp_path, auto_rollback=False)
    ctx = bootstrap(load_config(path))
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    before = ReleaseJournal.of(ctx).read()["monitor"]["ends_at"]
    proc = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(path), "monitor", "--extend", "30"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "green watched: 89:" in proc.stdout or "green watched: 90:" in proc.stdout
    after = ReleaseJournal.of(ctx).read()["monitor"]
    assert after["ends_at"] == pytest.approx(before + 1800, abs=2)
    assert after["extended"][0]["by"] == "tester"
    assert ctx.audit.last(lambda r: r.get("action") == "monitor-extend")["minutes"] == 30


def test_extending_the_window_is_refused_in_read_only_and_changes_nothing(
    haproxy: Haproxy, green_metrics: MetricsInstance, tmp_path: Path
) -> None:
    path = write_config(haproxy, green_metrics, tmp_path, auto_rollback=False)
    ctx = bootstrap(load_config(path))
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    window = ReleaseJournal.of(ctx).read()["monitor"]
    audited = len(ctx.audit.records())
    proc = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(path), "--read-only"]
        + ["monitor", "--extend", "30"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 5, proc.stderr
    assert "extending the monitoring window refused: this console is read-only" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert ReleaseJournal.of(ctx).read()["monitor"] == window
    assert len(ctx.audit.records()) == audited


# --- a window passes only if it was watched across its span -----------------------------


def _switched_an_hour_and_a_half_ago(ctx) -> dict:
    """A verified switch, its 60 min window moved back so that it ended 30 min ago."""
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"

    def back(window: dict) -> None:
        window["started_at"] -= 90 * 60
        window["ends_at"] -= 90 * 60

    ReleaseJournal.of(ctx).set_monitor(back)
    return ReleaseJournal.of(ctx).read()["monitor"]


def _watch_at(ctx, times: list[float]) -> None:
    """Polls within the thresholds at these moments, fed as the console and `monitor` do."""
    now = [times[0]]
    window = MonitorWindow(ctx, clock=lambda: now[0])
    for at in times:
        now[0] = at
        window.observe({"green": ColorMetrics("green", 20.0, 0.001, 120.0)})
    window.flush()


def _decommission(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(path)]
        + ["decommission", "--color", "blue", "--confirm", "test"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_window_watched_for_15_s_then_left_alone_does_not_pass(
    haproxy: Haproxy, green_metrics: MetricsInstance, tmp_path: Path
) -> None:
    path = write_config(haproxy, green_metrics, tmp_path, auto_rollback=False)
    ctx = bootstrap(load_config(path))
    window = _switched_an_hour_and_a_half_ago(ctx)
    start = window["started_at"]
    _watch_at(ctx, [start + 1, start + 5, start + 10, start + 15])  # then the console closed

    refused = _decommission(path)
    watched_until = time.strftime("%H:%M:%S", time.gmtime(start + 15))
    ended = time.strftime("%H:%M:%S", time.gmtime(window["ends_at"]))
    assert refused.returncode == 3, refused.stderr
    assert f"nobody watched it from {watched_until} UTC to {ended} UTC" in refused.stderr
    assert haproxy.weights() == {"blue": 0, "green": 100}
    # `pmb-console monitor` started now cannot make the past hour watched.
    late = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(path), "monitor"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert late.returncode == 3 and "did not pass" in late.stdout, late.stdout + late.stderr
    assert window_status(ReleaseJournal.of(ctx).read()["monitor"], time.time()).state == (
        "unwatched"
    )


def test_a_window_watched_to_its_end_passes_and_decommission_goes_ahead(
    haproxy: Haproxy, green_metrics: MetricsInstance, tmp_path: Path
) -> None:
    path = write_config(haproxy, green_metrics, tmp_path, auto_rollback=False)
    ctx = bootstrap(load_config(path))
    window = _switched_an_hour_and_a_half_ago(ctx)
    start = window["started_at"]
    # A poll a minute: a console left open through the hour, restarted once (2 min unseen).
    times = [start + 2 + 60 * i for i in range(61) if i not in (30,)]
    _watch_at(ctx, times)

    status = window_status(ReleaseJournal.of(ctx).read()["monitor"], time.time())
    assert status.passed, status.detail
    done = _decommission(path)
    assert done.returncode == 0, done.stderr
