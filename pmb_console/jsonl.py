"""Append-only JSON-lines files: the local audit log and the drill history.

Each append is one line written under an exclusive flock and fsynced, so two consoles
sharing a state_dir never interleave a record and a crash loses at most the record it
was writing (a torn last line is skipped when read).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from pmb_console.errors import ProviderError
from pmb_console.redact import redact


def append(path: Path, record: dict[str, Any], what: str) -> None:
    """Write one record durably; `what` names the file in an error ("the audit log")."""
    line = redact(json.dumps(record, sort_keys=True, default=str)) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise ProviderError(
            f"cannot write {what} {path}: {exc.strerror}",
            "check that [console] state_dir is writable",
        ) from None


def read(path: Path) -> list[dict[str, Any]]:
    """Every whole record, oldest first; a missing file is an empty history."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        if not line.strip():
            continue
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # a torn last line from a crash is skipped, not fatal
    return found
