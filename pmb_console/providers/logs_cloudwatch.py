"""Follows a CloudWatch Logs group with `filter_log_events`, from the console's start.

CloudWatch has no push API we can rely on (start_live_tail is a separate, streaming
service that emulators do not implement), so this polls. Each round asks for every
event since a little before the newest one seen, follows `nextToken` to the last page,
and drops the events it has already emitted by their event id. The overlap is there
because events are stamped by their producer and may be ingested seconds later than
newer ones: asking only from the newest timestamp would lose them.

When CloudWatch throttles beyond botocore's own retries, the next round waits longer
(doubling up to a ceiling) and the pane says so once, instead of hammering the API.

Each line shows the event's time (UTC, to the millisecond) and the stream it came from,
as `01:33:07.762Z ecs/pmb-green/3f2a… message`: CloudWatch keeps them apart from the
message, where a file's lines carry them in their text. The tail merges sources by the
event time, not the moment it was fetched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pmb_console.config import Config, LogSourceConfig
from pmb_console.errors import ProviderError
from pmb_console.providers.aws import AwsApi, is_throttled, make_client
from pmb_console.providers.base import LogLine, LogSource

Emit = Callable[[list[LogLine]], None]


class CloudWatchLogSource(LogSource):
    def __init__(
        self,
        source_cfg: LogSourceConfig,
        config: Config,
        *,
        client: Any = None,
        start_time: float | None = None,
        poll_interval: float = 2.0,
        lookback: float = 30.0,
        max_backoff: float = 60.0,
        page_size: int | None = None,
    ) -> None:
        self.group = source_cfg.group
        self.stream_prefix = source_cfg.stream_prefix
        self.filter_pattern = source_cfg.filter_pattern
        self.color = source_cfg.color
        self.name = self.group.rstrip("/").rsplit("/", 1)[-1] or self.group
        self.start_ms = int((time.time() if start_time is None else start_time) * 1000)
        self.poll_interval = poll_interval
        self.lookback_ms = int(lookback * 1000)
        self.max_backoff = max_backoff
        self.page_size = page_size
        self._aws = config.aws
        self._client = client
        self._api: AwsApi | None = None
        self._seen: dict[str, int] = {}
        """eventId → timestamp of everything emitted that a later round may return again."""
        self._newest_ms = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit = _discard
        self._problem = ""

    @property
    def api(self) -> AwsApi:
        if self._api is None:
            client = self._client or make_client(self._aws, "logs")
            self._api = AwsApi(client, "check the group of this [[logs.sources]] entry")
        return self._api

    @property
    def client(self) -> Any:
        """The boto3 logs client (tests attach botocore's Stubber to it)."""
        return self.api.client

    # --- LogSource -----------------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        if self._thread is not None:
            raise RuntimeError(f"log source {self.name} is already started")
        self._emit = emit
        self._thread = threading.Thread(target=self._run, name=f"log:{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            # A call in flight ends within botocore's read timeout; never wait longer here.
            self._thread.join(timeout=5)

    # --- following -----------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.poll_interval
        while not self._stopping.is_set():
            try:
                lines = self.poll_once()
            except _Throttled:
                delay = min(max(delay * 2, self.poll_interval), self.max_backoff)
                self._report(
                    f"CloudWatch is throttling {self.group}; backing off "
                    f"(up to {self.max_backoff:g} s between tries)"
                )
            except ProviderError as exc:
                delay = min(max(delay * 2, self.poll_interval), self.max_backoff)
                self._report(f"{exc.message}; retrying")
            except Exception as exc:  # never let the reader thread die silently
                delay = self.max_backoff
                self._report(f"reading {self.group} failed: {type(exc).__name__}: {exc}")
            else:
                if self._problem:
                    self._say(f"{self.group} readable again")
                    self._problem = ""
                if lines:
                    self._emit(lines)
                delay = self.poll_interval
            self._stopping.wait(delay)

    def poll_once(self) -> list[LogLine]:
        """One round: the lines of every event not seen before, in time order."""
        query_from = max(self.start_ms, self._newest_ms - self.lookback_ms)
        fresh: list[dict[str, Any]] = []
        token = None
        while not self._stopping.is_set():
            page = self._page(query_from, token)
            for event in page.get("events", []):
                event_id = event.get("eventId", "")
                if event_id in self._seen or not self._wanted(event):
                    continue
                self._seen[event_id] = int(event["timestamp"])
                fresh.append(event)
            token = page.get("nextToken")
            if not token:
                break
        # Ids older than the next round's window can never come back: forget them.
        if fresh:
            self._newest_ms = max(self._newest_ms, max(int(e["timestamp"]) for e in fresh))
        horizon = max(self.start_ms, self._newest_ms - self.lookback_ms)
        self._seen = {k: ts for k, ts in self._seen.items() if ts >= horizon}
        fresh.sort(key=lambda e: (int(e["timestamp"]), int(e.get("ingestionTime", 0))))
        return [
            LogLine(int(e["timestamp"]) / 1000, self.name, self.color, shown)
            for e in fresh
            for shown in _shown(e)
        ]

    def _wanted(self, event: dict[str, Any]) -> bool:
        # CloudWatch applies logStreamNamePrefix itself; some emulators ignore it, and
        # checking again here costs nothing.
        return str(event.get("logStreamName", "")).startswith(self.stream_prefix)

    def _page(self, query_from: int, token: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"logGroupName": self.group, "startTime": query_from}
        if self.stream_prefix:
            params["logStreamNamePrefix"] = self.stream_prefix
        if self.filter_pattern:
            params["filterPattern"] = self.filter_pattern
        if self.page_size:
            params["limit"] = self.page_size
        if token:
            params["nextToken"] = token
        try:
            return self.client.filter_log_events(**params)
        except (ClientError, BotoCoreError) as exc:
            if is_throttled(exc):
                raise _Throttled from None
            raise self.api.translate(exc, "filter_log_events", f"log group {self.group}") from None

    def _report(self, problem: str) -> None:
        # Said once, not on every round; said again only when it changes.
        if problem != self._problem:
            self._problem = problem
            self._say(problem)

    def _say(self, text: str) -> None:
        self._emit([LogLine(time.time(), self.name, self.color, f"[{text}]")])


class _Throttled(Exception):
    """CloudWatch still refused after botocore's retries: wait longer before the next round."""


def _discard(lines: list[LogLine]) -> None:
    return None


def _shown(event: dict[str, Any]) -> list[str]:
    """The event's lines as the tail shows them: its time and stream, then the message."""
    ms = int(event["timestamp"])
    stamp = f"{time.strftime('%H:%M:%S', time.gmtime(ms // 1000))}.{ms % 1000:03d}Z"
    stream = str(event.get("logStreamName", "")) or "-"
    lines = str(event.get("message", "")).rstrip("\n").split("\n")
    return [f"{stamp} {stream} {line}" for line in lines]
