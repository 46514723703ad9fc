"""The backup view (RUNBOOK §4): the policy at a glance and the restore drills' record.

Shows what `pmb-console snapshots --policy` and `drill --history` say: the newest
snapshot's age against [backup] max_age_hours, one mark per day of the retention window,
the snapshots past retention, and the last drills with how long each took. A restore
drill of the newest snapshot (D) and pruning the expired snapshots (X) are one key away
and go through the guarded flow; a read-only console greys both. Close has the focus.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from pmb_console.backup_policy import BackupPolicy

DRILLS_SHOWN = 8


def policy_table(policy: BackupPolicy) -> Table:
    """One row per day of the window, newest first; a gap is said, not hidden."""
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column("mark", no_wrap=True, width=1)
    table.add_column("day", no_wrap=True)
    table.add_column("snapshots")
    for day in policy.days:
        if day.covered:
            table.add_row(Text("✔", style="bold"), day.day.isoformat(), ", ".join(day.snapshot_ids))
        else:
            table.add_row(Text("✘", style="bold reverse"), day.day.isoformat(), "no snapshot")
    return table


def drills_table(records: list[dict[str, Any]]) -> Table | Text:
    if not records:
        return Text("no restore drill has run yet (pmb-console drill)")
    table = Table(box=None, padding=(0, 1), expand=True)
    for name in ("when (UTC)", "snapshot", "took", "result"):
        table.add_column(name, no_wrap=True)
    for r in records[-DRILLS_SHOWN:][::-1]:
        failed = next((p for p in r.get("phases", []) if p.get("ok") is False), None)
        result = (
            Text("pass")
            if r.get("ok")
            else Text(f"FAIL at {failed['name'] if failed else '?'}", style="bold reverse")
        )
        table.add_row(
            str(r.get("time", ""))[:19],
            str(r.get("snapshot_id", "?")),
            f"{float(r.get('duration_s', 0)):.1f} s",
            result,
        )
    return table


class BackupsScreen(ModalScreen[str | None]):
    """Returns "drill" or "prune" when the operator asks for one, None on close."""

    CSS_PATH = ["choosers.tcss", "backups.tcss"]
    BINDINGS = [
        Binding("escape", "close", "Close", id="backups-close"),
        Binding("X", "prune", "Prune expired…", id="backups-prune"),
        Binding("D", "drill", "Restore drill…", id="backups-drill"),
    ]

    def __init__(
        self, policy: BackupPolicy, drills: list[dict[str, Any]], *, read_only: bool = False
    ) -> None:
        super().__init__()
        self.policy = policy
        self.drills = drills
        self.read_only = read_only
        """A drill writes a scratch database and a prune deletes: both refused, so greyed."""

    def compose(self) -> ComposeResult:
        p = self.policy
        fresh = Text(
            f"{'✔' if p.fresh else '✘ NOT FRESH:'} newest snapshot: {p.fresh_detail}",
            style="bold" if p.fresh else "bold reverse",
        )
        missing = len(p.missing_days)
        coverage = (
            f"every one of the last {p.retention_days} days has a snapshot"
            if not missing
            else f"{missing} of the last {p.retention_days} days have no snapshot"
        )
        expired = (
            f"{len(p.expired)} snapshot(s) past the {p.retention_days}-day retention: "
            + ", ".join(s.id for s in p.expired)
            if p.expired
            else "nothing past retention"
        )
        with Vertical(classes="picker", id="backups-dialog"):
            yield Static("Backups and restore drills", classes="picker-title")
            with VerticalScroll(id="backups-body"):
                yield Static(fresh, id="backups-fresh")
                yield Static(coverage, id="backups-coverage")
                yield Static(expired, id="backups-expired")
                for s in p.unusable:
                    yield Static(f"unusable: {s.id} ({s.status})", classes="backups-unusable")
                # The drills before the day-by-day rows: the window is the long part.
                yield Static("Restore drills", classes="picker-title")
                yield Static(drills_table(self.drills), id="backups-drills")
                yield Static(
                    f"Day by day, the last {p.retention_days} days", classes="picker-title"
                )
                yield Static(policy_table(p), id="backups-days")
            with Horizontal(id="backups-buttons"):
                yield Button("Close", id="close", variant="primary")
                yield Button(
                    "Restore drill… (D)", id="drill", disabled=not self.check_action("drill", ())
                )
                yield Button(
                    "Prune expired… (X)",
                    id="prune",
                    variant="error",
                    disabled=not self.check_action("prune", ()),
                )
            yield Static(
                "read-only: drill and prune are refused here · escape: close"
                if self.read_only
                else "D: drill the newest snapshot into the scratch database · "
                "X: delete the expired snapshots (confirmed) · escape: close",
                classes="picker-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "prune":
            return None if self.read_only or not self.policy.expired else True
        if action == "drill":
            return None if self.read_only or not self.policy.newest else True
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "prune":
            self.action_prune()
        elif event.button.id == "drill":
            self.action_drill()
        else:
            self.dismiss(None)

    def action_prune(self) -> None:
        if self.check_action("prune", ()):
            self.dismiss("prune")

    def action_drill(self) -> None:
        if self.check_action("drill", ()):
            self.dismiss("drill")

    def action_close(self) -> None:
        self.dismiss(None)
