"""`pmb-console demo --postgres`: a scratch database for the real pg_dump store, dropped at the end."""

from __future__ import annotations

import argparse
import socket

import psycopg
import pytest

from pmb_console.bootstrap import bootstrap
from pmb_console.demo.scratch_db import ScratchDatabase
from pmb_console.demo.session import DSN_ENV, demo_config
from pmb_console.demo.stack import DemoStack
from pmb_console.errors import ProviderError

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_env(pg_server, monkeypatch):
    """libpq's PG* variables pointing at the test server, as a user would set them."""
    for key, var in (
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("user", "PGUSER"),
        ("password", "PGPASSWORD"),
    ):
        if pg_server.params.get(key):
            monkeypatch.setenv(var, pg_server.params[key])
    monkeypatch.delenv("PGDATABASE", raising=False)
    return pg_server


def database_exists(pg_server, name: str) -> bool:
    with pg_server.admin() as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def test_scratch_database_feeds_the_pg_dump_store_and_is_dropped(pg_env, monkeypatch):
    monkeypatch.delenv(DSN_ENV, raising=False)
    scratch = ScratchDatabase()
    args = argparse.Namespace(scenario=None, postgres=True, read_only=False, theme=None)
    with DemoStack() as stack:
        dsn = scratch.create()
        try:
            assert database_exists(pg_env, scratch.name)
            with psycopg.connect(dsn) as conn:
                assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 5000
            config = demo_config(stack, args, dsn)
            assert config.database.provider == "pg_dump" and config.database.dsn_env == DSN_ENV
            services = bootstrap(config)
            snap = services.snapshots.create("demo --postgres")
            assert [s.id for s in services.snapshots.list()] == [snap.id]
            assert services.snapshots.check(snap.id) == []
        finally:
            scratch.drop()
    assert not database_exists(pg_env, scratch.name)


def test_unreachable_postgres_is_said_with_a_hint(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(port))
    with pytest.raises(ProviderError) as raised:
        ScratchDatabase(connect_timeout=2).create()
    assert "`demo --postgres` needs PostgreSQL" in raised.value.message
    assert "PGHOST" in raised.value.hint and "without --postgres" in raised.value.hint
