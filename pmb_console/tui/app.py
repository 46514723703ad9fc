"""The console: composition, polling, and routing of what workers say to the screen.

`run_console(services)` is what the CLI calls. The app holds no logic of its own:
every change goes through `services.runner` (see flows.py), every read runs off the
event loop and comes back as a message.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, SystemCommand
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import get_current_worker

from pmb_console.bootstrap import Services
from pmb_console.errors import PmbError
from pmb_console.keymap import check_keymap
from pmb_console.providers.base import LogSource, TrafficState
from pmb_console.redact import redact
from pmb_console.tui import keys
from pmb_console.tui.demo_controls import DemoControls
from pmb_console.tui.messages import (
    ChecklistRead,
    MetricsRead,
    MonitorObserved,
    SystemsRead,
    WorkFailed,
)
from pmb_console.tui.readings import Fault, read_checklist, read_systems
from pmb_console.tui.screens.main import MainScreen, demo_bindings
from pmb_console.tui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, load_theme_book
from pmb_console.tui.war_room import WarRoom
from pmb_console.tui.widgets.audit_feed import SharedLinkChanged, SharedRecordsArrived

if TYPE_CHECKING:
    from pmb_console.monitor import MonitorWindow
    from pmb_console.tui.flows import ActionFlows

Clock = Callable[[], datetime]

NOTICE_STAYS_S = 24 * 3600.0
"""A notification about the console itself (a key not where the config says) stays up."""

CHECKLIST_INTERVAL_S = 30.0
"""The checklist asks GitHub and git: slower than the traffic poll, and again after every action."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class PmbConsoleApp(App[int]):
    """The on-call console for blue/green deployments of PM Buddy."""

    # The main screen is the default screen, whose own CSS_PATH Textual does not load:
    # its stylesheet is loaded with the app's.
    CSS_PATH = ["app.tcss", "screens/main.tcss"]
    TITLE = "pmb-console"

    def __init__(
        self,
        services: Services,
        demo: DemoControls | None = None,
        clock: Clock | None = None,
        *,
        poll: bool = True,
    ) -> None:
        super().__init__()
        self.services = services
        self.demo = demo
        self.clock: Clock = clock or utc_now
        self.poll = poll
        """False in snapshot tests: the screen shows only what the test posts."""
        self.monotonic: Callable[[], float] = time.monotonic
        """The clock the confirmation's 300 ms arming delay is measured with."""
        self._busy = False
        self.running_action = ""
        """The name of the action in flight from this console, for the runbook panel."""
        self.demo_color = "green"
        self.war_room = WarRoom(self)
        """The shared audit log's live feed and link, and the deliberate lock key."""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._traffic: TrafficState | None = None
        self._faults: dict[str, str] = {}
        self._log_sources: list[LogSource] = []
        self.checklist: tuple[Any, ...] = ()
        """The checklist's results as last checked."""
        self._checklist_wake = threading.Event()
        self._monitor: MonitorWindow | None = None
        self._monitor_lock = threading.Lock()
        self._latest_metrics: dict[str, dict[str, float | None]] = {}
        # The runner records the figures the panes show at every decision point.
        services.metrics_snapshot = lambda: self._latest_metrics
        cfg = services.config
        extra_dirs = [Path.cwd() / "themes"]
        if cfg.source:
            extra_dirs.insert(0, Path(cfg.source).resolve().parent / "themes")
        self.themes_found = load_theme_book(extra_dirs)
        for spec in self.themes_found.themes.values():
            self.register_theme(spec.to_textual())
        wanted = cfg.console.theme
        self._theme_problem = ""
        if wanted not in self.themes_found.themes:
            self._theme_problem = f"theme {wanted!r} not found or broken; using {DEFAULT_THEME}"
            wanted = DEFAULT_THEME
        self.theme = wanted
        demo_keys = demo_bindings(demo.faults) if demo is not None else []
        self.keymap_check = check_keymap(
            cfg.keymap, [(b.id, b.key) for b in demo_keys if b.id is not None]
        )
        """The [keymap] remaps bound, and those refused (an unknown id, a key taken twice)."""

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    # --- start and stop -----------------------------------------------------------------

    def on_mount(self) -> None:
        if self.keymap_check.applied:
            self.set_keymap(dict(self.keymap_check.applied))
        self._exit_on_signals()
        self.call_after_refresh(self._after_first_frame)

    def _exit_on_signals(self) -> None:
        """SIGTERM, or SIGHUP when the SSH session drops: leave the way `q` does.

        A plain handler, not the event loop's: after an SSH drop the loop itself can be
        stuck writing to the dead terminal, and only a handler that runs in the signal's
        own moment can still start the watchdog. It raises nothing, so nothing is
        interrupted while it holds a lock; the exit is handed to the loop.
        """
        if threading.current_thread() is not threading.main_thread():
            return  # a test's app: the process's handlers stand
        loop = asyncio.get_running_loop()

        def leave(signum: int, frame: Any) -> None:
            threading.Thread(
                target=_exit_after, args=(EXIT_GRACE_S, 128 + signum), name="pmb-exit", daemon=True
            ).start()
            try:
                loop.call_soon_threadsafe(self.exit)
            except RuntimeError:
                pass  # the loop has already closed: the console is on its way out

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, leave)
        # A signal may be taken by a thread while the main one is stuck writing to a
        # terminal that is gone: watch the terminal itself too.
        if sys.__stdin__ is not None and sys.__stdin__.isatty():
            fd = sys.__stdin__.fileno()
            threading.Thread(
                target=_leave_when_terminal_gone,
                args=(fd, lambda: leave(signal.SIGHUP, None)),
                name="pmb-terminal-watch",
                daemon=True,
            ).start()

    def get_default_screen(self) -> MainScreen:
        # The main screen is the default one: the first frame is the dashboard, not a blank.
        screen_class: type[MainScreen] = MainScreen
        if self.demo is not None:
            # The demo's keys are bindings of the main screen, so the footer and help list
            # them; the subclass keeps MainScreen's module so its stylesheet is found.
            screen_class = type(
                "DemoMainScreen",
                (MainScreen,),
                {"BINDINGS": demo_bindings(self.demo.faults), "__module__": MainScreen.__module__},
            )
        return screen_class()

    def _after_first_frame(self) -> None:
        self.set_interval(1.0, self._tick)
        if self.poll:
            # A beat after the first frame: the pollers import their providers (httpx,
            # the router) and that work should not hold up the first paint.
            self.set_timer(0.05, self._start_polling)

    async def action_quit(self) -> None:
        self._stopping.set()
        await super().action_quit()

    def action_help_quit(self) -> None:
        """Ctrl+C quits, as an operator's hands expect (asking first while an action runs).

        Textual binds it to a hint instead; in a text field it still copies, since the
        field's own binding comes first.
        """
        self.ask_quit()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications here carry errors, hints and paths as plain text.

        Textual reads them as markup by default, which swallows config keys written in
        brackets ("set [aws] profile" showed as "set  profile") and raises on a stray
        "[/...]" in an error message.
        """
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self._stopping.set()  # the screen is going: messages still queued must not touch it
        super().exit(*args, **kwargs)

    def show_what_is_known(self) -> None:
        """The dashboard is mounted: the theme's marks, the time, and what went wrong before."""
        self._show_theme()
        self._tick()
        # Toasts need a mounted screen to show on, so startup problems are told here.
        for problem in self.themes_found.problems:
            self.notify(problem, title="theme", severity="warning", timeout=10)
        if self._theme_problem:
            self.notify(self._theme_problem, title="theme", severity="warning", timeout=10)
        for wrong in self.keymap_check.problems:
            self.notify(
                str(wrong),
                title="key not moved",
                severity="warning",
                timeout=NOTICE_STAYS_S,
                markup=False,
            )
        if self.poll:
            self.look_for_interrupted()

    @work(
        thread=True,
        group="resume",
        exit_on_error=False,
        description="read back an interrupted action",
    )
    def look_for_interrupted(self) -> None:
        """An action a dead console left in flight: judged against the systems, then offered."""
        from pmb_console.recovery import acknowledge, find_interrupted

        try:
            found = find_interrupted(self.services)
            if found is None:
                return
            acknowledge(self.services, found)
        except Exception as exc:  # a broken journal must not stop the console
            self.post_message(WorkFailed(_fault("interrupted action", exc)))
            return
        self.call_from_thread(self.offer_resume, found)

    def offer_resume(self, found: Any) -> None:
        from pmb_console.tui.screens.resume import ResumeScreen

        def chosen(choice: str | None) -> None:
            if choice:
                self.run_worker(
                    self.flows.settle_interrupted(found, choice),
                    group="flow",
                    exit_on_error=False,
                    description=f"{choice} the interrupted action",
                )

        self.push_screen(ResumeScreen(found), chosen)

    def _start_polling(self) -> None:
        self.poll_systems()
        self.poll_metrics()
        self.poll_checklist()
        self._start_logs()
        self.war_room.start()

    def on_unmount(self) -> None:
        self._stopping.set()
        self.war_room.stop()
        self._wake.set()
        self._checklist_wake.set()
        if self._monitor is not None:
            try:
                self._monitor.flush()  # the polls counted since the last save
            except Exception:
                pass  # best effort on the way out; the window's verdict is already saved
        for source in self._log_sources:
            try:
                source.stop()
            except Exception:
                pass  # stopping is best effort; the process is ending

    @property
    def main(self) -> MainScreen | None:
        """The main screen while it is up (not while the app is closing)."""
        if self._stopping.is_set() or not self.is_running:
            return None  # closing: messages still queued must not touch a screen being removed
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen) and screen.is_attached and screen.ready:
                return screen
        return None

    # --- polling: off the loop, never overlapping itself ------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="poll-systems",
        exit_on_error=False,
        description="read load balancer, lock, audit log",
    )
    def poll_systems(self) -> None:
        worker = get_current_worker()
        interval = self.services.config.metrics.interval
        while not worker.is_cancelled and not self._stopping.is_set():
            try:
                reading = read_systems(self.services)
            except Exception as exc:  # read_systems words its own faults; this is a bug
                self.post_message(
                    WorkFailed(Fault("systems", redact(f"{type(exc).__name__}: {exc}")))
                )
            else:
                self.post_message(SystemsRead(reading))
            self._wake.wait(interval)
            self._wake.clear()

    def wake_poll(self) -> None:
        """Read the systems and the checklist now (after an action), not at the next tick."""
        self._wake.set()
        self._checklist_wake.set()

    @work(
        thread=True,
        exclusive=True,
        group="poll-checklist",
        exit_on_error=False,
        description="check the pre-deployment checklist",
    )
    def poll_checklist(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled and not self._stopping.is_set():
            try:
                self.post_message(ChecklistRead(read_checklist(self.services)))
            except Exception as exc:  # run_checklist words each item's fault; this is a bug
                self.post_message(WorkFailed(_fault("checklist", exc)))
            self._checklist_wake.wait(CHECKLIST_INTERVAL_S)
            self._checklist_wake.clear()

    @work(
        thread=True, group="monitor", exit_on_error=False, description="judge the monitoring window"
    )
    def observe_monitor(self, figures: dict[str, Any]) -> None:
        """One metrics poll against the window; with auto_rollback it may roll back (blocking)."""
        if not self._monitor_lock.acquire(blocking=False):
            return  # the previous poll is still being judged: this one is skipped, not queued
        try:
            if self._monitor is None:
                from pmb_console.monitor import MonitorWindow

                self._monitor = MonitorWindow(self.services)
            report = self._monitor.observe_and_act(figures)
        except Exception as exc:
            self.post_message(WorkFailed(_fault("monitor", exc)))
            return
        finally:
            self._monitor_lock.release()
        self.post_message(MonitorObserved(report))

    @work(exclusive=True, group="poll-metrics", exit_on_error=False, description="poll metrics")
    async def poll_metrics(self) -> None:
        try:
            from pmb_console.providers.metrics import build_metrics_source
        except ImportError:
            self.post_message(
                WorkFailed(Fault("metrics", "metrics are not available in this build"))
            )
            return
        interval = self.services.config.metrics.interval
        try:  # building imports the source's client: off the loop
            source = await asyncio.to_thread(build_metrics_source, self.services.config)
        except Exception as exc:
            self.post_message(WorkFailed(_fault("metrics", exc)))
            return
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                started = loop.time()
                try:
                    figures = await source.poll()
                except Exception as exc:  # a source must report per instance; still never crash
                    self.post_message(WorkFailed(_fault("metrics", exc)))
                else:
                    self.post_message(MetricsRead(figures))
                await asyncio.sleep(max(0.05, interval - (loop.time() - started)))
        finally:
            await source.aclose()

    def _start_logs(self) -> None:
        main = self.main
        tail = main.log_tail if main else None
        if tail is None or not self.services.config.logs.sources:
            return
        self.start_log_sources(tail)

    @work(thread=True, group="logs", exit_on_error=False, description="start log sources")
    def start_log_sources(self, tail: Any) -> None:
        try:
            from pmb_console.providers.logs import build_log_sources

            sources = build_log_sources(self.services.config)
        except ImportError:
            self.post_message(
                WorkFailed(Fault("logs", "log sources are not available in this build"))
            )
            return
        except Exception as exc:
            self.post_message(WorkFailed(_fault("logs", exc)))
            return
        for source in sources:
            if self._stopping.is_set():
                return
            try:
                source.start(tail.feed)
            except Exception as exc:
                self.post_message(WorkFailed(_fault("logs", exc)))
                continue
            self._log_sources.append(source)

    def _tick(self) -> None:
        main = self.main
        if main is None:
            return
        self.war_room.tick()
        now = self.clock()
        banner = None
        if self.demo is not None:
            try:
                banner = self.demo.banner()
            except Exception:
                banner = None  # the demo's banner is decoration; never let it stop the clock
            banner = (
                f"{banner} · faults go to {self.demo_color}"
                if banner
                else f"faults go to {self.demo_color}"
            )
        main.show_time(now.strftime("%H:%M:%S UTC"), now.timestamp(), banner)

    # --- what workers say, routed to the screen ---------------------------------------

    def on_systems_read(self, message: SystemsRead) -> None:
        reading = message.reading
        for part in ("traffic", "lock", "audit", "journal", "runbook"):
            fault = next((f for f in reading.faults if f.part == part), None)
            if fault:
                self._fault(fault)
            else:
                self._recovered(part)
        if reading.traffic is not None:
            self._traffic = reading.traffic
        main = self.main
        if main is not None:
            with self.batch_update():
                main.show_systems(reading, self.running_action)

    def on_metrics_read(self, message: MetricsRead) -> None:
        self._recovered("metrics")
        self._latest_metrics = {
            color: {
                "requests_per_second": m.requests_per_second,
                "error_rate": m.error_rate,
                "p95_ms": m.p95_ms,
            }
            for color, m in message.metrics.items()
        }
        self.observe_monitor(message.metrics)
        main = self.main
        if main is not None:
            with self.batch_update():
                main.show_metrics(message.metrics)

    def on_checklist_read(self, message: ChecklistRead) -> None:
        self._recovered("checklist")
        self.checklist = message.results
        main = self.main
        if main is not None:
            main.show_checklist(message.results)

    def on_monitor_observed(self, message: MonitorObserved) -> None:
        self._recovered("monitor")
        report = message.report
        main = self.main
        if main is not None:
            main.show_monitor(report.status, report.banner)
        outcome = report.rollback
        if outcome is None:
            return
        self.notify(
            redact(outcome.message),
            title="automatic rollback",
            severity="warning" if outcome.ok else "error",
            timeout=30,
        )
        self.wake_poll()
        if outcome.status == "succeeded":
            self.run_worker(
                self.flows.show_assessment(),
                group="flow",
                exit_on_error=False,
                description="database assessment",
            )

    def on_shared_records_arrived(self, message: SharedRecordsArrived) -> None:
        self.war_room.records_arrived(message)

    def on_shared_link_changed(self, message: SharedLinkChanged) -> None:
        self.war_room.link_changed(message)

    def on_work_failed(self, message: WorkFailed) -> None:
        self._fault(message.fault)

    def _fault(self, fault: Fault) -> None:
        """The one place a failed read becomes words: a notification once, and a greyed part."""
        if self._faults.get(fault.part) != fault.message:
            if fault.part == "traffic" and "traffic" not in self._faults:
                self._refresh_keys()  # switch and rollback grey out while traffic is unknown
            self._faults[fault.part] = fault.message
            hint = f"\nhint: {fault.hint}" if fault.hint else ""
            self.notify(
                f"{fault.message}{hint}",
                title=f"cannot read {fault.part}",
                severity="error",
                timeout=10,
            )
        main = self.main
        if main is None:
            return
        if fault.part == "metrics":
            main.show_metrics_fault(fault.message)

    def _recovered(self, part: str) -> None:
        if self._faults.pop(part, None) is not None:
            self.notify(f"{part} readable again", title=part, timeout=4)
            if part == "traffic":
                self._refresh_keys()
            if part == "metrics" and self.main is not None:
                self.main.show_metrics_fault("")

    @property
    def busy(self) -> bool:
        """An action is between its preview and its outcome."""
        return self._busy

    @busy.setter
    def busy(self, value: bool) -> None:
        if value != self._busy:
            self._busy = value
            self._refresh_keys()

    def _refresh_keys(self) -> None:
        """Re-ask check_action. Only when its inputs change: the footer redraws each time."""
        main = self.main
        if main is not None:
            main.refresh_bindings()

    @property
    def traffic_unreadable(self) -> bool:
        return "traffic" in self._faults

    def last_weights(self) -> dict[str, int] | None:
        return dict(self._traffic.weights) if self._traffic is not None else None

    # --- keys handed over by the main screen -------------------------------------------

    @cached_property
    def flows(self) -> ActionFlows:
        # Imported on the first key that needs it: the first frame does not wait for it.
        from pmb_console.tui.flows import ActionFlows

        return ActionFlows(self)

    def start_flow(self, kind: str) -> None:
        if self.busy:
            self.notify("an action is already running; wait for its outcome", severity="warning")
            return
        refused = self.war_room.refusal(kind)
        if refused:
            self.notify(refused, title=kind, severity="warning", timeout=8)
            return
        self.run_worker(
            self.flows.run(kind), group="flow", exit_on_error=False, description=f"{kind} flow"
        )

    def sign_off(self, item_id: str | None) -> None:
        from pmb_console.actions.checklist import ITEMS
        from pmb_console.tui.screens.signoff import SignOffScreen

        if self.services.config.console.read_only:
            self.notify(
                "sign-off refused: this console is read-only",
                title="runbook",
                severity="warning",
            )
            return
        if item_id not in ITEMS:
            self.notify(
                "highlight a §1 checklist item first (arrow keys in the runbook); "
                "the §2 and §3 steps are marked by the actions that carry them out",
                severity="warning",
            )
            return
        title = ITEMS[item_id]
        detail = next((c.detail for c in self.checklist if c.id == item_id), "")

        def answer(reason: str | None) -> None:
            if reason:
                self.record_sign_off(item_id, title, reason)

        release = self.services.config.release.version
        self.push_screen(SignOffScreen(title, detail, release), answer)

    @work(thread=True, group="io", exit_on_error=False, description="record a sign-off")
    def record_sign_off(self, item_id: str, title: str, reason: str) -> None:
        from pmb_console.actions.checklist import sign_off

        try:
            sign_off(self.services, item_id, reason)
        except PmbError as exc:
            hint = f"\nhint: {exc.hint}" if exc.hint else ""
            self.notify(
                redact(exc.message + hint),
                title="sign-off not recorded",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"signed off: {title}", title="runbook", timeout=4, markup=False)
        self.wake_poll()

    @work(thread=True, group="io", exit_on_error=False, description="extend the monitoring window")
    def extend_monitor(self) -> None:
        from pmb_console.monitor import MonitorReport, extend_window

        try:
            status = extend_window(self.services)
        except PmbError as exc:
            hint = f"\nhint: {exc.hint}" if exc.hint else ""
            self.notify(
                redact(exc.message + hint), title="monitor", severity="warning", markup=False
            )
            return
        self.post_message(MonitorObserved(MonitorReport(status)))
        self.notify(status.countdown(), title="monitoring window extended", timeout=6, markup=False)

    @work(thread=True, group="io", exit_on_error=False, description="write the post-mortem")
    def write_postmortem(self) -> None:
        from pmb_console.journal import mark_step
        from pmb_console.postmortem import postmortem_text
        from pmb_console.runbook import DONE

        if self.services.config.console.read_only:
            self.notify(
                "post-mortem refused: this console is read-only\n"
                "hint: `pmb-console postmortem` prints the timeline without writing anything",
                title="post-mortem",
                severity="warning",
                markup=False,
            )
            return
        folder = Path(self.services.config.console.state_dir) / "postmortems"
        path = folder / f"postmortem-{self.clock():%Y%m%d-%H%M%S}.md"
        try:
            text = postmortem_text(self.services)
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            mark_step(self.services, "post-mortem", DONE, evidence=f"timeline written to {path}")
        except (PmbError, OSError) as exc:
            said = exc.message if isinstance(exc, PmbError) else f"{path}: {exc.strerror}"
            self.notify(
                redact(said), title="post-mortem not written", severity="error", markup=False
            )
            return
        self.notify(f"timeline written to {path}", title="post-mortem", timeout=15, markup=False)
        self.wake_poll()

    def ask_log_filter(self) -> None:
        main = self.main
        tail = main.log_tail if main else None
        if tail is None:
            return

        from pmb_console.tui.screens.choosers import TextPromptScreen

        def check(pattern: str) -> str:
            try:
                re.compile(pattern)
            except re.error as exc:
                return f"not a regular expression: {exc}"
            return ""

        def apply(pattern: str | None) -> None:
            if pattern is not None:
                tail.set_filter(pattern)
                self.notify(
                    f"log filter: {pattern}" if pattern else "log filter cleared", timeout=3
                )

        self.push_screen(
            TextPromptScreen(
                "Filter log lines (regular expression; empty clears)",
                getattr(tail, "filter_pattern", "") or "",
                check,
            ),
            apply,
        )

    def show_help(self) -> None:
        from pmb_console.tui.screens.help import HelpScreen

        demo_keys = []
        if self.demo is not None:
            demo_keys = [(key, words) for key, _, words in self.demo.faults]
            demo_keys += [
                ("x", f"choose the color faults go to (now {self.demo_color})"),
                ("0", "clear every fault"),
            ]
        main = self.main
        refusals = {k.id: main.refusal(k.action) for k in keys.KEYS} if main is not None else {}
        self.push_screen(HelpScreen(dict(self.keymap_check.applied), demo_keys, refusals))

    def ask_quit(self) -> None:
        if not self.busy:
            self.exit(0)
            return

        from pmb_console.tui.screens.choosers import AskScreen

        def answer(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit(0)

        self.push_screen(
            AskScreen(
                "An action is running. Quit anyway? It keeps its lock until it ends.", "Quit anyway"
            ),
            answer,
        )

    # --- demo ------------------------------------------------------------------------------

    def demo_inject(self, fault_id: str) -> None:
        if self.demo is not None:
            self.notify(self.demo.inject(self.demo_color, fault_id), title="demo", timeout=5)

    def demo_clear(self) -> None:
        if self.demo is not None:
            self.notify(self.demo.clear(None), title="demo", timeout=4)

    def demo_toggle_color(self) -> None:
        self.demo_color = "blue" if self.demo_color == "green" else "green"
        self.notify(f"demo faults now go to {self.demo_color}", title="demo", timeout=3)
        self._tick()

    # --- themes and the palette ---------------------------------------------------------

    def watch_theme(self, name: str) -> None:
        self._show_theme()

    def _show_theme(self) -> None:
        main = self.main
        if main is not None:
            main.show_theme(self.themes_found.marks(self.theme), self.themes_found.bold(self.theme))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        main = self.main
        if main is not None:
            for key in keys.KEYS:
                # What the footer greys is left out here too: the palette offers no refusal.
                if key.id == "quit" or not main.check_action(key.action, ()):
                    continue
                yield SystemCommand(key.label, key.help, getattr(main, f"action_{key.action}"))
        for name in sorted(self.themes_found.themes):
            yield SystemCommand(
                f"Theme: {name}",
                f"Switch to the {name} theme",
                lambda n=name: setattr(self, "theme", n),
            )
        if self.services.config.console.read_only:
            yield SystemCommand(
                "JIRA: map statuses, types and assignees (read-only: shown, not saved)",
                "See the PM Buddy target of every JIRA status, type and assignee",
                self.open_jira_mapping,
            )
        else:
            yield SystemCommand(
                "JIRA: map statuses, types and assignees",
                "Choose the PM Buddy target of every JIRA status, type and assignee; "
                "saved into the config",
                self.open_jira_mapping,
            )
        yield SystemCommand("Quit", "Quit the console", self.ask_quit)

    def open_jira_mapping(self) -> None:
        from pmb_console.tui.screens.jira_mapping import JiraMappingScreen

        def closed(saved: bool | None) -> None:
            if saved:
                self.notify(f"JIRA mapping saved into {self.services.config.source}", timeout=6)

        self.push_screen(JiraMappingScreen(self.services.config), closed)


def _fault(part: str, exc: BaseException) -> Fault:
    if isinstance(exc, PmbError):
        return Fault(part, redact(exc.message), redact(exc.hint))
    return Fault(part, redact(f"{type(exc).__name__}: {exc}"))


EXIT_GRACE_S = 5.0
"""How long a signalled console may take to leave cleanly before it is ended outright."""


def _leave_when_terminal_gone(fd: int, leave: Callable[[], None]) -> None:
    """Call `leave` once the terminal hangs up (an SSH drop): its attributes stop answering."""
    while True:
        time.sleep(1.0)
        try:
            termios.tcgetattr(fd)
        except (termios.error, OSError):
            leave()
            return


def _exit_after(seconds: float, code: int) -> None:
    """End the process outright: the audit log is fsynced, the kernel frees the locks,
    and the journal says what was in flight, so the next console can resume."""
    time.sleep(seconds)
    os._exit(code)


def run_console(services: Services, *, demo: DemoControls | None = None) -> int:
    """Open the console; returns the exit code."""
    app = PmbConsoleApp(services, demo=demo)
    try:
        code = app.run()
    finally:
        services.close()
    if isinstance(code, int):
        return code
    return app.return_code or 0  # a crash inside the app is not a clean exit


__all__ = ["PmbConsoleApp", "run_console"]
