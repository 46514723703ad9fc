"""The real `pmb-console` program: snapshot, snapshots, restore and migrate, with exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

PROGRAM = Path(sys.executable).with_name("pmb-console")
RUN_LIMIT_S = 60


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(PROGRAM)] if PROGRAM.exists() else [sys.executable, "-m", "pmb_console"]
    return subprocess.run(
        [*command, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        env=os.environ.copy(),  # holds the DSN variable the config names
    )


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr + done.stdout


@pytest.fixture
def notes(pg_database):
    pg_database.execute(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
        "INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 100) g;"
    )
    return pg_database


def snapshots(config: Path) -> list[dict]:
    done = pmb(config, "snapshots", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_snapshot_then_list_as_json(notes, pg_config):
    config = pg_config()

    done = pmb(config, "snapshot", "--label", "before v1.1", "--yes")

    assert done.returncode == 0, done.stderr
    assert "done and verified" in done.stdout
    (snap,) = snapshots(config)
    assert snap["label"] == "before v1.1" and snap["kind"] == "manual"
    assert snap["database"] == notes.name
    assert snap["manifest"]["table_row_counts"] == {"public.notes": 100}
    listed = pmb(config, "snapshots")
    assert snap["id"] in listed.stdout and "before v1.1" in listed.stdout


def test_restore_with_confirm_brings_rows_back(notes, pg_config):
    config = pg_config()
    assert pmb(config, "snapshot", "--yes").returncode == 0
    (good,) = snapshots(config)
    notes.execute("DELETE FROM notes")

    done = pmb(config, "restore", good["id"], "--confirm", "test")

    assert done.returncode == 0, done.stderr
    assert notes.scalar("SELECT count(*) FROM notes") == 100
    listed = snapshots(config)
    assert [s["kind"] for s in listed] == ["safety", "manual"]
    assert listed[0]["manifest"]["table_row_counts"] == {"public.notes": 0}


def test_restore_with_the_wrong_environment_exits_3(notes, pg_config):
    config = pg_config(environment="production")
    assert pmb(config, "snapshot", "--yes").returncode == 0
    (good,) = snapshots(config)
    notes.execute("DELETE FROM notes")

    done = pmb(config, "restore", good["id"], "--confirm", "staging")

    assert done.returncode == 3
    assert "production" in done.stderr + done.stdout
    assert notes.scalar("SELECT count(*) FROM notes") == 0
    assert len(snapshots(config)) == 1


def test_restore_without_confirm_exits_3_and_says_what_to_pass(notes, pg_config):
    config = pg_config(environment="production")
    assert pmb(config, "snapshot", "--yes").returncode == 0
    (good,) = snapshots(config)

    done = pmb(config, "restore", good["id"])

    assert done.returncode == 3
    assert "not confirmed; nothing changed" in done.stderr
    assert "hint: pass --confirm production to confirm" in done.stderr
    assert len(snapshots(config)) == 1


def test_restore_dry_run_exits_0_and_changes_nothing(notes, pg_config):
    config = pg_config()
    assert pmb(config, "snapshot", "--yes").returncode == 0
    (good,) = snapshots(config)
    notes.execute("DELETE FROM notes")

    done = pmb(config, "restore", good["id"], "--confirm", "test", "--dry-run")

    assert done.returncode == 0, done.stderr
    assert "dry run" in done.stdout and good["id"] in done.stdout
    assert notes.scalar("SELECT count(*) FROM notes") == 0


def test_restore_of_a_damaged_snapshot_exits_1(notes, pg_config, tmp_path):
    config = pg_config()
    assert pmb(config, "snapshot", "--yes").returncode == 0
    (good,) = snapshots(config)
    dump = tmp_path / "backups" / f"{good['id']}.dump"
    dump.write_bytes(dump.read_bytes() + b"tampered")
    notes.execute("DELETE FROM notes")

    done = pmb(config, "restore", good["id"], "--confirm", "test")

    assert done.returncode == 1
    no_traceback(done)
    assert "checksum mismatch" in done.stderr
    assert notes.scalar("SELECT count(*) FROM notes") == 0


def test_database_faults_exit_1_without_traceback_or_password(pg_config, tmp_path):
    config = pg_config(dsn="postgresql://pmb:s3cret-pw@127.0.0.1:1/app")

    for args in (("snapshot", "--yes"), ("migrate", "--yes"), ("migrate", "--dry-run")):
        done = pmb(config, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        no_traceback(done)
        assert "127.0.0.1:1/app is unreachable" in done.stderr
        assert "s3cret-pw" not in done.stdout + done.stderr
    assert "s3cret-pw" not in (tmp_path / "state" / "audit.jsonl").read_text()


def test_pg_dump_missing_and_backup_dir_unwritable_exit_1(notes, pg_config, tmp_path):
    missing = pmb(pg_config(pg_dump="no-such-pg_dump"), "snapshot", "--yes")
    (tmp_path / "afile").write_text("")
    unwritable = pmb(pg_config(backup_dir=tmp_path / "afile" / "sub"), "snapshot", "--yes")

    assert missing.returncode == 1 and "pg_dump not found" in missing.stderr
    assert unwritable.returncode == 1 and "not a directory" in unwritable.stderr
    no_traceback(missing)
    no_traceback(unwritable)


def test_migrate_dry_run_then_migrate(pg_database, pg_config, tmp_path):
    config = pg_config()
    (tmp_path / "migrations" / "001_users.sql").write_text("CREATE TABLE users (id int);")
    (tmp_path / "migrations" / "002_fill.sql").write_text("INSERT INTO users VALUES (1), (2);")

    dry = pmb(config, "migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "001_users.sql" in dry.stdout and "002_fill.sql" in dry.stdout
    assert pg_database.tables() == []

    done = pmb(config, "migrate", "--yes")
    assert done.returncode == 0, done.stderr
    assert pg_database.scalar("SELECT count(*) FROM users") == 2

    again = pmb(config, "migrate", "--yes")
    assert again.returncode == 0
    assert "no pending migrations" in again.stdout + again.stderr


def test_failing_migration_exits_1_naming_file_and_line(pg_database, pg_config, tmp_path):
    config = pg_config()
    (tmp_path / "migrations" / "001_users.sql").write_text(
        "CREATE TABLE users (id int);\n\nCREAT INDEX ON users (id);"
    )
    (tmp_path / "migrations" / "002_more.sql").write_text("CREATE TABLE more (id int);")

    done = pmb(config, "migrate", "--yes")

    assert done.returncode == 1
    no_traceback(done)
    assert (
        'migration 001_users.sql failed at line 3: syntax error at or near "CREAT"' in done.stderr
    )
    assert "not run: 002_more.sql" in done.stderr
    assert pg_database.tables() == ["public.pmb_schema_migrations"]


def test_a_migration_that_is_not_utf8_is_named(pg_database, pg_config, tmp_path):
    config = pg_config()
    (tmp_path / "migrations" / "001_users.sql").write_text("CREATE TABLE users (id int);")
    (tmp_path / "migrations" / "002_cafe.sql").write_bytes(
        "-- Latin-1, as an old editor saved it\nINSERT INTO users VALUES (1); -- café\n".encode(
            "latin-1"
        )
    )

    for args in (("migrate", "--dry-run"), ("migrate", "--yes")):
        done = pmb(config, *args)

        assert done.returncode == 1, done.stdout + done.stderr
        assert "migration 002_cafe.sql is not UTF-8 text: byte 0xe9 on line 2" in done.stderr
        assert "save " in done.stderr and "as UTF-8" in done.stderr
        no_traceback(done)
    assert pg_database.tables() == []  # not even the first file ran


def test_changed_applied_migration_exits_3(pg_database, pg_config, tmp_path):
    config = pg_config()
    migration = tmp_path / "migrations" / "001_users.sql"
    migration.write_text("CREATE TABLE users (id int);")
    assert pmb(config, "migrate", "--yes").returncode == 0
    migration.write_text("CREATE TABLE users (id bigint);")

    done = pmb(config, "migrate", "--yes")

    assert done.returncode == 3
    assert "001_users.sql was applied with sha256" in done.stderr + done.stdout


def test_ctrl_c_during_restore_is_audited_as_interrupted(notes, pg_config, tmp_path):
    config = pg_config()
    assert pmb(config, "snapshot", "--yes").returncode == 0
    (good,) = snapshots(config)
    # Another session reading the table makes pg_restore's DROP wait, so the restore is
    # still running when Ctrl+C arrives (a real lock, not a pause written into the code).
    reading = threading.Event()
    release = threading.Event()

    def read_notes():
        with notes.connect() as conn, conn.transaction():
            conn.execute("LOCK TABLE notes IN ACCESS SHARE MODE")
            reading.set()
            release.wait(RUN_LIMIT_S)

    reader = threading.Thread(target=read_notes)
    reader.start()
    try:
        assert reading.wait(10)
        command = [str(PROGRAM)] if PROGRAM.exists() else [sys.executable, "-m", "pmb_console"]
        proc = subprocess.Popen(
            [*command, "--config", str(config), "restore", good["id"], "--confirm", "test"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        for line in proc.stderr:
            if "pg_restore: restoring" in line or time.monotonic() > deadline:
                break
        time.sleep(0.5)  # pg_restore is now waiting for the lock
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        release.set()
        reader.join(10)

    assert proc.returncode == 1
    assert "restore the database interrupted (Ctrl+C)" in stderr
    assert "Traceback" not in stdout + stderr
    audit = json.loads(pmb(config, "audit", "--json").stdout)
    last = [r for r in audit if r["action"] == "restore"][-1]
    assert last["outcome"] == "interrupted"
    safety = [s for s in snapshots(config) if s["kind"] == "safety"]
    assert last["state"]["safety_snapshot_id"] == safety[0]["id"]
    # The operator sees the way back, not only the audit log: the safety snapshot and the
    # command that restores it, and what was read back.
    assert f"pmb-console restore {safety[0]['id']} --confirm test" in stderr
    read_back = stderr.split("read back now:", 1)[1]
    assert f"safety_snapshot_id: {safety[0]['id']}" in read_back
    assert notes.name in read_back  # the target database
    # No pg_restore is left running against the database.
    time.sleep(0.5)
    assert (
        notes.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_restore'")
        == 0
    )
    assert notes.scalar("SELECT count(*) FROM notes") == 100
