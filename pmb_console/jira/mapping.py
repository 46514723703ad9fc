"""From JIRA's words to PM Buddy's: issue types, statuses and assignees.

RUNBOOK §5's table: `issuetype.name` → a PM Buddy type through `[jira.issue_types]`,
`status.name` → a PM Buddy column title through `[jira.statuses]`, `assignee` → a PM
Buddy user by email. JIRA hides the email of users who ask it to; for them an
account-id → email CSV (`[jira] assignees_csv`) or `[jira.assignees]` says who they are.

A run refuses to start while anything the JQL finds is unmapped, unless a default is
configured — and a default used is always reported. The choices made on the mapping
screen (or `jira-migrate --map`) are saved into the config file by `save_choices`,
which touches only the `[jira.*]` mapping tables and keeps every other byte.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmb_console.config import JiraConfig, parse_config
from pmb_console.errors import ConfigError, UsageError


@dataclass(frozen=True)
class JiraUser:
    account_id: str
    """accountId on cloud; the user key (or name) on datacenter."""
    display_name: str = ""
    email: str = ""
    """As JIRA shows it; empty when the user hides it."""

    @classmethod
    def of(cls, value: Any) -> JiraUser | None:
        if not isinstance(value, dict):
            return None
        ident = value.get("accountId") or value.get("key") or value.get("name") or ""
        email = value.get("emailAddress") or ""
        return cls(str(ident), str(value.get("displayName") or ""), str(email))


def _name(value: Any) -> str:
    return str(value.get("name") or "") if isinstance(value, dict) else ""


@dataclass
class Inventory:
    """Every issue type, status and assignee found by the JQL, with counts."""

    issues: int = 0
    types: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    assignees: Counter[str] = field(default_factory=Counter)
    """Counted by account id."""
    users: dict[str, JiraUser] = field(default_factory=dict)
    unassigned: int = 0

    def add(self, issue: dict[str, Any]) -> None:
        fields = issue.get("fields")
        fields = fields if isinstance(fields, dict) else {}
        self.issues += 1
        self.types[_name(fields.get("issuetype"))] += 1
        self.statuses[_name(fields.get("status"))] += 1
        user = JiraUser.of(fields.get("assignee"))
        if user is None:
            self.unassigned += 1
        else:
            self.assignees[user.account_id] += 1
            known = self.users.get(user.account_id)
            if known is None or (user.email and not known.email):
                self.users[user.account_id] = user

    def as_dict(self) -> dict[str, Any]:
        return {
            "issues": self.issues,
            "types": dict(self.types.most_common()),
            "statuses": dict(self.statuses.most_common()),
            "assignees": [
                {
                    "account_id": account,
                    "name": self.users[account].display_name,
                    "email": self.users[account].email,
                    "issues": count,
                }
                for account, count in self.assignees.most_common()
            ],
            "unassigned": self.unassigned,
        }


@dataclass(frozen=True)
class Gaps:
    """What the mapping leaves open for an inventory, and the defaults it would use."""

    types: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    assignees: dict[str, int] = field(default_factory=dict)
    """Account id → issues, for assignees with no known email."""
    names: dict[str, str] = field(default_factory=dict)
    """Account id → display name, to say who they are."""
    defaulted_types: dict[str, int] = field(default_factory=dict)
    defaulted_statuses: dict[str, int] = field(default_factory=dict)
    unassigned_instead: dict[str, int] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return bool(self.types or self.statuses or self.assignees)

    def describe(self) -> list[str]:
        lines = []
        for label, values in (("issue type", self.types), ("status", self.statuses)):
            lines += [f"unmapped {label} {name!r} ({n} issues)" for name, n in values.items()]
        lines += [
            f"assignee {self.names.get(a) or a} ({a}, {n} issues) has no known email"
            for a, n in self.assignees.items()
        ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "types": self.types,
            "statuses": self.statuses,
            "assignees": [
                {"account_id": a, "name": self.names.get(a, ""), "issues": n}
                for a, n in self.assignees.items()
            ],
            "defaulted_types": self.defaulted_types,
            "defaulted_statuses": self.defaulted_statuses,
            "unassigned_instead": self.unassigned_instead,
        }


class Mapping:
    """The configured mapping, with the CSV of hidden emails read once."""

    def __init__(self, cfg: JiraConfig, emails: MappingType[str, str]) -> None:
        self.cfg = cfg
        self.emails = {**emails, **cfg.assignees}
        """Account id → PM Buddy user email: the CSV, overridden by [jira.assignees]."""

    @classmethod
    def from_config(cls, cfg: JiraConfig, config_file: str = "") -> Mapping:
        emails: dict[str, str] = {}
        if cfg.assignees_csv:
            path = Path(os.path.expanduser(cfg.assignees_csv))
            if not path.is_absolute() and config_file and not config_file.startswith("<"):
                path = (
                    Path(config_file).parent / path
                )  # relative to the config, like a person expects
            emails = read_assignees_csv(path)
        return cls(cfg, emails)

    def type_of(self, name: str) -> str | None:
        return self.cfg.issue_types.get(name) or self.cfg.default_type or None

    def status_of(self, name: str) -> str | None:
        return self.cfg.statuses.get(name) or self.cfg.default_status or None

    def email_of(self, user: JiraUser) -> str | None:
        return self.emails.get(user.account_id) or user.email or None

    def mentions(self, users: MappingType[str, JiraUser] = {}) -> dict[str, str]:
        """Account id → PM Buddy user, for mentions inside descriptions."""
        seen = {a: u.email for a, u in users.items() if u.email}
        return {**seen, **self.emails}

    def gaps(self, inventory: Inventory) -> Gaps:
        cfg = self.cfg
        types = {n: c for n, c in inventory.types.items() if n not in cfg.issue_types}
        statuses = {n: c for n, c in inventory.statuses.items() if n not in cfg.statuses}
        nobody = {
            a: c for a, c in inventory.assignees.items() if not self.email_of(inventory.users[a])
        }
        names = {a: inventory.users[a].display_name for a in nobody}
        leave_unassigned = cfg.unknown_assignee == "unassigned"
        return Gaps(
            types={} if cfg.default_type else types,
            statuses={} if cfg.default_status else statuses,
            assignees={} if leave_unassigned else nobody,
            names=names,
            defaulted_types=types if cfg.default_type else {},
            defaulted_statuses=statuses if cfg.default_status else {},
            unassigned_instead=nobody if leave_unassigned else {},
        )


def read_assignees_csv(path: Path) -> dict[str, str]:
    """account_id,email per line (a header line is allowed). Raises UsageError naming the
    line of every bad row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(
            f"cannot read the assignees CSV {path}: {exc.strerror or exc}",
            "fix [jira] assignees_csv (a CSV of account_id,email)",
        ) from None
    emails: dict[str, str] = {}
    problems = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and "@" not in "".join(cells):
            continue  # a header
        if len(cells) < 2 or not cells[0] or "@" not in cells[1]:
            problems.append(
                f"line {number}: expected account_id,email, found {','.join(row)[:60]!r}"
            )
            continue
        emails[cells[0]] = cells[1]
    if problems:
        raise UsageError(
            f"the assignees CSV {path} has {len(problems)} bad rows: " + "; ".join(problems[:5]),
            "each row is account_id,email",
        )
    return emails


# --- saving choices into the config ----------------------------------------------------

MAPPING_TABLES = ("issue_types", "statuses", "assignees")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')\s*[=.]")


def save_choices(config_path: Path | str, choices: MappingType[str, MappingType[str, str]]) -> None:
    """Write `{"statuses": {"To Do": "Backlog"}, ...}` into the config file.

    Each named table (`[jira.issue_types]`, `[jira.statuses]`, `[jira.assignees]`) is
    replaced where it stands, or appended at the end when the file has none; the rest of
    the file is kept byte for byte. Comments inside a replaced table are not kept. The
    result is validated before it replaces the file, atomically.
    """
    path = Path(config_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", "check the path") from None
    for table, values in choices.items():
        if table not in MAPPING_TABLES:
            raise ValueError(f"not a mapping table: {table}")
        text = _replace_table(text, f"jira.{table}", dict(values), str(path))
    try:
        parse_config(text, str(path))
    except ConfigError as exc:  # never write a config the console could not read back
        raise UsageError(
            f"saving the mapping would make {path} invalid: {exc.message}", exc.hint
        ) from None
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(
            f"cannot save the mapping into {path}: {exc.strerror or exc}",
            "check that the config file and its directory are writable",
        ) from None


def _replace_table(text: str, table: str, values: dict[str, str], filename: str) -> str:
    lines = text.splitlines(keepends=True)
    body = "".join(f"{_toml_string(k)} = {_toml_string(v)}\n" for k, v in sorted(values.items()))
    start = next((i for i, line in enumerate(lines) if _table_name(line) == table), None)
    if start is None:
        _refuse_inline(lines, table, filename)
        if not values:
            return text
        prefix = text if not text or text.endswith("\n") else text + "\n"
        gap = "\n" if prefix.strip() and not prefix.endswith("\n\n") else ""
        return f"{prefix}{gap}[{table}]\n{body}"
    end = start + 1
    last_key = start
    while end < len(lines) and _table_name(lines[end]) is None:
        if _KEY_LINE.match(lines[end]):
            last_key = end
        end += 1
    # comments and blank lines after the table's last key belong to what follows
    return "".join(lines[:start] + [f"[{table}]\n", body] + lines[last_key + 1 :])


def _table_name(line: str) -> str | None:
    match = _HEADER.match(line)
    if not match:
        return None
    return ".".join(part.strip().strip("\"'") for part in match.group(1).split("."))


def _refuse_inline(lines: list[str], table: str, filename: str) -> None:
    """A mapping written inline under [jira] (statuses = {...}) cannot be replaced safely."""
    parent, _, key = table.rpartition(".")
    current = None
    for number, line in enumerate(lines, start=1):
        name = _table_name(line)
        if name is not None:
            current = name
            continue
        match = _KEY_LINE.match(line)
        if current == parent and match and match.group(1).strip("\"'").split(".")[0] == key:
            raise UsageError(
                f"{filename}:{number}: [{parent}] {key} is written inline; the mapping cannot be saved",
                f"move it into its own [{table}] table, one 'name = \"target\"' per line",
            )


def _toml_string(value: str) -> str:
    escaped = []
    for ch in value:
        if ch == '"':
            escaped.append('\\"')
        elif ch == "\\":
            escaped.append("\\\\")
        elif ch == "\n":
            escaped.append("\\n")
        elif ch == "\t":
            escaped.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04x}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'
