"""Resume after a drop: the real program killed with SIGKILL mid-switch and mid-restore.

How each action is made slow for real:

- the switch: the console talks to HAProxy's runtime API through a relay socket (a slow
  link). The relay forwards every command at once, but holds HAProxy's answer to the
  line that raises green's weight, so HAProxy has applied that first half of the switch
  and the console waits for the answer when the test kills it; the second half (taking
  blue's weight away) is never sent. HAProxy itself is real and unchanged.
- the restore: the test holds a read lock on the table in an open transaction, so
  pg_restore's DROP TABLE waits for it (after the safety snapshot, which only reads,
  has been taken). The console is killed while pg_restore waits; pg_restore outlives
  it, as it would after an SSH drop.
- the deploy: the configured deploy command prints its first half, then waits for a file
  the test creates only after the console is dead; it writes the new version and prints
  its second half. Its output goes to a file, not a pipe, so it carries on.

Then `pmb-console resume` is run as a new process and must show what the systems say.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from tests.fixtures.haproxy import Haproxy
from tests.fixtures.postgres import PgDatabase
from tests.integration.test_deploy import Instance, _py, write_config

WAIT_S = 20.0


def pmb(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_pmb(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pmb_console", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, seconds: float = WAIT_S) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up after {seconds:g} s waiting for {what}")


class HoldingRelay:
    """A unix socket in front of HAProxy's runtime socket; holds the answer to one line."""

    def __init__(self, target: Path, hold_on: Callable[[str], bool]) -> None:
        self.target = target
        self.hold_on = hold_on
        self.held = threading.Event()
        self.release = threading.Event()
        self.lines: list[str] = []
        self.dir = Path(tempfile.mkdtemp(prefix="pmbrelay-"))
        self.path = self.dir / "relay.sock"
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(self.path))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            line = data.decode()
            self.lines.append(line.strip())
            try:
                with socket.socket(socket.AF_UNIX) as upstream:
                    upstream.connect(str(self.target))
                    upstream.sendall(data)
                    answer = b"".join(iter(lambda: upstream.recv(65536), b""))
            except OSError:
                return  # HAProxy is gone: the console sees its connection closed unanswered
            if not self.held.is_set() and self.hold_on(line):
                self.held.set()
                self.release.wait(WAIT_S)
            try:
                conn.sendall(answer)
            except OSError:
                pass  # the console is gone

    def close(self) -> None:
        self.release.set()
        self.sock.close()
        for p in self.dir.iterdir():
            p.unlink()
        self.dir.rmdir()


@pytest.fixture
def relay(haproxy: Haproxy) -> Iterator[HoldingRelay]:
    proxy = HoldingRelay(haproxy.socket_path, lambda line: "pmbuddy/green weight" in line)
    yield proxy
    proxy.close()


def _switch_config(haproxy: Haproxy, relay: HoldingRelay, tmp_path: Path) -> Path:
    return haproxy.write_pmb_config(
        tmp_path, runtime_api=json.dumps(f"unix://{relay.path}"), timeout="30"
    )


def _kill_mid_switch(haproxy: Haproxy, relay: HoldingRelay, config: Path) -> None:
    proc = start_pmb(config, "switch", "--to", "green", "--yes")
    try:
        assert relay.held.wait(WAIT_S), f"the switch never raised green's weight: {relay.lines}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        relay.release.set()
    assert proc.returncode == -signal.SIGKILL
    # HAProxy took the first half: green raised, blue not yet lowered.
    assert haproxy.weights() == {"blue": 100, "green": 100}


def test_killed_mid_switch_shows_the_half_made_change_and_goes_back(
    haproxy: Haproxy, relay: HoldingRelay, tmp_path: Path
) -> None:
    config = _switch_config(haproxy, relay, tmp_path)
    _kill_mid_switch(haproxy, relay, config)

    shown = pmb(config, "resume", "--json")
    assert shown.returncode == 1, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["action"] == "switch" and doc["state"] == "partial"
    assert doc["finding"].startswith("the change is half-made: traffic reads blue 50%, green 50%")
    assert doc["systems"]["traffic"]["live"] == "split"
    assert doc["finish"] == "switch green to 100% (blue 0%, green 100%)"
    assert doc["go_back"].startswith("switch traffic back to blue")

    text = pmb(config, "resume").stdout
    assert "INTERRUPTED: switch started" in text and "by tester" in text
    assert "traffic: live split (blue 50% · green 50%)" in text

    ctx = bootstrap(load_config(config))
    records = [r for r in ctx.audit.records() if r.get("run_id") == doc["run_id"]]
    assert [r["outcome"] for r in records] == [
        "started",
        "interrupted",
    ]  # shown twice, recorded once
    assert records[1]["interrupted_state"] == "partial"
    assert records[1]["state"]["weights"] == {"blue": 50, "green": 50}
    timeline = pmb(config, "postmortem").stdout
    assert "| tester | switch | interrupted |" in timeline
    assert "read back live split (blue 50% · green 50%)" in timeline
    journal = json.loads(pmb(config, "journal", "--json").stdout)
    assert next(s for s in journal if s["id"] == "switch-traffic")["state"] == "failed"

    back = pmb(config, "resume", "--go-back", "--yes")
    assert back.returncode == 0, back.stderr
    assert haproxy.weights() == {"blue": 100, "green": 0}
    assert set(haproxy.requests(10)) == {"blue"}
    assert pmb(config, "resume").stdout == "nothing was interrupted: no action is in flight\n"


def test_killed_mid_switch_can_be_finished(
    haproxy: Haproxy, relay: HoldingRelay, tmp_path: Path
) -> None:
    config = _switch_config(haproxy, relay, tmp_path)
    _kill_mid_switch(haproxy, relay, config)
    done = pmb(config, "resume", "--finish", "--yes")
    assert done.returncode == 0, done.stderr
    assert haproxy.weights() == {"blue": 0, "green": 100}
    assert set(haproxy.requests(10)) == {"green"}
    status = json.loads(pmb(config, "status", "--json").stdout)
    assert status["live"] == "green"


# --- mid-restore -------------------------------------------------------------------------


ROWS = 20_000


def _pg_restores(db: PgDatabase) -> list[tuple]:
    return db.rows(
        "SELECT pid, coalesce(wait_event_type, '') FROM pg_stat_activity "
        "WHERE application_name = 'pg_restore' AND datname = %s",
        (db.name,),
    )


def test_killed_mid_restore_shows_pg_restore_still_running_then_its_result(
    pg_database: PgDatabase, pg_config, tmp_path: Path
) -> None:
    config = pg_config()
    pg_database.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    pg_database.execute(
        "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, %s::int) g", (ROWS,)
    )
    ctx = bootstrap(load_config(config))
    taken = ctx.runner.run(SnapshotAction("before the release"), Confirmation.yes())
    assert taken.status == "succeeded", taken.message
    snapshot_id = taken.result["snapshot_id"]
    pg_database.execute(
        "INSERT INTO items SELECT g, 'late ' || g FROM generate_series(%s::int, %s::int) g",
        (ROWS + 1, ROWS + 500),
    )

    holder = pg_database.connect()
    holder.autocommit = False
    holder.execute("SELECT 1 FROM items LIMIT 1")  # a read lock, held until rollback
    proc = start_pmb(config, "restore", snapshot_id, "--confirm", "test")
    try:
        wait_for(
            lambda: any(kind == "Lock" for _, kind in _pg_restores(pg_database)),
            "pg_restore to wait for the test's lock",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        waiting = pmb(config, "resume", "--json")
        assert waiting.returncode == 1, waiting.stderr
        doc = json.loads(waiting.stdout)
        assert doc["action"] == "restore" and doc["state"] == "still-running"
        assert "a pg_restore is still connected to the database" in doc["finding"]
        assert "waiting on Lock" in doc["finding"]
    finally:
        holder.rollback()
        holder.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    wait_for(lambda: not _pg_restores(pg_database), "pg_restore to end", 60)

    # pg_restore outlived the console only while it waited: its progress goes to the dead
    # console's pipe, so its next line ends it part-way, which is what resume must now say.
    ended = json.loads(pmb(config, "resume", "--json").stdout)
    assert ended["state"] == "partial"
    assert ended["finding"].startswith(
        "the database does not hold the snapshot's row counts: the restore "
        f"stopped part-way (public.items: snapshot has {ROWS} rows"
    )
    assert ended["finish"] == f"restore {snapshot_id} again from the start"
    assert ended["go_back"].startswith("restore the safety snapshot ")

    readings = [
        r
        for r in ctx.audit.records()
        if r.get("run_id") == doc["run_id"] and r.get("outcome") == "interrupted"
    ]
    assert [r["interrupted_state"] for r in readings] == ["still-running", "partial"]

    refused = pmb(config, "resume", "--finish", "--confirm", "prod")
    assert refused.returncode == 3 and "type the environment name exactly: test" in refused.stderr
    finished = pmb(config, "resume", "--finish", "--confirm", "test")
    assert finished.returncode == 0, finished.stderr
    assert pg_database.scalar("SELECT count(*) FROM items") == ROWS
    assert pmb(config, "resume").stdout == "nothing was interrupted: no action is in flight\n"
    journal = json.loads(pmb(config, "journal", "--json").stdout)
    assert next(s for s in journal if s["id"] == "rollback-database")["state"] == "done"


def test_dismissing_an_interrupted_action_is_recorded(
    haproxy: Haproxy, relay: HoldingRelay, tmp_path: Path
) -> None:
    config = _switch_config(haproxy, relay, tmp_path)
    _kill_mid_switch(haproxy, relay, config)
    dismissed = pmb(config, "resume", "--dismiss")
    assert dismissed.returncode == 0 and "dismissed" in dismissed.stdout
    assert pmb(config, "resume").stdout == "nothing was interrupted: no action is in flight\n"
    assert not os.path.exists(tmp_path / "state" / "in-flight.json")
    assert haproxy.weights() == {"blue": 100, "green": 100}  # left as it was, as asked
    ctx = bootstrap(load_config(config))
    assert ctx.audit.last(lambda r: r.get("outcome") == "dismissed")["action"] == "switch"


def test_with_haproxy_gone_resume_says_it_cannot_tell(
    haproxy: Haproxy, relay: HoldingRelay, tmp_path: Path
) -> None:
    config = _switch_config(haproxy, relay, tmp_path)
    _kill_mid_switch(haproxy, relay, config)
    haproxy.stop()
    shown = pmb(config, "resume", "--json")
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["state"] == "unknown"
    assert doc["finding"].startswith("traffic could not be read back: traffic: ")
    assert doc["finding"].endswith("nothing can be said about the switch")
    refused = pmb(config, "resume", "--finish", "--yes")
    assert refused.returncode == 3 and "nothing to finish" in refused.stderr


# --- mid-deploy ----------------------------------------------------------------------------


@pytest.fixture
def green_instance(tmp_path: Path) -> Iterator[Instance]:
    version_file = tmp_path / "green-version"
    version_file.write_text("v1.0.0")
    server = Instance(version_file)
    yield server
    server.close()


def test_killed_mid_deploy_the_command_carries_on_and_resume_reads_its_result(
    green_instance: Instance, tmp_path: Path
) -> None:
    """The deploy command sleeps between its two halves; the console is killed in between."""
    release = tmp_path / "release-now"
    deploy = _py(
        "import pathlib, time\n"
        "print('applying deployment/pmbuddy-green', flush=True)\n"
        f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)\n"
        f"pathlib.Path({str(green_instance.version_file)!r}).write_text('v1.1.0')\n"
        "print('deployment/pmbuddy-green rolled out', flush=True)"
    )
    config = write_config(tmp_path, green_instance, deploy=deploy)
    proc = start_pmb(
        config, "deploy", "--yes", "--force", "--reason", "provisioned by the platform team"
    )
    try:
        log_dir = tmp_path / "state" / "commands"
        wait_for(
            lambda: any("applying" in p.read_text() for p in log_dir.glob("*-deploy.log")),
            "the deploy command to start",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        running = json.loads(pmb(config, "resume", "--json").stdout)
        assert running["action"] == "deploy" and running["state"] == "still-running"
        assert "the command is still running without the console" in running["finding"]
        assert "last said: applying deployment/pmbuddy-green" in running["finding"]
    finally:
        release.touch()  # let the command finish its second half
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    wait_for(
        lambda: green_instance.version_file.read_text() == "v1.1.0", "the command to deploy v1.1.0"
    )
    wait_for(
        lambda: json.loads(pmb(config, "resume", "--json").stdout)["state"] != "still-running",
        "the command to end",
    )

    ended = json.loads(pmb(config, "resume", "--json").stdout)
    assert ended["state"] == "finished"
    assert "last said: deployment/pmbuddy-green rolled out" in ended["finding"]
    assert "green-1 answers and reports v1.1.0 (/healthz release.version)" in ended["finding"]
    journal = json.loads(pmb(config, "journal", "--json").stdout)
    deploy_step = next(s for s in journal if s["id"] == "deploy-green")
    assert deploy_step["state"] == "done" and deploy_step["evidence"].startswith(
        "interrupted: read back as finished"
    )
    assert pmb(config, "resume", "--dismiss").returncode == 0
    assert pmb(config, "resume").stdout == "nothing was interrupted: no action is in flight\n"
    assert not (tmp_path / "state" / "commands" / "running.json").exists()
