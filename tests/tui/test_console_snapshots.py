"""What the console looks like: the main screen in every theme, the confirmation, 80×24.

The app runs with polling off and is shown a fixed reading of the systems (the same
value objects the real poll produces), under a fixed clock, so a diff means a real
change in the look.
"""

from __future__ import annotations

import pytest

from pmb_console.actions.base import GuardResult, Plan
from pmb_console.actions.runner import Preview
from pmb_console.bootstrap import bootstrap
from pmb_console.config import parse_config
from pmb_console.providers.base import ColorMetrics, InstanceMetrics, ServerState, TrafficState
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.messages import MetricsRead, SystemsRead
from pmb_console.tui.readings import SystemsReading
from pmb_console.tui.screens.confirm import ConfirmScreen
from tests.tui.conftest import FIXED_NOW, fixed_clock

NOW = FIXED_NOW.timestamp()

TRAFFIC = TrafficState(
    "haproxy",
    {"blue": 0, "green": 100},
    (
        ServerState("blue-1", "blue", 0),
        ServerState("green-1", "green", 256),
        ServerState("green-2", "green", 256),
    ),
)

AUDIT = (
    {
        "id": "a1",
        "time": "2026-11-24T21:02:11.000+00:00",
        "operator": "oncall-1",
        "action": "checklist-signoff",
        "item": "reviewed",
    },
    {
        "id": "a2",
        "time": "2026-11-24T21:05:40.000+00:00",
        "operator": "oncall-1",
        "action": "snapshot",
        "outcome": "succeeded",
        "duration_s": 3.2,
    },
    {
        "id": "a3",
        "time": "2026-11-24T21:12:03.000+00:00",
        "operator": "oncall-1",
        "action": "migrate",
        "outcome": "succeeded",
        "duration_s": 1.4,
    },
    {
        "id": "a4",
        "time": "2026-11-24T21:20:15.000+00:00",
        "operator": "oncall-2",
        "action": "switch",
        "outcome": "succeeded",
        "duration_s": 0.4,
    },
)


def color_metrics(color: str, step: int) -> ColorMetrics:
    if color == "blue":
        instances = (
            InstanceMetrics(
                "blue-1",
                "blue",
                True,
                scraped_at=NOW - 1,
                requests_per_second=0.0,
                error_rate=0.0,
                p95_ms=40.0,
            ),
        )
        return ColorMetrics("blue", 0.0, 0.0, 40.0, instances, at(step))
    error_rate = 0.004 + 0.012 * step
    instances = (
        InstanceMetrics(
            "green-1",
            "green",
            True,
            scraped_at=NOW - 1,
            requests_per_second=61.0 + step,
            error_rate=error_rate,
            p95_ms=180.0 + 40 * step,
        ),
        InstanceMetrics(
            "green-2",
            "green",
            False,
            error="connection refused",
            scraped_at=NOW - 1,
            down_since=NOW - 95,
        ),
    )
    return ColorMetrics("green", 61.0 + step, error_rate, 180.0 + 40 * step, instances, at(step))


def at(step: int) -> float:
    """Rounds 10 s apart, the last one now: each fills one sparkline bucket."""
    return NOW - 10 * (8 - step)


def snapshot_app(theme: str = "pmb-dark") -> PmbConsoleApp:
    cfg = parse_config(
        f"""
[console]
environment = "production"
operator = "oncall-1"
theme = "{theme}"
state_dir = "/nonexistent/pmb-console-snapshots"
[release]
version = "v1.1.0"
[colors.blue]
version = "v1.0.0"
[colors.green]
version = "v1.1.0"
[metrics]
error_rate_threshold = 0.02
p95_threshold_ms = 500
""",
        "snapshot.toml",
    )
    return PmbConsoleApp(bootstrap(cfg), clock=fixed_clock, poll=False)


async def show_fixed_reading(pilot) -> None:
    app = pilot.app
    while app.main is None:  # the dashboard is mounted: readings have somewhere to go
        await pilot.pause(0.01)
    app.post_message(SystemsRead(SystemsReading(TRAFFIC, None, AUDIT, None)))
    for step in range(9):  # one round at a time: a newer round replaces a queued one
        app.post_message(MetricsRead({c: color_metrics(c, step) for c in ("blue", "green")}))
        await pilot.pause(0.05)
    await pilot.pause(0.3)


@pytest.mark.parametrize("theme", ["pmb-dark", "pmb-light", "war-room", "colour-blind"])
def test_main_screen_in_each_theme(snap_compare, theme):
    assert snap_compare(snapshot_app(theme), terminal_size=(160, 45), run_before=show_fixed_reading)


def test_main_screen_at_100x30(snap_compare):
    assert snap_compare(snapshot_app(), terminal_size=(100, 30), run_before=show_fixed_reading)


def test_main_screen_at_80x24(snap_compare):
    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=show_fixed_reading)


def test_confirmation_screen(snap_compare):
    preview = Preview(
        [
            GuardResult(
                "rollback target", True, "blue was live before the switch at 21:20:15 by oncall-2"
            ),
            GuardResult("blue-1 healthy", True, "HTTP 200 in 4 ms"),
        ],
        Plan(
            "switch traffic: blue 0%, green 100% -> blue 100%, green 0%",
            (
                "blue-1 (blue): weight 0 -> 256",
                "green-1 (green): weight 256 -> 0",
                "green-2 (green): weight 256 -> 0",
            ),
        ),
    )

    async def open_confirmation(pilot) -> None:
        await show_fixed_reading(pilot)
        pilot.app.push_screen(
            ConfirmScreen(
                title="roll back traffic",
                environment="production",
                preview=preview,
                destructive=False,
            )
        )
        await pilot.pause(0.2)

    assert snap_compare(snapshot_app(), terminal_size=(160, 45), run_before=open_confirmation)
