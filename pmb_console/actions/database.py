"""Database actions: take a snapshot, restore one, apply migrations.

A database that cannot be reached, a backup directory that cannot be written and a
snapshot whose checksum does not match are faults, not decisions: they raise
ProviderError (the action fails, exit 1) rather than failing a guard an operator could
override with --force. What an operator may knowingly override stays a guard: an applied
migration whose file has since changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pmb_console.actions.base import Action, GuardResult, Plan, Verification
from pmb_console.errors import ProviderError
from pmb_console.providers.base import ProgressFn, SnapshotInfo, SnapshotStore, StoreCheck

if TYPE_CHECKING:
    from pmb_console.actions.migration_lint import LintReport
    from pmb_console.bootstrap import Services
    from pmb_console.providers.migrations import MigrationFile, Migrator


def list_snapshots(ctx: Services) -> list[SnapshotInfo]:
    """Every snapshot the configured store knows, newest first, each flagged
    `manifest["expired"]` by the same rule the backup policy and the prune use."""
    from pmb_console.backup_policy import flag_expired

    return flag_expired(ctx.snapshots.list(), ctx.config.backup.retention_days)


def store_guards(store: SnapshotStore) -> list[GuardResult]:
    """The store's own live checks, shown as guards; any that fails is raised as a fault."""
    checks: list[StoreCheck] = store.guards()
    failed = [c for c in checks if not c.ok]
    if failed:
        raise ProviderError(
            "; ".join(f"{c.name}: {c.detail}" for c in failed),
            "nothing was changed; fix what is named above and try again",
        )
    return [GuardResult(c.name, True, c.detail) for c in checks]


def prefixed(progress: ProgressFn, prefix: str) -> ProgressFn:
    """`progress` with every message prefixed, and no fraction (it is a part of a whole)."""

    def report(message: str, fraction: float | None = None) -> None:
        progress(prefix + message, None)

    return report


def _size(size_bytes: int) -> str:
    return (
        f"{size_bytes / 1_048_576:.1f} MB"
        if size_bytes >= 1_048_576
        else f"{size_bytes / 1024:.0f} KB"
    )


class SnapshotAction(Action):
    name = "snapshot"
    title = "take a database snapshot"
    mutating = True

    def __init__(self, label: str = "") -> None:
        self.label = label or ""

    def params(self) -> dict[str, Any]:
        return {"label": self.label}

    def guards(self, ctx: Services) -> list[GuardResult]:
        return store_guards(ctx.snapshots)

    def plan(self, ctx: Services) -> Plan:
        target = ctx.snapshots.describe_target()
        labelled = f" labelled {self.label!r}" if self.label else ""
        return Plan(
            f"take a {ctx.snapshots.name} snapshot of {target}{labelled}",
            (
                f"{ctx.snapshots.name}: snapshot {target}",
                "record its size, checksum and table row counts",
            ),
            {"target": target, "label": self.label},
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        info = ctx.snapshots.create(self.label, progress, kind="manual")
        return {
            "snapshot_id": info.id,
            "size_bytes": info.size_bytes,
            "duration_s": info.manifest.get("duration_s"),
        }

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        snapshot_id = result["snapshot_id"]
        info = ctx.snapshots.get(snapshot_id)
        if info is None:
            return Verification(False, f"snapshot {snapshot_id} is not listed by the store")
        problems = ctx.snapshots.check(snapshot_id)
        if problems:
            return Verification(False, "; ".join(problems), info.as_dict())
        return Verification(
            True,
            f"snapshot {snapshot_id} listed and its checksum verified ({_size(info.size_bytes)})",
            {"snapshot_id": snapshot_id, "size_bytes": info.size_bytes, "status": info.status},
        )


class RestoreAction(Action):
    name = "restore"
    title = "restore the database"
    mutating = True
    destructive = True

    def __init__(self, snapshot_id: str) -> None:
        self.snapshot_id = snapshot_id
        self.safety_snapshot_id = ""

    def params(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id}

    def guards(self, ctx: Services) -> list[GuardResult]:
        store = ctx.snapshots
        info = store.get(self.snapshot_id)
        if info is None:
            raise ProviderError(
                f"no snapshot {self.snapshot_id!r} to restore",
                "list the snapshots with: pmb-console snapshots",
            )
        problems = store.check(self.snapshot_id)
        if problems:
            raise ProviderError(
                f"snapshot {self.snapshot_id} cannot be restored: {'; '.join(problems)}",
                "the database was not touched; choose another snapshot (pmb-console snapshots)",
            )
        return [
            GuardResult(
                "snapshot exists", True, f"{info.id} ({info.kind}, {_size(info.size_bytes)})"
            ),
            GuardResult("snapshot intact", True, store.INTEGRITY),
            *store_guards(store),
        ]

    def plan(self, ctx: Services) -> Plan:
        store = ctx.snapshots
        target = store.describe_target()
        info = store.get(self.snapshot_id)
        if info is None:
            return Plan(f"restore {self.snapshot_id}: no such snapshot", data={"target": target})
        tables = info.manifest.get("table_row_counts", {})
        label = f" {info.label!r}" if info.label else ""
        kept = store.continued_safety(self.snapshot_id)
        safety_step = (
            f"no new safety snapshot: the interrupted restore's safety snapshot {kept} "
            "holds the database as it was before; continue where it stopped"
            if kept
            else f"take a safety snapshot of {target} first"
        )
        return Plan(
            f"replace {target} with snapshot {info.id}{label} of database {info.database or '?'} "
            f"taken {info.created_at:%Y-%m-%d %H:%M:%S} UTC",
            (safety_step, *store.restore_steps(info)),
            {
                "target": target,
                "snapshot": {k: v for k, v in info.as_dict().items() if k != "manifest"},
                "tables": len(tables),
            },
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        store = ctx.snapshots
        kept = store.continued_safety(self.snapshot_id)
        if kept:
            # Continuing (the RDS endpoint may have no instance now): a new snapshot would
            # only delay its return, and the one taken at the start holds the data before.
            progress(
                f"no new safety snapshot: continuing the interrupted restore of {self.snapshot_id}, "
                f"whose safety snapshot {kept} holds the database as it was before",
                None,
            )
            safety_id = kept
        else:
            safety_id = store.create(
                f"safety copy before restoring {self.snapshot_id}",
                prefixed(progress, "safety snapshot: "),
                kind="safety",
            ).id
            store.safety_taken(self.snapshot_id, safety_id)
        self.safety_snapshot_id = safety_id
        try:
            restored = store.restore(self.snapshot_id, progress)
        except ProviderError as exc:
            back = (
                f"the database as it was just before is in safety snapshot {safety_id}: "
                f"pmb-console restore {safety_id} --confirm {ctx.config.console.environment}"
            )
            # The store's own hint (e.g. how to continue an interrupted RDS restore) comes first.
            raise ProviderError(
                exc.message, f"{exc.hint}; or {back}" if exc.hint else back
            ) from None
        return {
            "snapshot_id": self.snapshot_id,
            "safety_snapshot_id": safety_id,
            "duration_s": restored.duration_s,
            "row_counts": restored.row_counts,
            "mismatches": restored.mismatches,
            "detail": restored.detail,
        }

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        state = {
            "snapshot_id": result["snapshot_id"],
            "safety_snapshot_id": result["safety_snapshot_id"],
            "row_counts": result["row_counts"],
        }
        if result["mismatches"]:
            return Verification(
                False,
                "row counts differ from the snapshot's: " + "; ".join(result["mismatches"]),
                state,
            )
        held = (
            f"{len(result['row_counts'])} tables hold the snapshot's row counts"
            if result["row_counts"]
            else result.get("detail") or "restored"
        )
        return Verification(
            True,
            f"{held}; restored in {result['duration_s']:.1f} s; "
            f"safety snapshot {result['safety_snapshot_id']}",
            state,
        )

    def read_back(self, ctx: Services) -> dict[str, Any]:
        return {
            "target": ctx.snapshots.describe_target(),
            "safety_snapshot_id": self.safety_snapshot_id,
        }

    def recovery_hint(self, ctx: Services, state: dict[str, Any]) -> str:
        if not self.safety_snapshot_id:
            return (
                "stopped while the safety snapshot was being taken, before the restore began: "
                "the database was not touched; run the restore again when ready"
            )
        safety = self.safety_snapshot_id
        return (
            f"the database may be part-restored; as it was just before, it is in safety snapshot "
            f"{safety}. To go back to it: pmb-console restore {safety} --confirm "
            f"{ctx.config.console.environment}"
        )


class MigrateAction(Action):
    name = "migrate"
    title = "apply database migrations"
    mutating = True

    def __init__(self) -> None:
        self._migrator: Migrator | None = None
        self._lint: tuple[tuple[tuple[str, str], ...], LintReport] | None = None

    def migrator(self, ctx: Services) -> Migrator:
        if self._migrator is None:
            from pmb_console.providers.migrations import Migrator

            self._migrator = Migrator(ctx.config)
        return self._migrator

    def lint(self, files: list[MigrationFile]) -> LintReport:
        """squawk's findings on these files, classified; linted once per content."""
        from pmb_console.actions.migration_lint import lint_files

        key = tuple((f.name, f.sha256) for f in files)
        if self._lint is None or self._lint[0] != key:
            self._lint = (key, lint_files([f.path for f in files]))
        return self._lint[1]

    def guards(self, ctx: Services) -> list[GuardResult]:
        migrator = self.migrator(ctx)
        changed = migrator.changed()
        guards = [
            GuardResult(
                "applied migrations unchanged",
                False,
                f"{c.name} was applied with sha256 {c.applied_sha256[:12]}… but the file is now "
                f"{c.current_sha256[:12]}…; the database does not hold what the file now says "
                "(put a new file after it instead of editing an applied one)",
            )
            for c in changed
        ] or [
            GuardResult(
                "applied migrations unchanged",
                True,
                "every applied file matches its recorded sha256",
            )
        ]
        from pmb_console.actions.invalid_indexes import invalid_index_guards

        pending = migrator.pending()
        # Named before the run, not only when it fails: an index an earlier run or a
        # killed console left invalid is otherwise never mentioned again.
        left = invalid_index_guards(migrator.invalid_indexes(), pending)
        return guards + left + lint_guards(self.lint(pending))

    def plan(self, ctx: Services) -> Plan:
        migrator = self.migrator(ctx)
        pending = migrator.pending()
        # Recorded with the release: the rollback assessment reads whether rolling this
        # release back needs a database restore.
        data = {
            "directory": str(migrator.directory),
            "files": [{"name": f.name, "sha256": f.sha256} for f in pending],
            "lint": self.lint(pending).as_dict(ctx.config.release.version),
        }
        if not pending:
            return Plan(
                f"no pending migrations in {migrator.directory}", data=data, nothing_to_do=True
            )
        return Plan(
            f"apply {len(pending)} migration(s) from {migrator.directory}, each in its own transaction",
            tuple(f"apply {f.name} (sha256 {f.sha256[:12]}…)" for f in pending),
            data,
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        migrator = self.migrator(ctx)
        planned = [(f["name"], f["sha256"]) for f in plan.data["files"]]
        pending = {f.name: f for f in migrator.pending()}
        applied: list[dict[str, Any]] = []
        for index, (name, sha256) in enumerate(planned):
            file = pending.get(name)
            if file is None or file.sha256 != sha256:
                raise ProviderError(
                    f"{name} changed or was applied by someone else since the plan was made"
                    + _so_far(applied, planned[index:]),
                    "run migrate again to plan with what is there now",
                )
            progress(f"applying {name} ({index + 1} of {len(planned)})", index / len(planned))
            try:
                seconds = migrator.apply(file, ctx.config.console.operator, progress)
            except ProviderError as exc:
                message, hint = exc.message + _so_far(applied, planned[index + 1 :]), exc.hint
                invalid = _invalid_indexes(migrator)
                if invalid:
                    names = ", ".join(i.describe() for i in invalid)
                    message += f"; invalid index(es) left in the database: {names}"
                    hint = (
                        "drop each with DROP INDEX CONCURRENTLY before running migrate again "
                        f"(PostgreSQL keeps them up to date but never uses them); {hint}"
                    )
                raise ProviderError(message, hint) from None
            applied.append({"name": name, "duration_s": round(seconds, 3)})
        lint = plan.data.get("lint", {})
        return {
            "applied": applied,
            "release": lint.get("release", ""),
            "rollback": lint.get("rollback", ""),
        }

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        recorded = {m.name: m.sha256 for m in self.migrator(ctx).applied()}
        missing = [f["name"] for f in plan.data["files"] if recorded.get(f["name"]) != f["sha256"]]
        state = {"applied": sorted(recorded)}
        if missing:
            return Verification(False, f"not recorded as applied: {', '.join(missing)}", state)
        names = ", ".join(f["name"] for f in plan.data["files"])
        return Verification(True, f"recorded as applied: {names}", state)

    def read_back(self, ctx: Services) -> dict[str, Any]:
        migrator = self.migrator(ctx)
        return {
            "applied": [m.name for m in migrator.applied()],
            "invalid_indexes": [i.describe() for i in _invalid_indexes(migrator)],
        }


def lint_guards(report: LintReport) -> list[GuardResult]:
    """The lint as guards: a finding that breaks the old version fails; the rest inform."""
    from pmb_console.actions.migration_lint import ADVICE, BREAKS

    breaking = report.breaking
    guards = [
        GuardResult(
            "old version keeps working",
            not breaking,
            "; ".join(f"{f.where} {f.rule}: {f.why} — instead: {f.instead}" for f in breaking)
            + f" ({report.rollback})"
            if breaking
            else f"no pending migration breaks the old version ({report.summary()})",
        )
    ]
    others = [f for f in report.findings if f.kind not in (BREAKS, ADVICE)]
    if others:
        guards.append(
            GuardResult(
                "locks and unreviewed statements (not blocking)",
                True,
                "; ".join(
                    f"{f.where} {f.rule} ({f.kind_title}): {f.why} — instead: {f.instead}"
                    for f in others
                ),
            )
        )
    return guards


def _invalid_indexes(migrator: Migrator) -> list[Any]:
    """Invalid indexes, or none when the database cannot be asked (the failure is said already)."""
    try:
        return migrator.invalid_indexes()
    except ProviderError:
        return []


def _so_far(applied: list[dict[str, Any]], not_run: list[tuple[str, str]]) -> str:
    done = ", ".join(a["name"] for a in applied) or "none"
    skipped = ", ".join(name for name, _ in not_run) or "none"
    return f" (applied before it: {done}; not run: {skipped})"


class PruneSnapshotsAction(Action):
    """Delete the snapshots older than [backup] retention_days (never the newest usable one)."""

    name = "prune"
    title = "delete expired snapshots"
    mutating = True

    def params(self) -> dict[str, Any]:
        return {}

    def _expired(self, ctx: Services) -> list[SnapshotInfo]:
        from pmb_console.backup_policy import expired_snapshots

        return expired_snapshots(ctx.snapshots.list(), ctx.config.backup.retention_days)

    def plan(self, ctx: Services) -> Plan:
        days = ctx.config.backup.retention_days
        expired = self._expired(ctx)
        data = {"retention_days": days, "snapshots": [s.id for s in expired]}
        if not expired:
            return Plan(f"no snapshot is older than {days} days", data=data, nothing_to_do=True)
        return Plan(
            f"delete {len(expired)} snapshot(s) older than {days} days from {ctx.snapshots.describe_target()}",
            tuple(
                f"delete {s.id} ({s.kind}, taken {s.created_at:%Y-%m-%d %H:%M} UTC"
                + (f", {s.label!r}" if s.label else "")
                + ")"
                for s in expired
            ),
            data,
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        planned: list[str] = plan.data["snapshots"]
        deleted: list[str] = []
        for number, snapshot_id in enumerate(planned, start=1):
            progress(
                f"deleting {snapshot_id} ({number} of {len(planned)})", (number - 1) / len(planned)
            )
            try:
                ctx.snapshots.delete(snapshot_id)
            except ProviderError as exc:
                raise ProviderError(
                    f"{exc.message} (deleted before it: {', '.join(deleted) or 'none'})",
                    exc.hint or "run snapshots --prune again to retry the rest",
                ) from None
            deleted.append(snapshot_id)
        return {"deleted": deleted}

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        listed = {s.id for s in ctx.snapshots.list()}
        still = [i for i in result["deleted"] if i in listed]
        state = {"deleted": result["deleted"], "remaining": len(listed)}
        if still:
            return Verification(False, f"still listed after deletion: {', '.join(still)}", state)
        return Verification(
            True, f"{len(result['deleted'])} expired snapshot(s) gone; {len(listed)} remain", state
        )
