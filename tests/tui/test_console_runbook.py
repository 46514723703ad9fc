"""The runbook panel through Pilot, against a real HAProxy: steps the engine marks, sign-offs
with a reason, the deploy-step keys and the post-mortem file.

The screen is read as a user reads it; the audit log, the release journal and HAProxy's
runtime API say whether anything was recorded or changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pmb_console.actions.checklist import run_checklist
from pmb_console.journal import ReleaseJournal
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from pmb_console.tui.widgets.runbook_panel import RunbookPanel
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy

SIZE = (160, 45)


def panel(app: PmbConsoleApp) -> RunbookPanel:
    return app.screen.query_one(RunbookPanel)


def runbook_words(app: PmbConsoleApp) -> str:
    """The runbook panel's text as a reader takes it in: its column only, wrapped lines joined."""
    region = panel(app).region
    rows = screen_text(app).splitlines()[region.y : region.bottom]
    return " ".join(" ".join(row[region.x + 1 : region.right - 1] for row in rows).split())


async def confirm(pilot) -> None:
    await armed_confirmation(pilot)
    await pilot.press("tab", "enter")


async def test_a_switch_shows_its_step_done_and_the_window_counting_down(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: "LIVE BLUE 100%" in screen_text(app), what="blue live")
        assert "○ 5. Switch traffic" in screen_text(app)
        assert "MONITOR" not in screen_text(app)  # no window before the switch: no banner row
        await pilot.press("s")
        await until(pilot, lambda: "all traffic to green" in screen_text(app), what="the chooser")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await confirm(pilot)
        await until(
            pilot,
            lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
            what="the switch's outcome",
        )
        await pilot.press("enter")
        await until(pilot, lambda: "✔ 5. Switch traffic" in screen_text(app), what="the step done")
        text = screen_text(app)
        assert "◔ 6. Monitor  running" in text  # the switch opened the monitoring window
        await until(
            pilot, lambda: "MONITOR green watched: 59:" in screen_text(app), what="the countdown"
        )
        assert "e: extend the window" in screen_text(app)
    assert haproxy.weights() == {"blue": 0, "green": 100}
    steps = ReleaseJournal.of(services).read()["steps"]
    assert steps["switch-traffic"]["state"] == "done" and steps["switch-traffic"]["by"] == "tester"


async def test_a_sign_off_with_a_reason_is_shown_and_audited_with_the_release(
    console_services, haproxy
):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        # The checklist is checked on its own poll: with no release tag in git the review
        # and CI cannot be checked, and the panel says why under each item.
        await until(
            pilot,
            lambda: "✘ Changes reviewed and approved" in screen_text(app),
            what="the review item failed by its check",
        )
        words = runbook_words(app)
        assert (
            "✘ Changes reviewed and approved failed could not check: the release commit is unknown"
            in words
        )
        assert "✘ Release tagged in git failed tag v1.1.0 does not exist in ." in words
        await pilot.press("down")  # from the first item to the CI item
        assert panel(app).selected_item() == "ci-green"
        await pilot.press("c")
        await until(
            pilot,
            lambda: "Sign off: CI checks passed on the release commit" in screen_text(app),
            what="the sign-off dialog",
        )
        assert "for v1.1.0" in screen_text(app)
        await pilot.press("enter")  # no reason: refused, the dialog stays
        await until(pilot, lambda: "a sign-off needs a reason" in screen_text(app), what="refusal")
        await pilot.press(*"CI green on the release PR, seen by hand", "enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the dashboard")
        await until(
            pilot, lambda: "signed off by tester" in runbook_words(app), what="the item signed off"
        )
        assert (
            "✔ CI checks passed on the release commit signed off by tester "
            "why: CI green on the release PR, seen by hand"
        ) in runbook_words(app)
        assert panel(app).states["ci-green"] == "done"
    signed = [r for r in services.audit.records() if r["action"] == "checklist-signoff"]
    assert len(signed) == 1
    assert signed[0]["item"] == "ci-green" and signed[0]["operator"] == "tester"
    assert (
        signed[0]["release"] == "v1.1.0"
        and signed[0]["reason"] == "CI green on the release PR, seen by hand"
    )
    # The engine counts it: the same checklist the CLI prints says signed off, by whom.
    item = next(c for c in run_checklist(services) if c.id == "ci-green")
    assert item.status == "signed-off" and item.signed_off_by == "tester"


async def test_a_deploy_step_cannot_be_signed_off(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="blue live")
        panel(app).highlighted = panel(app).get_option_index("switch-traffic")
        await pilot.press("c")
        await until(
            pilot, lambda: "highlight a §1 checklist item" in screen_text(app), what="the refusal"
        )
        assert isinstance(app.screen, MainScreen)
    assert not [r for r in services.audit.records() if r["action"] == "checklist-signoff"]


async def test_the_palette_lists_the_deploy_steps(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="blue live")
        await pilot.press("ctrl+p")
        for name, words in (
            ("Provision", "provision command"),
            ("Deploy", "Deploy the release"),
            ("Decommission", "after the monitoring window"),
            ("Extend", "monitoring window"),
            ("Post-mortem", "post-mortem timeline"),
        ):
            await pilot.press(*name)
            await until(pilot, lambda w=words: w in screen_text(app), what=f"{name} in the palette")
            await pilot.press(*["backspace"] * len(name))


async def test_decommission_before_the_window_is_refused_by_its_guard(console_services, haproxy):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="blue live")
        await pilot.press("D")
        # The release goes to green, so the color to retire (blue) is offered first.
        await until(
            pilot, lambda: "Decommission which color?" in screen_text(app), what="the picker"
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        text = screen_text(app)
        assert "decommission a color — PRODUCTION" in text
        assert "✘ FAIL monitoring window passed" in text
        assert "✘ FAIL blue carries no traffic" in text
        assert "REFUSED: a guard failed" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the dashboard")
    assert haproxy.weights() == {"blue": 100, "green": 0}
    decommissions = [r for r in services.audit.records() if r["action"] == "decommission"]
    assert [r["outcome"] for r in decommissions] == ["refused"]


async def test_the_post_mortem_key_writes_the_timeline_to_a_file(
    console_services, haproxy, tmp_path: Path
):
    from pmb_console.actions.base import Confirmation
    from pmb_console.actions.traffic import SwitchAction

    services = console_services()
    assert services.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: "LIVE GREEN" in screen_text(app), what="green live")
        await pilot.press("P")
        folder = tmp_path / "state" / "postmortems"
        await until(pilot, lambda: folder.is_dir() and any(folder.iterdir()), what="the file")
        [written] = list(folder.iterdir())
        await until(pilot, lambda: "timeline written to" in screen_text(app), what="its path said")
        await until(pilot, lambda: "✔ 3. Post-mortem" in screen_text(app), what="the step done")
    text = written.read_text()
    assert text.startswith("# Post-mortem — ")  # the same text `pmb-console postmortem` prints
    assert "| tester | switch | succeeded |" in text
    assert "| monitoring window | opened |" in text  # from the release journal
