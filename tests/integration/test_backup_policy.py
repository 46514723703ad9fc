"""The backup policy: snapshots dated across 40 days; the view (and the checklist item that
shares its code) and the prune act on exactly the right ones."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.checklist import check_snapshot
from pmb_console.actions.database import PruneSnapshotsAction, list_snapshots
from pmb_console.backup_policy import (
    backup_policy,
    backup_status,
    expired_snapshots,
    flag_expired,
)
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.providers.base import SnapshotInfo

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
PROGRAM = Path(sys.executable).with_name("pmb-console")

# Hours before NOW of each snapshot: within the 30-day window and beyond it.
AGES_H = {
    "a-1h": 1,
    "b-1d": 25,
    "c-3d-early": 3 * 24 + 5,
    "d-3d-late": 3 * 24 + 1,
    "e-10d": 10 * 24,
    "f-29d": 29 * 24,
    "g-31d": 31 * 24,
    "h-35d": 35 * 24,
    "i-39d": 39 * 24 + 3,
}


def snap(name: str, hours: float, status: str = "available") -> SnapshotInfo:
    return SnapshotInfo(name, NOW - timedelta(hours=hours), status=status)


def all_snaps() -> list[SnapshotInfo]:
    return [snap(name, hours) for name, hours in AGES_H.items()]


# --- the view, decided from the list and a clock --------------------------------------------


def test_one_row_per_day_of_the_window_with_its_snapshots():
    policy = backup_policy(all_snaps(), max_age_hours=24, retention_days=30, now=NOW)

    assert len(policy.days) == 30
    assert policy.days[0].day == NOW.date() and policy.days[-1].day == NOW.date() - timedelta(
        days=29
    )
    covered = {(NOW.date() - d.day).days: d.snapshot_ids for d in policy.days if d.covered}
    assert covered == {
        0: ("a-1h",),
        1: ("b-1d",),
        3: ("c-3d-early", "d-3d-late"),
        10: ("e-10d",),
        29: ("f-29d",),
    }
    assert len(policy.missing_days) == 25


def test_snapshots_older_than_retention_are_flagged():
    policy = backup_policy(all_snaps(), max_age_hours=24, retention_days=30, now=NOW)

    assert [s.id for s in policy.expired] == ["i-39d", "h-35d", "g-31d"]  # oldest first
    assert policy.fresh and policy.newest.id == "a-1h"
    assert policy.as_dict()["newest_age_hours"] == 1.0


def test_the_newest_snapshot_is_never_expired_even_when_all_are_old():
    old = [snap("x-40d", 40 * 24), snap("y-33d", 33 * 24)]

    policy = backup_policy(old, max_age_hours=24, retention_days=30, now=NOW)

    assert [s.id for s in policy.expired] == ["x-40d"]
    assert not policy.fresh and "y-33d is 792.0 h old" in policy.fresh_detail
    assert not any(d.covered for d in policy.days)


def test_unusable_snapshots_do_not_cover_a_day_nor_count_as_newest():
    snaps = [
        snap("good-2d", 48),
        snap("broken-1h", 1, status="damaged"),
        snap("broken-45d", 45 * 24, status="damaged"),
    ]

    policy = backup_policy(snaps, max_age_hours=24, retention_days=30, now=NOW)

    assert policy.newest.id == "good-2d" and not policy.fresh
    assert not policy.days[0].covered
    assert [s.id for s in policy.unusable] == ["broken-1h", "broken-45d"]
    assert [s.id for s in policy.expired] == ["broken-45d"]


def test_snapshots_the_store_does_not_own_are_never_expired():
    """On RDS: automated snapshots and a DBA's hand-made one are not the console's to delete."""
    snaps = [
        snap("ours-1h", 1),
        SnapshotInfo("rds:auto-40d", NOW - timedelta(days=40), kind="automated", prunable=False),
        SnapshotInfo("dba-handmade-35d", NOW - timedelta(days=35), prunable=False),
        snap("ours-33d", 33 * 24),
    ]

    policy = backup_policy(snaps, max_age_hours=24, retention_days=30, now=NOW)

    assert [s.id for s in policy.expired] == ["ours-33d"]
    flagged = {s.id: s.manifest["expired"] for s in flag_expired(snaps, 30, NOW)}
    assert flagged == {
        "ours-1h": False,
        "rds:auto-40d": False,
        "dba-handmade-35d": False,
        "ours-33d": True,
    }


def test_the_checklist_item_and_the_view_agree():
    for snaps in (all_snaps(), [snap("only", 30)], []):
        policy = backup_policy(snaps, max_age_hours=24, retention_days=30, now=NOW)
        assert backup_status(snaps, 24, NOW) == (policy.fresh, policy.fresh_detail)


# --- on disk, through the real store, the runner and the program ------------------------------


def write_snapshot(backup_dir: Path, created: datetime, label: str) -> str:
    """A snapshot as the pg_dump store keeps it: a dump file and its manifest."""
    snapshot_id = f"{created:%Y%m%dT%H%M%SZ}-{hashlib.sha256(label.encode()).hexdigest()[:6]}"
    dump = backup_dir / f"{snapshot_id}.dump"
    dump.write_bytes(f"dump of {label}".encode())
    manifest = {
        "format": 1,
        "id": snapshot_id,
        "created_at": created.isoformat(),
        "label": label,
        "kind": "manual",
        "database": "pmbuddy",
        "file": dump.name,
        "size_bytes": dump.stat().st_size,
        "sha256": hashlib.sha256(dump.read_bytes()).hexdigest(),
        "table_row_counts": {},
    }
    (backup_dir / f"{snapshot_id}.json").write_text(json.dumps(manifest))
    return snapshot_id


@pytest.fixture
def on_disk(pg_config, tmp_path):
    """Snapshots dated across 40 days in backup_dir; returns (config, {label: id})."""
    backups = tmp_path / "backups"
    backups.mkdir()
    now = datetime.now(UTC)
    ids = {
        label: write_snapshot(backups, now - timedelta(hours=h), label)
        for label, h in AGES_H.items()
    }
    return pg_config(), ids, backups


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(PROGRAM)] if PROGRAM.exists() else [sys.executable, "-m", "pmb_console"]
    return subprocess.run(
        [*command, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )


EXPIRED = {"g-31d", "h-35d", "i-39d"}


@pytest.mark.postgres
def test_prune_deletes_exactly_the_expired_snapshots(on_disk):
    config, ids, backups = on_disk
    ctx = bootstrap(load_config(config))

    outcome = ctx.runner.run(PruneSnapshotsAction(), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    assert set(outcome.result["deleted"]) == {ids[label] for label in EXPIRED}
    remaining = {s.id for s in list_snapshots(ctx)}
    assert remaining == {ids[label] for label in AGES_H if label not in EXPIRED}
    for label in EXPIRED:
        assert not (backups / f"{ids[label]}.dump").exists()
        assert not (backups / f"{ids[label]}.json").exists()
    again = ctx.runner.run(PruneSnapshotsAction(), Confirmation.yes())
    assert again.status == "nothing-to-do"


@pytest.mark.postgres
def test_the_checklist_reads_the_same_snapshots(on_disk):
    config, ids, _ = on_disk
    ctx = bootstrap(load_config(config))

    ok, detail = check_snapshot(ctx)

    assert ok and detail.startswith(ids["a-1h"])
    assert [s.id for s in expired_snapshots(list_snapshots(ctx), 30)] == [
        ids["i-39d"],
        ids["h-35d"],
        ids["g-31d"],
    ]


@pytest.mark.postgres
def test_cli_policy_as_json(on_disk):
    config, ids, _ = on_disk

    done = pmb(config, "snapshots", "--policy", "--json")

    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["fresh"] and doc["newest"] == ids["a-1h"]
    assert len(doc["days"]) == 30
    assert {s["id"] for s in doc["expired"]} == {ids[label] for label in EXPIRED}
    covered = {s for day in doc["days"] for s in day["snapshots"]}
    assert covered == {ids[label] for label in AGES_H if label not in EXPIRED}
    text = pmb(config, "snapshots", "--policy")
    assert "expired (older than 30 days" in text.stdout and ids["g-31d"] in text.stdout
    listed = pmb(config, "snapshots").stdout.splitlines()
    flagged = {line.split()[0] for line in listed if line.endswith("[past retention]")}
    assert flagged == {ids[label] for label in EXPIRED}  # the listing agrees with the policy


@pytest.mark.postgres
def test_cli_prune_needs_confirmation(on_disk):
    config, ids, backups = on_disk

    unconfirmed = pmb(config, "snapshots", "--prune")
    assert unconfirmed.returncode == 3
    assert len(list(backups.glob("*.json"))) == len(AGES_H)

    done = pmb(config, "snapshots", "--prune", "--yes")
    assert done.returncode == 0, done.stderr
    assert "3 expired snapshot(s) gone" in done.stdout
    assert {p.stem for p in backups.glob("*.json")} == {
        ids[label] for label in AGES_H if label not in EXPIRED
    }


@pytest.mark.postgres
def test_cli_policy_exits_1_when_the_newest_is_too_old(pg_config, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    write_snapshot(backups, datetime.now(UTC) - timedelta(hours=50), "stale")

    done = pmb(pg_config(), "snapshots", "--policy")

    assert done.returncode == 1
    assert "BAD newest" in done.stdout and "limit 24 h" in done.stdout
