"""What the embedded demo offers the console: faults to inject and a banner to show.

The demo stack implements this; the console only calls it, so a production console
never imports anything of the demo.
"""

from __future__ import annotations

from typing import Protocol


class DemoControls(Protocol):
    faults: list[
        tuple[str, str, str]
    ]  # (key, fault_id, description), e.g. ("1", "error-spike", "5xx spike (30%)")

    def inject(
        self, color: str, fault_id: str
    ) -> str: ...  # returns words for a notification; quick, no I/O wait

    def clear(self, color: str | None = None) -> str: ...

    def banner(
        self,
    ) -> str | None: ...  # e.g. "bad-release: green degrades in 42 s", polled each second
