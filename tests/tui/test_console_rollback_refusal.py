"""A rollback with nothing to go back to is refused in words that read right in the console."""

from __future__ import annotations

import pytest

from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from tests.tui.conftest import fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy


def dialog_words(app: PmbConsoleApp) -> str:
    """The words inside the confirmation's box, as one line: wrapping and borders left out."""
    box = app.screen.query_one("#dialog").region
    rows = screen_text(app).splitlines()[box.y + 1 : box.bottom - 1]
    return " ".join(" ".join(row[box.x + 1 : box.right - 1].split()) for row in rows)


async def test_rollback_without_history_names_the_switch_key(console_services, haproxy):
    app = PmbConsoleApp(console_services(), clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
        # The key is greyed with nothing to roll back to; a reading a moment behind the
        # audit log still lets the flow start, and the guard then says why in these words.
        app.screen.action_rollback()
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.pause(0.1)
        words = dialog_words(app)
        assert (
            "✘ FAIL rollback target — the audit log holds no verified switch or rollback" in words
        )
        assert "switch traffic to the color you want instead (s in the console" in words
        assert "use `switch --to" not in words  # command-line words, inside the console
        await pilot.press("escape")
    assert haproxy.weights() == {"blue": 100, "green": 0}
