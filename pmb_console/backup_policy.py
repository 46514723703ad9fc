"""RUNBOOK §4, the backup policy: is the newest snapshot young enough, is every day of the
retention window covered, and which snapshots have outlived it.

Pure: it decides from a list of snapshots and a clock, so the checklist's "backup taken"
item, the console's backup view and `snapshots --policy` say the same thing. Pruning
(deleting what has expired) is an action, PruneSnapshotsAction, run through the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pmb_console.providers.base import SnapshotInfo

USABLE = "available"


def backup_status(
    snapshots: list[SnapshotInfo], max_age_hours: float, now: datetime | None = None
) -> tuple[bool, str]:
    """Is the newest usable snapshot younger than the limit? (passed, why)."""
    now = now or datetime.now(UTC)
    newest = newest_usable(snapshots)
    if newest is None:
        return False, "no snapshot exists"
    hours = (now - newest.created_at).total_seconds() / 3600
    if hours > max_age_hours:
        return (
            False,
            f"newest snapshot {newest.id} is {hours:.1f} h old (limit {max_age_hours:g} h)",
        )
    return True, f"{newest.id}, {hours:.1f} h old (limit {max_age_hours:g} h)"


def newest_usable(snapshots: list[SnapshotInfo]) -> SnapshotInfo | None:
    usable = [s for s in snapshots if s.status == USABLE]
    return max(usable, key=lambda s: s.created_at) if usable else None


def expired_snapshots(
    snapshots: list[SnapshotInfo], retention_days: int, now: datetime | None = None
) -> list[SnapshotInfo]:
    """Snapshots older than the retention window that pruning may delete, oldest first.

    The one rule every caller uses (the listing's flag, the backup view, `--policy`, the
    prune): only snapshots their store marks prunable (on RDS, the console's own manual
    ones). The newest usable snapshot is never among them, however old: pruning must not
    leave the database without any backup.
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    keep = newest_usable(snapshots)
    old = [
        s
        for s in snapshots
        if s.prunable and s.created_at < cutoff and (keep is None or s.id != keep.id)
    ]
    return sorted(old, key=lambda s: (s.created_at, s.id))


def flag_expired(
    snapshots: list[SnapshotInfo], retention_days: int, now: datetime | None = None
) -> list[SnapshotInfo]:
    """The same snapshots, each with `manifest["expired"]` saying whether it is past
    retention by the rule above (what the listing shows as "past retention")."""
    expired = {s.id for s in expired_snapshots(snapshots, retention_days, now)}
    return [replace(s, manifest={**s.manifest, "expired": s.id in expired}) for s in snapshots]


@dataclass(frozen=True)
class PolicyDay:
    """One UTC day of the retention window."""

    day: date
    snapshot_ids: tuple[str, ...]
    """Usable snapshots taken that day, oldest first."""

    @property
    def covered(self) -> bool:
        return bool(self.snapshot_ids)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "covered": self.covered,
            "snapshots": list(self.snapshot_ids),
        }


@dataclass(frozen=True)
class BackupPolicy:
    """The backup view: what the console's pane and `snapshots --policy` show."""

    now: datetime
    max_age_hours: float
    retention_days: int
    fresh: bool
    """The newest usable snapshot is younger than max_age_hours."""
    fresh_detail: str
    newest: SnapshotInfo | None
    days: tuple[PolicyDay, ...]
    """Newest day first, retention_days rows."""
    expired: tuple[SnapshotInfo, ...]
    unusable: tuple[SnapshotInfo, ...]
    """Snapshots listed but not restorable (damaged manifest, dump missing)."""

    @property
    def newest_age_hours(self) -> float | None:
        if self.newest is None:
            return None
        return (self.now - self.newest.created_at).total_seconds() / 3600

    @property
    def missing_days(self) -> list[date]:
        return [d.day for d in self.days if not d.covered]

    def as_dict(self) -> dict[str, Any]:
        age = self.newest_age_hours
        return {
            "now": self.now.isoformat(),
            "max_age_hours": self.max_age_hours,
            "retention_days": self.retention_days,
            "fresh": self.fresh,
            "fresh_detail": self.fresh_detail,
            "newest": self.newest.id if self.newest else None,
            "newest_age_hours": round(age, 2) if age is not None else None,
            "days": [d.as_dict() for d in self.days],
            "missing_days": [d.isoformat() for d in self.missing_days],
            "expired": [_brief(s) for s in self.expired],
            "unusable": [_brief(s) for s in self.unusable],
        }


def backup_policy(
    snapshots: list[SnapshotInfo],
    *,
    max_age_hours: float,
    retention_days: int,
    now: datetime | None = None,
) -> BackupPolicy:
    now = now or datetime.now(UTC)
    fresh, detail = backup_status(snapshots, max_age_hours, now)
    today = now.astimezone(UTC).date()
    by_day: dict[date, list[SnapshotInfo]] = {}
    for snap in snapshots:
        if snap.status == USABLE:
            by_day.setdefault(snap.created_at.astimezone(UTC).date(), []).append(snap)
    days = tuple(
        PolicyDay(day, tuple(s.id for s in sorted(by_day.get(day, []), key=lambda s: s.created_at)))
        for day in (today - timedelta(days=n) for n in range(retention_days))
    )
    return BackupPolicy(
        now=now,
        max_age_hours=max_age_hours,
        retention_days=retention_days,
        fresh=fresh,
        fresh_detail=detail,
        newest=newest_usable(snapshots),
        days=days,
        expired=tuple(expired_snapshots(snapshots, retention_days, now)),
        unusable=tuple(s for s in snapshots if s.status != USABLE),
    )


def _brief(snap: SnapshotInfo) -> dict[str, Any]:
    return {
        "id": snap.id,
        "created_at": snap.created_at.isoformat(),
        "kind": snap.kind,
        "label": snap.label,
        "size_bytes": snap.size_bytes,
        "status": snap.status,
    }
