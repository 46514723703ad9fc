"""The runbook as the console shows it: RUNBOOK.md §1 checklist, §2 and §3 steps, with states.

Until the runbook engine makes states automatic, a state comes from the audit log: a
checklist sign-off marks an item done, and the last run of the action that carries out
a step marks the step running, done or failed. Nothing here touches the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"


@dataclass(frozen=True)
class RunbookItem:
    id: str
    section: str
    title: str
    action: str = ""
    """The console action that carries this step out, if any."""


SECTIONS = {
    "checklist": "§1 Pre-deployment checklist",
    "deploy": "§2 Blue/green deployment",
    "rollback": "§3 Rollback",
}

ITEMS: tuple[RunbookItem, ...] = (
    RunbookItem("reviewed", "checklist", "Changes reviewed and approved"),
    RunbookItem("ci-green", "checklist", "CI checks passed on the release commit"),
    RunbookItem("migrations-tested", "checklist", "Migrations tested in staging"),
    RunbookItem("snapshot-taken", "checklist", "Production database snapshot taken", "snapshot"),
    RunbookItem("release-tagged", "checklist", "Release tagged in git"),
    RunbookItem("provision-green", "deploy", "1. Provision green"),
    RunbookItem("deploy-green", "deploy", "2. Deploy the new version to green"),
    RunbookItem("run-migrations", "deploy", "3. Run migrations", "migrate"),
    RunbookItem("test-green", "deploy", "4. Smoke test green", "smoke"),
    RunbookItem("switch-traffic", "deploy", "5. Switch traffic", "switch"),
    RunbookItem("monitor", "deploy", "6. Monitor"),
    RunbookItem("decommission-blue", "deploy", "7. Decommission blue", "decommission"),
    RunbookItem("rollback-traffic", "rollback", "1. Switch traffic back", "rollback"),
    RunbookItem("rollback-database", "rollback", "2. Restore the database if needed", "restore"),
    RunbookItem("post-mortem", "rollback", "3. Post-mortem"),
)

_OUTCOME_STATE = {
    "started": RUNNING,
    "succeeded": DONE,
    "failed": FAILED,
    "not-verified": FAILED,
    "interrupted": FAILED,
}


def item_states(records: list[dict[str, Any]], running_action: str = "") -> dict[str, str]:
    """The state of every item, from audit records in the order they were written."""
    states = {item.id: PENDING for item in ITEMS}
    by_action = {item.action: item.id for item in ITEMS if item.action}
    for record in records:
        action = record.get("action", "")
        if action == "checklist-signoff":
            item = record.get("item", "")
            if item in states:
                states[item] = SKIPPED if record.get("skipped") else DONE
        elif action in by_action:
            state = _OUTCOME_STATE.get(record.get("outcome", ""))
            if state:
                states[by_action[action]] = state
    if running_action in by_action:
        states[by_action[running_action]] = RUNNING
    return states


def find_item(item_id: str) -> RunbookItem | None:
    return next((item for item in ITEMS if item.id == item_id), None)
