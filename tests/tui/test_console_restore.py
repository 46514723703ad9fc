"""Restore through the console: a snapshot picked by age and size, the environment name typed.

Real PostgreSQL (pg_dump/pg_restore) and a real HAProxy; a wrong name changes nothing.
"""

from __future__ import annotations

import json

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.fixtures.postgres import DSN_ENV
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

pytestmark = [pytest.mark.haproxy, pytest.mark.postgres]


@pytest.fixture
def db_services(console_services, pg_database, tmp_path, monkeypatch):
    monkeypatch.setenv(DSN_ENV, pg_database.url)
    pg_database.execute("CREATE TABLE issues (id int PRIMARY KEY, title text)")
    pg_database.execute("INSERT INTO issues VALUES (1, 'before the snapshot')")
    extra = f"""
[database]
provider = "pg_dump"
dsn_env = "{DSN_ENV}"
connect_timeout = 3
[database.pg_dump]
backup_dir = {json.dumps(str(tmp_path / "backups"))}
"""
    services = console_services(extra=extra)
    taken = services.runner.run(SnapshotAction("before the release"), Confirmation.yes())
    assert taken.status == "succeeded", taken.message
    pg_database.execute("INSERT INTO issues VALUES (2, 'after the snapshot')")
    return services


async def restore_with(pilot, typed: str) -> str:
    app = pilot.app
    await pilot.press("R")
    await until(pilot, lambda: "before the release" in screen_text(app), what="the snapshot picker")
    text = screen_text(app)
    assert " old" in text and "KB" in text, "the picker shows each snapshot's age and size"
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
    assert "Type production to confirm" in screen_text(app)
    await armed_confirmation(pilot)
    await pilot.press("shift+tab", *typed, "enter")
    await until(
        pilot,
        lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
        what="the outcome",
    )
    outcome = screen_text(app)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
    return outcome


async def test_restore_refuses_a_wrong_name_then_restores_with_the_right_one(
    db_services, pg_database
):
    app = PmbConsoleApp(db_services, clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        outcome = await restore_with(pilot, "staging")
        assert "environment name typed does not match" in outcome
        assert pg_database.scalar("SELECT count(*) FROM issues") == 2, (
            "a wrong name must change nothing"
        )

        outcome = await restore_with(pilot, "production")
        assert "DONE AND VERIFIED" in outcome
    assert pg_database.rows("SELECT id FROM issues ORDER BY id") == [(1,)]
    outcomes = [r["outcome"] for r in db_services.audit.records() if r["action"] == "restore"]
    assert "not-confirmed" in outcomes and outcomes[-1] == "succeeded"
