"""`pmb-console demo --postgres`: a scratch database for the real pg_dump store and a second
one as the restore drill's target, both dropped at the end."""

from __future__ import annotations

import argparse
import signal
import socket
import time

import psycopg
import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.actions.drill import DrillAction, DrillHistory
from pmb_console.bootstrap import bootstrap
from pmb_console.demo.scratch_db import DemoPostgres, ScratchDatabase
from pmb_console.demo.session import DRILL_DSN_ENV, DSN_ENV, demo_config
from pmb_console.demo.stack import DemoStack
from pmb_console.errors import ProviderError
from tests.integration.test_demo_process import start_demo, tail

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


def demo_databases(pg_server) -> set[str]:
    with pg_server.admin() as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pmb_demo_%'")
        return {name for (name,) in rows}


def test_demo_postgres_drills_into_its_own_scratch_target(pg_env, monkeypatch):
    for name in (DSN_ENV, DRILL_DSN_ENV):
        monkeypatch.delenv(name, raising=False)
    args = argparse.Namespace(scenario=None, postgres=True, read_only=False, theme=None)
    postgres = DemoPostgres()
    with DemoStack() as stack:
        postgres.create()
        try:
            config = demo_config(stack, args, postgres.database.dsn, postgres.drill_target.dsn)
            assert config.database.drill.target_dsn_env == DRILL_DSN_ENV
            services = bootstrap(config)
            taken = services.runner.run(SnapshotAction("before the drill"), Confirmation.yes())
            assert taken.status == "succeeded", taken.message

            outcome = services.runner.run(DrillAction(), Confirmation.yes())

            assert outcome.status == "succeeded", f"{outcome.message} {outcome.hint}"
            guards = {g.name: g for g in outcome.guards}
            assert guards["drill target is not production"].ok
            (record,) = DrillHistory(stack.state_dir).records()
            phases = {p["name"]: p for p in record["phases"]}
            assert list(phases) == ["checksum", "restore", "row counts", "smoke"]
            assert phases["smoke"]["detail"] == "the smoke query answered '5000'"
            assert postgres.drill_target.name in record["target"]
            with psycopg.connect(postgres.drill_target.dsn) as conn:
                assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 5000
        finally:
            postgres.drop()
    assert not database_exists(pg_env, postgres.database.name)
    assert not database_exists(pg_env, postgres.drill_target.name)


def test_the_demo_program_drops_both_scratch_databases_when_it_stops(pg_env, tmp_path):
    before = demo_databases(pg_env)
    proc, screen = start_demo(tmp_path, "--postgres")
    try:
        deadline = time.monotonic() + 20
        made: set[str] = set()
        while time.monotonic() < deadline and (len(made) < 2 or b"DEMO" not in screen):
            assert proc.poll() is None, f"the demo exited early:\n{tail(screen)}"
            made = demo_databases(pg_env) - before
            time.sleep(0.2)
        assert b"DEMO" in screen, tail(screen)
        assert len(made) == 2 and sum(n.startswith("pmb_demo_drill_") for n in made) == 1, made

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, tail(screen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert not made & demo_databases(pg_env)


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
