"""The header tells the truth from the first frame: nothing claimed before the first read.

The load balancer here is a runtime API that accepts the connection and never answers (an
HAProxy too busy to reply), so the first read is held back for its whole timeout and then
fails: the test sees the header before the first reading and after a failed one.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pmb_console.bootstrap import bootstrap
from pmb_console.config import parse_config
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.widgets.big_text import big_text
from tests.tui.conftest import fixed_clock, screen_text, until

SIZE = (160, 45)  # tall enough for the large type
READ_TIMEOUT_S = 1.5


@pytest.fixture
def silent_runtime_api() -> Iterator[str]:
    """A TCP runtime API address whose connections are accepted by the kernel, never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"


def console_over(runtime_api: str, tmp_path) -> PmbConsoleApp:
    cfg = parse_config(
        f"""
[console]
environment = "staging"
operator = "tester"
state_dir = "{tmp_path / "state"}"
[traffic]
provider = "haproxy"
[traffic.haproxy]
runtime_api = "{runtime_api}"
timeout = {READ_TIMEOUT_S}
""",
        "header.toml",
    )
    return PmbConsoleApp(bootstrap(cfg), clock=fixed_clock)


def shows_big(app: PmbConsoleApp, words: str) -> bool:
    """Whether the screen shows `words` in the header's large type (every row of it)."""
    text = screen_text(app)
    return all(row.strip() in text for row in big_text(words).splitlines())


async def test_before_the_first_read_the_header_claims_nothing(silent_runtime_api, tmp_path):
    app = console_over(silent_runtime_api, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.main is not None, what="the dashboard")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "reading the load balancer…" in text
        assert "UNKNOWN" not in text  # not yet: the read is still in flight
        assert not shows_big(app, "NONE"), "a NONE banner says nothing is live: not known yet"
        assert shows_big(app, "LIVE ?")


async def test_a_failed_read_says_unknown_and_why(silent_runtime_api, tmp_path):
    app = console_over(silent_runtime_api, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        said = f"did not answer within {READ_TIMEOUT_S:g} s"
        await until(
            pilot,
            lambda: said in " ".join(screen_text(app).split()),
            within=READ_TIMEOUT_S + 8,
            what="the failed read in words",
        )
        text = " ".join(screen_text(app).split())
        assert "TRAFFIC UNKNOWN: HAProxy's runtime API at" in text
        assert shows_big(app, "UNKNOWN")
        assert not shows_big(app, "NONE") and not shows_big(app, "LIVE ?")
