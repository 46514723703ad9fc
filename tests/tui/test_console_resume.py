"""A console started after another one died mid-switch: it reads HAProxy back, shows the
interrupted switch, and going back (or dismissing) acts through the same guarded path.

The dead console is made as the real kill leaves it (see tests/integration/test_resume.py,
which kills the real program with SIGKILL): the runner's in-flight record and its
"started" audit record, written for a plan made against the real HAProxy, a pid that no
longer runs, and HAProxy holding the first half of the switch (green raised, blue not yet
lowered), applied through its own runtime API.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from pmb_console.actions.traffic import SwitchAction
from pmb_console.audit import now_iso
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.screens.resume import ResumeScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.fixtures.haproxy import BACKEND
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy

SIZE = (160, 45)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def leave_a_half_made_switch(services, haproxy) -> str:
    """What a console killed between the two halves of `switch --to green` leaves behind."""
    action = SwitchAction("green")
    plan = action.plan(services)
    run_id = uuid.uuid4().hex[:12]
    record = {
        "run_id": run_id,
        "params": action.params(),
        "environment": services.config.console.environment,
        "action": action.name,
        "outcome": "started",
        "plan": plan.as_dict(),
        "guards": [],
        "pid": dead_pid(),
        "operator": "other-operator",
        "time": now_iso(),
    }
    services.journal.start(record)
    services.runner.record_event(
        action.name, run_id=run_id, params=record["params"], outcome="started", plan=record["plan"]
    )
    green = next(s for s in plan.data["after"]["servers"] if s["color"] == "green")
    haproxy.command(
        f"set server {BACKEND}/{green['name']} state ready; "
        f"set server {BACKEND}/{green['name']} weight {green['weight']}"
    )
    assert haproxy.weights() == {"blue": 100, "green": 100}
    return run_id


async def resume_screen(pilot) -> ResumeScreen:
    await until(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, ResumeScreen) and "INTERRUPTED" in screen_text(pilot.app)
        ),
        what="the resume screen",
    )
    return pilot.app.screen


async def test_going_back_from_a_half_made_switch_restores_haproxys_weights(
    console_services, haproxy
):
    services = console_services()
    run_id = leave_a_half_made_switch(services, haproxy)
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = await resume_screen(pilot)
        text = screen_text(app)
        assert "INTERRUPTED: switch started" in text and "by other-operator" in text
        assert "the change is half-made: traffic reads blue 50%, green 50%" in text
        assert "traffic: live split (blue 50% · green 50%)" in text
        assert "switch green to 100% (blue 0%, green 100%)" in text  # what finishing would do
        assert "switch traffic back to blue" in text  # what going back would do
        assert app.focused is not None and app.focused.id == "dismiss"
        await pilot.press("tab", "tab", "enter")  # Dismiss → Finish → Go back
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert screen is not app.screen
        assert "blue 50%, green 50% -> blue 100%, green 0%" in screen_text(app)
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
            what="the outcome",
        )
        await until(pilot, lambda: "DONE AND VERIFIED" in screen_text(app), what="the outcome")
        await pilot.press("enter")
        await until(
            pilot, lambda: "LIVE BLUE 100% · green 0%" in screen_text(app), what="blue live again"
        )
    assert haproxy.weights() == {"blue": 100, "green": 0}
    assert set(haproxy.requests(10)) == {"blue"}
    assert services.journal.in_flight() is None
    outcomes = [r["outcome"] for r in services.audit.records() if r.get("run_id") == run_id]
    assert outcomes == ["started", "interrupted"]  # read back and recorded once, at start-up
    back = services.audit.last(
        lambda r: r.get("action") == "switch" and r.get("outcome") == "succeeded"
    )
    assert back["params"]["to"] == "blue" and back["reason"].startswith(
        "go-back the interrupted switch"
    )


async def test_dismissing_leaves_haproxy_as_read_back_and_clears_the_interruption(
    console_services, haproxy
):
    services = console_services()
    run_id = leave_a_half_made_switch(services, haproxy)
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await resume_screen(pilot)
        await pilot.press("enter")  # Dismiss has the focus
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
        await until(pilot, lambda: "left as read back" in screen_text(app), what="the notice")
        await until(pilot, lambda: "SPLIT 50/50" in screen_text(app), what="the split shown")
    assert haproxy.weights() == {"blue": 100, "green": 100}
    assert services.journal.in_flight() is None
    outcomes = [r["outcome"] for r in services.audit.records() if r.get("run_id") == run_id]
    assert outcomes == ["started", "interrupted", "dismissed"]


async def test_a_console_with_nothing_interrupted_shows_no_resume_screen(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the dashboard")
        await pilot.pause(0.5)  # the start-up read back has had its chance
        assert isinstance(app.screen, MainScreen)
