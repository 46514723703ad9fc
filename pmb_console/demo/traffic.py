"""Traffic for the demo stack: the balancer's health checks and a synthetic user load.

`BalancerChecks` probes every instance's /healthz each second and takes an instance out
of rotation after two failures and back after two successes (HAProxy's fall 2 / rise 2),
writing what it sees where the demo router reads it.

`LoadGenerator` sends users' requests at a steady rate, split between the colors by the
weights in the router's state file (read before every burst), and round-robin over the
instances in rotation. Like synthetic monitoring in production, it also probes every
instance directly at a low rate, so the idle color's pane is never blank.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from pmb_console.config import COLORS
from pmb_console.demo.instance import DemoInstance
from pmb_console.demo.router import read_weights, write_json_atomically
from pmb_console.errors import ProviderError

_FALL = 2
_RISE = 2

# (weight, method, path) — what PM Buddy's users mostly do: read issues.
_USER_REQUESTS = (
    (30, "GET", "/api/issues?project=PMB"),
    (25, "GET", "/api/issues/PMB-{n}"),
    (15, "GET", "/api/projects"),
    (10, "GET", "/api/projects/{p}"),
    (10, "GET", "/api/me"),
    (8, "POST", "/api/issues"),
    (2, "GET", "/api/issues/PMB-x{n}"),  # a stale link: 404
)


class BalancerChecks:
    """The load balancer's view of which instances may receive users' traffic."""

    def __init__(
        self, instances: list[DemoInstance], health_file: Path, interval: float = 1.0
    ) -> None:
        self.instances = instances
        self.health_file = health_file
        self.interval = interval
        self._state = {i.name: "up" for i in instances}
        self._streak = {i.name: 0 for i in instances}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def in_rotation(self, name: str) -> bool:
        return self._state.get(name) == "up"

    def start(self) -> None:
        write_json_atomically(self.health_file, self._state)
        self._thread = threading.Thread(target=self._run, name="demo-lb-checks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=0.5) as client:
            while not self._stop.wait(self.interval):
                changed = False
                for inst in self.instances:
                    changed |= self._check(client, inst)
                if changed:
                    write_json_atomically(self.health_file, dict(self._state))

    def _check(self, client: httpx.Client, inst: DemoInstance) -> bool:
        try:
            ok = client.get(f"{inst.url}/healthz").status_code == 200
        except httpx.HTTPError:
            ok = False
        up = self._state[inst.name] == "up"
        # Count consecutive results that disagree with the current state.
        self._streak[inst.name] = 0 if ok == up else self._streak[inst.name] + 1
        if self._streak[inst.name] >= (_FALL if up else _RISE):
            self._state[inst.name] = "up" if ok else "down"
            self._streak[inst.name] = 0
            return True
        return False


class LoadGenerator:
    """Open-loop load: requests go out on schedule whether or not earlier ones came back."""

    TICK_S = 0.05

    def __init__(
        self,
        instances: dict[str, list[DemoInstance]],
        weights_file: Path,
        rotation: BalancerChecks,
        *,
        rate: float = 40.0,
        probe_rate: float = 1.0,
        max_in_flight: int = 48,
    ) -> None:
        self.instances = instances
        self.weights_file = weights_file
        self.rotation = rotation
        self.rate = rate
        """Users' requests per second, shared between the colors by weight."""
        self.probe_rate = probe_rate
        """Synthetic monitoring requests per second to every instance."""
        self.shed = 0
        """Requests not sent because max_in_flight were already waiting (a saturated client)."""
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="demo-load")
        self._client = httpx.Client(
            timeout=5.0,
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=16),
        )
        self._next: dict[str, itertools.cycle[DemoInstance]] = {
            c: itertools.cycle(self.instances[c]) for c in COLORS
        }
        self._weights = {"blue": 100, "green": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def weights(self) -> dict[str, int]:
        """The router's weights; the last good ones if the file is briefly unreadable."""
        try:
            self._weights = read_weights(self.weights_file)
        except ProviderError:
            pass
        return self._weights

    def _run(self) -> None:
        owed = {c: 0.0 for c in COLORS}
        probes_owed = {i.name: random.random() for c in COLORS for i in self.instances[c]}
        last = time.monotonic()
        while not self._stop.wait(self.TICK_S):
            now = time.monotonic()
            elapsed, last = now - last, now
            weights = self.weights()
            for color in COLORS:
                owed[color] += self.rate * weights[color] / 100 * elapsed
                while owed[color] >= 1:
                    owed[color] -= 1
                    target = self._pick(color)
                    if target is not None:
                        self._send(target, *_user_request())
                for inst in self.instances[color]:
                    probes_owed[inst.name] += self.probe_rate * elapsed
                    if probes_owed[inst.name] >= 1:
                        probes_owed[inst.name] -= 1
                        self._send(inst, "GET", "/api/projects")

    def _pick(self, color: str) -> DemoInstance | None:
        """Round-robin over the color's instances in rotation; None when none is."""
        for _ in range(len(self.instances[color])):
            inst = next(self._next[color])
            if self.rotation.in_rotation(inst.name):
                return inst
        return None

    def _send(self, inst: DemoInstance, method: str, path: str) -> None:
        if not self._slots.acquire(blocking=False):
            self.shed += 1
            return
        try:
            self._pool.submit(self._request, inst.url + path, method)
        except RuntimeError:  # the pool is shutting down
            self._slots.release()

    def _request(self, url: str, method: str) -> None:
        try:
            if method == "POST":
                self._client.post(
                    url, json={"summary": "Created by the demo load", "project": "PMB"}
                )
            else:
                self._client.get(url)
        except httpx.HTTPError:
            pass  # the instance is down or slow: its metrics and the balancer say so
        finally:
            self._slots.release()


def _user_request() -> tuple[str, str]:
    weights = [w for w, _, _ in _USER_REQUESTS]
    _, method, path = random.choices(_USER_REQUESTS, weights=weights)[0]
    return method, path.format(n=random.randint(1, 250), p=random.randint(1, 4))
