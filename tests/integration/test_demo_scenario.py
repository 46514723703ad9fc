"""`--scenario bad-release` on a real demo stack, with the delay cut from a minute to a second."""

from __future__ import annotations

import asyncio
import time

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.traffic import RollbackAction, SwitchAction
from pmb_console.audit import LocalAuditLog
from pmb_console.bootstrap import bootstrap
from pmb_console.demo.controls import GameDay
from pmb_console.demo.faults import FaultBoard
from pmb_console.demo.scenario import BadRelease
from pmb_console.demo.stack import DemoStack
from pmb_console.providers.metrics import build_metrics_source


@pytest.fixture
def rehearsal():
    with DemoStack() as stack:
        services = bootstrap(stack.config())
        scenario = BadRelease(
            stack.state_file,
            stack.faults,
            services.audit,
            record=services.runner.record_event,
            delay_s=1.0,
        )
        game_day = GameDay(stack, scenario=scenario, record=services.runner.record_event).start()
        try:
            yield stack, services, scenario, game_day
        finally:
            game_day.close()
            services.close()


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


async def test_green_degrades_after_the_switch_and_the_banner_times_the_rollback(rehearsal):
    stack, services, scenario, game_day = rehearsal
    assert "switch traffic to green" in game_day.banner()

    assert services.runner.run(SwitchAction("green"), Confirmation.yes()).ok
    assert wait_for(lambda: scenario.phase == "armed", 2)
    assert "green degrades in" in game_day.banner()
    assert wait_for(lambda: scenario.phase == "degraded", 3)
    assert "roll back" in game_day.banner()

    # The engineer sees it in the metrics, as the panes would show it.
    source = build_metrics_source(stack.config())
    try:
        await source.poll()
        await asyncio.sleep(1.0)
        figures = await source.poll()
    finally:
        await source.aclose()
    assert figures["green"].error_rate > services.config.metrics.error_rate_threshold
    assert figures["green"].p95_ms > services.config.metrics.p95_threshold_ms

    # As the console does it: the key press reads guards and plan, the confirmation stays
    # open a while, then the rollback runs. The time on the dialog is the rollback's.
    rollback = RollbackAction()
    services.runner.preview(rollback)
    pressed = time.time()
    await asyncio.sleep(1.5)  # the engineer reads the confirmation
    outcome = services.runner.run(rollback, Confirmation.yes())
    assert outcome.status == "succeeded", outcome.message
    assert wait_for(lambda: scenario.phase == "done", 2)
    banner = game_day.banner()
    assert banner.startswith("bad-release done: detected in ")
    assert "rolled back and verified in" in banner
    assert "verified in 0.0 s" not in banner

    notes = [r for r in services.audit.records() if r["action"] == "game-day"]
    assert [n["event"] for n in notes] == ["green degraded", "rehearsal over"]
    degraded = scenario.degraded_at
    assert notes[-1]["detection_s"] == pytest.approx(pressed - degraded, abs=0.3)
    assert notes[-1]["rollback_s"] >= 1.5
    assert f"verified in {notes[-1]['rollback_s']:.1f} s" in banner


def test_moving_back_before_green_breaks_rearms_the_rehearsal(rehearsal):
    stack, services, scenario, game_day = rehearsal
    scenario.delay_s = 30
    assert services.runner.run(SwitchAction("green"), Confirmation.yes()).ok
    assert wait_for(lambda: scenario.phase == "armed", 2)
    assert services.runner.run(SwitchAction("blue"), Confirmation.yes()).ok
    assert wait_for(lambda: scenario.phase == "waiting", 2)
    assert stack.faults.of("green").active == []


def test_step_is_a_plain_state_machine(tmp_path):
    board = FaultBoard()
    scenario = BadRelease(tmp_path / "t.json", board, LocalAuditLog(tmp_path), delay_s=60)
    scenario.step(0, 1000.0)
    assert scenario.phase == "waiting"
    scenario.step(100, 1001.0)
    scenario.step(100, 1060.0)
    assert scenario.phase == "armed" and board.of("green").active == []
    scenario.step(100, 1061.0)
    assert scenario.phase == "degraded"
    assert board.of("green").active == ["error-spike", "latency-spike"]
    scenario.step(0, 1090.0)
    assert scenario.phase == "done"
    assert "29 s after it degraded" in scenario.banner()
    assert "no verified rollback in the audit log" in scenario.banner()
