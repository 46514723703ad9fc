"""Console test helpers: a config over the real parts, and waiting for the screen to say so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pmb_console.bootstrap import Services, bootstrap
from pmb_console.config import load_config
from pmb_console.tui.screens.confirm import ConfirmScreen

FIXED_NOW = datetime(2026, 11, 24, 21, 30, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


def console_toml(
    haproxy,
    state_dir: Path,
    *,
    environment: str = "production",
    read_only: bool = False,
    log_file: Path | None = None,
    health_timeout: float = 1.0,
    extra: str = "",
) -> str:
    """A config over a real HAProxy fixture (and optionally a log file and more tables)."""
    blue, green = haproxy.servers["blue"], haproxy.servers["green"]
    logs = ""
    if log_file is not None:
        logs = f"""
[logs]
lines = 1000
[[logs.sources]]
kind = "file"
color = "green"
path = {json.dumps(str(log_file))}
"""
    return f"""
[console]
environment = "{environment}"
operator = "tester"
read_only = {str(read_only).lower()}
state_dir = {json.dumps(str(state_dir))}

[release]
version = "v1.1.0"

[health]
timeout = {health_timeout}

[metrics]
interval = 0.5
timeout = 0.5

[colors.blue]
version = "v1.0.0"
instances = [ {{ name = "blue", health_url = "{blue.health_url}" }} ]
base_url = "http://127.0.0.1:{blue.port}"

[colors.green]
version = "v1.1.0"
instances = [ {{ name = "green", health_url = "{green.health_url}" }} ]
base_url = "http://127.0.0.1:{green.port}"

[traffic]
provider = "haproxy"

[traffic.haproxy]
runtime_api = {json.dumps(haproxy.runtime_api)}
backend = "pmbuddy"
servers = {{ blue = ["blue"], green = ["green"] }}
timeout = 1.0
{logs}
{extra}
"""


ServicesFactory = Callable[..., Services]


@pytest.fixture
def console_services(haproxy, tmp_path: Path) -> ServicesFactory:
    """make(**console_toml options) -> Services over the real HAProxy; closed after the test."""
    made: list[Services] = []

    def make(**options) -> Services:
        path = tmp_path / "console.toml"
        path.write_text(console_toml(haproxy, tmp_path / "state", **options), encoding="utf-8")
        services = bootstrap(load_config(path))
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


async def until(pilot, predicate: Callable[[], bool], within: float = 8.0, what: str = "") -> None:
    """Let the app run until `predicate()` holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    screen = pilot.app.screen
    raise AssertionError(
        f"timed out after {within} s waiting for: {what or predicate}\n"
        f"on view: {type(screen).__name__}\n{screen_text(pilot.app)}"
    )


async def armed_confirmation(pilot) -> None:
    """Wait until the confirmation is on view and past its arming delay.

    A fixed pause is not enough on a loaded machine: the delay counts from the screen's
    mount, which may come well after the test first sees the screen pushed.
    """
    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
        what="the confirmation, armed",
    )


def screen_text(app) -> str:
    """The characters the top screen shows now, one line per row (what a user reads)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
