"""The console's keys as Textual bindings, from the one table in `pmb_console.keymap`,
so bindings, the help screen and the palette agree.

Every binding has an id, so `[keymap]` in the config can move it (`rollback = "ctrl+r"`).
"""

from __future__ import annotations

from textual.binding import Binding

from pmb_console.keymap import KEYS, MUTATING_ACTIONS, READ_ONLY_REFUSED, Key, key_display


def bindings() -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    return [Binding(k.key, k.action, k.label, show=k.show, id=k.id) for k in KEYS]


__all__ = ["KEYS", "MUTATING_ACTIONS", "READ_ONLY_REFUSED", "Key", "bindings", "key_display"]
