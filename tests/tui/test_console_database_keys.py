"""The database keys through the console, against a real PostgreSQL and the real squawk:
`b` takes a pg_dump snapshot that is then on disk; `m` applies a safe migration, and a
migration that breaks the old version is refused on the confirmation screen, in words.
"""

from __future__ import annotations

import json

import pytest

from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.fixtures.postgres import DSN_ENV
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

pytestmark = [pytest.mark.haproxy, pytest.mark.postgres]

SIZE = (160, 45)
TIMEOUTS = "SET lock_timeout = '2s';\nSET statement_timeout = '30s';\n"


@pytest.fixture
def database(console_services, pg_database, tmp_path, monkeypatch):
    """A console over HAProxy and PostgreSQL, snapshots by pg_dump, a migrations folder."""
    monkeypatch.setenv(DSN_ENV, pg_database.url)
    pg_database.execute("CREATE TABLE users (id int PRIMARY KEY, email text)")
    pg_database.execute("INSERT INTO users VALUES (1, 'a@example.com')")
    (tmp_path / "migrations").mkdir()
    services = console_services(
        extra=f"""
[database]
provider = "pg_dump"
dsn_env = "{DSN_ENV}"
connect_timeout = 3
migrations_dir = {json.dumps(str(tmp_path / "migrations"))}
[database.pg_dump]
backup_dir = {json.dumps(str(tmp_path / "backups"))}
"""
    )
    return services


def dialog_words(app) -> str:
    """The words inside the confirmation's box, as one line: wrapping and borders left out."""
    box = app.screen.query_one("#dialog").region
    rows = screen_text(app).splitlines()[box.y + 1 : box.bottom - 1]
    return " ".join(" ".join(row[box.x + 1 : box.right - 1].split()) for row in rows)


async def confirmation(pilot, key: str) -> str:
    app = pilot.app
    await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
    await armed_confirmation(pilot)
    return dialog_words(app)


async def run_confirmed(pilot) -> str:
    """Confirm (Cancel is focused first) and wait for the outcome; the outcome's words."""
    app = pilot.app
    await pilot.press("tab", "enter")
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


async def test_b_takes_a_snapshot_that_is_then_on_disk(database, tmp_path):
    app = PmbConsoleApp(database, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        words = await confirmation(pilot, "b")
        assert "take a pg_dump snapshot of PostgreSQL 127.0.0.1:5432/" in words, words
        assert "labelled 'console-tester'" in words, words
        assert "✔ pass database reachable" in words, words
        assert "✔ pass backup directory writable" in words, words
        assert app.focused is not None and app.focused.id == "cancel"
        outcome = await run_confirmed(pilot)
        assert "DONE AND VERIFIED" in outcome, outcome
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
    record = database.audit.last(lambda r: r.get("action") == "snapshot")
    assert record["outcome"] == "succeeded" and record["operator"] == "tester"
    snapshot_id = record["result"]["snapshot_id"]
    assert snapshot_id in outcome
    dump = tmp_path / "backups" / f"{snapshot_id}.dump"
    assert dump.is_file() and dump.stat().st_size > 0
    manifest = json.loads((tmp_path / "backups" / f"{snapshot_id}.json").read_text())
    assert "console-tester" in json.dumps(manifest)  # its manifest, with the label


async def test_m_applies_a_safe_migration(database, pg_database, tmp_path):
    (tmp_path / "migrations" / "001_notes.sql").write_text(
        TIMEOUTS + "CREATE TABLE IF NOT EXISTS notes (id bigint PRIMARY KEY, body text);\n"
    )
    app = PmbConsoleApp(database, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        words = await confirmation(pilot, "m")
        assert "apply 001_notes.sql" in words, words
        assert "✔ pass old version keeps working" in words, words
        outcome = await run_confirmed(pilot)
        assert "DONE AND VERIFIED" in outcome, outcome
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
    assert pg_database.scalar("SELECT to_regclass('notes')") is not None
    record = database.audit.last(lambda r: r.get("action") == "migrate")
    assert record["outcome"] == "succeeded"


async def test_m_with_a_breaking_migration_shows_the_lint_refusal(database, pg_database, tmp_path):
    (tmp_path / "migrations" / "001_drop_email.sql").write_text(
        TIMEOUTS + "ALTER TABLE users DROP COLUMN email;\n"
    )
    app = PmbConsoleApp(database, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        words = await confirmation(pilot, "m")
        assert "✘ FAIL old version keeps working" in words, words
        assert "001_drop_email.sql:3 ban-drop-column" in words, words
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
    assert pg_database.scalar(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'users' AND column_name = 'email'"
    )
