"""Production is visibly different on every screen: the header's banner and the confirmation.

Both ask the same rule (`[console] production`, else the environment's name); the colors
compared are the ones drawn, against the theme's production and ordinary banner colors.
"""

from __future__ import annotations

import pytest
from textual.color import Color
from textual.widgets import Static

from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config, parse_config
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.widgets.header import ConsoleHeader
from tests.tui.conftest import console_toml, fixed_clock, screen_text, until

SIZE = (160, 45)


def theme_color(app: PmbConsoleApp, variable: str) -> Color:
    return Color.parse(app.get_css_variables()[variable])


def drawn_background(widget: Static) -> Color:
    return widget.styles.background


def console_without_polling(environment: str, tmp_path) -> PmbConsoleApp:
    cfg = parse_config(
        f'[console]\nenvironment = "{environment}"\nstate_dir = "{tmp_path / "state"}"\n',
        "production.toml",
    )
    return PmbConsoleApp(bootstrap(cfg), clock=fixed_clock, poll=False)


@pytest.mark.parametrize("environment", ["prd", "production-eu", "live"])
async def test_production_names_get_the_production_banner(environment, tmp_path):
    app = console_without_polling(environment, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.main is not None, what="the dashboard")
        banner = app.screen.query_one("#header #environment", Static)
        assert f" {environment.upper()} " in screen_text(app)
        assert drawn_background(banner) == theme_color(app, "banner-production")


async def test_other_names_get_the_ordinary_banner(tmp_path):
    app = console_without_polling("staging", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.main is not None, what="the dashboard")
        banner = app.screen.query_one("#header #environment", Static)
        assert drawn_background(banner) == theme_color(app, "banner-other")


@pytest.mark.parametrize(
    ("environment", "production", "variable"),
    [("eu-blue", True, "banner-production"), ("prod-rehearsal", False, "banner-other")],
)
async def test_the_header_follows_the_production_setting_over_the_name(
    environment, production, variable, tmp_path
):
    app = console_without_polling("staging", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.main is not None, what="the dashboard")
        header = ConsoleHeader(
            environment=environment,
            release="v1",
            operator="tester",
            read_only=False,
            demo=False,
            production=production,
            id="second-header",
        )
        await app.screen.mount(header, before=0)
        await pilot.pause(0.1)
        banner = header.query_one("#environment", Static)
        assert drawn_background(banner) == theme_color(app, variable)


# --- the confirmation, opened by the rollback key over a real HAProxy -------------------


def with_production_key(text: str, production: bool | None) -> str:
    if production is None:
        return text
    return text.replace("[console]\n", f"[console]\nproduction = {str(production).lower()}\n", 1)


async def confirmation_title(haproxy, tmp_path, environment: str, production: bool | None):
    """Open the rollback confirmation (refused: no switch yet) and return its title and app."""
    text = console_toml(haproxy, tmp_path / "state", environment=environment)
    path = tmp_path / "console.toml"
    path.write_text(with_production_key(text, production), encoding="utf-8")
    services = bootstrap(load_config(path))
    app = PmbConsoleApp(services, clock=fixed_clock)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first read")
            app.screen.action_rollback()  # its key is greyed: nothing to roll back to yet
            await until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation"
            )
            await pilot.pause(0.1)
            title = app.screen.query_one("#confirm-title", Static)
            return (
                str(title.render()),
                drawn_background(title),
                theme_color(app, "banner-production"),
            )
    finally:
        services.close()


@pytest.mark.haproxy
@pytest.mark.parametrize(
    ("environment", "production", "marked"),
    [("prd", None, True), ("eu-blue", True, True), ("prod-rehearsal", False, False)],
)
async def test_the_confirmation_is_marked_as_the_header_is(
    haproxy, tmp_path, environment, production, marked
):
    words, background, production_red = await confirmation_title(
        haproxy, tmp_path, environment, production
    )
    assert f"roll back traffic — {environment.upper()}" in words
    assert (background == production_red) is marked
