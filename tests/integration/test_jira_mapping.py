"""Mapping: what is unmapped, hidden emails from a CSV, and choices saved into a real
config file without disturbing the rest of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmb_console.config import JiraConfig, load_config
from pmb_console.errors import UsageError
from pmb_console.jira.mapping import Inventory, Mapping, read_assignees_csv, save_choices

CONFIG = """# production console
[console]
environment = "production"   # typed to confirm

[jira]
url = "https://example.atlassian.net"
jql = "project = PMB"

[jira.statuses]
"To Do" = "Backlog"
# a comment inside the table
Done = "Done"

# about the traffic section
[traffic]
provider = "haproxy"
"""


def issue(kind: str, status: str, assignee: dict | None = None) -> dict:
    return {
        "key": "PMB-1",
        "fields": {"issuetype": {"name": kind}, "status": {"name": status}, "assignee": assignee},
    }


def test_save_replaces_a_table_in_place_and_keeps_every_other_byte(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    save_choices(
        path, {"statuses": {"To Do": "Backlog", "Done": "Shipped", 'Won\'t "fix"': "Archive"}}
    )
    text = path.read_text()
    head, table_and_rest = CONFIG.split("[jira.statuses]\n")
    assert text.startswith(head)
    assert text.endswith('\n# about the traffic section\n[traffic]\nprovider = "haproxy"\n')
    assert load_config(path).jira.statuses == {
        "To Do": "Backlog",
        "Done": "Shipped",
        'Won\'t "fix"': "Archive",
    }
    assert load_config(path).traffic.provider == "haproxy"


def test_save_appends_tables_the_file_does_not_have(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    save_choices(
        path, {"issue_types": {"Story": "STORY"}, "assignees": {"acc-bob": "bob@example.com"}}
    )
    text = path.read_text()
    assert text.startswith(CONFIG)
    assert (
        text[len(CONFIG) :]
        == '\n[jira.issue_types]\n"Story" = "STORY"\n\n[jira.assignees]\n"acc-bob" = "bob@example.com"\n'
    )
    assert path.stat().st_mode & 0o777 == 0o600  # a config may hold paths people keep private


def test_save_refuses_a_mapping_written_inline(tmp_path: Path):
    path = tmp_path / "config.toml"
    original = '[jira]\nurl = "x"\nstatuses = { "To Do" = "Backlog" }\n'
    path.write_text(original)
    with pytest.raises(UsageError) as caught:
        save_choices(path, {"statuses": {"Done": "Done"}})
    assert caught.value.message.startswith(f"{path}:3: [jira] statuses is written inline")
    assert path.read_text() == original


def test_save_never_writes_a_config_the_console_could_not_read(tmp_path: Path):
    path = tmp_path / "config.toml"
    original = '[jira]\nurl = "x"\nbogus_key = 1\n'
    path.write_text(original)
    with pytest.raises(UsageError, match="would make .* invalid"):
        save_choices(path, {"statuses": {"Done": "Done"}})
    assert path.read_text() == original


def test_assignees_csv_with_header_comments_and_bad_rows(tmp_path: Path):
    good = tmp_path / "emails.csv"
    good.write_text(
        "account_id,email\n# contractors\nacc-1, one@example.com\n\nacc-2,two@example.com\n"
    )
    assert read_assignees_csv(good) == {"acc-1": "one@example.com", "acc-2": "two@example.com"}
    bad = tmp_path / "bad.csv"
    bad.write_text("acc-1,one@example.com\nacc-2\nacc-3,not-an-email\n")
    with pytest.raises(UsageError) as caught:
        read_assignees_csv(bad)
    assert "line 2" in caught.value.message and "line 3" in caught.value.message
    with pytest.raises(UsageError, match="cannot read the assignees CSV"):
        read_assignees_csv(tmp_path / "missing.csv")


def test_gaps_name_what_is_unmapped_and_defaults_fill_and_report():
    inventory = Inventory()
    for item in (
        issue(
            "Story", "To Do", {"accountId": "a1", "displayName": "Ann", "emailAddress": "ann@x.io"}
        ),
        issue("Spike", "Blocked", {"accountId": "b2", "displayName": "Bob", "emailAddress": None}),
        issue("Spike", "To Do", None),
    ):
        inventory.add(item)
    cfg = JiraConfig(issue_types={"Story": "STORY"}, statuses={"To Do": "Backlog"})
    gaps = Mapping(cfg, {}).gaps(inventory)
    assert (gaps.types, gaps.statuses, gaps.assignees) == ({"Spike": 2}, {"Blocked": 1}, {"b2": 1})
    assert gaps.describe() == [
        "unmapped issue type 'Spike' (2 issues)",
        "unmapped status 'Blocked' (1 issues)",
        "assignee Bob (b2, 1 issues) has no known email",
    ]

    lenient = cfg.model_copy(
        update={
            "default_type": "TASK",
            "default_status": "Backlog",
            "unknown_assignee": "unassigned",
        }
    )
    gaps = Mapping(lenient, {}).gaps(inventory)
    assert not gaps.blocking
    assert (gaps.defaulted_types, gaps.defaulted_statuses, gaps.unassigned_instead) == (
        {"Spike": 2},
        {"Blocked": 1},
        {"b2": 1},
    )
    # the CSV, or [jira.assignees], says who hides their email
    assert (
        not Mapping(cfg.model_copy(update={"assignees": {"b2": "bob@x.io"}}), {})
        .gaps(inventory)
        .assignees
    )
    assert not Mapping(cfg, {"b2": "bob@x.io"}).gaps(inventory).assignees


def test_assignees_csv_is_found_next_to_the_config(tmp_path: Path):
    (tmp_path / "emails.csv").write_text("acc-9,nine@example.com\n")
    mapping = Mapping.from_config(
        JiraConfig(assignees_csv="emails.csv"), str(tmp_path / "config.toml")
    )
    assert mapping.emails == {"acc-9": "nine@example.com"}


def test_a_config_that_cannot_be_written_is_said_in_words(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    (tmp_path / "config.toml.tmp").mkdir()  # where the atomic write would put its new file
    with pytest.raises(UsageError, match="cannot save the mapping into"):
        save_choices(path, {"statuses": {"Done": "Done"}})
    assert path.read_text() == CONFIG
