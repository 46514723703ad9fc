"""The backup view in the console (RUNBOOK §4): policy, gaps, expired snapshots, drills,
and a prune that goes through the guarded flow — over real snapshot files of the pg_dump
store and a real HAProxy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.backups import BackupsScreen
from pmb_console.tui.screens.confirm import ConfirmScreen
from tests.integration.test_backup_policy import write_snapshot
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

AGES_H = {"fresh": 2, "week": 7 * 24, "old-31d": 31 * 24, "old-35d": 35 * 24}


async def test_backups_screen_shows_the_policy_and_drills_and_prunes_through_the_guards(
    console_services, tmp_path
):
    backups = tmp_path / "backups"
    backups.mkdir()
    now = datetime.now(UTC)
    ids = {
        label: write_snapshot(backups, now - timedelta(hours=h), label)
        for label, h in AGES_H.items()
    }
    state = tmp_path / "state"
    state.mkdir()
    (state / "drills.jsonl").write_text(
        json.dumps(
            {
                "time": "2026-11-20T03:00:00+00:00",
                "snapshot_id": ids["week"],
                "ok": True,
                "duration_s": 42.5,
                "phases": [{"name": "restore", "ok": True, "duration_s": 40.0, "detail": ""}],
            }
        )
        + "\n"
    )
    services = console_services(
        extra=f'[database]\nprovider = "pg_dump"\n[database.pg_dump]\nbackup_dir = "{backups}"\n'
    )
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: "LIVE" in screen_text(app), what="the dashboard")
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, BackupsScreen), what="the backups screen")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "newest snapshot" in text and ids["fresh"] in text
        assert "days have no snapshot" in text
        assert "2 snapshot(s) past the 30-day retention" in text
        assert ids["old-31d"] in text and ids["old-35d"] in text
        assert "42.5 s" in text and "pass" in text  # the drill, with how long it took

        await pilot.press("X")
        await until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the prune confirmation"
        )
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        await until(
            pilot, lambda: not (backups / f"{ids['old-35d']}.dump").exists(), what="the prune"
        )
    left = {p.stem for p in backups.glob("*.json")}
    assert left == {ids["fresh"], ids["week"]}
    assert [r["outcome"] for r in services.audit.records() if r["action"] == "prune"] == [
        "started",
        "succeeded",
    ]
