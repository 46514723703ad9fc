"""`pmb-console demo` as a real program in a pseudo-terminal: it stops cleanly on SIGTERM/SIGHUP.

The demo's temp dir is put under the test's own TMPDIR, so the test can find the ports
the instances announced in their logs, and check afterwards that nothing is left.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def tail(screen: bytearray) -> str:
    """The end of what the program printed, without terminal escapes, for a failure message."""
    return ESCAPES.sub(b"", bytes(screen)).decode(errors="replace")[-800:]


def refuses(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def announced_ports(tmp: Path) -> set[int]:
    ports = set()
    for log in tmp.glob("pmb-demo-*/logs/*.log"):
        ports |= {int(p) for p in LISTENING.findall(log.read_text(errors="replace"))}
    return ports


def start_demo(tmp: Path, *args: str) -> tuple[subprocess.Popen[bytes], bytearray]:
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "TERM": "xterm-256color",
        "COLUMNS": "160",
        "LINES": "45",
    }
    env.pop("PMB_CONSOLE_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmb_console", "demo", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # a terminal nobody reads would block the console's writes
        try:
            while chunk := os.read(master, 65536):
                screen.extend(chunk)
        except OSError:
            pass  # the program exited and the pty closed
        finally:
            os.close(master)

    threading.Thread(target=drain, daemon=True).start()
    return proc, screen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_demo_program_stops_cleanly_on_a_signal(tmp_path, sig):
    proc, screen = start_demo(tmp_path)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            len(announced_ports(tmp_path)) < 4 or b"DEMO" not in screen
        ):
            assert proc.poll() is None, f"the demo exited early:\n{tail(screen)}"
            time.sleep(0.2)
        ports = announced_ports(tmp_path)
        assert len(ports) == 4 and not any(refuses(p) for p in ports)
        assert b"DEMO" in screen

        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0, tail(screen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert all(refuses(p) for p in ports)
    assert list(tmp_path.glob("pmb-demo-*")) == []
