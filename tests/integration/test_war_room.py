"""The war room: several consoles, one PostgreSQL — one lock, one audit log, one feed.

Real HAProxy, real PostgreSQL, and real `pmb-console` processes racing each other.
"""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.traffic import SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.providers.pg_shared import AuditFeed, PgAuditLog

AUDIT_ENV = "PMB_TEST_AUDIT_URL"


@pytest.fixture
def war_room(haproxy, pg_database, tmp_path, monkeypatch):
    """Two operators' configs: separate state dirs, one shared audit database."""
    monkeypatch.setenv(AUDIT_ENV, pg_database.url)
    configs = {}
    for who in ("alice", "bob"):
        path = haproxy.write_pmb_config(tmp_path / who, operator=json.dumps(who))
        path.write_text(path.read_text() + f'\n[audit]\ndsn_env = "{AUDIT_ENV}"\n')
        configs[who] = str(path)
    return configs


def cli(config, *args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "pmb_console", *args, "--config", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_two_consoles_racing_the_same_switch_never_both_proceed(war_room, haproxy, pg_database):
    rounds = 50
    target = "green"
    operators = ("alice", "bob")
    for _ in range(rounds):
        procs = [cli(war_room[who], "switch", "--to", target, "--yes") for who in operators]
        results = [(p.wait(60), p.communicate()[1]) for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes[0] == 0, results
        # The loser was locked out (4, naming the holder), saw the change made under it
        # (3, naming who made it), or found nothing left to do (0).
        assert codes[1] in (0, 3, 4), results
        for who, (code, err) in zip(operators, results, strict=True):
            other = "bob" if who == "alice" else "alice"
            if code == 4:
                assert "holds the lock" in err and f"{other} on" in err, results
            if code == 3:
                assert "changed since the plan" in err, results
                assert f"by {other}'s switch traffic at" in err, results
        assert haproxy.requests(4) == {target: 4}
        target = "blue" if target == "green" else "green"

    log = PgAuditLog(pg_database.url)
    records = log.records()
    succeeded = [r for r in records if r["action"] == "switch" and r["outcome"] == "succeeded"]
    assert len(succeeded) == rounds  # exactly one change per round
    run_ids = [r["run_id"] for r in records]
    started = [r for r in records if r["outcome"] == "started"]
    assert len(started) == rounds
    assert len({(r["run_id"], r["outcome"]) for r in records}) == len(records)  # nothing duplicated
    assert set(r["run_id"] for r in started) <= set(run_ids)
    checked, problem = log.verify()
    assert problem is None and checked == len(records)


def test_a_plan_overtaken_by_another_console_is_refused_naming_who_changed_it(war_room, haproxy):
    bob = bootstrap(load_config(war_room["bob"]))

    def confirm_while_alice_switches(preview):
        assert cli(war_room["alice"], "switch", "--to", "green", "--yes").wait(60) == 0
        return Confirmation.yes()

    out = bob.runner.run(SwitchAction("green", weight=50), confirm_while_alice_switches)

    assert out.status == "refused" and out.exit_code == 3
    assert "the systems changed since the plan was made, by alice's switch traffic at" in (
        out.message
    )
    assert haproxy.requests(4) == {"green": 4}  # alice's change stands, bob's did not happen


def test_tampering_with_a_row_is_named_by_verify(war_room, pg_database):
    for who in ("alice", "bob", "alice"):
        assert cli(
            war_room[who], "switch", "--to", "green" if who == "bob" else "blue", "--yes"
        ).wait(60) in (0,)
    p = cli(war_room["alice"], "audit", "--verify")
    assert p.wait(60) == 0 and "intact" in p.communicate()[0]
    seq = pg_database.scalar("SELECT seq FROM pmb_audit ORDER BY seq OFFSET 2 LIMIT 1")
    pg_database.execute(
        "UPDATE pmb_audit SET record = jsonb_set(record, '{operator}', '\"mallory\"') WHERE seq = %s",
        (seq,),
    )
    p = cli(war_room["bob"], "audit", "--verify")
    out = p.communicate()[0]
    assert p.returncode == 1 and f"row {seq}" in out and "edited" in out


def test_a_deleted_row_breaks_the_chain_at_the_next_one(war_room, pg_database):
    for target in ("green", "blue"):
        assert cli(war_room["alice"], "switch", "--to", target, "--yes").wait(60) == 0
    seqs = [r[0] for r in pg_database.rows("SELECT seq FROM pmb_audit ORDER BY seq")]
    pg_database.execute("DELETE FROM pmb_audit WHERE seq = %s", (seqs[1],))
    checked, problem = PgAuditLog(pg_database.url).verify()
    assert checked == 1 and f"row {seqs[2]}" in problem


def test_a_deliberate_lock_blocks_others_until_unlocked(war_room, haproxy):
    p = cli(war_room["alice"], "lock", "--reason", "database maintenance")
    assert p.wait(60) == 0, p.communicate()
    p = cli(war_room["bob"], "switch", "--to", "green", "--yes")
    err = p.communicate()[1]
    assert p.returncode == 4 and "alice" in err and "database maintenance" in err
    assert haproxy.requests(4) == {"blue": 4}

    p = cli(war_room["bob"], "unlock")
    assert p.wait(60) == 4
    lock_id = bootstrap(load_config(war_room["bob"])).lock.deliberate().lock_id
    p = cli(war_room["bob"], "unlock", "--force", "wrong-id")
    assert p.wait(60) == 2 and lock_id in p.communicate()[1]
    p = cli(war_room["bob"], "unlock", "--force", lock_id)
    assert p.wait(60) == 0, p.communicate()
    assert cli(war_room["bob"], "switch", "--to", "green", "--yes").wait(60) == 0
    records = bootstrap(load_config(war_room["alice"])).audit.records()
    forced = [r for r in records if r["action"] == "unlock"]
    assert forced and forced[-1]["forced"] is True and forced[-1]["operator"] == "bob"


def test_an_unreachable_shared_database_refuses_changes_and_leaves_traffic(war_room, haproxy):
    dead = {AUDIT_ENV: "postgresql://root@127.0.0.1:1/nowhere?connect_timeout=2"}
    p = cli(war_room["alice"], "switch", "--to", "green", "--yes", env=dead)
    out, err = p.communicate()
    assert p.returncode == 1 and "Traceback" not in err
    assert "unreachable" in err
    assert haproxy.requests(4) == {"blue": 4}


def test_the_feed_hears_another_console_within_a_second_and_survives_a_lost_connection(
    war_room, pg_database
):
    heard, status = [], []
    got = threading.Event()
    log = PgAuditLog(pg_database.url)
    feed = AuditFeed(
        log,
        lambda recs: (heard.extend(recs), got.set()),
        lambda ok, msg: status.append((ok, msg)),
        max_backoff=1.0,
    )
    feed.start()
    try:
        deadline = time.monotonic() + 10
        while not status and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status[-1][0] is True
        other = bootstrap(load_config(war_room["bob"]))
        t0 = time.monotonic()
        other.runner.record_event("note", message="bob says hi")
        assert got.wait(5)
        assert time.monotonic() - t0 < 1.0
        assert heard[-1]["message"] == "bob says hi" and heard[-1]["operator"] == "bob"

        # The database drops every connection (a failover, a restart).
        got.clear()
        pg_database.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + 10
        while not any(not ok for ok, _ in status) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(not ok and "lost" in msg for ok, msg in status)
        other.runner.record_event("note", message="written while the feed was down")
        assert got.wait(10)  # reconnected and caught up by sequence number
        assert heard[-1]["message"] == "written while the feed was down"
        assert status[-1][0] is True
    finally:
        feed.stop()


def test_the_feed_starts_at_the_end_of_the_log_and_sends_only_what_comes_after(
    war_room, pg_database
):
    alice = bootstrap(load_config(war_room["alice"]))
    for i in range(30):
        alice.runner.record_event("note", message=f"old note {i}")
    heard, status = [], []
    got = threading.Event()
    feed = AuditFeed(
        PgAuditLog(pg_database.url),
        lambda recs: (heard.extend(recs), got.set()),
        lambda ok, msg: status.append((ok, msg)),
    )
    feed.start()
    try:
        deadline = time.monotonic() + 10
        while not status and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status and status[-1][0] is True
        bootstrap(load_config(war_room["bob"])).runner.record_event("note", message="new")
        assert got.wait(5)
        # the console shows the old ones from its own read of the tail, not all over again
        assert [r["message"] for r in heard] == ["new"]
    finally:
        feed.stop()
