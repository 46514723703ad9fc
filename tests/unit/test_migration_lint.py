"""The migration lint with the real squawk binary: each kind of finding, its line, and the
statements squawk does not judge reported as unreviewed, never as safe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pmb_console.actions.migration_lint import (
    ADVICE,
    BREAKS,
    LOCKS,
    ROLLBACK_BY_TRAFFIC,
    ROLLBACK_IF_REVIEWED,
    ROLLBACK_NEEDS_RESTORE,
    UNREVIEWED,
    applied_lint,
    last_lint,
    lint_files,
)
from pmb_console.errors import ProviderError
from pmb_console.providers import squawk
from pmb_console.providers.squawk import find_squawk, run_squawk


def write(folder: Path, name: str, sql: str) -> Path:
    path = folder / name
    path.write_text(sql, encoding="utf-8")
    return path


def found(report, kind: str) -> set[tuple[str, int, str]]:
    return {(f.file, f.line, f.rule) for f in report.of_kind(kind)}


BREAKING = """\
SET lock_timeout = '2s';
SET statement_timeout = '30s';
-- the old version still reads email
ALTER TABLE users DROP COLUMN email;
ALTER TABLE users RENAME COLUMN name TO full_name;
ALTER TABLE users
    ALTER COLUMN age TYPE bigint;
ALTER TABLE users ADD COLUMN tenant int NOT NULL;
ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL;
DROP TABLE old_things;
ALTER TABLE users RENAME TO people;
"""

LOCKING = """\
SET lock_timeout = '2s';
SET statement_timeout = '30s';
CREATE INDEX users_age ON users (age);
ALTER TABLE users ADD CONSTRAINT age_positive CHECK (age > 0);
ALTER TABLE users ADD COLUMN code uuid DEFAULT gen_random_uuid();
"""

NO_TIMEOUTS = """\
ALTER TABLE users ADD COLUMN bio text;
"""

SAFE_IN_TRANSACTION = """\
SET lock_timeout = '2s';
SET statement_timeout = '30s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;
ALTER TABLE users ADD CONSTRAINT bio_short CHECK (length(bio) < 500) NOT VALID;
"""

SAFE_CONCURRENT_INDEX = """\
SET lock_timeout = '2s';
SET statement_timeout = '30s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_bio ON users (bio);
"""

UNJUDGED = """\
SET lock_timeout = '2s';
SET statement_timeout = '30s';
/* squawk says nothing about these three */
VACUUM FULL users;
CLUSTER users
  USING users_pkey;
-- a semicolon in a string does not end a statement: ';'
SELECT 'TRUNCATE users;';
TRUNCATE audit_trail;
TRUNCATE orders CASCADE;
"""


def test_breaking_findings_with_their_lines(tmp_path):
    report = lint_files([write(tmp_path, "010_break.sql", BREAKING)])

    assert found(report, BREAKS) == {
        ("010_break.sql", 4, "ban-drop-column"),
        ("010_break.sql", 5, "renaming-column"),
        ("010_break.sql", 7, "changing-column-type"),
        ("010_break.sql", 8, "adding-required-field"),
        ("010_break.sql", 9, "ban-drop-not-null"),
        ("010_break.sql", 10, "ban-drop-table"),
        ("010_break.sql", 11, "renaming-table"),
    }
    assert report.rollback == ROLLBACK_NEEDS_RESTORE
    drop = next(f for f in report.breaking if f.rule == "ban-drop-column")
    assert drop.where == "010_break.sql:4"
    assert "old version" in drop.why and "later" in drop.instead
    rename = next(f for f in report.breaking if f.rule == "renaming-column")
    assert rename.instead.startswith("expand then contract")


def test_locking_findings_are_not_breaking(tmp_path):
    report = lint_files([write(tmp_path, "020_lock.sql", LOCKING)])

    assert found(report, LOCKS) == {
        ("020_lock.sql", 3, "require-concurrent-index-creation"),
        ("020_lock.sql", 4, "constraint-missing-not-valid"),
        ("020_lock.sql", 5, "adding-field-with-default"),
    }
    assert report.breaking == []
    assert report.rollback == ROLLBACK_BY_TRAFFIC
    index = next(f for f in report.of_kind(LOCKS) if f.rule == "require-concurrent-index-creation")
    assert "CONCURRENTLY" in index.instead


def test_missing_timeouts_lock(tmp_path):
    report = lint_files([write(tmp_path, "030_bio.sql", NO_TIMEOUTS)])

    rules = {f.rule for f in report.of_kind(LOCKS)}
    assert {"require-lock-timeout", "require-statement-timeout"} <= rules
    assert all(f.line == 1 for f in report.of_kind(LOCKS))


def test_safe_files_have_neither_breaking_nor_locking_findings(tmp_path):
    files = [
        write(tmp_path, "040_expand.sql", SAFE_IN_TRANSACTION),
        write(tmp_path, "041_index.sql", SAFE_CONCURRENT_INDEX),
    ]

    report = lint_files(files)

    assert report.of_kind(BREAKS) == [] and report.of_kind(LOCKS) == []
    assert report.of_kind(UNREVIEWED) == []
    assert report.files == ("040_expand.sql", "041_index.sql")
    assert report.rollback == ROLLBACK_BY_TRAFFIC


def test_validating_in_the_same_file_is_flagged_because_the_file_is_one_transaction(tmp_path):
    sql = SAFE_IN_TRANSACTION + "ALTER TABLE users VALIDATE CONSTRAINT bio_short;\n"

    report = lint_files([write(tmp_path, "050_validate.sql", sql)])

    assert ("050_validate.sql", 5, "constraint-missing-not-valid") in found(report, LOCKS)


def test_statements_squawk_does_not_judge_are_unreviewed_with_their_lines(tmp_path):
    report = lint_files([write(tmp_path, "060_maintenance.sql", UNJUDGED)])

    assert found(report, UNREVIEWED) == {
        ("060_maintenance.sql", 4, "VACUUM FULL"),
        ("060_maintenance.sql", 5, "CLUSTER"),
        ("060_maintenance.sql", 9, "TRUNCATE"),
    }
    # TRUNCATE ... CASCADE is squawk's to judge, and it breaks the old version.
    assert ("060_maintenance.sql", 10, "ban-truncate-cascade") in found(report, BREAKS)
    truncate = next(f for f in report.of_kind(UNREVIEWED) if f.rule == "TRUNCATE")
    assert "review it by hand" in truncate.message


def test_a_file_squawk_cannot_parse_is_unreviewed_not_safe(tmp_path):
    sql = "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUM x int;\nALTER TABLE users DROP COLUMN email;\n"

    report = lint_files([write(tmp_path, "070_typo.sql", sql)])

    unreviewed = report.of_kind(UNREVIEWED)
    assert unreviewed and all(f.rule == "syntax-error" for f in unreviewed)
    assert unreviewed[0].line == 2
    assert "nothing from here" in unreviewed[0].why


def test_advice_is_kept_apart(tmp_path):
    sql = "SET lock_timeout = '2s';\nSET statement_timeout = '30s';\nALTER TABLE users ADD COLUMN nick varchar(20);\n"

    report = lint_files([write(tmp_path, "080_nick.sql", sql)])

    assert ("080_nick.sql", 3, "prefer-text-field") in found(report, ADVICE)
    assert report.rollback == ROLLBACK_BY_TRAFFIC


NEWER_RULES = """\
SET lock_timeout = '2s';
SET statement_timeout = '30s';
ALTER TYPE mood ADD VALUE 'meh';
ALTER TABLE users ADD COLUMN IF NOT EXISTS code char(4);
"""

UNCOMMITTED = """\
SET lock_timeout = '2s';
SET statement_timeout = '30s';
BEGIN;
ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;
"""


def test_a_squawk_rule_the_console_does_not_know_is_unreviewed_not_advice(tmp_path):
    # Rules of squawk 2.70 this console has no meaning for: shown for review, not as safe.
    report = lint_files(
        [
            write(tmp_path, "090_enum.sql", NEWER_RULES),
            write(tmp_path, "091_begin.sql", UNCOMMITTED),
        ]
    )

    unreviewed = found(report, UNREVIEWED)
    assert ("090_enum.sql", 3, "require-enum-value-ordering") in unreviewed
    assert ("091_begin.sql", 3, "ban-uncommitted-transaction") in unreviewed
    assert ("090_enum.sql", 4, "ban-char-field") in found(report, ADVICE)
    enum = next(f for f in report.findings if f.rule == "require-enum-value-ordering")
    assert "does not classify" in enum.why and enum.instead
    assert report.rollback == ROLLBACK_IF_REVIEWED
    assert "a traffic rollback is enough only if the unreviewed statements" in report.summary()


def test_findings_across_files_keep_file_order(tmp_path):
    files = [
        write(tmp_path, "b_second.sql", NO_TIMEOUTS),
        write(tmp_path, "a_first.sql", BREAKING),
    ]

    report = lint_files(files)

    order = [f.file for f in report.findings]
    assert order.index("a_first.sql") > order.index("b_second.sql")  # as given, not sorted by name


def test_the_record_for_the_audit_and_the_rollback_assessment(tmp_path):
    report = lint_files([write(tmp_path, "010_break.sql", BREAKING)])
    doc = report.as_dict("v1.2.0")

    assert doc["release"] == "v1.2.0" and doc["rollback"] == ROLLBACK_NEEDS_RESTORE
    assert doc["counts"][BREAKS] == 7
    records = [
        {
            "action": "migration-lint",
            "lint": {"release": "v1.1.0", "files": ["001.sql"], "rollback": ROLLBACK_BY_TRAFFIC},
        },
        {"action": "migrate", "outcome": "succeeded", "plan": {"data": {"lint": doc}}},
        {"action": "switch", "plan": {"data": {}}},
        # a later --lint-only with nothing pending lints no file: it says nothing
        {"action": "migration-lint", "lint": {**doc, "files": [], "findings": []}},
    ]
    assert last_lint(records, "v1.2.0")["rollback"] == ROLLBACK_NEEDS_RESTORE
    assert last_lint(records, "v1.1.0")["rollback"] == ROLLBACK_BY_TRAFFIC
    assert last_lint(records, "v9") is None


def _migrate(outcome: str, lint: dict, environment: str = "production") -> dict:
    return {
        "action": "migrate",
        "outcome": outcome,
        "environment": environment,
        "plan": {"data": {"lint": lint}},
    }


def test_the_assessment_reads_the_lint_of_the_files_migrate_ran(tmp_path):
    breaking = lint_files([write(tmp_path, "010_break.sql", BREAKING)]).as_dict("v1.2.0")
    safe = lint_files([write(tmp_path, "020_bio.sql", NO_TIMEOUTS)]).as_dict("v1.2.0")
    nothing = lint_files([]).as_dict("v1.2.0")
    records = [
        _migrate("refused", breaking),  # refused: ran nothing
        {"action": "migration-lint", "lint": breaking},  # --lint-only: ran nothing
        _migrate("started", safe, environment="staging"),  # another environment
    ]
    assert applied_lint(records, "v1.2.0", "production") is None

    records += [
        _migrate("started", breaking),
        _migrate("succeeded", breaking),
        _migrate("started", safe),  # a later run of a safe file
        {"action": "migration-lint", "lint": nothing},
        _migrate("started", nothing),
    ]
    merged = applied_lint(records, "v1.2.0", "production")
    assert merged is not None
    assert merged["files"] == ["010_break.sql", "020_bio.sql"]
    assert merged["rollback"] == ROLLBACK_NEEDS_RESTORE
    assert merged["counts"][BREAKS] == 7  # each finding once, though two records hold it
    assert applied_lint(records, "v1.3.0", "production") is None


def test_squawk_lines_are_made_one_based(tmp_path):
    path = write(tmp_path, "one.sql", "ALTER TABLE t DROP COLUMN c;\n")

    (drop,) = [f for f in run_squawk([path], in_transaction=True) if f.rule == "ban-drop-column"]

    assert drop.line == 1 and drop.file == path


def test_squawk_is_found_beside_the_python_running_the_console():
    assert Path(find_squawk()).parent == Path(sys.executable).parent


def test_a_missing_squawk_is_a_clear_error(tmp_path, monkeypatch):
    # No squawk beside this (pretend) interpreter and none on PATH.
    monkeypatch.setattr(squawk.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(ProviderError) as caught:
        lint_files([write(tmp_path, "x.sql", NO_TIMEOUTS)])

    assert "squawk is not installed" in caught.value.message
    assert "pip install squawk-cli" in caught.value.hint


def test_a_squawk_that_cannot_run_is_a_clear_error(tmp_path):
    path = write(tmp_path, "x.sql", NO_TIMEOUTS)

    with pytest.raises(ProviderError) as caught:
        run_squawk([path], in_transaction=True, program=str(tmp_path / "no-such-squawk"))

    assert "cannot be run" in caught.value.message


def test_an_answer_that_is_not_findings_is_a_clear_error(tmp_path):
    path = write(tmp_path, "x.sql", NO_TIMEOUTS)

    with pytest.raises(ProviderError) as caught:
        run_squawk([path], in_transaction=True, program="/bin/false")

    assert "squawk failed (exit 1)" in caught.value.message
