"""The JIRA mapping from the console's palette, and `jira-migrate --map`'s own app.

The real console and the local JIRA double: the palette command opens the mapping
screen, a choice made there is saved into the real config file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable

from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.jira_mapping import JiraMappingApp, JiraMappingScreen
from pmb_console.tui.screens.main import MainScreen
from tests.fixtures.jira_double import EMAIL, TOKEN, JiraDouble, serving
from tests.tui.conftest import fixed_clock, screen_text, until


@pytest.fixture
def jira_double() -> Iterator[JiraDouble]:
    with serving(60) as double:
        yield double


@pytest.fixture
def config_path(tmp_path: Path, jira_double: JiraDouble, monkeypatch) -> Path:
    monkeypatch.setenv("TEST_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("TEST_JIRA_TOKEN", TOKEN)
    path = tmp_path / "console.toml"
    path.write_text(
        f"""[console]
environment = "staging"
operator = "tester"
state_dir = {json.dumps(str(tmp_path / "state"))}

[jira]
url = "{jira_double.url}"
email_env = "TEST_JIRA_EMAIL"
token_env = "TEST_JIRA_TOKEN"
jql = "project = PMB"
""",
        encoding="utf-8",
    )
    return path


async def map_bug_and_save(pilot) -> None:
    table = pilot.app.screen.query_one(DataTable)
    await until(pilot, lambda: table.row_count > 0, within=15, what="JIRA's types and statuses")
    assert [str(c) for c in table.get_row_at(0)] == ["type", "Bug", "20", "UNMAPPED"]
    table.move_cursor(row=0)
    await pilot.press("enter", *"BUG", "enter", "s")


async def test_the_palette_opens_the_jira_mapping_and_the_choice_is_saved(config_path):
    app = PmbConsoleApp(bootstrap(load_config(config_path)), clock=fixed_clock, poll=False)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dashboard")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"JIRA map")
        await until(
            pilot,
            lambda: "JIRA: map statuses, types and assignees" in screen_text(app),
            what="the command listed",
        )
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(app.screen, JiraMappingScreen), what="the mapping screen"
        )
        await map_bug_and_save(pilot)
        await until(
            pilot,
            lambda: load_config(config_path).jira.issue_types.get("Bug") == "BUG",
            what="the choice in the config file",
        )
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the dashboard")
        await until(
            pilot, lambda: "JIRA mapping saved into" in screen_text(app), what="the console says so"
        )


async def test_the_map_command_app_returns_whether_choices_were_saved(config_path):
    app = JiraMappingApp(load_config(config_path))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(
            pilot, lambda: isinstance(app.screen, JiraMappingScreen), what="the mapping screen"
        )
        await map_bug_and_save(pilot)
        await until(
            pilot,
            lambda: load_config(config_path).jira.issue_types.get("Bug") == "BUG",
            what="the choice in the config file",
        )
        await pilot.press("escape")
    assert app.return_value is True
