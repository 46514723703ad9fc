"""The audit log: every action, guard override, confirmation and sign-off. Append-only.

Local JSONL under state_dir by default. The war-room issue adds a PostgreSQL-backed log
behind the same small interface.
"""

from __future__ import annotations

import os
import socket
import uuid
from abc import ABC, abstractmethod
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
