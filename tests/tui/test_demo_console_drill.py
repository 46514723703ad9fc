"""A restore drill on the plain demo (no PostgreSQL), from the console's backup view:
B then D drills the newest demo snapshot into a scratch copy through the guarded flow,
and the drill appears in the view's record."""

from __future__ import annotations

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.bootstrap import bootstrap
from pmb_console.demo.controls import GameDay
from pmb_console.demo.snapshots import row_counts
from pmb_console.demo.stack import DemoStack
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.backups import BackupsScreen
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until
from tests.tui.test_console_runbook_restore import finished


@pytest.fixture
def demo():
    with DemoStack() as stack:
        services = bootstrap(stack.config())
        services.snapshots.pace = (0.3, 0.5)
        game_day = GameDay(stack, record=services.runner.record_event)
        try:
            yield stack, services, game_day
        finally:
            game_day.close()
            services.close()


async def test_b_then_d_drills_the_newest_demo_snapshot_into_a_scratch_copy(demo):
    stack, services, game_day = demo
    taken = services.runner.run(SnapshotAction("before the drill"), Confirmation.yes())
    assert taken.status == "succeeded", taken.message
    snapshot_id = taken.result["snapshot_id"]
    live = services.snapshots.database.read_bytes()

    app = PmbConsoleApp(services, demo=game_day, clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: "DEMO" in screen_text(app), what="the demo dashboard")
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, BackupsScreen), what="the backup view")
        await until(
            pilot, lambda: "no restore drill has run yet" in screen_text(app), what="no drills"
        )
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        text = screen_text(app)
        assert f"restore drill: snapshot {snapshot_id} into the scratch copy" in text
        assert "drill target is not the live database" in text and "✘ FAIL" not in text
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        outcome = await finished(pilot)
        assert "DONE AND VERIFIED" in outcome, outcome
        assert f"snapshot {snapshot_id} restored and checked" in outcome
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")

        await pilot.press("B")  # the drill is now in the view's record
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, BackupsScreen)
                and snapshot_id in screen_text(app)
                and "pass" in screen_text(app)
            ),
            what="the drill in the backup view",
        )
    assert services.snapshots.database.read_bytes() == live
    assert row_counts(services.snapshots.drill_target)["issues"] == 2000
    drill = services.audit.last(lambda r: r.get("action") == "drill")
    assert drill["outcome"] == "succeeded"
