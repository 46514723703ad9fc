"""The real `pmb-console` program against a real HAProxy: what an operator types, and the
exit codes DESIGN.md promises (0 done · 1 failed · 2 usage · 3 refused · 4 locked · 5 read-only).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pmb_console.audit import now_iso
from pmb_console.locking import FileLock, LockHolder

pytestmark = pytest.mark.haproxy

PROGRAM = Path(sys.executable).with_name("pmb-console")


def pmb(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    if not PROGRAM.exists():
        pytest.skip(f"the pmb-console program is not installed beside {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k != "PMB_CONSOLE_CONFIG"}
    done = subprocess.run(
        [str(PROGRAM), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def config(haproxy, tmp_path) -> Path:
    return haproxy.write_pmb_config(tmp_path)


def test_status_json_reads_haproxy_and_health(haproxy, config):
    done = pmb("status", "--json", config=config)

    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["live"] == "blue" and doc["weights"] == {"blue": 100, "green": 0}
    assert doc["health"]["green"]["ok"] is True
    assert doc["health"]["green"]["instances"][0]["name"] == "green"
    assert doc["lock"] is None


def test_dry_run_prints_the_plan_and_changes_nothing(haproxy, config):
    done = pmb("switch", "--to", "green", "--dry-run", config=config)

    assert done.returncode == 0, done.stderr
    assert "green (green): weight 0 -> 100" in done.stdout
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_switch_then_rollback_move_real_traffic(haproxy, config):
    done = pmb("switch", "--to", "green", "--yes", config=config)
    assert done.returncode == 0, done.stderr
    assert haproxy.requests(6) == {"green": 6}

    done = pmb("rollback", "--yes", config=config)
    assert done.returncode == 0, done.stderr
    assert haproxy.requests(6) == {"blue": 6}

    records = [json.loads(line) for line in (config.parent / "state" / "audit.jsonl").open()]
    outcomes = [(r["action"], r["outcome"]) for r in records if r["outcome"] != "started"]
    assert outcomes == [("switch", "succeeded"), ("rollback", "succeeded")]


def test_not_confirmed_without_yes_exits_3(haproxy, config):
    done = pmb("switch", "--to", "green", config=config)

    assert done.returncode == 3
    assert "--yes" in done.stderr
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_failing_health_guard_exits_3_naming_the_instance(haproxy, color_servers, config):
    color_servers["green"].health = "fail"

    done = pmb("switch", "--to", "green", "--yes", config=config)

    assert done.returncode == 3
    assert "green healthy" in done.stderr and "HTTP 500" in done.stderr
    assert haproxy.requests(4) == {"blue": 4}

    done = pmb(
        "switch", "--to", "green", "--yes", "--force", "--reason", "probe broken", config=config
    )
    assert done.returncode == 0, done.stderr
    assert haproxy.requests(4) == {"green": 4}


def test_rollback_without_history_exits_3_and_says_switch(haproxy, config):
    done = pmb("rollback", "--yes", config=config)

    assert done.returncode == 3
    # Worded for both faces: the console's key and the command line's command.
    assert "switch traffic to the color you want instead" in done.stderr
    assert "(s in the console, `pmb-console switch --to blue|green` on the command line)" in (
        done.stderr
    )
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_lock_held_exits_4_naming_the_holder(haproxy, config):
    holder = LockHolder("alice", "war-room-2", 4242, "restore", now_iso())
    with FileLock(config.parent / "state").hold(holder):
        done = pmb("switch", "--to", "green", "--yes", config=config)

    assert done.returncode == 4
    assert "alice" in done.stderr and "war-room-2" in done.stderr
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_read_only_exits_5(haproxy, config):
    done = pmb("switch", "--to", "green", "--yes", "--read-only", config=config)
    assert done.returncode == 5
    done = pmb("rollback", "--yes", "--read-only", config=config)
    assert done.returncode == 5
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_bad_weight_exits_2(haproxy, config):
    done = pmb("switch", "--to", "green", "--weight", "0", "--yes", config=config)

    assert done.returncode == 2
    assert "--weight" in done.stderr
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_unreachable_haproxy_exits_1_with_a_hint_and_status_still_shows_health(haproxy, tmp_path):
    config = haproxy.write_pmb_config(tmp_path, runtime_api=f'"unix://{tmp_path}/gone.sock"')

    done = pmb("switch", "--to", "green", "--yes", config=config)
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "hint:" in done.stderr

    done = pmb("status", "--json", config=config)
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["live"] == "unknown" and doc["health"]["blue"]["ok"] is True
    assert "does not exist" in doc["errors"][0]
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_unknown_backend_exits_1_saying_which(haproxy, tmp_path):
    config = haproxy.write_pmb_config(tmp_path, backend='"pmbuddy-old"')

    done = pmb("switch", "--to", "green", "--yes", config=config)

    assert done.returncode == 1
    assert "no backend 'pmbuddy-old'" in done.stderr
    assert haproxy.weights() == {"blue": 100, "green": 0}


class HeldRuntimeApi:
    """A TCP relay in front of HAProxy's runtime socket that passes reads through but holds
    the first change (`set server`) unanswered, so a switch is still running when Ctrl+C
    comes. The held change never reaches HAProxy."""

    def __init__(self, haproxy) -> None:
        self.haproxy = haproxy
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.holding = threading.Event()
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        with conn:
            line = b""
            while not line.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                line += chunk
            if b"set server" in line:
                self.holding.set()
                self.release.wait(60)
                return
            conn.sendall(self.haproxy.command(line.decode().rstrip("\n")).encode())

    def close(self) -> None:
        self.release.set()
        self.listener.close()


def test_ctrl_c_during_a_switch_prints_what_haproxy_reads_back(haproxy, tmp_path):
    held = HeldRuntimeApi(haproxy)
    config = haproxy.write_pmb_config(
        tmp_path, runtime_api=f'"tcp://127.0.0.1:{held.port}"', timeout="30"
    )
    try:
        proc = subprocess.Popen(
            [str(PROGRAM), "switch", "--to", "green", "--yes", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert held.holding.wait(30), "the switch never sent its change"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        held.close()

    assert proc.returncode == 1
    said = stdout + stderr
    assert "Traceback" not in said
    assert "switch traffic interrupted (Ctrl+C)" in stderr
    assert "hint: the state read back below is what the systems say now" in stderr
    # What HAProxy says after the interruption, printed for the operator, not only audited.
    read_back = stderr.split("read back now:", 1)[1]
    assert "live: blue" in read_back
    assert "blue: 100" in read_back and "green: 0" in read_back
    assert haproxy.weights() == {"blue": 100, "green": 0}
    records = [json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").open()]
    assert records[-1]["outcome"] == "interrupted"
    assert records[-1]["state"]["weights"] == {"blue": 100, "green": 0}


def test_decommission_without_confirm_exits_3_and_says_what_to_pass(haproxy, config):
    # --force past the monitoring-window guard, so the missing confirmation is what stops it.
    done = pmb("decommission", "--color", "green", "--force", "--reason", "drill", config=config)

    assert done.returncode == 3, done.stderr
    assert "not confirmed; nothing changed" in done.stderr
    assert "hint: pass --confirm test to confirm" in done.stderr
    assert haproxy.admin_states()["green"] == 0


# --- status in words --------------------------------------------------------------------


def test_status_text_says_why_weights_are_unknown(haproxy, tmp_path):
    config = haproxy.write_pmb_config(tmp_path, runtime_api=f'"unix://{tmp_path}/gone.sock"')

    done = pmb("status", config=config)

    assert done.returncode == 1
    first = done.stdout.splitlines()[0]
    assert first.startswith("LIVE UNKNOWN   weights unknown: the HAProxy runtime API socket")
    assert "does not exist" in first
    assert "None" not in done.stdout


def test_status_text_says_a_color_has_no_instances(haproxy, config):
    text = config.read_text()
    green = next(
        line for line in text.splitlines() if line.startswith("instances") and "green" in line
    )
    config.write_text(text.replace(green, "instances = []"))

    done = pmb("status", config=config)

    assert "green  UNHEALTHY: no instances configured ([colors.green] instances is empty)" in (
        done.stdout
    ), done.stdout + done.stderr


def test_status_text_names_the_lock_holder_with_reason_and_since(haproxy, config):
    since = now_iso()
    holder = LockHolder("alice", "war-room-2", 4242, "switch", since, "probe broken")
    with FileLock(config.parent / "state").hold(holder):
        done = pmb("status", config=config)

    assert (
        f"lock   held by alice on war-room-2 (pid 4242) running switch since {since}, "
        "reason: probe broken"
    ) in done.stdout


def test_status_text_gives_a_deliberate_lock_its_id_and_how_to_release_it(haproxy, config):
    holder = LockHolder("alice", "war-room-2", 4242, "lock", now_iso(), "db maintenance")
    taken = FileLock(config.parent / "state").take(holder)

    done = pmb("status", config=config)

    assert f"since {taken.since}: db maintenance (lock id {taken.lock_id})" in done.stdout
    assert f"pmb-console unlock --force {taken.lock_id}" in done.stdout


def test_status_text_says_lock_unknown_when_the_shared_database_is_down(
    haproxy, config, monkeypatch
):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    config.write_text(config.read_text() + '\n[audit]\ndsn_env = "PMB_TEST_DOWN_AUDIT_URL"\n')
    monkeypatch.setenv("PMB_TEST_DOWN_AUDIT_URL", f"postgresql://root@127.0.0.1:{port}/pmb")
    try:
        done = pmb("status", config=config)
    finally:
        closed.close()

    assert "lock   unknown: " in done.stdout, done.stdout + done.stderr
    assert "lock   free" not in done.stdout


def test_audit_text_shows_parameters_duration_and_a_forced_override(haproxy, color_servers, config):
    color_servers["green"].health = "fail"
    done = pmb(
        "switch", "--to", "green", "--yes", "--force", "--reason", "probe broken", config=config
    )
    assert done.returncode == 0, done.stderr

    done = pmb("audit", config=config)

    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    final = next(i for i, row in enumerate(rows) if "switch" in row and "succeeded" in row)
    assert re.search(r"^\s+to=green · weight=100 · took \d+\.\d\d s$", rows[final + 1])
    assert (
        rows[final + 2]
        .strip()
        .startswith(
            "OVERRIDE (--force), reason: probe broken — guard failed: green healthy: answered HTTP 500"
        )
    )
