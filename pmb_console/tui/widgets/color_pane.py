"""One color's pane: weight, version, rate, errors, p95 with 5-minute sparklines, instances.

A breached threshold is coloured and said in words; an instance that cannot be scraped
is greyed with its error and since when. The pane is told what to show (reactives) and
redraws only the parts whose words changed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Sparkline, Static

from pmb_console.config import MetricsConfig
from pmb_console.providers.base import ColorMetrics, InstanceMetrics, ServerState
from pmb_console.providers.metrics import breaches as breaches_in_words

HISTORY_SECONDS = 300
SPARK_POINTS = 30
"""Each sparkline point is the worst value of a 10-second bucket. Drawing only closed
buckets repaints a sparkline once every 10 s instead of every poll, which keeps an idle
console's terminal traffic low (a shared screen over SSH)."""
BUCKET_SECONDS = HISTORY_SECONDS / SPARK_POINTS
FRESH_SECONDS = 3.0
"""A scrape younger than this is shown as "just now", so the row does not tick every second."""
MAX_INSTANCE_ROWS = 6
"""Instances listed by name; the rest are counted (problems are listed first)."""

BreachFn = Callable[[ColorMetrics, MetricsConfig], list[str]]


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < FRESH_SECONDS:
        return "just now"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _ago(seconds: float) -> str:
    age = _age(seconds)
    return age if age == "just now" else f"{age} ago"


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))


def instance_line(inst: InstanceMetrics, now: float, width: int = 10) -> Text:
    """One instance in one short line: up/SLOW with the scrape's age, or DOWN since when and why."""
    name = inst.name if len(inst.name) <= width else inst.name[: width - 1] + "…"
    if not inst.up:
        since = f" since {_clock(inst.down_since)}" if inst.down_since else ""
        return Text(f"✘ {name:<{width}} DOWN{since}: {inst.error or 'unreachable'}", style="bold")
    state = "SLOW" if inst.slow else "up"
    return Text(
        f"{'◐' if inst.slow else '✔'} {name:<{width}} {state:<4} scraped {_ago(now - inst.scraped_at)}"
    )


def routing_line(server: ServerState) -> Text:
    """What the load balancer says of one of this color's members: an ALB target group's
    target health, a DNS record's value and TTL, an HAProxy server's address; with its
    state when an operator or a health check took it out."""
    troubled = server.admin != "ready" or server.operational in ("down", "stopped")
    state = f" · {server.admin}" if server.admin != "ready" else ""
    if server.operational in ("down", "stopped"):
        state += f" · {server.operational}"
    return Text(f"⇄ {server.name}: {server.detail}{state}", style="bold" if troubled else "")


class MetricRow(Horizontal):
    """A label, its value and a 5-minute sparkline."""

    def __init__(self, label: str, *, id: str) -> None:
        super().__init__(id=id, classes="metric-row")
        self.label = label
        self._shown = ""

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="metric-label")
        yield Static("—", classes="metric-value")
        yield Sparkline([], classes="metric-spark")

    def show(self, value: str, history: list[float], breached: bool) -> None:
        if value != self._shown:
            self._shown = value
            # Fixed width and height: no layout pass, so only this cell is repainted.
            self.query_one(".metric-value", Static).update(value, layout=False)
        self.set_class(breached, "-breached")
        spark = self.query_one(Sparkline)
        if len(history) < 2:
            history = []  # one point would draw as a full bar: say nothing until there is a trend
        else:
            # Scaled from zero, not from the window's minimum: 42 → 43 req/s must not draw
            # as a spike on a shared screen. The zero shares the first column, unseen.
            history = [0.0, *history]
        if list(spark.data or []) != history:
            spark.data = history


class ColorPane(Vertical):
    """Everything the console knows about one color, as last read."""

    weight: reactive[int | None] = reactive(None, init=False, repaint=False)
    """Percent of traffic this color receives, from the load balancer."""
    metrics: reactive[ColorMetrics | None] = reactive(None, init=False, repaint=False)
    """The last metrics round for this color."""
    metrics_fault: reactive[str] = reactive("", init=False, repaint=False)
    """Why metrics could not be read at all, or empty."""
    now: reactive[float] = reactive(0.0, init=False, repaint=False)
    """The time ages are measured against (the app's clock)."""
    mark: reactive[str] = reactive("●", init=False, repaint=False)
    """The shape drawn before the color's name (set by the theme)."""
    servers: reactive[tuple[ServerState, ...]] = reactive(tuple, init=False, repaint=False)
    """This color's members as the load balancer or DNS last reported them."""

    def __init__(
        self,
        color: str,
        *,
        version: str,
        metrics_config: MetricsConfig,
        breaches: BreachFn = breaches_in_words,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=f"color-pane -{color}")
        self.color = color
        self.version = version
        self.metrics_config = metrics_config
        self.breaches = breaches
        self.history: dict[str, deque[float]] = {
            k: deque(maxlen=SPARK_POINTS) for k in ("rps", "err", "p95")
        }
        self._bucket: dict[str, list[float]] = {k: [] for k in self.history}
        self._bucket_id: int | None = None
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-title")
        yield Static("", classes="pane-routing")
        yield MetricRow("requests/s", id=f"{self.color}-rps")
        yield MetricRow("error rate", id=f"{self.color}-err")
        yield MetricRow("p95", id=f"{self.color}-p95")
        yield Static("", classes="pane-breaches")
        yield Static("", classes="pane-instances")

    def on_mount(self) -> None:
        self._show_title()
        self._show_routing()
        self._show_metrics()

    def watch_weight(self) -> None:
        self._show_title()

    def watch_mark(self) -> None:
        self._show_title()

    def watch_servers(self) -> None:
        self._show_routing()

    def watch_metrics(self, cm: ColorMetrics | None) -> None:
        if cm is not None:
            self._collect(cm)
        self._show_metrics()

    def _collect(self, cm: ColorMetrics) -> None:
        """Add a round to the open 10-second bucket; close it into the history when time moves on."""
        bucket_id = int((cm.at or time.time()) // BUCKET_SECONDS)
        if self._bucket_id is not None and bucket_id != self._bucket_id:
            for key, values in self._bucket.items():
                if values:
                    self.history[key].append(max(values))
                    values.clear()
        self._bucket_id = bucket_id
        # An unknown figure (no rate yet, no scrape) is a gap, not a zero.
        if cm.requests_per_second is not None:
            self._bucket["rps"].append(cm.requests_per_second)
        if cm.error_rate is not None:
            self._bucket["err"].append(cm.error_rate * 100)
        if cm.p95_ms is not None:
            self._bucket["p95"].append(cm.p95_ms)

    def watch_metrics_fault(self) -> None:
        self._show_metrics()

    def watch_now(self) -> None:
        self._show_instances()

    def _update(self, selector: str, text: str | Text) -> None:
        """Redraw a part only when its words change: an idle pane writes nothing.

        A layout pass (which repaints the whole pane) only when the number of lines changes.
        """
        key = text.markup if isinstance(text, Text) else text
        old = self._texts.get(selector)
        if old != key:
            self._texts[selector] = key
            layout = old is None or old.count("\n") != key.count("\n")
            self.query_one(selector, Static).update(text, layout=layout)

    def _show_title(self) -> None:
        weight = "weight ?" if self.weight is None else f"weight {self.weight}%"
        tag = "LIVE" if self.weight else "idle"
        title = Text.assemble(
            (f"{self.mark} {self.color.upper()}", "bold"),
            f"  {self.version or 'version ?'}   {weight}   ",
            (tag, "bold reverse" if self.weight else ""),
        )
        self._update(".pane-title", title)
        self.set_class(bool(self.weight), "-live")

    def _show_routing(self) -> None:
        # Only members the provider says something about: a pane on a load balancer
        # that reports nothing per member keeps its height.
        said = [s for s in self.servers if s.detail]
        text = Text("\n").join(routing_line(s) for s in said[:MAX_INSTANCE_ROWS])
        if len(said) > MAX_INSTANCE_ROWS:
            text.append(f"\n… and {len(said) - MAX_INSTANCE_ROWS} more")
        self._update(".pane-routing", text)
        self.query_one(".pane-routing", Static).display = bool(said)

    def _show_metrics(self) -> None:
        cm = self.metrics
        cfg = self.metrics_config
        breaches = self.breaches(cm, cfg) if cm is not None else []
        rps = (
            "—"
            if cm is None or cm.requests_per_second is None
            else f"{cm.requests_per_second:,.1f}"
        )
        err = "—" if cm is None or cm.error_rate is None else f"{cm.error_rate * 100:.1f}%"
        p95 = "—" if cm is None or cm.p95_ms is None else f"{cm.p95_ms:,.0f} ms"
        err_breached = (
            cm is not None
            and cm.error_rate is not None
            and cm.error_rate > cfg.error_rate_threshold
        )
        p95_breached = cm is not None and cm.p95_ms is not None and cm.p95_ms > cfg.p95_threshold_ms
        self.query_one(f"#{self.color}-rps", MetricRow).show(rps, list(self.history["rps"]), False)
        self.query_one(f"#{self.color}-err", MetricRow).show(
            err, list(self.history["err"]), err_breached
        )
        self.query_one(f"#{self.color}-p95", MetricRow).show(
            p95, list(self.history["p95"]), p95_breached
        )
        if self.metrics_fault:
            self._update(".pane-breaches", f"metrics unavailable: {self.metrics_fault}")
        else:
            within = f"ok: errors ≤ {cfg.error_rate_threshold * 100:g}%, p95 ≤ {cfg.p95_threshold_ms:g} ms"
            self._update(
                ".pane-breaches", "\n".join(f"BREACH {b}" for b in breaches) if breaches else within
            )
        self.query_one(".pane-breaches", Static).set_class(
            bool(breaches or self.metrics_fault), "-breached"
        )
        unreachable = cm is not None and bool(cm.instances) and not any(i.up for i in cm.instances)
        self.set_class(unreachable or bool(self.metrics_fault), "-unreachable")
        self._show_instances()

    def _show_instances(self) -> None:
        cm = self.metrics
        if cm is None:
            self._update(".pane-instances", "instances: waiting for the first scrape…")
            return
        if not cm.instances:
            self._update(".pane-instances", "instances: none configured")
            return
        ordered = sorted(cm.instances, key=lambda i: (i.up and not i.slow, i.name))
        up = sum(1 for i in cm.instances if i.up)
        text = Text(f"instances: {up} up · {len(cm.instances) - up} down\n")
        width = min(14, max(len(i.name) for i in ordered[:MAX_INSTANCE_ROWS]))
        for inst in ordered[:MAX_INSTANCE_ROWS]:
            line = instance_line(inst, self.now, width)
            if not inst.up:
                line.stylize("dim")
            text.append_text(line)
            text.append("\n")
        hidden = ordered[MAX_INSTANCE_ROWS:]
        if hidden:
            down = sum(1 for i in hidden if not i.up)
            text.append(
                f"… and {len(hidden)} more ({down} down)"
                if down
                else f"… and {len(hidden)} more, all up"
            )
        text.rstrip()
        self._update(".pane-instances", text)
