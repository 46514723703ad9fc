"""Game day from the keyboard: the console's `DemoControls`, backed by the demo stack.

The console calls these on its event loop, so each returns at once: flipping a fault is
a few assignments (taking an instance down closes one local listener), and the audit
note of what was injected is written by a background thread.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from pmb_console.demo.faults import FAULTS, FAULTS_BY_ID
from pmb_console.demo.scenario import RecordFn, Scenario

if TYPE_CHECKING:
    from pmb_console.demo.stack import DemoStack


class GameDay:
    """Inject and clear faults per color; the banner says what is going on."""

    def __init__(
        self, stack: DemoStack, *, scenario: Scenario | None = None, record: RecordFn | None = None
    ) -> None:
        self.stack = stack
        self.scenario = scenario
        self.record = record
        self.faults: list[tuple[str, str, str]] = [(f.key, f.id, f.description) for f in FAULTS]
        self._notes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-audit")

    def start(self) -> GameDay:
        if self.scenario is not None:
            self.scenario.start()
        return self

    def close(self) -> None:
        if self.scenario is not None:
            self.scenario.stop()
        self._notes.shutdown(wait=True)

    def inject(self, color: str, fault_id: str) -> str:
        fault = FAULTS_BY_ID.get(fault_id)
        if fault is None or color not in self.stack.instances:
            return f"no such fault or color: {fault_id} on {color}"
        self.stack.faults.inject(color, fault_id)
        self._note(event="fault injected", color=color, fault=fault_id)
        return f"game day: {fault.description} injected into {color}"

    def clear(self, color: str | None = None) -> str:
        self.stack.faults.clear(color)
        self._note(event="faults cleared", color=color or "both")
        return f"game day: {color or 'both colors'} healed"

    def banner(self) -> str | None:
        if self.scenario is not None:
            said = self.scenario.banner()
            if said:
                return said
        active = [
            f"{color}: {', '.join(faults)}"
            for color in self.stack.instances
            if (faults := self.stack.faults.of(color).active)
        ]
        return f"game day — {'; '.join(active)}" if active else None

    def _note(self, **fields: object) -> None:
        if self.record is None:
            return
        record = self.record

        def write() -> None:
            try:
                record("game-day", **fields)
            except Exception:
                pass  # a note that cannot be written must not break the rehearsal

        try:
            self._notes.submit(write)
        except RuntimeError:
            pass  # closing
