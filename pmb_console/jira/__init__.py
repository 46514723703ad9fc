"""JIRA → PM Buddy migration (RUNBOOK §5): read JIRA, convert ADF to Markdown, map,
upsert into PM Buddy's PostgreSQL, resumably.

Modules: `adf` (the converter), `client` (JIRA REST over httpx), `mapping` (types,
statuses, assignees; saving choices into the config), `writer` (PostgreSQL upserts),
`migrate` (the run), `cli` (the headless face). Importing this package imports none of
them: the CLI pays for JIRA only when it runs jira-migrate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argparse import Namespace

    from pmb_console.bootstrap import Services


def cli_entry(args: Namespace, services: Services) -> int:
    """`pmb-console jira-migrate [--dry-run] [--resume] [--discover] [--map] [--json]`."""
    from pmb_console.jira.cli import cli_entry as run

    return run(args, services)
