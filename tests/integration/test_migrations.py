"""Migrations applied and failed for real against PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from pmb_console.config import load_config
from pmb_console.errors import ProviderError
from pmb_console.providers.migrations import Migrator, split_statements

pytestmark = pytest.mark.postgres


@pytest.fixture
def migrations(tmp_path):
    """Write migration files: migrations(name=sql, ...) -> the directory."""
    directory = tmp_path / "migrations"
    directory.mkdir(exist_ok=True)

    def write(**files: str):
        for name, sql in files.items():
            (directory / f"{name}.sql").write_text(sql)
        return directory

    return write


def migrator_for(config_path) -> Migrator:
    return Migrator(load_config(config_path))


def test_pending_in_name_order_then_applied_and_recorded(pg_database, pg_config, migrations):
    migrations(
        **{
            "002_add_email": "ALTER TABLE users ADD COLUMN email text;",
            "001_users": "CREATE TABLE users (id serial PRIMARY KEY, name text);\nINSERT INTO users (name) VALUES ('ada');",
            "010_index": "CREATE INDEX users_email ON users (email);",
        }
    )
    (migrations() / "README.md").write_text("not a migration")
    migrator = migrator_for(pg_config())

    pending = migrator.pending()
    assert [f.name for f in pending] == ["001_users.sql", "002_add_email.sql", "010_index.sql"]
    assert migrator.applied() == []
    assert "pmb_schema_migrations" not in " ".join(pg_database.tables())  # reading writes nothing

    for file in pending:
        assert migrator.apply(file, "oncall-1") >= 0

    assert migrator.pending() == []
    assert pg_database.rows("SELECT name, email FROM users") == [("ada", None)]
    recorded = pg_database.rows(
        "SELECT name, sha256, operator, duration_s >= 0, applied_at <= now() FROM pmb_schema_migrations ORDER BY name"
    )
    assert recorded == [(f.name, f.sha256, "oncall-1", True, True) for f in pending]
    assert [m.name for m in migrator.applied()] == [f.name for f in pending]


def test_a_failing_file_rolls_back_completely_and_names_file_line_and_message(
    pg_database, pg_config, migrations
):
    migrations(
        **{
            "001_orders": (
                "-- orders and their lines\n"
                "CREATE TABLE orders (id int PRIMARY KEY);\n"
                "INSERT INTO orders VALUES (1), (2);\n"
                "\n"
                "ALTER TABLE orders\n"
                "  ADD COLUMN total numeric,\n"
                "  ADD COLUMN total_cents int GENERATED ALWAYS AS (totl * 100) STORED;\n"
                "CREATE TABLE order_lines (id int);\n"
            )
        }
    )
    migrator = migrator_for(pg_config())
    (file,) = migrator.pending()

    with pytest.raises(ProviderError) as raised:
        migrator.apply(file, "oncall-1")

    message = raised.value.message
    assert message.startswith("migration 001_orders.sql failed at line 5: ")  # the ALTER
    assert 'column "totl" does not exist' in message
    assert "rolled back" in raised.value.hint
    assert pg_database.tables() == ["public.pmb_schema_migrations"]  # nothing of the file remains
    assert pg_database.scalar("SELECT count(*) FROM pmb_schema_migrations") == 0
    assert [f.name for f in migrator.pending()] == ["001_orders.sql"]


def test_an_error_position_inside_a_statement_gives_its_own_line(
    pg_database, pg_config, migrations
):
    migrations(**{"001_typo": ("CREATE TABLE a (id int);\nSELECT id,\n       nme\n  FROM a;\n")})
    migrator = migrator_for(pg_config())

    with pytest.raises(ProviderError) as raised:
        migrator.apply(migrator.pending()[0], "oncall-1")

    assert (
        raised.value.message
        == 'migration 001_typo.sql failed at line 3: column "nme" does not exist'
    )


def test_an_error_without_a_position_is_pinned_to_its_statement(pg_database, pg_config, migrations):
    migrations(
        **{
            "001_dupes": (
                "CREATE TABLE tags (name text PRIMARY KEY);\n"
                "INSERT INTO tags VALUES ('a');\n"
                "/* a comment; with a semicolon */\n"
                "INSERT INTO tags\n"
                "VALUES ('a');\n"
            )
        }
    )
    migrator = migrator_for(pg_config())

    with pytest.raises(ProviderError) as raised:
        migrator.apply(migrator.pending()[0], "oncall-1")

    assert (
        "failed at line 4: duplicate key value violates unique constraint" in raised.value.message
    )
    assert "Key (name)=(a) already exists" in raised.value.message
    assert "public.tags" not in pg_database.tables()


def test_a_changed_applied_file_is_found(pg_database, pg_config, migrations):
    directory = migrations(
        **{"001_a": "CREATE TABLE a (id int);", "002_b": "CREATE TABLE b (id int);"}
    )
    migrator = migrator_for(pg_config())
    first = migrator.pending()[0]
    migrator.apply(first, "oncall-1")
    (directory / "001_a.sql").write_text("CREATE TABLE a (id bigint);")

    changed = migrator.changed()

    assert [(c.name, c.applied_sha256) for c in changed] == [("001_a.sql", first.sha256)]
    assert changed[0].current_sha256 != first.sha256
    assert [f.name for f in migrator.pending()] == ["002_b.sql"]


def test_a_file_changed_after_planning_is_not_applied(pg_database, pg_config, migrations):
    directory = migrations(**{"001_a": "CREATE TABLE a (id int);"})
    migrator = migrator_for(pg_config())
    (planned,) = migrator.pending()
    (directory / "001_a.sql").write_text("DROP TABLE IF EXISTS a;")

    with pytest.raises(ProviderError, match="changed on disk since it was planned"):
        migrator.apply(planned, "oncall-1")


def test_lock_timeout_from_the_config_stops_a_blocked_migration(pg_database, pg_config, migrations):
    pg_database.execute("CREATE TABLE busy (id int)")
    migrations(**{"001_alter": "ALTER TABLE busy ADD COLUMN note text;"})
    migrator = migrator_for(pg_config(lock_timeout="300ms"))
    holding = threading.Event()
    release = threading.Event()

    def hold_lock():
        with pg_database.connect() as conn, conn.transaction():
            conn.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        with pytest.raises(ProviderError) as raised:
            migrator.apply(migrator.pending()[0], "oncall-1")
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(10)

    assert "failed at line 1: canceling statement due to lock timeout" in raised.value.message
    assert waited < 5
    assert (
        pg_database.scalar(
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"
        )
        == 0
    )


def test_statement_timeout_from_the_config(pg_database, pg_config, migrations):
    migrations(**{"001_slow": "CREATE TABLE t (id int);\nSELECT pg_sleep(5);"})
    migrator = migrator_for(pg_config(statement_timeout="200ms"))

    with pytest.raises(ProviderError) as raised:
        migrator.apply(migrator.pending()[0], "oncall-1")

    assert "failed at line 2: canceling statement due to statement timeout" in raised.value.message
    assert "public.t" not in pg_database.tables()


def test_a_bad_timeout_value_is_named_as_config(pg_database, pg_config, migrations):
    migrations(**{"001_a": "CREATE TABLE a (id int);"})
    # Loading a config file refuses it (tests/unit/test_config_meaning.py); a config built
    # in code skips that check, and PostgreSQL's refusal still reads as a config error.
    cfg = load_config(pg_config())
    bad = cfg.database.model_copy(update={"lock_timeout": "5 parsecs"})
    migrator = Migrator(cfg.model_copy(update={"database": bad}))

    with pytest.raises(ProviderError) as raised:
        migrator.apply(migrator.pending()[0], "oncall-1")

    assert "[database] lock_timeout = '5 parsecs'" in raised.value.message
    assert "public.a" not in pg_database.tables()


def test_transaction_control_in_a_file_is_refused(pg_database, pg_config, migrations):
    migrations(**{"001_tx": "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);"})
    migrator = migrator_for(pg_config())

    with pytest.raises(ProviderError) as raised:
        migrator.apply(migrator.pending()[0], "oncall-1")

    assert "001_tx.sql line 2: COMMIT is not allowed" in raised.value.message
    assert pg_database.tables() == []


def test_functions_with_bodies_apply_whole(pg_database, pg_config, migrations):
    migrations(
        **{
            "001_funcs": (
                "CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  RETURN i + 1;\nEND;\n$$;\n"
                "CREATE FUNCTION twice(i int) RETURNS int LANGUAGE sql\n"
                "BEGIN ATOMIC\n  SELECT i * 2;\nEND;\n"
                "CREATE TABLE notes (body text DEFAULT 'semi; colon');\n"
            )
        }
    )
    migrator = migrator_for(pg_config())

    migrator.apply(migrator.pending()[0], "oncall-1")

    assert pg_database.scalar("SELECT add_one(1) + twice(2)") == 6


def test_missing_migrations_dir_is_named(pg_database, pg_config, tmp_path):
    migrator = migrator_for(pg_config(migrations_dir=tmp_path / "nowhere"))
    with pytest.raises(ProviderError, match="migrations directory .*nowhere does not exist"):
        migrator.pending()


def test_unreachable_database(pg_config, migrations):
    migrations(**{"001_a": "SELECT 1;"})
    migrator = migrator_for(pg_config(dsn="postgresql://pmb:s3cret-pw@127.0.0.1:1/app"))
    with pytest.raises(ProviderError) as raised:
        migrator.pending()
    assert "unreachable" in raised.value.message
    assert "s3cret-pw" not in str(raised.value)


# --- splitting (no database) -----------------------------------------------------------


def test_split_respects_quotes_comments_and_bodies():
    sql = (
        "-- header; comment\n"
        "CREATE TABLE t (id int); /* block ; /* nested ; */ still */\n"
        "INSERT INTO t VALUES ('a;b'), (E'it\\'s;'), (1) RETURNING \"we;ird\";\n"
        "DO $body$ BEGIN PERFORM 1; END $body$;\n"
        "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 END;\nEND;\n"
        "SELECT 1 -- no semicolon at the end"
    )
    statements = split_statements(sql)
    assert [s.line for s in statements] == [2, 3, 4, 5, 9]
    assert statements[1].text.endswith('"we;ird";')
    assert statements[3].text.endswith("END;")
    assert statements[4].text == "SELECT 1 -- no semicolon at the end"


def test_split_drops_comment_only_tails():
    assert split_statements("-- nothing\n/* here */\n;\n") == []
