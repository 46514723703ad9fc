"""A read-only console (and every browser spectator of `serve`) offers no change at all:
every key that would be refused is greyed, the palette leaves such commands out, and
nothing is written — checked in the audit log, the journal and the state directory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from textual.app import App
from textual.command import CommandPalette
from textual.widgets import Button

from pmb_console.rollback_assessment import Assessment, Part
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.assessment import AssessmentScreen
from pmb_console.tui.screens.backups import BackupsScreen
from pmb_console.tui.screens.help import HelpScreen
from pmb_console.tui.screens.main import MainScreen
from tests.integration.test_backup_policy import write_snapshot
from tests.tui.conftest import fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy

SIZE = (160, 45)


def footer_keys(screen) -> dict:
    return {key.action: key for key in screen.query("FooterKey")}


def key_enabled(screen, action: str) -> bool:
    """Whether the screen's binding for `action` would run (what a footer greys)."""
    return next(b.enabled for b in screen.active_bindings.values() if b.binding.action == action)


async def test_sign_off_and_post_mortem_are_greyed_and_write_nothing(console_services, tmp_path):
    services = console_services(read_only=True)
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the dashboard")
        assert footer_keys(app.screen)["signoff"].has_class("-disabled")
        assert not footer_keys(app.screen)["help"].has_class("-disabled")
        await pilot.press("c", "P")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen), "a greyed key must not open anything"
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        lines = screen_text(app).splitlines()
        for words in ("Sign off the selected", "Write the post-mortem"):
            line = next(line for line in lines if words in line)
            assert "(refused:" in line, line  # the help wraps the rest
    assert not [r for r in services.audit.records() if r["action"] == "checklist-signoff"]
    assert not (tmp_path / "state" / "postmortems").exists()


async def test_the_palette_leaves_out_what_read_only_refuses(console_services):
    services = console_services(read_only=True)
    app = PmbConsoleApp(services, clock=fixed_clock, poll=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for refused in ("Switch", "Rollback", "Restore", "Extend", "Sign off", "Post-mortem"):
            assert refused not in titles, refused
        assert {"Help", "Smoke", "Backups"} <= titles
        assert "JIRA: map statuses, types and assignees (read-only: shown, not saved)" in titles

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"Extend")
        await until(pilot, lambda: "No matches found" in screen_text(app), what="no match")
        assert "monitoring window" not in screen_text(app)
        await pilot.press("escape")
    assert not [r for r in services.audit.records() if r["action"] == "monitor-extend"]


async def test_a_read_write_palette_still_offers_every_action(console_services):
    app = PmbConsoleApp(console_services(), clock=fixed_clock, poll=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Switch", "Rollback", "Extend", "Sign off", "Post-mortem"} <= titles
        assert "JIRA: map statuses, types and assignees" in titles


async def test_the_backup_view_greys_prune_and_drill(console_services, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    now = datetime.now(UTC)
    write_snapshot(backups, now - timedelta(hours=2), "fresh")
    write_snapshot(backups, now - timedelta(days=35), "old")
    before = sorted(p.name for p in backups.iterdir())
    services = console_services(
        read_only=True,
        extra=f'[database]\nprovider = "pg_dump"\n[database.pg_dump]\nbackup_dir = "{backups}"\n',
    )
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "LIVE" in screen_text(app), what="the dashboard")
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, BackupsScreen), what="the backup view")
        await until(pilot, lambda: "past the 30-day retention" in screen_text(app), what="policy")
        screen = app.screen
        for action in ("prune", "drill"):
            assert not key_enabled(screen, action), action
            assert screen.query_one(f"#{action}", Button).disabled, action
        assert "read-only" in screen_text(app)
        await pilot.press("X", "D")
        await pilot.pause(0.3)
        assert app.screen is screen, "a greyed key must not lead anywhere"
    assert sorted(p.name for p in backups.iterdir()) == before
    assert not [r for r in services.audit.records() if r["action"] in ("prune", "drill")]


def assessment() -> Assessment:
    part = Part("question", "answer")
    return Assessment(part, part, part, part, "yes", snapshot_id="20261124T200000Z-abc123")


class Host(App[None]):
    def __init__(self, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only
        self.answer: bool | None = None

    def on_mount(self) -> None:
        self.push_screen(
            AssessmentScreen(assessment(), "production", read_only=self.read_only), self.closed
        )

    def closed(self, restore: bool | None) -> None:
        self.answer = restore


@pytest.mark.parametrize("read_only", [True, False])
async def test_the_assessment_greys_restore_in_read_only(read_only):
    app = Host(read_only)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, AssessmentScreen), what="assessment")
        await pilot.pause(0.1)
        screen = app.screen
        assert key_enabled(screen, "restore") is not read_only
        assert screen.query_one("#restore", Button).disabled is read_only
        assert ("read-only" in screen_text(app)) is read_only
        await pilot.press("R")
        await pilot.pause(0.2)
    assert app.answer is (None if read_only else True)
