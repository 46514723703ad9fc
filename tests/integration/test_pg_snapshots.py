"""The pg_dump snapshot store against a real PostgreSQL, with real pg_dump and pg_restore."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from pmb_console.config import load_config
from pmb_console.errors import ProviderError
from pmb_console.providers.pg_dump import PgDumpSnapshotStore
from pmb_console.providers.postgres import connect, describe, table_row_counts

pytestmark = pytest.mark.postgres


@pytest.fixture
def shop(pg_database):
    """A small schema with data: two tables, a foreign key, a sequence."""
    pg_database.execute(
        """
        CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
        CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric);
        INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 50) g;
        INSERT INTO orders (customer_id, total) SELECT 1 + g % 50, g FROM generate_series(1, 200) g;
        """
    )
    return pg_database


def store_for(config_path: Path) -> PgDumpSnapshotStore:
    return PgDumpSnapshotStore(load_config(config_path))


def test_snapshot_writes_a_dump_and_a_manifest_beside_it(shop, pg_config, tmp_path):
    store = store_for(pg_config())
    messages = []

    info = store.create("before v1.1.0", lambda m, f=None: messages.append(m))

    dump = tmp_path / "backups" / f"{info.id}.dump"
    manifest = json.loads((tmp_path / "backups" / f"{info.id}.json").read_text())
    data = dump.read_bytes()
    assert manifest["id"] == info.id
    assert manifest["label"] == "before v1.1.0"
    assert manifest["kind"] == "manual"
    assert manifest["database"] == shop.name
    assert manifest["size_bytes"] == len(data) == info.size_bytes
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["server_version"] == shop.scalar("SHOW server_version")
    assert manifest["pg_dump_version"].startswith("pg_dump (PostgreSQL)")
    assert manifest["duration_s"] > 0
    assert manifest["table_row_counts"] == {"public.customers": 50, "public.orders": 200}
    assert manifest["created_at"] == info.created_at.isoformat()
    assert any("written" in m for m in messages)
    # It is a real custom-format dump holding both tables.
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True
    )
    assert "TABLE public customers" in listing.stdout
    assert "TABLE DATA public orders" in listing.stdout
    # Nothing half-written is left behind.
    assert sorted(p.suffix for p in (tmp_path / "backups").iterdir()) == [".dump", ".json"]


def test_list_is_newest_first(shop, pg_config):
    store = store_for(pg_config())
    made = [store.create(f"n{i}").id for i in range(3)]

    listed = store.list()

    assert [s.id for s in listed] == list(reversed(made))
    assert [s.label for s in listed] == ["n2", "n1", "n0"]
    assert all(s.status == "available" for s in listed)
    assert store.get(made[1]).label == "n1"


def test_restore_brings_back_deleted_rows_and_dropped_tables(shop, pg_config):
    store = store_for(pg_config())
    info = store.create("good state")
    shop.execute("DELETE FROM orders WHERE id > 10")
    shop.execute("UPDATE customers SET name = 'oops'")
    shop.execute("DROP TABLE orders")
    messages = []

    result = store.restore(info.id, lambda m, f=None: messages.append(m))

    assert shop.scalar("SELECT count(*) FROM orders") == 200
    assert shop.scalar("SELECT count(*) FROM customers WHERE name = 'oops'") == 0
    assert result.row_counts == {"public.customers": 50, "public.orders": 200}
    assert result.mismatches == []
    assert result.duration_s > 0
    assert any(m.startswith("pg_restore:") for m in messages)


def test_row_counts_of_a_restore_are_compared_with_the_manifest(shop, pg_config):
    store = store_for(pg_config())
    info = store.create("")
    path = Path(store.backup_dir) / f"{info.id}.json"
    manifest = json.loads(path.read_text())
    # A manifest claiming more rows than the dump holds: the restore must say so.
    manifest["table_row_counts"]["public.orders"] = 999
    manifest["table_row_counts"]["public.invoices"] = 3
    path.write_text(json.dumps(manifest))

    result = store.restore(info.id)

    assert result.mismatches == [
        "public.invoices: in the snapshot (3 rows) but missing from the database",
        "public.orders: snapshot has 999 rows, the database now 200",
    ]


def test_check_finds_a_changed_dump_and_restore_refuses_it(shop, pg_config):
    store = store_for(pg_config())
    info = store.create("")
    dump = Path(store.backup_dir) / f"{info.id}.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    shop.execute("DELETE FROM orders")

    problems = store.check(info.id)
    with pytest.raises(ProviderError) as raised:
        store.restore(info.id)

    assert len(problems) == 1 and "checksum mismatch" in problems[0]
    assert "checksum mismatch" in raised.value.message
    assert shop.scalar("SELECT count(*) FROM orders") == 0  # untouched


def test_check_of_an_unknown_or_malformed_id(pg_config):
    store = store_for(pg_config())
    assert store.check("20990101T000000Z-abcdef") == [
        f"no snapshot '20990101T000000Z-abcdef' in {store.backup_dir}"
    ]
    assert store.get("../../etc/passwd") is None
    assert store.check("../../etc/passwd")[0].startswith("no snapshot")


def test_row_counts_come_from_the_same_moment_as_the_dump(shop, pg_config):
    """Rows written after the snapshot are gone after the restore, and the counts still match."""
    store = store_for(pg_config())
    info = store.create("")
    shop.execute("INSERT INTO customers (name) SELECT 'late' FROM generate_series(1, 25)")

    result = store.restore(info.id)

    assert info.manifest["table_row_counts"]["public.customers"] == 50
    assert result.row_counts["public.customers"] == 50
    assert result.mismatches == []


# --- faults ----------------------------------------------------------------------------


def test_pg_dump_missing_is_named_and_nothing_is_written(shop, pg_config, tmp_path):
    store = store_for(pg_config(pg_dump="pg_dump-that-is-not-installed"))

    with pytest.raises(ProviderError) as raised:
        store.create("")

    assert "pg_dump not found" in raised.value.message
    assert "pg_dump-that-is-not-installed" in raised.value.message
    assert "[database.pg_dump] pg_dump" in raised.value.hint
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())


def test_backup_dir_not_writable(shop, pg_config, tmp_path):
    # Tests run as root, who may write anywhere; a regular file in the path stops anyone.
    (tmp_path / "afile").write_text("not a directory")
    store = store_for(pg_config(backup_dir=tmp_path / "afile" / "sub"))

    checks = {c.name: c for c in store.guards()}
    with pytest.raises(ProviderError) as raised:
        store.create("")

    assert not checks["backup directory writable"].ok
    assert "afile is not a directory" in checks["backup directory writable"].detail
    assert checks["database reachable"].ok
    assert "backup directory not writable" in raised.value.message
    assert "backup_dir" in raised.value.hint


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory anyway")
def test_backup_dir_without_write_permission(shop, pg_config, tmp_path):
    backups = tmp_path / "ro"
    backups.mkdir()
    backups.chmod(stat.S_IRUSR | stat.S_IXUSR)
    store = store_for(pg_config(backup_dir=backups))
    with pytest.raises(ProviderError, match="not writable"):
        store.create("")


def test_a_failed_dump_leaves_no_half_file(shop, pg_config, tmp_path):
    # A stand-in for a pg_dump that dies after writing part of the dump (a real crash
    # cannot be had on demand): it runs the real pg_dump, then fails.
    wrapper = tmp_path / "pg_dump_then_die"
    wrapper.write_text(
        '#!/bin/sh\npg_dump "$@"\necho "pg_dump: error: connection lost" >&2\nexit 1\n'
    )
    wrapper.chmod(0o755)
    store = store_for(pg_config(pg_dump=str(wrapper)))

    with pytest.raises(ProviderError) as raised:
        store.create("")

    assert "pg_dump failed (exit 1)" in raised.value.message
    assert "connection lost" in raised.value.message
    assert list((tmp_path / "backups").iterdir()) == []
    assert store.list() == []


def test_database_unreachable_names_it_without_the_password(pg_config, tmp_path):
    store = store_for(pg_config(dsn="postgresql://pmb:s3cret-pw@127.0.0.1:1/app"))

    checks = {c.name: c for c in store.guards()}
    with pytest.raises(ProviderError) as raised:
        store.create("")

    assert not checks["database reachable"].ok
    assert "127.0.0.1:1/app is unreachable" in raised.value.message
    assert "Connection refused" in raised.value.message
    assert "s3cret-pw" not in str(raised.value) + checks["database reachable"].detail
    assert not (tmp_path / "backups").exists() or list((tmp_path / "backups").iterdir()) == []


def test_unknown_role_is_a_refused_login_without_the_password(pg_database):
    with pytest.raises(ProviderError) as raised:
        connect(
            f"postgresql://nobody_here:s3cret-pw@127.0.0.1:5432/{pg_database.name}",
            connect_timeout=3,
        )

    assert "refused the login" in raised.value.message
    assert 'role "nobody_here" does not exist' in raised.value.message
    assert "PGPASSWORD" in raised.value.hint and ".pgpass" in raised.value.hint
    assert "s3cret-pw" not in str(raised.value)


def test_wrong_password_is_named_without_the_password(password_refusing_server):
    # The test server trusts everyone, so the refusal comes from a stand-in server that
    # speaks PostgreSQL's protocol over TCP (see tests/fixtures/postgres.py).
    dsn = f"postgresql://pmb:s3cret-pw@127.0.0.1:{password_refusing_server.port}/app"

    with pytest.raises(ProviderError) as raised:
        connect(dsn, connect_timeout=3)

    assert password_refusing_server.passwords_seen == [b"s3cret-pw"]  # libpq really sent it
    assert "password authentication failed" in raised.value.message
    assert "refused the login" in raised.value.message
    assert "s3cret-pw" not in str(raised.value)


def test_malformed_dsn_is_redacted():
    with pytest.raises(ProviderError) as raised:
        connect("postgresql://pmb:s3cret-pw@[broken/app")
    assert "malformed" in raised.value.message
    assert "s3cret-pw" not in str(raised.value)


def test_password_reaches_pg_dump_through_the_environment_not_argv(shop, pg_config, tmp_path):
    # A stand-in pg_dump that records what it was given, then runs the real one.
    seen = tmp_path / "seen"
    wrapper = tmp_path / "pg_dump_recorder"
    wrapper.write_text(
        f'#!/bin/sh\necho "argv: $@ | env: $PGPASSWORD" >> {seen}\nexec pg_dump "$@"\n'
    )
    wrapper.chmod(0o755)
    user = shop.server.params["user"]
    dsn = shop.url.replace(f"postgresql://{user}@", f"postgresql://{user}:s3cret-pw@", 1)
    store = store_for(pg_config(dsn=dsn, pg_dump=str(wrapper)))

    store.create("")

    calls = [line for line in seen.read_text().splitlines() if "--format=custom" in line]
    assert len(calls) == 1
    argv, env = calls[0].split(" | ")
    assert "s3cret-pw" not in argv
    assert f"dbname={shop.name}" in argv
    assert env == "env: s3cret-pw"


def test_helpers(shop):
    assert describe("postgresql://u:pw@db.example:6432/app") == "db.example:6432/app"
    assert describe("host=h dbname=d password=pw") == "h:5432/d"
    with connect(shop.dsn) as conn:
        assert table_row_counts(conn) == {"public.customers": 50, "public.orders": 200}


def test_delete_removes_the_dump_and_its_manifest(shop, pg_config):
    store = store_for(pg_config())
    keep, drop = store.create("keep"), store.create("drop")

    store.delete(drop.id)

    assert [s.id for s in store.list()] == [keep.id]
    assert sorted(p.name for p in Path(store.backup_dir).iterdir()) == [
        f"{keep.id}.dump",
        f"{keep.id}.json",
    ]
    with pytest.raises(ProviderError, match="no snapshot"):
        store.delete(drop.id)


def test_a_damaged_manifest_is_listed_as_damaged_not_a_crash(shop, pg_config):
    store = store_for(pg_config())
    good = store.create("good")
    (Path(store.backup_dir) / "20200101T000000Z-000000.json").write_text("{not json")

    listed = {s.id: s for s in store.list()}

    assert listed[good.id].status == "available"
    assert listed["20200101T000000Z-000000"].status == "damaged"
    assert "cannot be read" in store.check("20200101T000000Z-000000")[0]
