"""The monitoring window after the switch (RUNBOOK §2 step 6).

When traffic is switched to the new color, a window opens (`[monitor] window_minutes`,
default 60) and is kept in the release journal, so a restarted console shows the same
countdown. Each metrics poll is observed: the new color's error rate and p95 against the
`[metrics]` thresholds. A threshold exceeded for `[monitor] breach_polls` polls in a row
is a breach: recorded in the journal and the audit, raised as a banner naming the metric,
the value and the threshold, and — with `auto_rollback = true` — traffic is rolled back
through the runner, with the breach as the reason.

    window = MonitorWindow(ctx)                  # reads the journal
    report = window.observe_and_act(figures)     # per poll, in a thread worker
    report.status.countdown()                    # "green watched: 42:17 left"
    report.banner                                # "BREACH: green error rate 7.0% > 2.0% for 3 ..."
    report.rollback                              # the automatic rollback's Outcome, if one ran
    extend_window(ctx)                           # the extend key; audited

The observed stretches are kept too: the window passes only if it was watched across
its span (see UNWATCHED_GAP_MIN_S), not on one poll and an hour with nobody looking.

`watch(ctx, source, ...)` is the loop for the headless `pmb-console monitor`; the console
feeds the polls it already makes to `observe_and_act` instead of polling twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pmb_console.audit import now_iso, parse_time
from pmb_console.journal import ReleaseJournal, mark_in, new_color
from pmb_console.providers.base import ColorMetrics
from pmb_console.providers.metrics import percent
from pmb_console.runbook import DONE, FAILED, RUNNING

if TYPE_CHECKING:
    import asyncio

    from pmb_console.actions.runner import Outcome
    from pmb_console.bootstrap import Services
    from pmb_console.config import Config, MetricsConfig
    from pmb_console.providers.base import MetricsSource

ERROR_RATE, P95 = "error rate", "p95"

POLLS_SAVED_EVERY_S = 15.0
"""The journal's poll count is written at most this often (and on every change of state)."""

UNWATCHED_GAP_MIN_S = 120.0
UNWATCHED_GAP_POLLS = 5
"""The window passes only if it was watched across its span: no stretch of it (from its
start to the first poll, between two polls, from the last poll to its end) longer than
UNWATCHED_GAP_POLLS poll intervals, and never less than UNWATCHED_GAP_MIN_S — room for a
console restarted, a `pmb-console monitor` started just after the switch, polls written
to the journal in batches. A longer stretch with nobody watching means nobody can say
the new color held: the window does not pass."""


def allowed_gap_s(config: Config) -> float:
    return max(UNWATCHED_GAP_POLLS * config.metrics.interval, UNWATCHED_GAP_MIN_S)


def merge_watched(spans: list[list[float]], gap_s: float) -> list[list[float]]:
    """Observed stretches [from, to], sorted, those closer than `gap_s` joined into one."""
    merged: list[list[float]] = []
    for start, end in sorted((float(a), float(b)) for a, b in spans):
        if merged and start - merged[-1][1] <= gap_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def unwatched(window: dict[str, Any], until: float) -> list[tuple[float, float]]:
    """The stretches of the window, from its start to `until`, longer than its allowed gap
    with no metrics poll observed."""
    gap_s = float(window.get("gap_s") or UNWATCHED_GAP_MIN_S)
    cursor, gaps = float(window["started_at"]), []
    for start, end in merge_watched(window.get("watched") or [], gap_s):
        if start >= until:
            break
        if start - cursor > gap_s:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if until - cursor > gap_s:
        gaps.append((cursor, until))
    return gaps


# --- the window, as kept in the journal ------------------------------------------------


def open_window_in(data: dict[str, Any], config: Config, at_iso: str) -> None:
    """Open the window at `at_iso` (the verified switch) in a journal's data, unless one is open."""
    window = data.get("monitor") or {}
    if window.get("started_at") and not window.get("ended"):
        return  # a second switch (a gradual step to 100% again) keeps the first window
    minutes = config.monitor.window_minutes
    start = parse_time(at_iso).timestamp()
    data["monitor"] = {
        "color": new_color(config),
        "started_at": start,
        "ends_at": start + minutes * 60,
        "minutes": minutes,
        "extended": [],
        "breaches": [],
        "polls": 0,
        "last_poll_at": None,
        "watched": [],
        "gap_s": allowed_gap_s(config),
        "ended": None,
    }
    mark_in(
        data,
        "monitor",
        RUNNING,
        "console",
        f"window of {minutes:g} min opened by the switch",
        allow_out_of_order=True,
    )


def close_window_in(data: dict[str, Any], why: str) -> None:
    """End an open window early (a rollback) in a journal's data."""
    window = data.get("monitor") or {}
    if window.get("started_at") and not window.get("ended"):
        window["ended"] = {"at": time.time(), "why": why}
        mark_in(
            data,
            "monitor",
            FAILED,
            "console",
            f"window ended early: {why}",
            allow_out_of_order=True,
        )


def start_window(journal: ReleaseJournal, config: Config, at_iso: str) -> None:
    journal.update(lambda data: open_window_in(data, config, at_iso))


def end_window(journal: ReleaseJournal, why: str) -> None:
    journal.update(lambda data: close_window_in(data, why))


@dataclass(frozen=True)
class WindowStatus:
    state: str
    """not-started | watching | passed | unwatched | breached | ended."""
    detail: str
    color: str = ""
    remaining_s: float = 0.0
    ends_at: float = 0.0
    polls: int = 0

    @property
    def passed(self) -> bool:
        return self.state == "passed"

    def countdown(self) -> str:
        """The countdown as shown on screen: 42:17 left."""
        if self.state != "watching":
            return self.detail
        minutes, seconds = divmod(int(self.remaining_s), 60)
        return f"{self.color} watched: {minutes:02d}:{seconds:02d} left"


def window_status(window: dict[str, Any] | None, now: float) -> WindowStatus:
    """Where the monitoring window stands at `now` (pure)."""
    if not window or not window.get("started_at"):
        return WindowStatus(
            "not-started",
            "the monitoring window has not started: no verified switch "
            "to the new color is recorded for this release",
        )
    color, polls = window.get("color", ""), int(window.get("polls", 0))
    ends_at = float(window["ends_at"])
    breaches = window.get("breaches") or []
    if breaches:
        last = breaches[-1]
        said = f"breach at {_clock(last['at'])}: {last['words']}"
        if window.get("ended"):  # the breach was answered (a rollback): no longer a standing alarm
            ended = window["ended"]
            return WindowStatus(
                "ended",
                f"{said}; window ended at {_clock(ended['at'])}: {ended['why']}",
                color,
                0.0,
                ends_at,
                polls,
            )
        return WindowStatus("breached", said, color, max(0.0, ends_at - now), ends_at, polls)
    if window.get("ended"):
        ended = window["ended"]
        return WindowStatus(
            "ended",
            f"window ended at {_clock(ended['at'])}: {ended['why']}",
            color,
            0.0,
            ends_at,
            polls,
        )
    if now < ends_at:
        return WindowStatus(
            "watching",
            f"{color} watched until {_clock(ends_at)}",
            color,
            ends_at - now,
            ends_at,
            polls,
        )
    gaps = unwatched(window, ends_at)
    if gaps:
        first, last = gaps[0]
        more = f" (and {len(gaps) - 1} more stretch(es))" if len(gaps) > 1 else ""
        said = (
            "no metrics poll was observed in it"
            if polls == 0 or not window.get("watched")
            else f"nobody watched it from {_clock(first)} to {_clock(last)}{more}"
        )
        return WindowStatus(
            "unwatched",
            f"the window closed at {_clock(ends_at)} but {said}, so it did not pass: "
            f"look at {color}'s metrics for that time yourself; going on needs a reason "
            "(--force --reason TEXT)",
            color,
            0.0,
            ends_at,
            polls,
        )
    return WindowStatus(
        "passed",
        f"{window.get('minutes', '?'):g} min window passed at {_clock(ends_at)} "
        f"without a breach ({polls} polls)",
        color,
        0.0,
        ends_at,
        polls,
    )


def extend_window(ctx: Services, minutes: float | None = None) -> WindowStatus:
    """Add time to an open window (a key in the console); audited."""
    if ctx.config.console.read_only:
        from pmb_console.errors import ReadOnlyRefused

        raise ReadOnlyRefused(
            "extending the monitoring window refused: this console is read-only",
            "extend it from a console opened without --read-only (and without [console] read_only)",
        )
    minutes = minutes or ctx.config.monitor.extend_minutes
    journal = ReleaseJournal.of(ctx)
    operator = ctx.config.console.operator

    def change(window: dict[str, Any]) -> None:
        if not window.get("started_at"):
            from pmb_console.errors import Refused

            raise Refused(
                "there is no monitoring window to extend",
                "it opens with the switch to the new color",
            )
        window["ends_at"] = max(float(window["ends_at"]), time.time()) + minutes * 60
        window.setdefault("extended", []).append(
            {"by": operator, "minutes": minutes, "at": time.time()}
        )

    journal.set_monitor(change)
    ctx.runner.record_event(
        "monitor-extend",
        outcome="succeeded",
        minutes=minutes,
        release=journal.release,
        environment=ctx.config.console.environment,
    )
    return window_status(journal.read().get("monitor"), time.time())


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


# --- breaches ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    color: str
    metric: str
    """error rate | p95."""
    value: float
    threshold: float
    polls: int

    @property
    def words(self) -> str:
        if self.metric == ERROR_RATE:
            said = f"{percent(self.value)} > {percent(self.threshold)}"
        else:
            said = f"{self.value:.0f} ms > {self.threshold:.0f} ms"
        return f"{self.color} {self.metric} {said} for {self.polls} consecutive polls"

    def as_dict(self) -> dict[str, Any]:
        return {
            "color": self.color,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "polls": self.polls,
            "words": self.words,
        }


class BreachDetector:
    """Counts consecutive polls over each threshold; pure, one per watched color.

    A poll with no figure for a metric (an instance down, no traffic yet) neither adds
    to nor resets its count: a gap in the data must not hide a breach that goes on.
    """

    def __init__(self, metrics_cfg: MetricsConfig, polls_needed: int) -> None:
        self.thresholds = {
            ERROR_RATE: metrics_cfg.error_rate_threshold,
            P95: metrics_cfg.p95_threshold_ms,
        }
        self.polls_needed = polls_needed
        self.streaks = {ERROR_RATE: 0, P95: 0}

    def observe(self, cm: ColorMetrics) -> list[Breach]:
        """The metrics in breach after this poll (over for `polls_needed` polls in a row)."""
        values = {ERROR_RATE: cm.error_rate, P95: cm.p95_ms}
        found = []
        for metric, value in values.items():
            if value is None:
                continue
            if value > self.thresholds[metric]:
                self.streaks[metric] += 1
            else:
                self.streaks[metric] = 0
            if self.streaks[metric] >= self.polls_needed:
                found.append(
                    Breach(cm.color, metric, value, self.thresholds[metric], self.streaks[metric])
                )
        return found


@dataclass(frozen=True)
class MonitorReport:
    """What one poll means for the window: the panel's countdown and the banner."""

    status: WindowStatus
    figures: dict[str, float | None] = field(default_factory=dict)
    over: list[str] = field(default_factory=list)
    """Thresholds exceeded in this poll, in words (not yet a breach)."""
    breach: Breach | None = None
    """Set on the poll that raised the breach (once per breach)."""
    rollback: Outcome | None = None
    """The automatic rollback's outcome, when one ran."""

    @property
    def banner(self) -> str:
        """The banner text while a breach stands; "" when there is none."""
        if self.breach is not None:
            return f"BREACH: {self.breach.words} — press the rollback key"
        if self.status.state == "breached":  # "breach at 21:29:55 UTC: …" reads as "BREACH at …"
            detail = self.status.detail
            return f"BREACH {detail[7:]}" if detail.startswith("breach ") else f"BREACH: {detail}"
        return ""


class MonitorWindow:
    """Observes polls for the release's window; writes breaches to the journal and audit."""

    def __init__(self, ctx: Services, clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.clock = clock
        self.journal = ReleaseJournal.of(ctx)
        self.color = new_color(ctx.config)
        self.detector = BreachDetector(ctx.config.metrics, ctx.config.monitor.breach_polls)
        self._unsaved_polls = 0
        self._saved_at = 0.0
        self._gap_s = allowed_gap_s(ctx.config)
        self._unsaved_watched: list[list[float]] = []
        """The stretches observed since the journal was last written."""

    def status(self) -> WindowStatus:
        return window_status(self.journal.read().get("monitor"), self.clock())

    def observe(self, figures: dict[str, ColorMetrics]) -> MonitorReport:
        now = self.clock()
        status = self.status()
        cm = figures.get(status.color or self.color)
        if status.passed:
            self._settle_step(DONE, status.detail)
        if status.state != "watching" or cm is None:
            return MonitorReport(status)
        from pmb_console.providers.metrics import breaches as over_words

        shown = {"error_rate": cm.error_rate, "p95_ms": cm.p95_ms}
        found = self.detector.observe(cm)
        self._unsaved_polls += 1
        self._unsaved_watched = merge_watched([*self._unsaved_watched, [now, now]], self._gap_s)
        if not found:
            if now - self._saved_at >= POLLS_SAVED_EVERY_S:
                self._save_polls(now)
            return MonitorReport(status, shown, over_words(cm, self.ctx.config.metrics))
        breach = found[0]
        self._record_breach(breach, now)
        return MonitorReport(self.status(), shown, over_words(cm, self.ctx.config.metrics), breach)

    def observe_and_act(self, figures: dict[str, ColorMetrics]) -> MonitorReport:
        """`observe`, then — on the poll that raises a breach, with [monitor] auto_rollback —
        roll traffic back through the runner. Blocking: call it from a thread worker."""
        report = self.observe(figures)
        if report.breach is None or not self.ctx.config.monitor.auto_rollback:
            return report
        outcome = auto_rollback(self.ctx, report.breach)
        return MonitorReport(report.status, report.figures, report.over, report.breach, outcome)

    def _save_polls(self, now: float) -> None:
        polls, self._unsaved_polls, self._saved_at = self._unsaved_polls, 0, now
        seen, self._unsaved_watched = self._unsaved_watched, []

        def change(window: dict[str, Any]) -> None:
            window["polls"] = int(window.get("polls", 0)) + polls
            window["last_poll_at"] = now
            # The console and `pmb-console monitor` may both watch: their stretches join.
            gap_s = float(window.get("gap_s") or self._gap_s)
            window["watched"] = merge_watched([*(window.get("watched") or []), *seen], gap_s)

        self.journal.set_monitor(change)

    def _record_breach(self, breach: Breach, now: float) -> None:
        self._save_polls(now)

        def change(window: dict[str, Any]) -> None:
            window.setdefault("breaches", []).append({**breach.as_dict(), "at": now})

        self.journal.set_monitor(change)
        self._settle_step(FAILED, f"breach: {breach.words}")
        self.ctx.runner.record_event(
            "monitor-breach",
            outcome="breach",
            message=breach.words,
            breach=breach.as_dict(),
            release=self.journal.release,
            environment=self.ctx.config.console.environment,
        )

    def _settle_step(self, state: str, detail: str) -> None:
        """Mark the runbook's monitor step once the window has its answer."""
        if (self.journal.read().get("steps", {}).get("monitor") or {}).get("state") == state:
            return
        self.journal.mark(
            "monitor", state, self.ctx.config.console.operator, detail, allow_out_of_order=True
        )

    def flush(self) -> None:
        """Write the polls not yet counted in the journal (on exit)."""
        if self._unsaved_polls:
            self._save_polls(self.clock())


def auto_rollback(ctx: Services, breach: Breach) -> Outcome:
    """Roll traffic back through the runner, the breach as the recorded reason."""
    from pmb_console.actions.base import Confirmation
    from pmb_console.actions.traffic import RollbackAction

    return ctx.runner.run(
        RollbackAction(),
        Confirmation.yes(),
        reason=f"automatic rollback at {now_iso()}: {breach.words}",
    )


async def watch(
    ctx: Services,
    source: MetricsSource,
    on_report: Callable[[MonitorReport], None],
    stop: asyncio.Event,
    window: MonitorWindow | None = None,
) -> None:
    """Poll, observe and (with auto_rollback) roll back, until the window is over or `stop`."""
    import asyncio  # here, not at the top: every switch imports this module to open the window

    window = window or MonitorWindow(ctx)
    interval = ctx.config.metrics.interval
    try:
        while not stop.is_set():
            figures = await source.poll()
            report = await asyncio.to_thread(window.observe_and_act, figures)
            on_report(report)
            if report.status.state not in ("watching",) or report.breach is not None:
                return
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
    finally:
        await asyncio.to_thread(window.flush)


def watch_from_cli(ctx: Services, say: Callable[[str], None]) -> int:
    """`pmb-console monitor`: a line per poll until the window passes, breaches or ends.

    Exit 0 when the window passed, 1 on a breach (after the automatic rollback, if
    configured), 3 when there is no window to watch (not started, or over and not
    watched across its span).
    """
    import asyncio

    from pmb_console.errors import ExitCode
    from pmb_console.providers.metrics import build_metrics_source

    window = MonitorWindow(ctx)
    status = window.status()
    if status.state not in ("watching",):
        say(status.detail)
        return ExitCode.OK if status.passed else ExitCode.REFUSED
    last: list[MonitorReport] = []

    def show(report: MonitorReport) -> None:
        last.append(report)
        figures = ", ".join(
            f"{name} {'-' if value is None else (percent(value) if name == 'error_rate' else f'{value:.0f} ms')}"
            for name, value in report.figures.items()
        )
        say(
            f"{report.status.countdown()}  {figures}"
            + (f"  over: {'; '.join(report.over)}" if report.over else "")
        )
        if report.banner:
            say(report.banner)
        if report.rollback is not None:
            say(f"automatic rollback: {report.rollback.message}")

    async def run() -> None:
        source = build_metrics_source(ctx.config)
        try:
            await watch(ctx, source, show, asyncio.Event(), window)
        finally:
            await source.aclose()

    asyncio.run(run())
    final = window.status()
    say(final.detail)
    return ExitCode.OK if final.passed else ExitCode.FAILED
