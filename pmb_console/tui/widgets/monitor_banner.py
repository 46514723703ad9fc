"""The monitoring window's line under the header: the countdown, and a breach as a banner.

Hidden until a window is open for this release, so a console with nothing to watch
spends no row on it. The countdown ticks every second from the window's end time; what
the window means (watching, breached, passed) comes down from the app, which has it from
the runbook engine (`pmb_console.monitor`).
"""

from __future__ import annotations

import dataclasses
import time

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from pmb_console.monitor import WindowStatus


class MonitorBanner(Static):
    """ "green watched: 42:17 left · e: extend", or "BREACH: … · r: roll back"."""

    DEFAULT_CSS = """
    MonitorBanner {
        height: 1;
        padding: 0 1;
        background: $panel;
        display: none;
    }
    MonitorBanner.-shown {
        display: block;
    }
    MonitorBanner.-breach {
        background: $error;
        color: $text;
        text-style: bold;
    }
    MonitorBanner.-passed {
        color: $success;
    }
    """

    status: reactive[WindowStatus | None] = reactive(None, init=False, repaint=False)
    """Where the window stands, as of the last metrics poll."""
    banner: reactive[str] = reactive("", init=False, repaint=False)
    """The breach in words while one stands; empty otherwise."""

    def __init__(
        self, *, rollback_key: str = "r", extend_key: str = "e", id: str | None = None
    ) -> None:
        super().__init__("", id=id)
        self.rollback_key = rollback_key
        self.extend_key = extend_key
        self._drawn = Text()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._show)

    def watch_status(self) -> None:
        self._show()

    def watch_banner(self) -> None:
        self._show()

    def _show(self) -> None:
        status = self.status
        state = status.state if status is not None else "not-started"
        shown = bool(self.banner) or state not in ("not-started",)
        self.set_class(shown, "-shown")
        self.set_class(bool(self.banner), "-breach")
        self.set_class(state == "passed", "-passed")
        if not shown or status is None and not self.banner:
            return
        text = Text()
        if self.banner:
            text.append(self.banner)
            text.append(f"  ·  {self.rollback_key}: roll back")
        elif status is not None and status.state == "watching":
            remaining = max(0.0, status.ends_at - time.time()) if status.remaining_s else 0.0
            text.append("MONITOR ", style="bold")
            text.append(dataclasses.replace(status, remaining_s=remaining).countdown())
            if not status.remaining_s:
                text.append(f"  ({status.detail})")
            text.append(f"  ·  {self.extend_key}: extend the window")
        elif status is not None:
            text.append("MONITOR ", style="bold")
            text.append(status.detail)
        if text != self._drawn:  # every second, but the terminal hears only of a change
            self._drawn = text
            self.update(text)
