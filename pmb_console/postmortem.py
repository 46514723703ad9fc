"""The post-mortem timeline (RUNBOOK §3): Markdown made from the audit log and the
release journal.

`timeline` is pure: records in, text out. Each action's start and outcome become one
entry with who, when, the guards (failed ones with why, passed ones by name, any override
with its reason), the outcome, the duration and what was read back — plus the metrics
recorded at that decision point, when there are any. The journal adds what only it holds:
the monitoring window opening, passing or ending. `postmortem_text` reads both.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pmb_console.audit import parse_time

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services

WINDOW_WORDS = {"running": "opened", "done": "passed", "failed": "did not pass"}
"""The monitor step's states, as the window's rows say them."""


def postmortem_text(ctx: Services, since: datetime | None = None) -> str:
    """The timeline of this environment's release: the audit log and the journal's window."""
    from pmb_console.journal import ReleaseJournal

    cfg = ctx.config
    title = f"Post-mortem — {cfg.console.environment}, release {cfg.release.version or '?'}"
    events = window_events(ReleaseJournal.of(ctx).events(), since)
    return timeline(ctx.audit.records(since=since), title, events)


def window_events(
    events: list[dict[str, Any]], since: datetime | None = None
) -> list[dict[str, Any]]:
    """The journal's monitoring-window changes the audit log does not hold: opened by the
    switch, passed, ended early. A breach is in the audit (with its figures), and a step
    marked by hand too (journal-mark)."""
    kept = []
    for e in events:
        evidence = e.get("evidence")
        if e.get("step") != "monitor" or not isinstance(evidence, str) or not e.get("at"):
            continue
        if evidence.startswith(("breach:", "marked by hand")) or e.get("override"):
            continue
        if since is not None and parse_time(e["at"]) < since:
            continue
        kept.append(e)
    return kept


def _fmt_weights(state: dict[str, Any]) -> str:
    w = state.get("weights")
    if not isinstance(w, dict):
        return ""
    return (
        f"live {state.get('live', '?')} (blue {w.get('blue', '?')}% · green {w.get('green', '?')}%)"
    )


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    parts = []
    for color in ("blue", "green"):
        m = metrics.get(color)
        if not isinstance(m, dict):
            continue
        rps = m.get("requests_per_second")
        err = m.get("error_rate")
        p95 = m.get("p95_ms")
        parts.append(
            f"{color}: "
            + ", ".join(
                x
                for x in (
                    f"{rps:.1f} req/s" if isinstance(rps, int | float) else "",
                    f"errors {err * 100:.1f}%" if isinstance(err, int | float) else "",
                    f"p95 {p95:.0f} ms" if isinstance(p95, int | float) else "",
                )
                if x
            )
        )
    return "; ".join(parts)


def timeline(
    records: list[dict[str, Any]],
    title: str = "Post-mortem timeline",
    window: list[dict[str, Any]] | None = None,
) -> str:
    """`records` from the audit log, `window` the journal's window events (window_events)."""
    lines = [f"# {title}", ""]
    window = window or []
    if not records and not window:
        return "\n".join(lines + ["No actions were recorded in this period.", ""])
    times = sorted([r["time"] for r in records] + [e["at"] for e in window], key=parse_time)
    first, last = times[0], times[-1]
    operators = sorted({r.get("operator", "?") for r in records})
    lines += [f"- Period: {first} → {last}", f"- Operators: {', '.join(operators)}", ""]
    outcomes = [r for r in records if r.get("outcome") not in (None, "started")]
    failed = [r for r in outcomes if r.get("outcome") in ("failed", "not-verified", "interrupted")]
    overrides = [r for r in outcomes if r.get("override")]
    lines += [
        "## Summary",
        "",
        f"- {len(outcomes)} recorded outcomes, {len(failed)} failed or unverified, "
        f"{len(overrides)} guard overrides.",
        "",
        "## Timeline",
        "",
        "| time (UTC) | operator | action | outcome | duration | details |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [(parse_time(r["time"]), 0, r) for r in records] + [
        (parse_time(e["at"]), 1, e) for e in window
    ]
    for _, kind, r in sorted(rows, key=lambda row: (row[0], row[1])):
        if kind == 1:
            state = WINDOW_WORDS.get(r.get("state", ""), r.get("state", ""))
            said = str(r.get("evidence", "")).replace("|", "\\|")
            lines.append(
                f"| {r['at'][:23]} | {r.get('by', '?')} | monitoring window | {state} | | {said} |"
            )
            continue
        if r.get("outcome") == "started":
            continue  # the outcome row says it all; an action with no outcome is listed below
        details = []
        message = r.get("message") or ""
        if r.get("action") == "checklist-signoff":
            message = f"signed off {r.get('item')}: {r.get('reason', '')}"
        if message:
            details.append(message)
        failed_guards = [g for g in r.get("guards") or [] if not g.get("ok")]
        if failed_guards:
            details.append(
                "failed guards: " + "; ".join(f"{g['name']} ({g['detail']})" for g in failed_guards)
            )
        passed_guards = [g.get("name", "?") for g in r.get("guards") or [] if g.get("ok")]
        if passed_guards:
            details.append("guards passed: " + ", ".join(passed_guards))
        if r.get("override"):
            details.append(f"**override**: {r['override'].get('reason', '')}")
        state = _fmt_weights(r.get("state") or {})
        if state:
            details.append(f"read back {state}")
        if r.get("metrics"):
            details.append(f"metrics {_fmt_metrics(r['metrics'])}")
        duration = (
            f"{r['duration_s']:.2f} s" if isinstance(r.get("duration_s"), int | float) else ""
        )
        cell = "<br>".join(d.replace("|", "\\|") for d in details)
        lines.append(
            f"| {r['time'][:23]} | {r.get('operator', '?')} | {r.get('action')} | {r.get('outcome', '')} "
            f"| {duration} | {cell} |"
        )
    finished = {r.get("run_id") for r in outcomes if r.get("run_id")}
    dangling = [
        r for r in records if r.get("outcome") == "started" and r.get("run_id") not in finished
    ]
    if dangling:
        lines += ["", "## Actions with no recorded outcome (console stopped mid-action)", ""]
        for r in dangling:
            lines.append(f"- {r['time'][:23]} {r.get('operator', '?')} started {r.get('action')}")
    lines.append("")
    return "\n".join(lines)
