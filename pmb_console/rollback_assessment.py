"""After a traffic rollback: does the database need restoring too, and what would that cost?

RUNBOOK §3 step 2. Read-only; each part is judged on its own and says "unknown" with the
reason rather than guessing:

- were this release's migrations backward compatible: the lint recorded by the migrate
  runs that ran them (migration_lint.applied_lint reads it from the audit);
- the pre-deployment snapshot: the newest snapshot taken before the release's first
  switch, and its age;
- what restoring it would lose: the writes since it was taken, from PostgreSQL's own
  cumulative counters (pg_stat_user_tables n_tup_ins/n_tup_upd/n_tup_del) against the
  counters recorded when the snapshot was taken; without that baseline, the net change of
  each table's rows against the snapshot's manifest (which cannot see updates);
- how long a restore takes: the last restore drill's duration, from the audit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmb_console.audit import now_iso, parse_time
from pmb_console.errors import PmbError

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services
    from pmb_console.providers.base import SnapshotInfo

_COUNTERS = (
    "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
)


def _counters_dir(ctx: Services) -> Path:
    return Path(ctx.config.console.state_dir) / "write-counters"


def _app_table(name: str) -> bool:
    """False for the console's own record of applied migrations: migrate's insert there
    is not a write a restore would lose."""
    from pmb_console.providers.migrations import TABLE

    return name.rpartition(".")[2] != TABLE


def read_write_counters(ctx: Services) -> dict[str, list[int]]:
    """{table: [inserted, updated, deleted]} since the statistics were last reset, for the
    application's tables (not the console's own)."""
    from pmb_console.providers.postgres import connect, dsn_from_env

    dsn = dsn_from_env(ctx.config.database.dsn_env)
    with connect(dsn, autocommit=True, connect_timeout=ctx.config.database.connect_timeout) as conn:
        # The counters are kept per backend and flushed about once a second; ask for a
        # fresh view so a snapshot taken right after a burst of writes is measured fairly.
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return {
            name: [int(i), int(u), int(d)]
            for name, i, u, d in conn.execute(_COUNTERS).fetchall()
            if _app_table(name)
        }


def record_write_counters(ctx: Services, snapshot_id: str) -> None:
    """Keep the write counters as they stand when a snapshot is taken (the loss baseline).

    Read once the snapshot is complete (the dump ended, or the RDS snapshot is available),
    so writes made while it was being taken are in the baseline although the snapshot
    does not hold them: the estimate can fall short by those, and says so. The counters
    are read through [database] dsn_env for either provider.
    """
    if not snapshot_id:
        return
    try:
        counters = read_write_counters(ctx)
    except PmbError:
        return  # the assessment then falls back to row counts, and says so
    directory = _counters_dir(ctx)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{snapshot_id}.json").write_text(
        json.dumps({"at": now_iso(), "counters": counters})
    )


@dataclass(frozen=True)
class Part:
    """One question of the assessment and its answer."""

    title: str
    answer: str
    known: bool = True
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    migrations: Part
    snapshot: Part
    loss: Part
    drill: Part
    restore_needed: str
    """yes | no | unknown: whether the migrations alone call for a restore."""
    snapshot_id: str = ""
    release: str = ""
    rolled_back_at: str = ""
    """When this release's traffic was rolled back (the journal's step); "" when it was not."""

    @property
    def heading(self) -> str:
        """What the assessment is of: the rollback done, or one not (yet) made."""
        release = self.release or "this release"
        if self.rolled_back_at:
            return (
                f"Database after the rollback of {release} "
                f"(traffic rolled back {self.rolled_back_at[:16].replace('T', ' ')} UTC)"
            )
        return f"Database if {release} is rolled back (no traffic rollback of it is recorded)"

    @property
    def parts(self) -> list[Part]:
        return [self.migrations, self.snapshot, self.loss, self.drill]

    def as_dict(self) -> dict[str, Any]:
        return {
            "restore_needed": self.restore_needed,
            "snapshot_id": self.snapshot_id,
            "release": self.release,
            "rolled_back_at": self.rolled_back_at,
            "parts": [asdict(p) for p in self.parts],
        }

    def restore_action(self):
        """The guarded restore of the pre-deployment snapshot (destructive: the environment
        name is typed to confirm it), or None when there is no snapshot to restore."""
        if not self.snapshot_id:
            return None
        from pmb_console.actions.database import RestoreAction

        return RestoreAction(self.snapshot_id)

    def restore_words(self, environment: str) -> str:
        """The guarded restore, one action away, with the loss spelled out."""
        if not self.snapshot_id:
            return "no pre-deployment snapshot to restore"
        return (
            f"restore {self.snapshot_id} (pmb-console restore {self.snapshot_id} --confirm {environment}); "
            f"it would lose {self.loss.answer}"
        )


def assess(ctx: Services, now: datetime | None = None) -> Assessment:
    now = now or datetime.now(UTC)
    records = ctx.audit.records()
    migrations, restore_needed = _migrations(ctx, records)
    snapshot = _snapshot_part(ctx, records, now)
    info: SnapshotInfo | None = snapshot.data.get("info")
    loss = _loss(ctx, info)
    return Assessment(
        migrations,
        Part(
            snapshot.title,
            snapshot.answer,
            snapshot.known,
            {k: v for k, v in snapshot.data.items() if k != "info"},
        ),
        loss,
        _drill(ctx),
        restore_needed,
        info.id if info else "",
        ctx.config.release.version,
        _rolled_back_at(ctx),
    )


def _rolled_back_at(ctx: Services) -> str:
    """When the journal says this release's traffic was rolled back, if it was and it has
    not been switched forward again since; "" otherwise (or when the journal is unreadable)."""
    from pmb_console.journal import ReleaseJournal
    from pmb_console.runbook import DONE

    try:
        steps = ReleaseJournal.of(ctx).read().get("steps", {})
    except PmbError:
        return ""
    back = steps.get("rollback-traffic") or {}
    forward = steps.get("switch-traffic") or {}
    if back.get("state") != DONE or str(forward.get("at", "")) > str(back.get("at", "")):
        return ""
    return str(back.get("at", ""))


def _migrations(ctx: Services, records: list[dict[str, Any]]) -> tuple[Part, str]:
    title = "Migrations backward compatible"
    release = ctx.config.release.version
    try:
        from pmb_console.actions.migration_lint import BREAKS, UNREVIEWED, applied_lint
    except ImportError:
        return Part(
            title, "unknown: this version cannot read migration lint results", False
        ), "unknown"
    # Only the migrate runs that ran files count: a later --lint-only of nothing pending
    # must not make a breaking change that did run look safe.
    lint = applied_lint(records, release, ctx.config.console.environment)
    if lint is None and (idle := _found_nothing_pending(records, release)):
        return Part(
            title,
            f"yes: migrate of release {release} found nothing pending ({idle}); this release "
            "ran no migration through pmb-console, so a traffic rollback is enough",
            True,
        ), "no"
    if lint is None:
        return Part(
            title,
            f"unknown: no migrate of release {release or '?'} that ran migration files is "
            "recorded (migrate records its lint when it runs them)",
            False,
        ), "unknown"
    breaking = [f for f in lint.get("findings", []) if f.get("kind") == BREAKS]
    files = ", ".join(lint.get("files", [])) or "no files"
    if breaking:
        said = "; ".join(f"{f.get('where')}: {f.get('message')}" for f in breaking[:3])
        return Part(
            title,
            f"no: {len(breaking)} change(s) break the old version ({said}); "
            "the old version may fail against this database: a restore is needed",
            True,
            {"lint": lint},
        ), "yes"
    unjudged = [f for f in lint.get("findings", []) if f.get("kind") == UNREVIEWED]
    if unjudged:
        said = "; ".join(f"{f.get('where')} {f.get('rule')}" for f in unjudged[:3])
        return Part(
            title,
            f"unknown: nothing the lint of {files} judged breaks the old version, but "
            f"{len(unjudged)} statement(s) that ran were not judged ({said}); a traffic "
            "rollback is enough only if they leave the old version working: review them",
            False,
            {"lint": lint},
        ), "unknown"
    return Part(
        title,
        f"yes: the lint of {files} found nothing that breaks the old version; "
        "a traffic rollback is enough",
        True,
        {"lint": lint},
    ), "no"


def _found_nothing_pending(records: list[dict[str, Any]], release: str) -> str:
    """When a migrate of `release` last found nothing pending ("" when none did, or when a
    later migrate of it ran files — applied_lint answers then)."""
    for record in reversed(records):
        if record.get("action") != "migrate" or record.get("outcome") != "nothing-to-do":
            continue
        from pmb_console.actions.migration_lint import lint_of

        lint = lint_of(record)
        if isinstance(lint, dict) and lint.get("release", "") == release:
            return f"at {str(record.get('time', '?'))[:16].replace('T', ' ')} UTC"
    return ""


def _first_switch_time(ctx: Services, records: list[dict[str, Any]]) -> tuple[datetime | None, str]:
    """When this release first sent traffic to its color (the deployment's point of no
    return), or None and why not.

    Switch records carry no release, and an earlier release may have switched to the same
    color, so only this release's own switches count: the journal's switch-traffic entries,
    and the audit's switches to the new color made once the release's journal began (or
    named by run in it).
    """
    from pmb_console.journal import ReleaseJournal, new_color

    color = new_color(ctx.config)
    journal = ReleaseJournal.of(ctx)
    try:
        began = journal.read().get("created_at") or ""
        events = journal.events()
    except PmbError as exc:
        return None, f"the deployment journal cannot be read ({exc.message})"
    if not began:
        return None, f"no deployment journal of {journal.release} is recorded"
    found = [
        parse_time(e["at"]) for e in events if e.get("step") == "switch-traffic" and e.get("at")
    ]
    runs = {
        e["evidence"].get("run_id")
        for e in events
        if isinstance(e.get("evidence"), dict) and e["evidence"].get("run_id")
    }
    start = parse_time(began)
    environment = ctx.config.console.environment
    for record in records:
        if (
            record.get("action") == "switch"
            and record.get("outcome") in ("started", "succeeded")
            and (record.get("params") or {}).get("to") == color
            and record.get("environment", environment) == environment
            and record.get("time")
        ):
            at = parse_time(record["time"])
            if at >= start or record.get("run_id") in runs:
                found.append(at)
    if not found:
        return None, f"no switch of {journal.release} to {color} is recorded"
    return min(found), ""


def _snapshot_part(ctx: Services, records: list[dict[str, Any]], now: datetime) -> Part:
    title = "Pre-deployment snapshot"
    try:
        snapshots = ctx.snapshots.list()
    except PmbError as exc:
        return Part(title, f"unknown: the snapshots cannot be listed ({exc.message})", False)
    switched, why = _first_switch_time(ctx, records)
    cutoff = switched or now
    before = [s for s in snapshots if s.kind != "safety" and s.created_at <= cutoff]
    if not before:
        return Part(
            title, "none: no snapshot was taken before the switch; a restore is not possible", False
        )
    info = before[0]
    age = _age(now - info.created_at)
    label = f" {info.label!r}" if info.label else ""
    caveat = (
        f" (the newest snapshot: {why}, so when the deployment began is not known)" if why else ""
    )
    return Part(
        title,
        f"{info.id}{label}, taken {info.created_at:%Y-%m-%d %H:%M} UTC ({age} ago){caveat}",
        True,
        {"info": info, "id": info.id, "age_s": round((now - info.created_at).total_seconds())},
    )


def _loss(ctx: Services, info: SnapshotInfo | None) -> Part:
    title = "What a restore would lose"
    if info is None:
        return Part(title, "unknown: no snapshot to compare with", False)
    try:
        now_counters = read_write_counters(ctx)
    except PmbError as exc:
        return Part(title, f"unknown: {exc.message}", False)
    baseline_file = _counters_dir(ctx) / f"{info.id}.json"
    try:
        baseline = json.loads(baseline_file.read_text())["counters"]
    except (OSError, ValueError, KeyError):
        baseline = None
    if baseline is not None:
        return _loss_from_counters(title, baseline, now_counters)
    if "table_row_counts" not in info.manifest:
        return Part(
            title,
            f"unknown: no write counters were recorded when {info.id} was taken, and the "
            "snapshot holds no row counts to compare with",
            False,
        )
    return _loss_from_rows(ctx, title, info)


def _loss_from_counters(
    title: str, baseline: dict[str, list[int]], now: dict[str, list[int]]
) -> Part:
    totals = [0, 0, 0]
    per_table: dict[str, list[int]] = {}
    reset = []
    for table, current in now.items():
        if not _app_table(table):
            continue  # a baseline recorded before this table was left out
        before = baseline.get(table, [0, 0, 0])
        delta = [c - b for c, b in zip(current, before, strict=True)]
        if any(d < 0 for d in delta):
            reset.append(table)  # counters went down: statistics were reset since
            delta = current
        if any(delta):
            per_table[table] = delta
            totals = [t + d for t, d in zip(totals, delta, strict=True)]
    ins, upd, dele = totals
    busiest = sorted(per_table.items(), key=lambda kv: -sum(kv[1]))[:3]
    where = "; ".join(f"{t}: {sum(d)}" for t, d in busiest)
    answer = (
        f"about {ins + upd + dele} row writes since the snapshot: {ins} inserted, {upd} updated, "
        f"{dele} deleted" + (f" (most in {where})" if where else "")
    )
    if reset:
        answer += f"; statistics were reset for {', '.join(reset[:3])}, so at least this many"
    answer += "; writes made while the snapshot was being taken are not counted"
    return Part(
        title,
        answer,
        True,
        {
            "inserted": ins,
            "updated": upd,
            "deleted": dele,
            "tables": per_table,
            "method": "pg_stat_user_tables counters",
        },
    )


def _loss_from_rows(ctx: Services, title: str, info: SnapshotInfo) -> Part:
    from pmb_console.recovery import read_database

    expected = {t: n for t, n in info.manifest.get("table_row_counts", {}).items() if _app_table(t)}
    try:
        counts = read_database(ctx)["row_counts"]
    except PmbError as exc:
        return Part(title, f"unknown: {exc.message}", False)
    if counts is None:
        return Part(title, "unknown: a pg_restore is running, so rows cannot be counted", False)
    counts = {t: n for t, n in counts.items() if _app_table(t)}
    changed = {
        t: counts.get(t, 0) - expected.get(t, 0)
        for t in set(counts) | set(expected)
        if counts.get(t, 0) != expected.get(t, 0)
    }
    net = sum(abs(v) for v in changed.values())
    where = "; ".join(f"{t}: {v:+d}" for t, v in sorted(changed.items())[:3])
    return Part(
        title,
        f"at least {net} rows differ from the snapshot ({where or 'no table changed size'}); "
        "updates cannot be seen this way (no write counters were recorded with the snapshot)",
        True,
        {"net_rows": net, "tables": changed, "method": "row counts against the manifest"},
    )


def _drill(ctx: Services) -> Part:
    title = "Last restore drill"
    try:
        from pmb_console.actions.drill import last_drill
    except ImportError:
        return Part(title, "unknown: this version keeps no drill history", False)
    drill = last_drill(Path(ctx.config.console.state_dir))
    if drill is None:
        return Part(
            title,
            "unknown: no passed restore drill is recorded (pmb-console drill); "
            "a restore's duration is a guess",
            False,
        )
    restore: dict[str, Any] = next(
        (p for p in drill.get("phases", []) if p.get("name") == "restore"), {}
    )
    seconds = drill.get("duration_s")
    said = f"the whole drill took {_seconds(seconds)}"
    if restore.get("duration_s") is not None:
        restored_by = {"rds": "the RDS restore", "demo": "the demo restore"}.get(
            str(drill.get("provider")), "pg_restore"
        )
        said += f", {restored_by} {_seconds(restore['duration_s'])}"
    return Part(
        title,
        f"{str(drill.get('time', '?'))[:16].replace('T', ' ')} UTC, snapshot "
        f"{drill.get('snapshot_id', '?')}: {said}",
        True,
        {"duration_s": seconds},
    )


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "an unrecorded time"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


def _age(delta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds // 86400} days"


def format_assessment(a: Assessment, environment: str) -> str:
    lines = [a.heading]
    for part in a.parts:
        lines.append(f"  {part.title}: {part.answer}")
    needed = {
        "yes": "a restore is needed",
        "no": "no restore is needed for the schema",
        "unknown": "whether a restore is needed is unknown",
    }[a.restore_needed]
    lines += [f"  => {needed}", f"  restore: {a.restore_words(environment)}"]
    return "\n".join(lines)
