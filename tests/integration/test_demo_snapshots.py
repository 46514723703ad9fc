"""The demo snapshot store: real files, checksums, row counts, a realistic pace."""

from __future__ import annotations

import time

import pytest

from pmb_console.config import Config, DatabaseConfig, PgDumpConfig
from pmb_console.demo.snapshots import DemoSnapshotStore, row_counts
from pmb_console.errors import ProviderError


@pytest.fixture
def store(tmp_path):
    cfg = Config(
        database=DatabaseConfig(
            provider="demo", pg_dump=PgDumpConfig(backup_dir=str(tmp_path / "b"))
        )
    )
    store = DemoSnapshotStore(cfg)
    store.pace = (0.02, 0.05)  # fast, except in the test of the pace itself
    return store


def test_a_snapshot_takes_a_realistic_time_and_reports_progress(store):
    store.pace = (1.0, 3.0)
    events = []
    started = time.monotonic()
    snap = store.create(
        "before v1.1.0", lambda message, fraction: events.append((message, fraction))
    )
    took = time.monotonic() - started
    assert 1.0 <= took < 3.5
    fractions = [f for _, f in events if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 10
    assert snap.label == "before v1.1.0" and snap.size_bytes > 100_000
    assert snap.manifest["table_row_counts"] == {
        "users": 50,
        "projects": 4,
        "issues": 2000,
        "comments": 4000,
    }
    assert (store.backup_dir / f"{snap.id}.dump").is_file()


def test_list_is_newest_first_and_check_passes(store):
    first = store.create("one")
    second = store.create("two", kind="safety")
    assert [s.id for s in store.list()] == [second.id, first.id]
    assert store.check(first.id) == []
    assert store.get(second.id).kind == "safety"


def test_check_finds_a_damaged_dump(store):
    snap = store.create("x")
    dump = store.backup_dir / f"{snap.id}.dump"
    with open(dump, "r+b") as fh:
        fh.seek(500)
        fh.write(b"#")
    problems = store.check(snap.id)
    assert any("sha256" in p for p in problems)
    with pytest.raises(ProviderError, match="cannot be restored"):
        store.restore(snap.id)


def test_check_names_a_missing_snapshot(store):
    assert store.check("demo-nope") == [f"no snapshot demo-nope in {store.backup_dir}"]
    with pytest.raises(ProviderError, match="not a snapshot id"):
        store.check("../etc/passwd")


def test_restore_brings_the_content_back(store):
    snap = store.create("good")
    original = store.database.read_bytes()
    # Someone deletes most issues.
    text = store.database.read_text().splitlines()
    kept = [ln for ln in text if not ln.startswith(tuple(f"{n}\t" for n in range(100, 1000)))]
    store.database.write_text("\n".join(kept) + "\n")
    assert row_counts(store.database)["issues"] < 2000

    events = []
    result = store.restore(snap.id, lambda m, f: events.append(m))
    assert store.database.read_bytes() == original
    assert result.row_counts["issues"] == 2000 and result.mismatches == []
    assert events[0].startswith("checking") and events[-1].startswith("restored")


def test_delete_removes_both_files(store):
    snap = store.create("x")
    store.delete(snap.id)
    assert store.list() == [] and list(store.backup_dir.iterdir()) == []


def test_guard_says_whether_the_backup_dir_is_writable(store):
    assert not store.guards()[0].ok  # not created yet
    store.create("x")
    assert store.guards()[0].ok


def test_restore_into_a_scratch_copy_leaves_the_live_database_alone(store):
    snap = store.create("good")
    store.database.write_text("changed after the snapshot\n")
    events = []
    result = store.restore_into(
        store.drill_target, snap.id, lambda m, f: events.append(m), checked=True, count_rows=False
    )
    assert store.database.read_text() == "changed after the snapshot\n"
    assert store.drill_target.read_bytes() == (store.backup_dir / f"{snap.id}.dump").read_bytes()
    assert result.duration_s > 0 and any(m.startswith("restoring: ") for m in events)
    assert store.count_rows(store.drill_target)["issues"] == 2000


def test_the_drill_target_may_be_only_a_scratch_copy_inside_the_demo_dir(store, tmp_path):
    store.create("x")
    assert store.drill_target_problem(store.drill_target) == ""
    said = store.drill_target_problem(store.database)
    assert said == f"the drill target {store.database} is the demo's live database {store.database}"
    # The same file under another name: a hard link.
    twin = tmp_path / "drill" / "twin.sql"
    twin.parent.mkdir()
    twin.hardlink_to(store.database)
    assert "is the demo's live database" in store.drill_target_problem(twin)
    assert "outside the demo's directory" in store.drill_target_problem(tmp_path.parent / "x.sql")
    among = store.backup_dir / "copy.sql"
    assert "inside the backup dir" in store.drill_target_problem(among)
