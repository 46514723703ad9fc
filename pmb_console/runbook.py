"""The runbook as data: RUNBOOK.md §1–§3, each step with its state, who, when and why.

Pure: the release journal (a dict, see journal.py), the checklist results and the action
in flight go in; a list of `StepView` comes out, which the console's runbook panel and
`pmb-console journal` both show. Nothing here reads a system or a file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"
STATES = (PENDING, RUNNING, DONE, FAILED, SKIPPED)

SECTIONS = {
    "checklist": "§1 Pre-deployment checklist",
    "deploy": "§2 Blue/green deployment",
    "rollback": "§3 Rollback",
}


@dataclass(frozen=True)
class Step:
    id: str
    section: str
    title: str
    action: str = ""
    """The console action that carries this step out, if any."""


STEPS: tuple[Step, ...] = (
    Step("reviewed", "checklist", "Changes reviewed and approved"),
    Step("ci-green", "checklist", "CI checks passed on the release commit"),
    Step("migrations-tested", "checklist", "Migrations tested in staging"),
    Step("snapshot-taken", "checklist", "Production database snapshot taken", "snapshot"),
    Step("release-tagged", "checklist", "Release tagged in git"),
    Step("provision-green", "deploy", "1. Provision green", "provision"),
    Step("deploy-green", "deploy", "2. Deploy the new version to green", "deploy"),
    Step("run-migrations", "deploy", "3. Run migrations", "migrate"),
    Step("test-green", "deploy", "4. Smoke test green", "smoke"),
    Step("switch-traffic", "deploy", "5. Switch traffic", "switch"),
    Step("monitor", "deploy", "6. Monitor"),
    Step("decommission-blue", "deploy", "7. Decommission blue", "decommission"),
    Step("rollback-traffic", "rollback", "1. Switch traffic back", "rollback"),
    Step("rollback-database", "rollback", "2. Restore the database if needed", "restore"),
    Step("post-mortem", "rollback", "3. Post-mortem"),
)

DEPLOY_ORDER: tuple[str, ...] = tuple(s.id for s in STEPS if s.section == "deploy")
"""§2 is a sequence: a step is done only after every step before it is done or skipped."""

STEP_OF_ACTION: dict[str, str] = {s.action: s.id for s in STEPS if s.action}


def find_step(step_id: str) -> Step | None:
    return next((s for s in STEPS if s.id == step_id), None)


def steps_before(step_id: str, steps: dict[str, dict[str, Any]]) -> list[str]:
    """The §2 steps before `step_id` that are neither done nor skipped (empty: in order)."""
    if step_id not in DEPLOY_ORDER:
        return []
    earlier = DEPLOY_ORDER[: DEPLOY_ORDER.index(step_id)]
    return [s for s in earlier if (steps.get(s) or {}).get("state") not in (DONE, SKIPPED)]


@dataclass(frozen=True)
class StepView:
    """One line of the runbook as shown: the step, its state and the evidence for it."""

    id: str
    section: str
    title: str
    state: str
    by: str = ""
    at: str = ""
    evidence: str = ""
    """In words: the check or the action outcome that set the state."""
    override: str = ""
    """The reason recorded when the step was done out of order or signed off by hand."""
    out_of_order: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_view(
    journal: dict[str, Any],
    checklist: list[Any] | None = None,
    running_action: str = "",
) -> list[StepView]:
    """Every step with its state.

    `journal` is `ReleaseJournal.read()`; `checklist` the `CheckResult`s of run_checklist
    (None: the §1 items show what the journal remembers, or pending); `running_action`
    the name of the action in flight in this console, which shows its step running.
    """
    steps: dict[str, dict[str, Any]] = journal.get("steps", {})
    checks = {c.id: c for c in checklist or []}
    running_step = STEP_OF_ACTION.get(running_action, "")
    views = []
    for step in STEPS:
        entry = steps.get(step.id) or {}
        state = entry.get("state", PENDING)
        evidence = _words(entry.get("evidence"))
        by, at = entry.get("by", ""), entry.get("at", "")
        check = checks.get(step.id)
        if check is not None:
            state = {"pass": DONE, "signed-off": DONE}.get(check.status, FAILED)
            evidence = check.detail
            by = check.signed_off_by or by
        if step.id == running_step:
            state = RUNNING
        views.append(
            StepView(
                step.id,
                step.section,
                step.title,
                state,
                by,
                at,
                evidence,
                entry.get("override", ""),
                list(entry.get("out_of_order", [])),
            )
        )
    return views


def states_of(views: list[StepView]) -> dict[str, str]:
    """{step id: state}: the shape the console's runbook panel already draws."""
    return {v.id: v.state for v in views}


def next_step(views: list[StepView]) -> StepView | None:
    """The first §2 step not yet done or skipped: what the operator should do now."""
    for view in views:
        if view.section == "deploy" and view.state not in (DONE, SKIPPED):
            return view
    return None


def format_runbook(views: list[StepView]) -> str:
    """The runbook as text, for `pmb-console journal`."""
    marks = {PENDING: "[ ]", RUNNING: "[>]", DONE: "[x]", FAILED: "[!]", SKIPPED: "[-]"}
    lines: list[str] = []
    section = ""
    for view in views:
        if view.section != section:
            section = view.section
            lines += ["", SECTIONS[section]] if lines else [SECTIONS[section]]
        who = f" — {view.by}" if view.by else ""
        when = f" {view.at[:19].replace('T', ' ')}" if view.at else ""
        lines.append(f"  {marks.get(view.state, '[?]')} {view.title}{who}{when}")
        if view.evidence:
            lines.append(f"        {view.evidence}")
        if view.out_of_order:
            why = f"; override: {view.override}" if view.override else "; no override recorded"
            lines.append(
                f"        done out of order ({', '.join(view.out_of_order)} not done then){why}"
            )
    nxt = next_step(views)
    lines += ["", f"next: {nxt.title}" if nxt else "every §2 step is done"]
    return "\n".join(lines)


def _words(evidence: Any) -> str:
    if not evidence:
        return ""
    if isinstance(evidence, str):
        return evidence
    if isinstance(evidence, dict):
        said = evidence.get("message") or evidence.get("detail") or ""
        outcome = evidence.get("outcome")
        return f"{outcome}: {said}" if outcome and said else str(said or outcome or "")
    return str(evidence)
