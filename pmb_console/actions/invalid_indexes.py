"""Invalid indexes already in the database before migrate runs, as guards.

A CREATE INDEX CONCURRENTLY that fails (or a console killed while it ran) leaves the
index behind, marked invalid: PostgreSQL keeps it up to date on every write but never
uses it to answer a query. migrate names one only when its own run fails, so the next
run must name what an earlier one left.

Whether one blocks the run depends on the pending files:
- a pending file creates an index of the same name (and does not drop or reindex it
  first): without IF NOT EXISTS the statement fails ("already exists"); with it, the
  statement is skipped, migrate reports success and the index stays invalid, so what it
  was for (a lookup, a UNIQUE rule) silently does not hold. That fails the guard.
- otherwise it is in nobody's way: the run goes ahead, and the guard names it with the
  way to clear it, so it is not forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pmb_console.actions.base import GuardResult
from pmb_console.providers.migrations import split_statements

if TYPE_CHECKING:
    from pmb_console.providers.migrations import InvalidIndex, MigrationFile

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME})?)"
_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_CREATE = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    + _QUALIFIED
    + r"\s+ON\b",
    re.I,
)
_DROP = re.compile(
    r"^DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(.*?)(?:\s+(?:CASCADE|RESTRICT))?\s*$",
    re.I | re.S,
)
_REINDEX = re.compile(
    r"^REINDEX\s+(?:\([^)]*\)\s*)?INDEX\s+(?:CONCURRENTLY\s+)?" + _QUALIFIED, re.I
)

FIX = "DROP INDEX CONCURRENTLY"


def _unquote(part: str) -> str:
    part = part.strip()
    if part.startswith('"') and part.endswith('"'):
        return part[1:-1].replace('""', '"')
    return part.lower()


def _split(name: str) -> tuple[str, str]:
    """("schema" or "", "name") of a possibly qualified, possibly quoted name."""
    parts = re.findall(_NAME, name)
    if len(parts) >= 2:
        return _unquote(parts[-2]), _unquote(parts[-1])
    return "", _unquote(parts[0]) if parts else ""


def _same(name: str, index: InvalidIndex) -> bool:
    schema, bare = _split(name)
    return bare == index.name and schema in ("", index.schema)


def _in_the_way(index: InvalidIndex, files: Sequence[MigrationFile]) -> str:
    """ "file:line" of a pending CREATE INDEX of this name not preceded by a DROP or
    REINDEX of it; "" when no pending file trips over it."""
    for file in files:
        try:
            sql = file.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # the lint and the run name an unreadable file themselves
        for statement in split_statements(sql):
            text = _LEADING_COMMENTS.sub("", statement.text)
            dropped = _DROP.match(text)
            if dropped and any(_same(n, index) for n in dropped.group(1).split(",")):
                return ""
            reindexed = _REINDEX.match(text)
            if reindexed and _same(reindexed.group(1), index):
                return ""
            created = _CREATE.match(text)
            if created and _same(created.group(1), index):
                return f"{file.name}:{statement.line}"
    return ""


def invalid_index_guards(
    invalid: Sequence[InvalidIndex], pending: Sequence[MigrationFile]
) -> list[GuardResult]:
    """One failing guard for the invalid indexes a pending file would trip over, one
    passing guard naming the others (or saying there are none)."""
    if not invalid:
        return [GuardResult("no invalid index left behind", True, "no index is marked invalid")]
    blocking = [(i, where) for i in invalid if (where := _in_the_way(i, pending))]
    others = [i for i in invalid if all(i is not b for b, _ in blocking)]
    guards = []
    if blocking:
        guards.append(
            GuardResult(
                "no invalid index in the way",
                False,
                "; ".join(
                    f"{where} creates {i.schema}.{i.name}, which an earlier run left invalid "
                    f"on {i.table}: the statement fails, or with IF NOT EXISTS it is skipped "
                    "and the index stays unused"
                    for i, where in blocking
                )
                + f" — drop it first: {FIX} "
                + ", ".join(f"{i.schema}.{i.name}" for i, _ in blocking),
            )
        )
    if others:
        guards.append(
            GuardResult(
                "invalid indexes left behind (not blocking)",
                True,
                f"{', '.join(i.describe() for i in others)}: left by an earlier failed or "
                "interrupted CREATE INDEX CONCURRENTLY; PostgreSQL updates it on every write "
                f"but never uses it — drop it ({FIX} "
                + ", ".join(f"{i.schema}.{i.name}" for i in others)
                + ") or build it again",
            )
        )
    return guards
