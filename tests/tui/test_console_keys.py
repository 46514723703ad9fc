"""Every key path of the console, driven through Pilot against a real HAProxy.

The screen is read as a user would (its text), and the load balancer is asked through
its own runtime API whether anything changed.
"""

from __future__ import annotations

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.choosers import TextPromptScreen
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy

SIZE = (160, 45)


def audit_outcomes(services, action: str) -> list[str]:
    return [r.get("outcome", "") for r in services.audit.records() if r.get("action") == action]


async def wait_live(pilot, words: str) -> None:
    await until(pilot, lambda: words in screen_text(pilot.app), what=f"header saying {words!r}")


async def open_confirmation(pilot) -> ConfirmScreen:
    await until(
        pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the confirmation screen"
    )
    return pilot.app.screen


async def confirm(pilot) -> None:
    """Wait past the arming delay, move from Cancel to Confirm, press it."""
    await armed_confirmation(pilot)
    await pilot.press("tab", "enter")


async def finished_run(pilot) -> str:
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, RunProgressScreen) and pilot.app.screen.done,
        what="the action's outcome",
    )
    return screen_text(pilot.app)


async def test_switch_confirmed_moves_haproxy_and_shows_the_outcome(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE 100% · green 0%")
        await pilot.press("s")
        await until(
            pilot, lambda: "all traffic to green" in screen_text(app), what="the switch chooser"
        )
        await pilot.press("enter")
        screen = await open_confirmation(pilot)
        text = screen_text(app)
        assert "blue 100%, green 0% -> blue 0%, green 100%" in text
        assert "✔ pass" in text
        assert app.focused is not None and app.focused.id == "cancel"
        await confirm(pilot)
        outcome = await finished_run(pilot)
        assert "DONE AND VERIFIED" in outcome
        assert haproxy.weights() == {"blue": 0, "green": 100}
        await pilot.press("enter")  # close the outcome
        await wait_live(pilot, "LIVE GREEN 100% · blue 0%")
        assert isinstance(app.screen, MainScreen)
        assert screen is not app.screen
    assert audit_outcomes(services, "switch")[-1] == "succeeded"


async def test_switch_to_a_weight_step_splits_traffic(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("s")
        await until(
            pilot, lambda: "10% of traffic to green" in screen_text(app), what="weight steps"
        )
        await pilot.press("down", "down", "down", "enter")  # 100, 50, 25, then 10
        await open_confirmation(pilot)
        assert "blue 90%, green 10%" in screen_text(app)
        await confirm(pilot)
        assert "DONE AND VERIFIED" in await finished_run(pilot)
        await pilot.press("enter")
        await wait_live(pilot, "SPLIT 90/10")
    rows = haproxy.weights()
    assert rows["green"] > 0 and rows["blue"] > rows["green"]


async def test_switch_cancelled_changes_nothing(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("s", "enter")
        await open_confirmation(pilot)
        await armed_confirmation(pilot)
        await pilot.press("enter")  # Cancel has the focus
        await until(
            pilot, lambda: isinstance(app.screen, MainScreen), what="back on the main screen"
        )
        await until(
            pilot,
            lambda: "not-confirmed" in audit_outcomes(services, "switch"),
            what="audit record",
        )
    assert haproxy.weights() == {"blue": 100, "green": 0}


async def test_a_confirmation_within_300_ms_is_ignored(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    now = [1000.0]
    app.monotonic = lambda: now[0]  # time stands still until the test moves it
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("s", "enter")
        screen = await open_confirmation(pilot)
        now[0] += 0.29
        await pilot.press("tab", "enter")  # a held key, 290 ms after the screen opened
        await pilot.pause(0.1)
        assert app.screen is screen, "a confirmation inside 300 ms must be ignored"
        assert haproxy.weights() == {"blue": 100, "green": 0}
        now[0] += 0.02
        await pilot.pause(0.25)  # the button's own press animation ignores a press inside 0.2 s
        await pilot.press("enter")  # the same key, 310 ms after on the arming clock: a decision
        assert "DONE AND VERIFIED" in await finished_run(pilot)
    assert haproxy.weights() == {"blue": 0, "green": 100}


async def test_a_failing_guard_refuses_and_says_why(console_services, haproxy, color_servers):
    color_servers["green"].health = "fail"
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("s", "enter")
        screen = await open_confirmation(pilot)
        text = screen_text(app)
        assert "✘ FAIL" in text and "HTTP 500" in text
        assert "REFUSED: a guard failed" in text
        assert screen.query_one("#confirm").disabled
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, RunProgressScreen)
        await pilot.press("escape")
    assert haproxy.weights() == {"blue": 100, "green": 0}


async def test_read_only_greys_mutating_keys_and_refuses_them(console_services, haproxy):
    services = console_services(read_only=True)
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        assert "READ-ONLY" in screen_text(app)
        footer_keys = {key.action: key for key in app.screen.query("FooterKey")}
        for action in ("switch", "rollback", "snapshot", "migrate", "restore"):
            assert footer_keys[action].has_class("-disabled"), f"{action} should be greyed"
        assert not footer_keys["help"].has_class("-disabled")
        await pilot.press("s", "r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen), "a greyed key must not open anything"
        # The palette can still ask; the runner refuses in words and records it.
        await app.flows.guarded(
            __import__("pmb_console.actions.traffic", fromlist=["x"]).RollbackAction()
        )
        await until(
            pilot,
            lambda: "read-only" in audit_outcomes(services, "rollback"),
            what="refusal recorded",
        )
    assert haproxy.weights() == {"blue": 100, "green": 0}


async def test_rollback_returns_traffic_to_the_previous_color(console_services, haproxy):
    from pmb_console.actions.traffic import SwitchAction

    services = console_services()
    switched = services.runner.run(SwitchAction("green"), Confirmation.yes())
    assert switched.status == "succeeded", switched.message
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE GREEN 100%")
        await pilot.press("r")
        await open_confirmation(pilot)
        assert "blue was live before the switch" in screen_text(app)
        await confirm(pilot)
        outcome = await finished_run(pilot)
        assert "DONE AND VERIFIED" in outcome
        assert "state read back" in outcome
        await pilot.press("enter")
        # RUNBOOK §3 step 2 follows the rollback: the database assessment, closed to go on.
        await until(
            pilot,
            lambda: "Database after the rollback" in screen_text(app),
            what="the database assessment",
        )
        await pilot.press("escape")
        await wait_live(pilot, "LIVE BLUE 100% · green 0%")
        await until(pilot, lambda: "rollback succeeded" in screen_text(app), what="the audit feed")
    assert haproxy.weights() == {"blue": 100, "green": 0}


async def test_sign_off_records_the_highlighted_item(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("c")  # the first checklist item is highlighted
        await until(pilot, lambda: "Why do you vouch" in screen_text(app), what="the reason asked")
        await pilot.press(*"checked by hand", "enter")
        await until(
            pilot, lambda: "✔ Changes reviewed and approved" in screen_text(app), what="item done"
        )
    records = [r for r in services.audit.records() if r["action"] == "checklist-signoff"]
    assert records[-1]["item"] == "reviewed" and records[-1]["operator"] == "tester"


async def test_help_lists_every_key(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: "Keys" in screen_text(app), what="help")
        text = screen_text(app)
        for words in (
            "Move traffic",
            "Send all traffic back",
            "database snapshot",
            "migrations",
            "Restore the database",
            "smoke test",
            "Sign off",
            "Filter the log",
            "Pause or resume",
            "Command palette",
            "Quit",
        ):
            assert words in text, words
        await pilot.press("escape")


async def test_keymap_moves_a_key(console_services, haproxy):
    services = console_services(extra='[keymap]\nrollback = "ctrl+r"\n')
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await until(
            pilot, lambda: "^r Rollback" in screen_text(app).splitlines()[-1], what="footer"
        )
        await pilot.press("r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen)


async def test_smoke_test_runs_against_the_chosen_color(console_services, haproxy):
    services = console_services(extra='[smoke]\nchecks = [ { path = "/", text = "green" } ]\n')
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("t")
        await until(
            pilot, lambda: "Smoke test which color?" in screen_text(app), what="the color chooser"
        )
        await pilot.press("enter")  # green, the color about to take traffic
        await open_confirmation(pilot)
        assert "GET http://127.0.0.1:" in screen_text(app)
        await confirm(pilot)
        outcome = await finished_run(pilot)
        assert "DONE AND VERIFIED" in outcome and "1 smoke checks passed against green" in outcome
    assert haproxy.weights() == {"blue": 100, "green": 0}, "a smoke test moves no traffic"


async def test_quit_asks_first_while_an_action_runs(console_services, haproxy, color_servers):
    # The switch's health guard waits on green (for longer than a loaded machine can take
    # to deliver the next key): an action is in flight.
    color_servers["green"].health = "hang"
    services = console_services(health_timeout=20.0)
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("s", "enter")
        await until(pilot, lambda: app.busy, what="the switch reading its guards")
        await pilot.press("q")
        await until(
            pilot,
            lambda: "An action is running. Quit anyway?" in screen_text(app),
            what="the question",
        )
        await pilot.press("enter")  # "No" has the focus
        await pilot.pause(0.1)
        assert app.is_running and app.return_code is None
        color_servers["green"].release.set()
        await until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), within=15, what="the guards read"
        )
        await pilot.press("escape")
        await until(pilot, lambda: not app.busy, what="the flow ended")
        await pilot.press("q")
        await until(pilot, lambda: app.return_code == 0, what="quit at once when idle")


async def test_ctrl_c_quits_like_q(console_services):
    app = PmbConsoleApp(console_services(), clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, "LIVE BLUE")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: app.return_code == 0, what="the console to quit")


async def test_at_80_columns_the_footer_keeps_help_and_quit_and_hidden_keys_still_work(
    console_services,
):
    app = PmbConsoleApp(console_services(), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_live(pilot, "LIVE BLUE")

        def footer() -> str:  # the footer is rebuilt when a key's state changes: wait for it
            return screen_text(app).splitlines()[-1]

        await until(pilot, lambda: "Help" in footer() and "Quit" in footer(), what="the footer")
        assert "Filter" not in footer()  # left to help and the log pane's title
        assert "/ filter" in screen_text(app)
        await pilot.press("slash")
        await until(
            pilot, lambda: isinstance(app.screen, TextPromptScreen), what="the filter prompt"
        )
