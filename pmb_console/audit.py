"""The audit log: every action, guard override, confirmation and sign-off. Append-only.

Local JSONL under state_dir by default. The war-room issue adds a PostgreSQL-backed log
behind the same small interface.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmb_console import jsonl


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_record(action: str, operator: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        "time": now_iso(),
        "operator": operator,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "action": action,
    }
    record.update(fields)
    return record


def parse_time(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class AuditLog(ABC):
    @abstractmethod
    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably; never rewrite an old one."""

    @abstractmethod
    def records(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Records in the order they were written, optionally from `since` on."""

    def recent(self, n: int, action: str | None = None) -> list[dict[str, Any]]:
        """The last `n` records (only those of `action`, if given), oldest first: what a
        screen or a look at recent events needs, without reading the whole log."""
        found = [r for r in self.records() if action is None or r.get("action") == action]
        return found[-n:] if n > 0 else []

    def last(self, predicate) -> dict[str, Any] | None:
        for record in reversed(self.records()):
            if predicate(record):
                return record
        return None


class LocalAuditLog(AuditLog):
    """JSON lines in `state_dir/audit.jsonl`, appended under an exclusive file lock."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "audit.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        jsonl.append(self.path, record, "the audit log")

    def records(self, since: datetime | None = None) -> list[dict[str, Any]]:
        out = jsonl.read(self.path)
        if since is not None:
            out = [r for r in out if parse_time(r["time"]) >= since]
        return out

    def recent(self, n: int, action: str | None = None) -> list[dict[str, Any]]:
        """Read from the end of the file back, only as far as the last `n` records."""
        needle = json.dumps(action).encode() if action is not None else b""
        found: list[dict[str, Any]] = []
        for line in _lines_from_end(self.path):
            if len(found) >= n:
                break
            if not line.strip() or needle not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line from a crash is skipped, as when read whole
            if isinstance(record, dict) and (action is None or record.get("action") == action):
                found.append(record)
        found.reverse()
        return found


TAIL_BLOCK = 64 * 1024


def _lines_from_end(path: Path) -> Iterator[bytes]:
    """The file's lines, last first, read a block at a time from its end."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        pos = fh.seek(0, os.SEEK_END)
        rest = b""
        while pos > 0:
            step = min(TAIL_BLOCK, pos)
            pos -= step
            fh.seek(pos)
            lines = (fh.read(step) + rest).split(b"\n")
            rest = lines[0]  # may continue in the block before
            yield from reversed(lines[1:])
        yield rest
