"""After a rollback: does the database need restoring too, and what would a restore lose.

The answers come from the runbook engine (`pmb_console.rollback_assessment.assess`);
this screen shows them and offers the restore, which goes through the guarded flow
(the environment name typed); a read-only console greys it. Close has the focus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

if TYPE_CHECKING:
    from pmb_console.rollback_assessment import Assessment

NEEDED_WORDS = {
    "yes": "a restore is needed: the migrations break the old version",
    "no": "no restore is needed for the schema",
    "unknown": "whether a restore is needed is unknown",
}


class AssessmentScreen(ModalScreen[bool]):
    """The four answers and the restore one key away; returns True to restore."""

    CSS_PATH = ["choosers.tcss", "assessment.tcss"]
    BINDINGS = [
        Binding("escape", "close", "Close", id="assessment-close"),
        Binding("R", "restore", "Restore…", id="assessment-restore"),
    ]

    def __init__(
        self, assessment: Assessment, environment: str, *, read_only: bool = False
    ) -> None:
        super().__init__()
        self.assessment = assessment
        self.environment = environment
        self.read_only = read_only
        """The restore would be refused: greyed, so it is not offered."""

    def compose(self) -> ComposeResult:
        a = self.assessment
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column("question", style="bold", no_wrap=True)
        table.add_column("answer")
        for title, answer in [(p.title, p.answer) for p in a.parts]:
            table.add_row(title, answer)
        with Vertical(classes="picker", id="assessment-dialog"):
            yield Static(a.heading, classes="picker-title")
            with VerticalScroll(id="assessment-body"):
                yield Static(table, id="assessment-parts")
                yield Static(
                    Text(
                        f"\n=> {NEEDED_WORDS.get(a.restore_needed, a.restore_needed)}", style="bold"
                    ),
                    id="assessment-needed",
                )
                yield Static(
                    f"restore: {a.restore_words(self.environment)}", id="assessment-restore-words"
                )
            with Horizontal(id="assessment-buttons"):
                yield Button("Close", id="close", variant="primary")
                yield Button(
                    "Restore… (R)",
                    id="restore",
                    variant="error",
                    disabled=not self.check_action("restore", ()),
                )
            yield Static(
                "read-only: the restore is refused here · escape: close"
                if self.read_only
                else "R: restore through the confirmation (type the environment) · escape: close",
                classes="picker-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore" and (self.read_only or self.assessment.restore_action() is None):
            return None
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "restore":
            self.action_restore()
        else:
            self.dismiss(False)

    def action_restore(self) -> None:
        if self.check_action("restore", ()):
            self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)
