"""The demo application's log: one file per color, written the way a web app writes it.

The console follows these files through its ordinary `file` log sources, so the lines
look like production's: an ISO time, a level, the instance and version, then the
message. Many handler threads write at once; a lock keeps every line whole.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

# What goes wrong inside PM Buddy when a release is bad: the error lines of a 5xx.
_FAILURES = (
    "psycopg.errors.QueryCanceled: canceling statement due to statement timeout",
    "psycopg.OperationalError: connection pool exhausted (20/20 in use, waited 5.0 s)",
    "KeyError: 'assignee_id' in serializers/issue.py:88 (IssueSerializer.to_dict)",
    "TimeoutError: search backend did not answer within 2.0 s",
)

# A log storm: one noisy warning repeated by every request path.
_STORM = (
    "cache: redis connection reset, retrying (attempt {n})",
    "permissions: slow ACL lookup for project {p} ({ms} ms)",
    "deprecation: /api/issues?expand=all is deprecated, called by web-client/{n}",
)


def _stamp() -> str:
    # Time of day to the millisecond, UTC: the date would eat a narrow log pane.
    now = time.time()
    return f"{time.strftime('%H:%M:%S', time.gmtime(now))}.{int(now * 1000) % 1000:03d}Z"


class AppLog:
    """An append-only log file shared by the instances of one color."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8", buffering=1)  # closed in close()

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        text = "".join(line + "\n" for line in lines)
        with self._lock:
            if not self._fh.closed:
                self._fh.write(text)

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    # --- the lines an instance writes -----------------------------------------------------

    def access(
        self,
        instance: str,
        version: str,
        client: str,
        method: str,
        path: str,
        status: int,
        size: int,
        seconds: float,
        request_id: str,
    ) -> None:
        # What matters first (status, route, time), as a narrow pane shows only the start.
        level = "INFO " if status < 500 else "WARN "
        self.write(
            [
                f"{_stamp()} {level} {instance} {status} {method} {path} {seconds * 1000:.0f}ms "
                f"{size}B req={request_id} client={client} {version}"
            ]
        )

    def failure(self, instance: str, version: str, method: str, path: str, request_id: str) -> None:
        cause = random.choice(_FAILURES)
        self.write(
            [
                f"{_stamp()} ERROR {instance} unhandled error in {method} {path} req={request_id} {version}",
                f"{_stamp()} ERROR {instance}   {cause}",
            ]
        )

    def event(self, level: str, instance: str, version: str, message: str) -> None:
        self.write([f"{_stamp()} {level:<5} {instance} {message} ({version})"])

    def storm(self, instance: str, version: str, count: int) -> None:
        now = _stamp()
        self.write(
            [
                f"{now} WARN  {instance} "
                + random.choice(_STORM).format(
                    n=random.randint(1, 9), p=random.randint(1, 40), ms=random.randint(200, 900)
                )
                for _ in range(count)
            ]
        )
