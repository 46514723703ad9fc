"""Snapshots as `pg_dump -Fc` files with a JSON manifest beside each, restored with pg_restore.

A snapshot is two files in backup_dir: `<id>.dump` and `<id>.json`. The manifest is
written last, so a snapshot without one never finished and is not listed. The row counts
in the manifest are read inside the very transaction snapshot pg_dump dumps (exported
with pg_export_snapshot), so after a restore they must match exactly.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg

from pmb_console.config import Config
from pmb_console.errors import ProviderError
from pmb_console.providers.base import (
    ProgressFn,
    RestoreResult,
    SnapshotInfo,
    SnapshotStore,
    StoreCheck,
    no_progress,
)
from pmb_console.providers.postgres import (
    child_env_and_dbname,
    connect,
    describe,
    dsn_from_env,
    table_row_counts,
)
from pmb_console.redact import redact

MANIFEST_FORMAT = 1
PROGRESS_EVERY_S = 0.25
"""How often a running dump or restore reports progress."""
COUNT_ITEMS_AFTER_S = 1.0
"""A restore running longer than this learns its item count, for a progress fraction."""

_SNAPSHOT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
_RESTORE_STEP = re.compile(r"^pg_restore: (processing|finished) item ")


class PgDumpSnapshotStore(SnapshotStore):
    name = "pg_dump"

    def __init__(self, config: Config) -> None:
        db = config.database
        self.dsn = dsn_from_env(db.dsn_env)
        self.dsn_env = db.dsn_env
        self.connect_timeout = db.connect_timeout
        self.backup_dir = Path(os.path.expanduser(db.pg_dump.backup_dir))
        self.jobs = db.pg_dump.jobs
        self.pg_dump_program = db.pg_dump.pg_dump
        self.pg_restore_program = db.pg_dump.pg_restore

    INTEGRITY = "sha256 of the file equals the manifest's"

    def restore_steps(self, snapshot: SnapshotInfo) -> tuple[str, ...]:
        tables = snapshot.manifest.get("table_row_counts", {})
        return (
            f"restore {snapshot.id} ({_human(snapshot.size_bytes)}) into {self.describe_target()}: "
            "pg_restore --clean drops and recreates every object it holds",
            f"compare the row counts of {len(tables)} tables with the snapshot's manifest",
        )

    def describe_target(self) -> str:
        return f"PostgreSQL {describe(self.dsn)}"

    # --- live checks ---------------------------------------------------------------

    def guards(self) -> list[StoreCheck]:
        """Database reachable and backup directory writable, each saying why."""
        checks = []
        try:
            with self._connect() as conn:
                version = _one(conn, "SHOW server_version")
            checks.append(
                StoreCheck(
                    "database reachable",
                    True,
                    f"{describe(self.dsn)} answers (PostgreSQL {version})",
                )
            )
        except ProviderError as exc:
            checks.append(StoreCheck("database reachable", False, exc.message))
        problem = _unwritable_reason(self.backup_dir)
        checks.append(
            StoreCheck(
                "backup directory writable",
                problem is None,
                problem or f"{self.backup_dir} is writable",
            )
        )
        return checks

    # --- snapshots -----------------------------------------------------------------

    def list(self) -> builtins.list[SnapshotInfo]:
        if not self.backup_dir.is_dir():
            return []
        snapshots = [self._info(path) for path in self.backup_dir.glob("*.json")]
        return sorted(snapshots, key=lambda s: (s.created_at, s.id), reverse=True)

    def get(self, snapshot_id: str) -> SnapshotInfo | None:
        path = self._manifest_path(snapshot_id)
        return self._info(path) if path is not None and path.exists() else None

    def create(
        self, label: str, progress: ProgressFn = no_progress, kind: str = "manual"
    ) -> SnapshotInfo:
        pg_dump = self._program(self.pg_dump_program, "pg_dump")
        self._make_backup_dir()
        created = datetime.now(UTC)
        snapshot_id = f"{created:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        dump = self.backup_dir / f"{snapshot_id}.dump"
        partial = dump.with_name(dump.name + ".partial")
        env, dbname = child_env_and_dbname(self.dsn)
        started = time.monotonic()
        progress(f"pg_dump: connecting to {describe(self.dsn)}", None)
        with self._exported_snapshot() as (conn, exported):
            server_version = _one(conn, "SHOW server_version")
            database = _one(conn, "SELECT current_database()")
            # Counted before pg_dump starts, not beside it: measured, counting while pg_dump
            # reads the same tables made the whole slower than one after the other.
            counts = table_row_counts(conn, prefixed(progress, "pg_dump: "))
            argv = [pg_dump, "--format=custom", f"--snapshot={exported}", f"--file={partial}"]
            if dbname:
                argv.append(f"--dbname={dbname}")
            try:
                self._run_dump(argv, env, partial, progress)
                size, digest = _size_and_sha256(partial)
                os.replace(partial, dump)
            except BaseException:
                partial.unlink(missing_ok=True)  # a failed dump must leave no half file
                raise
        manifest = {
            "format": MANIFEST_FORMAT,
            "id": snapshot_id,
            "created_at": created.isoformat(timespec="microseconds"),
            "label": label,
            "kind": kind,
            "database": database,
            "target": describe(self.dsn),
            "file": dump.name,
            "size_bytes": size,
            "sha256": digest,
            "server_version": server_version,
            "pg_dump_version": _program_version(pg_dump),
            "duration_s": round(time.monotonic() - started, 3),
            "table_row_counts": counts,
        }
        try:
            _write_atomically(
                self.backup_dir / f"{snapshot_id}.json", json.dumps(manifest, indent=2) + "\n"
            )
        except OSError as exc:
            dump.unlink(missing_ok=True)
            raise ProviderError(
                f"could not write the snapshot manifest in {self.backup_dir}: {exc.strerror or exc}",
                "check free space and permissions of [database.pg_dump] backup_dir",
            ) from None
        progress(f"pg_dump: snapshot {snapshot_id} written ({_human(size)})", 1.0)
        return self._info(self.backup_dir / f"{snapshot_id}.json")

    def check(self, snapshot_id: str) -> builtins.list[str]:
        path = self._manifest_path(snapshot_id)
        if path is None or not path.exists():
            return [f"no snapshot {snapshot_id!r} in {self.backup_dir}"]
        try:
            manifest = _read_manifest(path)
        except ProviderError as exc:
            return [exc.message]
        dump = self.backup_dir / str(manifest.get("file", f"{snapshot_id}.dump"))
        if not dump.exists():
            return [f"the dump file {dump} is missing"]
        size, digest = _size_and_sha256(dump)
        problems = []
        if size != manifest.get("size_bytes"):
            problems.append(
                f"{dump.name} is {size} bytes, the manifest says {manifest.get('size_bytes')}"
            )
        if digest != manifest.get("sha256"):
            problems.append(
                f"{dump.name} checksum mismatch: sha256 {digest[:12]}…, the manifest says "
                f"{str(manifest.get('sha256'))[:12]}… (the file changed or is damaged)"
            )
        return problems

    def restore(self, snapshot_id: str, progress: ProgressFn = no_progress) -> RestoreResult:
        return self.restore_into(self.dsn, snapshot_id, progress)

    def restore_into(
        self,
        dsn: str,
        snapshot_id: str,
        progress: ProgressFn = no_progress,
        *,
        checked: bool = False,
        count_rows: bool = True,
    ) -> RestoreResult:
        """Restore a snapshot into the database `dsn` names (the production one, or a drill's).

        `checked`: the caller has just verified the checksum, so it is not read twice.
        `count_rows`: count the rows afterwards and compare them with the manifest.
        """
        if not checked:
            problems = self.check(snapshot_id)
            if problems:
                raise ProviderError(
                    f"snapshot {snapshot_id} cannot be restored: {'; '.join(problems)}",
                    "choose another snapshot (pmb-console snapshots)",
                )
        pg_restore = self._program(self.pg_restore_program, "pg_restore")
        path = self._manifest_path(snapshot_id)
        if path is None or not path.exists():
            raise ProviderError(f"no snapshot {snapshot_id!r} in {self.backup_dir}", "")
        manifest = _read_manifest(path)
        dump = self.backup_dir / manifest["file"]
        env, dbname = child_env_and_dbname(dsn)
        started = time.monotonic()
        argv = [pg_restore, "--clean", "--if-exists", f"--jobs={self.jobs}", "--verbose"]
        if dbname:
            argv.append(f"--dbname={dbname}")
        else:
            argv.append(
                f"--dbname={_one_value(lambda: self._connect(dsn), 'SELECT current_database()')}"
            )
        argv.append(str(dump))
        progress(f"pg_restore: restoring {snapshot_id} into {describe(dsn)}", 0.0)
        self._run_restore(argv, env, lambda: _toc_entries(pg_restore, dump, env), progress)
        restored_in = time.monotonic() - started
        if not count_rows:
            return RestoreResult(snapshot_id=snapshot_id, duration_s=round(restored_in, 3))
        progress("pg_restore: done; counting rows to compare with the manifest", None)
        with self._connect(dsn) as conn:
            counts = table_row_counts(conn, prefixed(progress, "pg_restore: "))
        expected: dict[str, int] = manifest.get("table_row_counts", {})
        mismatches = row_count_mismatches(expected, counts)
        return RestoreResult(
            snapshot_id=snapshot_id,
            duration_s=round(restored_in, 3),
            row_counts=counts,
            mismatches=mismatches,
            detail=f"{len(expected)} tables compared with the manifest",
        )

    def delete(self, snapshot_id: str) -> None:
        """Remove a snapshot: the manifest first, so it is never listed without its dump."""
        path = self._manifest_path(snapshot_id)
        if path is None or not path.exists():
            raise ProviderError(f"no snapshot {snapshot_id!r} in {self.backup_dir}", "")
        try:
            dump = self.backup_dir / str(_read_manifest(path).get("file", f"{snapshot_id}.dump"))
        except ProviderError:
            dump = self.backup_dir / f"{snapshot_id}.dump"
        try:
            path.unlink()
            dump.unlink(missing_ok=True)
        except OSError as exc:
            raise ProviderError(
                f"could not delete snapshot {snapshot_id}: {exc.strerror or exc}",
                "check the permissions of [database.pg_dump] backup_dir",
            ) from None

    # --- helpers -------------------------------------------------------------------

    def _connect(self, dsn: str | None = None) -> psycopg.Connection:
        return connect(self.dsn if dsn is None else dsn, connect_timeout=self.connect_timeout)

    def server_identity(self, dsn: str | None = None) -> tuple[str, str]:
        """(the cluster's system identifier, the database's name), as the server says them.

        Two DSNs written differently (a host name and its address, a socket and localhost)
        reach the same database exactly when these are equal. The identifier is "" when
        this login may not read it.
        """
        with self._connect(dsn) as conn:
            database = _one(conn, "SELECT current_database()")
            try:
                system = _one(conn, "SELECT system_identifier::text FROM pg_control_system()")
            except psycopg.errors.InsufficientPrivilege:
                conn.rollback()
                system = ""
        return system, database

    @contextmanager
    def _exported_snapshot(self) -> Iterator[tuple[psycopg.Connection, str]]:
        """A repeatable-read transaction whose snapshot pg_dump is told to share."""
        with self._connect() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            try:
                yield conn, _one(conn, "SELECT pg_export_snapshot()")
            finally:
                conn.rollback()

    def _manifest_path(self, snapshot_id: str) -> Path | None:
        """The manifest of a well-formed id; None for anything that could escape the dir."""
        if not _SNAPSHOT_ID.match(snapshot_id):
            return None
        return self.backup_dir / f"{snapshot_id}.json"

    def _info(self, manifest_path: Path) -> SnapshotInfo:
        try:
            manifest = _read_manifest(manifest_path)
        except ProviderError as exc:
            mtime = datetime.fromtimestamp(manifest_path.stat().st_mtime, UTC)
            return SnapshotInfo(
                manifest_path.stem, mtime, status="damaged", manifest={"error": exc.message}
            )
        dump = self.backup_dir / str(manifest.get("file", ""))
        return SnapshotInfo(
            id=str(manifest.get("id", manifest_path.stem)),
            created_at=datetime.fromisoformat(manifest["created_at"]),
            label=str(manifest.get("label", "")),
            database=str(manifest.get("database", "")),
            size_bytes=int(manifest.get("size_bytes", 0)),
            kind=str(manifest.get("kind", "manual")),
            status="available" if dump.is_file() else "dump file missing",
            manifest=manifest,
        )

    def _make_backup_dir(self) -> None:
        problem = _unwritable_reason(self.backup_dir)
        if problem is None:
            try:
                self.backup_dir.mkdir(parents=True, exist_ok=True)
                return
            except OSError as exc:
                problem = f"{self.backup_dir} cannot be created: {exc.strerror or exc}"
        raise ProviderError(
            f"backup directory not writable: {problem}",
            "fix [database.pg_dump] backup_dir, or the permissions of that directory",
        )

    def _program(self, program: str, what: str) -> str:
        found = shutil.which(program)
        if found is None:
            raise ProviderError(
                f"{what} not found: {program!r} is not an executable program on PATH",
                f"install the PostgreSQL client (same major version as the server) or set "
                f"[database.pg_dump] {what} to its full path",
            )
        return found

    def _run_dump(
        self,
        argv: builtins.list[str],
        env: dict[str, str],
        partial: Path,
        progress: ProgressFn,
    ) -> None:
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
            started = time.monotonic()
            try:
                while not _exited_within(proc, PROGRESS_EVERY_S):
                    written = partial.stat().st_size if partial.exists() else 0
                    progress(
                        f"pg_dump: {_human(written)} written in {time.monotonic() - started:.0f} s",
                        None,
                    )
                proc.wait()
            finally:
                _stop(proc)
            if proc.returncode != 0:
                raise ProviderError(
                    f"pg_dump failed (exit {proc.returncode}): {_tail(stderr)}",
                    "nothing was kept; read pg_dump's words above (a pg_dump older than the server "
                    "cannot dump it)",
                )

    def _run_restore(
        self,
        argv: builtins.list[str],
        env: dict[str, str],
        count_items: Callable[[], int],
        progress: ProgressFn,
    ) -> None:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        errors: builtins.list[str] = []
        done = 0
        last_report = 0.0
        # The item count only serves the progress fraction, and reading it costs a run of
        # pg_restore --list: ask for it beside a restore that lasts, never before one.
        counted: builtins.list[int] = []
        counter: threading.Thread | None = None
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if _RESTORE_STEP.match(line):
                    done += 1
                elif (
                    "error:" in line
                    or line.startswith("DETAIL:")
                    or line.startswith("Command was:")
                ):
                    errors.append(line.strip())
                now = time.monotonic()
                if now - last_report >= PROGRESS_EVERY_S:
                    last_report = now
                    if counter is None and now - started >= COUNT_ITEMS_AFTER_S:
                        counter = threading.Thread(
                            target=lambda: counted.append(count_items()), daemon=True
                        )
                        counter.start()
                    total = counted[0] if counted else 0
                    if total:
                        progress(f"pg_restore: {done} of {total} items", min(done / total, 0.99))
                    else:
                        progress(f"pg_restore: {done} items done", None)
            proc.wait()
        finally:
            _stop(proc)
        if proc.returncode != 0:
            said = redact(" | ".join(errors[:4])) or f"exit {proc.returncode}"
            raise ProviderError(
                f"pg_restore failed (exit {proc.returncode}): {said}",
                "the database may be partly restored; restore the safety snapshot taken before it",
            )


def prefixed(progress: ProgressFn, prefix: str) -> ProgressFn:
    """`progress` with every message prefixed, and no fraction (it is a part of a whole)."""

    def report(message: str, fraction: float | None = None) -> None:
        progress(prefix + message, None)

    return report


def row_count_mismatches(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """Tables whose rows differ from the manifest's; tables made after the snapshot are ignored."""
    mismatches = []
    for table, rows in sorted(expected.items()):
        if table not in actual:
            mismatches.append(
                f"{table}: in the snapshot ({rows} rows) but missing from the database"
            )
        elif actual[table] != rows:
            mismatches.append(
                f"{table}: snapshot has {rows} rows, the database now {actual[table]}"
            )
    return mismatches


def _unwritable_reason(directory: Path) -> str | None:
    """Why `directory` cannot hold new files (None if it can), without creating anything.

    Walks up to the nearest existing ancestor: a regular file in the way, or a directory
    we may not write, means the backup cannot be made.
    """
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory, so {directory} cannot exist"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this user"
    return None


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProviderError(f"the manifest {path.name} cannot be read: {exc}", "") from None
    if not isinstance(data, dict) or "created_at" not in data or "file" not in data:
        raise ProviderError(f"the manifest {path.name} is not a pmb-console snapshot manifest", "")
    return data


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _toc_entries(pg_restore: str, dump: Path, env: dict[str, str]) -> int:
    """How many items pg_restore will process, for a progress fraction; 0 if unknown."""
    listed = subprocess.run(
        [pg_restore, "--list", str(dump)], env=env, capture_output=True, text=True
    )
    if listed.returncode != 0:
        return 0
    return sum(
        1 for line in listed.stdout.splitlines() if line.strip() and not line.startswith(";")
    )


@functools.lru_cache(maxsize=8)
def _program_version(program: str) -> str:
    said = subprocess.run([program, "--version"], capture_output=True, text=True)
    return said.stdout.strip()


def _exited_within(proc: subprocess.Popen, seconds: float) -> bool:
    """Has the process exited? Waits up to `seconds`, waking the moment it exits.

    subprocess's own wait(timeout) polls with sleeps of up to 50 ms, which a fast dump
    would pay at its end; a pidfd wakes select at once.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        select.select([fd], [], [], seconds)
    finally:
        os.close(fd)
    return proc.poll() is not None


def _one(conn: psycopg.Connection, query: str) -> str:
    row = conn.execute(query).fetchone()
    return str(row[0]) if row else ""


def _one_value(connect_fn, query: str) -> str:
    with connect_fn() as conn:
        return _one(conn, query)


def _stop(proc: subprocess.Popen) -> None:
    """Leave no child behind when we are interrupted (Ctrl+C) or fail."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _tail(stderr: IO[bytes], lines: int = 4) -> str:
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip().splitlines()
    return redact(" | ".join(text[-lines:])) or "no message"


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
