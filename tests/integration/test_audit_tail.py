"""The audit log's tail: what the console polls every second, read from the end of the log
instead of the whole of it. The local JSONL file and the shared PostgreSQL table alike.
"""

from __future__ import annotations

import pytest

from pmb_console.actions.checklist import sign_off, signoffs
from pmb_console.audit import LocalAuditLog, new_record
from pmb_console.bootstrap import bootstrap
from pmb_console.config import Config
from pmb_console.providers.pg_shared import PgAuditLog


def notes(count: int, start: int = 0) -> list[dict]:
    # long enough that the tail spans several of the blocks the file is read back in
    return [
        new_record("note" if i % 10 else "switch", "alice", message=f"note {i}", padding="x" * 500)
        for i in range(start, start + count)
    ]


def written(log, records):
    for record in records:
        log.append(record)
    return records


def test_the_local_tail_is_the_end_of_the_whole_log(tmp_path):
    log = LocalAuditLog(tmp_path)
    assert log.recent(50) == []  # no file yet
    written(log, notes(400))

    whole = log.records()
    assert log.recent(50) == whole[-50:]
    assert log.recent(1000) == whole
    assert log.recent(0) == []
    switches = [r for r in whole if r["action"] == "switch"]
    assert log.recent(7, action="switch") == switches[-7:]
    assert log.recent(7, action="rollback") == []


def test_a_torn_last_line_is_skipped_in_the_tail_as_in_the_whole(tmp_path):
    log = LocalAuditLog(tmp_path)
    written(log, notes(5))
    with open(log.path, "a") as fh:
        fh.write('{"action": "note", "message": "cut off by a cra')  # a crash mid-write
    assert [r["message"] for r in log.recent(3)] == ["note 2", "note 3", "note 4"]
    assert log.recent(3) == log.records()[-3:]


def checklist_ctx(tmp_path):
    return bootstrap(
        Config.model_validate(
            {
                "console": {"environment": "production", "state_dir": str(tmp_path / "state")},
                "release": {"version": "v1.1.0"},
            }
        )
    )


def test_a_sign_off_older_than_the_screens_tail_still_counts(tmp_path):
    ctx = checklist_ctx(tmp_path)
    sign_off(ctx, "reviewed", "approved in the release meeting")
    sign_off(ctx, "ci-green", "flaky e2e rerun by hand")
    written(ctx.audit, notes(500))  # a busy night: far more than the console's feed shows
    sign_off(ctx, "ci-green", "rerun green")

    found = signoffs(ctx)
    assert found["reviewed"]["reason"] == "approved in the release meeting"
    assert found["ci-green"]["reason"] == "rerun green"  # the latest one wins


@pytest.mark.postgres
def test_the_shared_tail_is_the_end_of_the_table_and_survives_a_dropped_connection(pg_database):
    log = PgAuditLog(pg_database.url)
    assert log.recent(50) == [] and log.max_seq() == 0
    written(log, notes(120))

    whole = log.records()
    assert log.recent(50) == whole[-50:]
    assert log.recent(7, action="switch") == [r for r in whole if r["action"] == "switch"][-7:]
    assert log.max_seq() == whole[-1]["seq"]

    # The database drops every connection (a failover, a restart): the next poll answers.
    pg_database.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    written(log, notes(1, start=120))
    assert log.recent(1)[0]["message"] == "note 120"
    log.close()
