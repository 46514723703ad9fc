"""The audit feed: the latest actions, who ran them and how they ended, newest first."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

FEED_LINES = 40
KEPT_RECORDS = 200
"""Records kept for the feed (and the runbook's view of it) between two reads of the log."""

_OUTCOME_STYLE = {
    "succeeded": "bold",
    "failed": "bold reverse",
    "not-verified": "bold reverse",
    "refused": "italic",
    "read-only": "italic",
    "locked": "italic",
    "started": "",
}


def record_line(record: dict[str, Any]) -> Text:
    when = str(record.get("time", ""))[11:19]
    action = record.get("action", "?")
    outcome = record.get("outcome", "")
    if action == "checklist-signoff":
        what = f"signed off {record.get('item', '?')}"
        outcome = ""
    else:
        what = action
    duration = record.get("duration_s")
    took = (
        f" {duration:.1f}s"
        if isinstance(duration, int | float) and outcome not in ("", "started")
        else ""
    )
    return Text.assemble(
        (f"{when} ", "dim"),
        f"{record.get('operator', '?')} ",
        (what, "bold"),
        " ",
        (outcome, _OUTCOME_STYLE.get(outcome, "")),
        took,
    )


class SharedRecordsArrived(Message):
    """New records in the shared audit log (any console's), heard through LISTEN."""

    def __init__(self, records: tuple[dict[str, Any], ...]) -> None:
        super().__init__()
        self.records = records


class SharedLinkChanged(Message):
    """The link to the shared audit log came up or was lost (words say why)."""

    def __init__(self, connected: bool, words: str) -> None:
        super().__init__()
        self.connected = connected
        self.words = words


class AuditFeed(Static):
    """Newest audit records first; redrawn only when a new record arrives."""

    records: reactive[tuple[dict[str, Any], ...]] = reactive(tuple, init=False, repaint=False)
    """The latest records, oldest first, as read from the audit log."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("no actions recorded yet", id=id)
        self._last_id: str | None = None

    def add(self, records: tuple[dict[str, Any], ...]) -> None:
        """Records heard live, merged with those already shown (the next read agrees)."""
        known = {r.get("id") for r in self.records}
        fresh = tuple(r for r in records if r.get("id") not in known)
        if fresh:
            self.records = (self.records + fresh)[-KEPT_RECORDS:]

    def watch_records(self, records: tuple[dict[str, Any], ...]) -> None:
        last = records[-1].get("id") if records else None
        if last == self._last_id:
            return
        self._last_id = last
        if not records:
            self.update("no actions recorded yet")
            return
        text = Text()
        for record in reversed(records[-FEED_LINES:]):
            text.append_text(record_line(record))
            text.append("\n")
        text.rstrip()
        self.update(text)
