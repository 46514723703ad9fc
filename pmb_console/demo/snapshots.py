"""The demo's snapshot store: real files, real checksums, the pace of a small database.

The demo's "database" is a dump-like text file (tables as COPY blocks) beside the backup
dir. A snapshot copies it into the backup dir with a manifest holding its size, sha256
and row counts; `check` recomputes them; `restore` copies a verified snapshot back and
counts the rows again. Each step takes one to three seconds and reports progress, so the
console's progress screens are seen doing their job.

A restore drill restores into a scratch copy (`drill_target`, inside the demo's temp dir)
through `restore_into`, the interface the pg_dump store offers drills; the live database
file is never a drill's target (`drill_target_problem`).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import random
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmb_console.config import Config
from pmb_console.demo.router import write_json_atomically
from pmb_console.errors import ProviderError
from pmb_console.providers.base import (
    ProgressFn,
    RestoreResult,
    SnapshotInfo,
    SnapshotStore,
    StoreCheck,
    no_progress,
)

DATABASE_NAME = "pmbuddy"
_CHUNKS = 20
_COPY = re.compile(r"^COPY public\.(\w+) ")


def seed_database(path: Path, *, issues: int = 2000) -> None:
    """Write the demo database: users, projects, issues and comments, always the same."""
    rng = random.Random(4)
    statuses = ("To Do", "In Progress", "In Review", "Done")
    lines = [
        "-- PostgreSQL database dump (PM Buddy demo)",
        "SET statement_timeout = 0;",
        "CREATE TABLE public.users (id integer PRIMARY KEY, name text, email text);",
        "CREATE TABLE public.projects (id integer PRIMARY KEY, key text UNIQUE, name text);",
        "CREATE TABLE public.issues (id integer PRIMARY KEY, project_id integer, key text, "
        "summary text, status text, assignee_id integer);",
        "CREATE TABLE public.comments (id integer PRIMARY KEY, issue_id integer, author_id integer, body text);",
        "COPY public.users (id, name, email) FROM stdin;",
        *(f"{n}\tUser {n}\tuser{n}@example.com" for n in range(1, 51)),
        "\\.",
        "COPY public.projects (id, key, name) FROM stdin;",
        "1\tPMB\tPM Buddy",
        "2\tWEB\tWebsite",
        "3\tOPS\tOperations",
        "4\tMOB\tMobile app",
        "\\.",
        "COPY public.issues (id, project_id, key, summary, status, assignee_id) FROM stdin;",
        *(
            f"{n}\t{n % 4 + 1}\tPMB-{n}\tIssue {n}: {rng.choice(('fix', 'add', 'improve'))} "
            f"{rng.choice(('login', 'board', 'search', 'export', 'sprint view'))}\t"
            f"{rng.choice(statuses)}\t{rng.randint(1, 50)}"
            for n in range(1, issues + 1)
        ),
        "\\.",
        "COPY public.comments (id, issue_id, author_id, body) FROM stdin;",
        *(
            f"{n}\t{rng.randint(1, issues)}\t{rng.randint(1, 50)}\tLooks good to me, {rng.random():.6f}"
            for n in range(1, issues * 2 + 1)
        ),
        "\\.",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def row_counts(path: Path) -> dict[str, int]:
    """Rows per table, counted from the COPY blocks of a dump."""
    counts: dict[str, int] = {}
    table = None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if table is None:
                m = _COPY.match(line)
                if m:
                    table = m.group(1)
                    counts[table] = 0
            elif line.rstrip("\n") == "\\.":
                table = None
            else:
                counts[table] += 1
    return counts


def row_count_mismatches(expected: dict[str, int], counts: dict[str, int]) -> list[str]:
    """Each table whose rows differ from the snapshot's manifest, in words."""
    return [
        f"{table}: {counts.get(table, 0)} rows, the snapshot had {rows}"
        for table, rows in expected.items()
        if counts.get(table, 0) != rows
    ] + [
        f"{table}: {rows} rows, not in the snapshot"
        for table, rows in counts.items()
        if table not in expected
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


class DemoSnapshotStore(SnapshotStore):
    """Snapshots of the demo database as files in the demo's backup dir."""

    name = "demo"

    def __init__(self, config: Config) -> None:
        self.backup_dir = Path(os.path.expanduser(config.database.pg_dump.backup_dir))
        self.database = self.backup_dir.parent / "database" / f"{DATABASE_NAME}.sql"
        self.drill_target = self.backup_dir.parent / "drill" / f"{DATABASE_NAME}.sql"
        """The scratch copy restore drills write: never the live database file."""
        self.pace = (1.0, 3.0)
        """Seconds a snapshot or a restore takes, at least and at most."""
        self._lock = threading.Lock()

    def describe_target(self) -> str:
        return f"demo database {DATABASE_NAME} ({self.database})"

    def guards(self) -> list[StoreCheck]:
        writable = self.backup_dir.is_dir() and os.access(self.backup_dir, os.W_OK)
        said = (
            f"{self.backup_dir} is writable"
            if writable
            else f"{self.backup_dir} is missing or read-only"
        )
        return [StoreCheck("backup directory writable", writable, said)]

    # --- reading ---------------------------------------------------------------------

    def list(self) -> list[SnapshotInfo]:
        if not self.backup_dir.is_dir():
            return []
        snapshots = []
        for manifest in self.backup_dir.glob("*.json"):
            try:
                snapshots.append(self._info(json.loads(manifest.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a damaged manifest: `check` names it when asked about that id
        return sorted(snapshots, key=lambda s: s.created_at, reverse=True)

    def check(self, snapshot_id: str) -> builtins.list[str]:
        manifest_path = self._manifest_path(snapshot_id)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return [f"no snapshot {snapshot_id} in {self.backup_dir}"]
        except (OSError, ValueError) as exc:
            return [f"the manifest {manifest_path.name} cannot be read: {exc}"]
        dump = self.backup_dir / str(manifest.get("file", ""))
        if not dump.is_file():
            return [f"the dump file {dump.name} is missing"]
        problems = []
        size = dump.stat().st_size
        if size != manifest.get("size_bytes"):
            problems.append(
                f"{dump.name} is {size} bytes, the manifest says {manifest.get('size_bytes')}"
            )
        if _sha256(dump) != manifest.get("sha256"):
            problems.append(f"{dump.name} does not match its sha256 checksum: the file has changed")
        return problems

    # --- doing -----------------------------------------------------------------------

    def create(
        self, label: str, progress: ProgressFn = no_progress, kind: str = "manual"
    ) -> SnapshotInfo:
        with self._lock:
            self._ensure_database()
            created = datetime.now(UTC)
            snapshot_id = f"demo-{created:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
            dump = self.backup_dir / f"{snapshot_id}.dump"
            progress(f"dumping {DATABASE_NAME}", 0.0)
            try:
                self.backup_dir.mkdir(parents=True, exist_ok=True)
                self._copy(self.database, dump, progress, "dumping")
                progress("checksumming the dump", 0.95)
                manifest = {
                    "id": snapshot_id,
                    "created_at": created.isoformat(),
                    "label": label,
                    "kind": kind,
                    "database": DATABASE_NAME,
                    "file": dump.name,
                    "size_bytes": dump.stat().st_size,
                    "sha256": _sha256(dump),
                    "table_row_counts": row_counts(dump),
                    "status": "available",
                }
                write_json_atomically(self._manifest_path(snapshot_id), manifest)
            except OSError as exc:
                dump.unlink(missing_ok=True)
                raise ProviderError(
                    f"cannot write the snapshot into {self.backup_dir}: {exc.strerror}",
                    "check the free space and permissions of [database.pg_dump] backup_dir",
                ) from None
            progress(f"snapshot {snapshot_id} taken", 1.0)
            return self._info(manifest)

    def restore(self, snapshot_id: str, progress: ProgressFn = no_progress) -> RestoreResult:
        with self._lock:
            return self.restore_into(self.database, snapshot_id, progress)

    def restore_into(
        self,
        target: Path,
        snapshot_id: str,
        progress: ProgressFn = no_progress,
        *,
        checked: bool = False,
        count_rows: bool = True,
    ) -> RestoreResult:
        """Restore a snapshot into the file `target` (the live database, or a drill's copy).

        `checked`: the caller has just verified the checksum, so it is not read twice.
        `count_rows`: count the rows afterwards and compare them with the manifest.
        """
        started = time.monotonic()
        if not checked:
            progress(f"checking {snapshot_id}", 0.0)
            problems = self.check(snapshot_id)
            if problems:
                raise ProviderError(
                    f"snapshot {snapshot_id} cannot be restored: {'; '.join(problems)}",
                    "choose another snapshot (`pmb-console snapshots` lists them)",
                )
        manifest = json.loads(self._manifest_path(snapshot_id).read_text(encoding="utf-8"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._copy(self.backup_dir / manifest["file"], target, progress, "restoring")
        except OSError as exc:
            raise ProviderError(
                f"cannot restore into {target}: {exc.strerror}",
                "the demo's temp dir may have been removed; restart the demo",
            ) from None
        restored_in = time.monotonic() - started
        if not count_rows:
            progress(f"restored {snapshot_id}", 1.0)
            return RestoreResult(snapshot_id, duration_s=round(restored_in, 3))
        progress("counting rows", 0.95)
        counts = row_counts(target)
        progress(f"restored {snapshot_id}", 1.0)
        return RestoreResult(
            snapshot_id,
            duration_s=time.monotonic() - started,
            row_counts=counts,
            mismatches=row_count_mismatches(manifest.get("table_row_counts", {}), counts),
            detail=f"{sum(counts.values())} rows in {len(counts)} tables",
        )

    def count_rows(self, target: Path, progress: ProgressFn = no_progress) -> dict[str, int]:
        """Rows per table of a restored file, table by table at the pace of a small database."""
        try:
            counts = row_counts(target)
        except OSError as exc:
            raise ProviderError(
                f"cannot read {target}: {exc.strerror}", "run the drill again"
            ) from None
        pause = random.uniform(*self.pace) / 4 / max(1, len(counts))
        for table, rows in counts.items():
            time.sleep(pause)
            progress(f"{table}: {rows} rows", None)
        return counts

    def drill_target_problem(self, target: Path) -> str:
        """Why a drill must not write `target` ("" when it may): it is, or leads to, the live
        database file, or it lies outside the demo's temp dir or inside its backups."""
        root = self.backup_dir.parent.resolve()
        there = target.resolve()
        live = self.database.resolve()
        if there == live or (there.exists() and live.exists() and os.path.samefile(there, live)):
            return f"the drill target {target} is the demo's live database {self.database}"
        if not there.is_relative_to(root):
            return f"the drill target {target} is outside the demo's directory {root}"
        if there.is_relative_to(self.backup_dir.resolve()):
            return f"the drill target {target} is inside the backup dir, among the snapshots"
        return ""

    def delete(self, snapshot_id: str) -> None:
        manifest_path = self._manifest_path(snapshot_id)
        if not manifest_path.exists():
            raise ProviderError(f"no snapshot {snapshot_id}", "`pmb-console snapshots` lists them")
        (self.backup_dir / f"{snapshot_id}.dump").unlink(missing_ok=True)
        manifest_path.unlink(missing_ok=True)

    # --- helpers -------------------------------------------------------------------------

    def _ensure_database(self) -> None:
        if not self.database.exists():
            seed_database(self.database)

    def _manifest_path(self, snapshot_id: str) -> Path:
        if not re.fullmatch(r"[\w.-]+", snapshot_id):
            raise ProviderError(
                f"{snapshot_id!r} is not a snapshot id", "ids look like demo-20261124T221500Z-ab12"
            )
        return self.backup_dir / f"{snapshot_id}.json"

    def _copy(self, source: Path, target: Path, progress: ProgressFn, verb: str) -> None:
        """Copy in chunks at the pace of a small database, then swap the file in whole."""
        data = source.read_bytes()
        pause = random.uniform(*self.pace) / _CHUNKS
        chunk = max(1, len(data) // _CHUNKS + 1)
        partial = target.with_name(f".{target.name}.partial")
        try:
            with open(partial, "wb") as fh:
                for n, offset in enumerate(range(0, len(data), chunk), start=1):
                    fh.write(data[offset : offset + chunk])
                    progress(
                        f"{verb}: {min(offset + chunk, len(data)) // 1024} of {len(data) // 1024} KiB",
                        0.9 * n / _CHUNKS,
                    )
                    time.sleep(pause)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    @staticmethod
    def _info(manifest: dict[str, Any]) -> SnapshotInfo:
        return SnapshotInfo(
            id=manifest["id"],
            created_at=datetime.fromisoformat(manifest["created_at"]),
            label=manifest.get("label", ""),
            database=manifest.get("database", DATABASE_NAME),
            size_bytes=int(manifest.get("size_bytes", 0)),
            kind=manifest.get("kind", "manual"),
            status=manifest.get("status", "available"),
            manifest=manifest,
        )
