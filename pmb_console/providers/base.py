"""The ports: what the console needs from real systems, as small ABCs with value objects.

A provider implements one port and is picked by name from the config (see registry.py).
Providers know nothing of actions or screens; they raise `ProviderError` (message, hint)
for every foreseeable fault and never print.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

COLORS = ("blue", "green")

ProgressFn = Callable[[str, float | None], None]
"""progress(message, fraction or None) — reported by long operations."""


def no_progress(message: str, fraction: float | None = None) -> None:
    return None


# --- traffic ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerState:
    """One backend member (an HAProxy server, an ALB target group, a DNS record)."""

    name: str
    color: str
    weight: int
    """The raw weight in the provider's own unit."""
    admin: str = "ready"
    """ready | maint | drain (what an operator set)."""
    operational: str = "up"
    """up | down | stopped | no-check | unknown (what health checks say)."""
    detail: str = ""


@dataclass(frozen=True)
class TrafficState:
    """Traffic as read from the load balancer or DNS at one moment."""

    provider: str
    weights: dict[str, int]
    """Percent of traffic each color receives, summing to 100 (or 0 when nothing is live)."""
    servers: tuple[ServerState, ...] = ()
    detail: str = ""
    """Anything the provider wants said (e.g. a DNS TTL)."""

    @property
    def live(self) -> str:
        """blue | green | split | none."""
        on = [c for c in COLORS if self.weights.get(c, 0) > 0]
        if len(on) == 2:
            return "split"
        return on[0] if on else "none"

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "live": self.live,
            "weights": dict(self.weights),
            "servers": [asdict(s) for s in self.servers],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RouterCheck:
    """A precondition only this router knows how to check (e.g. an ALB target group has
    healthy targets). The switch action shows it as one more guard."""

    name: str
    ok: bool
    detail: str


class TrafficRouter(ABC):
    """Moves traffic between the colors.

    Raises ProviderError when the load balancer cannot be reached or does not know the
    configured backend/servers. `read` is always live: nothing is cached.
    """

    name: str = "?"
    SUPPORTS_WEIGHTS = True

    @abstractmethod
    def read(self) -> TrafficState:
        """The state right now."""

    @abstractmethod
    def desired(self, current: TrafficState, weights: dict[str, int]) -> TrafficState:
        """Pure: the state the router should show once `weights` (percent) are applied."""

    @abstractmethod
    def apply(self, current: TrafficState, desired: TrafficState, progress: ProgressFn) -> None:
        """Make the changes that turn `current` into `desired`."""

    def differences(self, actual: TrafficState, desired: TrafficState) -> list[str]:
        """What differs between a read-back and the plan; empty when verified."""
        diffs = []
        for color in COLORS:
            if actual.weights.get(color, 0) != desired.weights.get(color, 0):
                diffs.append(
                    f"{color} traffic: planned {desired.weights.get(color, 0)}%, "
                    f"read back {actual.weights.get(color, 0)}%"
                )
        got = {s.name: s for s in actual.servers}
        for want in desired.servers:
            have = got.get(want.name)
            if have is None:
                diffs.append(f"{want.name}: missing from the read-back")
                continue
            if have.weight != want.weight:
                diffs.append(f"{want.name} weight: planned {want.weight}, read back {have.weight}")
            if have.admin != want.admin:
                diffs.append(f"{want.name} state: planned {want.admin}, read back {have.admin}")
        return diffs

    def guards(self, target: str) -> list[RouterCheck]:
        """Checks, read live, before `target` (a color) receives traffic; and again after."""
        return []

    def close(self) -> None:
        return None


# --- health ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthResult:
    instance: str
    color: str
    url: str
    ok: bool
    status: int | None = None
    error: str = ""
    latency_ms: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        said = f"HTTP {self.status}" if self.status is not None else self.error
        return f"{self.instance}: {said} in {self.latency_ms:.0f} ms"


# --- snapshots -------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    created_at: datetime
    """Timezone-aware UTC."""
    label: str = ""
    database: str = ""
    size_bytes: int = 0
    kind: str = "manual"
    """manual | automated | safety."""
    status: str = "available"
    manifest: dict[str, Any] = field(default_factory=dict)
    prunable: bool = True
    """May pruning delete it once it is past retention? The store decides: RDS leaves
    automated snapshots to RDS and manual ones it did not take to whoever took them."""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat()
        return d


@dataclass(frozen=True)
class RestoreResult:
    snapshot_id: str
    safety_snapshot_id: str = ""
    duration_s: float = 0.0
    row_counts: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    detail: str = ""


StoreCheck = RouterCheck
"""A precondition only this snapshot store knows how to check; same shape as RouterCheck."""


class SnapshotStore(ABC):
    """Takes, lists and restores database snapshots. Raises ProviderError."""

    name: str = "?"

    @abstractmethod
    def list(self) -> list[SnapshotInfo]:
        """Snapshots, newest first."""

    @abstractmethod
    def create(
        self, label: str, progress: ProgressFn = no_progress, kind: str = "manual"
    ) -> SnapshotInfo:
        """Take a snapshot and wait until it is usable."""

    @abstractmethod
    def check(self, snapshot_id: str) -> builtins.list[str]:
        """Problems that would make a restore unsafe (e.g. checksum mismatch); empty if none."""

    @abstractmethod
    def restore(self, snapshot_id: str, progress: ProgressFn = no_progress) -> RestoreResult:
        """Replace the database with the snapshot's content (the caller took a safety snapshot)."""

    def get(self, snapshot_id: str) -> SnapshotInfo | None:
        return next((s for s in self.list() if s.id == snapshot_id), None)

    def delete(self, snapshot_id: str) -> None:
        raise NotImplementedError(f"{self.name} cannot delete snapshots")

    def describe_target(self) -> str:
        """The database this store acts on, redacted, for plans and confirmations."""
        return self.name

    def restore_steps(self, snapshot: SnapshotInfo) -> tuple[str, ...]:
        """What `restore` will do, in this store's own words, for plans and confirmations."""
        return (f"restore {snapshot.id} into {self.describe_target()}",)

    def continued_safety(self, snapshot_id: str) -> str:
        """The safety snapshot already taken for an interrupted restore of `snapshot_id`
        that `restore` will continue; "" when there is none and a new one is needed."""
        return ""

    def safety_taken(self, snapshot_id: str, safety_snapshot_id: str) -> None:
        """Note the safety snapshot taken before restoring `snapshot_id` (a store that
        journals its restores keeps it, so continuing one does not take another)."""
        return None

    journals_restores = False
    """Does `journaled_restore` read a journal? (Else resume cannot say how far one got.)"""

    def journaled_restore(self) -> dict[str, Any] | None:
        """The last restore this store journaled step by step, read back live; None when
        there is none or the store keeps no such journal. Keys: snapshot_id, target,
        finished (bool), step and steps (numbers), step_name, endpoint_has_instance,
        safety_snapshot_id, and `said`: what it means, in words."""
        return None

    INTEGRITY = "the snapshot passed the store's own checks"
    """What `check` proves when it finds nothing, said in the restore guards."""

    def guards(self) -> builtins.list[StoreCheck]:
        """Checks, read live, before a snapshot is taken (database reachable, room to write)."""
        return []


# --- metrics and logs ------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceMetrics:
    name: str
    color: str
    up: bool
    error: str = ""
    scraped_at: float = 0.0
    """time.time() of the last scrape attempt."""
    down_since: float | None = None
    latency_ms: float = 0.0
    requests_per_second: float | None = None
    error_rate: float | None = None
    """Share of 5xx among requests, 0..1."""
    p95_ms: float | None = None
    slow: bool = False


@dataclass(frozen=True)
class ColorMetrics:
    color: str
    requests_per_second: float | None
    error_rate: float | None
    p95_ms: float | None
    instances: tuple[InstanceMetrics, ...] = ()
    at: float = 0.0
    error: str = ""
    """Why figures are missing for the whole color (e.g. a failed Prometheus query)."""


class MetricsSource(ABC):
    """Async: polled on the console's event loop through httpx, never blocking it."""

    @abstractmethod
    async def poll(self) -> dict[str, ColorMetrics]:
        """One round over every instance; errors are reported per instance, not raised."""

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class LogLine:
    time: float
    source: str
    color: str
    text: str


class LogSource(ABC):
    """Follows one source of log lines in a background thread."""

    @abstractmethod
    def start(self, emit: Callable[[list[LogLine]], None]) -> None:
        """Begin following; `emit` is called from the reader thread with batches."""

    @abstractmethod
    def stop(self) -> None:
        """Stop following and release every resource (threads, processes, files)."""
