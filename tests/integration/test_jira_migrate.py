"""The JIRA migration end to end: a local JIRA double over HTTP, a real PostgreSQL target,
the action run through the real ActionRunner, and the CLI entry.

The double serves several pages, a 429 with Retry-After in the middle, users who hide
their email, and a description with a node no converter knows.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.jira import JiraMigrateAction
from pmb_console.bootstrap import Services
from pmb_console.config import load_config
from pmb_console.jira import cli_entry
from pmb_console.jira.writer import IssueWriter
from tests.fixtures.jira_double import EMAIL, STORY_POINTS, TOKEN, JiraDouble, serving
from tests.fixtures.postgres import PgDatabase

pytestmark = pytest.mark.postgres

MAPPING = """
[jira.issue_types]
Story = "STORY"
Bug = "BUG"
Task = "TASK"

[jira.statuses]
"To Do" = "Backlog"
"In Progress" = "Doing"
Done = "Done"
"""


@pytest.fixture
def jira_double() -> Iterator[JiraDouble]:
    with serving() as double:
        yield double


@pytest.fixture
def jira_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("TEST_JIRA_TOKEN", TOKEN)


def write_config(
    tmp_path: Path,
    double: JiraDouble,
    db: PgDatabase | None,
    *,
    extra: str = MAPPING,
    page_size: int = 100,
    csv: bool = True,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    if db is not None:
        monkeypatch.setenv("TEST_PMB_TARGET", db.url)
    if csv:
        (tmp_path / "hidden-emails.csv").write_text("account_id,email\nacc-bob,bob@example.com\n")
    path = tmp_path / "config.toml"
    path.write_text(f"""# written by the test
[console]
environment = "test"
operator = "tester"
state_dir = "{tmp_path / "state"}"

[jira]
url = "{double.url}"
flavor = "{double.flavor}"
email_env = "TEST_JIRA_EMAIL"
token_env = "TEST_JIRA_TOKEN"
jql = "project = PMB ORDER BY key"
story_points_field = "{STORY_POINTS}"
page_size = {page_size}
target_dsn_env = "TEST_PMB_TARGET"
{'assignees_csv = "hidden-emails.csv"' if csv else ""}
{extra}
""")
    return path


def prepare_target(db: PgDatabase) -> None:
    with IssueWriter(db.url, "issues", load_config_default().jira.target_columns) as writer:
        writer.create_default_table()


def load_config_default():
    from pmb_console.config import Config

    return Config()


def rows(db: PgDatabase) -> list[tuple[Any, ...]]:
    return db.rows(
        "SELECT key, summary, description, type, status, assignees, story_points FROM issues ORDER BY key"
    )


def run_action(config_path: Path, *, dry_run: bool = False, resume: bool = False, progress=None):
    services = Services(load_config(config_path))
    action = JiraMigrateAction(dry_run=dry_run, resume=resume)
    kwargs = {"progress": progress} if progress else {}
    outcome = services.runner.run(action, Confirmation.yes(), dry_run=dry_run, **kwargs)
    return outcome, action


# --- dry run ---------------------------------------------------------------------------


def test_dry_run_reports_counts_unmapped_and_lossy_conversions_and_writes_nothing(
    tmp_path, jira_double, pg_database, jira_env, monkeypatch
):
    prepare_target(pg_database)
    jira_double.rate_limit_on = {3}  # a 429 with Retry-After in the middle of the reading
    config = write_config(tmp_path, jira_double, pg_database, csv=False, monkeypatch=monkeypatch)

    outcome, action = run_action(config, dry_run=True)

    assert outcome.status == "dry-run", outcome.message
    report = outcome.plan.data["report"]
    assert report["issues"] == 250 and report["pages"] == 3
    assert report["types"] == {"Story → STORY": 83, "Bug → BUG": 84, "Task → TASK": 83}
    assert report["statuses"] == {
        "To Do → Backlog": 83,
        "In Progress → Doing": 84,
        "Done → Done": 83,
    }
    # Bob hides his email and no CSV names him: the run would refuse
    assert report["unmapped"]["assignees"] == {"Bob Ray": 63}
    assert [(x["key"], x["path"], x["node"]) for x in report["lossy"]] == [
        ("PMB-7", "/doc/bodiedExtension[3]", "bodiedExtension")
    ]
    assert jira_double.rate_limited == 1  # the 429 was met, waited out, and the page re-read
    assert pg_database.scalar("SELECT count(*) FROM issues") == 0
    text = action.report.text()
    assert "PMB-7 /doc/bodiedExtension[3]" in text and "assignee 'Bob Ray': 63 issues" in text


def test_dry_run_asks_for_the_fields_explicitly(tmp_path, jira_double, jira_env, monkeypatch):
    config = write_config(tmp_path, jira_double, None, monkeypatch=monkeypatch)
    run_action(config, dry_run=True)
    asked = {tuple(sorted(",".join(q["fields"]).split(","))) for q in jira_double.search_requests}
    assert (
        tuple(sorted(["summary", "description", "issuetype", "status", "assignee", STORY_POINTS]))
        in asked
    )


# --- refusing --------------------------------------------------------------------------


def test_run_refuses_while_anything_found_is_unmapped(
    tmp_path, jira_double, pg_database, jira_env, monkeypatch
):
    prepare_target(pg_database)
    config = write_config(
        tmp_path,
        jira_double,
        pg_database,
        csv=False,
        extra=MAPPING.replace('Bug = "BUG"\n', ""),
        monkeypatch=monkeypatch,
    )

    outcome, _ = run_action(config)

    assert outcome.status == "refused" and outcome.exit_code == 3
    assert "'Bug' (84)" in outcome.message and "Bob Ray (63)" in outcome.message
    assert pg_database.scalar("SELECT count(*) FROM issues") == 0


def test_a_default_maps_what_is_unmapped_and_is_reported(
    tmp_path, jira_double, pg_database, jira_env, monkeypatch
):
    prepare_target(pg_database)
    extra = MAPPING.replace('Bug = "BUG"\n', "") + "\n"
    extra = extra.replace("[jira.issue_types]", "[jira.issue_types]")
    config = write_config(tmp_path, jira_double, pg_database, extra=extra, monkeypatch=monkeypatch)
    text = config.read_text().replace(
        "page_size = 100\n", 'page_size = 100\ndefault_type = "TASK"\n'
    )
    config.write_text(text)

    outcome, action = run_action(config)

    assert outcome.status == "succeeded", outcome.message
    assert "type 'Bug' → TASK (the default)" in action.report.defaults
    assert pg_database.scalar("SELECT count(*) FROM issues WHERE type = 'TASK'") == 84 + 83


def test_target_table_missing_is_a_failed_guard_naming_it(
    tmp_path, jira_double, pg_database, jira_env, monkeypatch
):
    config = write_config(tmp_path, jira_double, pg_database, monkeypatch=monkeypatch)
    outcome, _ = run_action(config)
    assert outcome.status == "refused"
    assert "table issues does not exist" in outcome.message


# --- the run ---------------------------------------------------------------------------


def test_run_writes_every_issue_mapped_and_a_rerun_updates_instead_of_duplicating(
    tmp_path, jira_double, pg_database, jira_env, monkeypatch
):
    prepare_target(pg_database)
    jira_double.rate_limit_on = {5}
    jira_double.issues[0]["fields"]["summary"] = "NUL\x00 in a summary"
    config = write_config(tmp_path, jira_double, pg_database, monkeypatch=monkeypatch)

    outcome, action = run_action(config)

    assert outcome.status == "succeeded", (outcome.message, outcome.hint)
    assert outcome.verification.detail == "250 of 250 issues written by this run are in issues"
    table = {row[0]: row for row in rows(pg_database)}
    assert len(table) == 250
    key, summary, description, kind, status, assignees, points = table["PMB-9"]
    # Bob hides his email from JIRA: the CSV says who he is
    assert (summary, kind, status, assignees, float(points)) == (
        "Fix the stale total (9)",
        "STORY",
        "Backlog",
        ["bob@example.com"],
        8.0,
    )
    # the description is Markdown, and the mention of Bob became his PM Buddy user
    assert description.startswith("Issue 9: the **checkout** total is stale for @bob@example.com.")
    assert "- step 0\n- step 1\n- step 2" in description and "```sql\nSELECT 9;\n```" in description
    assert table["PMB-4"][5] == ["ann@example.com"]
    assert "| a\\|b | 3 |" in table["PMB-3"][2]
    assert "roadmap text kept" in table["PMB-7"][2]
    assert table["PMB-1"][1] == "NUL in a summary"
    assert table["PMB-3"][5] == []  # unassigned
    assert table["PMB-5"][6] is None and table["PMB-5"][2] == ""  # no points, no description
    assert jira_double.rate_limited == 1

    jira_double.issues[1]["fields"]["summary"] = "Renamed in JIRA"
    outcome, _ = run_action(config)
    assert outcome.status == "succeeded"
    assert pg_database.scalar("SELECT count(*) FROM issues") == 250
    assert pg_database.scalar("SELECT summary FROM issues WHERE key = 'PMB-2'") == "Renamed in JIRA"


def test_an_interrupted_run_resumed_gives_the_same_result_as_an_uninterrupted_one(
    tmp_path, jira_double, pg_database, pg_server, jira_env, monkeypatch
):
    # the uninterrupted run, into one database
    prepare_target(pg_database)
    whole_dir = tmp_path / "whole"
    whole_dir.mkdir()
    config = write_config(
        whole_dir, jira_double, pg_database, page_size=40, monkeypatch=monkeypatch
    )
    outcome, _ = run_action(config)
    assert outcome.status == "succeeded"
    uninterrupted = rows(pg_database)

    # the interrupted run, into a second database: Ctrl+C once three pages are written
    with second_database(pg_server) as other:
        prepare_target(other)
        parts_dir = tmp_path / "parts"
        parts_dir.mkdir()
        config = write_config(parts_dir, jira_double, other, page_size=40, monkeypatch=monkeypatch)

        def interrupt_after_three_pages(message: str, fraction: float | None) -> None:
            if message.startswith("read 120 · written 120"):
                raise KeyboardInterrupt

        outcome, _ = run_action(config, progress=interrupt_after_three_pages)
        assert outcome.status == "interrupted"
        assert outcome.exit_code == 1
        assert other.scalar("SELECT count(*) FROM issues") == 120
        saved = json.loads((parts_dir / "state" / "jira-migrate.json").read_text())
        assert saved["pages"] == 3 and saved["done"] is False

        before = len(jira_double.search_requests)
        outcome, action = run_action(config, resume=True)
        assert outcome.status == "succeeded", outcome.message
        assert action.report.resumed_at_page == 3
        full_reads = [
            q for q in jira_double.search_requests[before:] if "summary" in q["fields"][0]
        ]
        assert len(full_reads) == 4  # pages 4 to 7 only: nothing before the saved position re-read
        assert rows(other) == uninterrupted

        outcome, _ = run_action(config, resume=True)  # resuming a finished run does nothing
        assert outcome.status == "nothing-to-do"


class second_database:  # noqa: N801 - used as a context manager, reads like one
    def __init__(self, server) -> None:
        import uuid

        self.server = server
        self.db = PgDatabase(server, f"pmb_test_{uuid.uuid4().hex[:10]}")

    def __enter__(self) -> PgDatabase:
        from psycopg import sql

        with self.server.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.db.name)))
        return self.db

    def __exit__(self, *exc: object) -> None:
        from psycopg import sql

        with self.server.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.db.name)
                )
            )


def test_datacenter_flavor_pages_with_startat_and_a_bearer_token(
    tmp_path, jira_double, pg_database, jira_env, monkeypatch
):
    prepare_target(pg_database)
    jira_double.flavor = "datacenter"
    config = write_config(
        tmp_path, jira_double, pg_database, page_size=100, monkeypatch=monkeypatch
    )
    outcome, action = run_action(config)
    assert outcome.status == "succeeded", outcome.message
    assert pg_database.scalar("SELECT count(*) FROM issues") == 250
    assert {q["startAt"][0] for q in jira_double.search_requests} == {"0", "100", "200"}
    assert any("wiki markup" in note for note in action.report.notes)


# --- faults ----------------------------------------------------------------------------


def test_a_wrong_token_fails_with_words_not_a_traceback(
    tmp_path, jira_double, jira_env, monkeypatch
):
    monkeypatch.setenv("TEST_JIRA_TOKEN", "not-the-token")
    config = write_config(tmp_path, jira_double, None, monkeypatch=monkeypatch)
    outcome, _ = run_action(config, dry_run=True)
    assert outcome.status == "failed"
    assert outcome.message == "JIRA refused the credentials (HTTP 401)"
    assert "$TEST_JIRA_EMAIL and $TEST_JIRA_TOKEN" in outcome.hint
    assert "not-the-token" not in json.dumps(outcome.as_dict())


def test_jira_unreachable_is_named(tmp_path, jira_double, jira_env, monkeypatch):
    config = write_config(tmp_path, jira_double, None, monkeypatch=monkeypatch)
    jira_double.close()
    text = config.read_text().replace("max_retries", "x")
    config.write_text(
        text.replace("page_size = 100", "page_size = 100\nmax_retries = 1\ntimeout = 2")
    )
    outcome, _ = run_action(config, dry_run=True)
    assert outcome.status == "failed"
    assert outcome.message.startswith(
        f"JIRA at {jira_double.url}/rest/api/3/search/jql did not answer"
    )


# --- the CLI entry ---------------------------------------------------------------------


def cli(config: Path, *flags: str) -> argparse.Namespace:
    return argparse.Namespace(
        dry_run="--dry-run" in flags,
        resume="--resume" in flags,
        discover="--discover" in flags,
        map="--map" in flags,
        json="--json" in flags,
    )


def test_cli_dry_run_prints_the_report_and_exits_3_when_the_run_would_refuse(
    tmp_path, jira_double, jira_env, monkeypatch, capsys
):
    config = write_config(tmp_path, jira_double, None, csv=False, monkeypatch=monkeypatch)
    code = cli_entry(cli(config, "--dry-run"), Services(load_config(config)))
    out = capsys.readouterr().out
    assert code == 3
    assert out.startswith("JIRA migration dry run: 250 issues in 3 pages")
    assert "assignee 'Bob Ray': 63 issues" in out


def test_cli_dry_run_json_is_one_document(tmp_path, jira_double, jira_env, monkeypatch, capsys):
    config = write_config(tmp_path, jira_double, None, monkeypatch=monkeypatch)
    code = cli_entry(cli(config, "--dry-run", "--json"), Services(load_config(config)))
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["status"] == "dry-run"
    assert document["report"]["issues"] == 250 and document["report"]["unmapped"]["assignees"] == {}


def test_cli_run_without_the_target_dsn_is_a_config_error(
    tmp_path, jira_double, jira_env, monkeypatch, capsys
):
    config = write_config(tmp_path, jira_double, None, monkeypatch=monkeypatch)
    monkeypatch.delenv("TEST_PMB_TARGET", raising=False)
    code = cli_entry(cli(config), Services(load_config(config)))
    assert code == 2
    assert "$TEST_PMB_TARGET (PM Buddy's database DSN)" in capsys.readouterr().err


def test_cli_discover_lists_story_point_candidates_types_and_statuses(
    tmp_path, jira_double, jira_env, monkeypatch, capsys
):
    config = write_config(tmp_path, jira_double, None, monkeypatch=monkeypatch)
    code = cli_entry(cli(config, "--discover", "--json"), Services(load_config(config)))
    found = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [f["id"] for f in found["story_points_candidates"]] == [
        STORY_POINTS,
        "customfield_10026",
    ]
    assert found["custom_fields"] == 64  # two pages of /field/search
    assert found["types"] == {"Bug": 84, "Story": 83, "Task": 83}
    assert found["statuses"] == {"In Progress": 84, "To Do": 83, "Done": 83}
    bob = next(a for a in found["assignees"] if a["account_id"] == "acc-bob")
    assert bob == {"account_id": "acc-bob", "name": "Bob Ray", "email": "", "issues": 63}


def test_cli_map_without_a_terminal_lists_what_is_unmapped(
    tmp_path, jira_double, jira_env, monkeypatch, capsys
):
    config = write_config(tmp_path, jira_double, None, csv=False, extra="", monkeypatch=monkeypatch)
    code = cli_entry(cli(config, "--map"), Services(load_config(config)))
    out = capsys.readouterr().out
    assert code == 3
    assert "unmapped issue type 'Bug' (84 issues)" in out
    assert "assignee Bob Ray (acc-bob, 63 issues) has no known email" in out


def test_cli_map_on_a_terminal_saves_the_choices_into_the_config(
    tmp_path, jira_double, jira_env, monkeypatch, capsys
):
    statuses = '[jira.statuses]\n"In Progress" = "Doing"\nDone = "Done"\n\n# the team\'s own note\n'
    config = write_config(
        tmp_path, jira_double, None, csv=False, extra=statuses, monkeypatch=monkeypatch
    )
    before, after = config.read_text().split(statuses)
    # asked most found first: Bug, Task, Story, then To Do, then Bob's hidden email
    answers = iter(["BUG", "TASK", "STORY", "Backlog", "bob@example.com"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))  # the keyboard
    code = cli_entry(cli(config, "--map"), Services(load_config(config)))
    assert code == 0, capsys.readouterr()
    saved = load_config(config).jira
    assert saved.issue_types == {"Bug": "BUG", "Task": "TASK", "Story": "STORY"}
    assert saved.statuses == {"In Progress": "Doing", "To Do": "Backlog", "Done": "Done"}
    assert saved.assignees == {"acc-bob": "bob@example.com"}
    text = config.read_text()
    assert text.startswith(before)  # everything else is kept byte for byte
    assert "# the team's own note\n" in text


def test_map_prompt_offers_the_targets_already_chosen(monkeypatch):
    from pmb_console.jira.cli import _ask

    prompts = []
    answers = iter(["1", "Review"])

    def keyboard(prompt=""):
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", keyboard)
    chosen = _ask(
        "status", {"Open": 5, "In Review": 2, "Done": 9}, {"Done": "Done", "Closed": "Archive"}
    )
    assert chosen == {"Open": "Archive", "In Review": "Review"}
    assert "1) Archive  2) Done" in prompts[0]


def test_the_real_program_runs_a_dry_run_and_shows_the_rate_limit_wait(
    tmp_path, jira_double, jira_env, monkeypatch
):
    import os
    import subprocess
    import sys

    jira_double.rate_limit_on = {2}
    config = write_config(tmp_path, jira_double, None, monkeypatch=monkeypatch)
    done = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(config), "jira-migrate", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("JIRA migration dry run: 250 issues in 3 pages")
    assert "waiting 1 s (rate limited (HTTP 429))" in done.stderr
    assert "Traceback" not in done.stderr and TOKEN not in done.stdout + done.stderr


def test_cli_map_read_only_refuses_before_asking_and_saves_nothing(
    tmp_path, jira_double, jira_env, monkeypatch, capsys
):
    from pmb_console.cli import main

    config = write_config(tmp_path, jira_double, None, csv=False, extra="", monkeypatch=monkeypatch)
    before = config.read_bytes()
    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "BUG")
    code = main(["jira-migrate", "--map", "--read-only", "--config", str(config)])
    said = capsys.readouterr().err
    assert code == 5, said
    assert "jira-migrate --map refused: this console is read-only" in said
    assert asked == []
    assert config.read_bytes() == before
    assert not (tmp_path / "state" / "audit.jsonl").exists()
