"""ActionRunner: the only path to a change.

read-only check → guards → plan → confirmation → lock → journal "started" → execute →
verify → audit outcome → broadcast. Both faces (CLI and console) call `run`; neither
holds logic of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from pmb_console.actions.base import Action, Confirmation, GuardResult, Plan, Verification
from pmb_console.audit import new_record, now_iso
from pmb_console.errors import (
    ExitCode,
    LockHeld,
    PmbError,
    ReadOnlyRefused,
    Refused,
    UsageError,
)
from pmb_console.locking import LockHolder
from pmb_console.providers.base import ProgressFn, no_progress
from pmb_console.redact import redact
from pmb_console.state import Journal

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services


@dataclass(frozen=True)
class Preview:
    """Guards and plan, read live, without changing anything."""

    guards: list[GuardResult]
    plan: Plan
    made_at: float = field(default_factory=time.monotonic)

    @property
    def failed(self) -> list[GuardResult]:
        return [g for g in self.guards if not g.ok]


@dataclass
class Outcome:
    action: str
    status: str
    """succeeded | failed | not-verified | refused | not-confirmed | locked | read-only |
    dry-run | nothing-to-do | interrupted."""
    message: str = ""
    hint: str = ""
    plan: Plan | None = None
    guards: list[GuardResult] = field(default_factory=list)
    verification: Verification | None = None
    result: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    run_id: str = ""
    read_back: dict[str, Any] = field(default_factory=dict)
    """What the systems said after a failure or an interruption half-way through."""

    @property
    def state(self) -> dict[str, Any]:
        """The state read back at the end: by verify, or after a failure or interruption."""
        return self.verification.state if self.verification else self.read_back

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "dry-run", "nothing-to-do")

    @property
    def exit_code(self) -> int:
        return {
            "succeeded": ExitCode.OK,
            "dry-run": ExitCode.OK,
            "nothing-to-do": ExitCode.OK,
            "refused": ExitCode.REFUSED,
            "not-confirmed": ExitCode.REFUSED,
            "locked": ExitCode.LOCKED,
            "read-only": ExitCode.READ_ONLY,
            "usage": ExitCode.USAGE,
        }.get(self.status, ExitCode.FAILED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "status": self.status,
            "ok": self.ok,
            "message": self.message,
            "hint": self.hint,
            "plan": self.plan.as_dict() if self.plan else None,
            "guards": [g.as_dict() for g in self.guards],
            "verified": self.verification.ok if self.verification else None,
            "verification": self.verification.detail if self.verification else "",
            "state": self.state,
            "result": self.result,
            "duration_s": round(self.duration_s, 3),
            "run_id": self.run_id,
        }


ConfirmFn = Callable[[Preview], Confirmation]

GUARDS_STALE_AFTER_S = 10.0
"""Guards read longer ago than this (a confirmation left open) are checked again under the lock."""


class ActionRunner:
    def __init__(self, ctx: Services) -> None:
        self.ctx = ctx
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._asked: tuple[Action, str] | None = None
        """The action last previewed and when: the console previews, shows the confirmation,
        then runs; the time it was asked for is the preview's, not the run's."""

    # --- reading ---------------------------------------------------------------------

    def preview(self, action: Action) -> Preview:
        """Guards and plan, live. Raises PmbError when the systems cannot be read."""
        asked_at = now_iso()
        preview = self._read(action)
        self._asked = (action, asked_at)
        return preview

    def _read(self, action: Action) -> Preview:
        guards = action.guards(self.ctx)
        return Preview(guards, action.plan(self.ctx))

    def _asked_at(self, action: Action) -> str:
        """When `action` was asked for: its preview, if it was previewed first, else now."""
        asked = self._asked
        if asked is None or asked[0] is not action:
            return now_iso()  # another action's preview (an automatic rollback's) stays
        self._asked = None
        return asked[1]

    # --- doing -----------------------------------------------------------------------

    def run(
        self,
        action: Action,
        confirmation: Confirmation | ConfirmFn,
        *,
        force: bool = False,
        reason: str = "",
        dry_run: bool = False,
        progress: ProgressFn = no_progress,
    ) -> Outcome:
        cfg = self.ctx.config
        started = time.monotonic()
        run_id = uuid.uuid4().hex[:12]
        base = {
            "run_id": run_id,
            "params": action.params(),
            "environment": cfg.console.environment,
            # The key press: detection ends here, and the time to the outcome is the action's.
            "asked_at": self._asked_at(action),
        }
        if reason:
            base["reason"] = reason

        def record(outcome: Outcome, **extra: Any) -> Outcome:
            outcome.duration_s = time.monotonic() - started
            outcome.run_id = run_id
            metrics = self._metrics()
            if metrics:
                extra["metrics"] = metrics
            self._audit(
                action.name,
                **base,
                outcome=outcome.status,
                message=outcome.message,
                plan=outcome.plan.as_dict() if outcome.plan else None,
                guards=[g.as_dict() for g in outcome.guards],
                duration_s=round(outcome.duration_s, 3),
                **extra,
            )
            return outcome

        if action.mutating and cfg.console.read_only and not dry_run:
            return record(
                Outcome(
                    action.name,
                    "read-only",
                    f"{action.title} refused: this console is read-only",
                    "open the console without --read-only (and without [console] read_only)",
                )
            )
        if force and not reason.strip():
            return Outcome(
                action.name,
                "usage",
                "--force needs --reason TEXT",
                "say why the guard is overridden",
            )

        try:
            preview = self._read(action)
        except PmbError as exc:
            return record(Outcome(action.name, "failed", exc.message, exc.hint))

        failed = preview.failed
        override = None
        if failed and not dry_run:
            if not force:
                return record(
                    Outcome(
                        action.name,
                        "refused",
                        f"{action.title} refused: "
                        + "; ".join(f"{g.name}: {g.detail}" for g in failed),
                        "fix what the guard names, or override with --force --reason TEXT",
                        plan=preview.plan,
                        guards=preview.guards,
                    )
                )
            override = {"reason": reason, "guards": [g.as_dict() for g in failed]}

        if dry_run:
            return Outcome(
                action.name,
                "dry-run",
                preview.plan.summary,
                plan=preview.plan,
                guards=preview.guards,
            )
        if preview.plan.nothing_to_do:
            # Audited: a step found already done is evidence too (the runbook marks it).
            return record(
                Outcome(
                    action.name,
                    "nothing-to-do",
                    preview.plan.summary,
                    plan=preview.plan,
                    guards=preview.guards,
                )
            )

        answer = confirmation(preview) if callable(confirmation) else confirmation
        if not answer.confirmed:
            return record(
                Outcome(
                    action.name,
                    "not-confirmed",
                    f"{action.title} not confirmed; nothing changed",
                    plan=preview.plan,
                    guards=preview.guards,
                )
            )
        if action.destructive and answer.typed != cfg.console.environment:
            return record(
                Outcome(
                    action.name,
                    "not-confirmed",
                    f"{action.title} not confirmed: the environment name typed does not match",
                    f"type the environment name exactly: {cfg.console.environment}",
                    plan=preview.plan,
                    guards=preview.guards,
                )
            )

        holder = LockHolder(cfg.console.operator, _host(), _pid(), action.name, now_iso(), reason)
        try:
            # A non-exclusive action (a drill, a JIRA migration) never holds up a rollback:
            # it holds a lock of its own, if any, instead of the action lock.
            lock = self.ctx.lock.hold if action.exclusive else partial(action.own_lock, self.ctx)
            with lock(holder):
                return self._locked(action, preview, override, base, record, progress)
        except LockHeld as exc:
            return record(_from_error(action, "locked", exc, preview.plan, preview.guards))
        except PmbError as exc:
            return record(_from_error(action, "failed", exc, preview.plan, preview.guards))

    def _journal_of(self, action: Action) -> Journal:
        """Where the action's in-flight record goes.

        An action that takes no deploy lock (a drill, a JIRA migration) may run beside a
        switch or rollback: its record gets a file of its own, so neither can overwrite or
        clear the other's, and `resume` keeps reading the one that may leave traffic or
        the database half changed."""
        if action.exclusive:
            return self.ctx.journal
        return Journal(self.ctx.config.console.state_dir, f"in-flight-{action.name}.json")

    def _locked(self, action, preview, override, base, record, progress) -> Outcome:
        # Between the plan being shown and the lock being taken, another console may have
        # changed the systems: plan again under the lock and refuse if the changes differ.
        try:
            fresh = action.plan(self.ctx)
        except PmbError as exc:
            return record(_from_error(action, "failed", exc, preview.plan, preview.guards))
        if fresh.steps != preview.plan.steps or fresh.nothing_to_do != preview.plan.nothing_to_do:
            return record(
                Outcome(
                    action.name,
                    "refused",
                    f"{action.title} refused: the systems changed since the plan was made"
                    f"{_changed_by(self.ctx, preview.made_at)} (now: {fresh.summary})",
                    "look at the new state and run the action again if it is still wanted",
                    plan=fresh,
                    guards=preview.guards,
                )
            )
        if time.monotonic() - preview.made_at > GUARDS_STALE_AFTER_S and not override:
            stale = [g for g in action.guards(self.ctx) if not g.ok]
            if stale:
                return record(
                    Outcome(
                        action.name,
                        "refused",
                        f"{action.title} refused: "
                        + "; ".join(f"{g.name}: {g.detail}" for g in stale),
                        "a guard failed while the confirmation was open",
                        plan=fresh,
                        guards=stale,
                    )
                )
        plan = preview.plan
        started_rec = {
            **base,
            "action": action.name,
            "outcome": "started",
            "plan": plan.as_dict(),
            "guards": [g.as_dict() for g in preview.guards],
            "pid": _pid(),
            "operator": self.ctx.config.console.operator,
            "time": now_iso(),
        }
        if override:
            started_rec["override"] = override
        journal = self._journal_of(action)
        journal.start(started_rec)
        self._audit(
            action.name,
            **{
                k: v
                for k, v in started_rec.items()
                if k not in ("action", "operator", "time", "pid")
            },
        )
        try:
            try:
                result = action.execute(self.ctx, plan, progress)
            except PmbError as exc:
                failed = _from_error(action, "failed", exc, plan, preview.guards)
                return self._cut_off(action, failed, record, override)
            progress("verifying: reading the systems back", None)
            try:
                verification = action.verify(self.ctx, plan, result)
            except PmbError as exc:
                verification = Verification(False, f"could not read back: {exc.message}")
            status = "succeeded" if verification.ok else "not-verified"
            message = (
                f"{action.title} done and verified: {verification.detail}"
                if verification.ok
                else f"{action.title} not verified: {verification.detail}"
            )
            return record(
                Outcome(
                    action.name,
                    status,
                    message,
                    plan=plan,
                    guards=preview.guards,
                    verification=verification,
                    result=result,
                ),
                state=verification.state,
                result=result,
                override=override,
            )
        except KeyboardInterrupt:
            interrupted = Outcome(
                action.name,
                "interrupted",
                f"{action.title} interrupted (Ctrl+C) before it finished",
                plan=plan,
                guards=preview.guards,
            )
            return self._cut_off(action, interrupted, record, override)
        except Exception as exc:  # a bug, not a foreseeable fault: still recorded
            unexpected = Outcome(
                action.name,
                "failed",
                redact(f"unexpected error: {type(exc).__name__}: {exc}"),
                plan=plan,
                guards=preview.guards,
            )
            return self._cut_off(action, unexpected, record, override, bug=True)
        finally:
            journal.finish()

    def _metrics(self) -> dict[str, Any]:
        """The metrics of both colors at this decision point, when a face provides them."""
        snapshot = getattr(self.ctx, "metrics_snapshot", None)
        if snapshot is None:
            return {}
        try:
            return snapshot() or {}
        except Exception:
            return {}

    def _cut_off(
        self, action: Action, outcome: Outcome, record, override, *, bug: bool = False
    ) -> Outcome:
        """An action stopped half-way: read the systems back, and say what to do from there.

        A foreseeable fault keeps its own hint; an interruption or a bug gets the action's
        recovery hint, which knows the way back (a restore's safety snapshot, say)."""
        outcome.read_back = self._safe_read_back(action)
        if outcome.status == "interrupted" or not outcome.hint or bug:
            way_on = _recovery_hint(action, self.ctx, outcome.read_back)
            outcome.hint = f"this is a bug in pmb-console; {way_on}" if bug else way_on
        return record(outcome, state=outcome.read_back, override=override)

    def _safe_read_back(self, action: Action) -> dict[str, Any]:
        try:
            return action.read_back(self.ctx)
        except PmbError as exc:
            return {"error": exc.message}
        except Exception as exc:
            return {"error": redact(f"{type(exc).__name__}: {exc}")}

    # --- recording -------------------------------------------------------------------

    def record_event(self, action: str, **fields: Any) -> dict[str, Any]:
        """Audit something that is not an action run (a checklist sign-off, say)."""
        return self._audit(action, **fields)

    def _audit(self, action: str, **fields: Any) -> dict[str, Any]:
        rec = new_record(action, self.ctx.config.console.operator, **fields)
        self.ctx.audit.append(rec)
        for listener in list(self.listeners):
            try:
                listener(rec)
            except Exception:
                pass  # a broken listener must never fail an action
        return rec


def _from_error(
    action: Action, status: str, exc: PmbError, plan: Plan | None, guards: list[GuardResult]
) -> Outcome:
    """The outcome of a foreseeable fault: its words and hint, with what had been decided."""
    return Outcome(action.name, status, exc.message, exc.hint, plan=plan, guards=guards)


CHANGE_OUTCOMES = ("started", "succeeded", "not-verified", "failed", "interrupted")
CHANGE_LOOKBACK = 50
"""How many of the latest audit records are searched for the change that overtook a plan."""
CLOCK_SLACK_S = 60.0
"""Consoles' clocks differ: a change recorded up to this long before the plan still counts."""


def _changed_by(ctx: Services, plan_made_at: float) -> str:
    """Who changed the systems after a plan was made, from the audit log: ", by alice's
    switch traffic at 02:14:07 UTC"; "" when the log cannot be read."""
    from datetime import UTC

    from pmb_console.audit import parse_time

    try:
        records = ctx.audit.recent(CHANGE_LOOKBACK)
    except PmbError:
        return ""
    since = time.time() - (time.monotonic() - plan_made_at) - CLOCK_SLACK_S
    for rec in reversed(records):
        if rec.get("outcome") not in CHANGE_OUTCOMES:
            continue
        try:
            at = parse_time(str(rec.get("time")))
        except ValueError:
            continue
        if at.timestamp() < since:
            break
        when = at.astimezone(UTC).strftime("%H:%M:%S UTC")
        what = _title(str(rec.get("action")))
        return f", by {rec.get('operator', '?')}'s {what} at {when}"
    return ", outside pmb-console: no console recorded a change since"


def _title(name: str) -> str:
    """An action's title from its name ("switch" → "switch traffic"), as the audit has names."""
    classes: list[type[Action]] = list(Action.__subclasses__())
    while classes:
        cls = classes.pop()
        if cls.name == name:
            return cls.title
        classes.extend(cls.__subclasses__())
    return name


def _recovery_hint(action: Action, ctx: Services, state: dict[str, Any]) -> str:
    try:
        return action.recovery_hint(ctx, state)
    except Exception:  # a hint must never hide the outcome
        return Action.recovery_hint(action, ctx, state)


def _host() -> str:
    import socket

    return socket.gethostname()


def _pid() -> int:
    import os

    return os.getpid()


__all__ = ["ActionRunner", "Outcome", "Preview", "Refused", "ReadOnlyRefused", "UsageError"]
