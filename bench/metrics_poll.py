"""Benchmark P4: polling 500 instances per color every second.

Goal: event-loop lag p99 <= 50 ms and CPU <= 60% of one core for the polling process.

A separate process (bench/metrics_fleet.py) serves 1,000 endpoints on 127.0.0.1, each
~2.7 KB of Prometheus text whose counters grow. This process runs the console's own
ScrapeMetricsSource inside an asyncio loop, one poll a second, while a ticker measures how
late a 10 ms sleep wakes (the lag a Textual app on that loop would feel). The same run
first measures the loop idle (ticker only) as the baseline.

    .venv/bin/python bench/metrics_poll.py                 # the configured path
    .venv/bin/python bench/metrics_poll.py --client httpx --seconds 5   # why not httpx
    .venv/bin/python bench/metrics_poll.py --parser reference           # why not that parser
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pmb_console.config import ColorConfig, ColorsConfig, Config, Instance, MetricsConfig
from pmb_console.providers.metrics_fetch import make_fetcher
from pmb_console.providers.metrics_math import parse_focused, parse_reference
from pmb_console.providers.metrics_scrape import ScrapeMetricsSource

HERE = Path(__file__).resolve().parent


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class GcPauses:
    """How long the garbage collector stops the world, by generation."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1000.0))

    def summary(self) -> str:
        full = [ms for gen, ms in self.pauses if gen == 2]
        return (
            f"{len(self.pauses)} collections, longest {max((ms for _, ms in self.pauses), default=0):.1f} ms; "
            f"{len(full)} full, longest {max(full, default=0):.1f} ms"
        )


class Ticker:
    """How late a 10 ms sleep wakes, sampled continuously."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.010)
            self.lags.append((time.perf_counter() - start - 0.010) * 1000.0)


async def measure(seconds: float, source: ScrapeMetricsSource | None, interval: float) -> dict:
    ticker = Ticker()
    tick = asyncio.create_task(ticker.run())
    polls: list[float] = []
    last = None
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    if source is None:
        await asyncio.sleep(seconds)
    else:
        # Polls on a fixed schedule; one that overruns starts the next at once, never two
        # at a time (as the console's poller does).
        start = time.perf_counter()
        k = 0
        while True:
            t0 = time.perf_counter()
            last = await source.poll()
            polls.append((time.perf_counter() - t0) * 1000.0)
            k += 1
            if time.perf_counter() - start >= seconds:
                break
            await asyncio.sleep(max(0.0, start + k * interval - time.perf_counter()))
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    tick.cancel()
    result = {
        "wall_s": wall,
        "cpu_pct": 100.0 * cpu / wall,
        "lag_p50": pct(ticker.lags, 0.50),
        "lag_p99": pct(ticker.lags, 0.99),
        "lag_max": max(ticker.lags, default=float("nan")),
        "polls": polls,
    }
    if last is not None:
        result["figures"] = {
            color: (
                sum(1 for i in cm.instances if i.up),
                len(cm.instances),
                cm.requests_per_second,
                cm.error_rate,
                cm.p95_ms,
                next((i.error for i in cm.instances if not i.up), ""),
            )
            for color, cm in last.items()
        }
    return result


def start_control(seconds: float, cpu_pct: float) -> subprocess.Popen[str]:
    """A sibling process, polling nothing, that burns `cpu_pct` of a core in small slices.

    It runs during the polling phase and measures its own loop lag: the lag this machine
    imposes on any process doing that much work right then. On a shared 2-core machine
    other jobs' bursts show up here too, so the poller's figures can be read against it.
    """
    return subprocess.Popen(
        [sys.executable, __file__, "--control", str(seconds), "--control-cpu", str(cpu_pct)],
        stdout=subprocess.PIPE,
        text=True,
    )


async def control(seconds: float, cpu_pct: float) -> dict:
    """The control's loop: a 10 ms ticker, and a burner using cpu_pct in 1 ms slices."""
    stop = time.perf_counter() + seconds

    async def burn() -> None:
        while time.perf_counter() < stop:
            end = time.perf_counter() + 0.001
            while time.perf_counter() < end:
                pass
            await asyncio.sleep(0.001 * (100.0 - cpu_pct) / max(cpu_pct, 1.0))

    burner = asyncio.create_task(burn())
    result = await measure(seconds, None, 1.0)
    burner.cancel()
    result.pop("polls")
    return result


def fleet_config(first_port: int, per_color: int) -> Config:
    def color(name: str, offset: int) -> ColorConfig:
        return ColorConfig(
            instances=[
                Instance(
                    name=f"{name}-{i}",
                    metrics_url=f"http://127.0.0.1:{first_port + offset + i}/metrics",
                )
                for i in range(per_color)
            ]
        )

    return Config(
        colors=ColorsConfig(blue=color("blue", 0), green=color("green", per_color)),
        metrics=MetricsConfig(timeout=2.0, concurrency=100),
    )


async def run(args: argparse.Namespace) -> None:
    config = fleet_config(args.first_port, args.per_color)
    count = 2 * args.per_color
    fetcher = make_fetcher(
        count, 2.0, config.metrics.max_bytes, config.metrics.concurrency, args.client
    )
    parser = {"focused": parse_focused, "reference": parse_reference, "": None}[args.parser]
    source = ScrapeMetricsSource(config, fetcher=fetcher, parser=parser)
    print(
        f"P4: {count} endpoints, poll every {args.interval:g} s, client {type(source.fetcher).__name__}, "
        f"parser {source.parser.__name__}, concurrency {config.metrics.concurrency}",
        flush=True,
    )

    idle = await measure(args.baseline_seconds, None, args.interval)
    # The first poll opens every connection; measured apart so the steady state is clear.
    warm = await measure(0.0, source, args.interval)
    pauses = GcPauses()
    control = start_control(args.seconds, args.control_cpu)
    busy = await measure(args.seconds, source, args.interval)
    gc.callbacks.remove(pauses._callback)
    await source.aclose()
    controlled = json.loads(control.communicate(timeout=30)[0])

    print(f"first poll (opens {count} connections): {warm['polls'][0]:.0f} ms")
    rows = (
        ("baseline: loop idle", idle),
        (f"control: {args.control_cpu:g}% burner", controlled),
        (f"polling {args.seconds:g} s", busy),
    )
    for name, r in rows:
        print(
            f"{name:24} CPU {r['cpu_pct']:5.1f}% of a core   "
            f"loop lag p50 {r['lag_p50']:5.2f} ms  p99 {r['lag_p99']:6.2f} ms  max {r['lag_max']:6.1f} ms"
        )
    print(
        f"machine load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print(f"garbage collector while polling: {pauses.summary()}")
    polls = busy["polls"]
    print(
        f"poll duration: median {statistics.median(polls):.0f} ms, max {max(polls):.0f} ms, {len(polls)} polls"
    )
    for color, (up, n, rps, err, p95) in ((c, f[:5]) for c, f in busy["figures"].items()):
        rps_s = f"{rps:,.0f}" if rps is not None else "-"
        err_s = f"{err * 100:.2f}%" if err is not None else "-"
        p95_s = f"{p95:.0f} ms" if p95 is not None else "-"
        print(f"{color:5}: {up}/{n} up, {rps_s} req/s, 5xx {err_s}, p95 {p95_s}")
        first_error = busy["figures"][color][5]
        if first_error:
            print(f"       e.g. {first_error}")
    ok = busy["lag_p99"] <= 50.0 and busy["cpu_pct"] <= 60.0
    print(
        f"goal lag p99 <= 50 ms, CPU <= 60%: {'met' if ok else 'NOT met'} "
        f"(lag p99 {busy['lag_p99'] / max(controlled['lag_p99'], 0.01):.1f}x the control's, "
        f"{busy['lag_p99'] / max(idle['lag_p99'], 0.01):.1f}x idle)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="P4: metrics polling of 1,000 endpoints")
    parser.add_argument("--per-color", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--first-port", type=int, default=23000)
    parser.add_argument(
        "--client",
        choices=("", "httpx", "aiohttp"),
        default="",
        help="default: as the source picks",
    )
    parser.add_argument(
        "--parser",
        choices=("", "focused", "reference"),
        default="",
        help="default: as the source picks",
    )
    parser.add_argument("--control-cpu", type=float, default=35.0, help="the control's CPU share")
    parser.add_argument("--control", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.control:
        print(json.dumps(asyncio.run(control(args.control, args.control_cpu))))
        return
    fleet = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "metrics_fleet.py"),
            "--first-port",
            str(args.first_port),
            "--count",
            str(2 * args.per_color),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if fleet.stdout is None or fleet.stdout.readline().strip() != "ready":
            sys.exit("the fleet server did not start (ports taken? try --first-port)")
        asyncio.run(run(args))
    finally:
        if fleet.stdin:
            fleet.stdin.close()
        try:
            fleet.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fleet.kill()


if __name__ == "__main__":
    main()
