"""RUNBOOK §4: "regularly practice restoring … document the time it takes".

A drill restores a snapshot into a scratch database (the drill target), checks it the way
a real restore is checked, and times each phase:

1. checksum   — the dump's sha256 against its manifest, before anything is restored;
2. restore    — pg_restore into the drill target;
3. row counts — every table's rows against the manifest's counts;
4. smoke      — the configured SQL smoke query against the restored database.

Each drill, passed or failed, is appended to the drill history under state_dir; the last
drill's duration is what the rollback assessment quotes. The production database is never
the drill target: a target that resolves to it is refused, however it is written.

With the RDS snapshot store the drill target is a scratch instance restored beside
production and deleted after (actions/drill_rds.py); with the demo's store it is a scratch
copy of the demo's database file (actions/drill_demo.py); this class hands over to them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmb_console import jsonl
from pmb_console.actions.base import Action, GuardResult, Plan, Verification
from pmb_console.audit import now_iso
from pmb_console.errors import ProviderError, Refused
from pmb_console.providers.base import ProgressFn, SnapshotInfo
from pmb_console.redact import redact

if TYPE_CHECKING:
    from pmb_console.actions.drill_demo import DemoDrill
    from pmb_console.actions.drill_rds import RdsDrill
    from pmb_console.bootstrap import Services

PHASES = ("checksum", "restore", "row counts", "smoke")
LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})


# --- history ---------------------------------------------------------------------------


class DrillHistory:
    """Drills as JSON lines in `state_dir/drills.jsonl`, appended under a file lock."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "drills.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        jsonl.append(self.path, record, "the drill history")

    def records(self) -> list[dict[str, Any]]:
        """Drills in the order they ran, oldest first."""
        return jsonl.read(self.path)

    def last(self, *, passed_only: bool = False) -> dict[str, Any] | None:
        for record in reversed(self.records()):
            if record.get("ok") or not passed_only:
                return record
        return None


def last_drill(state_dir: Path) -> dict[str, Any] | None:
    """The newest passed drill: its `duration_s` is how long a real restore is expected to take."""
    return DrillHistory(state_dir).last(passed_only=True)


# --- the drill target is never production ----------------------------------------------


@dataclass(frozen=True)
class Address:
    """Where a DSN leads once libpq's defaults (PG* variables, the local socket) are applied."""

    host: str
    port: str
    dbname: str

    def same_place(self, other: Address) -> bool:
        return (_host_key(self.host), self.port, self.dbname) == (
            _host_key(other.host),
            other.port,
            other.dbname,
        )

    def __str__(self) -> str:
        return f"{self.host or 'local socket'}:{self.port}/{self.dbname}"


def resolve_address(dsn: str) -> Address:
    """Host, port and database name the DSN reaches, with libpq's defaults filled in."""
    from psycopg import pq

    from pmb_console.providers.postgres import parse_dsn

    params = {k: str(v) for k, v in parse_dsn(dsn).items() if v not in (None, "")}
    defaults = {
        d.keyword.decode(): (d.val or d.compiled or b"").decode()
        for d in pq.Conninfo.get_defaults()
    }
    user = params.get("user") or defaults.get("user", "")
    return Address(
        host=params.get("host") or params.get("hostaddr") or defaults.get("host", ""),
        port=params.get("port") or defaults.get("port", "") or "5432",
        dbname=params.get("dbname") or defaults.get("dbname", "") or user,
    )


def _host_key(host: str) -> str:
    # A socket directory and the loopback names all lead to this machine's server.
    return "this machine" if host in LOCAL_HOSTS or host.startswith("/") else host.lower()


def target_is_production(production_dsn: str, target_dsn: str) -> str:
    """Why the drill target is the production database; "" when it is not.

    Decided on the addresses first (no connection needed), then, when both answer, on the
    server's own word: its system identifier and the database's name.
    """
    production, target = resolve_address(production_dsn), resolve_address(target_dsn)
    if production.same_place(target):
        return f"the drill target {target} is the production database {production}"
    return ""


# --- the action ------------------------------------------------------------------------


class DrillFailed(ProviderError):
    """A phase of the drill failed; the production database was not touched."""


class DrillAction(Action):
    name = "drill"
    title = "restore drill"
    mutating = True
    """It rewrites the drill target (a scratch database), never production."""
    exclusive = False
    """A long drill must never make a rollback wait for the lock."""

    def __init__(
        self, snapshot_id: str | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.snapshot_id = snapshot_id
        self.clock = clock or (lambda: datetime.now(UTC))
        """When the drill starts: stamps an RDS drill's scratch instance id."""
        self._identities: dict[str, tuple[str, str]] = {}
        """What each DSN's server said it is, asked once per run: it does not change."""

    def params(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id}

    # --- reading ---------------------------------------------------------------------

    def target_dsn(self, ctx: Services) -> str:
        name = ctx.config.database.drill.target_dsn_env
        if not name:
            raise ProviderError(
                "no drill target is configured",
                "set [database.drill] target_dsn_env to the variable holding a scratch "
                "database's DSN",
            )
        dsn = os.environ.get(name, "").strip()
        if not dsn:
            # An empty DSN would let libpq's defaults choose, which may well be production.
            raise ProviderError(
                f"[database.drill] target_dsn_env names {name}, which is not set",
                f"export {name}=postgresql://.../scratch (a database drills may overwrite)",
            )
        return dsn

    def snapshot(self, ctx: Services) -> SnapshotInfo:
        store = ctx.snapshots
        if self.snapshot_id:
            info = store.get(self.snapshot_id)
            if info is None:
                raise ProviderError(
                    f"no snapshot {self.snapshot_id!r} to drill",
                    "list the snapshots with: pmb-console snapshots",
                )
            return info
        usable = [s for s in store.list() if s.status == "available"]
        if not usable:
            raise ProviderError(
                "no snapshot to drill", "take one first: pmb-console snapshot --yes"
            )
        return max(usable, key=lambda s: s.created_at)

    def production_check(self, ctx: Services, target: str) -> str:
        """Why the target is production ("" when it is not): addresses, then the servers' word."""
        store = ctx.snapshots
        production = getattr(store, "dsn", "")
        why = target_is_production(production, target)
        if why:
            return why
        identity = getattr(store, "server_identity", None)
        if identity is None:
            return ""
        # Both servers are asked at once: two connections, one wait.
        with ThreadPoolExecutor(max_workers=2) as pool:
            asked_theirs = pool.submit(self._identity, identity, target)
            asked_ours = pool.submit(self._identity, identity, production)
        try:
            theirs = asked_theirs.result()
        except ProviderError as exc:
            raise ProviderError(f"the drill target: {exc.message}", exc.hint) from None
        try:
            ours = asked_ours.result()
        except ProviderError:
            return ""  # production unreachable: the addresses already differ, nothing more to ask
        if theirs == ours:
            if not ours[0]:
                return (
                    f"the drill target's database is also named {ours[1]} and this login cannot "
                    "read the servers' identities (pg_control_system) to tell them apart"
                )
            return (
                f"the drill target reaches the production database {ours[1]} "
                "(the same server and database, written differently)"
            )
        return ""

    def _identity(self, ask: Any, dsn: str) -> tuple[str, str]:
        if dsn not in self._identities:
            self._identities[dsn] = ask(dsn)
        return self._identities[dsn]

    def _handover(self, ctx: Services) -> RdsDrill | DemoDrill | None:
        """The drill of a store whose target is not a PostgreSQL DSN; None for pg_dump."""
        if ctx.snapshots.name == "rds":
            from pmb_console.actions.drill_rds import RdsDrill

            return RdsDrill(self)
        if ctx.snapshots.name == "demo":
            from pmb_console.actions.drill_demo import DemoDrill

            return DemoDrill(self)
        return None

    def guards(self, ctx: Services) -> list[GuardResult]:
        store = ctx.snapshots
        if other := self._handover(ctx):
            return other.guards(ctx)
        if not hasattr(store, "restore_into"):
            raise ProviderError(
                f"restore drills with the {store.name} snapshot store are not built yet",
                'drills work with [database] provider = "pg_dump", "rds" or "demo"',
            )
        target = self.target_dsn(ctx)
        why = self.production_check(ctx, target)
        info = self.snapshot(ctx)
        return [
            GuardResult(
                "drill target is not production",
                not why,
                why + "; fix [database.drill] target_dsn_env (this guard cannot be overridden)"
                if why
                else f"{_describe(target)} is a different database from {store.describe_target()}",
            ),
            GuardResult(
                "snapshot to drill",
                info.status == "available",
                f"{info.id} ({info.kind}, {info.status}, taken {info.created_at:%Y-%m-%d %H:%M} UTC)",
            ),
        ]

    def plan(self, ctx: Services) -> Plan:
        if other := self._handover(ctx):
            return other.plan(ctx)
        target = _describe(self.target_dsn(ctx))
        info = self.snapshot(ctx)
        tables = info.manifest.get("table_row_counts", {})
        smoke = ctx.config.database.drill.smoke_query
        return Plan(
            f"restore drill: snapshot {info.id} into the drill target {target}",
            (
                f"checksum: the sha256 of {info.id} against its manifest",
                f"restore: pg_restore {info.id} into {target} (its objects are dropped and recreated)",
                f"row counts: {len(tables)} tables against the manifest",
                f"smoke: {smoke}",
                "record each phase's duration in the drill history",
            ),
            {"snapshot_id": info.id, "target": target, "tables": len(tables), "smoke_query": smoke},
        )

    # --- doing -----------------------------------------------------------------------

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        if other := self._handover(ctx):
            return other.execute(ctx, plan, progress)
        target = self.target_dsn(ctx)
        why = self.production_check(ctx, target)
        if why:  # checked again here, so not even --force can aim a drill at production
            raise Refused(f"drill refused: {why}", "fix [database.drill] target_dsn_env")
        snapshot_id = plan.data["snapshot_id"]
        run = _DrillRun(ctx, snapshot_id, target, progress)
        record = run.carry_out(plan.data.get("smoke_query", ""))
        return record_drill(ctx, record, "the production database was not touched")

    def read_back(self, ctx: Services) -> dict[str, Any]:
        other = self._handover(ctx)
        return other.read_back(ctx) if other else {}

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        if other := self._handover(ctx):
            return other.verify(ctx, plan, result)
        return verify_in_history(ctx, result)


def record_drill(ctx: Services, record: dict[str, Any], untouched: str) -> dict[str, Any]:
    """Append the drill to the history; a failed drill raises DrillFailed naming its phase."""
    DrillHistory(ctx.config.console.state_dir).append(record)
    if not record["ok"]:
        failed = next(p for p in record["phases"] if not p["ok"])
        raise DrillFailed(
            f"drill of {record['snapshot_id']} failed at the {failed['name']} phase: "
            f"{failed['detail']}",
            f"{untouched}; the drill is in the history (pmb-console drill --history)",
        )
    return record


def verify_in_history(ctx: Services, result: dict[str, Any]) -> Verification:
    """The drill just run, read back from the drill history, with each phase's time."""
    last = DrillHistory(ctx.config.console.state_dir).last()
    if last is None or last.get("run") != result["run"]:
        return Verification(False, "the drill is missing from the drill history")
    timings = ", ".join(f"{p['name']} {p['duration_s']:.2f} s" for p in last["phases"])
    return Verification(
        True,
        f"snapshot {last['snapshot_id']} restored and checked in {last['duration_s']:.2f} s "
        f"({timings})",
        {"drill": last},
    )


class _DrillRun:
    """One drill, phase by phase; a failed phase ends it and is recorded as such."""

    def __init__(self, ctx: Services, snapshot_id: str, target: str, progress: ProgressFn) -> None:
        self.ctx = ctx
        self.store = ctx.snapshots
        self.snapshot_id = snapshot_id
        self.target = target
        self.progress = progress
        self.phases: list[dict[str, Any]] = []
        self._conn: Any = None
        """One connection to the restored database, for the row counts and the smoke query."""

    def _restored(self) -> Any:
        from pmb_console.providers.postgres import connect

        if self._conn is None:
            timeout = self.ctx.config.database.connect_timeout
            self._conn = connect(self.target, connect_timeout=timeout)
        return self._conn

    def steps(
        self, expected: dict[str, int], smoke_query: str
    ) -> tuple[tuple[str, Callable[[], str]], ...]:
        """The phases, in order, each a name and what it does (its answer is the detail)."""
        return (
            ("checksum", self._checksum),
            ("restore", self._restore),
            ("row counts", lambda: self._row_counts(expected)),
            ("smoke", lambda: self._smoke(smoke_query)),
        )

    def describe_target(self) -> str:
        return _describe(self.target)

    def carry_out(self, smoke_query: str) -> dict[str, Any]:
        started_at = now_iso()
        started = time.monotonic()
        info = self.store.get(self.snapshot_id)
        expected: dict[str, int] = info.manifest.get("table_row_counts", {}) if info else {}
        steps = self.steps(expected, smoke_query)
        try:
            for number, (name, step) in enumerate(steps):
                self.progress(f"drill {name} ({number + 1} of {len(steps)})", number / len(steps))
                if not self._phase(name, step):
                    break
        finally:
            if self._conn is not None:
                self._conn.close()
        return {
            "run": f"{started_at}-{os.getpid()}",
            "time": started_at,
            "operator": self.ctx.config.console.operator,
            "snapshot_id": self.snapshot_id,
            "snapshot_created_at": info.created_at.isoformat() if info else None,
            "target": self.describe_target(),
            "provider": self.store.name,
            "ok": all(p["ok"] for p in self.phases) and len(self.phases) == len(steps),
            "phases": self.phases,
            "duration_s": round(time.monotonic() - started, 3),
        }

    def _phase(self, name: str, step: Any) -> bool:
        started = time.monotonic()
        try:
            detail = step()
            ok = True
        except ProviderError as exc:
            ok, detail = False, exc.message
        self.phases.append(
            {
                "name": name,
                "ok": ok,
                "duration_s": round(time.monotonic() - started, 3),
                "detail": redact(detail),
            }
        )
        return ok

    def _checksum(self) -> str:
        problems = self.store.check(self.snapshot_id)
        if problems:
            raise ProviderError("; ".join(problems))
        return "sha256 matches the manifest"

    def _restore(self) -> str:
        restored = self.store.restore_into(  # type: ignore[attr-defined]
            self.target,
            self.snapshot_id,
            _prefixed(self.progress, "restore: "),
            checked=True,
            count_rows=False,
        )
        return f"pg_restore into {_describe(self.target)} in {restored.duration_s:.2f} s"

    def _row_counts(self, expected: dict[str, int]) -> str:
        from pmb_console.providers.pg_dump import row_count_mismatches
        from pmb_console.providers.postgres import table_row_counts

        conn = self._restored()
        counts = table_row_counts(conn, _prefixed(self.progress, "row counts: "))
        conn.rollback()
        mismatches = row_count_mismatches(expected, counts)
        if mismatches:
            raise ProviderError("; ".join(mismatches))
        return f"{len(expected)} tables, {sum(expected.values())} rows, as in the manifest"

    def _smoke(self, query: str) -> str:
        if not query.strip():
            return "no smoke query configured"
        return smoke_answer(self._restored(), query)


def smoke_answer(conn: Any, query: str) -> str:
    """Run the smoke query on `conn` and judge its answer; raises ProviderError when bad."""
    import psycopg

    try:
        row = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        said = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        raise ProviderError(f"the smoke query failed: {said}") from None
    finally:
        if not conn.broken:
            conn.rollback()  # a smoke query reads; nothing it did is kept
    # Good when it answers a row whose first value is true (or any value but false/NULL/0).
    if row is None:
        raise ProviderError("the smoke query returned no row")
    if row[0] in (None, False, 0):
        raise ProviderError(f"the smoke query answered {row[0]!r}")
    return f"the smoke query answered {str(row[0])[:60]!r}"


def _prefixed(progress: ProgressFn, prefix: str) -> ProgressFn:
    def report(message: str, fraction: float | None = None) -> None:
        progress(prefix + message, None)

    return report


def _describe(dsn: str) -> str:
    from pmb_console.providers.postgres import describe

    return describe(dsn)
