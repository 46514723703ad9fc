"""The action contract: guards → plan → execute → verify.

An action decides (guards, plan) from what it reads, does (execute) and reads back
(verify). It never imports textual and never prints: progress goes through a callback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pmb_console.providers.base import ProgressFn

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pmb_console.bootstrap import Services
    from pmb_console.locking import LockHolder


@dataclass(frozen=True)
class GuardResult:
    """One precondition, checked live."""

    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Plan:
    """The exact changes an action would make: words for people, data for the record."""

    summary: str
    steps: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    nothing_to_do: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "steps": list(self.steps), "data": self.data}


@dataclass(frozen=True)
class Verification:
    ok: bool
    detail: str
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Confirmation:
    """What the operator said: yes/no, and the environment name typed for destructive actions."""

    confirmed: bool
    typed: str = ""

    @classmethod
    def yes(cls, typed: str = "") -> Confirmation:
        return cls(True, typed)


class Action(ABC):
    """Base of every action. Subclasses take their parameters in __init__."""

    name: ClassVar[str] = "?"
    title: ClassVar[str] = "?"
    mutating: ClassVar[bool] = True
    destructive: ClassVar[bool] = False
    """Destructive actions need the environment name typed to confirm."""
    exclusive: ClassVar[bool] = True
    """Takes the one-change-at-a-time lock. False only for work that touches no system a
    rollback needs (a drill into a scratch database), so it never blocks a rollback."""

    def params(self) -> dict[str, Any]:
        """The parameters, for the audit record."""
        return {}

    def guards(self, ctx: Services) -> list[GuardResult]:
        return []

    @abstractmethod
    def plan(self, ctx: Services) -> Plan: ...

    @abstractmethod
    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        """Carry out the plan; returns facts worth recording (ids, durations)."""

    @abstractmethod
    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        """Read the systems back and say whether they are as planned."""

    def own_lock(self, ctx: Services, holder: LockHolder) -> AbstractContextManager[None]:
        """The lock a non-exclusive action holds instead of the action lock, so that it
        never runs twice at once; raises LockHeld naming the holder. None by default."""
        from contextlib import nullcontext

        return nullcontext()

    def read_back(self, ctx: Services) -> dict[str, Any]:
        """What the systems say now, recorded when the action is interrupted or fails."""
        return {}

    def recovery_hint(self, ctx: Services, state: dict[str, Any]) -> str:
        """What to do after this action was cut off half-way, given `state` (its read_back).
        Override where the action knows the way back."""
        return (
            "the state read back below is what the systems say now; check it "
            f"(pmb-console status) before you run {self.title} again"
        )
