"""The deployment journal: the action in flight, so a console killed mid-action can say so.

The runbook-engine issue extends this with the per-release step journal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, state_dir: Path, name: str = "in-flight.json") -> None:
        self.path = Path(state_dir) / name

    def start(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, default=str))
        os.replace(tmp, self.path)

    def finish(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def in_flight(self) -> dict[str, Any] | None:
        """The action in flight, unless another live console is running it.

        That is either an action whose process is gone (interrupted: a console killed
        mid-action), or this process's own action while it runs. Callers that need only
        the interrupted kind compare `pid` with their own.
        """
        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        pid = int(record.get("pid", 0))
        if pid and _alive(pid) and pid != os.getpid():
            return None  # still running in another console: not interrupted
        return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
