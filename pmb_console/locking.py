"""One mutating action at a time: a lock whose holder anyone can read.

The local lock is an flock on `state_dir/console.lock` (released by the kernel if the
holder dies) with the holder's details in `state_dir/lock-holder.json`. The war-room
issue adds a PostgreSQL advisory lock behind the same interface.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pmb_console.errors import LockHeld, ProviderError, UsageError


@dataclass(frozen=True)
class LockHolder:
    operator: str
    host: str
    pid: int
    action: str
    since: str
    reason: str = ""
    lock_id: str = ""
    deliberate: bool = False
    """A lock taken on purpose (`pmb-console lock`), not by a running action."""

    def describe(self) -> str:
        if self.deliberate:  # the reason before the id: a narrow header cuts the end off
            said = f": {self.reason}" if self.reason else ""
            return (
                f"{self.operator} on {self.host} since {self.since}{said} (lock id {self.lock_id})"
            )
        # An action's reason is the one given with it (a --force override says why here).
        why = f", reason: {self.reason}" if self.reason else ""
        return (
            f"{self.operator} on {self.host} (pid {self.pid}) running {self.action} "
            f"since {self.since}{why}"
        )


def new_lock_id() -> str:
    return uuid.uuid4().hex[:8]


def refuse_for_deliberate(current: LockHolder | None, operator: str) -> None:
    """A deliberate lock blocks every mutating action of anyone but its owner."""
    if current is not None and current.deliberate and current.operator != operator:
        raise LockHeld(
            f"changes are locked by {current.describe()}",
            f"ask {current.operator} to run `pmb-console unlock`, or `pmb-console unlock --force {current.lock_id}`",
        )


class Lock(ABC):
    @abstractmethod
    @contextmanager
    def hold(self, holder: LockHolder) -> Iterator[None]:
        """Hold the lock for the duration; raises LockHeld naming the current holder."""

    @abstractmethod
    def holder(self) -> LockHolder | None:
        """Who holds the lock now (a running action first, else a deliberate lock), or None."""

    @abstractmethod
    def deliberate(self) -> LockHolder | None:
        """The deliberate lock, if one is taken."""

    @abstractmethod
    def take(self, holder: LockHolder) -> LockHolder:
        """Take a deliberate lock; raises LockHeld if someone else holds one."""

    @abstractmethod
    def release(self, lock_id: str | None, operator: str, *, force: bool = False) -> LockHolder:
        """Release the deliberate lock: one's own, or another's with force and its id."""

    @staticmethod
    def check_release(
        current: LockHolder | None, lock_id: str | None, operator: str, force: bool
    ) -> LockHolder:
        if current is None:
            raise UsageError("there is no deliberate lock to release")
        if current.operator != operator and not force:
            raise LockHeld(
                f"the lock is {current.describe()}",
                f"only {current.operator} can unlock it; or `pmb-console unlock --force {current.lock_id}`",
            )
        if force and current.operator != operator and lock_id != current.lock_id:
            raise UsageError(
                f"--force needs the lock's id: {current.lock_id}",
                f"pmb-console unlock --force {current.lock_id}",
            )
        return current


class FileLock(Lock):
    what = "the lock"
    """How a refusal names this lock."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        self.lock_path = self.dir / "console.lock"
        self.holder_path = self.dir / "lock-holder.json"
        self.deliberate_path = self.dir / "deliberate-lock.json"

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
        refuse_for_deliberate(self.deliberate(), holder.operator)
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                current = self._read_holder()
                who = current.describe() if current else "another console"
                raise LockHeld(
                    f"another operator holds {self.what}: {who}",
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
            return self.deliberate()
        finally:
            os.close(fd)

    def deliberate(self) -> LockHolder | None:
        try:
            return LockHolder(**json.loads(self.deliberate_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def take(self, holder: LockHolder) -> LockHolder:
        fd = self._open()  # the same flock serialises take/release with running actions
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = self.deliberate()
            if current is not None and current.operator != holder.operator:
                raise LockHeld(f"changes are already locked by {current.describe()}")
            taken = LockHolder(
                **{
                    **asdict(holder),
                    "deliberate": True,
                    "lock_id": current.lock_id if current else new_lock_id(),
                }
            )
            tmp = self.deliberate_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(taken)))
            os.replace(tmp, self.deliberate_path)
            return taken
        finally:
            os.close(fd)

    def release(self, lock_id: str | None, operator: str, *, force: bool = False) -> LockHolder:
        current = self.check_release(self.deliberate(), lock_id, operator, force)
        self.deliberate_path.unlink(missing_ok=True)
        return current


class TaskFileLock(FileLock):
    """A lock of its own for long work that must not run twice at once yet must never
    hold up a rollback (a JIRA migration): `state_dir/<name>.lock`, its holder beside it.

    A deliberate lock (`pmb-console lock`) still refuses it, like any change."""

    def __init__(self, state_dir: Path, name: str, what: str) -> None:
        super().__init__(state_dir)
        self.lock_path = self.dir / f"{name}.lock"
        self.holder_path = self.dir / f"{name}-holder.json"
        self.what = what
