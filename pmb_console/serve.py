"""The console in a web browser, for spectators: `pmb-console serve`.

textual-serve starts one console process per browser tab and relays its screen over a
websocket. What it runs is always the read-only console, whatever the config says, and it
listens on the loopback address unless told otherwise: the page has no login of its own,
so reaching it from elsewhere should go through an SSH tunnel or a reverse proxy that
asks who you are.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from pmb_console.errors import UsageError

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def serve_command(config: Path | None, theme: str | None = None) -> str:
    """The shell command each browser tab runs: this Python, this console, read-only."""
    argv = [sys.executable, "-m", "pmb_console"]
    if config is None:
        argv.append("demo")
    argv.append("--read-only")
    if config is not None:
        argv += ["--config", str(config.resolve())]
    if theme:
        argv += ["--theme", theme]
    return shlex.join(argv)


def exposure_advice(host: str, port: int) -> str:
    """What to tell the person starting the server: where it is and how to share it safely."""
    lines = [
        f"pmb-console (read-only) in a browser at http://{host}:{port}/",
        "every tab runs its own read-only console: spectators see everything and can change nothing",
        "the page has no login. To share it safely:",
        f"  - an SSH tunnel: ssh -L {port}:127.0.0.1:{port} THIS-HOST, then open http://127.0.0.1:{port}/",
        "  - or a reverse proxy that authenticates (TLS and single sign-on or basic auth) in front of",
        f"    127.0.0.1:{port}, started with --public-url https://THE-PROXY-NAME so the page's websocket goes through it",
    ]
    if host not in LOOPBACK:
        lines.insert(
            1,
            f"WARNING: listening on {host}: anyone who can reach this address sees the console, unauthenticated",
        )
    return "\n".join(lines)


def run_serve(
    config: Path | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    public_url: str | None = None,
    theme: str | None = None,
) -> int:
    """Serve the read-only console until interrupted; returns the exit code."""
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a TCP port", "choose a port between 1 and 65535")
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError(
            "serving the console in a browser needs textual-serve",
            "install pmb-console with its extra: pip install 'pmb-console[serve]'",
        ) from None
    command = serve_command(config, theme)
    print(exposure_advice(host, port), flush=True)
    server = Server(
        command, host=host, port=port, title="pmb-console (read-only)", public_url=public_url
    )
    try:
        server.serve()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "choose another --port, or stop what is using it",
        ) from None
    return 0
