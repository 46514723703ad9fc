"""Signing off a checklist item by hand: the reason, in words, before anything is recorded.

The sign-off itself (`pmb_console.actions.checklist.sign_off`) records the operator, the
release and the reason in the audit log; an empty reason is refused here, as there.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class SignOffScreen(ModalScreen[str | None]):
    """Asks why the operator vouches for an item; returns the reason, or None when cancelled."""

    CSS_PATH = ["choosers.tcss", "signoff.tcss"]
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="signoff-cancel")]

    def __init__(self, title: str, detail: str = "", release: str = "") -> None:
        super().__init__()
        self.item_title = title
        self.detail = detail
        self.release = release

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker", id="signoff-dialog"):
            yield Static(f"Sign off: {self.item_title}", classes="picker-title")
            if self.detail:
                yield Static(f"the check says: {self.detail}", id="signoff-detail", markup=False)
            yield Static(
                f"Why do you vouch for it{' for ' + self.release if self.release else ''}? "
                "(recorded with your name)",
                id="signoff-question",
            )
            yield Input(placeholder="what you checked by hand", id="signoff-reason")
            yield Static(
                "enter: sign off · escape: cancel", classes="picker-hint", id="signoff-problem"
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        reason = event.value.strip()
        if not reason:
            self.query_one("#signoff-problem", Static).update(
                "a sign-off needs a reason: say what you checked"
            )
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
