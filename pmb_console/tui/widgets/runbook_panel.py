"""The runbook panel: RUNBOOK.md's checklist and steps, each with its state and why.

The states come from the runbook engine (`pmb_console.runbook.build_view`): the release
journal, the checklist results and the action in flight come down from the app; the
panel draws them, rewriting only the rows that changed. The highlighted item is the one
`c` signs off.
"""

from __future__ import annotations

import textwrap
from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pmb_console.runbook import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    SECTIONS,
    SKIPPED,
    StepView,
    build_view,
)

STATE_MARK = {PENDING: "○", RUNNING: "◔", DONE: "✔", FAILED: "✘", SKIPPED: "–"}
STATE_STYLE = {PENDING: "", RUNNING: "bold", DONE: "", FAILED: "bold reverse", SKIPPED: "dim"}
SIGNED_OFF = "signed-off"
WHY_LINES = 2
"""A reason longer than this is cut: the steps below it must stay on the panel."""


def item_prompt(view: StepView, signed_off_by: str = "", width: int = 0, reason: str = "") -> Text:
    """One row: mark, title and state; a failed or signed-off item says why on a second line,
    cut to `width` so a long reason never pushes the steps below off the panel."""
    state = view.state
    style = STATE_STYLE.get(state, "")
    said = (
        f"  signed off by {signed_off_by}"
        if signed_off_by
        else (f"  {state}" if state not in (PENDING, DONE) else "")
    )
    text = Text.assemble(
        (f"{STATE_MARK.get(state, '?')} ", style), (view.title, style), (said, "italic")
    )
    why = (
        f"why: {reason}"
        if signed_off_by and reason
        else (view.evidence if state == FAILED or signed_off_by else "")
    )
    if view.out_of_order:
        why = f"out of order: {view.override or 'no override recorded'}"
    if why:
        lines = textwrap.wrap(why, max(8, width - 2)) if width else [why]
        if len(lines) > WHY_LINES:
            lines = lines[:WHY_LINES]
            lines[-1] = lines[-1][: max(1, width - 3)] + "…"
        text.append("".join(f"\n  {line}" for line in lines), style="dim")
    return text


class RunbookPanel(OptionList):
    """§1 checklist, §2 deployment and §3 rollback, with pending/running/done/failed/skipped."""

    journal: reactive[dict[str, Any]] = reactive(dict, init=False, repaint=False)
    """The release journal as last read (ReleaseJournal.read())."""
    checklist: reactive[tuple[Any, ...] | None] = reactive(None, init=False, repaint=False)
    """The checklist's CheckResults from the last run, or None before the first."""
    running_action: reactive[str] = reactive("", init=False, repaint=False)
    """The action in flight from this console, whose step shows running."""

    def __init__(self, *, id: str | None = None) -> None:
        options: list[Option | None] = []
        section = ""
        self.views = build_view({})
        """The steps as last drawn."""
        for view in self.views:
            if view.section != section:
                section = view.section
                options.append(
                    Option(
                        Text(SECTIONS[section], style="bold underline"),
                        id=f"section-{section}",
                        disabled=True,
                    )
                )
            options.append(Option(item_prompt(view), id=view.id))
        super().__init__(*options, id=id)
        self._drawn: dict[str, Text] = {}

    def on_mount(self) -> None:
        self.highlighted = 1

    def watch_journal(self) -> None:
        self._redraw()

    def watch_checklist(self) -> None:
        self._redraw()

    def watch_running_action(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()  # the reasons are cut to the width

    def _redraw(self) -> None:
        checks = list(self.checklist) if self.checklist is not None else None
        self.views = build_view(self.journal, checks, self.running_action)
        signed = {c.id: c for c in checks or [] if c.status == SIGNED_OFF}
        width = self.scrollable_content_region.width
        for view in self.views:
            check = signed.get(view.id)
            # The reason is what matters once signed off; the check's detail ends with it.
            reason = check.detail.rpartition(" — signed off: ")[2] if check else ""
            by = (check.signed_off_by or "?") if check else ""
            prompt = item_prompt(view, by, width, reason)
            if self._drawn.get(view.id) != prompt:
                self._drawn[view.id] = prompt
                self.replace_option_prompt(view.id, prompt)

    @property
    def states(self) -> dict[str, str]:
        """step id → state, as drawn."""
        return {v.id: v.state for v in self.views}

    def selected_item(self) -> str | None:
        """The id of the highlighted runbook step, or None."""
        if self.highlighted is None:
            return None
        option = self.get_option_at_index(self.highlighted)
        if option.id is None or option.id.startswith("section-"):
            return None
        return option.id
