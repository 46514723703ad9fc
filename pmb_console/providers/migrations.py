"""Schema migrations: *.sql files applied in name order, each in its own transaction.

A file is split into statements here (quotes, dollar quotes, comments and BEGIN ATOMIC
bodies respected) and run one statement at a time, so a failure can be pinned to the
line of the statement that failed even when PostgreSQL reports no position (a
constraint violation, a lock timeout). Applied files are recorded, with their sha256, in
`pmb_schema_migrations`; a recorded file whose content later changed is refused, because
the database no longer matches what the file now says.

A file holding a statement PostgreSQL cannot run inside a transaction (CREATE INDEX
CONCURRENTLY, VACUUM) runs outside one, statement by statement: such a file can stop part
way, which the error then says. A failed CREATE INDEX CONCURRENTLY leaves an invalid index
behind; `invalid_indexes` names them.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from pmb_console.config import Config
from pmb_console.errors import ProviderError
from pmb_console.providers.base import ProgressFn, no_progress
from pmb_console.providers.postgres import connect, dsn_from_env
from pmb_console.redact import redact

TABLE = "pmb_schema_migrations"
ADVISORY_LOCK_KEY = 0x706D625F6D6967  # "pmb_mig": one migrator at a time per database
PROGRESS_EVERY_S = 0.25

_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name        text PRIMARY KEY,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_s  double precision NOT NULL,
    operator    text NOT NULL
)
"""

_OUTSIDE_TRANSACTION = re.compile(
    r"^(CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b"
    r"|DROP\s+INDEX\s+CONCURRENTLY\b"
    r"|REINDEX\b[^;]*\bCONCURRENTLY\b"
    r"|ALTER\s+TABLE\b[^;]*\bDETACH\s+PARTITION\b[^;]*\bCONCURRENTLY\b"
    r"|VACUUM\b)",
    re.I,
)
"""Statements PostgreSQL refuses inside a transaction block."""

_TRANSACTION_CONTROL = re.compile(
    r"^(BEGIN|COMMIT|ROLLBACK|END|START\s+TRANSACTION|ABORT|SAVEPOINT|RELEASE)\b", re.I
)


@dataclass(frozen=True)
class MigrationFile:
    """A *.sql file in migrations_dir, as it is on disk now."""

    name: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class AppliedMigration:
    """A row of pmb_schema_migrations."""

    name: str
    sha256: str
    applied_at: datetime
    duration_s: float
    operator: str


@dataclass(frozen=True)
class ChangedMigration:
    """An applied file whose content no longer matches what was applied."""

    name: str
    applied_sha256: str
    current_sha256: str


@dataclass(frozen=True)
class InvalidIndex:
    """An index PostgreSQL keeps but does not use (pg_index.indisvalid is false)."""

    schema: str
    name: str
    table: str

    def describe(self) -> str:
        return f"{self.schema}.{self.name} on {self.table}"


@dataclass(frozen=True)
class Statement:
    text: str
    line: int
    """1-based line of the file where the statement's first token is."""


class Migrator:
    def __init__(self, config: Config) -> None:
        db = config.database
        self.dsn = dsn_from_env(db.dsn_env)
        self.connect_timeout = db.connect_timeout
        self.directory = Path(os.path.expanduser(db.migrations_dir)).absolute()
        self.lock_timeout = db.lock_timeout
        self.statement_timeout = db.statement_timeout

    # --- reading -------------------------------------------------------------------

    def files(self) -> list[MigrationFile]:
        """Every *.sql file of migrations_dir, in name order."""
        if not self.directory.is_dir():
            raise ProviderError(
                f"the migrations directory {self.directory} does not exist",
                "set [database] migrations_dir to the directory holding the *.sql files",
            )
        found = []
        for path in sorted(self.directory.glob("*.sql"), key=lambda p: p.name):
            content = path.read_bytes()
            _refuse_non_utf8(path, content)
            found.append(MigrationFile(path.name, path, _sha256(content)))
        return found

    def applied(self) -> list[AppliedMigration]:
        """What pmb_schema_migrations records, in name order; empty before the first run."""
        with self._connect() as conn:
            return _applied(conn)

    def pending(self) -> list[MigrationFile]:
        done = {m.name for m in self.applied()}
        return [f for f in self.files() if f.name not in done]

    def changed(self) -> list[ChangedMigration]:
        recorded = {m.name: m for m in self.applied()}
        return [
            ChangedMigration(f.name, recorded[f.name].sha256, f.sha256)
            for f in self.files()
            if f.name in recorded and recorded[f.name].sha256 != f.sha256
        ]

    def invalid_indexes(self) -> list[InvalidIndex]:
        """Indexes left invalid, typically by a CREATE INDEX CONCURRENTLY that failed."""
        with self._connect() as conn:
            rows = conn.execute(
                """
                SELECT n.nspname, c.relname, t.relname
                  FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_class t ON t.oid = i.indrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE NOT i.indisvalid
                 ORDER BY 1, 2
                """
            ).fetchall()
        return [InvalidIndex(*row) for row in rows]

    # --- doing ---------------------------------------------------------------------

    def apply(
        self, file: MigrationFile, operator: str, progress: ProgressFn = no_progress
    ) -> float:
        """Run one file in its own transaction and record it; returns the seconds it took.

        On any error the transaction is rolled back, so nothing of the file remains, and
        ProviderError names the file, the line of the failing statement and PostgreSQL's
        message.
        """
        sql = file.path.read_bytes()
        if _sha256(sql) != file.sha256:
            raise ProviderError(
                f"migration {file.name} changed on disk since it was planned",
                "run migrate again to plan with the file as it is now",
            )
        text = sql.decode("utf-8")
        statements = split_statements(text)
        _refuse_transaction_control(file, statements)
        if runs_outside_transaction(statements):
            return self._apply_outside_transaction(file, statements, operator, progress)
        started = time.monotonic()
        with self._connect() as conn:
            conn.execute(_CREATE_TABLE)
            conn.commit()
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
                    self._set_timeouts(conn)
                    if conn.execute(
                        f"SELECT 1 FROM {TABLE} WHERE name = %s", (file.name,)
                    ).fetchone():
                        raise ProviderError(
                            f"migration {file.name} was applied meanwhile by someone else",
                            "run migrate again to see what is still pending",
                        )
                    reported = 0.0
                    for number, statement in enumerate(statements, start=1):
                        if time.monotonic() - reported >= PROGRESS_EVERY_S:
                            reported = time.monotonic()
                            progress(
                                f"{file.name}: statement {number} of {len(statements)} (line {statement.line})",
                                (number - 1) / len(statements),
                            )
                        self._run(conn, file, statement)
                    duration = time.monotonic() - started
                    conn.execute(
                        f"INSERT INTO {TABLE} (name, sha256, duration_s, operator) VALUES (%s, %s, %s, %s)",
                        (file.name, file.sha256, duration, operator),
                    )
            except psycopg.OperationalError as exc:  # the connection itself broke
                raise ProviderError(
                    f"migration {file.name}: lost the database connection: {redact(str(exc).strip())}",
                    "nothing of this file was kept unless it is listed as applied; check the database",
                ) from None
        progress(f"{file.name}: applied in {duration:.2f} s", 1.0)
        return duration

    def _apply_outside_transaction(
        self,
        file: MigrationFile,
        statements: list[Statement],
        operator: str,
        progress: ProgressFn,
    ) -> float:
        """Run a file holding e.g. CREATE INDEX CONCURRENTLY: each statement commits alone."""
        started = time.monotonic()
        done = 0
        with connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout) as conn:
            conn.execute(_CREATE_TABLE)
            # A session lock, since there is no transaction to hold one; released on close.
            conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            try:
                self._set_timeouts(conn, local=False)
                if conn.execute(f"SELECT 1 FROM {TABLE} WHERE name = %s", (file.name,)).fetchone():
                    raise ProviderError(
                        f"migration {file.name} was applied meanwhile by someone else",
                        "run migrate again to see what is still pending",
                    )
                for number, statement in enumerate(statements, start=1):
                    progress(
                        f"{file.name}: statement {number} of {len(statements)} (line {statement.line}, "
                        "outside a transaction)",
                        (number - 1) / len(statements),
                    )
                    try:
                        self._run(conn, file, statement)
                    except ProviderError as exc:
                        kept = (
                            f"the {done} statement(s) before line {statement.line} were applied and "
                            "stay (this file runs outside a transaction)"
                            if done
                            else "nothing of it was applied"
                        )
                        raise ProviderError(
                            exc.message,
                            f"{kept}; no later file ran; fix the file (IF NOT EXISTS makes a rerun "
                            "safe) and run migrate again",
                        ) from None
                    done += 1
                duration = time.monotonic() - started
                conn.execute(
                    f"INSERT INTO {TABLE} (name, sha256, duration_s, operator) VALUES (%s, %s, %s, %s)",
                    (file.name, file.sha256, duration, operator),
                )
            except psycopg.OperationalError as exc:
                raise ProviderError(
                    f"migration {file.name}: lost the database connection: {redact(str(exc).strip())}",
                    "this file runs outside a transaction, so part of it may have been applied; "
                    "check the database",
                ) from None
            finally:
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        progress(f"{file.name}: applied in {duration:.2f} s", 1.0)
        return duration

    # --- helpers -------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        return connect(self.dsn, connect_timeout=self.connect_timeout)

    def _set_timeouts(self, conn: psycopg.Connection, *, local: bool = True) -> None:
        for setting, value, key in (
            ("lock_timeout", self.lock_timeout, "lock_timeout"),
            ("statement_timeout", self.statement_timeout, "statement_timeout"),
        ):
            try:
                with conn.transaction():  # a savepoint, so a bad value reads as a config error
                    conn.execute("SELECT set_config(%s, %s, %s)", (setting, value, local))
            except psycopg.errors.InvalidParameterValue as exc:
                raise ProviderError(
                    f"[database] {key} = {value!r} is not a PostgreSQL duration: {exc.diag.message_primary}",
                    'use a value like "5s" or "5min"',
                ) from None

    def _run(self, conn: psycopg.Connection, file: MigrationFile, statement: Statement) -> None:
        try:
            conn.execute(statement.text)  # no parameters: sent as-is, % signs untouched
        except psycopg.Error as exc:
            if conn.broken:
                raise
            line = statement.line
            position = exc.diag.statement_position
            if position:
                # PostgreSQL counts characters from 1 within the statement it was sent.
                line += statement.text[: int(position) - 1].count("\n")
            said = exc.diag.message_primary or str(exc).splitlines()[0]
            detail = f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""
            raise ProviderError(
                redact(f"migration {file.name} failed at line {line}: {said}{detail}"),
                f"nothing of {file.name} was applied (rolled back) and no later file ran; "
                "fix the file and run migrate again",
            ) from None


def _applied(conn: psycopg.Connection) -> list[AppliedMigration]:
    exists = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
    if not exists or exists[0] is None:
        return []
    rows = conn.execute(
        f"SELECT name, sha256, applied_at, duration_s, operator FROM {TABLE} ORDER BY name"
    ).fetchall()
    return [AppliedMigration(*row) for row in rows]


def runs_outside_transaction(statements: list[Statement]) -> bool:
    """Does the file hold a statement PostgreSQL cannot run inside a transaction block?"""
    return any(_OUTSIDE_TRANSACTION.match(s.text.lstrip()) for s in statements)


def _refuse_transaction_control(file: MigrationFile, statements: list[Statement]) -> None:
    for statement in statements:
        control = _TRANSACTION_CONTROL.match(statement.text.lstrip())
        if control:
            raise ProviderError(
                f"migration {file.name} line {statement.line}: "
                f"{control.group(1).upper()} is not allowed in a migration file",
                "each file already runs in its own transaction; remove BEGIN/COMMIT from it",
            )


def _refuse_non_utf8(path: Path, content: bytes) -> None:
    """PostgreSQL and the linter read migrations as UTF-8: a file in another encoding is
    named here, with where its first undecodable byte is, before anything reads it."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise ProviderError(
            f"migration {path.name} is not UTF-8 text: byte 0x{content[exc.start]:02x} "
            f"on line {line} cannot be read; nothing was run",
            f"save {path} as UTF-8 (from Latin-1, say: iconv -f latin1 -t utf-8)",
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- splitting SQL into statements -----------------------------------------------------

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_ROUTINE = re.compile(r"^CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\b", re.I)


def split_statements(sql: str) -> list[Statement]:
    """Split SQL text at top-level semicolons, as psql does.

    Semicolons inside '...' / E'...' strings, "identifiers", $tag$ bodies, -- and
    /* nested */ comments, and the BEGIN ... END of a `BEGIN ATOMIC` routine body do not
    end a statement. Statements holding nothing but comments are dropped.
    """
    statements: list[Statement] = []
    start = 0
    depth = 0  # BEGIN/CASE nesting inside a CREATE FUNCTION/PROCEDURE, as psql counts it
    i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif c == "'":
            escaped = (
                i > 0
                and sql[i - 1] in "eE"
                and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            )
            i = _skip_quoted(sql, i, "'", backslash=escaped)
        elif c == '"':
            i = _skip_quoted(sql, i, '"', backslash=False)
        elif (
            c == "$"
            and (m := _DOLLAR_TAG.match(sql, i))
            and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_"))
        ):
            end = sql.find(m.group(0), m.end())
            i = n if end < 0 else end + len(m.group(0))
        elif c.isalpha() or c == "_":
            m = _WORD.match(sql, i)
            assert m is not None
            word = m.group(0).upper()
            if word in ("BEGIN", "CASE") and _ROUTINE.match(_code_of(sql[start:i])):
                depth += 1
            elif word == "END" and depth > 0:
                depth -= 1
            i = m.end()
        elif c == ";" and depth == 0:
            _add(statements, sql, start, i + 1)
            start = i + 1
            i += 1
        else:
            i += 1
    _add(statements, sql, start, n)
    return statements


def _add(statements: list[Statement], sql: str, start: int, end: int) -> None:
    chunk = sql[start:end]
    code = _code_of(chunk)
    if not code or code == ";":
        return
    # The statement starts at its first token, after any leading blank lines and comments.
    offset = start + _leading_noise(chunk)
    statements.append(Statement(sql[offset:end], sql.count("\n", 0, offset) + 1))


def _leading_noise(chunk: str) -> int:
    i = 0
    while i < len(chunk):
        if chunk[i].isspace():
            i += 1
        elif chunk.startswith("--", i):
            end = chunk.find("\n", i)
            i = len(chunk) if end < 0 else end + 1
        elif chunk.startswith("/*", i):
            i = _skip_block_comment(chunk, i)
        else:
            break
    return i


def _code_of(chunk: str) -> str:
    """The chunk without its leading whitespace and comments."""
    return chunk[_leading_noise(chunk) :].strip()


def _skip_block_comment(sql: str, i: int) -> int:
    depth = 0
    n = len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _skip_quoted(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    i += 1
    n = len(sql)
    while i < n:
        c = sql[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and sql[i + 1] == quote:  # a doubled quote stands for itself
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n
