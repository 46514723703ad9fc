"""What the console reads from the systems, gathered off the event loop.

`read_systems` runs in a thread worker: the load balancer, the lock, the audit log, the
action in flight and the release's runbook journal, each read on its own so that one unreachable system greys one part of the
screen and leaves the rest true.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pmb_console.actions.traffic import rollback_target
from pmb_console.errors import LockHeld, PmbError
from pmb_console.journal import ReleaseJournal
from pmb_console.locking import LockHolder, refuse_for_deliberate
from pmb_console.providers.base import TrafficState
from pmb_console.redact import redact

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services

AUDIT_FEED_SIZE = 200


@dataclass(frozen=True)
class Fault:
    """A part of the world that could not be read, in words."""

    part: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class SystemsReading:
    traffic: TrafficState | None
    lock_holder: str | None
    audit: tuple[dict[str, Any], ...]
    in_flight: dict[str, Any] | None
    faults: tuple[Fault, ...] = field(default=())
    runbook: dict[str, Any] | None = None
    """The release journal (ReleaseJournal.read()): each runbook step's state; None when unread."""
    locked_out: str = ""
    """Why an action that takes the lock would be refused now: another operator holds it."""
    no_rollback: str = ""
    """Why a rollback would be refused now (nothing to roll back to), or "" when it may run."""


def _fault(part: str, exc: BaseException) -> Fault:
    if isinstance(exc, PmbError):
        return Fault(part, redact(exc.message), redact(exc.hint))
    return Fault(part, redact(f"{type(exc).__name__}: {exc}"), "this is a bug in pmb-console")


def locked_out(current: LockHolder | None, operator: str) -> str:
    """Why the lock would refuse this console's next action, or "".

    A deliberate lock refuses everyone but its owner (the same check the lock makes); an
    action's lock refuses every other process. This console's own action is not counted:
    while it runs the keys are already greyed as busy.
    """
    if current is None:
        return ""
    if current.deliberate:
        try:
            refuse_for_deliberate(current, operator)
        except LockHeld as exc:
            return exc.message
        return ""
    if (current.host, current.pid) == (socket.gethostname(), os.getpid()):
        return ""
    return f"another operator holds the lock: {current.describe()}"


def no_rollback(audit: tuple[dict[str, Any], ...]) -> str:
    """Why the rollback guard would refuse, judged on the feed's records, or "".

    Only said when the records read are the whole log: an older switch may lie before a
    full feed, and then the confirmation screen judges.
    """
    target, why = rollback_target(list(audit))
    if target is None and len(audit) < AUDIT_FEED_SIZE:
        return why
    return ""


def read_systems(services: Services) -> SystemsReading:
    faults: list[Fault] = []
    traffic = None
    try:
        traffic = services.router.read()
    except Exception as exc:  # every fault becomes words on screen, never a dead poll
        faults.append(_fault("traffic", exc))
    holder = None
    refused_by_lock = ""
    try:
        current = services.lock.holder()
        holder = current.describe() if current else None
        refused_by_lock = locked_out(current, services.config.console.operator)
    except Exception as exc:
        faults.append(_fault("lock", exc))
    audit: tuple[dict[str, Any], ...] = ()
    nothing_to_roll_back = ""
    try:
        audit = tuple(services.audit.recent(AUDIT_FEED_SIZE))
        nothing_to_roll_back = no_rollback(audit)
    except Exception as exc:
        faults.append(_fault("audit", exc))
    in_flight = None
    try:
        in_flight = services.journal.in_flight()
    except Exception as exc:
        faults.append(_fault("journal", exc))
    runbook = None
    try:
        runbook = ReleaseJournal.of(services).read()
    except Exception as exc:
        faults.append(_fault("runbook", exc))
    return SystemsReading(
        traffic,
        holder,
        audit,
        in_flight,
        tuple(faults),
        runbook,
        locked_out=refused_by_lock,
        no_rollback=nothing_to_roll_back,
    )


def read_checklist(services: Services) -> tuple[Any, ...]:
    """The pre-deployment checklist, checked now (GitHub and git: slow, on its own timer)."""
    from pmb_console.actions.checklist import run_checklist

    return tuple(run_checklist(services))
