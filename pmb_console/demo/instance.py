"""One instance of the demo PM Buddy: a real HTTP server on 127.0.0.1 at a free port.

It answers `/healthz` (status and version as JSON, 503 when unhealthy), Prometheus
`/metrics` from its own `prometheus_client` registry, and a few PM Buddy-like API routes.
Processing time and failures follow the faults the `FaultBoard` holds for its color, so
what the console reads from it is what a real instance in that trouble would say.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from pmb_console.demo.applog import AppLog
from pmb_console.demo.faults import FaultBoard
from pmb_console.demo.http_server import DemoHTTPServer, DemoRequestHandler, send, send_json

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
_FLAP_PERIOD_S = 3.0

_PROJECTS = [
    {"id": i, "key": key, "name": name}
    for i, (key, name) in enumerate(
        [("PMB", "PM Buddy"), ("WEB", "Website"), ("OPS", "Operations"), ("MOB", "Mobile app")],
        start=1,
    )
]
_STATUSES = ("To Do", "In Progress", "In Review", "Done")


class DemoInstance:
    """A PM Buddy instance of one color, with its own metrics registry."""

    def __init__(
        self,
        name: str,
        color: str,
        version: str,
        faults: FaultBoard,
        log: AppLog,
        *,
        first_of_color: bool = False,
    ) -> None:
        self.name = name
        self.color = color
        self.version = version
        self.faults = faults
        self.log = log
        self.first_of_color = first_of_color
        """The instance-down fault takes the first instance of a color away."""
        self.port = 0
        self.started_at = time.time()
        self._server: DemoHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        # The flapping phase differs per instance, so a color rarely loses all at once.
        self._flap_offset = random.uniform(0, _FLAP_PERIOD_S)

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by method and status.",
            ["method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time spent handling a request.",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.requests.labels("GET", "200")  # the series exists from the first scrape on

    # --- life cycle --------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (at a free port the first time, at the same port after an outage)."""
        with self._lifecycle:
            if self._server is not None:
                return
            self._stopping.clear()
            self._server = DemoHTTPServer(self.port, self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"demo-{self.name}",
                daemon=True,
            )
            self._thread.start()

    def interrupt(self) -> None:
        """Cut short the requests in progress (the first step of stopping)."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop listening and close every connection; in-flight requests are cut short."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            self._stopping.set()
            server.close()
            if thread is not None:
                thread.join(timeout=5)

    # --- requests ----------------------------------------------------------------------

    def handle(self, req: DemoRequestHandler) -> None:
        parts = urlsplit(req.path)
        if parts.path == "/healthz":
            self._healthz(req)
        elif parts.path == "/metrics":
            body = generate_latest(self.registry)
            send(req, 200, body, CONTENT_TYPE_LATEST)
        else:
            self._api(req, parts.path, parse_qs(parts.query))

    def healthy(self) -> bool:
        if not self.faults.of(self.color).health_flap:
            return True
        phase = ((time.time() + self._flap_offset) // _FLAP_PERIOD_S) % 2
        return phase == 0

    def _healthz(self, req: DemoRequestHandler) -> None:
        ok = self.healthy()
        body: dict[str, object] = {
            "status": "ok" if ok else "failing",
            "version": self.version,
            "color": self.color,
            "instance": self.name,
            "uptime_s": round(time.time() - self.started_at, 1),
        }
        if not ok:
            body["failing"] = ["database: ping took 2.3 s (limit 1 s)"]
        send_json(req, 200 if ok else 503, body)

    def _api(self, req: DemoRequestHandler, path: str, query: dict[str, list[str]]) -> None:
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:8]
        method = req.command
        if method == "POST":
            length = int(req.headers.get("Content-Length") or 0)
            if length:
                req.rfile.read(length)
        faults = self.faults.of(self.color)
        # Real work takes time: a few ms to tens of ms, a bad release adds its own.
        work = min(random.lognormvariate(-3.7, 0.5), 0.4) + faults.extra_latency_s
        if self._stopping.wait(work):
            req.close_connection = True  # going away: the client learns at once, not at its timeout
            return
        if faults.error_share and random.random() < faults.error_share:
            status = random.choice((500, 500, 500, 503))
            payload: Any = {"error": "internal server error", "request_id": request_id}
            self.log.failure(self.name, self.version, method, path, request_id)
        else:
            status, payload = _route(method, path, query)
        size = send_json(req, status, payload)
        seconds = time.perf_counter() - started
        self.requests.labels(method, str(status)).inc()
        self.duration.observe(seconds)
        self.log.access(
            self.name,
            self.version,
            req.client_address[0],
            method,
            req.path,
            status,
            size,
            seconds,
            request_id,
        )


def _route(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
    """PM Buddy's API, enough of it to look like the real thing in logs and payloads."""
    segments = [s for s in path.split("/") if s]
    if segments[:1] != ["api"]:
        return 404, {"error": "not found"}
    rest = segments[1:]
    if rest == ["projects"] and method == "GET":
        return 200, {"projects": _PROJECTS}
    if len(rest) == 2 and rest[0] == "projects" and method == "GET":
        project = next(
            (p for p in _PROJECTS if str(p["id"]) == rest[1] or p["key"] == rest[1]), None
        )
        return (200, project) if project else (404, {"error": f"no project {rest[1]}"})
    if rest == ["issues"] and method == "GET":
        key = (query.get("project") or ["PMB"])[0]
        return 200, {"issues": [_issue(key, n) for n in range(1, 11)]}
    if rest == ["issues"] and method == "POST":
        return 201, _issue("PMB", random.randint(300, 999))
    if len(rest) == 2 and rest[0] == "issues" and method == "GET":
        key, _, number = rest[1].partition("-")
        if not number.isdigit():
            return 404, {"error": f"no issue {rest[1]}"}
        return 200, _issue(key, int(number))
    if rest == ["me"] and method == "GET":
        return 200, {"id": 7, "name": "Demo User", "email": "demo@example.com"}
    return 404, {"error": "not found"}


def _issue(project: str, number: int) -> dict[str, Any]:
    return {
        "key": f"{project}-{number}",
        "summary": f"Issue {number} of {project}",
        "status": _STATUSES[number % len(_STATUSES)],
        "assignee": None if number % 5 == 0 else f"user-{number % 7}",
    }
