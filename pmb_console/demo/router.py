"""The demo's load balancer: weights per color in a small JSON file.

The demo's load generator reads the same file before sending each burst of requests, so
a change written here moves real requests between the instances, and the console sees it
in their metrics. The stack's balancer health checks write what they find next to it
(`lb-health.json`), which `read` reports as each server's operational state, as HAProxy
would. Like every router, `read` is live: nothing is cached between calls.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from pmb_console.config import COLORS, Config
from pmb_console.errors import ProviderError, UsageError
from pmb_console.providers.base import (
    ProgressFn,
    RouterCheck,
    ServerState,
    TrafficRouter,
    TrafficState,
)

HEALTH_FILE_NAME = "lb-health.json"


def health_path(state_file: Path) -> Path:
    return state_file.with_name(HEALTH_FILE_NAME)


def write_json_atomically(path: Path, data: object) -> None:
    """Readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_weights(path: Path, weights: dict[str, int]) -> None:
    write_json_atomically(path, {"weights": {c: int(weights.get(c, 0)) for c in COLORS}})


def read_weights(path: Path) -> dict[str, int]:
    """The weights in the state file; ProviderError when it is missing or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        weights = data["weights"]
        return {c: int(weights[c]) for c in COLORS}
    except FileNotFoundError:
        raise ProviderError(
            f"the demo router's state file {path} does not exist",
            "the demo stack writes it when it starts: run `pmb-console demo`",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProviderError(
            f"the demo router's state file {path} cannot be read: {exc}",
            "restart the demo; it writes a fresh state file",
        ) from None


def read_health(path: Path) -> dict[str, str]:
    """What the balancer's health checks last said per server; empty before the first round."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


class DemoRouter(TrafficRouter):
    """Weighted routing between the colors, like an ALB listener with two target groups."""

    name = "demo"
    SUPPORTS_WEIGHTS = True

    def __init__(self, config: Config) -> None:
        if not config.traffic.demo.state_file:
            raise UsageError(
                "[traffic.demo] state_file is not set",
                "the demo sets it itself: open the demo with `pmb-console demo`",
            )
        self.path = Path(config.traffic.demo.state_file)
        self.servers = {c: [i.name for i in config.colors.of(c).instances] for c in COLORS}

    def read(self) -> TrafficState:
        weights = read_weights(self.path)
        health = read_health(health_path(self.path))
        servers = tuple(
            ServerState(name, color, weights[color], "ready", health.get(name, "unknown"))
            for color in COLORS
            for name in self.servers[color]
        )
        return TrafficState(self.name, weights, servers, detail=f"weights in {self.path.name}")

    def desired(self, current: TrafficState, weights: dict[str, int]) -> TrafficState:
        target: dict[str, int] = {c: int(weights.get(c, 0)) for c in COLORS}
        servers = tuple(replace(s, weight=target[s.color]) for s in current.servers)
        return TrafficState(self.name, target, servers, current.detail)

    def apply(self, current: TrafficState, desired: TrafficState, progress: ProgressFn) -> None:
        total = sum(desired.weights.get(c, 0) for c in COLORS)
        if total not in (0, 100) or any(desired.weights.get(c, 0) < 0 for c in COLORS):
            raise ProviderError(
                f"weights must be percentages summing to 100, got {desired.weights}",
                "choose a weight between 0 and 100 for the target color",
            )
        now = read_weights(self.path)
        if now != {c: current.weights.get(c, 0) for c in COLORS}:
            raise ProviderError(
                f"traffic moved while this change was planned (now blue {now['blue']}%, green {now['green']}%)",
                "someone else changed the weights: read the state again before deciding",
            )
        progress(
            f"demo router: blue {desired.weights['blue']}%, green {desired.weights['green']}%", 0.5
        )
        try:
            write_weights(self.path, desired.weights)
        except OSError as exc:
            raise ProviderError(
                f"cannot write the demo router's state file {self.path}: {exc.strerror}",
                "the demo's temp dir may have been removed; restart the demo",
            ) from None
        progress("demo router: weights written", 1.0)

    def guards(self, target: str) -> list[RouterCheck]:
        """The balancer must have at least one server of `target` in rotation."""
        health = read_health(health_path(self.path))
        names = self.servers.get(target, [])  # type: ignore[call-overload]  # a bad color has no servers
        up = [n for n in names if health.get(n) == "up"]
        said = ", ".join(f"{n} {health.get(n, 'unknown')}" for n in names) or "no servers"
        return [RouterCheck(f"demo balancer: {target} in rotation", bool(up), said)]
