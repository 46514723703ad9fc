"""Themes: the packaged four load, a broken file falls back and says so, the palette switches."""

from __future__ import annotations

from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.themes import load_theme_book
from tests.tui.conftest import fixed_clock, screen_text, until


def app_with(tmp_path, theme: str) -> PmbConsoleApp:
    path = tmp_path / "console.toml"
    path.write_text(f'[console]\ntheme = "{theme}"\nstate_dir = "{tmp_path / "state"}"\n')
    return PmbConsoleApp(bootstrap(load_config(path)), clock=fixed_clock, poll=False)


def test_the_packaged_themes_load_without_problems():
    book = load_theme_book([])
    assert {"pmb-dark", "pmb-light", "war-room", "colour-blind"} <= set(book.themes)
    assert book.problems == []
    assert book.marks("colour-blind")["blue"] != book.marks("colour-blind")["green"], (
        "told apart by shape"
    )


async def test_a_broken_theme_file_falls_back_with_a_notification(tmp_path):
    (tmp_path / "themes").mkdir()
    (tmp_path / "themes" / "broken.toml").write_text('name = "broken"\nprimary = "not a colour"\n')
    app = app_with(tmp_path, "broken")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await until(
            pilot, lambda: "broken.toml ignored" in screen_text(app), what="the notification"
        )
        assert app.theme == "pmb-dark"
        assert "PRODUCTION" in screen_text(app), "the console still opens"


async def test_a_theme_file_beside_the_config_is_offered(tmp_path):
    (tmp_path / "themes").mkdir()
    (tmp_path / "themes" / "night-shift.toml").write_text(
        'name = "night-shift"\nprimary = "#884488"\n'
    )
    app = app_with(tmp_path, "night-shift")
    async with app.run_test(size=(160, 45)):
        assert app.theme == "night-shift"


async def test_the_palette_switches_theme(tmp_path):
    app = app_with(tmp_path, "pmb-dark")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Theme: war-room")
        await until(
            pilot, lambda: "Switch to the war-room theme" in screen_text(app), what="the command"
        )
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "war-room", what="the theme applied")
