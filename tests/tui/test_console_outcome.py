"""The outcome screen after a change that did not go through: what the systems read back.

A real HAProxy refuses the switch (the console speaks to a runtime socket at `level
operator`, which may read weights but not change them), so the action fails half-way for
real; the operator must see where traffic is now, not only a message.
"""

from __future__ import annotations

import pytest

from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.tui.conftest import armed_confirmation, console_toml, fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy


@pytest.fixture
def read_only_socket_services(haproxy, tmp_path):
    text = console_toml(haproxy, tmp_path / "state").replace(
        haproxy.runtime_api, f"unix://{haproxy.operator_socket_path}"
    )
    path = tmp_path / "console.toml"
    path.write_text(text, encoding="utf-8")
    services = bootstrap(load_config(path))
    yield services
    services.close()


async def test_a_failed_switch_shows_what_haproxy_reads_back(read_only_socket_services, haproxy):
    app = PmbConsoleApp(read_only_socket_services, clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the header")
        await pilot.press("s")
        await until(pilot, lambda: "all traffic to green" in screen_text(app), what="the chooser")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
            what="the outcome",
        )
        outcome = screen_text(app)

    assert "FAILED" in outcome
    assert "HAProxy refused part of the change" in outcome
    read_back = outcome.split("state read back:", 1)[1]
    assert "live: blue" in read_back
    assert "blue: 100" in read_back and "green: 0" in read_back
    assert haproxy.weights() == {"blue": 100, "green": 0}
