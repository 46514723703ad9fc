"""The demo console through Pilot: a living stack, a switch, a game-day fault, a rollback.

The figures are read from the screen as a user reads them, and they come from the demo
instances' real /metrics through the console's own metrics source.
"""

from __future__ import annotations

import re

import pytest

from pmb_console.bootstrap import bootstrap
from pmb_console.demo.controls import GameDay
from pmb_console.demo.stack import DemoStack
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

SIZE = (160, 45)
RPS = re.compile(r"requests/s\s+([\d.]+)")


def rps(app) -> dict[str, float]:
    """requests/s of each pane, as printed (blue's pane is on the left)."""
    found = [float(v) for v in RPS.findall(screen_text(app))]
    return dict(zip(("blue", "green"), found, strict=False)) if len(found) == 2 else {}


def carries(app, color: str) -> bool:
    figures = rps(app)
    other = "green" if color == "blue" else "blue"
    return bool(figures) and figures[color] > 5 * max(figures[other], 0.1)


async def run_confirmed(pilot, key: str, choose: bool = False) -> str:
    """Press an action's key, confirm it, and return the outcome screen's text."""
    app = pilot.app
    await pilot.press(key)
    if choose:
        await until(pilot, lambda: "all traffic to green" in screen_text(app), what="the chooser")
        await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
    await armed_confirmation(pilot)
    await pilot.press("tab", "enter")
    await until(
        pilot,
        lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
        what="the outcome",
    )
    text = screen_text(app)
    await pilot.press("enter")
    return text


@pytest.fixture
def demo():
    with DemoStack() as stack:
        services = bootstrap(stack.config())
        game_day = GameDay(stack, record=services.runner.record_event)
        try:
            yield stack, services, game_day
        finally:
            game_day.close()
            services.close()


async def test_demo_console_switch_fault_and_rollback(demo):
    stack, services, game_day = demo
    app = PmbConsoleApp(services, demo=game_day, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "DEMO" in screen_text(app), what="DEMO in the header")
        await until(
            pilot,
            lambda: rps(app).get("green", 0) > 0 and carries(app, "blue"),
            within=3,
            what="both panes with requests/s, blue live",
        )
        assert "LIVE BLUE 100%" in screen_text(app)

        outcome = await run_confirmed(pilot, "s", choose=True)
        assert "DONE AND VERIFIED" in outcome
        await until(
            pilot, lambda: carries(app, "green"), within=6, what="green's pane taking the load"
        )

        await pilot.press("1")  # error spike into green (the color faults go to by default)
        await until(
            pilot, lambda: "green: error-spike" in screen_text(app), within=2, what="the banner"
        )
        await until(
            pilot,
            lambda: "BREACH error rate" in screen_text(app),
            within=2.5,
            what="green's error rate over its threshold within two polls",
        )

        outcome = await run_confirmed(pilot, "r")
        assert "DONE AND VERIFIED" in outcome
        # The database assessment follows a rollback (RUNBOOK §3 step 2); closed to go on.
        await until(
            pilot, lambda: "Database after the rollback" in screen_text(app), what="the assessment"
        )
        await pilot.press("escape")
        await until(
            pilot, lambda: carries(app, "blue"), within=6, what="blue's pane taking the load back"
        )
        assert "LIVE BLUE 100%" in screen_text(app)

        await pilot.press("0")
        await until(
            pilot,
            lambda: "error-spike" not in screen_text(app),
            within=2,
            what="the banner cleared",
        )
        assert stack.faults.of("green").active == []
    outcomes = [(r["action"], r.get("outcome")) for r in services.audit.records()]
    assert ("switch", "succeeded") in outcomes and ("rollback", "succeeded") in outcomes
