"""Restore drills on the demo's snapshot store: the snapshot into a scratch copy, checked.

The demo's database is a dump-like text file, so its drill target is a scratch copy of
that file inside the demo's temp dir (`DemoSnapshotStore.drill_target`), and the drill
checks what can honestly be checked there, timing each phase:

1. checksum   — the snapshot file's sha256 against its manifest, before anything is restored;
2. restore    — the snapshot copied into the scratch copy, at the demo's pace;
3. row counts — the scratch copy's rows per table against the manifest.

There is no smoke phase: no SQL runs on a text file (`demo --postgres` drills with the real
pg_dump store and a smoke query). The record has the pg_dump drill's shape, so
`drill --history`, the backup view and the rollback assessment read it alike. The live
demo database is never the drill target: checked in the guards and again before writing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmb_console.actions.base import GuardResult, Plan, Verification
from pmb_console.actions.drill import (
    _DrillRun,
    _prefixed,
    record_drill,
    verify_in_history,
)
from pmb_console.errors import ProviderError, Refused
from pmb_console.providers.base import ProgressFn

if TYPE_CHECKING:
    from pmb_console.actions.drill import DrillAction
    from pmb_console.bootstrap import Services

NEVER_OVERRIDDEN = "this guard cannot be overridden"


class DemoDrill:
    """DrillAction's guards, plan, execute and verify on the demo's snapshot store."""

    def __init__(self, action: DrillAction) -> None:
        self.action = action

    def guards(self, ctx: Services) -> list[GuardResult]:
        store: Any = ctx.snapshots
        target: Path = store.drill_target
        why = store.drill_target_problem(target)
        info = self.action.snapshot(ctx)
        return [
            GuardResult(
                "drill target is not the live database",
                not why,
                f"{why}; {NEVER_OVERRIDDEN}"
                if why
                else f"the scratch copy {target} is a different file from the "
                f"{store.describe_target()}",
            ),
            GuardResult(
                "snapshot to drill",
                info.status == "available",
                f"{info.id} ({info.kind}, {info.status}, taken {info.created_at:%Y-%m-%d %H:%M} UTC)",
            ),
        ]

    def plan(self, ctx: Services) -> Plan:
        store: Any = ctx.snapshots
        target = store.drill_target
        info = self.action.snapshot(ctx)
        tables = info.manifest.get("table_row_counts", {})
        return Plan(
            f"restore drill: snapshot {info.id} into the scratch copy {target}",
            (
                f"checksum: the sha256 of {info.id} against its manifest",
                f"restore: {info.id} into the scratch copy {target} (replaced whole)",
                f"row counts: {len(tables)} tables against the manifest",
                "no smoke query: the demo's database is a text file, not PostgreSQL "
                "(`pmb-console demo --postgres` drills with one)",
                "record each phase's duration in the drill history",
                f"the live {store.describe_target()} is not touched",
            ),
            {"snapshot_id": info.id, "target": str(target), "tables": len(tables)},
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        store: Any = ctx.snapshots
        target: Path = store.drill_target
        why = store.drill_target_problem(target)
        if why:  # checked again here, so not even --force can aim a drill at the live file
            raise Refused(
                f"drill refused: {why}",
                f"remove {target}: the drill makes its own scratch copy there",
            )
        run = _DemoDrillRun(ctx, plan.data["snapshot_id"], str(target), progress)
        record = run.carry_out("")
        return record_drill(ctx, record, "the demo's live database was not touched")

    def read_back(self, ctx: Services) -> dict[str, Any]:
        return {}

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        return verify_in_history(ctx, result)


class _DemoDrillRun(_DrillRun):
    """The pg_dump drill's phases on a file: the rows are counted in the copy, not by SQL."""

    def steps(
        self, expected: dict[str, int], smoke_query: str
    ) -> tuple[tuple[str, Callable[[], str]], ...]:
        return (
            ("checksum", self._checksum),
            ("restore", self._restore),
            ("row counts", lambda: self._row_counts(expected)),
        )

    def describe_target(self) -> str:
        return f"scratch copy {self.target}"

    def _restore(self) -> str:
        restored = self.store.restore_into(  # type: ignore[attr-defined]
            Path(self.target),
            self.snapshot_id,
            _prefixed(self.progress, "restore: "),
            checked=True,
            count_rows=False,
        )
        return f"copied into the scratch copy in {restored.duration_s:.2f} s"

    def _row_counts(self, expected: dict[str, int]) -> str:
        from pmb_console.demo.snapshots import row_count_mismatches

        counts = self.store.count_rows(  # type: ignore[attr-defined]
            Path(self.target), _prefixed(self.progress, "row counts: ")
        )
        mismatches = row_count_mismatches(expected, counts)
        if mismatches:
            raise ProviderError("; ".join(mismatches))
        return f"{len(expected)} tables, {sum(expected.values())} rows, as in the manifest"
