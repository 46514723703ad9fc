"""The log tail inside the console: `/` filters, `space` pauses and resumes, from a real file."""

from __future__ import annotations

import pytest

from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.choosers import TextPromptScreen
from pmb_console.tui.screens.main import MainScreen
from tests.tui.conftest import fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy


def append(path, *lines: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in lines))


def logs_text(app) -> str:
    return screen_text(app) if isinstance(app.screen, MainScreen) else ""


async def test_filter_and_pause_the_log_tail(console_services, haproxy, tmp_path):
    log = tmp_path / "green.log"
    log.write_text("")
    services = console_services(log_file=log)
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        # Like tail -F, a file source follows what is written once it has opened the file,
        # which on a loaded machine may take a while: a marker is written until it shows.
        for _ in range(40):
            append(log, "GET /ready 200 1ms")
            await pilot.pause(0.25)
            if "GET /ready 200" in logs_text(app):
                break
        append(
            log, "GET /boards 200 12ms", "GET /issues 500 upstream timeout", "GET /health 200 1ms"
        )
        await until(
            pilot, lambda: "GET /boards 200" in logs_text(app), what="the file's lines in the tail"
        )

        await pilot.press("slash")
        await until(
            pilot, lambda: isinstance(app.screen, TextPromptScreen), what="the filter prompt"
        )
        await pilot.press(*"500", "enter")
        await until(pilot, lambda: "GET /boards" not in logs_text(app), what="the filter applied")
        assert "GET /issues 500 upstream timeout" in logs_text(app)

        await pilot.press("space")
        await pilot.pause(0.2)
        append(log, "POST /issues 500 while paused")
        await until(pilot, lambda: "PAUSED · 1 lines held" in logs_text(app), what="held count")
        assert "POST /issues 500 while paused" not in logs_text(app)

        await pilot.press("space")
        await until(
            pilot, lambda: "POST /issues 500 while paused" in logs_text(app), what="resumed"
        )
