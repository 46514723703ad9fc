"""The database assessment after a rollback, against a real PostgreSQL and real squawk.

The snapshot is taken through the runner (which records the write counters then), the
writes since are real INSERT/UPDATE/DELETE, the migration is applied by the real migrate
action (which records its lint), and the loss is read from PostgreSQL's own statistics.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from psycopg import sql

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import MigrateAction, SnapshotAction
from pmb_console.actions.drill import DrillAction
from pmb_console.actions.traffic import SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.demo.router import write_weights
from pmb_console.rollback_assessment import assess, format_assessment
from tests.fixtures.postgres import DSN_ENV, PgDatabase

RELEASE = '\n[release]\nversion = "v1.1.0"\n'


def _seed(db: PgDatabase) -> None:
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text, note text)")
    db.execute("INSERT INTO items SELECT g, 'item ' || g, '' FROM generate_series(1, 1000::int) g")


def _write(db: PgDatabase) -> None:
    db.execute(
        "INSERT INTO items (id, name) SELECT g, 'new ' || g FROM generate_series(1001, 1030::int) g"
    )
    db.execute("UPDATE items SET name = 'renamed' WHERE id <= 10")
    db.execute("DELETE FROM items WHERE id BETWEEN 500 AND 504")


def test_a_breaking_migration_calls_for_a_restore_and_the_loss_is_counted(
    pg_database: PgDatabase, pg_config, tmp_path: Path
) -> None:
    _seed(pg_database)
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_drop_note.sql").write_text("ALTER TABLE items DROP COLUMN note;\n")
    config = pg_config(RELEASE, migrations_dir=migrations)
    ctx = bootstrap(load_config(config))
    snapshot = ctx.runner.run(SnapshotAction("before v1.1.0"), Confirmation.yes())
    assert snapshot.status == "succeeded", snapshot.message
    migrated = ctx.runner.run(
        MigrateAction(), Confirmation.yes(), force=True, reason="note is unused"
    )
    assert migrated.status == "succeeded", migrated.message
    _write(pg_database)

    found = assess(ctx)
    assert found.restore_needed == "yes"
    assert found.migrations.answer.startswith(
        "no: 1 change(s) break the old version (0001_drop_note.sql:1"
    )
    assert found.snapshot_id == snapshot.result["snapshot_id"]
    assert found.snapshot.answer.startswith(f"{found.snapshot_id} 'before v1.1.0', taken ")
    # migrate's own record of the applied file in pmb_schema_migrations is no lost write
    assert found.loss.data["tables"] == {"public.items": [30, 10, 5]}
    assert found.loss.answer == (
        "about 45 row writes since the snapshot: 30 inserted, 10 updated, 5 deleted"
        " (most in public.items: 45); writes made while the snapshot was being taken are not"
        " counted"
    )
    assert found.drill.answer.startswith("unknown: no passed restore drill is recorded")

    proc = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(config), "assess"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "=> a restore is needed" in proc.stdout
    assert (
        f"restore: restore {found.snapshot_id} (pmb-console restore {found.snapshot_id} --confirm test); "
        "it would lose about 45 row writes"
    ) in proc.stdout


def test_without_a_recorded_lint_compatibility_is_unknown(
    pg_database: PgDatabase, pg_config
) -> None:
    _seed(pg_database)
    ctx = bootstrap(load_config(pg_config(RELEASE)))
    found = assess(ctx)
    assert found.restore_needed == "unknown"
    assert found.migrations.answer.startswith(
        "unknown: no migrate of release v1.1.0 that ran migration files is recorded"
    )
    assert found.snapshot.answer.startswith("none: no snapshot was taken before the switch")
    assert found.restore_words("test") == "no pre-deployment snapshot to restore"


def test_a_release_with_no_migrations_needs_no_restore_for_them(
    pg_database: PgDatabase, pg_config
) -> None:
    _seed(pg_database)
    ctx = bootstrap(load_config(pg_config(RELEASE)))
    migrated = ctx.runner.run(MigrateAction(), Confirmation.yes())
    assert migrated.status == "nothing-to-do", migrated.message
    found = assess(ctx)
    assert found.migrations.answer.startswith(
        "yes: migrate of release v1.1.0 found nothing pending"
    ), found.migrations.answer
    assert "a traffic rollback is enough" in found.migrations.answer


def test_a_snapshot_without_counters_falls_back_to_row_counts(
    pg_database: PgDatabase, pg_config
) -> None:
    _seed(pg_database)
    ctx = bootstrap(load_config(pg_config(RELEASE)))
    ctx.snapshots.create("taken outside the console's runner")  # no write counters recorded
    _write(pg_database)
    loss = assess(ctx).loss
    assert loss.data["method"] == "row counts against the manifest"
    assert loss.answer.startswith("at least 25 rows differ from the snapshot (public.items: +25)")
    assert "updates cannot be seen this way" in loss.answer


def test_the_last_drill_says_how_long_a_restore_takes(
    pg_database: PgDatabase, pg_server, pg_config, monkeypatch
) -> None:
    _seed(pg_database)
    name = f"pmb_drill_{uuid.uuid4().hex[:10]}"
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        monkeypatch.setenv("PMB_TEST_DRILL_URL", PgDatabase(pg_server, name).url)
        ctx = bootstrap(
            load_config(
                pg_config(RELEASE + '\n[database.drill]\ntarget_dsn_env = "PMB_TEST_DRILL_URL"\n')
            )
        )
        assert ctx.runner.run(SnapshotAction("nightly"), Confirmation.yes()).status == "succeeded"
        drilled = ctx.runner.run(DrillAction(None), Confirmation.yes())
        assert drilled.status == "succeeded", drilled.message
    finally:
        with pg_server.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    drill = assess(ctx).drill
    assert (
        drill.known and "the whole drill took" in drill.answer and ", pg_restore " in drill.answer
    )
    assert drill.data["duration_s"] > 0


def _pmb(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_later_lint_of_nothing_pending_does_not_hide_a_breaking_migration(
    pg_database: PgDatabase, pg_config, tmp_path: Path
) -> None:
    _seed(pg_database)
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_drop_note.sql").write_text("ALTER TABLE items DROP COLUMN note;\n")
    config = pg_config(RELEASE, migrations_dir=migrations)
    assert _pmb(config, "snapshot", "--label", "before v1.1.0", "--yes").returncode == 0
    forced = _pmb(config, "migrate", "--yes", "--force", "--reason", "note is unused")
    assert forced.returncode == 0, forced.stdout + forced.stderr

    # Nothing is pending now: this lints no file at all.
    linted = _pmb(config, "migrate", "--lint-only")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # A safe file added later and only linted (not applied) does not clear it either.
    (migrations / "0002_add_city.sql").write_text(
        "SET lock_timeout = '2s';\nSET statement_timeout = '30s';\n"
        "ALTER TABLE items ADD COLUMN IF NOT EXISTS city text;\n"
    )
    assert _pmb(config, "migrate", "--lint-only").returncode == 0

    proc = _pmb(config, "assess")
    assert proc.returncode == 0, proc.stderr
    assert "a traffic rollback is enough" not in proc.stdout
    assert "Migrations backward compatible: no: 1 change(s) break the old version" in proc.stdout
    assert "0001_drop_note.sql:1" in proc.stdout
    assert "=> a restore is needed" in proc.stdout


def _traffic(version: str, tmp_path: Path) -> str:
    return f"""
[release]
version = "{version}"

[colors.blue]
version = "v1.0.0"
instances = [{{ name = "blue-1", health_url = "http://127.0.0.1:9/healthz" }}]
[colors.green]
version = "v1.1.0"
instances = [{{ name = "green-1", health_url = "http://127.0.0.1:9/healthz" }}]

[traffic]
provider = "demo"
[traffic.demo]
state_file = "{tmp_path / "weights.json"}"
"""


def _switch(ctx, color: str) -> None:
    # No instance answers health checks here: the switch is forced, as the audit records.
    done = ctx.runner.run(
        SwitchAction(color), Confirmation.yes(), force=True, reason="test stack without health"
    )
    assert done.status == "succeeded", done.message


def test_the_pre_deployment_snapshot_is_this_releases_not_an_earlier_ones(
    pg_database: PgDatabase, pg_config, tmp_path: Path
) -> None:
    _seed(pg_database)
    write_weights(tmp_path / "weights.json", {"blue": 100, "green": 0})
    (tmp_path / "lb-health.json").write_text('{"blue-1": "up", "green-1": "up"}')
    # An earlier release went to green and was rolled back: its switches are in the log.
    earlier = bootstrap(load_config(pg_config(_traffic("v1.0.0-rc1", tmp_path))))
    _switch(earlier, "green")
    _switch(earlier, "blue")
    time.sleep(0.01)

    config = pg_config(_traffic("v1.1.0", tmp_path))
    ctx = bootstrap(load_config(config))
    before = ctx.runner.run(SnapshotAction("before v1.1.0"), Confirmation.yes())
    assert before.status == "succeeded", before.message
    found = assess(ctx)
    assert found.snapshot_id == before.result["snapshot_id"], found.snapshot.answer
    not_yet = format_assessment(found, "test")
    assert not_yet.startswith("Database if v1.1.0 is rolled back (no traffic rollback")

    _switch(ctx, "green")
    time.sleep(0.01)
    nightly = ctx.runner.run(SnapshotAction("nightly"), Confirmation.yes())
    assert nightly.status == "succeeded", nightly.message
    found = assess(ctx)
    assert found.snapshot_id == before.result["snapshot_id"], found.snapshot.answer
    assert found.snapshot.answer.startswith(f"{found.snapshot_id} 'before v1.1.0', taken ")

    _switch(ctx, "blue")  # the rollback
    proc = _pmb(config, "assess")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Database after the rollback of v1.1.0"), proc.stdout
    assert f"Pre-deployment snapshot: {found.snapshot_id} 'before v1.1.0'" in proc.stdout


def test_a_statement_nobody_judged_leaves_the_answer_open(
    pg_database: PgDatabase, pg_config, tmp_path: Path
) -> None:
    _seed(pg_database)
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_trim.sql").write_text(
        "SET lock_timeout = '2s';\nSET statement_timeout = '30s';\nTRUNCATE items;\n"
    )
    ctx = bootstrap(load_config(pg_config(RELEASE, migrations_dir=migrations)))
    migrated = ctx.runner.run(MigrateAction(), Confirmation.yes())
    assert migrated.status == "succeeded", migrated.message

    found = assess(ctx)
    assert found.restore_needed == "unknown"
    assert found.migrations.answer.startswith(
        "unknown: nothing the lint of 0001_trim.sql judged breaks the old version, but 1 "
        "statement(s) that ran were not judged (0001_trim.sql:3 TRUNCATE)"
    )


def test_on_rds_the_loss_is_read_from_the_database_itself(
    pg_database: PgDatabase, moto_aws, tmp_path: Path, monkeypatch
) -> None:
    # The snapshot is RDS's (moto's server); the database the DSN reaches is PostgreSQL.
    _seed(pg_database)
    moto_aws.client("rds").create_db_instance(
        DBInstanceIdentifier="pmb-prod",
        DBInstanceClass="db.m5.large",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="pmb",
        MasterUserPassword="not-a-real-secret",
    )
    monkeypatch.setenv(DSN_ENV, pg_database.url)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[console]
environment = "production"
operator = "oncall-1"
state_dir = "{tmp_path / "state"}"
{RELEASE}
[aws]
region = "{moto_aws.region}"
endpoint_url = "{moto_aws.endpoint_url}"

[database]
provider = "rds"
dsn_env = "{DSN_ENV}"
connect_timeout = 3

[database.rds]
instance_id = "pmb-prod"
"""
    )
    ctx = bootstrap(load_config(config))
    ctx.snapshots.create("taken outside the console's runner")  # no write counters recorded
    assert assess(ctx).loss.answer.startswith("unknown: no write counters were recorded when ")
    snapshot = ctx.runner.run(SnapshotAction("before v1.1.0"), Confirmation.yes())
    assert snapshot.status == "succeeded", snapshot.message
    _write(pg_database)

    found = assess(ctx)
    assert found.snapshot_id == snapshot.result["snapshot_id"]
    assert found.loss.data["tables"] == {"public.items": [30, 10, 5]}
    assert found.loss.answer.startswith("about 45 row writes since the snapshot")
