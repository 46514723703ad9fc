"""Every key and what it does, as bound right now (after the [keymap] section)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pmb_console.tui.keys import KEYS, key_display


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close", id="help-close"),
        Binding("question_mark", "close", "Close", show=False, id="help-close-2"),
    ]

    def __init__(
        self,
        keymap: dict[str, str],
        demo_keys: list[tuple[str, str]] | None = None,
        refusals: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.keymap = keymap
        self.demo_keys = demo_keys or []
        self.refusals = refusals or {}
        """Key id -> why that key is greyed now (what the footer cannot say)."""

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("what it does")
        for key in KEYS:
            bound = self.keymap.get(key.id, key.key)
            why = self.refusals.get(key.id, "")
            note = f" (refused: {why})" if why else ""
            table.add_row(key_display(bound), Text(key.help + note))  # a lock's reason is no markup
        table.add_row("ctrl+p", "Command palette: every action and every theme")
        table.add_row("escape", "Close a dialog; Cancel in a confirmation")
        with Vertical(id="help-dialog"):
            yield Static("Keys", classes="help-title")
            with VerticalScroll():
                yield Static(table)
                if self.demo_keys:
                    demo = Table(box=None, show_header=False, padding=(0, 2))
                    demo.add_column("key", style="bold", no_wrap=True)
                    demo.add_column("what it does")
                    for bound, words in self.demo_keys:
                        demo.add_row(bound, words)
                    yield Static("Demo", classes="help-title")
                    yield Static(demo)
            yield Static(
                'Keys can be moved in the config: [keymap] rollback = "ctrl+r"',
                classes="help-hint",
                markup=False,
            )

    def action_close(self) -> None:
        self.dismiss(None)
