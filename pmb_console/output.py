"""Words on a terminal for the headless CLI: plain text, or one JSON document with --json.

Everything printed passes through `redact`. Progress and prompts go to stderr so stdout
stays a clean document for scripts.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pmb_console.redact import redact


def out(text: str = "") -> None:
    print(redact(text))


def err(text: str) -> None:
    print(redact(text), file=sys.stderr, flush=True)


def emit(doc: Any, as_json: bool, formatter: Callable[[Any], str]) -> None:
    if as_json:
        print(redact(json.dumps(doc, indent=2, sort_keys=True, default=str)))
    else:
        out(formatter(doc))


def age(iso_or_dt: Any) -> str:
    t = iso_or_dt if isinstance(iso_or_dt, datetime) else datetime.fromisoformat(str(iso_or_dt))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - t).total_seconds()))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


# --- status ----------------------------------------------------------------------------


def format_status(doc: dict[str, Any]) -> str:
    errors = list(doc.get("errors", []))
    traffic_error = _take_error(errors, "traffic")
    lock_error = _take_error(errors, "lock")
    w = doc.get("weights", {})
    live = str(doc.get("live", "?")).upper()
    if any(w.get(c) is None for c in ("blue", "green")):
        why = traffic_error or "the load balancer gave none"
        lines = [f"LIVE {live}   weights unknown: {why}"]
    else:
        lines = [f"LIVE {live}   blue {w['blue']}% · green {w['green']}%"]
    for color, h in doc.get("health", {}).items():
        instances = h.get("instances", [])
        if not instances:
            lines.append(
                f"{color:5}  UNHEALTHY: no instances configured ([colors.{color}] instances is empty)"
            )
            continue
        lines.append(f"{color:5}  {'healthy' if h.get('ok') else 'UNHEALTHY'}")
        for inst in instances:
            said = (
                f"HTTP {inst['status']}"
                if inst.get("status") is not None
                else inst.get("error", "")
            )
            lines.append(
                f"       {'ok ' if inst.get('ok') else 'BAD'} {inst['name']}: {said} "
                f"({inst.get('latency_ms', 0):.0f} ms)"
            )
    lines.extend(_lock_lines(doc.get("lock"), lock_error))
    database_error = _take_error(errors, "database")
    if database_error:  # a restore left half done (its line says how to finish), or no read
        lines.append(f"database  {database_error}")
    for e in errors:
        lines.append(f"error  {e}")
    return "\n".join(lines)


def _take_error(errors: list[str], part: str) -> str:
    """The error about one part of the status (removed from `errors`), without its prefix."""
    for e in errors:
        if e.startswith(f"{part}: "):
            errors.remove(e)
            return e[len(part) + 2 :]
    return ""


def _lock_lines(lock: dict[str, Any] | None, error: str) -> list[str]:
    if error:
        return [f"lock   unknown: {error}"]
    if not lock:
        return ["lock   free"]
    from pmb_console.locking import LockHolder

    try:
        holder = LockHolder(**lock)
    except TypeError:  # a holder written by another version: say what is there
        return [f"lock   held: {json.dumps(lock, default=str)}"]
    lines = [f"lock   held by {holder.describe()}"]
    if holder.deliberate:
        lines.append(
            f"       release: pmb-console unlock (as {holder.operator}), "
            f"or pmb-console unlock --force {holder.lock_id}"
        )
    return lines


def format_snapshots(snaps: list[dict[str, Any]]) -> str:
    if not snaps:
        return "no snapshots"
    rows = [f"{'ID':40} {'AGE':>8} {'SIZE':>9}  {'KIND':8} LABEL"]
    for s in snaps:
        flags = "  [past retention]" if (s.get("manifest") or {}).get("expired") else ""
        rows.append(
            f"{s['id']:40} {age(s['created_at']):>8} {size(int(s.get('size_bytes', 0))):>9}  "
            f"{s.get('kind', ''):8} {s.get('label', '')}{flags}"
        )
    return "\n".join(rows)


def format_audit(records: list[dict[str, Any]]) -> str:
    if not records:
        return "the audit log is empty"
    rows = []
    for r in records:
        outcome = r.get("outcome", "")
        detail = r.get("message") or r.get("item") or ""
        rows.append(
            f"{r['time'][:19]}  {r.get('operator', '?'):12} {r['action']:12} {outcome:13} {detail}"
        )
        rows.extend(f"{'':21}{line}" for line in _audit_details(r))
    return "\n".join(rows)


def _audit_details(r: dict[str, Any]) -> list[str]:
    """The parameters and duration on one line, and a guard override on its own: what the
    JSON holds that a reader of the log needs, kept short."""
    said = [f"{k}={_scalar(v)}" for k, v in (r.get("params") or {}).items() if v not in ("", None)]
    if r.get("duration_s") is not None and r.get("outcome") != "started":
        said.append(f"took {float(r['duration_s']):.2f} s")
    override = r.get("override")
    if r.get("reason") and not override:
        said.append(f"reason: {r['reason']}")
    lines = [" · ".join(said)] if said else []
    if override:
        failed = "; ".join(
            f"{g.get('name', '?')}: {g.get('detail', '')}" for g in override.get("guards", [])
        )
        lines.append(
            f"OVERRIDE (--force), reason: {override.get('reason') or '?'}"
            + (f" — guard failed: {failed}" if failed else "")
        )
    return lines


def format_checklist(doc: dict[str, Any]) -> str:
    marks = {"pass": "[x]", "signed-off": "[s]", "fail": "[ ]"}
    lines = [f"Pre-deployment checklist for {doc.get('release') or '(no release version)'}"]
    for item in doc["items"]:
        who = f" by {item['signed_off_by']}" if item.get("signed_off_by") else ""
        lines.append(f"  {marks.get(item['status'], '[?]')} {item['title']}: {item['detail']}{who}")
    lines.append(
        "ready: all items pass or are signed off"
        if doc["ok"]
        else "NOT ready: items above are open"
    )
    return "\n".join(lines)


def print_health(results: list[Any]) -> None:
    for r in results:
        out(f"{'ok ' if r.ok else 'BAD'} {r.describe()}")


# --- actions ---------------------------------------------------------------------------


def print_preview(action: Any, preview: Any) -> None:
    err(f"{action.title}")
    for g in preview.guards:
        err(f"  {'pass' if g.ok else 'FAIL'}  {g.name}: {g.detail}")
    err(f"  plan: {preview.plan.summary}")
    for step in preview.plan.steps:
        err(f"    - {step}")


def ask_yes(prompt: str) -> bool:
    if not sys.stdin.isatty():
        err("not confirmed: no terminal to ask on (pass --yes to confirm)")
        return False
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def progress_printer() -> Callable[[str, float | None], None]:
    started = time.monotonic()

    def progress(message: str, fraction: float | None = None) -> None:
        pct = f" {fraction * 100:.0f}%" if fraction is not None else ""
        err(f"  [{time.monotonic() - started:5.1f} s]{pct} {message}")

    return progress


def print_outcome(outcome: Any, as_json: bool = False) -> None:
    if as_json:
        print(redact(json.dumps(outcome.as_dict(), indent=2, sort_keys=True, default=str)))
        return
    if outcome.status == "dry-run" and outcome.plan is not None:
        out(f"dry run — nothing changed. Plan: {outcome.plan.summary}")
        for step in outcome.plan.steps:
            out(f"  - {step}")
        for g in outcome.guards:
            out(f"  guard {'pass' if g.ok else 'FAIL'}  {g.name}: {g.detail}")
        return
    stream = out if outcome.ok else err
    stream(outcome.message)
    if outcome.hint:
        stream(f"  hint: {outcome.hint}")
    state = outcome.state
    if outcome.ok:
        if "weights" in state:
            w = state["weights"]
            stream(
                f"  read back: live {state.get('live')} · blue {w.get('blue')}% · green {w.get('green')}%"
            )
    elif state:  # failed, interrupted, not verified: what the systems say now, in full
        stream("  read back now:")
        stream(state_lines(state, "    "))


def state_lines(state: dict[str, Any], indent: str = "") -> str:
    """A state read back, one `key: value` a line; nested tables indented under their key,
    a list of tables one `- k=v, k=v` line per item (what a person reads, not JSON)."""
    lines = []
    for key, value in state.items():
        if value == "":
            continue  # an empty detail says nothing
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:")
            lines.append(state_lines(value, indent + "  "))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{indent}{key}:")
            lines.extend(
                f"{indent}  - " + ", ".join(f"{k}={_scalar(v)}" for k, v in item.items())
                for item in value
            )
        else:
            lines.append(f"{indent}{key}: {_scalar(value)}")
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value)
    return json.dumps(value, default=str)


# --- database safety: migration lint, backup policy, drills ----------------------------


def format_lint(doc: dict[str, Any]) -> str:
    if not doc.get("files"):
        return "no migration files to lint"
    lines = [
        f"Migration lint of {len(doc['files'])} file(s)"
        + (f" for release {doc['release']}" if doc.get("release") else "")
        + (f" ({doc['note']})" if doc.get("note") else "")
    ]
    for f in doc.get("findings", []):
        lines.append(f"  {f['where']}  {f['kind_title'].upper()}  {f['rule']}")
        lines.append(f"      {f['message']}")
        lines.append(f"      why: {f['why']}")
        lines.append(f"      instead: {f['instead']}")
    counts = doc.get("counts", {})
    lines.append(
        f"{counts.get('breaks-old-version', 0)} break the old version · "
        f"{counts.get('locks-table', 0)} lock or rewrite a table · "
        f"{counts.get('unreviewed', 0)} unreviewed · {counts.get('advice', 0)} advice"
    )
    lines.append(f"rollback: {doc.get('rollback', '?')}")
    return "\n".join(lines)


def format_policy(doc: dict[str, Any]) -> str:
    lines = [
        f"Backup policy: newest snapshot younger than {doc['max_age_hours']:g} h, "
        f"kept {doc['retention_days']} days",
        f"  {'ok ' if doc['fresh'] else 'BAD'} newest: {doc['fresh_detail']}",
    ]
    for day in doc["days"]:
        mark = "ok " if day["covered"] else "-- "
        said = ", ".join(day["snapshots"]) if day["covered"] else "no snapshot"
        lines.append(f"  {mark} {day['day']}  {said}")
    if doc["expired"]:
        lines.append(
            f"  expired (older than {doc['retention_days']} days; snapshots --prune deletes them):"
        )
        for s in doc["expired"]:
            lines.append(
                f"      {s['id']}  {s['created_at'][:16]}  {s['kind']}  {s.get('label', '')}"
            )
    else:
        lines.append("  nothing expired")
    for s in doc.get("unusable", []):
        lines.append(f"  unusable: {s['id']} ({s['status']})")
    return "\n".join(lines)


def format_drills(records: list[dict[str, Any]]) -> str:
    if not records:
        return "no drill has run yet (pmb-console drill)"
    rows = [f"{'WHEN':19}  {'SNAPSHOT':24} {'TOOK':>8}  RESULT"]
    for r in records:
        failed = next((p for p in r.get("phases", []) if p.get("ok") is False), None)
        result = "pass" if r.get("ok") else f"FAIL at {failed['name'] if failed else '?'}"
        phases = " · ".join(
            f"{p['name']} skipped" if p.get("skipped") else f"{p['name']} {p['duration_s']:.2f} s"
            for p in r.get("phases", [])
        )
        rows.append(
            f"{str(r.get('time', ''))[:19]:19}  {str(r.get('snapshot_id')):24} "
            f"{r.get('duration_s', 0):>6.2f} s  {result}  ({phases})"
        )
        if failed:
            rows.append(f"{'':21}{failed['detail']}")
    return "\n".join(rows)
