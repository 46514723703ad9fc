"""Snapshot, restore and migrate through the ActionRunner, against a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import (
    MigrateAction,
    RestoreAction,
    SnapshotAction,
    list_snapshots,
)
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config

pytestmark = pytest.mark.postgres


@pytest.fixture
def notes(pg_database):
    pg_database.execute(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
        "INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 100) g;"
    )
    return pg_database


def services(config_path: Path):
    return bootstrap(load_config(config_path))


def audit_outcomes(ctx, action: str) -> list[str]:
    return [r["outcome"] for r in ctx.audit.records() if r["action"] == action]


# --- snapshot --------------------------------------------------------------------------


def test_snapshot_action_takes_and_verifies_a_snapshot(notes, pg_config):
    ctx = services(pg_config())
    seen = []

    outcome = ctx.runner.run(
        SnapshotAction("before v1.1"), Confirmation.yes(), progress=lambda m, f=None: seen.append(m)
    )

    assert outcome.status == "succeeded", outcome.message
    assert {g.name for g in outcome.guards} == {"database reachable", "backup directory writable"}
    (snap,) = list_snapshots(ctx)
    assert outcome.result["snapshot_id"] == snap.id
    assert snap.label == "before v1.1" and snap.kind == "manual"
    assert "checksum verified" in outcome.verification.detail
    assert seen  # progress reached the caller
    assert audit_outcomes(ctx, "snapshot") == ["started", "succeeded"]


def test_snapshot_with_pg_dump_missing_fails_and_says_so(notes, pg_config):
    ctx = services(pg_config(pg_dump="/nonexistent/pg_dump"))

    outcome = ctx.runner.run(SnapshotAction(), Confirmation.yes())

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "pg_dump not found" in outcome.message
    assert list_snapshots(ctx) == []


def test_snapshot_into_an_unwritable_backup_dir_fails_before_starting(notes, pg_config, tmp_path):
    (tmp_path / "afile").write_text("")
    ctx = services(pg_config(backup_dir=tmp_path / "afile" / "sub"))

    outcome = ctx.runner.run(SnapshotAction(), Confirmation.yes())

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "backup directory writable" in outcome.message and "not a directory" in outcome.message
    assert audit_outcomes(ctx, "snapshot") == ["failed"]  # refused before the lock: never started


def test_snapshot_of_an_unreachable_database_fails_without_the_password(pg_config):
    ctx = services(pg_config(dsn="postgresql://pmb:s3cret-pw@127.0.0.1:1/app"))

    outcome = ctx.runner.run(SnapshotAction(), Confirmation.yes())

    assert outcome.exit_code == 1
    assert "database reachable" in outcome.message and "unreachable" in outcome.message
    assert "s3cret-pw" not in repr(outcome.as_dict())
    assert "s3cret-pw" not in (Path(ctx.config.console.state_dir) / "audit.jsonl").read_text()


# --- restore ---------------------------------------------------------------------------


def snapshot(ctx, label="good") -> str:
    outcome = ctx.runner.run(SnapshotAction(label), Confirmation.yes())
    assert outcome.status == "succeeded", outcome.message
    return outcome.result["snapshot_id"]


def test_restore_takes_a_safety_snapshot_then_brings_rows_back(notes, pg_config):
    ctx = services(pg_config())
    good = snapshot(ctx)
    notes.execute("DELETE FROM notes WHERE id <= 60")

    outcome = ctx.runner.run(RestoreAction(good), Confirmation.yes(typed="test"))

    assert outcome.status == "succeeded", outcome.message
    assert notes.scalar("SELECT count(*) FROM notes") == 100
    safety_id = outcome.result["safety_snapshot_id"]
    safety = ctx.snapshots.get(safety_id)
    assert safety.kind == "safety"
    assert safety.manifest["table_row_counts"] == {"public.notes": 40}  # the state just before
    assert [s.id for s in list_snapshots(ctx)] == [safety_id, good]
    assert outcome.result["row_counts"] == {"public.notes": 100}
    assert outcome.result["duration_s"] > 0
    assert "1 tables hold the snapshot's row counts" in outcome.verification.detail
    assert outcome.plan.steps[0].startswith("take a safety snapshot")
    assert audit_outcomes(ctx, "restore") == ["started", "succeeded"]
    record = ctx.audit.records()[-1]
    assert record["result"]["safety_snapshot_id"] == safety_id and record["duration_s"] > 0


def test_restore_with_the_wrong_environment_typed_changes_nothing(notes, pg_config):
    ctx = services(pg_config(environment="production"))
    good = snapshot(ctx)
    notes.execute("DELETE FROM notes")

    outcome = ctx.runner.run(RestoreAction(good), Confirmation.yes(typed="prodution"))

    assert outcome.status == "not-confirmed" and outcome.exit_code == 3
    assert "type the environment name exactly: production" in outcome.hint
    assert notes.scalar("SELECT count(*) FROM notes") == 0
    assert [s.id for s in list_snapshots(ctx)] == [good]  # not even a safety snapshot


def test_restore_of_a_damaged_snapshot_is_refused_and_the_database_is_unchanged(notes, pg_config):
    ctx = services(pg_config())
    good = snapshot(ctx)
    dump = Path(ctx.snapshots.backup_dir) / f"{good}.dump"
    dump.write_bytes(dump.read_bytes()[:-10] + b"0123456789")
    notes.execute("DELETE FROM notes WHERE id > 1")

    outcome = ctx.runner.run(RestoreAction(good), Confirmation.yes(typed="test"))

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "checksum mismatch" in outcome.message
    assert "the database was not touched" in outcome.hint
    assert notes.scalar("SELECT count(*) FROM notes") == 1
    assert [s.id for s in list_snapshots(ctx)] == [good]


def test_restore_of_an_unknown_snapshot(notes, pg_config):
    ctx = services(pg_config())
    outcome = ctx.runner.run(
        RestoreAction("20990101T000000Z-000000"), Confirmation.yes(typed="test")
    )
    assert outcome.exit_code == 1
    assert "no snapshot '20990101T000000Z-000000'" in outcome.message
    assert "pmb-console snapshots" in outcome.hint


def test_restore_dry_run_shows_the_plan_and_changes_nothing(notes, pg_config):
    ctx = services(pg_config())
    good = snapshot(ctx)
    notes.execute("DELETE FROM notes")

    outcome = ctx.runner.run(RestoreAction(good), Confirmation(False), dry_run=True)

    assert outcome.status == "dry-run"
    assert f"snapshot {good}" in outcome.plan.summary
    assert notes.name in outcome.plan.summary
    assert notes.scalar("SELECT count(*) FROM notes") == 0
    assert len(list_snapshots(ctx)) == 1


# --- migrate ---------------------------------------------------------------------------


def write_migrations(directory: Path, **files: str) -> None:
    for name, sql in files.items():
        (directory / f"{name}.sql").write_text(sql)


def test_migrate_dry_run_lists_pending_files_and_changes_nothing(pg_database, pg_config, tmp_path):
    path = pg_config()
    write_migrations(
        tmp_path / "migrations",
        **{"001_a": "CREATE TABLE a (id int);", "002_b": "CREATE TABLE b (id int);"},
    )
    ctx = services(path)

    outcome = ctx.runner.run(MigrateAction(), Confirmation(False), dry_run=True)

    assert outcome.status == "dry-run" and outcome.exit_code == 0
    assert [f["name"] for f in outcome.plan.data["files"]] == ["001_a.sql", "002_b.sql"]
    assert outcome.plan.steps[0].startswith("apply 001_a.sql (sha256 ")
    assert pg_database.tables() == []


def test_migrate_applies_in_order_and_verifies(pg_database, pg_config, tmp_path):
    path = pg_config()
    write_migrations(
        tmp_path / "migrations",
        **{"002_fill": "INSERT INTO a VALUES (1);", "001_a": "CREATE TABLE a (id int);"},
    )
    ctx = services(path)

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    assert outcome.verification.detail == "recorded as applied: 001_a.sql, 002_fill.sql"
    assert pg_database.scalar("SELECT count(*) FROM a") == 1
    again = ctx.runner.run(MigrateAction(), Confirmation.yes())
    assert again.status == "nothing-to-do"


def test_migrate_stops_at_a_failing_file(pg_database, pg_config, tmp_path):
    path = pg_config()
    write_migrations(
        tmp_path / "migrations",
        **{
            "001_a": "CREATE TABLE a (id int);",
            "002_bad": "CREATE TABLE b (id int);\nINSERT INTO b VALUES ('not a number');",
            "003_c": "CREATE TABLE c (id int);",
        },
    )
    ctx = services(path)

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert (
        "migration 002_bad.sql failed at line 2: invalid input syntax for type integer"
        in outcome.message
    )
    assert "applied before it: 001_a.sql; not run: 003_c.sql" in outcome.message
    assert pg_database.tables() == ["public.a", "public.pmb_schema_migrations"]
    assert [r[0] for r in pg_database.rows("SELECT name FROM pmb_schema_migrations")] == [
        "001_a.sql"
    ]
    assert audit_outcomes(ctx, "migrate") == ["started", "failed"]


def test_migrate_refuses_when_an_applied_file_changed(pg_database, pg_config, tmp_path):
    path = pg_config()
    migrations = tmp_path / "migrations"
    write_migrations(migrations, **{"001_a": "CREATE TABLE a (id int);"})
    ctx = services(path)
    assert ctx.runner.run(MigrateAction(), Confirmation.yes()).status == "succeeded"
    write_migrations(
        migrations, **{"001_a": "CREATE TABLE a (id bigint);", "002_b": "CREATE TABLE b (id int);"}
    )

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "refused" and outcome.exit_code == 3
    assert "001_a.sql was applied with sha256" in outcome.message
    assert "public.b" not in pg_database.tables()


def test_migrate_against_an_unreachable_database(pg_config, tmp_path):
    path = pg_config(dsn="postgresql://pmb:s3cret-pw@127.0.0.1:1/app")
    write_migrations(tmp_path / "migrations", **{"001_a": "CREATE TABLE a (id int);"})
    ctx = services(path)

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.exit_code == 1 and "unreachable" in outcome.message
    assert "s3cret-pw" not in repr(outcome.as_dict())
