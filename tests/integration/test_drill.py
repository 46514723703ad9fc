"""Restore drills against a real PostgreSQL: a database with data, a snapshot, a drill into
a second database; a damaged snapshot fails at the checksum phase; production is never
the drill target, however the target's DSN is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction, list_snapshots
from pmb_console.actions.drill import DrillAction, DrillHistory, last_drill, resolve_address
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config

pytestmark = pytest.mark.postgres

TARGET_ENV = "PMB_TEST_DRILL_URL"
PROGRAM = Path(sys.executable).with_name("pmb-console")


@pytest.fixture
def production(pg_database):
    pg_database.execute(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
        "INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 500) g;"
        "CREATE TABLE tags (id int PRIMARY KEY, name text);"
        "INSERT INTO tags SELECT g, 'tag ' || g FROM generate_series(1, 20) g;"
    )
    return pg_database


@pytest.fixture
def scratch(pg_drill_target):
    return pg_drill_target


@pytest.fixture
def drill_config(production, scratch, pg_config, monkeypatch):
    """write(target_url=scratch, smoke=...) -> config path, with a snapshot already taken."""

    def write(
        target_url: str | None = None, smoke: str = "SELECT count(*) = 500 FROM notes"
    ) -> Path:
        monkeypatch.setenv(TARGET_ENV, scratch.url if target_url is None else target_url)
        return pg_config(
            f'\n[database.drill]\ntarget_dsn_env = "{TARGET_ENV}"\nsmoke_query = "{smoke}"\n'
        )

    return write


def services(config_path: Path):
    return bootstrap(load_config(config_path))


def snapshot(ctx) -> str:
    outcome = ctx.runner.run(SnapshotAction("for the drill"), Confirmation.yes())
    assert outcome.status == "succeeded", outcome.message
    return outcome.result["snapshot_id"]


def fingerprint(db) -> list[tuple]:
    return db.rows("SELECT id, body FROM notes ORDER BY id")


def test_a_drill_restores_into_the_scratch_database_and_checks_it(
    production, scratch, drill_config
):
    ctx = services(drill_config())
    snap = snapshot(ctx)
    production.execute("INSERT INTO notes (body) VALUES ('after the snapshot')")
    before = fingerprint(production)
    seen: list[str] = []

    outcome = ctx.runner.run(
        DrillAction(), Confirmation.yes(), progress=lambda m, f=None: seen.append(m)
    )

    assert outcome.status == "succeeded", outcome.message
    assert scratch.scalar("SELECT count(*) FROM notes") == 500
    assert scratch.scalar("SELECT count(*) FROM tags") == 20
    assert fingerprint(production) == before  # production untouched: 501 rows
    drill = outcome.verification.state["drill"]
    assert drill["snapshot_id"] == snap and drill["ok"]
    assert [p["name"] for p in drill["phases"]] == ["checksum", "restore", "row counts", "smoke"]
    assert all(p["ok"] and p["duration_s"] >= 0 for p in drill["phases"])
    assert "2 tables, 520 rows" in drill["phases"][2]["detail"]
    assert any(m.startswith("drill restore") for m in seen)
    assert last_drill(ctx.config.console.state_dir)["run"] == drill["run"]


def test_a_drill_of_a_given_snapshot(production, scratch, drill_config):
    ctx = services(drill_config())
    first = snapshot(ctx)
    production.execute("DELETE FROM notes WHERE id > 100")
    snapshot(ctx)

    outcome = ctx.runner.run(DrillAction(first), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    assert outcome.verification.state["drill"]["snapshot_id"] == first
    assert scratch.scalar("SELECT count(*) FROM notes") == 500


def test_a_damaged_snapshot_fails_at_the_checksum_phase(
    production, scratch, drill_config, tmp_path
):
    ctx = services(drill_config())
    snap = snapshot(ctx)
    dump = tmp_path / "backups" / f"{snap}.dump"
    dump.write_bytes(dump.read_bytes()[:-10] + b"0123456789")
    scratch.execute("CREATE TABLE left_alone (id int)")

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes())

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert (
        "failed at the checksum phase" in outcome.message and "checksum mismatch" in outcome.message
    )
    assert "production database was not touched" in outcome.hint
    assert scratch.tables() == ["public.left_alone"]  # nothing was restored
    (drill,) = DrillHistory(ctx.config.console.state_dir).records()
    assert not drill["ok"] and [p["name"] for p in drill["phases"]] == ["checksum"]
    assert last_drill(ctx.config.console.state_dir) is None  # no passed drill to quote


def test_a_failing_smoke_query_fails_the_drill_at_the_smoke_phase(
    production, scratch, drill_config
):
    ctx = services(drill_config(smoke="SELECT count(*) = 9999 FROM notes"))
    snapshot(ctx)

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes())

    assert outcome.status == "failed"
    assert "failed at the smoke phase: the smoke query answered False" in outcome.message
    (drill,) = DrillHistory(ctx.config.console.state_dir).records()
    assert [p["ok"] for p in drill["phases"]] == [True, True, True, False]


@pytest.mark.parametrize(
    "spelling",
    ["same", "key-value", "localhost", "socket"],
)
def test_production_is_never_the_drill_target(production, drill_config, spelling):
    url = production.url
    target = {
        "same": url,
        "key-value": f"host=127.0.0.1 port=5432 dbname={production.name} user={production.server.params['user']}",
        "localhost": url.replace("127.0.0.1", "localhost"),
        "socket": f"postgresql://{production.server.params['user']}@/{production.name}?host=/var/run/postgresql",
    }[spelling]
    ctx = services(drill_config(target_url=target))
    snapshot(ctx)
    production.execute("INSERT INTO notes (body) VALUES ('written after the snapshot')")
    before = fingerprint(production)  # a restore of the snapshot would lose the last row

    refused = ctx.runner.run(DrillAction(), Confirmation.yes())
    forced = ctx.runner.run(DrillAction(), Confirmation.yes(), force=True, reason="try anyway")

    assert refused.status == "refused" and refused.exit_code == 3
    assert (
        "is the production database" in refused.message
        or "reaches the production" in refused.message
    )
    assert forced.status == "failed" and "drill refused" in forced.message
    assert fingerprint(production) == before and len(before) == 501
    assert DrillHistory(ctx.config.console.state_dir).records() == []  # no drill ever started


def test_a_target_only_the_servers_can_tell_is_production_is_refused(production, drill_config):
    # The addresses differ (a host name nobody resolves), but hostaddr leads libpq to the
    # very same server: only asking the servers themselves finds out.
    user = production.server.params["user"]
    target = (
        f"host=pmb-drill-alias hostaddr=127.0.0.1 port=5432 dbname={production.name} user={user}"
    )
    ctx = services(drill_config(target_url=target))
    snapshot(ctx)

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes())

    assert outcome.status == "refused" and outcome.exit_code == 3
    assert "the same server and database, written differently" in outcome.message


def test_the_address_resolution_fills_libpq_defaults(monkeypatch):
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("PGPORT", "6432")
    monkeypatch.setenv("PGDATABASE", "pmbuddy")

    assert str(resolve_address("")) == "db.internal:6432/pmbuddy"
    assert resolve_address("dbname=pmbuddy").same_place(
        resolve_address("postgresql://db.internal:6432")
    )
    assert not resolve_address("dbname=scratch").same_place(resolve_address(""))


def test_an_unset_drill_target_is_refused_before_anything(production, drill_config, monkeypatch):
    ctx = services(drill_config())
    snapshot(ctx)
    monkeypatch.delenv(TARGET_ENV)

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes())

    assert outcome.status == "failed"
    assert f"names {TARGET_ENV}, which is not set" in outcome.message


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(PROGRAM)] if PROGRAM.exists() else [sys.executable, "-m", "pmb_console"]
    return subprocess.run(
        [*command, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_the_cli_drill_and_its_history(production, scratch, drill_config):
    config = drill_config()
    ctx = services(config)
    snap = snapshot(ctx)

    done = pmb(config, "drill")
    history = pmb(config, "drill", "--history")
    as_json = pmb(config, "drill", "--history", "--json")

    assert done.returncode == 0, done.stderr
    assert "restore drill done and verified" in done.stdout
    assert "drill restore" in done.stderr  # progress throughout
    assert history.returncode == 0 and snap in history.stdout and "pass" in history.stdout
    (record,) = json.loads(as_json.stdout)
    assert record["ok"] and record["snapshot_id"] == snap
    assert list_snapshots(ctx)[0].id == snap  # the drill took no snapshot of its own


def test_the_cli_drill_into_production_exits_3(production, drill_config):
    config = drill_config(target_url=production.url)
    snapshot(services(config))

    done = pmb(config, "drill")

    assert done.returncode == 3
    assert "production" in done.stderr and "Traceback" not in done.stderr
