"""One mutating action at a time: a lock whose holder anyone can read.

The local lock is an flock on `state_dir/console.lock` (released by the kernel if the
holder dies) with the holder's details in `state_dir/lock-holder.json`. The war-room
issue adds a PostgreSQL advisory lock behind the same interface.
"""

from __future__ import annotations

import fcntl
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pmb_console.errors import LockHeld, ProviderError


@dataclass(frozen=True)
class LockHolder:
    operator: str
    host: str
    pid: int
    action: str
    since: str
    reason: str = ""

    def describe(self) -> str:
        return f"{self.operator} on {self.host} (pid {self.pid}) running {self.action} since {self.since}"


class Lock(ABC):
    @abstractmethod
    @contextmanager
    def hold(self, holder: LockHolder) -> Iterator[None]:
        """Hold the lock for the duration; raises LockHeld naming the current holder."""

    @abstractmethod
    def holder(self) -> LockHolder | None:
        """Who holds the lock now, or None."""


class FileLock(Lock):
    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        self.lock_path = self.dir / "console.lock"
        self.holder_path = self.dir / "lock-holder.json"

    def _open(self) -> int:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProviderError(
                f"cannot open the lock file {self.lock_path}: {exc.strerror}",
                "check that [console] state_dir is writable",
            ) from None

    def _read_holder(self) -> LockHolder | None:
        try:
            data: dict[str, Any] = json.loads(self.holder_path.read_text())
            return LockHolder(**data)
        except (OSError, ValueError, TypeError):
            return None

    @contextmanager
    def hold(self, holder: LockHolder) -> Iterator[None]:
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                current = self._read_holder()
                who = current.describe() if current else "another console"
                raise LockHeld(
                    f"another operator holds the lock: {who}",
                    "wait for their action to finish, or talk to them",
                ) from None
            tmp = self.holder_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(holder)))
            os.replace(tmp, self.holder_path)
            try:
                yield
            finally:
                try:
                    self.holder_path.unlink()
                except FileNotFoundError:
                    pass
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def holder(self) -> LockHolder | None:
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return self._read_holder() or LockHolder("?", "?", 0, "?", "?")
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)
