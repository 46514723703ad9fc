"""The migration run: read JIRA page by page, convert, map, write, remember the page.

Three ways to run it:
- `survey()` reads only types, statuses and assignees (cheap), for the mapping and for
  the guard that refuses to start while anything is unmapped;
- `dry_run()` reads and converts everything and writes nothing: counts per type and
  status, unmapped values, and every lossy conversion with its issue key and node path;
- `run(resume)` does it, saving the position after each page is written, so an
  interrupted run resumed ends exactly where an uninterrupted one would (the upserts
  are idempotent, so a page written twice is harmless).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmb_console.config import JiraConfig
from pmb_console.errors import Refused
from pmb_console.jira.adf import to_markdown
from pmb_console.jira.client import JiraClient
from pmb_console.jira.mapping import Inventory, JiraUser, Mapping
from pmb_console.jira.writer import IssueWriter, PmbIssue

SURVEY_FIELDS = ("issuetype", "status", "assignee")
_SINGULAR = {"types": "type", "statuses": "status", "assignees": "assignee"}


def issue_fields(cfg: JiraConfig) -> list[str]:
    """The fields asked for explicitly: the search endpoint returns only ids otherwise."""
    return ["summary", "description", *SURVEY_FIELDS, cfg.story_points_field]


@dataclass(frozen=True)
class Progress:
    read: int
    written: int
    waiting_s: float = 0.0
    """Seconds JIRA asked us to wait right now (0 when not waiting)."""
    why: str = ""

    def describe(self) -> str:
        text = f"read {self.read} · written {self.written}"
        return f"{text} · waiting {self.waiting_s:.0f} s ({self.why})" if self.waiting_s else text


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class LossyConversion:
    key: str
    path: str
    node: str
    detail: str


@dataclass
class Report:
    """What a dry run (or a run) found and did."""

    dry_run: bool
    issues: int = 0
    written: int = 0
    pages: int = 0
    resumed_at_page: int = 0
    types: Counter[str] = field(default_factory=Counter)
    """Counted by JIRA type → PM Buddy type, e.g. "Story → STORY"."""
    statuses: Counter[str] = field(default_factory=Counter)
    unmapped: dict[str, Counter[str]] = field(
        default_factory=lambda: {"types": Counter(), "statuses": Counter(), "assignees": Counter()}
    )
    defaults: list[str] = field(default_factory=list)
    lossy: list[LossyConversion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    """Keys written by this run (for the read-back)."""
    story_points_seen: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "issues": self.issues,
            "written": self.written,
            "pages": self.pages,
            "resumed_at_page": self.resumed_at_page,
            "types": dict(self.types.most_common()),
            "statuses": dict(self.statuses.most_common()),
            "unmapped": {k: dict(v.most_common()) for k, v in self.unmapped.items()},
            "defaults": self.defaults,
            "lossy": [vars(loss) for loss in self.lossy],
            "notes": self.notes,
        }

    @property
    def has_unmapped(self) -> bool:
        return any(self.unmapped.values())

    def text(self) -> str:
        head = "JIRA migration dry run" if self.dry_run else "JIRA migration"
        lines = [f"{head}: {self.issues} issues in {self.pages} pages"]
        if not self.dry_run:
            lines[0] += f", {self.written} written"
        if self.resumed_at_page:
            lines.append(f"resumed after page {self.resumed_at_page}")
        for title, counts in (("types", self.types), ("statuses", self.statuses)):
            lines.append(f"{title}:")
            lines += [f"  {n:>6}  {name}" for name, n in counts.most_common()]
        if self.has_unmapped:
            lines.append("unmapped (the run refuses to start; map them with --map):")
            for kind, counts in self.unmapped.items():
                lines += [f"  {_SINGULAR[kind]} {name!r}: {n} issues" for name, n in counts.items()]
        lines += [f"default used: {d}" for d in self.defaults]
        if self.lossy:
            lines.append(
                f"lossy conversions ({len(self.lossy)}; the text is kept, formatting is not):"
            )
            lines += [f"  {x.key} {x.path}: {x.detail}" for x in self.lossy]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


class Position:
    """Where the run stopped, under state_dir, for --resume."""

    def __init__(self, state_dir: Path, cfg: JiraConfig) -> None:
        self.path = Path(state_dir) / "jira-migrate.json"
        # a saved position only means something for the same site, JQL and table
        ident = "\n".join((cfg.url.rstrip("/"), cfg.jql, cfg.target_table, str(cfg.page_size)))
        self.source = hashlib.sha256(ident.encode()).hexdigest()[:16]

    def load(self) -> dict[str, Any] | None:
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return saved if isinstance(saved, dict) and saved.get("source") == self.source else None

    def save(self, **state: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"source": self.source, **state}))
        os.replace(tmp, self.path)


class Migration:
    def __init__(
        self,
        cfg: JiraConfig,
        client: JiraClient,
        mapping: Mapping,
        position: Position,
        progress: ProgressCallback = lambda p: None,
    ) -> None:
        self.cfg = cfg
        self.client = client
        self.mapping = mapping
        self.position = position
        self.progress = progress
        self.read = 0
        self.written = 0
        client.on_wait = self._waiting

    def _waiting(self, seconds: float, why: str) -> None:
        self.progress(Progress(self.read, self.written, seconds, why))

    def survey(self) -> Inventory:
        """Types, statuses and assignees of every issue the JQL finds."""
        inventory = Inventory()
        for page in self.client.pages(SURVEY_FIELDS):
            for issue in page.issues:
                inventory.add(issue)
            self.read = inventory.issues
            self.progress(Progress(self.read, 0))
        return inventory

    def dry_run(self, users: dict[str, JiraUser] | None = None) -> Report:
        report = Report(dry_run=True)
        mentions = self.mapping.mentions(users or {})
        for page in self.client.pages(issue_fields(self.cfg)):
            report.pages += 1
            for issue in page.issues:
                self.convert(issue, report, mentions, strict=False)
            self.read = report.issues
            self.progress(Progress(self.read, 0))
        self._closing_notes(report)
        return report

    def run(
        self, writer: IssueWriter, resume: bool, users: dict[str, JiraUser] | None = None
    ) -> Report:
        report = Report(dry_run=False)
        start = ""
        saved = self.position.load() if resume else None
        if resume and saved is None:
            report.notes.append("no saved position for this JQL: started from the first page")
        if saved is not None:
            if saved.get("done"):
                report.notes.append("the last run had finished: nothing to resume")
                return report
            start = str(saved.get("next") or "")
            report.resumed_at_page = int(saved.get("pages", 0))
            report.pages = report.resumed_at_page
        mentions = self.mapping.mentions(users or {})
        for page in self.client.pages(issue_fields(self.cfg), start):
            batch = [self.convert(issue, report, mentions, strict=True) for issue in page.issues]
            writer.upsert(batch)
            report.pages += 1
            report.written += len(batch)
            report.keys += [issue.key for issue in batch]
            self.written = report.written
            self.position.save(
                next=page.next_position, pages=report.pages, done=page.next_position is None
            )
            self.read = report.issues
            self.progress(Progress(self.read, self.written))
        self._closing_notes(report)
        return report

    def convert(
        self, issue: dict[str, Any], report: Report, mentions: dict[str, str], strict: bool
    ) -> PmbIssue:
        """JIRA issue → PM Buddy issue, counting what it finds into `report`.

        `strict` (a real run): a value that is unmapped (one that appeared after the
        check) stops the run, with the position saved, instead of being guessed.
        """
        cfg, mapping = self.cfg, self.mapping
        key = str(issue.get("key") or issue.get("id") or "?")
        fields = issue.get("fields")
        fields = fields if isinstance(fields, dict) else {}
        report.issues += 1

        jira_type = _name(fields.get("issuetype"))
        pmb_type = mapping.type_of(jira_type)
        jira_status = _name(fields.get("status"))
        pmb_status = mapping.status_of(jira_status)
        for kind, jira_value, pmb_value, configured, default in (
            ("types", jira_type, pmb_type, cfg.issue_types, cfg.default_type),
            ("statuses", jira_status, pmb_status, cfg.statuses, cfg.default_status),
        ):
            if pmb_value is None:
                report.unmapped[kind][jira_value] += 1
                if strict:
                    raise Refused(
                        f"{key} has the unmapped {_SINGULAR[kind]} {jira_value!r} (it appeared after the check)",
                        "map it with jira-migrate --map, then run again with --resume",
                    )
            elif jira_value not in configured:
                note = f"{_SINGULAR[kind]} {jira_value!r} → {default} (the default)"
                if note not in report.defaults:
                    report.defaults.append(note)

        assignees: tuple[str, ...] = ()
        user = JiraUser.of(fields.get("assignee"))
        if user is not None:
            email = mapping.email_of(user)
            if email:
                assignees = (email,)
            elif cfg.unknown_assignee == "unassigned":
                note = f"assignee {user.display_name or user.account_id} has no known email: imported unassigned"
                if note not in report.defaults:
                    report.defaults.append(note)
            else:
                report.unmapped["assignees"][user.display_name or user.account_id] += 1
                if strict:
                    raise Refused(
                        f"{key}: assignee {user.display_name or user.account_id} has no known email",
                        "add them to [jira] assignees_csv or [jira.assignees], then run with --resume",
                    )

        conversion = to_markdown(fields.get("description"), mentions)
        report.lossy += [LossyConversion(key, x.path, x.node, x.detail) for x in conversion.losses]
        points = fields.get(cfg.story_points_field)
        if cfg.story_points_field in fields:
            report.story_points_seen += 1
        story_points = _points(points)
        if points is not None and story_points is None:
            report.lossy.append(
                LossyConversion(
                    key,
                    cfg.story_points_field,
                    "storyPoints",
                    f"not a number: {str(points)[:40]!r}",
                )
            )
        report.types[f"{jira_type} → {pmb_type or '?'}"] += 1
        report.statuses[f"{jira_status} → {pmb_status or '?'}"] += 1
        summary = fields.get("summary")
        return PmbIssue(
            key=key,
            summary=summary if isinstance(summary, str) else "",
            description=conversion.markdown,
            type=pmb_type or "",
            status=pmb_status or "",
            assignees=assignees,
            story_points=story_points,
        )

    def _closing_notes(self, report: Report) -> None:
        if report.issues and self.cfg.flavor == "datacenter":
            report.notes.append(
                "Data Center descriptions are wiki markup, not ADF: written as they are, "
                "not converted to Markdown"
            )
        if report.issues and not report.story_points_seen:
            report.notes.append(
                f"no issue carries the story points field {self.cfg.story_points_field}: "
                "check [jira] story_points_field (jira-migrate --discover lists candidates)"
            )


def _name(value: Any) -> str:
    return str(value.get("name") or "") if isinstance(value, dict) else ""


def _points(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None  # NaN is no estimate
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
