"""RUNBOOK §1, the pre-deployment checklist, checked where it can be.

Each item has an automatic check; where it cannot pass, an operator may sign it off with
a reason, recorded with their name in the audit log. Read-only: nothing here changes a
system, so no lock is taken.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmb_console.backup_policy import backup_status
from pmb_console.errors import PmbError, ReadOnlyRefused, UsageError

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services

PASS, FAIL, SIGNED_OFF = "pass", "fail", "signed-off"

ITEMS: dict[str, str] = {
    "reviewed": "Changes reviewed and approved",
    "ci-green": "CI checks passed on the release commit",
    "migrations-tested": "Migrations tested in staging",
    "snapshot-taken": "Production database snapshot taken",
    "release-tagged": "Release tagged in git",
}


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: str
    detail: str
    signed_off_by: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (PASS, SIGNED_OFF)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the checks: each returns (passed, why) --------------------------------------------


def check_tagged(ctx: Services) -> tuple[bool, str]:
    from pmb_console.providers.git import tag_commit

    version = ctx.config.release.version
    if not version:
        return False, "no release version configured ([release] version)"
    sha = tag_commit(ctx.config.release.git_dir, version)
    if sha is None:
        return False, f"tag {version} does not exist in {ctx.config.release.git_dir}"
    return True, f"{version} → {sha[:12]}"


def _release_commit(ctx: Services) -> str:
    from pmb_console.providers.git import tag_commit

    sha = (
        tag_commit(ctx.config.release.git_dir, ctx.config.release.version)
        if ctx.config.release.version
        else None
    )
    if not sha:
        raise PmbError("the release commit is unknown: the release tag is missing")
    return sha


def _github(ctx: Services):
    from pmb_console.providers.github import GithubClient

    gh = ctx.config.release.github
    return GithubClient(gh.api_url, gh.repo, gh.token_env)


def check_reviewed(ctx: Services) -> tuple[bool, str]:
    sha = _release_commit(ctx)
    client = _github(ctx)
    try:
        pulls = client.pulls_for_commit(sha)
        if not pulls:
            return False, f"no pull request contains {sha[:12]}"
        problems, seen = [], []
        for pr in pulls:
            number = pr["number"]
            if not pr.get("merged_at"):
                problems.append(f"#{number} is not merged")
                continue
            approvals = _approvals(client.reviews(number))
            if not approvals:
                problems.append(f"#{number} has no approval")
            else:
                seen.append(f"#{number} approved by {', '.join(sorted(approvals))}")
        return (not problems, "; ".join(problems or seen))
    finally:
        client.close()


def _approvals(reviews: list[dict[str, Any]]) -> set[str]:
    """Reviewers whose latest review is an approval (a later 'changes requested' cancels it)."""
    latest: dict[str, str] = {}
    for review in reviews:
        state = review.get("state", "")
        if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[(review.get("user") or {}).get("login", "?")] = state
    return {who for who, state in latest.items() if state == "APPROVED"}


def check_ci(ctx: Services) -> tuple[bool, str]:
    sha = _release_commit(ctx)
    client = _github(ctx)
    try:
        status = client.combined_status(sha)
        runs = client.check_runs(sha)
    finally:
        client.close()
    problems = []
    statuses = status.get("statuses", [])
    for s in statuses:
        if s.get("state") != "success":
            problems.append(f"{s.get('context', '?')}: {s.get('state')}")
    for run in runs:
        if run.get("status") != "completed":
            problems.append(f"{run.get('name', '?')}: {run.get('status')}")
        elif run.get("conclusion") not in ("success", "skipped", "neutral"):
            problems.append(f"{run.get('name', '?')}: {run.get('conclusion')}")
    if not statuses and not runs:
        return False, f"no CI results for {sha[:12]}"
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(statuses) + len(runs)} checks successful on {sha[:12]}"


def check_snapshot(ctx: Services) -> tuple[bool, str]:
    # The same code as the backup policy view, so the two never disagree.
    return backup_status(ctx.snapshots.list(), ctx.config.backup.max_age_hours)


def migration_checksums(migrations_dir: str) -> dict[str, str]:
    folder = Path(migrations_dir).expanduser()
    if not folder.is_dir():
        return {}
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.sql"))
    }


def _checksums_in(value: Any) -> set[tuple[str, str]]:
    """Every {name, sha256} pair anywhere in a recorded plan."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) and isinstance(value.get("sha256"), str):
            found.add((Path(value["name"]).name, value["sha256"]))
        for v in value.values():
            found |= _checksums_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= _checksums_in(v)
    return found


def check_migrations_tested(ctx: Services) -> tuple[bool, str]:
    files = migration_checksums(ctx.config.database.migrations_dir)
    if not files:
        return True, "no migration files in this release"
    here = ctx.config.console.environment
    tested: set[tuple[str, str]] = set()
    for record in ctx.audit.records():
        if (
            record.get("action") == "migrate"
            and record.get("outcome") in ("succeeded", "nothing-to-do")
            and record.get("environment") not in (None, here)
        ):
            tested |= _checksums_in(record.get("plan"))
    untested = [name for name, sha in files.items() if (name, sha) not in tested]
    if untested:
        return False, (
            f"no successful migrate of {', '.join(untested)} (same checksum) recorded outside "
            f"{here}; sign off after testing in staging"
        )
    return True, f"{len(files)} files migrated elsewhere with the same checksums"


CHECKS: dict[str, Callable[[Services], tuple[bool, str]]] = {
    "reviewed": check_reviewed,
    "ci-green": check_ci,
    "migrations-tested": check_migrations_tested,
    "snapshot-taken": check_snapshot,
    "release-tagged": check_tagged,
}


# --- sign-offs and the whole list ------------------------------------------------------


def sign_off(ctx: Services, item: str, reason: str) -> dict[str, Any]:
    """Record that the operator vouches for an item; audited with their name."""
    if ctx.config.console.read_only:
        raise ReadOnlyRefused(
            "sign-off refused: this console is read-only",
            "sign off from a console opened without --read-only (and without [console] read_only)",
        )
    if item not in ITEMS:
        raise UsageError(f"unknown checklist item {item!r}", f"one of: {', '.join(ITEMS)}")
    if not reason.strip():
        raise UsageError("a sign-off needs a reason", "say what you checked by hand")
    return ctx.runner.record_event(
        "checklist-signoff",
        outcome="signed-off",
        item=item,
        reason=reason,
        release=ctx.config.release.version,
        environment=ctx.config.console.environment,
    )


SIGNOFFS_READ = 1000
"""How many of the latest sign-offs are read (not the whole audit log, on every poll)."""


def signoffs(ctx: Services) -> dict[str, dict[str, Any]]:
    """The latest sign-off per item for this release and environment."""
    found = {}
    for record in ctx.audit.recent(SIGNOFFS_READ, action="checklist-signoff"):
        if (
            record.get("release", "") == ctx.config.release.version
            and record.get("environment", ctx.config.console.environment)
            == ctx.config.console.environment
        ):
            found[str(record.get("item"))] = record
    return found


def run_checklist(ctx: Services) -> list[CheckResult]:
    signed = signoffs(ctx)
    results = []
    for item, title in ITEMS.items():
        try:
            passed, detail = CHECKS[item](ctx)
        except PmbError as exc:
            passed, detail = False, f"could not check: {exc.message}"
        if passed:
            results.append(CheckResult(item, title, PASS, detail))
        elif item in signed:
            s = signed[item]
            results.append(
                CheckResult(
                    item,
                    title,
                    SIGNED_OFF,
                    f"{detail} — signed off: {s.get('reason', '')}",
                    s.get("operator", "?"),
                )
            )
        else:
            results.append(CheckResult(item, title, FAIL, detail))
    return results
