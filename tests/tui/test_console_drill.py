"""A restore drill started from the console's backup view (RUNBOOK §4), against a real
PostgreSQL: the newest snapshot restored into a scratch database through the guarded
flow, the drill's phases on screen, and the production database untouched."""

from __future__ import annotations

import json

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.backups import BackupsScreen
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from tests.fixtures.postgres import DSN_ENV
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until
from tests.tui.test_console_runbook_restore import finished

pytestmark = [pytest.mark.haproxy, pytest.mark.postgres]

TARGET_ENV = "PMB_TEST_CONSOLE_DRILL_URL"


async def test_d_in_the_backup_view_drills_the_newest_snapshot_into_the_scratch_database(
    console_services, pg_database, pg_drill_target, tmp_path, monkeypatch
):
    monkeypatch.setenv(DSN_ENV, pg_database.url)
    monkeypatch.setenv(TARGET_ENV, pg_drill_target.url)
    pg_database.execute(
        "CREATE TABLE issues (id int PRIMARY KEY, title text);"
        "INSERT INTO issues SELECT g, 'issue ' || g FROM generate_series(1, 300) g;"
    )
    services = console_services(
        extra=f"""
[database]
provider = "pg_dump"
dsn_env = "{DSN_ENV}"
connect_timeout = 3
[database.pg_dump]
backup_dir = {json.dumps(str(tmp_path / "backups"))}
[database.drill]
target_dsn_env = "{TARGET_ENV}"
smoke_query = "SELECT count(*) = 300 FROM issues"
"""
    )
    taken = services.runner.run(SnapshotAction("before the drill"), Confirmation.yes())
    assert taken.status == "succeeded", taken.message
    snapshot_id = taken.result["snapshot_id"]

    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: "LIVE" in screen_text(app), what="the dashboard")
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, BackupsScreen), what="the backup view")
        await until(
            pilot, lambda: "no restore drill has run yet" in screen_text(app), what="no drills"
        )
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        text = screen_text(app)
        assert f"restore drill: snapshot {snapshot_id}" in text
        assert "drill target is not production" in text and "✘ FAIL" not in text
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        outcome = await finished(pilot)
        assert "DONE AND VERIFIED" in outcome
        assert f"snapshot {snapshot_id} restored and checked" in outcome
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")

        await pilot.press("B")  # the drill is now in the view's record
        await until(
            pilot,
            lambda: isinstance(app.screen, BackupsScreen) and "pass" in screen_text(app),
            what="the drill in the backup view",
        )
    assert pg_drill_target.rows("SELECT count(*) FROM issues") == [(300,)]
    assert pg_database.rows("SELECT count(*) FROM issues") == [(300,)]
    drill = services.audit.last(lambda r: r.get("action") == "drill")
    assert drill["outcome"] == "succeeded" and drill["params"]["snapshot_id"] is None


async def test_a_drill_without_a_target_says_which_key_to_set_brackets_and_all(
    console_services, pg_database, tmp_path, monkeypatch
):
    """Errors name config keys in brackets; a notification must show them as written."""
    monkeypatch.setenv(DSN_ENV, pg_database.url)
    pg_database.execute("CREATE TABLE issues (id int PRIMARY KEY)")
    services = console_services(
        extra=f"""
[database]
provider = "pg_dump"
dsn_env = "{DSN_ENV}"
[database.pg_dump]
backup_dir = {json.dumps(str(tmp_path / "backups"))}
"""
    )
    taken = services.runner.run(SnapshotAction("before the drill"), Confirmation.yes())
    assert taken.status == "succeeded", taken.message
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await until(pilot, lambda: "LIVE" in screen_text(app), what="the dashboard")
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, BackupsScreen), what="the backup view")
        await pilot.press("D")
        await until(
            pilot,
            lambda: "no drill target is configured" in screen_text(app),
            what="the error notification",
        )
        assert "set [database.drill] target_dsn_env" in screen_text(app)
    assert services.audit.last(lambda r: r.get("action") == "drill") is None


async def test_notifications_show_bracketed_config_keys_as_written(console_services):
    """Hints name keys like "[aws] profile"; read as markup, "[aws]" vanished (and a stray
    "[/x]" raised). The console's notifications are plain text."""
    app = PmbConsoleApp(console_services(), clock=fixed_clock)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await until(pilot, lambda: "LIVE" in screen_text(app), what="the dashboard")
        app.notify("set [aws] profile, or [/x] the region", title="cannot read traffic")
        await until(
            pilot,
            lambda: "set [aws] profile, or [/x] the region" in screen_text(app),
            what="the notification as written",
        )
