"""While an action runs: its progress; at the end: its outcome and the state read back."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static

from pmb_console.output import state_lines

STATUS_WORDS = {
    "succeeded": "DONE AND VERIFIED",
    "failed": "FAILED",
    "not-verified": "DONE BUT NOT VERIFIED",
    "refused": "REFUSED",
    "not-confirmed": "NOT CONFIRMED — nothing changed",
    "locked": "LOCKED BY ANOTHER OPERATOR",
    "read-only": "REFUSED: READ-ONLY",
    "nothing-to-do": "NOTHING TO DO",
    "interrupted": "INTERRUPTED",
    "dry-run": "DRY RUN",
}


class RunProgressScreen(ModalScreen[None]):
    """Progress of one action, then its Outcome; closes with Enter or Escape once done."""

    CSS_PATH = "run_progress.tcss"
    BINDINGS = [Binding("escape", "close", "Close", id="run-close")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.action_title = title
        self.done = False
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="run-dialog"):
            yield Static(f"{self.action_title}: running", id="run-title")
            yield ProgressBar(total=None, show_eta=False, id="run-bar")
            with VerticalScroll(id="run-body"):
                yield Static("", id="run-steps")
                yield Static("", id="run-outcome")
            yield Button("Close", id="run-close-button", disabled=True)

    def report(self, text: str, fraction: float | None) -> None:
        self.lines.append(text)
        self.query_one("#run-steps", Static).update(
            "\n".join(f"· {line}" for line in self.lines[-50:])
        )
        bar = self.query_one("#run-bar", ProgressBar)
        if fraction is not None:
            bar.update(total=1.0, progress=max(0.0, min(1.0, fraction)))

    def finish(self, outcome: Any) -> None:
        self.done = True
        status = STATUS_WORDS.get(outcome.status, outcome.status.upper())
        self.query_one("#run-title", Static).update(f"{self.action_title}: {status}")
        self.query_one("#run-dialog").set_class(outcome.ok, "-ok")
        self.query_one("#run-dialog").set_class(not outcome.ok, "-failed")
        bar = self.query_one("#run-bar", ProgressBar)
        bar.update(total=1.0, progress=1.0)
        text = Text(outcome.message + "\n", style="bold")
        if outcome.hint:
            text.append(f"hint: {outcome.hint}\n")
        if outcome.duration_s:  # with the verdict, above the read-back, which may be long
            text.append(f"took {outcome.duration_s:.2f} s\n", style="dim")
        if outcome.verification is not None:
            verdict = "verified" if outcome.verification.ok else "NOT verified"
            text.append(f"\n{verdict}: {outcome.verification.detail}\n")
        if outcome.state:  # verified, or read back after a failure or Ctrl+C
            text.append("\nstate read back:\n", style="underline")
            text.append(state_lines(outcome.state) + "\n")
        outcome_view = self.query_one("#run-outcome", Static)
        outcome_view.update(text)
        # After a long list of steps the verdict would sit below the fold: bring it up.
        body = self.query_one("#run-body", VerticalScroll)
        self.call_after_refresh(body.scroll_to_widget, outcome_view, animate=False, top=True)
        button = self.query_one("#run-close-button", Button)
        button.disabled = False
        button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def action_close(self) -> None:
        if self.done:
            self.dismiss(None)
        else:
            self.notify(
                "the action is still running; it cannot be abandoned half-way", severity="warning"
            )
