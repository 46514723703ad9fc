"""Messages the workers post back to the app: immutable results, never shared state."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from pmb_console.providers.base import ColorMetrics
from pmb_console.tui.readings import Fault, SystemsReading


class SystemsRead(Message):
    """The load balancer, lock, audit log and journal were read."""

    def __init__(self, reading: SystemsReading) -> None:
        super().__init__()
        self.reading = reading

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SystemsRead)


class MetricsRead(Message):
    """One metrics round finished."""

    def __init__(self, metrics: dict[str, ColorMetrics]) -> None:
        super().__init__()
        self.metrics = metrics

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MetricsRead)


class WorkFailed(Message):
    """A worker failed; the one place that words it is the app."""

    def __init__(self, fault: Fault) -> None:
        super().__init__()
        self.fault = fault


class ActionProgressed(Message):
    """A running action reported progress (from its thread)."""

    def __init__(self, text: str, fraction: float | None) -> None:
        super().__init__()
        self.text = text
        self.fraction = fraction


class ActionFinished(Message):
    """The runner returned an Outcome."""

    def __init__(self, outcome: Any) -> None:
        super().__init__()
        self.outcome = outcome


class ChecklistRead(Message):
    """The pre-deployment checklist was checked (its CheckResults)."""

    def __init__(self, results: tuple[Any, ...]) -> None:
        super().__init__()
        self.results = results

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ChecklistRead)


class MonitorObserved(Message):
    """A metrics poll was judged against the monitoring window (a MonitorReport)."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report
