"""Restore drills on RDS: the snapshot into a scratch instance, checked, then deleted.

RUNBOOK §4 asks for restores practised and timed. On RDS a restore is a new instance, so
the drill restores the snapshot into `<production id>-drill-<time>` with production's
class and network, and times four phases:

1. restore — the restore call and the wait until the scratch instance is available;
2. check   — the instance read back: available, engine and storage as the snapshot, an endpoint;
3. smoke   — `[database.drill] smoke_query` on the scratch instance, when
             `[database.drill] rds_dsn_env` gives a DSN to reach it (else recorded as skipped);
4. delete  — the scratch instance deleted without a final snapshot, and gone.

Once the scratch instance exists, the delete phase runs whatever happened before it (a
failed phase, an AWS fault, Ctrl+C); a delete that fails is the drill's loudest failure,
naming the instance so a person can remove it. The record in the drill history has the
pg_dump drill's shape, so `drill --history` and the rollback assessment read it alike.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from pmb_console.actions.base import GuardResult, Plan, Verification
from pmb_console.actions.drill import DrillFailed, DrillHistory, _prefixed, smoke_answer
from pmb_console.audit import now_iso
from pmb_console.errors import ProviderError, Refused
from pmb_console.providers.base import ProgressFn
from pmb_console.redact import redact

if TYPE_CHECKING:
    from pmb_console.actions.drill import DrillAction
    from pmb_console.bootstrap import Services
    from pmb_console.providers.aws_rds_drill import RdsScratchInstance

PHASES = ("restore", "check", "smoke", "delete")
NEVER_OVERRIDDEN = "this guard cannot be overridden"


class RdsDrill:
    """DrillAction's guards, plan, execute and verify when the snapshots live in RDS."""

    def __init__(self, action: DrillAction) -> None:
        self.action = action

    def scratch_id(self, ctx: Services) -> str:
        from pmb_console.providers.aws_rds_drill import scratch_instance_id

        store: Any = ctx.snapshots
        return scratch_instance_id(store.instance_id, self.action.clock())

    def smoke_template(self, ctx: Services) -> tuple[str, str]:
        """(DSN template, "") when the smoke phase can run, ("", why) when it is skipped."""
        drill = ctx.config.database.drill
        if not drill.smoke_query.strip():
            return "", "no smoke query is configured ([database.drill] smoke_query)"
        if not drill.rds_dsn_env:
            return "", (
                "no DSN to reach the scratch instance: set [database.drill] rds_dsn_env to a "
                "variable holding a DSN template (its host is replaced by the scratch endpoint)"
            )
        template = os.environ.get(drill.rds_dsn_env, "").strip()
        if not template:
            # Said before the restore, not after half an hour of it.
            raise ProviderError(
                f"[database.drill] rds_dsn_env names {drill.rds_dsn_env}, which is not set",
                f"export {drill.rds_dsn_env}=postgresql://user@scratch/dbname (the host is "
                "replaced by the scratch instance's endpoint), or empty rds_dsn_env",
            )
        scratch_dsn(template, "scratch.invalid", 5432)  # malformed: said now
        return template, ""

    # --- deciding --------------------------------------------------------------------

    def guards(self, ctx: Services) -> list[GuardResult]:
        from pmb_console.providers.aws_rds_drill import same_instance

        store: Any = ctx.snapshots
        scratch = self.scratch_id(ctx)
        info = self.action.snapshot(ctx)
        self.smoke_template(ctx)
        production = store._describe_instance(store.instance_id)
        is_production = same_instance(scratch, store.instance_id)
        return [
            GuardResult(
                "scratch instance is not production",
                not is_production,
                f"the scratch instance id {scratch} is the production instance's; "
                f"{NEVER_OVERRIDDEN}"
                if is_production
                else f"the drill restores into a new instance {scratch}, deleted after; "
                f"{store.instance_id} is only read",
            ),
            GuardResult(
                "snapshot to drill",
                info.status == "available" and info.database == store.instance_id,
                f"{info.id} ({info.kind}, {info.status}, of {info.database or '?'}, "
                f"taken {info.created_at:%Y-%m-%d %H:%M} UTC)",
            ),
            GuardResult(
                "production instance readable",
                production is not None,
                f"{store.instance_id}'s class, subnet group and security groups go to the "
                "scratch instance"
                if production
                else f"instance {store.instance_id} does not exist: the scratch instance would get "
                "RDS's default network",
            ),
        ]

    def plan(self, ctx: Services) -> Plan:
        from pmb_console.providers.aws_rds_drill import TAG_DRILL

        store: Any = ctx.snapshots
        info = self.action.snapshot(ctx)
        _template, skipped = self.smoke_template(ctx)
        smoke = ctx.config.database.drill.smoke_query
        scratch = f"{store.instance_id}-drill-<time>"
        return Plan(
            f"restore drill: snapshot {info.id} into a scratch RDS instance {scratch}, "
            "deleted after",
            (
                f"restore: {info.id} into a new instance {scratch} with {store.instance_id}'s "
                f"class, subnet group and security groups, tagged {TAG_DRILL}=true; "
                "wait until it is available",
                "check: read it back: available, engine "
                f"{info.manifest.get('engine') or '?'} and "
                f"{info.manifest.get('allocated_storage_gib', '?')} GiB as the snapshot, an endpoint",
                f"smoke: skipped ({skipped})"
                if skipped
                else f"smoke: {smoke} on the scratch instance",
                f"delete: {scratch} without a final snapshot, and wait until it is gone "
                "(also when a phase fails)",
                "record each phase's duration in the drill history",
                f"{store.instance_id} is only read, never modified",
            ),
            {
                "snapshot_id": info.id,
                "instance_id": store.instance_id,
                "scratch": scratch,
                "smoke_query": "" if skipped else smoke,
                "smoke_skipped": skipped,
            },
        )

    # --- doing -----------------------------------------------------------------------

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        from pmb_console.providers.aws_rds_drill import (
            RdsScratchInstance,
            delete_by_hand,
            same_instance,
        )

        store: Any = ctx.snapshots
        scratch_id = self.scratch_id(ctx)
        if same_instance(scratch_id, store.instance_id):  # checked again: not even --force
            raise Refused(
                f"drill refused: the scratch instance id {scratch_id} is the production instance's",
                f"{NEVER_OVERRIDDEN}; set [database.rds] instance_id to the production instance",
            )
        template, skipped = self.smoke_template(ctx)
        started_at = now_iso()
        run = f"{started_at}-{os.getpid()}"
        scratch = RdsScratchInstance(store, scratch_id, run)
        drill = _RdsDrillRun(ctx, scratch, plan.data["snapshot_id"], progress)
        record = drill.carry_out(template, skipped, started_at, run)
        failed = next((p for p in record["phases"] if p["ok"] is False), None)
        if not record["scratch_deleted"]:
            earlier = (
                f" (the drill had failed at the {failed['name']} phase: {failed['detail']})"
                if failed and failed["name"] != "delete"
                else ""
            )
            deleted = next(p for p in record["phases"] if p["name"] == "delete")
            raise DrillFailed(
                f"the scratch RDS instance {scratch_id} was NOT deleted: {deleted['detail']}"
                + earlier,
                f"{delete_by_hand(scratch_id)}; production {store.instance_id} was not touched",
            )
        if failed:
            hint = drill.hints.get(failed["name"], "")
            cleaned = (
                f"the scratch instance {scratch_id} was deleted"
                if scratch.created
                else "no scratch instance was created"
            )
            raise DrillFailed(
                f"drill of {record['snapshot_id']} failed at the {failed['name']} phase: "
                f"{failed['detail']}",
                (f"{hint}; " if hint else "")
                + f"{cleaned}; production {store.instance_id} was not touched; the drill is in "
                "the history (pmb-console drill --history)",
            )
        return record

    def read_back(self, ctx: Services) -> dict[str, Any]:
        """Drill instances RDS still lists (after a Ctrl+C or a failed delete)."""
        from pmb_console.providers.aws_rds_drill import drill_instances_left

        return {"drill_instances_left": drill_instances_left(ctx.snapshots)}  # type: ignore[arg-type]

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        store: Any = ctx.snapshots
        last = DrillHistory(ctx.config.console.state_dir).last()
        if last is None or last.get("run") != result["run"]:
            return Verification(False, "the drill is missing from the drill history")
        scratch_id = last["scratch_instance_id"]
        left = store._describe_instance(scratch_id)
        if left is not None:
            return Verification(
                False,
                f"the scratch instance {scratch_id} is still listed by RDS "
                f"({left['DBInstanceStatus']})",
                {"drill": last},
            )
        timings = ", ".join(
            f"{p['name']} skipped" if p.get("skipped") else f"{p['name']} {p['duration_s']:.2f} s"
            for p in last["phases"]
        )
        return Verification(
            True,
            f"snapshot {last['snapshot_id']} restored into {scratch_id}, checked and deleted "
            f"in {last['duration_s']:.2f} s ({timings})",
            {"drill": last},
        )


class _RdsDrillRun:
    """One drill, phase by phase. A failed phase ends the checking; the delete always runs
    once the scratch instance exists."""

    def __init__(
        self,
        ctx: Services,
        scratch: RdsScratchInstance,
        snapshot_id: str,
        progress: ProgressFn,
    ) -> None:
        self.ctx = ctx
        self.scratch = scratch
        self.snapshot_id = snapshot_id
        self.progress = progress
        self.phases: list[dict[str, Any]] = []
        self.hints: dict[str, str] = {}
        """The hint of each failed phase's error, for the drill's own error."""
        self.snapshot: dict[str, Any] | None = None

    def carry_out(self, template: str, skipped: str, started_at: str, run: str) -> dict[str, Any]:
        started = time.monotonic()
        store: Any = self.scratch.store
        self.snapshot = store._describe_snapshot(self.snapshot_id)
        steps = (
            ("restore", self._restore),
            ("check", self._check),
            ("smoke", lambda: self._smoke(template, skipped)),
        )
        try:
            for number, (name, step) in enumerate(steps):
                self._announce(name, number)
                if not self._phase(name, step):
                    break
        finally:
            # However the phases ended (even Ctrl+C or a bug), what was created goes,
            # and the drill is recorded whatever the delete says.
            try:
                if self.scratch.created:
                    try:
                        self._announce("delete", len(steps))
                    finally:
                        self._phase("delete", self._delete)
            finally:
                record = self._record(started_at, run, started)
                DrillHistory(self.ctx.config.console.state_dir).append(record)
        return record

    def _announce(self, name: str, number: int) -> None:
        self.progress(f"drill {name} ({number + 1} of {len(PHASES)})", number / len(PHASES))

    def _record(self, started_at: str, run: str, started: float) -> dict[str, Any]:
        done = {p["name"]: p for p in self.phases}
        needed = ("restore", "check", "smoke", "delete")
        created_at = (self.snapshot or {}).get("SnapshotCreateTime")
        return {
            "run": run,
            "time": started_at,
            "operator": self.ctx.config.console.operator,
            "snapshot_id": self.snapshot_id,
            "snapshot_created_at": created_at.isoformat() if created_at else None,
            "target": f"RDS scratch instance {self.scratch.instance_id} (deleted after)",
            "provider": "rds",
            "scratch_instance_id": self.scratch.instance_id,
            "scratch_deleted": not self.scratch.created or bool(done.get("delete", {}).get("ok")),
            # A skipped smoke phase (ok None) fails nothing, but never counts as passed.
            "ok": all(n in done for n in needed) and all(p["ok"] is not False for p in self.phases),
            "phases": self.phases,
            "duration_s": round(time.monotonic() - started, 3),
        }

    def _phase(self, name: str, step: Any) -> bool:
        started = time.monotonic()
        ok: bool | None = True
        try:
            detail = step()
        except ProviderError as exc:
            ok, detail = False, exc.message
            self.hints[name] = exc.hint
        except BaseException as exc:  # Ctrl+C or a bug: recorded, the delete still runs
            said = "interrupted (Ctrl+C)" if isinstance(exc, KeyboardInterrupt) else repr(exc)
            self._append(name, False, said, started)
            raise
        skipped = isinstance(detail, Skipped)
        if skipped:
            ok = None
        self._append(name, ok, str(detail), started, skipped=skipped)
        return ok is not False

    def _append(
        self, name: str, ok: bool | None, detail: str, started: float, *, skipped: bool = False
    ) -> None:
        phase: dict[str, Any] = {
            "name": name,
            "ok": ok,
            "duration_s": round(time.monotonic() - started, 3),
            "detail": redact(detail),
        }
        if skipped:
            phase["skipped"] = True
        self.phases.append(phase)

    def _restore(self) -> str:
        started = time.monotonic()
        release = self.ctx.config.release.version
        self.scratch.restore(
            self.snapshot_id, _prefixed(self.progress, "restore: "), release=release
        )
        return (
            f"{self.snapshot_id} restored into {self.scratch.instance_id}, available after "
            f"{time.monotonic() - started:.1f} s"
        )

    def _check(self) -> str:
        from pmb_console.providers.aws_rds_drill import check_restored

        instance = self.scratch.describe()
        problems = check_restored(instance, self.snapshot)
        if problems:
            raise ProviderError("; ".join(problems), "look at the scratch instance in RDS")
        assert instance is not None
        return (
            f"{instance['DBInstanceIdentifier']} available, {instance['Engine']} "
            f"{instance.get('EngineVersion', '')}, {instance['AllocatedStorage']} GiB as the "
            f"snapshot, endpoint {instance['Endpoint']['Address']}"
        )

    def _smoke(self, template: str, skipped: str) -> str:
        from pmb_console.providers.postgres import connect, describe

        if skipped:
            return Skipped(f"skipped: {skipped}")
        endpoint = (self.scratch.describe() or {}).get("Endpoint") or {}
        dsn = scratch_dsn(template, endpoint.get("Address", ""), endpoint.get("Port") or 5432)
        conn = connect(dsn, connect_timeout=self.ctx.config.database.connect_timeout)
        try:
            return f"on {describe(dsn)}: " + smoke_answer(
                conn, self.ctx.config.database.drill.smoke_query
            )
        finally:
            conn.close()

    def _delete(self) -> str:
        started = time.monotonic()
        self.scratch.delete(_prefixed(self.progress, "delete: "))
        return f"{self.scratch.instance_id} deleted, gone after {time.monotonic() - started:.1f} s"


class Skipped(str):
    """A phase's answer when it did not run: recorded with ok None, never as passed."""


def scratch_dsn(template: str, host: str, port: int | str) -> str:
    """The template DSN aimed at the scratch instance: its host and port replaced.

    hostaddr is cleared too: from the template or from PGHOSTADDR it would send libpq
    somewhere else (production, say) whatever the host says.
    """
    from psycopg.conninfo import make_conninfo

    from pmb_console.providers.postgres import parse_dsn

    params = {k: v for k, v in parse_dsn(template).items() if k != "hostaddr"}
    return make_conninfo("", **{**params, "host": host, "port": str(port), "hostaddr": ""})
