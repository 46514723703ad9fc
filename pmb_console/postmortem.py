"""The post-mortem timeline (RUNBOOK §3): Markdown made from the audit log.

Pure: records in, text out. Each action's start and outcome become one entry with who,
when, the guards (and any override with its reason), the outcome, the duration and
what was read back — plus the metrics recorded at that decision point, when there are any.
"""

from __future__ import annotations

from typing import Any


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


def timeline(records: list[dict[str, Any]], title: str = "Post-mortem timeline") -> str:
    lines = [f"# {title}", ""]
    if not records:
        return "\n".join(lines + ["No actions were recorded in this period.", ""])
    first, last = records[0]["time"], records[-1]["time"]
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
    for r in records:
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
