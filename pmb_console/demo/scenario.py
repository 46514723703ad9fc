"""Scripted game days. `bad-release`: green fails about a minute after it takes traffic.

The scenario watches the demo router the way the load does (its state file), so it
reacts to whatever moved the traffic: the console, the CLI, another console. Once green
has failed and traffic is back on blue, it reads the audit log to tell the engineer how
long detection and rollback took — the same records a post-mortem is made from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmb_console.audit import AuditLog, parse_time
from pmb_console.demo.faults import ERROR_SPIKE, LATENCY_SPIKE, FaultBoard
from pmb_console.demo.router import read_weights
from pmb_console.errors import ProviderError

RecordFn = Callable[..., Any]
"""`record(action, **fields)`: writes an audit record (the runner's record_event)."""


class Scenario:
    """A scripted rehearsal, run in its own thread while the console is open."""

    name = "?"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def banner(self) -> str | None:
        return None


class BadRelease(Scenario):
    """Green degrades `delay_s` after it starts receiving traffic; the engineer rolls back."""

    name = "bad-release"
    TICK_S = 0.25

    def __init__(
        self,
        state_file: Path,
        board: FaultBoard,
        audit: AuditLog,
        *,
        record: RecordFn | None = None,
        delay_s: float = 60.0,
        error_share: float = 0.25,
        extra_latency_s: float = 0.6,
    ) -> None:
        self.state_file = state_file
        self.board = board
        self.audit = audit
        self.record = record
        self.delay_s = delay_s
        self.error_share = error_share
        self.extra_latency_s = extra_latency_s
        self.phase = "waiting"
        """waiting → armed (green has traffic) → degraded (faults on) → done (back on blue)."""
        self.armed_at: float | None = None
        self.degraded_at: float | None = None
        self.back_at: float | None = None
        self.result: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-scenario", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def banner(self) -> str | None:
        if self.phase == "waiting":
            return "bad-release: game day — switch traffic to green (v1.1.0) to begin"
        if self.phase == "armed" and self.armed_at is not None:
            left = max(0, round(self.armed_at + self.delay_s - time.time()))
            return f"bad-release: green degrades in {left} s — keep watching the panes"
        if self.phase == "degraded" and self.degraded_at is not None:
            return (
                f"bad-release: green is degrading ({time.time() - self.degraded_at:.0f} s) — "
                "notice it and roll back"
            )
        return self.result

    # --- the script --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.TICK_S):
            try:
                green = read_weights(self.state_file)["green"]
            except ProviderError:
                continue  # the file is being replaced, or the demo is stopping
            self.step(green, time.time())

    def step(self, green_weight: int, now: float) -> None:
        """Advance the script given green's share of traffic at `now` (wall clock)."""
        # Each change writes its time before its phase: another thread reads them together.
        if self.phase == "waiting" and green_weight > 0:
            self.armed_at = now
            self.phase = "armed"
        elif self.phase == "armed" and green_weight == 0:
            self.phase = "waiting"  # traffic left before anything broke
            self.armed_at = None
        elif (
            self.phase == "armed"
            and self.armed_at is not None
            and now >= self.armed_at + self.delay_s
        ):
            self._degrade(now)
        elif self.phase == "degraded" and green_weight == 0:
            # The summary first, then the phase: a reader that sees "done" (the console's
            # banner, another thread) must find the result already there.
            self.back_at = now
            self.result = self._summary()
            self.phase = "done"

    def _degrade(self, now: float) -> None:
        self.board.inject("green", ERROR_SPIKE.id, error_share=self.error_share)
        self.board.inject("green", LATENCY_SPIKE.id, extra_latency_s=self.extra_latency_s)
        self.degraded_at = now
        self.phase = "degraded"
        self._record(
            event="green degraded",
            faults=[ERROR_SPIKE.id, LATENCY_SPIKE.id],
            error_share=self.error_share,
            extra_latency_ms=round(self.extra_latency_s * 1000),
        )

    def _summary(self) -> str:
        """How long detection and rollback took, from the audit log where it has the facts."""
        assert self.degraded_at is not None and self.back_at is not None
        degraded = datetime.fromtimestamp(self.degraded_at, UTC)
        pressed, verified = self._rollback_times(degraded)
        if pressed is None or verified is None:
            total = self.back_at - self.degraded_at
            text = (
                f"bad-release done: traffic left green {total:.0f} s after it degraded "
                "(no verified rollback in the audit log: moved outside the console?)"
            )
            self._record(event="rehearsal over", recovery_s=round(total, 1))
            return text
        detection = (pressed - degraded).total_seconds()
        rollback = (verified - pressed).total_seconds()
        self._record(
            event="rehearsal over", detection_s=round(detection, 1), rollback_s=round(rollback, 1)
        )
        return (
            f"bad-release done: detected in {detection:.0f} s (rollback at {pressed:%H:%M:%S}), "
            f"rolled back and verified in {rollback:.1f} s — {detection + rollback:.0f} s of bad release"
        )

    def _rollback_times(self, degraded: datetime) -> tuple[datetime | None, datetime | None]:
        """When the engineer asked for the move back to blue, and when it was verified."""
        try:
            records = self.audit.records(since=degraded)
        except ProviderError:
            return None, None
        for rec in records:
            if rec.get("action") not in ("rollback", "switch") or rec.get("outcome") != "succeeded":
                continue
            after = (((rec.get("plan") or {}).get("data") or {}).get("after") or {}).get(
                "weights"
            ) or {}
            if after.get("green", 1) != 0:
                continue
            verified = parse_time(rec["time"])
            if rec.get("asked_at"):
                # The key press: when the guards and plan were read, before the confirmation.
                return parse_time(rec["asked_at"]), verified
            # An older record: the run's duration (which starts after the confirmation).
            pressed = datetime.fromtimestamp(
                verified.timestamp() - float(rec.get("duration_s", 0)), UTC
            )
            return pressed, verified
        return None, None

    def _record(self, **fields: Any) -> None:
        if self.record is None:
            return
        try:
            self.record("game-day", scenario=self.name, **fields)
        except Exception:
            pass  # the rehearsal goes on even if the audit log cannot take the note


SCENARIOS = {BadRelease.name: BadRelease}
