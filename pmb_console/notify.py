"""Tell a chat channel when an action starts and ends (a Slack-compatible incoming webhook).

The notifier is one of the runner's listeners: it is handed every audit record, keeps the
ones worth a message, and posts them from its own thread, in order, with a short timeout.
An action never waits for a post and never fails because of one: a failed post is
remembered (the console shows it) and said on stderr by default (the CLI).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pmb_console.redact import redact

if TYPE_CHECKING:
    from pmb_console.config import Config

ENDED = frozenset({"succeeded", "failed", "not-verified", "interrupted"})
"""Outcomes of a run that got as far as executing (a refusal is not news for the room)."""
EVENTS = frozenset({"lock", "unlock"})
"""Records that are not action runs but change what everyone may do."""
MAX_PENDING = 100
"""Posts waiting beyond this are dropped (and said so): a dead webhook must not eat memory."""
MESSAGE_CHARS = 300

FailureFn = Callable[[str], None]


def say_on_stderr(problem: str) -> None:
    print(f"pmb-console: {problem}", file=sys.stderr)


def message_for(record: dict[str, Any]) -> str | None:
    """The chat line for an audit record, or None when the record is not worth one."""
    action = record.get("action", "?")
    outcome = record.get("outcome", "")
    who = record.get("operator", "?")
    where = f"[{record.get('environment') or '?'}]"
    if action in EVENTS:
        if outcome != "succeeded":
            return None
        if action == "lock":
            return f"{where} {who} locked changes: {record.get('reason', '')}".strip()
        forced = " (forced)" if record.get("forced") else ""
        return f"{where} {who} released the lock of {record.get('holder', who)}{forced}"
    if outcome == "started":
        params = _params(record.get("params"))
        return f"{where} {who} started {action}{params}"
    if outcome in ENDED and record.get("run_id"):
        took = record.get("duration_s")
        took_words = f" in {took:.1f} s" if isinstance(took, int | float) else ""
        said = str(record.get("message") or "")
        line = f"{where} {action} by {who}: {outcome.upper()}{took_words}"
        if said:
            line += f" — {said}"
        return line[:MESSAGE_CHARS]
    return None


def _params(params: Any) -> str:
    if not isinstance(params, dict) or not params:
        return ""
    return " (" + ", ".join(f"{k} {v}" for k, v in params.items() if v not in (None, "")) + ")"


class WebhookNotifier:
    """A runner listener posting short messages to a webhook from a background thread."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 3.0,
        on_failure: FailureFn | None = say_on_stderr,
        problem: str = "",
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.on_failure = on_failure
        """Called (from the posting thread) with each failure in words; None: only remembered."""
        self.problem = problem
        """A setup fault (the variable is not set): said once, when there is first something to post."""
        self.failures: deque[str] = deque(maxlen=20)
        self.sent = 0
        self._taken = 0
        self._failed_total = 0
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- the listener ------------------------------------------------------------------

    def __call__(self, record: dict[str, Any]) -> None:
        text = message_for(record)
        if text is None:
            return
        if self.problem:
            problem, self.problem = self.problem, ""
            self._failed(problem)
            return
        if not self.url:
            return
        if self._queue.qsize() >= MAX_PENDING:
            self._failed("notification dropped: too many waiting for the webhook")
            return
        self._queue.put(redact(text))
        self._ensure_thread()

    # --- what went wrong, for the console ---------------------------------------------

    def new_failures(self) -> list[str]:
        """Failures since the last call (the console asks once a second)."""
        with self._lock:
            fresh = self._failed_total - self._taken
            self._taken = self._failed_total
            return list(self.failures)[-fresh:] if fresh else []

    # --- the posting thread -----------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pmb-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        import httpx  # imported by the first post: commands that notify nothing never pay for it

        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while True:
                text = self._queue.get()
                try:
                    if text is None:
                        return
                    self._post(client, text)
                finally:
                    self._queue.task_done()

    def _post(self, client: Any, text: str) -> None:
        import httpx

        try:
            answer = client.post(self.url, json={"text": text})
        except httpx.TimeoutException:
            self._failed(
                f"notification not sent: the webhook did not answer within {self.timeout:g} s"
            )
            return
        except httpx.HTTPError as exc:
            self._failed(f"notification not sent: {self._words(exc)}")
            return
        if answer.status_code >= 300:
            self._failed(f"notification not sent: the webhook answered HTTP {answer.status_code}")
            return
        self.sent += 1

    def _words(self, exc: BaseException) -> str:
        # The URL is the secret of an incoming webhook: never let an error repeat it.
        said = str(exc).replace(self.url, "<webhook>") if self.url else str(exc)
        return redact(f"{type(exc).__name__}: {said}" if said else type(exc).__name__)

    def _failed(self, problem: str) -> None:
        with self._lock:
            self.failures.append(problem)
            self._failed_total += 1
        callback = self.on_failure
        if callback is not None:
            try:
                callback(problem)
            except Exception:
                pass  # telling about a failure must not become one

    def close(self, wait: float | None = None) -> None:
        """Let waiting posts go out or time out, then stop the thread.

        The CLI closes after printing the outcome: waiting here lets the "ended" message
        reach the room (or its failure be said) before the process exits. By default it
        waits at most one timeout per waiting post, plus a second for the client's import.
        """
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        if wait is None:
            wait = self.timeout * (self._queue.qsize() + 1) + 1.0
        self._queue.put(None)
        thread.join(wait)


def build_notifier(config: Config) -> WebhookNotifier | None:
    """The notifier [notify] asks for, or None when no webhook is configured."""
    name = config.notify.webhook_env
    if not name:
        return None
    url = os.environ.get(name, "").strip()
    problem = (
        "" if url else f"notifications off: [notify] webhook_env names {name}, which is not set"
    )
    return WebhookNotifier(url, timeout=config.notify.timeout, problem=problem)
