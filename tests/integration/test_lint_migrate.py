"""migrate lints before it runs, against a real PostgreSQL and the real squawk binary:
a finding that breaks the old version refuses (exit 3) unless forced with a reason, the
lint is recorded with the release, and a failed CREATE INDEX CONCURRENTLY is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import MigrateAction
from pmb_console.actions.migration_lint import (
    ROLLBACK_BY_TRAFFIC,
    ROLLBACK_NEEDS_RESTORE,
    last_lint,
)
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config

pytestmark = pytest.mark.postgres

RELEASE = '\n[release]\nversion = "v1.2.0"\n'
TIMEOUTS = "SET lock_timeout = '2s';\nSET statement_timeout = '30s';\n"
PROGRAM = Path(sys.executable).with_name("pmb-console")


@pytest.fixture
def users(pg_database):
    pg_database.execute(
        "CREATE TABLE users (id serial PRIMARY KEY, email text, nick text);"
        "INSERT INTO users (email, nick) SELECT 'u' || g || '@example.com', 'n' || (g % 3) "
        "FROM generate_series(1, 50) g;"
    )
    return pg_database


@pytest.fixture
def migrations(tmp_path):
    directory = tmp_path / "migrations"
    directory.mkdir(exist_ok=True)

    def write(**files: str) -> Path:
        for name, sql in files.items():
            (directory / f"{name}.sql").write_text(sql)
        return directory

    return write


def services(config_path: Path):
    return bootstrap(load_config(config_path))


def applied(db) -> list[str]:
    if db.scalar("SELECT to_regclass('pmb_schema_migrations')") is None:
        return []
    return [r[0] for r in db.rows("SELECT name FROM pmb_schema_migrations ORDER BY name")]


def columns(db, table: str) -> list[str]:
    return [
        r[0]
        for r in db.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY 1",
            (table,),
        )
    ]


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(PROGRAM)] if PROGRAM.exists() else [sys.executable, "-m", "pmb_console"]
    return subprocess.run(
        [*command, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_a_migration_that_breaks_the_old_version_is_refused(users, pg_config, migrations):
    migrations(
        **{
            "001_add_bio": TIMEOUTS + "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;\n",
            "002_drop_email": TIMEOUTS + "ALTER TABLE users DROP COLUMN email;\n",
        }
    )
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "refused" and outcome.exit_code == 3
    assert "002_drop_email.sql:3 ban-drop-column" in outcome.message
    assert ROLLBACK_NEEDS_RESTORE in outcome.message
    assert applied(users) == [] and "email" in columns(users, "users")
    (record,) = [r for r in ctx.audit.records() if r["action"] == "migrate"]
    lint = record["plan"]["data"]["lint"]
    assert lint["release"] == "v1.2.0" and lint["rollback"] == ROLLBACK_NEEDS_RESTORE
    assert last_lint(ctx.audit.records(), "v1.2.0")["counts"]["breaks-old-version"] == 1


def test_force_with_a_reason_applies_and_records_the_override(users, pg_config, migrations):
    migrations(**{"002_drop_email": TIMEOUTS + "ALTER TABLE users DROP COLUMN email;\n"})
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(
        MigrateAction(), Confirmation.yes(), force=True, reason="email moved to accounts in v1.1"
    )

    assert outcome.status == "succeeded", outcome.message
    assert "email" not in columns(users, "users")
    assert outcome.result["rollback"] == ROLLBACK_NEEDS_RESTORE
    assert outcome.result["release"] == "v1.2.0"
    (started,) = [
        r for r in ctx.audit.records() if r["action"] == "migrate" and r["outcome"] == "started"
    ]
    assert started["override"]["reason"] == "email moved to accounts in v1.1"
    assert started["override"]["guards"][0]["name"] == "old version keeps working"


def test_locking_findings_inform_but_do_not_refuse(users, pg_config, migrations):
    migrations(**{"003_index": TIMEOUTS + "CREATE INDEX users_nick ON users (nick);\n"})
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    info = {g.name: g for g in outcome.guards}
    assert info["old version keeps working"].ok
    assert (
        "003_index.sql:3 require-concurrent-index-creation"
        in info["locks and unreviewed statements (not blocking)"].detail
    )
    assert outcome.result["rollback"] == ROLLBACK_BY_TRAFFIC


def test_a_squawk_rule_the_console_does_not_know_is_shown_by_migrate(users, pg_config, migrations):
    users.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
    migrations(**{"003_mood": TIMEOUTS + "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';\n"})
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    shown = {g.name: g for g in outcome.guards}["locks and unreviewed statements (not blocking)"]
    assert "003_mood.sql:3 require-enum-value-ordering (unreviewed)" in shown.detail
    assert outcome.result["rollback"] != ROLLBACK_BY_TRAFFIC


def test_create_index_concurrently_runs_outside_a_transaction(users, pg_config, migrations):
    migrations(
        **{
            "004_index": TIMEOUTS
            + "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_nick ON users (nick);\n"
        }
    )
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    assert (
        users.scalar(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'users_nick'"
        )
        is True
    )
    assert applied(users) == ["004_index.sql"]
    assert not [g for g in outcome.guards if not g.ok]


def test_a_failed_concurrent_index_is_named_as_invalid(users, pg_config, migrations):
    # nick repeats, so a unique index cannot be built: CONCURRENTLY leaves it behind, invalid.
    migrations(
        **{
            "005_unique_nick": TIMEOUTS
            + "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_nick_key ON users (nick);\n",
            "006_later": TIMEOUTS + "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;\n",
        }
    )
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "005_unique_nick.sql failed at line 3" in outcome.message
    assert (
        "invalid index(es) left in the database: public.users_nick_key on users" in outcome.message
    )
    assert "DROP INDEX CONCURRENTLY" in outcome.hint
    assert "not run: 006_later.sql" in outcome.message
    assert applied(users) == []
    (failed,) = [
        r for r in ctx.audit.records() if r["action"] == "migrate" and r["outcome"] == "failed"
    ]
    assert failed["state"]["invalid_indexes"] == ["public.users_nick_key on users"]


def test_lint_only_exits_3_on_a_breaking_finding_and_records_it(users, pg_config, migrations):
    migrations(**{"002_drop_email": TIMEOUTS + "ALTER TABLE users DROP COLUMN email;\n"})
    config = pg_config(RELEASE)

    done = pmb(config, "migrate", "--lint-only")

    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "002_drop_email.sql:3" in done.stdout and "BREAKS THE OLD VERSION" in done.stdout
    assert "why:" in done.stdout and "instead:" in done.stdout
    assert "rollback needs a database restore" in done.stdout
    assert applied(users) == [] and "email" in columns(users, "users")
    lint = last_lint(services(config).audit.records(), "v1.2.0")
    assert lint is not None and lint["files"] == ["002_drop_email.sql"]


def test_lint_only_passes_safe_files_and_lints_only_pending_ones(users, pg_config, migrations):
    migrations(
        **{"001_add_bio": TIMEOUTS + "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;\n"}
    )
    config = pg_config(RELEASE)
    assert services(config).runner.run(MigrateAction(), Confirmation.yes()).status == "succeeded"
    migrations(
        **{"002_add_city": TIMEOUTS + "ALTER TABLE users ADD COLUMN IF NOT EXISTS city text;\n"}
    )

    done = pmb(config, "migrate", "--lint-only")

    assert done.returncode == 0, done.stderr
    assert "Migration lint of 1 file(s)" in done.stdout
    assert "a traffic rollback is enough" in done.stdout


def test_lint_only_without_a_database_lints_every_file(pg_config, migrations):
    migrations(**{"002_drop_email": TIMEOUTS + "ALTER TABLE users DROP COLUMN email;\n"})
    config = pg_config(RELEASE, dsn="postgresql://nobody@127.0.0.1:1/none")

    done = pmb(config, "migrate", "--lint-only")

    assert done.returncode == 3, done.stderr
    assert "every file was linted" in done.stdout
    assert "002_drop_email.sql:3" in done.stdout


def test_cli_migrate_refuses_with_exit_3_and_force_with_a_reason_applies(
    users, pg_config, migrations
):
    migrations(**{"002_drop_email": TIMEOUTS + "ALTER TABLE users DROP COLUMN email;\n"})
    config = pg_config(RELEASE)

    refused = pmb(config, "migrate", "--yes")
    no_reason = pmb(config, "migrate", "--yes", "--force")
    forced = pmb(config, "migrate", "--yes", "--force", "--reason", "email moved in v1.1")

    assert refused.returncode == 3, refused.stderr
    assert "old version keeps working" in refused.stderr + refused.stdout
    assert "002_drop_email.sql:3 ban-drop-column" in refused.stderr + refused.stdout
    assert no_reason.returncode == 2
    assert forced.returncode == 0, forced.stderr
    assert applied(users) == ["002_drop_email.sql"] and "email" not in columns(users, "users")
    assert "Traceback" not in refused.stderr + no_reason.stderr + forced.stderr


def test_a_file_run_outside_a_transaction_says_what_stayed(users, pg_config, migrations):
    migrations(
        **{
            "007_indexes": TIMEOUTS
            + "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n"
            + "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_nick_key ON users (nick);\n"
        }
    )
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "failed"
    assert "007_indexes.sql failed at line 4" in outcome.message
    assert "statement(s) before line 4 were applied and stay" in outcome.hint
    valid = dict(
        users.rows(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname IN ('users_email', 'users_nick_key')"
        )
    )
    assert valid == {"users_email": True, "users_nick_key": False}
    assert applied(users) == []  # not recorded: the file as a whole did not apply


def _leave_an_invalid_index(db) -> None:
    """What a failed (or killed) CREATE INDEX CONCURRENTLY of an earlier run leaves."""
    with pytest.raises(Exception, match="could not create unique index"):
        db.execute("CREATE UNIQUE INDEX CONCURRENTLY users_nick_key ON users (nick)")


def test_an_invalid_index_from_an_earlier_run_is_named_before_migrate_runs(
    users, pg_config, migrations
):
    _leave_an_invalid_index(users)
    migrations(**{"010_bio": TIMEOUTS + "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;\n"})
    config = pg_config(RELEASE)

    done = pmb(config, "migrate", "--yes")

    # In nobody's way: the run goes ahead, and the index is named with the way to clear it.
    assert done.returncode == 0, done.stdout + done.stderr
    assert applied(users) == ["010_bio.sql"]
    (started,) = [
        r
        for r in services(config).audit.records()
        if r["action"] == "migrate" and r["outcome"] == "started"
    ]
    (named,) = [g for g in started["guards"] if g["name"].startswith("invalid indexes left")]
    assert named["ok"]
    assert "public.users_nick_key on users" in named["detail"]
    assert "DROP INDEX CONCURRENTLY public.users_nick_key" in named["detail"]


def test_an_invalid_index_a_pending_file_would_create_again_refuses(users, pg_config, migrations):
    _leave_an_invalid_index(users)
    users.execute("UPDATE users SET nick = 'n' || id")  # the data is fixed; the index is not
    migrations(
        **{
            "011_unique_nick": TIMEOUTS
            + "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_nick_key ON users (nick);\n"
        }
    )
    config = pg_config(RELEASE)

    refused = pmb(config, "migrate", "--yes")

    # With IF NOT EXISTS the file would be skipped over and "succeed", the index still unused.
    assert refused.returncode == 3, refused.stdout + refused.stderr
    said = refused.stdout + refused.stderr
    assert "no invalid index in the way" in said
    assert "011_unique_nick.sql:3 creates public.users_nick_key" in said
    assert "DROP INDEX CONCURRENTLY public.users_nick_key" in said
    assert applied(users) == []


def test_a_pending_file_that_drops_the_invalid_index_first_may_run(users, pg_config, migrations):
    _leave_an_invalid_index(users)
    users.execute("UPDATE users SET nick = 'n' || id")
    migrations(
        **{
            "012_unique_nick": TIMEOUTS
            + "DROP INDEX CONCURRENTLY IF EXISTS users_nick_key;\n"
            + "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_nick_key ON users (nick);\n"
        }
    )
    ctx = services(pg_config(RELEASE))

    outcome = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    assert (
        users.scalar(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'users_nick_key'"
        )
        is True
    )
    assert [g.name for g in outcome.guards if g.name.startswith("invalid indexes")] == [
        "invalid indexes left behind (not blocking)"
    ]
