"""The main screen: header, runbook, blue and green panes, log tail, audit feed, footer.

It composes and lays out; keys arrive here (so dialogs on top do not see them) and are
handed to the app, which owns the flows. What the systems say comes down through
`show_*` calls from the app and is set on the widgets as reactives.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer

from pmb_console.keymap import FOOTER_FROM, TAKES_LOCK
from pmb_console.providers.base import ColorMetrics, TrafficState
from pmb_console.tui import keys
from pmb_console.tui.readings import SystemsReading
from pmb_console.tui.widgets.audit_feed import AuditFeed
from pmb_console.tui.widgets.color_pane import ColorPane
from pmb_console.tui.widgets.header import ConsoleHeader
from pmb_console.tui.widgets.log_tail import LogTail
from pmb_console.tui.widgets.monitor_banner import MonitorBanner
from pmb_console.tui.widgets.runbook_panel import RunbookPanel

if TYPE_CHECKING:
    from pmb_console.actions.checklist import CheckResult
    from pmb_console.monitor import WindowStatus
    from pmb_console.tui.app import PmbConsoleApp

DEMO_GROUP = Binding.Group("Demo")


def demo_bindings(faults: list[tuple[str, str, str]]) -> list[Binding]:
    """The demo's keys: one per fault, one to choose the color, one to clear."""
    out = [
        Binding(key, f"demo_inject('{fault_id}')", words, id=f"demo-{fault_id}", group=DEMO_GROUP)
        for key, fault_id, words in faults
    ]
    out.append(Binding("x", "demo_color", "Demo: color", id="demo-color", group=DEMO_GROUP))
    out.append(Binding("0", "demo_clear", "Demo: clear", id="demo-clear", group=DEMO_GROUP))
    return out


COMPACT_FOOTER_BELOW = 140
"""Narrower than this, the footer packs its keys tightly."""


class MainScreen(Screen[None]):
    BINDINGS = keys.bindings()
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    app: PmbConsoleApp

    def compose(self) -> ComposeResult:
        cfg = self.app.services.config
        yield ConsoleHeader(
            environment=cfg.console.environment,
            release=cfg.release.version or cfg.colors.green.version,
            operator=cfg.console.operator,
            read_only=cfg.console.read_only,
            demo=self.app.demo is not None,
            production=cfg.console.is_production,
            id="header",
        )
        keymap = self.app.keymap_check.applied
        yield MonitorBanner(
            rollback_key=keys.key_display(keymap.get("rollback", "r")),
            extend_key=keys.key_display(keymap.get("extend_monitor", "e")),
            id="monitor",
        )
        with Grid(id="body"):
            for color in ("blue", "green"):
                yield ColorPane(
                    color,
                    version=cfg.colors.of(color).version,
                    metrics_config=cfg.metrics,
                    id=f"pane-{color}",
                )
            yield RunbookPanel(id="runbook")
            yield LogTail(max_lines=cfg.logs.lines, id="logs")
            yield AuditFeed(id="audit")
        yield Footer(compact=self.app.size.width < COMPACT_FOOTER_BELOW)

    def __init__(self) -> None:
        super().__init__()
        # The breakpoint classes the first resize would set, set now: the first frame is
        # styled once, not twice.
        width, height = self.app.size
        self.set_class(width < 120, "-narrow")
        self.set_class(width >= 120, "-wide")
        self.set_class(height < 36, "-short")
        self.set_class(height >= 36, "-tall")

    def on_resize(self) -> None:
        # Narrow terminals: keys packed tightly, and the keys a pane's title already names
        # left to help, so `? Help` and `q Quit` stay on screen at 80 columns.
        footer = self.query_one(Footer)
        compact = self.size.width < COMPACT_FOOTER_BELOW
        if footer.compact != compact:
            footer.compact = compact
        shown = frozenset(i for i, width in FOOTER_FROM.items() if self.size.width >= width)
        if shown != self._footer_keys:
            self._footer_keys = shown
            self.refresh_bindings()

    _footer_keys: frozenset[str] = frozenset(FOOTER_FROM)

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """The bindings as Textual has them, less the ones too wide for this terminal's
        footer (keys are dispatched without this list: a key left off still works)."""
        width = self.app.size.width
        bindings = super().active_bindings
        return {
            key: active._replace(binding=replace(active.binding, show=False))
            if active.binding.show and FOOTER_FROM.get(active.binding.id or "", 0) > width
            else active
            for key, active in bindings.items()
        }

    ready = False
    """True once every child is mounted: before that, readings have nowhere to go."""

    def on_mount(self) -> None:
        self.ready = True
        self.call_later(self.app.show_what_is_known)
        self.query_one("#runbook").border_title = "Runbook (c: sign off)"
        self.query_one("#logs").border_title = "Logs (/ filter · space pause)"
        self.query_one("#audit").border_title = "Audit"

    # --- what the systems say (called by the app) --------------------------------------

    @property
    def log_tail(self) -> LogTail:
        return self.query_one("#logs", LogTail)

    def show_systems(self, reading: SystemsReading, running_action: str) -> None:
        header = self.query_one(ConsoleHeader)
        fault = next((f for f in reading.faults if f.part == "traffic"), None)
        header.traffic_fault = fault.message if fault else ""
        if reading.traffic is not None:
            header.traffic = reading.traffic
        header.lock_holder = reading.lock_holder
        self._follow_refusals(reading.locked_out, reading.no_rollback)
        self._show_weights(reading.traffic if fault is None else None)
        self.query_one(AuditFeed).records = reading.audit
        runbook = self.query_one(RunbookPanel)
        if reading.runbook is not None:
            runbook.journal = reading.runbook
        runbook.running_action = running_action

    def _show_weights(self, traffic: TrafficState | None) -> None:
        for color in ("blue", "green"):
            pane = self.query_one(f"#pane-{color}", ColorPane)
            pane.weight = None if traffic is None else traffic.weights.get(color, 0)
            pane.servers = (
                () if traffic is None else tuple(s for s in traffic.servers if s.color == color)
            )

    def show_metrics(self, metrics: dict[str, ColorMetrics]) -> None:
        for color in ("blue", "green"):
            pane = self.query_one(f"#pane-{color}", ColorPane)
            if color in metrics:
                pane.metrics_fault = metrics[color].error
                pane.metrics = metrics[color]

    def show_checklist(self, results: tuple[CheckResult, ...]) -> None:
        self.query_one(RunbookPanel).checklist = results

    def show_monitor(self, status: WindowStatus, banner: str) -> None:
        monitor = self.query_one(MonitorBanner)
        monitor.status = status
        monitor.banner = banner

    def show_shared_log(self, words: str, lost: bool) -> None:
        header = self.query_one(ConsoleHeader)
        header.shared_log = words
        header.shared_log_lost = lost
        self.refresh_bindings()  # mutating keys grey out while the shared lock is out of reach

    def show_new_audit(self, records: tuple[dict[str, Any], ...]) -> None:
        self.query_one(AuditFeed).add(records)

    def show_metrics_fault(self, message: str) -> None:
        for pane in self.query(ColorPane):
            pane.metrics_fault = message

    def show_time(self, text: str, now: float, demo_banner: str | None) -> None:
        header = self.query_one(ConsoleHeader)
        header.now_text = text
        header.demo_banner = demo_banner
        for pane in self.query(ColorPane):
            pane.now = now

    def show_theme(self, marks: dict[str, str], bold: bool) -> None:
        self.set_class(bold, "-bold")
        self.query_one(ConsoleHeader).marks = marks
        for pane in self.query(ColorPane):
            pane.mark = marks.get(pane.color, "●")

    def selected_runbook_item(self) -> str | None:
        return self.query_one(RunbookPanel).selected_item()

    # --- keys: refused keys are greyed, the rest go to the app ------------------------

    locked_out = ""
    """From the last reading: why actions that take the lock are refused (another holds it)."""
    no_rollback = ""
    """From the last reading: why a rollback is refused (nothing to roll back to)."""

    def refusal(self, action: str) -> str:
        """Why the key for `action` would be refused now, in words, or "" (the help says it)."""
        app = self.app
        if action in keys.READ_ONLY_REFUSED and app.services.config.console.read_only:
            return "read-only"  # a sign-off or the post-mortem writes too
        if action in keys.MUTATING_ACTIONS or action in ("smoke", "signoff"):
            if app.busy:
                return "an action is running"
        if action in keys.MUTATING_ACTIONS and app.war_room.lost:
            return "the shared audit log cannot be reached"  # so the shared lock cannot be taken
        if action in TAKES_LOCK and self.locked_out:
            return self.locked_out
        if action in ("switch", "rollback") and app.traffic_unreadable:
            return "the load balancer cannot be read"
        if action == "rollback" and self.no_rollback:
            return self.no_rollback
        return ""

    def _follow_refusals(self, locked_out: str, no_rollback: str) -> None:
        """Keys grey while another operator holds the lock, and come back when it is let go.
        The footer redraws only when a key's state changes (it redraws every key)."""
        affected = TAKES_LOCK | {"rollback"}
        before = {action: bool(self.refusal(action)) for action in affected}
        self.locked_out, self.no_rollback = locked_out, no_rollback
        if before != {action: bool(self.refusal(action)) for action in affected}:
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if self.refusal(action) else True  # None greys the key in the footer

    def action_switch(self) -> None:
        self.app.start_flow("switch")

    def action_rollback(self) -> None:
        self.app.start_flow("rollback")

    def action_snapshot(self) -> None:
        self.app.start_flow("snapshot")

    def action_migrate(self) -> None:
        self.app.start_flow("migrate")

    def action_restore(self) -> None:
        self.app.start_flow("restore")

    def action_lock(self) -> None:
        self.app.war_room.toggle_lock()

    def action_smoke(self) -> None:
        self.app.start_flow("smoke")

    def action_provision(self) -> None:
        self.app.start_flow("provision")

    def action_deploy(self) -> None:
        self.app.start_flow("deploy")

    def action_decommission(self) -> None:
        self.app.start_flow("decommission")

    def action_extend_monitor(self) -> None:
        self.app.extend_monitor()

    def action_backups(self) -> None:
        self.app.start_flow("backups")

    def action_postmortem(self) -> None:
        self.app.write_postmortem()

    def action_signoff(self) -> None:
        self.app.sign_off(self.selected_runbook_item())

    def action_filter_logs(self) -> None:
        self.app.ask_log_filter()

    def action_pause_logs(self) -> None:
        tail = self.log_tail
        if tail is not None:
            tail.toggle_pause()

    def action_follow_logs(self) -> None:
        tail = self.log_tail
        if tail is not None:
            tail.follow()

    def action_help(self) -> None:
        self.app.show_help()

    def action_quit_console(self) -> None:
        self.app.ask_quit()

    def action_demo_inject(self, fault_id: str) -> None:
        self.app.demo_inject(fault_id)

    def action_demo_color(self) -> None:
        self.app.demo_toggle_color()

    def action_demo_clear(self) -> None:
        self.app.demo_clear()
