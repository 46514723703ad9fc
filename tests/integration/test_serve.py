"""`pmb-console serve`: the console in a browser, read-only, on the loopback address.

The real program is started on a free port; the test fetches the page over HTTP, then
opens the page's websocket as a browser would and reads the console's first frames.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pmb_console.serve import exposure_advice, serve_command

PROGRAM = Path(sys.executable).with_name("pmb-console")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "console.toml"
    path.write_text(
        f"""
[console]
environment = "production"
operator = "spectator"
read_only = false
state_dir = {json.dumps(str(tmp_path / "state"))}

[traffic]
provider = "haproxy"
[traffic.haproxy]
runtime_api = {json.dumps("unix://" + str(tmp_path / "no-haproxy.sock"))}
backend = "pmbuddy"
servers = {{ blue = ["blue"], green = ["green"] }}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    if not PROGRAM.exists():
        pytest.skip(f"the pmb-console program is not installed beside {sys.executable}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PMB_CONSOLE_CONFIG"}
    env["COLUMNS"] = "400"  # the server's banner names the command on one line
    proc = subprocess.Popen(
        [str(PROGRAM), "serve", "--port", str(port), "--config", str(write_config(tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    pytest.fail(f"pmb-console serve did not start: {out}")
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_serve_shows_the_page_and_runs_the_console_read_only(served):
    url, proc = served
    page = httpx.get(url + "/", timeout=5)

    assert page.status_code == 200
    assert "pmb-console (read-only)" in page.text
    assert f"ws://127.0.0.1:{url.rsplit(':', 1)[1]}/ws" in page.text

    frames = asyncio.run(first_frames(url, "READ-ONLY"))
    assert "READ-ONLY" in frames  # the console a browser gets is the read-only one

    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert "ssh -L" in out and "reverse proxy" in out  # how to share it safely
    assert "--read-only" in out  # the command each tab runs, as the server announces it
    assert "Traceback" not in out


async def first_frames(url: str, wanted: str, within: float = 30.0) -> str:
    """Open the page's websocket like a browser and collect what the console draws."""
    import aiohttp

    seen = ""
    ws_url = url.replace("http://", "ws://") + "/ws?width=160&height=45"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while wanted not in seen and loop.time() < deadline:
            try:
                message = await ws.receive(timeout=max(0.1, deadline - loop.time()))
            except TimeoutError:
                break
            if message.type == aiohttp.WSMsgType.BINARY:
                seen += message.data.decode("utf-8", "replace")
            elif message.type == aiohttp.WSMsgType.TEXT:
                seen += message.data
            elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
    return seen


def test_the_served_command_is_always_read_only(tmp_path):
    config = write_config(tmp_path)

    assert "--read-only" in serve_command(config).split()
    assert serve_command(None).split()[-2:] == ["demo", "--read-only"]


def test_listening_beyond_loopback_is_warned_about():
    assert "WARNING" not in exposure_advice("127.0.0.1", 8000)
    assert "WARNING: listening on 0.0.0.0" in exposure_advice("0.0.0.0", 8000)
