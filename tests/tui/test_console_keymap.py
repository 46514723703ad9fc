"""[keymap] mistakes said at console start: an unknown binding id, and two actions on one
key (the remap is then not applied, so each key keeps one meaning)."""

from __future__ import annotations

import pytest

from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.choosers import PickerScreen
from pmb_console.tui.screens.main import MainScreen
from tests.tui.conftest import fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy


async def test_an_unknown_id_and_a_collision_are_said_and_the_collision_not_bound(
    console_services,
):
    services = console_services(
        extra='[keymap]\nrolback = "ctrl+r"\nrollback = "s"\nsmoke = "ctrl+t"\n'
    )
    app = PmbConsoleApp(services, clock=fixed_clock, poll=False)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
        await until(
            pilot,
            lambda: "[keymap] rolback: no such key id" in screen_text(app),
            what="the unknown id named",
        )
        await until(
            pilot,
            lambda: "[keymap] rollback: s is also switch's key; rollback stays" in screen_text(app),
            what="the collision named",
        )
        # The warnings stay up until dismissed: nobody should learn of them mid-incident.
        assert all(n.timeout >= 3600 for n in app._notifications)
        footer = screen_text(app).splitlines()[-1]
        assert "r Rollback" in footer and "s Switch" in footer and "^t Smoke" in footer
        await pilot.press("s")  # still the switch: it asks for the color
        await until(pilot, lambda: isinstance(app.screen, PickerScreen), what="the color picker")
