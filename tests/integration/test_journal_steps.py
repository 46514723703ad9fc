"""The runbook journal follows what actions find, against a real PostgreSQL: a step an
action finds already done ("nothing to do") is marked done, with why as its evidence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import MigrateAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config

pytestmark = pytest.mark.postgres


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_migrate_with_nothing_pending_marks_run_migrations_done(pg_database, pg_config):
    config = pg_config()  # an empty migrations directory: this release adds none

    done = pmb(config, "migrate", "--yes")
    shown = pmb(config, "journal")

    assert done.returncode == 0, done.stderr
    line = next(x for x in shown.stdout.splitlines() if "3. Run migrations" in x)
    assert line.lstrip().startswith("[x]"), shown.stdout
    assert "nothing to do: no pending migrations" in shown.stdout
    ctx = bootstrap(load_config(config))
    (record,) = [r for r in ctx.audit.records() if r["action"] == "migrate"]
    assert record["outcome"] == "nothing-to-do"  # the journal and the audit say the same


def test_nothing_to_do_later_keeps_the_run_that_did_the_step(pg_database, pg_config, tmp_path):
    config = pg_config()
    (tmp_path / "migrations" / "001_a.sql").write_text("CREATE TABLE a (id int);")
    ctx = bootstrap(load_config(config))
    applied = ctx.runner.run(MigrateAction(), Confirmation.yes())
    again = ctx.runner.run(MigrateAction(), Confirmation.yes())

    assert (applied.status, again.status) == ("succeeded", "nothing-to-do")
    shown = json.loads(pmb(config, "journal", "--json").stdout)
    (step,) = [s for s in shown if s["id"] == "run-migrations"]
    assert step["state"] == "done" and step["evidence"].startswith("succeeded: "), step
