"""JIRA migration speed: ADF conversion, and 10,000 issues from a local JIRA into PostgreSQL.

    .venv/bin/python bench/jira_migrate.py [--issues 10000] [--docs 5000] [--json]

1. ADF → Markdown on a realistic story description (headings, marks, nested lists, a
   table, code, a panel, a mention, a date, a status, media). Goal: ≥ 5,000 documents/s.
   Baseline in the same run: walking the same document for its text leaves, the least
   any converter must do; the ratio says what the Markdown costs on top.
2. The whole migration through the ActionRunner (survey for the guards, read, convert,
   map, upsert, save the position after each page, read back) from the local JIRA double
   serving 10,000 issues, 100 per page, into a fresh PostgreSQL database on 127.0.0.1.
   Goal: ≤ 60 s. Baseline in the same run: fetching the same pages with httpx and
   decoding them, nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from pmb_console.actions.base import Confirmation  # noqa: E402
from pmb_console.actions.jira import JiraMigrateAction  # noqa: E402
from pmb_console.bootstrap import Services  # noqa: E402
from pmb_console.config import load_config  # noqa: E402
from pmb_console.jira.adf import text_leaves, to_markdown  # noqa: E402
from pmb_console.jira.writer import IssueWriter  # noqa: E402
from tests.fixtures.jira_double import EMAIL, STORY_POINTS, TOKEN, serving  # noqa: E402
from tests.fixtures.postgres import PgServer, _candidates  # noqa: E402
from tests.unit.adf_docs import realistic_description  # noqa: E402


def rate(fn, count: int, rounds: int = 5) -> tuple[float, float]:
    """Best-of-rounds calls per second, by the wall clock and by this process's CPU time
    (the machine is shared: CPU time is what the converter itself costs)."""
    wall = cpu = float("inf")
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            fn()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return count / wall, count / cpu


def bench_adf(docs: int) -> dict[str, float]:
    doc = realistic_description()
    mentions = {"5b10ac8d82e05b22cc7d4ef5": "jane@example.com"}
    size = len(json.dumps(doc))
    converted, converted_cpu = rate(lambda: to_markdown(doc, mentions), docs)
    walked, _ = rate(lambda: text_leaves(doc), docs)
    return {
        "adf_bytes": size,
        "docs_per_s": converted,
        "docs_per_cpu_s": converted_cpu,
        "baseline_leaves_per_s": walked,
        "ratio_to_baseline": walked / converted,
    }


def admin_server() -> PgServer:
    for params in _candidates():
        try:
            with psycopg.connect(psycopg.conninfo.make_conninfo(**params), connect_timeout=3):
                return PgServer(params)
        except psycopg.Error:
            continue
    sys.exit("no PostgreSQL answers on 127.0.0.1:5432 (make test starts one)")


def bench_migration(issues: int) -> dict[str, float]:
    server = admin_server()
    name = f"pmb_bench_{uuid.uuid4().hex[:8]}"
    with server.admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with serving(issues) as double, tempfile.TemporaryDirectory() as tmp:
            dsn = server.dsn(name)
            from pmb_console.config import Config

            with IssueWriter(dsn, "issues", Config().jira.target_columns) as writer:
                writer.create_default_table()
            os.environ.update(
                {"BENCH_JIRA_EMAIL": EMAIL, "BENCH_JIRA_TOKEN": TOKEN, "BENCH_TARGET": dsn}
            )
            (Path(tmp) / "emails.csv").write_text("acc-bob,bob@example.com\n")
            config = Path(tmp) / "config.toml"
            config.write_text(f"""
[console]
environment = "bench"
state_dir = "{tmp}/state"
[jira]
url = "{double.url}"
email_env = "BENCH_JIRA_EMAIL"
token_env = "BENCH_JIRA_TOKEN"
jql = "project = PMB ORDER BY key"
story_points_field = "{STORY_POINTS}"
page_size = 100
target_dsn_env = "BENCH_TARGET"
assignees_csv = "emails.csv"
[jira.issue_types]
Story = "STORY"
Bug = "BUG"
Task = "TASK"
[jira.statuses]
"To Do" = "Backlog"
"In Progress" = "Doing"
Done = "Done"
""")
            # baseline: the same pages fetched and decoded, nothing else
            started = time.perf_counter()
            with httpx.Client(base_url=double.url, auth=(EMAIL, TOKEN)) as http:
                token, pages = "", 0
                while True:
                    params = {
                        "jql": "project = PMB",
                        "maxResults": 100,
                        "fields": f"summary,description,issuetype,status,assignee,{STORY_POINTS}",
                    }
                    if token:
                        params["nextPageToken"] = token
                    body = http.get("/rest/api/3/search/jql", params=params).json()
                    pages += 1
                    if body.get("isLast"):
                        break
                    token = body["nextPageToken"]
            fetch_s = time.perf_counter() - started

            services = Services(load_config(config))
            started = time.perf_counter()
            outcome = services.runner.run(JiraMigrateAction(), Confirmation.yes())
            migrate_s = time.perf_counter() - started
            if outcome.status != "succeeded":
                sys.exit(f"the migration did not succeed: {outcome.status}: {outcome.message}")
            with psycopg.connect(dsn) as conn:
                written = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
        return {
            "issues": written,
            "pages": pages,
            "migrate_s": migrate_s,
            "issues_per_s": written / migrate_s,
            "baseline_fetch_s": fetch_s,
            "ratio_to_baseline": migrate_s / fetch_s,
        }
    finally:
        with server.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=5_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    adf = bench_adf(args.docs)
    migration = bench_migration(args.issues)
    figures = {
        "adf": adf,
        "migration": migration,
        "goals_met": adf["docs_per_s"] >= 5000 and migration["migrate_s"] <= 60,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"ADF → Markdown ({adf['adf_bytes']} bytes of ADF): {adf['docs_per_s']:,.0f} docs/s "
        f"({adf['docs_per_cpu_s']:,.0f} per CPU second; goal ≥ 5,000); walking the text leaves alone {adf['baseline_leaves_per_s']:,.0f}/s, "
        f"ratio {adf['ratio_to_baseline']:.1f}"
    )
    print(
        f"migration: {migration['issues']:,} issues in {migration['pages']} pages, "
        f"{migration['migrate_s']:.1f} s ({migration['issues_per_s']:,.0f} issues/s; goal ≤ 60 s); "
        f"fetching the pages alone {migration['baseline_fetch_s']:.1f} s, ratio {migration['ratio_to_baseline']:.1f}"
    )
    print("goals met" if figures["goals_met"] else "GOALS NOT MET")


if __name__ == "__main__":
    main()
