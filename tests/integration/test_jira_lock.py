"""A JIRA migration never holds up a rollback, and never runs twice at once.

A real HAProxy, a real PostgreSQL target, the JIRA double over HTTP; the migration runs
through the real ActionRunner in a thread and is held half-way (its progress waits on
the test), while the on-call engineer rolls back with the real `pmb-console` program.
Once with local state (a file lock), once in the war room ([audit] dsn_env: an advisory
lock in the shared database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.jira import JiraMigrateAction
from pmb_console.bootstrap import Services
from pmb_console.config import load_config
from tests.fixtures.jira_double import EMAIL, TOKEN, JiraDouble, serving
from tests.integration.test_jira_migrate import MAPPING, cli, prepare_target

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

AUDIT_ENV = "PMB_TEST_AUDIT_URL"
HOLD_S = 60  # an upper bound only: the held migration is released as soon as the test is done


@pytest.fixture
def jira_double() -> Iterator[JiraDouble]:
    with serving() as double:
        yield double


def configs(tmp_path, haproxy, jira_double, pg_database, monkeypatch, shared: bool):
    """alice's and bob's configs: one state_dir (or one shared database), JIRA, the target."""
    monkeypatch.setenv("TEST_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("TEST_JIRA_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_PMB_TARGET", pg_database.url)
    monkeypatch.setenv(AUDIT_ENV, pg_database.url)
    (tmp_path / "hidden-emails.csv").write_text("account_id,email\nacc-bob,bob@example.com\n")
    state = json.dumps(str(tmp_path / "state"))
    found = {}
    for who in ("alice", "bob"):
        path = haproxy.write_pmb_config(tmp_path / who, operator=json.dumps(who), state_dir=state)
        path.write_text(
            path.read_text()
            + f"""
[jira]
url = "{jira_double.url}"
email_env = "TEST_JIRA_EMAIL"
token_env = "TEST_JIRA_TOKEN"
jql = "project = PMB ORDER BY key"
page_size = 50
target_dsn_env = "TEST_PMB_TARGET"
assignees_csv = {json.dumps(str(tmp_path / "hidden-emails.csv"))}
{MAPPING}
"""
            + (f'\n[audit]\ndsn_env = "{AUDIT_ENV}"\n' if shared else "")
        )
        found[who] = path
    return found


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pmb_console", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "PMB_CONSOLE_CONFIG"},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


class HeldMigration:
    """alice's migration in a thread, stopped after its first page is written."""

    def __init__(self, config: Path) -> None:
        self.services = Services(load_config(config))
        self.writing = threading.Event()
        self.release = threading.Event()
        self.outcome = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _progress(self, message: str, fraction: float | None) -> None:
        if not self.writing.is_set():
            self.writing.set()
            self.release.wait(HOLD_S)

    def _run(self) -> None:
        self.outcome = self.services.runner.run(
            JiraMigrateAction(), Confirmation.yes(), progress=self._progress
        )

    def __enter__(self) -> HeldMigration:
        self.thread.start()
        assert self.writing.wait(HOLD_S), "the migration never started writing"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(HOLD_S)


@pytest.mark.parametrize("shared", [False, True], ids=["local", "war-room"])
def test_a_rollback_goes_through_while_a_migration_runs_and_a_second_migration_is_refused(
    tmp_path, haproxy, jira_double, pg_database, monkeypatch, capsys, shared
):
    prepare_target(pg_database)
    cfg = configs(tmp_path, haproxy, jira_double, pg_database, monkeypatch, shared)
    switched = pmb(cfg["bob"], "switch", "--to", "green", "--yes")
    assert switched.returncode == 0, switched.stderr
    assert haproxy.requests(4) == {"green": 4}

    with HeldMigration(cfg["alice"]) as migration:
        rolled = pmb(cfg["bob"], "rollback", "--yes")
        assert rolled.returncode == 0, rolled.stderr
        assert haproxy.requests(4) == {"blue": 4}

        from pmb_console.jira import cli_entry

        code = cli_entry(cli(cfg["bob"]), Services(load_config(cfg["bob"])))
        err = capsys.readouterr().err
        assert code == 4, err
        assert "JIRA migration lock" in err and "alice" in err and "jira-migrate" in err
        assert migration.thread.is_alive()

    assert migration.outcome is not None
    assert migration.outcome.status == "succeeded", migration.outcome.message
    assert pg_database.scalar("SELECT count(*) FROM issues") == 250
    records = Services(load_config(cfg["bob"])).audit.records()
    outcomes = [(r["operator"], r["action"], r["outcome"]) for r in records]
    assert ("bob", "rollback", "succeeded") in outcomes
    assert ("bob", "jira-migrate", "locked") in outcomes
    assert outcomes[-1] == ("alice", "jira-migrate", "succeeded")
