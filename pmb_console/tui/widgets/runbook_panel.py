"""The runbook panel: RUNBOOK.md's checklist and steps, each with its state.

The highlighted item is the one `c` signs off. States come down from the screen; the
panel only draws them, rewriting just the rows whose state changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pmb_console.tui.runbook_view import DONE, FAILED, ITEMS, PENDING, RUNNING, SECTIONS, SKIPPED

STATE_MARK = {PENDING: "○", RUNNING: "◔", DONE: "✔", FAILED: "✘", SKIPPED: "–"}
STATE_STYLE = {PENDING: "", RUNNING: "bold", DONE: "", FAILED: "bold reverse", SKIPPED: "dim"}


def item_prompt(title: str, state: str) -> Text:
    return Text.assemble(
        (f"{STATE_MARK[state]} ", STATE_STYLE[state]),
        (title, STATE_STYLE[state]),
        (f"  {state}" if state not in (PENDING, DONE) else "", "italic"),
    )


class RunbookPanel(OptionList):
    """§1 checklist, §2 deployment and §3 rollback, with pending/running/done/failed/skipped."""

    states: reactive[dict[str, str]] = reactive(dict, init=False, repaint=False)
    """item id → state."""

    def __init__(self, *, id: str | None = None) -> None:
        options: list[Option | None] = []
        section = ""
        for item in ITEMS:
            if item.section != section:
                section = item.section
                options.append(
                    Option(
                        Text(SECTIONS[section], style="bold underline"),
                        id=f"section-{section}",
                        disabled=True,
                    )
                )
            options.append(Option(item_prompt(item.title, PENDING), id=item.id))
        super().__init__(*options, id=id)
        self._drawn: dict[str, str] = {item.id: PENDING for item in ITEMS}

    def on_mount(self) -> None:
        self.highlighted = 1

    def watch_states(self, states: dict[str, str]) -> None:
        for item in ITEMS:
            state = states.get(item.id, PENDING)
            if self._drawn.get(item.id) != state:
                self._drawn[item.id] = state
                self.replace_option_prompt(item.id, item_prompt(item.title, state))

    def selected_item(self) -> str | None:
        """The id of the highlighted runbook item, or None."""
        if self.highlighted is None:
            return None
        option = self.get_option_at_index(self.highlighted)
        if option.id is None or option.id.startswith("section-"):
            return None
        return option.id
