"""The footer never offers what will be refused: keys grey while another operator holds the
lock (a deliberate lock, or their action running) and `r` greys with nothing to roll back
to; the help says why, and the keys come back when the reason goes.

Real HAProxy; the shared-lock case on a real PostgreSQL audit database.
"""

from __future__ import annotations

import json

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.lock import release_lock, take_lock
from pmb_console.actions.traffic import SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.cli import main
from pmb_console.config import load_config
from pmb_console.locking import LockHolder
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.help import HelpScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.war_room import CONNECTED
from tests.tui.conftest import console_toml, fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy

SIZE = (160, 45)
LOCK_TAKERS = ("switch", "snapshot", "migrate", "restore", "smoke")


def greyed(app, action: str) -> bool | None:
    """Whether the footer shows the key for `action` greyed (None while it redraws its keys)."""
    keys = {key.action: key for key in app.screen.query("FooterKey")}
    return keys[action].has_class("-disabled") if action in keys else None


async def footer_says(pilot, action: str, grey: bool) -> None:
    """Wait until the footer shows the key for `action` greyed (or offered)."""
    words = "greyed" if grey else "offered"
    await until(pilot, lambda: greyed(pilot.app, action) is grey, what=f"{action} {words}")


def alice_config(haproxy, tmp_path, extra: str = "") -> str:
    """Another operator's config over the same state directory (so the same lock)."""
    text = console_toml(haproxy, tmp_path / "state", extra=extra)
    path = tmp_path / "alice.toml"
    path.write_text(text.replace('operator = "tester"', 'operator = "alice"'), encoding="utf-8")
    return str(path)


async def help_line(pilot, words: str) -> str:
    """What the help says of the key described by `words`, its wrapped lines joined (then
    the help is closed)."""
    app = pilot.app
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
    box = app.screen.query_one("#help-dialog").region
    rows = screen_text(app).splitlines()[box.y + 1 : box.bottom - 1]
    inside = [row[box.x + 2 : box.right - 2] for row in rows]  # inside border and padding
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
    start = next(i for i, row in enumerate(inside) if words in row)
    said = [inside[start]]
    for row in inside[start + 1 :]:
        if not row.strip() or row[:4].strip():
            break  # a blank row, or the next key's row (its key in the first column)
        said.append(row)
    return " ".join(" ".join(said).split())


async def test_a_deliberate_lock_from_the_cli_greys_the_keys_until_it_is_released(
    console_services, haproxy, tmp_path
):
    app = PmbConsoleApp(console_services(), clock=fixed_clock)
    alice = alice_config(haproxy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
        await footer_says(pilot, "switch", False)

        assert main(["lock", "--reason", "db upgrade", "--config", alice]) == 0
        await footer_says(pilot, "switch", True)
        for action in LOCK_TAKERS:
            await footer_says(pilot, action, True)
        await footer_says(
            pilot, "lock", False
        )  # still offered: it asks for the id to force it open
        await footer_says(pilot, "help", False)
        assert "LOCK held by alice" in screen_text(app)
        await pilot.press("s", "b")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen), "a greyed key must not open anything"
        line = await help_line(pilot, "Move traffic to a color")
        assert "(refused: changes are locked by alice" in line, line

        assert main(["unlock", "--config", alice]) == 0
        await footer_says(pilot, "switch", False)
        for action in LOCK_TAKERS:
            await footer_says(pilot, action, False)
        line = await help_line(pilot, "Move traffic to a color")
        assert "refused" not in line, line


async def test_another_operators_running_action_greys_the_keys_while_it_holds_the_lock(
    console_services, haproxy, tmp_path
):
    app = PmbConsoleApp(console_services(), clock=fixed_clock)
    other = bootstrap(load_config(alice_config(haproxy, tmp_path)))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
            await footer_says(pilot, "snapshot", False)
            holder = LockHolder("alice", "db-host", 4242, "migrate", "2026-11-24T21:29:00Z")
            with other.lock.hold(holder):
                await footer_says(pilot, "snapshot", True)
                await footer_says(pilot, "switch", True)
                await footer_says(pilot, "migrate", True)
                # The lock is taken a moment before its holder is written: the header names
                # alice once a poll has read both; help then gives the same reason.
                await until(
                    pilot,
                    lambda: "running migrate" in " ".join(screen_text(app).split()),
                    what="the header naming the holder",
                )
                line = await help_line(pilot, "Take a database snapshot")
                assert "another operator holds the lock: alice on db-host" in line, line
            await footer_says(pilot, "snapshot", False)
            await footer_says(pilot, "switch", False)
    finally:
        other.close()


async def test_this_consoles_own_deliberate_lock_greys_nothing(console_services):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
        take_lock(services, "my own maintenance")
        await until(pilot, lambda: "LOCK held by tester" in screen_text(app), what="the header")
        await pilot.pause(0.3)
        await footer_says(pilot, "switch", False)
        await footer_says(pilot, "snapshot", False)


async def test_rollback_is_greyed_with_nothing_to_roll_back_to_and_offered_after_a_switch(
    console_services, haproxy
):
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
        await footer_says(pilot, "rollback", True)
        await footer_says(pilot, "switch", False)
        await pilot.press("r")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen), "a greyed key must not open anything"
        line = await help_line(pilot, "Send all traffic back")
        assert "(refused: the audit log holds no verified switch or rollback)" in line, line
        assert "Rollback" not in {c.title for c in app.get_system_commands(app.screen)}

        switched = services.runner.run(SwitchAction("green"), Confirmation.yes())
        assert switched.status == "succeeded", switched.message
        await footer_says(pilot, "rollback", False)
        assert "Rollback" in {c.title for c in app.get_system_commands(app.screen)}


@pytest.mark.postgres
async def test_the_shared_lock_held_by_another_console_greys_the_keys(
    haproxy, pg_database, tmp_path, monkeypatch
):
    monkeypatch.setenv("PMB_TEST_AUDIT_URL", pg_database.url)
    shared = '[audit]\ndsn_env = "PMB_TEST_AUDIT_URL"\n'
    configs = {}
    for who in ("alice", "bob"):
        text = console_toml(haproxy, tmp_path / who, extra=shared)
        path = tmp_path / f"{who}.toml"
        path.write_text(text.replace('operator = "tester"', f'operator = "{who}"'), "utf-8")
        configs[who] = bootstrap(load_config(path))
    bob, alice = configs["bob"], configs["alice"]
    app = PmbConsoleApp(bob, clock=fixed_clock)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot, lambda: CONNECTED in screen_text(app), within=15, what="the shared log"
            )
            await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
            await footer_says(pilot, "switch", False)
            taken = take_lock(alice, "failover drill")
            await footer_says(pilot, "switch", True)
            line = await help_line(pilot, "Move traffic to a color")
            assert "(refused: changes are locked by alice" in line, line
            assert json.dumps(taken.reason)[1:-1] in line
            release_lock(alice)
            await footer_says(pilot, "switch", False)
    finally:
        for services in configs.values():
            services.close()
