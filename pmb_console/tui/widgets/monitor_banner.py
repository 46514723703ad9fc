"""The monitoring window's line under the header: the countdown, and a breach as a banner.

Hidden until a window is open for this release, so a console with nothing to watch
spends no row on it. The countdown ticks every second from the window's end time, in a
small field of its own so that only those few cells are redrawn each second; what the
window means (watching, breached, passed) comes down from the app, which has it from the
runbook engine (`pmb_console.monitor`).
"""

from __future__ import annotations

import dataclasses
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from pmb_console.monitor import WindowStatus

COUNTDOWN_WIDTH = 36
"""Room for "MONITOR green watched: 120:00 left": a fixed width, so a tick needs no layout."""


class MonitorBanner(Horizontal):
    """'MONITOR green watched: 42:17 left · e: extend', or 'BREACH: … · r: roll back'."""

    DEFAULT_CSS = f"""
    MonitorBanner {{
        height: 1;
        padding: 0 1;
        background: $panel;
        display: none;
    }}
    MonitorBanner.-shown {{
        display: block;
    }}
    MonitorBanner #monitor-countdown {{
        width: {COUNTDOWN_WIDTH};
        display: none;
    }}
    MonitorBanner.-watching #monitor-countdown {{
        display: block;
    }}
    MonitorBanner #monitor-words {{
        width: 1fr;
    }}
    MonitorBanner.-breach {{
        background: $error;
        color: $text;
        text-style: bold;
    }}
    MonitorBanner.-passed {{
        color: $success;
    }}
    """

    status: reactive[WindowStatus | None] = reactive(None, init=False, repaint=False)
    """Where the window stands, as of the last metrics poll."""
    banner: reactive[str] = reactive("", init=False, repaint=False)
    """The breach in words while one stands; empty otherwise."""

    def __init__(
        self, *, rollback_key: str = "r", extend_key: str = "e", id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.rollback_key = rollback_key
        self.extend_key = extend_key
        self._countdown = Text()
        self._words = Text()

    def compose(self) -> ComposeResult:
        yield Static("", id="monitor-countdown")
        yield Static("", id="monitor-words")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def watch_status(self) -> None:
        self._show()

    def watch_banner(self) -> None:
        self._show()

    def _watching(self) -> bool:
        return not self.banner and self.status is not None and self.status.state == "watching"

    def _tick(self) -> None:
        if self._watching():
            self._show_countdown()

    def _show_countdown(self) -> None:
        status = self.status
        assert status is not None
        remaining = max(0.0, status.ends_at - time.time()) if status.remaining_s else 0.0
        text = Text.assemble(
            ("MONITOR ", "bold"), dataclasses.replace(status, remaining_s=remaining).countdown()
        )
        if text != self._countdown:  # the terminal hears only of a change
            self._countdown = text
            self.query_one("#monitor-countdown", Static).update(text, layout=False)

    def _show(self) -> None:
        status = self.status
        state = status.state if status is not None else "not-started"
        watching = self._watching()
        self.set_class(bool(self.banner) or state != "not-started", "-shown")
        self.set_class(bool(self.banner), "-breach")
        self.set_class(watching, "-watching")
        self.set_class(state == "passed" and not self.banner, "-passed")
        words = Text()
        if self.banner:
            words.append(f"{self.banner}  ·  {self.rollback_key}: roll back")
        elif watching and status is not None:
            self._show_countdown()
            if not status.remaining_s:
                words.append(f"({status.detail})  ")
            words.append(f"·  {self.extend_key}: extend the window")
        elif status is not None and state != "not-started":
            words.append("MONITOR ", style="bold")
            words.append(status.detail)
        if words != self._words:
            self._words = words
            self.query_one("#monitor-words", Static).update(words)
