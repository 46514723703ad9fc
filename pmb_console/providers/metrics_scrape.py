"""The scrape source: every instance's /metrics fetched, then turned into figures per color.

Rates need two scrapes: the first poll after start (or after an instance comes back
without a previous scrape) shows the instance up with no figures yet. Everything an
endpoint can do wrong — refuse, hang, answer 500, HTML, NaN or megabytes — becomes an
error on that instance's row, never a healthy row and never an exception out of poll().
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from pmb_console.config import COLORS, Config, Instance, MetricsConfig
from pmb_console.providers.base import ColorMetrics, InstanceMetrics, MetricsSource
from pmb_console.providers.metrics_fetch import Fetched, Fetcher, make_fetcher
from pmb_console.providers.metrics_math import (
    Deltas,
    MetricNames,
    MetricsFormatError,
    Scrape,
    deltas,
    instance_p95_ms,
    parse_focused,
    parse_reference,
    pool_color,
)
from pmb_console.redact import redact

Parser = Callable[[str, MetricNames, float], Scrape]

FOCUSED_PARSER_FROM = 200
"""Above this many instances in all, parse with the focused parser (see metrics_math).

prometheus_client's parser costs ~0.4 ms a body: 8% of a core at 200 instances a second,
and on the event loop the console's keys share. Past that, the focused parser (~0.08 ms).
"""

SPREAD_FROM = 100
"""Above this many instances, a poll spreads its scrapes' starts over part of the interval."""
SPREAD_SHARE = 0.5
"""The part of [metrics] interval a poll spreads its starts over."""
LATE = 0.01
"""Seconds behind its schedule after which a poll moves the schedule instead of catching up."""


@dataclass
class _Track:
    """What the source remembers of one instance between polls."""

    color: str
    instance: Instance
    previous: Scrape | None = None
    down_since: float | None = None


class LoopSlice:
    """Cooperative time slicing of the parsing done on the event loop.

    When a hiccup (of the network, or of the endpoints' hosts) holds back a hundred
    answers and then lets them through together, they all become ready in one turn of
    the loop, and parsing them back to back would hold every other task (the console's
    keys among them) for that long. Once the parsing in one turn of the loop has used
    `budget` seconds, the parsers that come next wait for a later turn, which lets the
    loop serve what else is due first. Answers that arrive apart never wait.
    """

    def __init__(self, budget: float = 0.004) -> None:
        self.budget = budget
        self.turn_started: float | None = None

    async def take_turn(self) -> None:
        while True:
            now = time.perf_counter()
            if self.turn_started is None:
                self.turn_started = now
                # Runs once the loop has come around: the next parser opens a new turn.
                asyncio.get_running_loop().call_soon(self._end_turn)
                return
            if now - self.turn_started <= self.budget:
                return
            await asyncio.sleep(0.001)

    def _end_turn(self) -> None:
        self.turn_started = None


def _none_answered(count: int, up: int) -> str:
    if count == 0:
        return "no instances in the config"
    if up == 0:
        return f"none of its {count} instance{'s' if count > 1 else ''} answered"
    return ""


def names_of(cfg: MetricsConfig) -> MetricNames:
    return MetricNames(
        requests=cfg.requests_metric, status_label=cfg.status_label, duration=cfg.duration_metric
    )


def read_body(fetched: Fetched, names: MetricNames, parser: Parser, at: float) -> Scrape:
    """The scrape in a fetched body; MetricsFormatError when it is not usable metrics."""
    if "html" in fetched.content_type.lower():
        raise MetricsFormatError("answered HTML, not Prometheus text (is metrics_url right?)")
    if not fetched.body.strip():
        raise MetricsFormatError("answered an empty body")
    text = fetched.body.decode("utf-8", errors="replace")
    if text.lstrip()[:1] == "<":
        raise MetricsFormatError(
            "answered HTML or XML, not Prometheus text (is metrics_url right?)"
        )
    return parser(text, names, at)


class ScrapeMetricsSource(MetricsSource):
    """Scrapes every instance of both colors; one shared client, bounded concurrency."""

    def __init__(
        self, config: Config, fetcher: Fetcher | None = None, parser: Parser | None = None
    ) -> None:
        cfg = config.metrics
        self.cfg = cfg
        self.names = names_of(cfg)
        self.tracks = [
            _Track(color, instance)
            for color in COLORS
            for instance in config.colors.of(color).instances
        ]
        count = len(self.tracks)
        self.fetcher = fetcher or make_fetcher(count, cfg.timeout, cfg.max_bytes, cfg.concurrency)
        self._slice = LoopSlice()
        self._one_at_a_time = asyncio.Lock()
        self.parser: Parser = parser or (
            parse_focused if count > FOCUSED_PARSER_FROM else parse_reference
        )

    async def poll(self) -> dict[str, ColorMetrics]:
        # Two polls at once would interleave their scrapes of the same instance and
        # compute rates over the wrong intervals; the second waits for the first.
        async with self._one_at_a_time:
            results = await self._scrape_all()
        now = time.time()
        out: dict[str, ColorMetrics] = {}
        for color in COLORS:
            rows = [
                (m, d) for (m, d), t in zip(results, self.tracks, strict=True) if t.color == color
            ]
            figures = pool_color(d for _, d in rows if d is not None)
            up = sum(1 for m, _ in rows if m.up)
            out[color] = ColorMetrics(
                color=color,
                requests_per_second=figures.requests_per_second,
                error_rate=figures.error_rate,
                p95_ms=figures.p95_ms,
                instances=tuple(m for m, _ in rows),
                at=now,
                error=_none_answered(len(rows), up),
            )
        return out

    async def _scrape_all(self) -> list[tuple[InstanceMetrics, Deltas | None]]:
        """Every instance once, by at most `concurrency` workers, starts spread for fleets.

        Starting 1,000 scrapes at the top of the second makes the answers arrive together
        and the loop late by 50-100 ms (bench/metrics_poll.py); spread over half the
        interval, the same work leaves the loop's lag p99 at a few ms.
        """
        loop = asyncio.get_running_loop()
        count = len(self.tracks)
        results: list[tuple[InstanceMetrics, Deltas | None] | None] = [None] * count
        spread = self.cfg.interval * SPREAD_SHARE if count > SPREAD_FROM else 0.0
        step = spread / count if count else 0.0
        start = loop.time()
        queue = iter(range(count))  # shared by the workers: each index is taken once

        async def worker() -> None:
            nonlocal start
            for i in queue:
                delay = start + i * step - loop.time()
                while delay > 0:  # again after waking: another worker may have moved it
                    await asyncio.sleep(delay)
                    delay = start + i * step - loop.time()
                if step and -delay > LATE:
                    # Behind schedule (the process was starved of CPU): move the schedule
                    # rather than start every overdue scrape at once, which would bring
                    # their answers back together and hold the loop again.
                    start = loop.time() - i * step
                results[i] = await self._scrape(self.tracks[i])

        await asyncio.gather(*(worker() for _ in range(min(self.cfg.concurrency, count))))
        return [r for r in results if r is not None]

    async def _scrape(self, track: _Track) -> tuple[InstanceMetrics, Deltas | None]:
        try:
            return await self._scrape_unguarded(track)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug of ours must grey one row, not take the panes down with it.
            return self._down(
                track, time.time(), 0.0, f"unexpected error: {type(exc).__name__}: {exc}"
            ), None

    async def _scrape_unguarded(self, track: _Track) -> tuple[InstanceMetrics, Deltas | None]:
        url = track.instance.metrics_url
        attempted = time.time()
        if not url:
            return self._down(track, attempted, 0.0, "no metrics_url in the config"), None
        fetched = await self.fetcher.get(url)
        received = time.monotonic()
        if not fetched.ok:
            return self._down(track, attempted, fetched.latency_ms, fetched.error), None
        await self._slice.take_turn()
        try:
            scrape = read_body(fetched, self.names, self.parser, received)
        except MetricsFormatError as exc:
            return self._down(track, attempted, fetched.latency_ms, str(exc)), None
        interval = (
            deltas(track.previous, scrape, self.names.status_label) if track.previous else None
        )
        track.previous = scrape
        track.down_since = None
        slow = fetched.latency_ms > self.cfg.slow_ms
        metrics = InstanceMetrics(
            name=track.instance.name,
            color=track.color,
            up=True,
            scraped_at=attempted,
            latency_ms=fetched.latency_ms,
            requests_per_second=interval.requests_per_second if interval else None,
            error_rate=interval.error_rate if interval else None,
            p95_ms=instance_p95_ms(interval) if interval else None,
            slow=slow,
        )
        return metrics, interval

    def _down(
        self, track: _Track, attempted: float, latency_ms: float, error: str
    ) -> InstanceMetrics:
        if track.down_since is None:
            track.down_since = attempted
        return InstanceMetrics(
            name=track.instance.name,
            color=track.color,
            up=False,
            error=redact(error),
            scraped_at=attempted,
            down_since=track.down_since,
            latency_ms=latency_ms,
        )

    async def aclose(self) -> None:
        await self.fetcher.aclose()
