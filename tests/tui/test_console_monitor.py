"""The monitoring window in the console, against a real green instance serving Prometheus text
behind a real HAProxy: the countdown, the breach banner after N polls, the rollback key and
the database assessment that follows it, the automatic rollback, and extending the window.

Green's /metrics counts 100 requests per scrape, a share of them 500s as the test sets it
(tests/integration/test_monitor.py), so the error rate the console computes between two
scrapes is exactly that share.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.traffic import SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.journal import ReleaseJournal
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.assessment import AssessmentScreen
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.integration.test_monitor import MetricsInstance
from tests.tui.conftest import armed_confirmation, console_toml, fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy

SIZE = (160, 45)
BREACH = "green error rate 10.0% > 2.0% for 3 consecutive polls"


@pytest.fixture
def green_metrics() -> Iterator[MetricsInstance]:
    server = MetricsInstance()
    yield server
    server.close()


@pytest.fixture
def switched_to_green(haproxy, green_metrics, tmp_path: Path):
    """make(auto_rollback) -> Services, with traffic switched to green: the window is open."""
    made = []

    def make(auto_rollback: bool = False):
        green = haproxy.servers["green"]
        toml = console_toml(
            haproxy,
            tmp_path / "state",
            extra=f"[monitor]\nbreach_polls = 3\nauto_rollback = {str(auto_rollback).lower()}\n",
        ).replace(
            f'health_url = "{green.health_url}"',
            f'health_url = "{green.health_url}", metrics_url = "{green_metrics.url}"',
        )
        path = tmp_path / "console.toml"
        path.write_text(toml, encoding="utf-8")
        services = bootstrap(load_config(path))
        made.append(services)
        switched = services.runner.run(SwitchAction("green"), Confirmation.yes())
        assert switched.status == "succeeded", switched.message
        return services

    yield make
    for services in made:
        services.close()


async def test_a_breach_raises_the_banner_and_the_rollback_key_leads_to_the_assessment(
    switched_to_green, haproxy, green_metrics
):
    services = switched_to_green()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot, lambda: "MONITOR green watched: 59:" in screen_text(app), what="the countdown"
        )
        assert "BREACH" not in screen_text(app)
        green_metrics.error_share = 0.10
        await until(pilot, lambda: BREACH in screen_text(app), what="the breach banner")
        assert "r: roll back" in screen_text(app)
        assert haproxy.weights() == {"blue": 0, "green": 100}  # no automatic rollback configured

        await pilot.press("r")
        await until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the rollback confirmation"
        )
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
            what="the rollback's outcome",
        )
        await until(pilot, lambda: "DONE AND VERIFIED" in screen_text(app), what="the outcome")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, AssessmentScreen)
                and "Last restore drill" in screen_text(app)
            ),
            what="the database assessment",
        )
        text = screen_text(app)
        for title in (
            "Migrations backward compatible",
            "Pre-deployment snapshot",
            "What a restore would lose",
            "Last restore drill",
        ):
            assert title in text, title
        assert "unknown: no migrate of release v1.1.0 that ran migration" in text
        assert "none: no snapshot was taken before the" in text
        assert "=> whether a restore is needed is unknown" in text
        assert "restore: no pre-deployment snapshot to restore" in text
        assert app.focused is not None and app.focused.id == "close"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
        await until(pilot, lambda: "window ended at" in screen_text(app), what="the window ended")
        assert "BREACH:" not in screen_text(app)  # answered by the rollback
    assert haproxy.weights() == {"blue": 100, "green": 0}
    rollback = services.audit.last(
        lambda r: r.get("action") == "rollback" and r.get("outcome") == "succeeded"
    )
    # The runner recorded the figures the panes showed at the moment of the decision.
    assert rollback["metrics"]["green"]["error_rate"] == pytest.approx(0.10)
    breach = services.audit.last(lambda r: r.get("action") == "monitor-breach")
    assert breach["message"] == BREACH


async def test_auto_rollback_moves_haproxy_back_and_shows_the_assessment(
    switched_to_green, haproxy, green_metrics
):
    services = switched_to_green(auto_rollback=True)
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(
            pilot, lambda: "MONITOR green watched:" in screen_text(app), what="the countdown"
        )
        green_metrics.error_share = 0.25
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, AssessmentScreen)
                and "Last restore drill" in screen_text(app)
            ),
            within=15,
            what="the assessment after the automatic rollback",
        )
        assert haproxy.weights() == {"blue": 100, "green": 0}
        await pilot.press("escape")
        await until(pilot, lambda: "LIVE BLUE 100%" in screen_text(app), what="blue live again")
    assert set(haproxy.requests(6)) == {"blue"}
    rollback = services.audit.last(
        lambda r: r.get("action") == "rollback" and r.get("outcome") == "succeeded"
    )
    assert rollback["reason"].startswith("automatic rollback at ")
    assert rollback["reason"].endswith("green error rate 25.0% > 2.0% for 3 consecutive polls")
    assert ReleaseJournal.of(services).read()["steps"]["rollback-traffic"]["state"] == "done"


async def test_the_extend_key_pushes_the_window_end_and_is_audited(
    switched_to_green, haproxy, green_metrics
):
    services = switched_to_green()
    before = ReleaseJournal.of(services).read()["monitor"]["ends_at"]
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot, lambda: "MONITOR green watched: 59:" in screen_text(app), what="the countdown"
        )
        await pilot.press("e")
        await until(
            pilot, lambda: "MONITOR green watched: 74:" in screen_text(app), what="15 more minutes"
        )
    after = ReleaseJournal.of(services).read()["monitor"]
    assert after["ends_at"] == pytest.approx(before + 15 * 60, abs=5)
    assert after["extended"][0]["by"] == "tester"
    assert services.audit.last(lambda r: r.get("action") == "monitor-extend")["minutes"] == 15


# --- the look ---------------------------------------------------------------------------


def test_breach_banner_and_runbook_states_snapshot(snap_compare):
    """The dashboard as a breach finds it: the banner, and the runbook with why under each
    failed or signed-off item. Fixed readings, no polling, fixed clock (see
    test_console_snapshots.py)."""
    from pmb_console.actions.checklist import CheckResult
    from pmb_console.monitor import MonitorReport, window_status
    from pmb_console.tui.messages import ChecklistRead, MonitorObserved, SystemsRead
    from pmb_console.tui.readings import SystemsReading
    from tests.tui.test_console_snapshots import (
        AUDIT,
        NOW,
        TRAFFIC,
        show_fixed_reading,
        snapshot_app,
    )

    done = {"state": "done", "by": "oncall-1", "at": "2026-11-24T21:10:00+00:00"}
    journal = {
        "steps": {
            "provision-green": done,
            "deploy-green": done,
            "run-migrations": done,
            "test-green": done,
            "switch-traffic": done,
            "monitor": {"state": "failed", "by": "oncall-1", "evidence": f"breach: {BREACH}"},
        },
        "monitor": None,
    }
    checklist = (
        CheckResult("reviewed", "Changes reviewed and approved", "pass", "#214 approved by ana"),
        CheckResult("ci-green", "CI checks passed on the release commit", "pass", "6 checks"),
        CheckResult(
            "migrations-tested",
            "Migrations tested in staging",
            "signed-off",
            "no migrate recorded outside production — signed off: ran 0042 on staging by hand",
            "oncall-1",
        ),
        CheckResult("snapshot-taken", "Production database snapshot taken", "pass", "2 h old"),
        CheckResult("release-tagged", "Release tagged in git", "pass", "v1.1.0 → 3f2a9c1d"),
    )
    window = {
        "color": "green",
        "started_at": NOW - 600,
        "ends_at": NOW + 3000,
        "minutes": 60,
        "polls": 40,
        "breaches": [{"at": NOW - 5, "words": BREACH}],
        "ended": None,
    }

    async def breached(pilot) -> None:
        await show_fixed_reading(pilot)
        app = pilot.app
        app.post_message(SystemsRead(SystemsReading(TRAFFIC, None, AUDIT, None, (), journal)))
        app.post_message(ChecklistRead(checklist))
        app.post_message(MonitorObserved(MonitorReport(window_status(window, NOW))))
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(), terminal_size=(160, 45), run_before=breached)
