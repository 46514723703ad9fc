"""Health checks: does each instance answer its health_url with 2xx within the timeout?

Blocking (sync httpx): it runs from the CLI or in a thread worker of the console. The
instances of a color are asked at the same time, so a color takes as long as its
slowest instance, not the sum of them.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from pmb_console.config import ColorConfig, Instance
from pmb_console.providers.base import HealthResult
from pmb_console.redact import redact

MAX_BODY_BYTES = 64_000
"""A health body larger than this is not kept (it is still read to judge the status)."""


class HealthChecker:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._clients: dict[bool, httpx.Client] = {}
        self._clients_lock = threading.Lock()

    def _client(self, url: str) -> httpx.Client:
        """One client for plain HTTP, one for HTTPS, each made on first use.

        A verifying client loads the CA bundle (~40 ms), a cost a CLI run pays only when
        some health_url is https; the plain-HTTP client never does TLS, so it loads none.
        """
        tls = url.lower().startswith("https:")
        with self._clients_lock:
            client = self._clients.get(tls)
            if client is None:
                # No keep-alive across checks: a check should see what a new client sees.
                # No proxy from the environment: the check is about the instance itself.
                client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=False,
                    trust_env=False,
                    verify=tls,
                    limits=httpx.Limits(max_keepalive_connections=0),
                )
                self._clients[tls] = client
            return client

    def check(self, color: str, instance: Instance) -> HealthResult:
        url = instance.health_url
        if not url:
            return HealthResult(instance.name, color, url, False, error="no health_url configured")
        started = time.monotonic()
        try:
            response = self._client(url).get(url)
        except httpx.TimeoutException:
            return self._failed(instance, color, started, f"no answer within {self.timeout:g} s")
        except httpx.ConnectError as exc:
            return self._failed(instance, color, started, f"cannot connect: {_reason(exc)}")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return self._failed(instance, color, started, f"{type(exc).__name__}: {_reason(exc)}")
        latency_ms = (time.monotonic() - started) * 1000
        ok = 200 <= response.status_code < 300
        error = "" if ok else f"answered HTTP {response.status_code}"
        if ok and latency_ms > self.timeout * 1000:
            ok, error = (
                False,
                f"answered after {latency_ms:.0f} ms, past the {self.timeout:g} s timeout",
            )
        return HealthResult(
            instance.name,
            color,
            redact(url),
            ok,
            response.status_code,
            error,
            latency_ms,
            _body(response),
        )

    def check_color(self, color: str, color_cfg: ColorConfig) -> list[HealthResult]:
        """Every instance of the color, checked concurrently, in the config's order."""
        instances = color_cfg.instances
        if len(instances) <= 1:
            return [self.check(color, i) for i in instances]
        with ThreadPoolExecutor(max_workers=min(len(instances), 32)) as pool:
            return list(pool.map(lambda i: self.check(color, i), instances))

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _failed(self, instance: Instance, color: str, started: float, error: str) -> HealthResult:
        latency_ms = (time.monotonic() - started) * 1000
        return HealthResult(
            instance.name,
            color,
            redact(instance.health_url),
            False,
            None,
            redact(error),
            latency_ms,
        )


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("] ", 1)[-1]  # "[Errno 111] Connection refused" -> "Connection refused"


def _body(response: httpx.Response) -> dict:
    if len(response.content) > MAX_BODY_BYTES:
        return {}
    try:
        data = json.loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
