"""The header: where am I, what is live, who holds the lock — readable at a glance.

Production gets a red banner; the LIVE color is drawn in large type with the weights the
load balancer reported on the last read. Every part updates only when its value changes,
so an idle console writes almost nothing to the terminal.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static

from pmb_console.config import is_production
from pmb_console.providers.base import TrafficState
from pmb_console.tui.widgets.big_text import big_text


def describe_weights(state: TrafficState) -> str:
    """ "LIVE GREEN 100% · blue 0%", "SPLIT 90/10 (blue/green)" or "NOTHING LIVE"."""
    blue, green = state.weights.get("blue", 0), state.weights.get("green", 0)
    live = state.live
    if live == "split":
        return f"SPLIT {blue}/{green} (blue/green)"
    if live == "none":
        return "NOTHING LIVE · blue 0% · green 0%"
    other = "green" if live == "blue" else "blue"
    return f"LIVE {live.upper()} {state.weights.get(live, 0)}% · {other} {state.weights.get(other, 0)}%"


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT(\d\d:\d\d):\d\d(?:\.\d+)?(?:\+00:00|Z)")


def _short_times(words: str) -> str:
    """ "since 2026-11-24T23:07:48.928+00:00" → "since 23:07 UTC": the header is one line."""
    return _ISO_TIME.sub(lambda m: f"{m.group(1)} UTC", words)


class ConsoleHeader(Vertical):
    """Environment, release, LIVE color and weights, operator, lock, READ-ONLY, time."""

    DEFAULT_CSS = """
    ConsoleHeader #shared-log.-lost {
        background: $error;
        color: $background;
        text-style: bold;
    }
    """

    traffic: reactive[TrafficState | None] = reactive(None, init=False, repaint=False)
    """Traffic as last read from the load balancer."""
    traffic_fault: reactive[str] = reactive("", init=False, repaint=False)
    """Why traffic could not be read, or empty."""
    lock_holder: reactive[str | None] = reactive(None, init=False, repaint=False)
    """Who holds the action lock, or None."""
    shared_log: reactive[str] = reactive("", init=False, repaint=False)
    """The shared audit log's state in words, or empty when the log is local files."""
    shared_log_lost: reactive[bool] = reactive(False, init=False, repaint=False)
    """The shared log cannot be reached: changes are refused."""
    now_text: reactive[str] = reactive("", init=False, repaint=False)
    """The time shown, already formatted."""
    demo_banner: reactive[str | None] = reactive(None, init=False, repaint=False)
    """What the demo wants said (a scheduled fault), or None."""
    marks: reactive[dict[str, str]] = reactive(
        lambda: {"blue": "●", "green": "●"}, init=False, repaint=False
    )
    """The shape drawn before each color's name (set by the theme)."""

    def __init__(
        self,
        *,
        environment: str,
        release: str,
        operator: str,
        read_only: bool,
        demo: bool,
        production: bool | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.environment = environment
        self.production = is_production(environment, production)
        """The red banner: [console] production, else what the environment's name says."""
        self.release = release
        self.operator = operator
        self.read_only = read_only
        self.demo = demo

    def compose(self) -> ComposeResult:
        with Horizontal(id="header-top"):
            yield Static(
                f" {self.environment.upper()} ",
                id="environment",
                classes="-production" if self.production else "-other",
            )
            if self.demo and self.environment.upper() != "DEMO":
                yield Static(" DEMO ", id="demo-badge")
            if self.read_only:
                yield Static(" READ-ONLY ", id="read-only-badge")
            yield Static(f"release {self.release or '?'}", id="release")
            yield Static(f"operator {self.operator}", id="operator")
            yield Static("", id="shared-log")
            yield Static("", id="lock")
            yield Static("", id="clock")
        with Horizontal(id="header-live"):
            yield Static("", id="live-big")
            with Vertical(id="live-words"):
                yield Static("", id="live-small")
                yield Static("", id="demo-banner")

    def on_mount(self) -> None:
        # A deliberate lock's holder and reason can be longer than the row: the lock takes
        # the room left before the clock and ends in an ellipsis instead of running under
        # it. Set here because the screen's stylesheet sizes every header part to its text.
        lock = self.query_one("#lock", Static).styles
        lock.width = "1fr"
        lock.text_wrap = "nowrap"
        lock.text_overflow = "ellipsis"
        self._show_live()
        self._show_lock()
        self._show_shared_log()

    def watch_traffic(self) -> None:
        self._show_live()

    def watch_traffic_fault(self) -> None:
        self._show_live()

    def watch_marks(self) -> None:
        self._show_live()

    def watch_lock_holder(self) -> None:
        self._show_lock()

    def watch_shared_log(self) -> None:
        self._show_shared_log()

    def watch_shared_log_lost(self) -> None:
        self._show_shared_log()

    def watch_now_text(self, value: str) -> None:
        self.query_one("#clock", Static).update(value, layout=False)  # same width every second

    def watch_demo_banner(self, value: str | None) -> None:
        self.query_one("#demo-banner", Static).update(f"demo: {value}" if value else "")

    def _show_shared_log(self) -> None:
        shown = self.query_one("#shared-log", Static)
        shown.update(self.shared_log)
        shown.set_class(self.shared_log_lost, "-lost")
        shown.display = bool(self.shared_log)

    def _show_lock(self) -> None:
        lock = self.query_one("#lock", Static)
        if self.lock_holder:
            lock.update(f"LOCK held by {_short_times(self.lock_holder)}")
            lock.set_class(True, "-held")
        else:
            lock.update("lock free")
            lock.set_class(False, "-held")

    def _show_live(self) -> None:
        big = self.query_one("#live-big", Static)
        small = self.query_one("#live-small", Static)
        state = self.traffic
        for name in ("-blue", "-green", "-split", "-none", "-unknown", "-reading"):
            big.set_class(False, name)
        if self.traffic_fault:
            # The last read failed: whatever was shown before may no longer be true.
            big.update(big_text("UNKNOWN"))
            big.add_class("-unknown")
            small.update(Text(f"TRAFFIC UNKNOWN: {self.traffic_fault}"))
            return
        if state is None:
            # Before the first read nothing is known: a NONE banner would say nothing is live.
            big.update(big_text("LIVE ?"))
            big.add_class("-reading")
            small.update(Text("reading the load balancer…"))
            return
        live = state.live
        label = {"split": "SPLIT", "none": "NONE"}.get(live, f"LIVE {live.upper()}")
        mark = self.marks.get(live, "")
        big.update(big_text(label))
        big.add_class(f"-{live}")
        words = Text(f"{mark} {describe_weights(state)}".strip())
        if state.detail:
            # What the provider wants said about this traffic (a DNS TTL, ALB stickiness):
            # the weights alone would promise a switch takes effect at once.
            words.append(f"\n{state.detail}", style="not bold italic")
        small.update(words)
