"""The war room from this console's side: the live feed, the link's state, the deliberate lock.

With `[audit] dsn_env` set, every console shares one audit log and one lock in
PostgreSQL. This listens for the others' records (a thread of its own, which reconnects
with backoff), says in the header whether the shared log is reachable, refuses changes
while it is not (the shared lock cannot be taken then), and drives the key that takes or
releases the deliberate lock. It also tells the operator when a webhook notification
could not be sent. The app hands it the messages; it holds no logic of the actions.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from pmb_console.errors import PmbError
from pmb_console.redact import redact
from pmb_console.tui import keys
from pmb_console.tui.widgets.audit_feed import SharedLinkChanged, SharedRecordsArrived

if TYPE_CHECKING:
    from pmb_console.tui.app import PmbConsoleApp

CONNECTED = "shared log: connected"
CONNECTING = "shared log: connecting…"
LOST = "shared log LOST — changes refused, retrying"


class WarRoom:
    def __init__(self, app: PmbConsoleApp) -> None:
        self.app = app
        self.services = app.services
        self.link: bool | None = None
        """True: the shared log answers; False: lost; None: not connected yet, or local files."""
        self.link_words = ""
        """Why the link was lost, as the feed said it."""
        self._feed: Any = None
        self._stopping = False

    @property
    def shared(self) -> bool:
        return bool(self.services.config.audit.dsn_env)

    @property
    def lost(self) -> bool:
        """The shared log (and so the shared lock) cannot be reached: changes are refused."""
        return self.link is False

    # --- start and stop ----------------------------------------------------------------

    def start(self) -> None:
        notifier = self._notifier()
        if notifier is not None:
            notifier.on_failure = None  # the console shows failures itself; stderr is the screen
        if not self.shared:
            return
        self._show(CONNECTING, lost=False)
        self.app.run_worker(
            self._open_feed,
            thread=True,
            group="war-room",
            exit_on_error=False,
            description="listen to the shared audit log",
        )

    def _open_feed(self) -> None:
        try:
            log = self.services.audit
            from pmb_console.providers.pg_shared import AuditFeed, PgAuditLog
        except PmbError as exc:  # the variable named by dsn_env is not set, say
            self._status_from_thread(False, exc.message)
            return
        if not isinstance(log, PgAuditLog) or self._stopping:
            return
        feed = AuditFeed(log, self._records_from_thread, self._status_from_thread)
        self._feed = feed
        feed.start()

    def stop(self) -> None:
        self._stopping = True
        feed, self._feed = self._feed, None
        if feed is not None:
            # Stopping joins the feed's thread (up to a second while it waits for a
            # NOTIFY): not on the event loop, so quitting is not held up.
            threading.Thread(target=feed.stop, name="pmb-audit-feed-stop", daemon=True).start()

    # --- from the feed's thread: messages only ------------------------------------------

    def _records_from_thread(self, records: list[dict[str, Any]]) -> None:
        if not self._stopping:
            self.app.post_message(SharedRecordsArrived(tuple(records)))

    def _status_from_thread(self, connected: bool, words: str) -> None:
        if not self._stopping:
            self.app.post_message(SharedLinkChanged(connected, redact(words)))

    # --- on the event loop ----------------------------------------------------------------

    def records_arrived(self, message: SharedRecordsArrived) -> None:
        main = self.app.main
        if main is not None:
            main.show_new_audit(message.records)
        self.app.wake_poll()  # the header and panes follow what another console just did

    def link_changed(self, message: SharedLinkChanged) -> None:
        was = self.link
        self.link = message.connected
        self.link_words = "" if message.connected else message.words
        self._show(CONNECTED if message.connected else LOST, lost=not message.connected)
        if message.connected and was is False:
            self.app.notify("shared audit log reachable again; changes allowed", timeout=6)
        elif not message.connected and was is not False:
            self.app.notify(
                f"{message.words}\nchanges are refused until it is back",
                title="shared log lost",
                severity="error",
                timeout=10,
            )
        self.app.wake_poll()

    def _show(self, words: str, *, lost: bool) -> None:
        main = self.app.main
        if main is not None:
            main.show_shared_log(words, lost)

    def refusal(self, kind: str) -> str:
        """Why a change cannot start now, or "" (the key is greyed; the palette can still ask)."""
        if self.lost and kind in keys.MUTATING_ACTIONS:
            return (
                f"changes refused: the shared audit log cannot be reached ({self.link_words}); "
                "the console keeps retrying"
            )
        return ""

    def tick(self) -> None:
        """Once a second: say any notification that could not be sent."""
        notifier = self.services.__dict__.get("notifier")  # only if the runner built one
        if notifier is None:
            return
        for problem in notifier.new_failures():
            self.app.notify(problem, title="notification", severity="warning", timeout=8)

    def _notifier(self) -> Any:
        try:
            return self.services.notifier
        except Exception:
            return None  # a broken [notify] must not stop the console; the runner says it

    # --- the deliberate lock key ----------------------------------------------------------

    def toggle_lock(self) -> None:
        refused = self.refusal("lock")
        if refused:
            self.app.notify(refused, title="lock", severity="warning", timeout=8)
            return
        self.app.run_worker(
            self._lock_flow(), group="lock", exit_on_error=False, description="deliberate lock"
        )

    async def _lock_flow(self) -> None:
        from pmb_console.actions.lock import release_lock, take_lock
        from pmb_console.tui.screens.choosers import AskScreen, TextPromptScreen

        app, ctx = self.app, self.services
        try:
            current = await asyncio.to_thread(ctx.lock.deliberate)
            if current is None:
                reason = await app.push_screen_wait(
                    TextPromptScreen(
                        "Lock changes for every console: why? (Enter locks, Escape cancels)",
                        check=lambda text: "" if text.strip() else "say why changes are blocked",
                    )
                )
                if reason is None:
                    return
                taken = await asyncio.to_thread(take_lock, ctx, reason)
                app.notify(
                    f"changes locked for everyone but you (lock {taken.lock_id}): {taken.reason}",
                    title="lock",
                    timeout=8,
                )
            elif current.operator == ctx.config.console.operator:
                release = await app.push_screen_wait(
                    AskScreen(f"Release your lock {current.lock_id} ({current.reason})?", "Release")
                )
                if not release:
                    return
                await asyncio.to_thread(release_lock, ctx, current.lock_id, False)
                app.notify(f"lock {current.lock_id} released", title="lock", timeout=6)
            else:
                wanted = current.lock_id
                typed = await app.push_screen_wait(
                    TextPromptScreen(
                        f"Changes are locked by {current.describe()}. "
                        f"To force it open (audited), type the lock's id {wanted}:",
                        check=lambda text: "" if text.strip() == wanted else "not the lock's id",
                    )
                )
                if typed is None:
                    return
                await asyncio.to_thread(release_lock, ctx, typed.strip(), True)
                app.notify(
                    f"lock {wanted} of {current.operator} released (forced, audited)",
                    title="lock",
                    severity="warning",
                    timeout=8,
                )
        except PmbError as exc:
            hint = f"\nhint: {exc.hint}" if exc.hint else ""
            app.notify(redact(f"{exc.message}{hint}"), title="lock", severity="error", timeout=10)
        except Exception as exc:  # a bug: words, not a traceback
            app.notify(
                redact(f"{type(exc).__name__}: {exc}"),
                title="lock (a bug)",
                severity="error",
                timeout=10,
            )
        finally:
            app.wake_poll()
