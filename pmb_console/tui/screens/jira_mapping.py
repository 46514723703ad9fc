"""The JIRA mapping screen: every issue type, status and assignee the JQL finds, with
counts and their PM Buddy targets; the operator picks each target with the keyboard and
saves the choices into the config (RUNBOOK §5's "custom mapping UI").

Reading JIRA and writing the config are blocking: both run in thread workers and come
back as messages. The screen holds the choices; `pmb_console.jira.mapping` does the work.
A read-only console shows the mapping and greys saving: a spectator writes no config.

    app.push_screen(JiraMappingScreen(config))
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Footer, Input, Static

from pmb_console.config import Config
from pmb_console.errors import PmbError
from pmb_console.jira.mapping import Inventory, JiraUser, Mapping, save_choices

TABLES = {"type": "issue_types", "status": "statuses", "assignee": "assignees"}
"""Row kind → the [jira.*] table its choice is saved into."""


@dataclass(frozen=True)
class Row:
    kind: str
    """type | status | assignee."""
    value: str
    """The JIRA name (an account id for assignees)."""
    label: str
    issues: int


class JiraMappingScreen(Screen[bool]):
    """Dismissed with True once choices were saved, False otherwise."""

    BINDINGS = [
        Binding("enter", "choose", "Choose target", id="jira-map-choose"),
        Binding("s", "save", "Save into config", id="jira-map-save"),
        Binding("r", "rescan", "Rescan JIRA", id="jira-map-rescan"),
        Binding("escape", "close", "Close", id="jira-map-close"),
    ]
    DEFAULT_CSS = """
    JiraMappingScreen #jira-map-title { text-style: bold; padding: 0 1; }
    JiraMappingScreen #jira-map-status { color: $text-muted; padding: 0 1; }
    JiraMappingScreen DataTable { height: 1fr; }
    JiraMappingScreen Input { display: none; }
    JiraMappingScreen Input.editing { display: block; }
    """

    unmapped: reactive[int] = reactive(0)
    """Rows still without a target; a run refuses while this is above zero."""

    class Surveyed(Message):
        """JIRA answered the JQL: what it found."""

        def __init__(self, inventory: Inventory) -> None:
            super().__init__()
            self.inventory = inventory

    class SurveyFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Saved(Message):
        """The choices are in the config file."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    class SaveFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.mapping = Mapping(config.jira, {})
        self.rows: list[Row] = []
        self.choices: dict[str, dict[str, str]] = {table: {} for table in TABLES.values()}
        """What the operator chose on this screen, by [jira.*] table."""
        self.users: dict[str, JiraUser] = {}
        self.editing: Row | None = None
        self.saved = False
        self._leaving = threading.Event()
        """Set when the screen goes: a survey waiting to retry an unreachable JIRA stops."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "JIRA mapping — " + (self.config.jira.jql or "(no JQL)"), id="jira-map-title"
            )
            yield Static("reading JIRA…", id="jira-map-status")
            yield DataTable(id="jira-map-table", cursor_type="row", zebra_stripes=True)
            yield Input(
                placeholder="PM Buddy target (→ completes; Enter keeps; Escape cancels)",
                id="jira-map-input",
            )
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("kind", "in JIRA", "issues", "PM Buddy")
        self.survey()

    # --- workers ---------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="jira-map",
        description="JIRA survey",
    )
    def survey(self) -> None:
        from pmb_console.jira.client import JiraClient
        from pmb_console.jira.migrate import Migration, Position

        cfg = self.config.jira
        try:
            mapping = Mapping.from_config(cfg, self.config.source)
            with JiraClient(cfg, sleep=self._wait_unless_closed) as client:
                inventory = Migration(
                    cfg, client, mapping, Position(self.config.console.state_dir, cfg)
                ).survey()
        except PmbError as exc:
            self.post_message(self.SurveyFailed(str(exc)))
            return
        self.mapping = mapping
        self.post_message(self.Surveyed(inventory))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="jira-map-save",
        description="save mapping",
    )
    def save(self, changed: dict[str, dict[str, str]]) -> None:
        try:
            save_choices(self.config.source, changed)
        except PmbError as exc:
            self.post_message(self.SaveFailed(str(exc)))
            return
        self.post_message(self.Saved(self.config.source))

    # --- what came back --------------------------------------------------------------

    @on(Surveyed)
    def show_survey(self, message: Surveyed) -> None:
        inventory = message.inventory
        rows = [Row("type", name, name, n) for name, n in inventory.types.most_common()]
        rows += [Row("status", name, name, n) for name, n in inventory.statuses.most_common()]
        for account, n in inventory.assignees.most_common():
            user = inventory.users[account]
            rows.append(Row("assignee", account, f"{user.display_name or account} ({account})", n))
        self.rows = rows
        self.users = inventory.users
        table = self.query_one(DataTable)
        with self.app.batch_update():
            table.clear()
            for index, row in enumerate(rows):
                table.add_row(
                    row.kind, row.label, str(row.issues), self.target_of(row), key=str(index)
                )
        self.count_unmapped()
        keys = (
            "read-only: choices are not saved · r: rescan · Escape: close"
            if self.read_only
            else "Enter: choose · s: save · r: rescan · Escape: close"
        )
        self.query_one("#jira-map-status", Static).update(f"{inventory.issues} issues · {keys}")
        table.focus()

    @on(SurveyFailed)
    def show_survey_failure(self, message: SurveyFailed) -> None:
        self.query_one("#jira-map-status", Static).update(
            f"JIRA could not be read: {message.error}"
        )
        self.notify(message.error, title="JIRA", severity="error")

    @on(Saved)
    def show_saved(self, message: Saved) -> None:
        self.saved = True
        self.notify(f"mapping saved into {message.path}", title="JIRA mapping")
        self.query_one("#jira-map-status", Static).update(f"saved into {message.path}")

    @on(SaveFailed)
    def show_save_failure(self, message: SaveFailed) -> None:
        self.notify(message.error, title="mapping not saved", severity="error")

    # --- choosing --------------------------------------------------------------------

    def target_of(self, row: Row) -> str:
        chosen = self.choices[TABLES[row.kind]].get(row.value)
        if chosen:
            return chosen + " *"  # chosen here, not saved yet
        if row.kind == "type":
            return self.mapping.type_of(row.value) or "UNMAPPED"
        if row.kind == "status":
            return self.mapping.status_of(row.value) or "UNMAPPED"
        user = self.users.get(row.value)
        return (self.mapping.email_of(user) if user else None) or "NO EMAIL"

    def count_unmapped(self) -> None:
        self.unmapped = sum(self.target_of(r) in ("UNMAPPED", "NO EMAIL") for r in self.rows)

    def watch_unmapped(self, unmapped: int) -> None:
        if self.rows:
            self.sub_title = f"{unmapped} unmapped" if unmapped else "everything mapped"

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # the table took the Enter key: choosing is what it means here
        self.action_choose()

    def action_choose(self) -> None:
        table = self.query_one(DataTable)
        if not self.rows or self.editing is not None:
            return
        row = self.rows[table.cursor_row]
        self.editing = row
        known = sorted(
            {
                *getattr(self.config.jira, TABLES[row.kind]).values(),
                *self.choices[TABLES[row.kind]].values(),
            }
        )
        box = self.query_one(Input)
        box.suggester = SuggestFromList(known, case_sensitive=False)
        current = self.target_of(row).removesuffix(" *")
        box.value = "" if current in ("UNMAPPED", "NO EMAIL") else current
        box.add_class("editing")
        box.focus()

    @on(Input.Submitted)
    def chosen(self, event: Input.Submitted) -> None:
        event.stop()
        row, self.editing = self.editing, None
        box = self.query_one(Input)
        box.remove_class("editing")
        table = self.query_one(DataTable)
        table.focus()
        value = event.value.strip()
        if row is None or not value:
            return
        if row.kind == "assignee" and "@" not in value:
            self.notify("an assignee maps to a PM Buddy user's email", severity="warning")
            return
        self.choices[TABLES[row.kind]][row.value] = value
        table.update_cell(
            str(self.rows.index(row)), table.ordered_columns[3].key, self.target_of(row)
        )
        self.count_unmapped()

    @property
    def read_only(self) -> bool:
        return self.config.console.read_only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save" and self.read_only:
            return None  # greyed: the footer does not offer what would be refused
        return True

    def action_save(self) -> None:
        if self.read_only:
            self.notify(
                "saving the mapping refused: this console is read-only",
                title="mapping not saved",
                severity="warning",
            )
            return
        changed = {
            table: {**getattr(self.config.jira, table), **chosen}
            for table, chosen in self.choices.items()
            if chosen
        }
        if not changed:
            self.notify("nothing chosen yet")
            return
        if not self.config.source or self.config.source.startswith("<"):
            self.notify("this console has no config file to save into", severity="error")
            return
        self.save(changed)

    def action_rescan(self) -> None:
        self.query_one("#jira-map-status", Static).update("reading JIRA…")
        self.survey()

    def _wait_unless_closed(self, seconds: float) -> None:
        # The client's retries can wait minutes on an unreachable JIRA; a closed screen
        # (or `jira-migrate --map` quitting) must not wait for them.
        if self._leaving.wait(seconds):
            raise PmbError("the mapping screen was closed")

    def on_unmount(self) -> None:
        self._leaving.set()

    def action_close(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.query_one(Input).remove_class("editing")
            self.query_one(DataTable).focus()
            return
        self._leaving.set()
        self.dismiss(self.saved)


class JiraMappingApp(App[bool]):
    """`pmb-console jira-migrate --map` on a terminal: the mapping screen on its own."""

    TITLE = "pmb-console: JIRA mapping"

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config

    def on_mount(self) -> None:
        self.push_screen(JiraMappingScreen(self.config), lambda saved: self.exit(bool(saved)))


def run_mapping_screen(config: Config) -> bool:
    """Open the mapping screen in this terminal; True when choices were saved."""
    return bool(JiraMappingApp(config).run())
