"""The one confirmation screen every mutating action passes through.

It shows the plan and the guards as read just now. Cancel has the focus; a destructive
action needs the environment name typed; a confirmation within 300 ms of opening is
ignored, so a held or repeated key cannot confirm by accident.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from pmb_console.actions.base import Confirmation
from pmb_console.actions.runner import Preview
from pmb_console.config import is_production

ARMING_DELAY_S = 0.3
"""A confirmation sooner than this after the screen opens is a held key, not a decision."""


def guard_lines(preview: Preview) -> Text:
    text = Text()
    for guard in preview.guards:
        mark, style = ("✔ pass", "bold") if guard.ok else ("✘ FAIL", "bold reverse")
        text.append(f"{mark} ", style=style)
        text.append(f"{guard.name}", style="bold")
        text.append(f" — {guard.detail}\n")
    if not preview.guards:
        text.append("no guards for this action\n", style="italic")
    text.rstrip()
    return text


def plan_lines(preview: Preview) -> Text:
    text = Text(preview.plan.summary + "\n", style="bold")
    for number, step in enumerate(preview.plan.steps, start=1):
        text.append(f"  {number}. {step}\n")
    text.rstrip()
    return text


class ConfirmScreen(ModalScreen[Confirmation | None]):
    """Plan, guards, Cancel (focused) and Confirm; returns a Confirmation or None."""

    CSS_PATH = "confirm.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm-cancel")]

    def __init__(
        self,
        *,
        title: str,
        environment: str,
        preview: Preview,
        destructive: bool,
        production: bool | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.action_title = title
        self.environment = environment
        self.production = is_production(environment, production)
        """Drawn in the production style: [console] production, else the environment's name."""
        self.preview = preview
        self.destructive = destructive
        self.monotonic = monotonic
        self.opened_at: float | None = None  # set when the screen is on view

    @property
    def armed(self) -> bool:
        """Whether a confirmation now would count (mounted, and past the arming delay)."""
        opened_at = self.opened_at
        return opened_at is not None and self.monotonic() - opened_at >= ARMING_DELAY_S

    def compose(self) -> ComposeResult:
        refused = bool(self.preview.failed)
        with Vertical(id="dialog", classes="-production" if self.production else ""):
            yield Static(f"{self.action_title} — {self.environment.upper()}", id="confirm-title")
            with VerticalScroll(id="confirm-body"):
                yield Static("Plan", classes="confirm-heading")
                yield Static(plan_lines(self.preview), id="confirm-plan")
                yield Static("Guards (read just now)", classes="confirm-heading")
                yield Static(guard_lines(self.preview), id="confirm-guards")
                if refused:
                    names = ", ".join(g.name for g in self.preview.failed)
                    yield Static(
                        f"REFUSED: a guard failed ({names}). Fix it, then try again.",
                        id="confirm-refused",
                    )
            if self.destructive and not refused:
                yield Static(
                    f"This cannot be undone. Type {self.environment} to confirm:",
                    id="confirm-type-label",
                )
                yield Input(placeholder=self.environment, id="confirm-typed")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(
                    f"Confirm {self.action_title}", id="confirm", variant="error", disabled=refused
                )

    def on_mount(self) -> None:
        self.opened_at = self.monotonic()
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "confirm":
            self._confirm()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._confirm()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _confirm(self) -> None:
        if self.preview.failed:
            return
        if not self.armed:
            return  # a held or repeated key, not a decision
        typed = self.query_one("#confirm-typed", Input).value.strip() if self.destructive else ""
        self.dismiss(Confirmation.yes(typed))
