"""Restore drills on the plain demo (no PostgreSQL): the demo snapshot restored into a
scratch copy inside the demo's temp dir, its checksum and row counts checked, each phase
timed in the drill history that `drill --history`, the backup view and the rollback
assessment read; the demo's live database file is never the drill target."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.actions.drill import DrillAction, DrillHistory
from pmb_console.bootstrap import bootstrap
from pmb_console.cli import main
from pmb_console.demo.snapshots import row_counts
from pmb_console.demo.stack import DemoStack
from pmb_console.output import format_drills
from pmb_console.rollback_assessment import assess, format_assessment


@pytest.fixture
def demo():
    with DemoStack() as stack:
        services = bootstrap(stack.config())
        services.snapshots.pace = (0.3, 0.4)  # the demo's own pace is 1-3 s a copy
        try:
            yield stack, services
        finally:
            services.close()


def take_snapshot(services) -> str:
    taken = services.runner.run(SnapshotAction("before the drill"), Confirmation.yes())
    assert taken.status == "succeeded", taken.message
    return taken.result["snapshot_id"]


def drop_issues(database: Path) -> None:
    """Someone deletes most issues from the live demo database after the snapshot."""
    lines = database.read_text().splitlines()
    kept = [ln for ln in lines if not ("\tPMB-" in ln and 100 <= int(ln.split("\t")[0]) < 1000)]
    database.write_text("\n".join(kept) + "\n")


def test_a_demo_drill_restores_into_a_scratch_copy_and_checks_it(demo):
    stack, services = demo
    store = services.snapshots
    snapshot_id = take_snapshot(services)
    drop_issues(store.database)
    live_before = store.database.read_bytes()
    assert row_counts(store.database)["issues"] == 1100

    seen: list[tuple[str, float | None]] = []
    outcome = services.runner.run(
        DrillAction(), Confirmation.yes(), progress=lambda m, f=None: seen.append((m, f))
    )

    assert outcome.status == "succeeded", outcome.message
    assert f"snapshot {snapshot_id} restored and checked in" in outcome.message
    # The live database is as the operator left it; the scratch copy holds the snapshot.
    assert store.database.read_bytes() == live_before
    scratch = store.drill_target
    assert scratch.is_relative_to(stack.root) and scratch != store.database
    assert row_counts(scratch) == {"users": 50, "projects": 4, "issues": 2000, "comments": 4000}

    messages = [m for m, _ in seen]
    assert "drill checksum (1 of 3)" in messages and "drill row counts (3 of 3)" in messages
    assert any(m.startswith("restore: restoring: ") and "KiB" in m for m in messages)

    (record,) = DrillHistory(stack.state_dir).records()
    assert record["ok"] is True and record["snapshot_id"] == snapshot_id
    assert record["provider"] == "demo" and str(scratch) in record["target"]
    phases = {p["name"]: p for p in record["phases"]}
    assert list(phases) == ["checksum", "restore", "row counts"]
    assert all(
        p["ok"] is True and set(p) == {"name", "ok", "detail", "duration_s"}
        for p in phases.values()
    )
    assert phases["checksum"]["detail"] == "sha256 matches the manifest"
    assert phases["row counts"]["detail"] == "4 tables, 6054 rows, as in the manifest"
    assert 0.3 <= phases["restore"]["duration_s"] <= record["duration_s"]

    history = format_drills(DrillHistory(stack.state_dir).records())
    assert snapshot_id in history and "pass" in history and "row counts" in history

    assessment = format_assessment(assess(services), "demo")
    took = f"{record['duration_s']:.0f} s"
    assert "Last restore drill: " in assessment
    assert f"snapshot {snapshot_id}: the whole drill took {took}, the demo restore " in assessment


def test_a_damaged_snapshot_fails_the_drill_at_the_checksum(demo):
    stack, services = demo
    store = services.snapshots
    snapshot_id = take_snapshot(services)
    dump = store.backup_dir / f"{snapshot_id}.dump"
    with open(dump, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"#")

    outcome = services.runner.run(DrillAction(), Confirmation.yes())

    assert outcome.status == "failed"
    assert f"drill of {snapshot_id} failed at the checksum phase" in outcome.message
    assert "sha256" in outcome.message
    assert not store.drill_target.exists()
    history = format_drills(DrillHistory(stack.state_dir).records())
    assert "FAIL at checksum" in history


def test_a_scratch_copy_that_leads_to_the_live_database_is_refused_even_forced(demo):
    stack, services = demo
    store = services.snapshots
    take_snapshot(services)
    drop_issues(store.database)
    live_before = store.database.read_bytes()
    # The scratch copy's place is a link to the live database file.
    store.drill_target.parent.mkdir(parents=True, exist_ok=True)
    store.drill_target.symlink_to(store.database)

    refused = services.runner.run(DrillAction(), Confirmation.yes())
    assert refused.status == "refused"
    failed = [g for g in refused.guards if not g.ok]
    assert [g.name for g in failed] == ["drill target is not the live database"]
    assert "is the demo's live database" in failed[0].detail
    assert "cannot be overridden" in failed[0].detail

    forced = services.runner.run(
        DrillAction(), Confirmation.yes(), force=True, reason="trying to get around it"
    )
    assert forced.status != "succeeded"
    assert "is the demo's live database" in forced.message
    assert store.database.read_bytes() == live_before
    assert DrillHistory(stack.state_dir).records() == []


def test_drill_and_its_history_from_the_cli_with_the_demo_store(tmp_path, capsys):
    config = tmp_path / "demo.toml"
    config.write_text(
        f"""
[console]
environment = "demo"
state_dir = "{tmp_path / "state"}"
[database]
provider = "demo"
[database.pg_dump]
backup_dir = "{tmp_path / "backups"}"
""",
        encoding="utf-8",
    )
    (tmp_path / "backups").mkdir()
    assert main(["--config", str(config), "snapshot", "--yes"]) == 0
    capsys.readouterr()

    assert main(["--config", str(config), "drill"]) == 0
    said = capsys.readouterr()
    assert "pass  drill target is not the live database: the scratch copy " in said.err
    assert said.out.startswith("restore drill done and verified: snapshot demo-")
    assert (tmp_path / "drill" / "pmbuddy.sql").is_file()

    assert main(["--config", str(config), "drill", "--history"]) == 0
    history = capsys.readouterr().out.splitlines()
    assert history[0].split() == ["WHEN", "SNAPSHOT", "TOOK", "RESULT"]
    assert " pass  (checksum " in history[1] and " · row counts " in history[1]
