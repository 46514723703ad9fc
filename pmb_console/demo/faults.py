"""Game-day faults: what can go wrong with one color of the demo stack, and the switchboard.

A `FaultBoard` holds the faults active on each color. The instances consult it on every
request (so a fault shows in their real metrics, health answers and logs); the game-day
keys and the scripted scenarios flip it. It is read from many handler threads and written
from the console's thread, so every access goes through one lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from pmb_console.config import COLORS


@dataclass(frozen=True)
class Fault:
    """A fault an engineer can inject from the keyboard."""

    key: str
    id: str
    description: str


ERROR_SPIKE = Fault("1", "error-spike", "5xx spike (30%)")
LATENCY_SPIKE = Fault("2", "latency-spike", "latency spike (+800 ms)")
INSTANCE_DOWN = Fault("3", "instance-down", "one instance down")
HEALTH_FLAP = Fault("4", "health-flap", "health flapping")
LOG_STORM = Fault("5", "log-storm", "log storm")

FAULTS: tuple[Fault, ...] = (ERROR_SPIKE, LATENCY_SPIKE, INSTANCE_DOWN, HEALTH_FLAP, LOG_STORM)
FAULTS_BY_ID = {f.id: f for f in FAULTS}

DEFAULT_ERROR_SHARE = 0.30
DEFAULT_EXTRA_LATENCY_S = 0.8


@dataclass(frozen=True)
class ColorFaults:
    """What is wrong with one color right now. The default is a healthy color."""

    error_share: float = 0.0
    """Share of API requests answered with a 5xx, 0..1."""
    extra_latency_s: float = 0.0
    """Added to every API request's processing time."""
    instance_down: bool = False
    """The color's first instance stops listening."""
    health_flap: bool = False
    """/healthz alternates between 200 and 503 every few seconds."""
    log_storm: bool = False
    """The color's log gets a flood of warnings."""

    @property
    def active(self) -> list[str]:
        """The ids of the active faults, in the order of FAULTS."""
        flags = {
            ERROR_SPIKE.id: self.error_share > 0,
            LATENCY_SPIKE.id: self.extra_latency_s > 0,
            INSTANCE_DOWN.id: self.instance_down,
            HEALTH_FLAP.id: self.health_flap,
            LOG_STORM.id: self.log_storm,
        }
        return [fault_id for fault_id, on in flags.items() if on]


HEALTHY = ColorFaults()


class FaultBoard:
    """The faults of both colors, read by the stack, written by game day."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, ColorFaults] = {color: HEALTHY for color in COLORS}
        self._listeners: list = []

    def of(self, color: str) -> ColorFaults:
        with self._lock:
            return self._faults[color]

    def subscribe(self, listener) -> None:
        """`listener(color, faults)` is called after every change (the stack acts on it)."""
        self._listeners.append(listener)

    def inject(
        self,
        color: str,
        fault_id: str,
        *,
        error_share: float = DEFAULT_ERROR_SHARE,
        extra_latency_s: float = DEFAULT_EXTRA_LATENCY_S,
    ) -> ColorFaults:
        """Turn one fault on for a color; raises KeyError for an unknown color or fault."""
        _check_color(color)
        if fault_id not in FAULTS_BY_ID:
            raise KeyError(fault_id)
        with self._lock:
            now = self._faults[color]
            by_fault: dict[str, dict[str, Any]] = {
                ERROR_SPIKE.id: {"error_share": error_share},
                LATENCY_SPIKE.id: {"extra_latency_s": extra_latency_s},
                INSTANCE_DOWN.id: {"instance_down": True},
                HEALTH_FLAP.id: {"health_flap": True},
                LOG_STORM.id: {"log_storm": True},
            }
            changes = by_fault[fault_id]
            self._faults[color] = new = replace(now, **changes)
        self._tell(color, new)
        return new

    def clear(self, color: str | None = None) -> None:
        """Heal one color, or both."""
        for c in [color] if color else list(COLORS):
            _check_color(c)
            with self._lock:
                self._faults[c] = HEALTHY
            self._tell(c, HEALTHY)

    def _tell(self, color: str, faults: ColorFaults) -> None:
        for listener in list(self._listeners):
            listener(color, faults)


def _check_color(color: str) -> None:
    if color not in COLORS:
        raise KeyError(color)
