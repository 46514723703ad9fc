"""The console's keys as plain data, and the check of the config's `[keymap]` section.

No textual here: `config-check` reads the same table the console binds, so both name an
unknown binding id or two actions on one key the same way. `pmb_console.tui.keys` turns
the table into Textual bindings.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


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
    """Runs an action that changes a system: greyed while another runs, refused in read-only."""
    writes: bool = False
    """Writes a record or a file though it changes no system: refused in read-only too."""
    takes_lock: bool = False
    """Runs under the one-change-at-a-time lock: greyed while another operator holds it."""
    show: bool = True
    footer_from: int = 0
    """The narrowest terminal (columns) whose footer shows the key; narrower, the key still
    works and is listed in help (?) and the palette, so Help and Quit keep their place."""

    @property
    def refused_in_read_only(self) -> bool:
        return self.mutating or self.writes


KEYS: tuple[Key, ...] = (
    Key("help", "question_mark", "help", "Help", "List every key and what it does"),
    Key(
        "switch",
        "s",
        "switch",
        "Switch",
        "Move traffic to a color (full or a weight step)",
        mutating=True,
        takes_lock=True,
    ),
    Key(
        "rollback",
        "r",
        "rollback",
        "Rollback",
        "Send all traffic back to the previous color",
        mutating=True,
        takes_lock=True,
    ),
    Key(
        "snapshot",
        "b",
        "snapshot",
        "Snapshot",
        "Take a database snapshot",
        mutating=True,
        takes_lock=True,
    ),
    Key(
        "migrate",
        "m",
        "migrate",
        "Migrate",
        "Run the pending database migrations",
        mutating=True,
        takes_lock=True,
    ),
    Key(
        "restore",
        "R",
        "restore",
        "Restore",
        "Restore the database from a snapshot (type the environment)",
        mutating=True,
        takes_lock=True,
    ),
    Key(
        "smoke",
        "t",
        "smoke",
        "Smoke",
        "Run the smoke test against a color",
        takes_lock=True,
        footer_from=100,
    ),
    Key(
        "lock",
        "L",
        "lock",
        "Lock",
        "Take or release the deliberate lock that blocks everyone else's changes (asks why)",
        mutating=True,
        footer_from=100,
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
        takes_lock=True,
    ),
    Key(
        "deploy",
        "d",
        "deploy",
        "Deploy",
        "Deploy the release to a color and check its version",
        mutating=True,
        show=False,
        takes_lock=True,
    ),
    Key(
        "decommission",
        "D",
        "decommission",
        "Decommission",
        "Take the old color out after the monitoring window (type the environment)",
        mutating=True,
        show=False,
        takes_lock=True,
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
        writes=True,
        show=False,
    ),
    Key(
        "signoff",
        "c",
        "signoff",
        "Sign off",
        "Sign off the selected runbook item (recorded in the audit log)",
        writes=True,
        footer_from=140,  # the runbook panel's title names it
    ),
    Key(
        "filter_logs",
        "slash",
        "filter_logs",
        "Filter",
        "Filter the log tail with a regular expression",
        footer_from=140,  # the log pane's title names it
    ),
    Key(
        "pause_logs",
        "space",
        "pause_logs",
        "Pause",
        "Pause or resume the log tail",
        footer_from=140,  # the log pane's title names it
    ),
    Key(
        "follow_logs",
        "end",
        "follow_logs",
        "Follow",
        "Follow the newest log lines again",
        show=False,
    ),
    Key(
        "quit",
        "q",
        "quit_console",
        "Quit",
        "Quit, as Ctrl+C does (asks first while an action runs)",
    ),
)

FOOTER_FROM: dict[str, int] = {k.id: k.footer_from for k in KEYS if k.footer_from}
"""Binding id -> the narrowest terminal whose footer shows it."""

MUTATING_ACTIONS = frozenset(k.action for k in KEYS if k.mutating)
READ_ONLY_REFUSED = frozenset(k.action for k in KEYS if k.refused_in_read_only)
TAKES_LOCK = frozenset(k.action for k in KEYS if k.takes_lock)

RESERVED: dict[str, str] = {
    "ctrl+p": "the command palette",
    "ctrl+q": "quitting at once",
    "ctrl+c": "copying and quitting",
    "tab": "moving between panes",
    "shift+tab": "moving between panes",
    "up": "moving in the runbook and the log tail",
    "down": "moving in the runbook and the log tail",
    "pageup": "paging the log tail",
    "pagedown": "paging the log tail",
    "home": "the oldest log line",
}
"""Keys the console already uses outside the table: a remap onto one would fire by accident."""

_NAMED = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def normalize_key(key: str) -> str:
    """One key as Textual names it: "?" is "question_mark", "/" is "slash"."""
    key = key.strip()
    if len(key) != 1 or key.isalnum():
        return key
    try:
        name = unicodedata.name(key).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return key
    return _NAMED.get(name, name)


def key_display(key: str) -> str:
    """A key as the operator types it in the config and reads it on screen."""
    return {"slash": "/", "question_mark": "?", "space": "space", "end": "end"}.get(key, key)


def key_list(keys: str) -> list[str]:
    """A keymap value ("ctrl+r" or "ctrl+r,f5") as normalized keys."""
    return [normalize_key(k) for k in keys.split(",") if k.strip()]


@dataclass(frozen=True)
class KeymapProblem:
    binding_id: str
    what: str
    """In words, naming the key."""

    def __str__(self) -> str:
        return f"[keymap] {self.binding_id}: {self.what}"


@dataclass(frozen=True)
class KeymapCheck:
    applied: dict[str, str]
    """The remaps that are safe to bind: known ids, no key taken twice."""
    problems: tuple[KeymapProblem, ...]


def check_keymap(keymap: Mapping[str, str], extra: Iterable[tuple[str, str]] = ()) -> KeymapCheck:
    """Which `[keymap]` remaps to apply, and what is wrong with the others.

    `extra` is (id, key) of bindings outside the table (the demo's keys). An unknown id
    is named and ignored; a remap that puts two actions on one key, or takes a key the
    console already uses, is named and not applied, so each key keeps one meaning.
    """
    defaults = {k.id: k.key for k in KEYS} | dict(extra)
    problems: list[KeymapProblem] = []
    remaps: dict[str, list[str]] = {}
    for binding_id, keys in keymap.items():
        if binding_id not in defaults:
            problems.append(
                KeymapProblem(
                    binding_id,
                    f"no such key id, so nothing was moved (ids: {', '.join(k.id for k in KEYS)})",
                )
            )
        elif not key_list(str(keys)):
            problems.append(KeymapProblem(binding_id, "no key given; it keeps its own"))
        else:
            remaps[binding_id] = key_list(str(keys))

    # A remap dropped may hand its id back its own key, which another remap took: repeat.
    while True:
        bound: dict[str, list[str]] = {}
        for binding_id, key in defaults.items():
            for one in remaps.get(binding_id, [key]):
                bound.setdefault(one, []).append(binding_id)
        dropped = False
        for key, ids in bound.items():
            if len(ids) > 1:
                moved = [i for i in ids if i in remaps]
                for binding_id in moved:
                    others = " and ".join(i for i in ids if i != binding_id)
                    problems.append(
                        KeymapProblem(
                            binding_id,
                            f"{key_display(key)} is also {others}'s key; "
                            f"{binding_id} stays on {key_display(defaults[binding_id])}",
                        )
                    )
                    del remaps[binding_id]
                    dropped = True
            elif key in RESERVED and ids[0] in remaps:
                binding_id = ids[0]
                problems.append(
                    KeymapProblem(
                        binding_id,
                        f"{key} is used for {RESERVED[key]}; "
                        f"{binding_id} stays on {key_display(defaults[binding_id])}",
                    )
                )
                del remaps[binding_id]
                dropped = True
        if not dropped:
            break
    return KeymapCheck({i: ",".join(keys) for i, keys in remaps.items()}, tuple(problems))
