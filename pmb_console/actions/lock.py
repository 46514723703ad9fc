"""The deliberate lock, as deploy tools have it: block every change by others until unlocked.

Taking or releasing it is not an action run (nothing in the systems changes), but it is
audited like one. The CLI (`lock`, `unlock`) and the console's key both come here, so
they refuse, record and word it the same way.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from pmb_console.audit import now_iso
from pmb_console.errors import ReadOnlyRefused, UsageError
from pmb_console.locking import LockHolder

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services


def take_lock(ctx: Services, reason: str) -> LockHolder:
    """Take the deliberate lock with a reason; raises LockHeld if another operator has it."""
    if ctx.config.console.read_only:
        raise ReadOnlyRefused("lock refused: this console is read-only")
    reason = reason.strip()
    if not reason:
        raise UsageError("lock needs a reason", "say why changes are blocked")
    taken = ctx.lock.take(
        LockHolder(
            ctx.config.console.operator,
            socket.gethostname(),
            os.getpid(),
            "lock",
            now_iso(),
            reason,
        )
    )
    ctx.runner.record_event(
        "lock",
        outcome="succeeded",
        lock_id=taken.lock_id,
        reason=reason,
        environment=ctx.config.console.environment,
    )
    return taken


def release_lock(ctx: Services, lock_id: str | None = None, force: bool = False) -> LockHolder:
    """Release one's own deliberate lock, or another's with force and its id (audited)."""
    if ctx.config.console.read_only:
        raise ReadOnlyRefused("unlock refused: this console is read-only")
    operator = ctx.config.console.operator
    released = ctx.lock.release(lock_id, operator, force=force)
    ctx.runner.record_event(
        "unlock",
        outcome="succeeded",
        lock_id=released.lock_id,
        forced=released.operator != operator,
        holder=released.operator,
        environment=ctx.config.console.environment,
    )
    return released


def was_forced(ctx: Services, released: LockHolder) -> bool:
    return released.operator != ctx.config.console.operator
