"""The Prometheus source: the same figures, asked of a Prometheus server's query API.

How a fleet too large to scrape one by one is watched: Prometheus already scrapes it, so
the console asks four instant queries per color (`/api/v1/query`) — requests/s, 5xx
share, p95 in seconds, and `up` for the instance rows. Each can be replaced per color in
`[metrics.prometheus.queries]`; the defaults select the color with a `color` label.

A failed query blanks that figure and says why on the color (`ColorMetrics.error`); it
is never raised out of poll().
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pmb_console.config import COLORS, Config, MetricsConfig
from pmb_console.providers.base import ColorMetrics, InstanceMetrics, MetricsSource
from pmb_console.redact import redact

FIGURES = ("requests_per_second", "error_rate", "p95_seconds", "up")

WINDOW = "1m"
"""rate() window: long enough to hold several scrapes at Prometheus's usual 15 s."""


def default_queries(cfg: MetricsConfig, color: str) -> dict[str, str]:
    """PromQL built from the configured metric names, for one color."""
    requests = cfg.requests_metric
    bucket = cfg.duration_metric + "_bucket"
    sel = f'color="{color}"'
    return {
        "requests_per_second": f"sum(rate({requests}{{{sel}}}[{WINDOW}]))",
        # 5.. and 5xx alike: the status label may hold a code or a class.
        "error_rate": (
            f'sum(rate({requests}{{{sel},{cfg.status_label}=~"5.."}}[{WINDOW}]))'
            f" / sum(rate({requests}{{{sel}}}[{WINDOW}]))"
        ),
        "p95_seconds": f"histogram_quantile(0.95, sum by (le) (rate({bucket}{{{sel}}}[{WINDOW}])))",
        "up": f"up{{{sel}}}",
    }


def queries_for(cfg: MetricsConfig, color: str) -> dict[str, str]:
    """The defaults, with whatever the config gives for this color in their place."""
    return default_queries(cfg, color) | dict(cfg.prometheus.queries.get(color, {}))


class QueryFailed(Exception):
    """A query that gave no usable answer; the message is said on the color."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float


def parse_answer(payload: Any) -> list[Series]:
    """The series of an instant query's JSON answer; QueryFailed when it is not one."""
    if not isinstance(payload, dict):
        raise QueryFailed("answer is not a JSON object")
    if payload.get("status") != "success":
        kind = payload.get("errorType", "error")
        raise QueryFailed(f"Prometheus said {kind}: {payload.get('error', 'no reason given')}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise QueryFailed("answer has no data")
    kind = data.get("resultType")
    result: Any = data.get("result")
    try:
        if kind == "scalar":
            return [Series({}, float(result[1]))]
        if kind == "vector":
            return [
                Series(dict(item.get("metric", {})), float(item["value"][1])) for item in result
            ]
    except (TypeError, KeyError, IndexError, ValueError, AttributeError) as exc:
        raise QueryFailed(f"unreadable {kind} in the answer: {exc}") from None
    raise QueryFailed(f"query answered a {kind}, expected one value per series (an instant vector)")


def single_value(series: list[Series]) -> float | None:
    """The one value of an aggregated query; None when there is no data or it is NaN.

    An empty answer is how Prometheus says "no such series right now" (no traffic yet),
    and 0/0 answers NaN: both mean the figure is unknown, not that a query is broken.
    """
    if not series:
        return None
    if len(series) > 1:
        raise QueryFailed(
            f"query answered {len(series)} series, expected one (wrap it in sum(...))"
        )
    value = series[0].value
    return None if math.isnan(value) or math.isinf(value) else value


class PrometheusMetricsSource(MetricsSource):
    def __init__(self, config: Config) -> None:
        import httpx

        cfg = config.metrics
        self.cfg = cfg
        self.url = cfg.prometheus.url.rstrip("/")
        self.queries = {color: queries_for(cfg, color) for color in COLORS}
        # Prometheus names a target host:port; the panes know it by its config name.
        self.names: dict[tuple[str, str], str] = {
            (color, urlsplit(i.metrics_url).netloc): i.name
            for color in COLORS
            for i in config.colors.of(color).instances
            if i.metrics_url
        }
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(cfg.timeout))
        self._httpx = httpx
        self._down_since: dict[tuple[str, str], float] = {}

    async def poll(self) -> dict[str, ColorMetrics]:
        asked = [(color, figure) for color in COLORS for figure in FIGURES]
        answers = await asyncio.gather(*(self._ask(self.queries[c][f]) for c, f in asked))
        now = time.time()
        by_color: dict[str, dict[str, list[Series] | QueryFailed]] = {c: {} for c in COLORS}
        for (color, figure), answer in zip(asked, answers, strict=True):
            by_color[color][figure] = answer
        return {color: self._color(color, by_color[color], now) for color in COLORS}

    def _color(
        self, color: str, answers: dict[str, list[Series] | QueryFailed], now: float
    ) -> ColorMetrics:
        values: dict[str, float | None] = {}
        problems: list[str] = []
        for figure in ("requests_per_second", "error_rate", "p95_seconds"):
            answer = answers[figure]
            try:
                if isinstance(answer, QueryFailed):
                    raise answer
                values[figure] = single_value(answer)
            except QueryFailed as exc:
                values[figure] = None
                problems.append(f"{figure.replace('_', ' ')}: {exc}")
        up = answers["up"]
        if isinstance(up, QueryFailed):
            problems.append(f"up: {up}")
            instances: tuple[InstanceMetrics, ...] = ()
        else:
            instances = self._instances(color, up, now)
        p95 = values["p95_seconds"]
        return ColorMetrics(
            color=color,
            requests_per_second=values["requests_per_second"],
            error_rate=values["error_rate"],
            p95_ms=p95 * 1000.0 if p95 is not None else None,
            instances=instances,
            at=now,
            error=redact("; ".join(problems)),
        )

    def _instances(
        self, color: str, series: list[Series], now: float
    ) -> tuple[InstanceMetrics, ...]:
        rows = []
        for s in sorted(series, key=lambda s: s.labels.get("instance", "")):
            target = s.labels.get("instance") or s.labels.get("job") or "?"
            name = self.names.get((color, target), target)
            up = s.value == 1
            key = (color, name)
            if up:
                self._down_since.pop(key, None)
            else:
                self._down_since.setdefault(key, now)
            rows.append(
                InstanceMetrics(
                    name=name,
                    color=color,
                    up=up,
                    error="" if up else "Prometheus cannot scrape it (up == 0)",
                    scraped_at=now,
                    down_since=self._down_since.get(key),
                )
            )
        return tuple(rows)

    async def _ask(self, query: str) -> list[Series] | QueryFailed:
        if not self.url:
            return QueryFailed("no [metrics.prometheus] url in the config")
        httpx = self._httpx
        try:
            async with asyncio.timeout(self.cfg.timeout):
                response = await self.client.get(
                    f"{self.url}/api/v1/query", params={"query": query}
                )
            try:
                payload = response.json()
            except ValueError:
                return QueryFailed(f"HTTP {response.status_code}, and the answer is not JSON")
            if response.status_code >= 400 and payload.get("status") != "error":
                return QueryFailed(f"HTTP {response.status_code} {response.reason_phrase}")
            return parse_answer(payload)
        except QueryFailed as exc:
            return exc
        except (TimeoutError, httpx.TimeoutException):
            return QueryFailed(f"Prometheus did not answer within {self.cfg.timeout:g} s")
        except httpx.ConnectError as exc:
            return QueryFailed(
                f"cannot connect to Prometheus at {self.url}: {exc or 'connection failed'}"
            )
        except httpx.HTTPError as exc:
            return QueryFailed(f"Prometheus at {self.url}: {exc or type(exc).__name__}")
        except Exception as exc:
            # Never out of poll(): the color shows the error instead of its figures.
            return QueryFailed(f"unexpected error: {type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        await self.client.aclose()
