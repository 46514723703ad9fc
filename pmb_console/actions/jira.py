"""The JIRA → PM Buddy migration as an action: guarded, planned, audited like any other.

Guards: JIRA answers the JQL, and everything it finds is mapped (types, statuses,
assignees' emails); for a real run, the target table is ready. The plan of a dry run is
the full report (counts, unmapped values, lossy conversions); the plan of a real run
says how many issues go where. Verify reads the keys back from PostgreSQL.

A run can take many minutes (JIRA's rate limits), so it does not take the action lock: a
rollback must never wait for a team's import. It holds a lock of its own instead, so two
migrations never run at once: an advisory lock in the shared database with `[audit]
dsn_env`, else a file lock in state_dir; a second migration is refused naming the first.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from pmb_console.actions.base import Action, GuardResult, Plan, Verification
from pmb_console.providers.base import ProgressFn

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services
    from pmb_console.jira.mapping import Gaps, Inventory, Mapping
    from pmb_console.jira.migrate import Progress, Report
    from pmb_console.jira.writer import IssueWriter
    from pmb_console.locking import LockHolder

LOCK_NAME = "jira-migrate"
LOCK_WHAT = "the JIRA migration lock"


class JiraMigrateAction(Action):
    name = "jira-migrate"
    title = "JIRA migration"
    mutating = True
    exclusive = False
    """Minutes of JIRA rate limits must never make a rollback wait: see own_lock."""

    def __init__(
        self, dry_run: bool = False, resume: bool = False, reading: ProgressFn | None = None
    ) -> None:
        self.dry_run = dry_run
        self.resume = resume
        self.reading = reading
        """Progress of the reading done by the guards and the dry run's plan (the runner
        reports only execute's); so a long survey is never a silent screen."""
        self.inventory: Inventory | None = None
        self.gaps: Gaps | None = None
        self.report: Report | None = None
        """The dry run's or the run's report, for the faces to print."""
        self._keys: list[str] = []

    def params(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "resume": self.resume}

    # --- deciding --------------------------------------------------------------------

    def guards(self, ctx: Services) -> list[GuardResult]:
        inventory, gaps = self._survey(ctx)
        found = f"{inventory.issues} issues found by the JQL"
        guards = [
            GuardResult(
                "issue types mapped",
                not gaps.types,
                _detail(gaps.types, found, gaps.defaulted_types),
            ),
            GuardResult(
                "statuses mapped",
                not gaps.statuses,
                _detail(gaps.statuses, found, gaps.defaulted_statuses),
            ),
            GuardResult(
                "assignees known",
                not gaps.assignees,
                "no email for: "
                + ", ".join(f"{gaps.names.get(a) or a} ({n})" for a, n in gaps.assignees.items())
                if gaps.assignees
                else f"{len(inventory.assignees)} assignees, each with an email"
                + (
                    f"; {len(gaps.unassigned_instead)} imported unassigned"
                    if gaps.unassigned_instead
                    else ""
                ),
            ),
        ]
        if not self.dry_run:
            with self._writer(ctx) as writer:
                problems = writer.problems()
                where = f"{ctx.config.jira.target_table} in {writer.where}"
            guards.append(
                GuardResult("target table ready", not problems, "; ".join(problems) or where)
            )
        return guards

    def plan(self, ctx: Services) -> Plan:
        cfg = ctx.config.jira
        inventory, gaps = self._survey(ctx)
        if self.dry_run:
            from pmb_console.jira.client import JiraClient

            with JiraClient(cfg) as client:
                migration = self._migration(ctx, client, self._reading_progress("dry run"))
                self.report = migration.dry_run(inventory.users)
            report = self.report
            return Plan(
                summary=report.text().splitlines()[0],
                steps=tuple(report.text().splitlines()[1:]),
                data={
                    "report": report.as_dict(),
                    "inventory": inventory.as_dict(),
                    "gaps": gaps.as_dict(),
                },
            )
        from pmb_console.jira.migrate import Position

        saved = Position(ctx.config.console.state_dir, cfg).load() if self.resume else None
        done_before = bool(saved and saved.get("done"))
        steps = [
            f"read {inventory.issues} issues from {cfg.url} ({cfg.jql}), {cfg.page_size} per page",
            "convert descriptions from ADF to Markdown; map types, statuses and assignees",
            f"upsert them into {cfg.target_table}, keyed on {cfg.target_columns.key} "
            "(a rerun updates, never duplicates)",
        ]
        if saved and not done_before:
            steps.insert(0, f"resume after page {saved.get('pages', 0)} of the interrupted run")
        return Plan(
            summary=f"migrate {inventory.issues} JIRA issues into {cfg.target_table}",
            steps=tuple(steps),
            data={
                "issues": inventory.issues,
                "resume_after_page": (saved or {}).get("pages", 0),
                "gaps": gaps.as_dict(),
            },
            nothing_to_do=inventory.issues == 0 or done_before,
        )

    # --- doing -----------------------------------------------------------------------

    def own_lock(self, ctx: Services, holder: LockHolder) -> AbstractContextManager[None]:
        dsn = ctx.shared_dsn()
        if dsn:
            from pmb_console.providers.pg_shared import JIRA_MIGRATE_LOCK_KEY, PgTaskLock

            timeout = ctx.config.database.connect_timeout
            return PgTaskLock(dsn, timeout, JIRA_MIGRATE_LOCK_KEY, LOCK_NAME, LOCK_WHAT).hold(
                holder
            )
        from pmb_console.locking import TaskFileLock

        return TaskFileLock(ctx.config.console.state_dir, LOCK_NAME, LOCK_WHAT).hold(holder)

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        from pmb_console.jira.client import JiraClient

        total = plan.data.get("issues") or 0

        def report_progress(p: Progress) -> None:
            progress(p.describe(), min(1.0, p.written / total) if total else None)

        assert self.inventory is not None  # guards ran first
        with JiraClient(ctx.config.jira) as client, self._writer(ctx) as writer:
            migration = self._migration(ctx, client, report_progress)
            self.report = migration.run(writer, self.resume, self.inventory.users)
        self._keys = self.report.keys
        result = self.report.as_dict()
        result["lossy"] = len(self.report.lossy)  # the list itself is in the printed report
        return result

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        keys = sorted(set(self._keys))
        if not keys:
            return Verification(True, "no issue needed writing", {"written": 0})
        with self._writer(ctx) as writer:
            present = writer.present(keys)
        table = ctx.config.jira.target_table
        ok = present == len(keys)
        return Verification(
            ok,
            f"{present} of {len(keys)} issues written by this run are in {table}",
            {"present": present, "written": len(keys)},
        )

    def read_back(self, ctx: Services) -> dict[str, Any]:
        from pmb_console.jira.migrate import Position

        saved = Position(ctx.config.console.state_dir, ctx.config.jira).load() or {}
        return {
            "saved_position": {k: v for k, v in saved.items() if k != "source"},
            "resume": "run jira-migrate --resume to continue after the last page written",
        }

    # --- parts -----------------------------------------------------------------------

    def _mapping(self, ctx: Services) -> Mapping:
        from pmb_console.jira.mapping import Mapping

        return Mapping.from_config(ctx.config.jira, ctx.config.source)

    def _survey(self, ctx: Services) -> tuple[Inventory, Gaps]:
        if self.inventory is None or self.gaps is None:
            from pmb_console.jira.client import JiraClient

            mapping = self._mapping(ctx)
            with JiraClient(ctx.config.jira) as client:
                progress = self._reading_progress("survey")
                self.inventory = self._migration(ctx, client, progress, mapping).survey()
            self.gaps = mapping.gaps(self.inventory)
        return self.inventory, self.gaps

    def _migration(
        self, ctx: Services, client: Any, progress: Any = None, mapping: Any = None
    ) -> Any:
        from pmb_console.jira.migrate import Migration, Position

        cfg = ctx.config.jira
        return Migration(
            cfg,
            client,
            mapping or self._mapping(ctx),
            Position(ctx.config.console.state_dir, cfg),
            progress or (lambda p: None),
        )

    def _reading_progress(self, phase: str) -> Any:
        reading = self.reading
        if reading is None:
            return None
        return lambda p: reading(f"{phase}: {p.describe()}", None)

    def _writer(self, ctx: Services) -> IssueWriter:
        from pmb_console.jira.writer import open_writer

        return open_writer(ctx.config)


def _detail(unmapped: dict[str, int], found: str, defaulted: dict[str, int]) -> str:
    if unmapped:
        return "unmapped: " + ", ".join(f"{name!r} ({n})" for name, n in unmapped.items())
    if defaulted:
        return f"{found}; default used for " + ", ".join(
            f"{name!r} ({n})" for name, n in defaulted.items()
        )
    return found
