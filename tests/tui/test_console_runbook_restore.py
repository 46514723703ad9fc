"""RUNBOOK §3 through the console, against a real HAProxy and a real PostgreSQL: roll traffic
back, read the database assessment (the pre-deployment snapshot, what a restore would
lose), and restore from it with the environment name typed.
"""

from __future__ import annotations

import json

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.actions.traffic import SwitchAction
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.assessment import AssessmentScreen
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.fixtures.postgres import DSN_ENV
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

pytestmark = [pytest.mark.haproxy, pytest.mark.postgres]

SIZE = (160, 45)


@pytest.fixture
def released(console_services, pg_database, tmp_path, monkeypatch):
    """A snapshot before the release, the switch to green, then writes the release made."""
    monkeypatch.setenv(DSN_ENV, pg_database.url)
    pg_database.execute("CREATE TABLE issues (id int PRIMARY KEY, title text)")
    pg_database.execute("INSERT INTO issues VALUES (1, 'before the release')")
    services = console_services(
        extra=f"""
[database]
provider = "pg_dump"
dsn_env = "{DSN_ENV}"
connect_timeout = 3
[database.pg_dump]
backup_dir = {json.dumps(str(tmp_path / "backups"))}
"""
    )
    taken = services.runner.run(SnapshotAction("before the release"), Confirmation.yes())
    assert taken.status == "succeeded", taken.message
    switched = services.runner.run(SwitchAction("green"), Confirmation.yes())
    assert switched.status == "succeeded", switched.message
    pg_database.execute("INSERT INTO issues VALUES (2, 'written by the release')")
    return services, taken.result["snapshot_id"]


async def finished(pilot) -> str:
    app = pilot.app
    await until(
        pilot,
        lambda: (
            isinstance(app.screen, RunProgressScreen)
            and app.screen.done
            and "took" in screen_text(app)
        ),
        what="the outcome",
    )
    return screen_text(app)


async def test_after_a_rollback_the_assessment_offers_the_restore_with_the_name_typed(
    released, pg_database, haproxy
):
    services, snapshot_id = released
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "LIVE GREEN 100%" in screen_text(app), what="green live")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        outcome = await finished(pilot)
        assert "DONE AND VERIFIED" in outcome, outcome
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, AssessmentScreen)
                and "Last restore drill" in screen_text(app)
            ),
            what="the database assessment",
        )
        text = screen_text(app)
        assert snapshot_id in text and "'before the release'" in text
        assert "row writes since the snapshot" in text or "rows differ from the snapshot" in text
        assert f"restore: restore {snapshot_id}" in text
        assert haproxy.weights() == {"blue": 100, "green": 0}

        await pilot.press("R")  # the restore, through the same guarded confirmation
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert "Type production to confirm" in screen_text(app)
        await armed_confirmation(pilot)
        await pilot.press("shift+tab", *"production", "enter")
        outcome = await finished(pilot)
        assert "DONE AND VERIFIED" in outcome, outcome
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
    assert pg_database.rows("SELECT id FROM issues ORDER BY id") == [(1,)]
    restore = services.audit.last(lambda r: r.get("action") == "restore")
    assert restore["outcome"] == "succeeded" and restore["params"]["snapshot_id"] == snapshot_id
