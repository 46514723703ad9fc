"""Small pickers: the switch target and weight, a snapshot to restore, a color, a filter."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from pmb_console.providers.base import SnapshotInfo


class PickerScreen(ModalScreen[Any]):
    """A titled list; Enter picks, Escape cancels."""

    CSS_PATH = "choosers.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker-cancel")]

    def __init__(
        self, title: str, choices: list[tuple[str, Any]], *, empty: str = "nothing to choose"
    ) -> None:
        super().__init__()
        self.picker_title = title
        self.choices = choices
        self.empty = empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker"):
            yield Static(self.picker_title, classes="picker-title")
            if self.choices:
                yield OptionList(
                    *[Option(label, id=str(i)) for i, (label, _) in enumerate(self.choices)]
                )
            else:
                yield Static(self.empty, classes="picker-empty")
            yield Static("enter: choose · escape: cancel", classes="picker-hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[int(event.option.id or 0)][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


def switch_choices(
    weights: dict[str, int] | None, steps: list[int]
) -> list[tuple[str, tuple[str, int]]]:
    """Full switches first, then each weight step, for the color that is not fully live."""
    choices = []
    ordered = sorted({*(s for s in steps if 0 < s <= 100), 100}, reverse=True)
    for target in ("green", "blue"):
        if weights is not None and weights.get(target, 0) == 100:
            continue  # already all there; offering it would be a no-op
        for weight in ordered:
            words = (
                f"all traffic to {target}" if weight == 100 else f"{weight}% of traffic to {target}"
            )
            choices.append((words, (target, weight)))
    return choices


def _age(created: float, now: float) -> str:
    hours = (now - created) / 3600
    return (
        f"{hours * 60:.0f} min old"
        if hours < 1
        else f"{hours:.1f} h old"
        if hours < 48
        else f"{hours / 24:.0f} days old"
    )


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"


def snapshot_choices(
    snapshots: list[SnapshotInfo], now: float | None = None
) -> list[tuple[str, str]]:
    now = time.time() if now is None else now
    return [
        (
            f"{s.id}  {s.label or s.kind}  {_age(s.created_at.timestamp(), now)}  {_size(s.size_bytes)}",
            s.id,
        )
        for s in snapshots
    ]


class AskScreen(ModalScreen[bool]):
    """A yes/no question with No focused."""

    CSS_PATH = "choosers.tcss"
    BINDINGS = [Binding("escape", "no", "No", id="ask-no")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker"):
            yield Static(self.question, classes="picker-title")
            yield Button("No", id="no", variant="primary")
            yield Button(self.yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)


class TextPromptScreen(ModalScreen[str | None]):
    """One line of text (the log filter); Enter answers, Escape cancels."""

    CSS_PATH = "choosers.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt-cancel")]

    def __init__(
        self, title: str, value: str = "", check: Callable[[str], str] | None = None
    ) -> None:
        super().__init__()
        self.prompt_title = title
        self.value = value
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker"):
            yield Static(self.prompt_title, classes="picker-title")
            yield Input(self.value, id="prompt-input")
            yield Static("", classes="picker-hint", id="prompt-problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.check(event.value) if self.check else ""
        if problem:
            self.query_one("#prompt-problem", Static).update(problem)
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
