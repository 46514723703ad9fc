"""The mapping screen through Pilot: the real app, the local JIRA double, a real config
file. The operator sees every type, status and assignee with counts, picks targets with
the keyboard, saves, and finds the choices in the config."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Input

from pmb_console.config import load_config
from pmb_console.tui.screens.jira_mapping import JiraMappingScreen
from tests.fixtures.jira_double import EMAIL, TOKEN, JiraDouble, serving


@pytest.fixture
def jira_double() -> Iterator[JiraDouble]:
    with serving(60) as double:
        yield double


class Host(App[None]):
    def __init__(self, config_path: Path) -> None:
        super().__init__()
        self.config = load_config(config_path)
        self.result: bool | None = None

    def on_mount(self) -> None:
        self.push_screen(JiraMappingScreen(self.config), self.closed)

    def closed(self, saved: bool | None) -> None:
        self.result = saved


def config_for(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""[console]
state_dir = "{tmp_path / "state"}"

[jira]
url = "{url}"
email_env = "TEST_JIRA_EMAIL"
token_env = "TEST_JIRA_TOKEN"
jql = "project = PMB"

[jira.statuses]
Done = "Done"
""")
    return path


async def until(pilot, condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never got there")


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_choose_targets_with_the_keyboard_and_save_them(tmp_path, jira_double, monkeypatch):
    monkeypatch.setenv("TEST_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("TEST_JIRA_TOKEN", TOKEN)
    path = config_for(tmp_path, jira_double.url)
    app = Host(path)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count > 0)
        assert cells(table) == [
            ["type", "Bug", "20", "UNMAPPED"],
            ["type", "Task", "20", "UNMAPPED"],
            ["type", "Story", "20", "UNMAPPED"],
            ["status", "In Progress", "20", "UNMAPPED"],
            ["status", "Done", "20", "Done"],
            ["status", "To Do", "20", "UNMAPPED"],
            ["assignee", "Bob Ray (acc-bob)", "15", "NO EMAIL"],
            ["assignee", "Cy Dee (acc-cy)", "15", "cy@example.com"],
            ["assignee", "Ann Lee (acc-ann)", "15", "ann@example.com"],
        ]
        assert app.screen.sub_title == "6 unmapped"

        async def choose(row: int, target: str) -> None:
            table.move_cursor(row=row)
            await pilot.press("enter")
            assert app.screen.query_one(Input).has_focus
            await pilot.press(*target, "enter")

        await choose(0, "BUG")
        await choose(1, "TASK")
        await choose(2, "STORY")
        await choose(3, "Doing")
        # To Do: "Do" then → takes the suggestion from the targets already known ("Doing"),
        # Escape cancels it; then type Backlog for real
        table.move_cursor(row=5)
        await pilot.press("enter", "D", "o", "right")
        assert app.screen.query_one(Input).value == "Doing"
        await pilot.press("escape")
        await choose(5, "Backlog")
        await choose(6, "bob@example.com")
        assert cells(table)[0][3] == "BUG *" and cells(table)[6][3] == "bob@example.com *"
        assert app.screen.sub_title == "everything mapped"

        await pilot.press("s")
        await until(pilot, lambda: app.screen.saved)
        await pilot.press("escape")
        await until(pilot, lambda: app.result is not None)
    assert app.result is True
    saved = load_config(path).jira
    assert saved.issue_types == {"Bug": "BUG", "Task": "TASK", "Story": "STORY"}
    assert saved.statuses == {"Done": "Done", "In Progress": "Doing", "To Do": "Backlog"}
    assert saved.assignees == {"acc-bob": "bob@example.com"}


async def test_jira_that_cannot_be_read_is_said_on_screen(tmp_path, jira_double, monkeypatch):
    monkeypatch.setenv("TEST_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("TEST_JIRA_TOKEN", "wrong")
    app = Host(config_for(tmp_path, jira_double.url))
    async with app.run_test(size=(120, 30)) as pilot:
        status = app.screen.query_one("#jira-map-status")
        await until(pilot, lambda: "could not be read" in str(status.render()))
        assert "JIRA refused the credentials (HTTP 401)" in str(status.render())
        await asyncio.sleep(0)


async def test_read_only_shows_the_mapping_and_saves_nothing(tmp_path, jira_double, monkeypatch):
    monkeypatch.setenv("TEST_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("TEST_JIRA_TOKEN", TOKEN)
    path = config_for(tmp_path, jira_double.url)
    path.write_text(path.read_text().replace("[console]\n", "[console]\nread_only = true\n"))
    before = path.read_bytes()
    app = Host(path)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count > 0)
        status = app.screen.query_one("#jira-map-status")
        assert "read-only: choices are not saved" in str(status.render())
        save = next(b for b in app.screen.active_bindings.values() if b.binding.action == "save")
        assert not save.enabled  # greyed in the footer
        table.move_cursor(row=0)
        await pilot.press("enter", *"BUG", "enter", "s")
        await pilot.pause(0.3)
        assert not app.screen.saved
        await pilot.press("escape")
        await until(pilot, lambda: app.result is not None)
    assert app.result is False
    assert path.read_bytes() == before
