"""At start-up, an action a dead console left in flight: what the systems now say, and a choice.

The finding comes from the runbook engine (`pmb_console.recovery.find_interrupted`),
which read every system back first. Dismiss has the focus: leaving things as they are
is the choice that changes nothing. Finish and go back run through the guarded flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

if TYPE_CHECKING:
    from pmb_console.recovery import Interrupted

FINISH, GO_BACK, DISMISS = "finish", "go-back", "dismiss"


def finding_lines(found: Interrupted) -> Text:
    text = Text()
    text.append("What the systems say now\n", style="bold underline")
    text.append(f"{found.finding}\n")
    traffic = found.systems.get("traffic")
    if traffic:
        weights = traffic.get("weights", {})
        text.append(
            f"traffic: live {traffic.get('live')} (blue {weights.get('blue')}% · "
            f"green {weights.get('green')}%)\n"
        )
    for error in found.systems.get("errors", []):
        text.append(f"could not read: {error}\n", style="bold")
    for difference in found.differences[:5]:
        text.append(f"differs from the plan: {difference}\n")
    text.append("\nFinish\n", style="bold underline")
    text.append(f"{found.finish_words or 'not offered'}\n")
    text.append("\nGo back\n", style="bold underline")
    text.append(f"{found.go_back_words or 'not offered'}")
    return text


class ResumeScreen(ModalScreen[str | None]):
    """The interrupted action and three buttons; returns finish, go-back or dismiss (None: later)."""

    CSS_PATH = ["choosers.tcss", "resume.tcss"]
    BINDINGS = [Binding("escape", "later", "Decide later", id="resume-later")]

    def __init__(self, found: Interrupted) -> None:
        super().__init__()
        self.found = found

    def compose(self) -> ComposeResult:
        found = self.found
        with Vertical(classes="picker", id="resume-dialog"):
            yield Static(found.headline(), classes="picker-title", id="resume-headline")
            with VerticalScroll(id="resume-body"):
                yield Static(finding_lines(found), id="resume-finding")
            with Horizontal(id="resume-buttons"):
                yield Button("Dismiss", id=DISMISS, variant="primary")
                yield Button(
                    "Finish it…", id=FINISH, variant="warning", disabled=found.finish is None
                )
                yield Button(
                    "Go back…", id=GO_BACK, variant="warning", disabled=found.go_back is None
                )
            yield Static(
                "dismiss: leave the systems as they are and clear the interruption · "
                "escape: decide later",
                classes="picker-hint",
            )

    def on_mount(self) -> None:
        self.query_one(f"#{DISMISS}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)

    def action_later(self) -> None:
        self.dismiss(None)
