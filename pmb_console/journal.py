"""The deployment journal of one release: each runbook step's state, who set it, when and why.

One JSON file per release under `state_dir/journal/`, rewritten whole (write a temporary
file, then rename) under an flock, so a console killed mid-write leaves the previous
version and two consoles never interleave. The action in flight stays in state.Journal;
this file is the runbook's memory between runs.

Actions mark their steps through the runner (`follow_runner`): every audited outcome of
an action that carries out a step sets that step's state, with the outcome as evidence.
Marking a step by hand (`mark_step`) out of order needs a reason, which is written to the
journal and the audit log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmb_console.audit import now_iso
from pmb_console.errors import ProviderError, Refused, UsageError
from pmb_console.runbook import (
    DEPLOY_ORDER,
    DONE,
    FAILED,
    RUNNING,
    SKIPPED,
    STATES,
    STEP_OF_ACTION,
    find_step,
    steps_before,
)

if TYPE_CHECKING:
    from pmb_console.actions.runner import ActionRunner
    from pmb_console.bootstrap import Services
    from pmb_console.config import Config

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def release_of(config: Config) -> str:
    return config.release.version or "unversioned"


def new_color(config: Config) -> str:
    """The color this release is deployed to: the one configured with its version, else green."""
    version = config.release.version
    for color in ("green", "blue"):
        if version and config.colors.of(color).version == version:
            return color
    return "green"


def old_color(config: Config) -> str:
    return "blue" if new_color(config) == "green" else "green"


class ReleaseJournal:
    """The journal file of one release."""

    def __init__(self, state_dir: Path, release: str, environment: str = "") -> None:
        self.release = release
        self.environment = environment
        name = _UNSAFE.sub("_", release) or "unversioned"
        self.path = Path(state_dir) / "journal" / f"{name}.json"
        self.events_path = self.path.with_suffix(".events.jsonl")
        """Every change, appended: kept apart so the state file stays small and quick to rewrite."""

    @classmethod
    def of(cls, ctx: Services) -> ReleaseJournal:
        cfg = ctx.config
        return cls(cfg.console.state_dir, release_of(cfg), cfg.console.environment)

    def read(self) -> dict[str, Any]:
        """The journal's state (steps, monitoring window), or an empty one for a release not started."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self._empty()
        except (OSError, ValueError) as exc:
            raise ProviderError(
                f"the deployment journal {self.path} cannot be read: {exc}",
                "move the damaged file aside; the audit log still holds every action",
            ) from None
        if not isinstance(data, dict):
            return self._empty()
        data["events"] = []  # new events only; the history is in events()
        return data

    def events(self) -> list[dict[str, Any]]:
        """Every step change of this release, oldest first."""
        try:
            lines = self.events_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # a torn last line from a crash is skipped, not fatal
        return found

    def _empty(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "environment": self.environment,
            "created_at": "",
            "steps": {},
            "events": [],
            "monitor": None,
        }

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ProviderError(
                f"cannot write the deployment journal in {self.path.parent}: {exc.strerror}",
                "check that [console] state_dir is writable",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Read, apply `change` (which edits the dict in place), write back atomically."""
        with self._locked():
            data = self.read()
            if not data.get("created_at"):
                data["created_at"] = now_iso()
            answer = change(data)
            events = data.pop("events", [])
            tmp = self.path.with_suffix(".tmp")
            try:
                if events:
                    with open(self.events_path, "a", encoding="utf-8") as fh:
                        fh.writelines(json.dumps(e, default=str) + "\n" for e in events)
                tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as exc:
                raise ProviderError(
                    f"cannot write the deployment journal {self.path}: {exc.strerror}",
                    "check free space and permissions of [console] state_dir",
                ) from None
            return answer

    def mark(
        self,
        step_id: str,
        state: str,
        operator: str,
        evidence: Any = None,
        *,
        override: str = "",
        allow_out_of_order: bool = False,
    ) -> dict[str, Any]:
        """Set a step's state (see `mark_in`); the entry written."""
        return self.update(
            lambda data: mark_in(
                data,
                step_id,
                state,
                operator,
                evidence,
                override=override,
                allow_out_of_order=allow_out_of_order,
            )
        )

    def set_monitor(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Edit the monitoring window record ({} when none) under the journal's lock."""

        def wrapped(data: dict[str, Any]) -> Any:
            window = data.get("monitor") or {}
            answer = change(window)
            data["monitor"] = window
            return answer

        return self.update(wrapped)


def mark_in(
    data: dict[str, Any],
    step_id: str,
    state: str,
    operator: str,
    evidence: Any = None,
    *,
    override: str = "",
    allow_out_of_order: bool = False,
) -> dict[str, Any]:
    """Set a step's state in a journal's data; the entry written.

    Done out of order (an earlier §2 step neither done nor skipped) is refused unless
    `override` says why, or `allow_out_of_order` (an action that already ran: the entry
    then names the steps it jumped, so the view can say so).
    """
    if find_step(step_id) is None:
        raise UsageError(
            f"no runbook step {step_id!r}", "see `pmb-console journal` for the step ids"
        )
    if state not in STATES:
        raise UsageError(f"no step state {state!r}", f"one of: {', '.join(STATES)}")
    steps = data.setdefault("steps", {})
    skipped = steps_before(step_id, steps) if state in (DONE, SKIPPED) else []
    if skipped and not override and not allow_out_of_order:
        raise Refused(
            f"step {step_id} cannot be marked {state}: {', '.join(skipped)} "
            f"{'is' if len(skipped) == 1 else 'are'} not done",
            "do the earlier steps first, or say why with --reason (recorded as an override)",
        )
    entry: dict[str, Any] = {"state": state, "by": operator, "at": now_iso()}
    if evidence is not None:
        entry["evidence"] = evidence
    if skipped:
        entry["out_of_order"] = skipped
        if override:
            entry["override"] = override  # the reason the order was overridden
    steps[step_id] = entry
    data.setdefault("events", []).append({"step": step_id, **entry})
    return entry


def mark_step(
    ctx: Services, step_id: str, state: str, reason: str = "", evidence: Any = None
) -> dict[str, Any]:
    """An operator marks a step by hand; audited, with the reason as an override when out of order."""
    operator = ctx.config.console.operator
    journal = ReleaseJournal.of(ctx)
    # Out of order, the reason is shown as the override; in order, as the evidence.
    jumps = state in (DONE, SKIPPED) and steps_before(step_id, journal.read().get("steps", {}))
    said = f"marked by hand: {reason}" if reason and not jumps else "marked by hand"
    entry = journal.mark(step_id, state, operator, evidence or said, override=reason)
    ctx.runner.record_event(
        "journal-mark",
        outcome="succeeded",
        step=step_id,
        state=state,
        release=journal.release,
        environment=ctx.config.console.environment,
        reason=reason,
        override={"reason": reason, "out_of_order": entry["out_of_order"]}
        if entry.get("out_of_order")
        else None,
    )
    return entry


# --- following the runner --------------------------------------------------------------

_OUTCOME_STATE = {
    "started": RUNNING,
    "succeeded": DONE,
    "failed": FAILED,
    "not-verified": FAILED,
    "interrupted": FAILED,
}


def step_for(record: dict[str, Any], config: Config) -> str:
    """The runbook step an audited action record carries out ("" when none)."""
    action = record.get("action", "")
    if action == "switch":
        params = record.get("params") or {}
        if params.get("to") == old_color(config):
            return "rollback-traffic"  # switching back by hand is the rollback step
        return "switch-traffic"
    return STEP_OF_ACTION.get(action, "")


def follow_runner(ctx: Services, runner: ActionRunner) -> None:
    """Keep the release journal in step with every action the runner records."""

    def listener(record: dict[str, Any]) -> None:
        step = step_for(record, ctx.config)
        state = _OUTCOME_STATE.get(record.get("outcome", ""))
        nothing_to_do = record.get("outcome") == "nothing-to-do" and step in DEPLOY_ORDER
        if nothing_to_do:
            state = DONE  # already done (no pending migration, say): the step needs nothing more
        if not step or not state:
            return
        if record.get("action") == "switch" and state == DONE and step == "switch-traffic":
            if (record.get("params") or {}).get("weight", 100) < 100:
                state = RUNNING  # a gradual step: the switch is done at 100%
        evidence = {
            "action": record.get("action"),
            "run_id": record.get("run_id", ""),
            # Shown as "<outcome>: <message>": "nothing to do: no pending migrations in …".
            "outcome": "nothing to do" if nothing_to_do else record.get("outcome"),
            "message": record.get("message", ""),
        }
        override = (record.get("override") or {}).get("reason", "")
        snapshot_id = (record.get("result") or {}).get("snapshot_id", "")
        from pmb_console.monitor import close_window_in, open_window_in

        def change(data: dict[str, Any]) -> None:
            # One read and one write per record: this runs in the action's own thread,
            # and the "started" record comes before the change is made.
            if nothing_to_do and (data.get("steps", {}).get(step) or {}).get("state") == DONE:
                return  # done before: the run that did it stays the evidence
            mark_in(
                data,
                step,
                state,
                record.get("operator", ""),
                evidence,
                override=override,
                allow_out_of_order=True,
            )
            if step == "switch-traffic" and state == DONE and not nothing_to_do:
                # Only a verified move opens the window: traffic found already there was
                # moved outside the console, at a time nobody recorded.
                open_window_in(data, ctx.config, record.get("time") or now_iso())
            elif step == "rollback-traffic" and state == DONE:
                close_window_in(data, f"traffic rolled back ({record.get('message', '')})")

        ReleaseJournal.of(ctx).update(change)
        if record.get("action") == "snapshot" and state == DONE:
            from pmb_console.rollback_assessment import record_write_counters

            record_write_counters(ctx, snapshot_id)

    runner.listeners.append(_never_failing(ctx, listener))


def _never_failing(
    ctx: Services, listener: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any]], None]:
    # The journal is a record of the action, not a guard on it: a fault here must not
    # touch the action, but it must not pass in silence either, so it goes to the audit.
    def safe(record: dict[str, Any]) -> None:
        try:
            listener(record)
        except Exception as exc:
            from pmb_console.audit import new_record
            from pmb_console.redact import redact

            try:
                ctx.audit.append(
                    new_record(
                        "journal-fault",
                        ctx.config.console.operator,
                        outcome="failed",
                        run_id=record.get("run_id", ""),
                        message=redact(f"the deployment journal was not updated: {exc}"),
                    )
                )
            except Exception:
                pass  # the audit itself is failing; the action's own record says so

    return safe
