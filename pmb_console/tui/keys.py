"""The console's keys: one table, so bindings, the help screen and the palette agree.

Every binding has an id, so `[keymap]` in the config can move it (`rollback = "ctrl+r"`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    id: str
    key: str
    action: str
    label: str
    """Short, for the footer."""
    help: str
    """What it does, for the help screen and the command palette."""
    mutating: bool = False
    show: bool = True


KEYS: tuple[Key, ...] = (
    Key("help", "question_mark", "help", "Help", "List every key and what it does"),
    Key(
        "switch",
        "s",
        "switch",
        "Switch",
        "Move traffic to a color (full or a weight step)",
        mutating=True,
    ),
    Key(
        "rollback",
        "r",
        "rollback",
        "Rollback",
        "Send all traffic back to the previous color",
        mutating=True,
    ),
    Key("snapshot", "b", "snapshot", "Snapshot", "Take a database snapshot", mutating=True),
    Key("migrate", "m", "migrate", "Migrate", "Run the pending database migrations", mutating=True),
    Key(
        "restore",
        "R",
        "restore",
        "Restore",
        "Restore the database from a snapshot (type the environment)",
        mutating=True,
    ),
    Key("smoke", "t", "smoke", "Smoke", "Run the smoke test against a color"),
    Key(
        "lock",
        "L",
        "lock",
        "Lock",
        "Take or release the deliberate lock that blocks everyone else's changes (asks why)",
        mutating=True,
    ),
    # The runbook's §2 steps: listed in help and the palette, kept off the crowded footer.
    Key(
        "provision",
        "p",
        "provision",
        "Provision",
        "Run the provision command for a color",
        mutating=True,
        show=False,
    ),
    Key(
        "deploy",
        "d",
        "deploy",
        "Deploy",
        "Deploy the release to a color and check its version",
        mutating=True,
        show=False,
    ),
    Key(
        "decommission",
        "D",
        "decommission",
        "Decommission",
        "Take the old color out after the monitoring window (type the environment)",
        mutating=True,
        show=False,
    ),
    Key(
        "extend_monitor",
        "e",
        "extend_monitor",
        "Extend",
        "Extend the monitoring window after the switch",
        mutating=True,
        show=False,
    ),
    Key(
        "backups",
        "B",
        "backups",
        "Backups",
        "Backup policy, snapshots past retention, restore drills (D: drill, X: prune)",
        show=False,
    ),
    Key(
        "postmortem",
        "P",
        "postmortem",
        "Post-mortem",
        "Write the post-mortem timeline from the audit log to a file",
        show=False,
    ),
    Key(
        "signoff",
        "c",
        "signoff",
        "Sign off",
        "Sign off the selected runbook item (recorded in the audit log)",
    ),
    Key(
        "filter_logs",
        "slash",
        "filter_logs",
        "Filter",
        "Filter the log tail with a regular expression",
    ),
    Key("pause_logs", "space", "pause_logs", "Pause", "Pause or resume the log tail"),
    Key(
        "follow_logs",
        "end",
        "follow_logs",
        "Follow",
        "Follow the newest log lines again",
        show=False,
    ),
    Key("quit", "q", "quit_console", "Quit", "Quit (asks first while an action runs)"),
)

MUTATING_ACTIONS = frozenset(k.action for k in KEYS if k.mutating)


def bindings() -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    return [Binding(k.key, k.action, k.label, show=k.show, id=k.id) for k in KEYS]


def key_display(key: str) -> str:
    return {"slash": "/", "question_mark": "?", "space": "space", "end": "end"}.get(key, key)
