"""The war room's shared state in PostgreSQL: one audit log, one lock, one live feed.

With `[audit] dsn_env` set, every console on every laptop writes its audit records to
one table, takes one advisory lock before a change, and hears every other console's
actions through LISTEN/NOTIFY.

- The audit table is append-only and hash-chained: a BEFORE INSERT trigger links each
  row to the previous one (SHA-256 over the previous hash and the record's canonical
  jsonb text) under a transaction-level advisory lock, so the chain has one order even
  when consoles write at once. The writer role needs INSERT and SELECT only.
- The lock is `pg_try_advisory_lock` on a dedicated, direct connection (a
  transaction-pooling proxy would hand the session lock to someone else's connection);
  a row beside it names the holder for everyone's header.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

import psycopg

from pmb_console.audit import AuditLog
from pmb_console.errors import LockHeld, ProviderError
from pmb_console.locking import Lock, LockHolder, new_lock_id, refuse_for_deliberate
from pmb_console.providers.postgres import connect
from pmb_console.redact import redact

ACTION_LOCK_KEY = 0x504D4201  # "PMB\x01": the advisory lock every console takes before a change
CHAIN_LOCK_KEY = 0x504D4202  # serialises the hash chain inside the insert trigger
JIRA_MIGRATE_LOCK_KEY = 0x504D4203  # one JIRA migration at a time, apart from the action lock
CHANNEL = "pmb_console_audit"
LOCK_HOLDER_LOOKS = 10

SCHEMA_VERSION = 2
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS pmb_console_schema (version int PRIMARY KEY, applied_at timestamptz DEFAULT now());
CREATE SEQUENCE IF NOT EXISTS pmb_audit_seq;
CREATE TABLE IF NOT EXISTS pmb_audit (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    record jsonb NOT NULL,
    prev_hash text NOT NULL DEFAULT '',
    hash text NOT NULL DEFAULT ''
);
CREATE OR REPLACE FUNCTION pmb_audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE last text;
BEGIN
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
    NEW.seq := nextval('pmb_audit_seq');
    SELECT hash INTO last FROM pmb_audit ORDER BY seq DESC LIMIT 1;
    NEW.prev_hash := coalesce(last, '');
    NEW.hash := encode(sha256(convert_to(NEW.prev_hash || NEW.record::text, 'UTF8')), 'hex');
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION pmb_audit_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', json_build_object(
        'seq', NEW.seq, 'action', NEW.record->>'action',
        'outcome', NEW.record->>'outcome', 'operator', NEW.record->>'operator')::text);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS pmb_audit_chain ON pmb_audit;
CREATE TRIGGER pmb_audit_chain BEFORE INSERT ON pmb_audit FOR EACH ROW EXECUTE FUNCTION pmb_audit_chain();
DROP TRIGGER IF EXISTS pmb_audit_notify ON pmb_audit;
CREATE TRIGGER pmb_audit_notify AFTER INSERT ON pmb_audit FOR EACH ROW EXECUTE FUNCTION pmb_audit_notify();
CREATE TABLE IF NOT EXISTS pmb_console_lock (
    kind text PRIMARY KEY CHECK (kind IN ('action', 'deliberate')),
    holder jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS pmb_audit_by_action ON pmb_audit ((record->>'action'), seq);
CREATE TABLE IF NOT EXISTS pmb_console_task_lock (
    name text PRIMARY KEY,
    holder jsonb NOT NULL
);
INSERT INTO pmb_console_schema (version) VALUES ({SCHEMA_VERSION}) ON CONFLICT DO NOTHING;
"""


def ensure_schema(dsn: str, connect_timeout: int = 5) -> None:
    """Create the shared tables once; safe when many consoles start together."""
    with connect(dsn, autocommit=False, connect_timeout=connect_timeout) as conn:
        done = conn.execute("SELECT to_regclass('pmb_console_schema') IS NOT NULL").fetchone()
        if done and done[0]:
            row = conn.execute("SELECT max(version) FROM pmb_console_schema").fetchone()
            if row and row[0] and row[0] >= SCHEMA_VERSION:
                return
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK_KEY,))
        conn.execute(SCHEMA)
        conn.commit()


def _db_error(exc: psycopg.Error, doing: str) -> ProviderError:
    return ProviderError(
        redact(
            f"the shared audit database failed while {doing}: {str(exc).strip().splitlines()[0]}"
        ),
        "check [audit] dsn_env's database; changes are refused until the shared lock can be taken",
    )


class _SharedDatabase:
    """A direct connection to the war room's database, its tables made on first use."""

    def __init__(self, dsn: str, connect_timeout: int = 5) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._ready = False

    def _conn(self) -> psycopg.Connection:
        if not self._ready:
            ensure_schema(self.dsn, self.connect_timeout)
            self._ready = True
        return connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout)


def canonical_hash(prev_hash: str, record_text: str) -> str:
    return hashlib.sha256((prev_hash + record_text).encode()).hexdigest()


class PgAuditLog(_SharedDatabase, AuditLog):
    def __init__(self, dsn: str, connect_timeout: int = 5) -> None:
        super().__init__(dsn, connect_timeout)
        self._reader: psycopg.Connection | None = None
        self._reader_lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        text = redact(json.dumps(record, sort_keys=True, default=str))
        try:
            with self._conn() as conn:
                conn.execute("INSERT INTO pmb_audit (record) VALUES (%s::jsonb)", (text,))
        except psycopg.Error as exc:
            raise _db_error(exc, "writing the audit log") from None

    def records(self, since: datetime | None = None, after_seq: int = 0) -> list[dict[str, Any]]:
        query = "SELECT seq, record FROM pmb_audit WHERE seq > %s"
        params: list[Any] = [after_seq]
        if since is not None:
            query += " AND (record->>'time')::timestamptz >= %s"
            params.append(since)
        try:
            with self._conn() as conn:
                rows = conn.execute(query + " ORDER BY seq", params).fetchall()
        except psycopg.Error as exc:
            raise _db_error(exc, "reading the audit log") from None
        return [{**record, "seq": seq} for seq, record in rows]

    def recent(self, n: int, action: str | None = None) -> list[dict[str, Any]]:
        """The last `n` rows (of `action` only, if given), oldest first, read from the end
        of the table by its key: the cost does not grow with the log."""
        if n <= 0:
            return []
        where = "WHERE record->>'action' = %s " if action is not None else ""
        params: list[Any] = [action] if action is not None else []
        query = (
            f"SELECT seq, record FROM (SELECT seq, record FROM pmb_audit {where}"
            "ORDER BY seq DESC LIMIT %s) AS tail ORDER BY seq"
        )
        rows = self._read(query, [*params, n], "reading the audit log")
        return [{**record, "seq": seq} for seq, record in rows]

    def max_seq(self) -> int:
        """The sequence number of the last row written; 0 for an empty log."""
        rows = self._read(
            "SELECT coalesce(max(seq), 0) FROM pmb_audit", [], "reading the audit log"
        )
        return int(rows[0][0])

    def _read(self, query: str, params: list[Any], doing: str) -> list[Any]:
        """A read on one kept connection (a poll a second must not connect a second): a
        connection found broken is replaced once before the fault is reported."""
        with self._reader_lock:
            for attempt in (1, 2):
                fresh = self._reader is None
                try:
                    if self._reader is None:
                        self._reader = self._conn()
                    return self._reader.execute(query, params).fetchall()
                except psycopg.Error as exc:
                    self.close()
                    if fresh or attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                        raise _db_error(exc, doing) from None
            raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the kept reading connection, if any (the next read opens another)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except psycopg.Error:
                pass

    def verify(self) -> tuple[int, str | None]:
        """Walk the chain; returns (rows checked, description of the first bad row or None)."""
        prev = ""
        checked = 0
        try:
            with (
                self._conn() as conn,
                conn.transaction(),
                conn.cursor(name="pmb_audit_verify") as cur,
            ):
                cur.execute("SELECT seq, record::text, prev_hash, hash FROM pmb_audit ORDER BY seq")
                for seq, text, prev_hash, stored in cur:
                    if prev_hash != prev:
                        return (
                            checked,
                            f"row {seq}: its link to the previous row is broken (a row before it was removed or changed)",
                        )
                    if canonical_hash(prev_hash, text) != stored:
                        return (
                            checked,
                            f"row {seq}: its content does not match its hash (it was edited)",
                        )
                    prev = stored
                    checked += 1
        except psycopg.Error as exc:
            raise _db_error(exc, "verifying the audit log") from None
        return checked, None


class PgLock(_SharedDatabase, Lock):
    def _row(self, conn: psycopg.Connection, kind: str) -> LockHolder | None:
        row = conn.execute(
            "SELECT holder FROM pmb_console_lock WHERE kind = %s", (kind,)
        ).fetchone()
        return LockHolder(**row[0]) if row else None

    @contextmanager
    def hold(self, holder: LockHolder) -> Iterator[None]:
        try:
            conn = self._conn()
        except ProviderError as exc:
            raise ProviderError(
                f"the shared lock cannot be taken: {exc.message}", exc.hint
            ) from None
        try:
            refuse_for_deliberate(self._row(conn, "deliberate"), holder.operator)
            self._acquire(conn)
            conn.execute(
                "INSERT INTO pmb_console_lock (kind, holder) VALUES ('action', %s::jsonb) "
                "ON CONFLICT (kind) DO UPDATE SET holder = EXCLUDED.holder",
                (json.dumps(asdict(holder)),),
            )
            try:
                yield
            finally:
                try:
                    conn.execute("DELETE FROM pmb_console_lock WHERE kind = 'action'")
                    conn.execute("SELECT pg_advisory_unlock(%s)", (ACTION_LOCK_KEY,))
                except psycopg.Error:
                    pass  # the lock dies with the connection, closed below
        except psycopg.Error as exc:
            raise _db_error(exc, "taking the shared lock") from None
        finally:
            conn.close()

    def _acquire(self, conn: psycopg.Connection) -> None:
        """Take the advisory lock, or raise LockHeld naming who has it.

        The holder writes its row just after taking the lock, so a loser may look in
        between: it looks again for up to a second rather than say "someone".
        """
        for _ in range(LOCK_HOLDER_LOOKS):
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (ACTION_LOCK_KEY,)).fetchone()
            if got and got[0]:
                return
            current = self._row(conn, "action")
            if current is not None:
                raise LockHeld(
                    f"another operator holds the lock: {current.describe()}",
                    "wait for their action to finish, or talk to them",
                )
            time.sleep(0.1)
        raise LockHeld(
            "another console holds the lock and has not said who",
            "wait for its action to finish; `pmb-console status` shows the holder",
        )

    def holder(self) -> LockHolder | None:
        try:
            with self._conn() as conn:
                # Looked up, not probed: taking the lock to test it made every other
                # console polling at that instant see a holder that was only this look.
                held = conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND classid = %s AND objid = %s AND objsubid = 1)",
                    (ACTION_LOCK_KEY >> 32, ACTION_LOCK_KEY & 0xFFFFFFFF),
                ).fetchone()
                if not (held and held[0]):
                    return self._row(conn, "deliberate")
                return self._row(conn, "action") or LockHolder("?", "?", 0, "?", "?")
        except psycopg.Error as exc:
            raise _db_error(exc, "reading the lock") from None

    def deliberate(self) -> LockHolder | None:
        try:
            with self._conn() as conn:
                return self._row(conn, "deliberate")
        except psycopg.Error as exc:
            raise _db_error(exc, "reading the lock") from None

    def take(self, holder: LockHolder) -> LockHolder:
        try:
            with self._conn() as conn, conn.transaction():
                conn.execute("LOCK TABLE pmb_console_lock IN SHARE ROW EXCLUSIVE MODE")
                current = self._row(conn, "deliberate")
                if current is not None and current.operator != holder.operator:
                    raise LockHeld(f"changes are already locked by {current.describe()}")
                taken = LockHolder(
                    **{
                        **asdict(holder),
                        "deliberate": True,
                        "lock_id": current.lock_id if current else new_lock_id(),
                    }
                )
                conn.execute(
                    "INSERT INTO pmb_console_lock (kind, holder) VALUES ('deliberate', %s::jsonb) "
                    "ON CONFLICT (kind) DO UPDATE SET holder = EXCLUDED.holder",
                    (json.dumps(asdict(taken)),),
                )
                return taken
        except psycopg.Error as exc:
            raise _db_error(exc, "taking the deliberate lock") from None

    def release(self, lock_id: str | None, operator: str, *, force: bool = False) -> LockHolder:
        try:
            with self._conn() as conn, conn.transaction():
                current = self.check_release(
                    self._row(conn, "deliberate"), lock_id, operator, force
                )
                conn.execute("DELETE FROM pmb_console_lock WHERE kind = 'deliberate'")
                return current
        except psycopg.Error as exc:
            raise _db_error(exc, "releasing the deliberate lock") from None


class PgTaskLock(_SharedDatabase):
    """A lock of its own for long work that must not run twice at once yet must never hold
    up a rollback (a JIRA migration): its own advisory key, its holder in a row by name.

    A deliberate lock (`pmb-console lock`) still refuses it, like any change."""

    def __init__(self, dsn: str, connect_timeout: int, key: int, name: str, what: str) -> None:
        super().__init__(dsn, connect_timeout)
        self.key = key
        self.name = name
        self.what = what

    @contextmanager
    def hold(self, holder: LockHolder) -> Iterator[None]:
        try:
            conn = self._conn()
        except ProviderError as exc:
            raise ProviderError(f"{self.what} cannot be taken: {exc.message}", exc.hint) from None
        try:
            row = conn.execute(
                "SELECT holder FROM pmb_console_lock WHERE kind = 'deliberate'"
            ).fetchone()
            refuse_for_deliberate(LockHolder(**row[0]) if row else None, holder.operator)
            self._acquire(conn)
            conn.execute(
                "INSERT INTO pmb_console_task_lock (name, holder) VALUES (%s, %s::jsonb) "
                "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder",
                (self.name, json.dumps(asdict(holder))),
            )
            try:
                yield
            finally:
                try:
                    conn.execute("DELETE FROM pmb_console_task_lock WHERE name = %s", (self.name,))
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
                except psycopg.Error:
                    pass  # the lock dies with the connection, closed below
        except psycopg.Error as exc:
            raise _db_error(exc, f"taking {self.what}") from None
        finally:
            conn.close()

    def _acquire(self, conn: psycopg.Connection) -> None:
        """Take the advisory lock, or raise LockHeld naming who has it (looking again for
        up to a second while the holder writes its row)."""
        for _ in range(LOCK_HOLDER_LOOKS):
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            if got and got[0]:
                return
            row = conn.execute(
                "SELECT holder FROM pmb_console_task_lock WHERE name = %s", (self.name,)
            ).fetchone()
            if row:
                raise LockHeld(
                    f"another operator holds {self.what}: {LockHolder(**row[0]).describe()}",
                    "wait for their run to finish, or talk to them",
                )
            time.sleep(0.1)
        raise LockHeld(
            f"another console holds {self.what} and has not said who",
            "wait for its run to finish",
        )


class AuditFeed:
    """LISTENs for other consoles' actions in a thread; reconnects with backoff.

    `on_records(records)` gets every audit record written after the feed started
    (fetched by seq, so nothing is missed across a reconnect; what was written before is
    the console's to read, by `recent`); `on_status(connected, message)` hears the
    connection come and go. Both are called from the feed's thread.
    """

    def __init__(
        self,
        log: PgAuditLog,
        on_records: Callable[[list[dict[str, Any]]], None],
        on_status: Callable[[bool, str], None],
        max_backoff: float = 30.0,
    ) -> None:
        self.log = log
        self.on_records = on_records
        self.on_status = on_status
        self.max_backoff = max_backoff
        self.last_seq: int | None = None
        """The last seq handed on; None until the first connection reads where the log ends."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pmb-audit-feed", daemon=True)
        self._conn: psycopg.Connection | None = None

    def start(self, from_seq: int | None = None) -> None:
        if from_seq is not None:
            self.last_seq = from_seq
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.cancel_safe(timeout=1)
            except Exception:
                pass
        self._thread.join(timeout=5)

    def _catch_up(self) -> None:
        records = self.log.records(after_seq=self.last_seq or 0)
        if records:
            self.last_seq = records[-1]["seq"]
            self.on_records(records)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._conn = self.log._conn()
                with self._conn as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if self.last_seq is None:  # LISTENing already: what comes next is heard
                        self.last_seq = self.log.max_seq()
                    self.on_status(True, "shared audit log connected")
                    backoff = 1.0
                    self._catch_up()
                    while not self._stop.is_set():
                        got = False
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            got = True
                        if got:
                            self._catch_up()
                        conn.execute("SELECT 1")  # notices a dead connection within a second
            except (psycopg.Error, ProviderError) as exc:
                if self._stop.is_set():
                    break
                message = (
                    exc.message
                    if isinstance(exc, ProviderError)
                    else redact(
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    )
                )
                self.on_status(
                    False, f"shared audit log lost: {message}; retrying in {backoff:.0f} s"
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self._conn = None
