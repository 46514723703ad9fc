"""Will blue still work while green's migrations run? squawk's findings, read for blue/green.

The runbook asks that migrations stay backward-compatible, so the old version keeps
working beside the new one and a rollback is a traffic switch. squawk finds the risky
statements; here each finding is sorted into what it means for a blue/green deployment:

- breaks the old version: after it runs, the old code fails (a dropped or renamed column,
  a changed type, a new required column). A traffic rollback alone is no longer enough:
  rolling back needs a database restore.
- locks or rewrites the table: both colors stall while it runs (an index without
  CONCURRENTLY, a constraint validated at once, a volatile default, no timeouts).
- advice: worth fixing, harmless to the running versions.
- unreviewed: statements squawk does not judge (VACUUM FULL, CLUSTER, a plain TRUNCATE),
  could not parse, or flags under a rule this console does not know (a newer squawk's).
  They are never reported as safe.

The safe alternative is the same pattern throughout: expand, then contract. Add the new
thing, backfill, switch the code, and remove the old thing in a later release.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmb_console.providers.migrations import runs_outside_transaction, split_statements
from pmb_console.providers.squawk import SquawkFinding, run_squawk

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services

BREAKS = "breaks-old-version"
LOCKS = "locks-table"
ADVICE = "advice"
UNREVIEWED = "unreviewed"

KIND_TITLES = {
    BREAKS: "breaks the old version",
    LOCKS: "locks or rewrites the table",
    ADVICE: "advice",
    UNREVIEWED: "unreviewed",
}

ROLLBACK_BY_TRAFFIC = "a traffic rollback is enough"
ROLLBACK_NEEDS_RESTORE = "rollback needs a database restore"
ROLLBACK_IF_REVIEWED = (
    "a traffic rollback is enough only if the unreviewed statements leave the old version working"
)


def rollback_words(kinds: Iterable[str]) -> str:
    """What a rollback takes, given the kinds of the findings: never "enough" while a
    statement nobody judged is among them."""
    found = set(kinds)
    if BREAKS in found:
        return ROLLBACK_NEEDS_RESTORE
    if UNREVIEWED in found:
        return ROLLBACK_IF_REVIEWED
    return ROLLBACK_BY_TRAFFIC


_EXPAND_CONTRACT = (
    "expand then contract: add the new column or table, backfill it, switch the code to it, "
    "and drop the old one in a later release, once no running version uses it"
)


@dataclass(frozen=True)
class RuleMeaning:
    kind: str
    why: str
    """Why it matters for blue/green, in one sentence."""
    instead: str
    """The safe alternative."""


def _breaks(why: str, instead: str = _EXPAND_CONTRACT) -> RuleMeaning:
    return RuleMeaning(BREAKS, why, instead)


def _locks(why: str, instead: str) -> RuleMeaning:
    return RuleMeaning(LOCKS, why, instead)


def _gone(what: str) -> RuleMeaning:
    return _breaks(
        f"the old version still uses the {what}: its queries fail as soon as this runs, and "
        f"moving traffic back cannot bring the {what} back",
        f"stop using the {what} in this release and drop it in a later one",
    )


_SET_TIMEOUTS = (
    "SET lock_timeout and statement_timeout at the top of the file (the console also sets "
    "[database] lock_timeout and statement_timeout, but other tools running the file do not)"
)
_LOCK_TIMEOUT = _locks(
    "without lock_timeout, a statement waiting for its lock makes every later query on the "
    "table queue behind it, so both colors stall",
    _SET_TIMEOUTS,
)
_STATEMENT_TIMEOUT = _locks(
    "without statement_timeout, a slow statement holds its locks for as long as it runs, and "
    "both colors wait on them",
    _SET_TIMEOUTS,
)
_NOT_VALID = _locks(
    "checking the existing rows scans the whole table while writes to it are blocked",
    "add the constraint NOT VALID, and VALIDATE CONSTRAINT in a later file (its own transaction)",
)

RULES: dict[str, RuleMeaning] = {
    # --- the old version breaks ---------------------------------------------------------
    "ban-drop-column": _gone("column"),
    "ban-drop-table": _gone("table"),
    "renaming-column": _breaks("the old version still reads and writes the column by its old name"),
    "renaming-table": _breaks(
        "the old version still queries the table by its old name",
        "expand then contract: create the new table (or a view under the new name), switch the "
        "code, and drop the old name in a later release",
    ),
    "renaming-object": _breaks("the old version still uses the object by its old name"),
    "ban-set-schema": _breaks("the old version still finds the object in its old schema"),
    "changing-column-type": _breaks(
        "the old version reads and writes the old type, and the table is rewritten under an "
        "ACCESS EXCLUSIVE lock while it changes",
        "add a column of the new type, backfill it in batches, switch reads and writes to it, "
        "and drop the old column in a later release",
    ),
    "ban-drop-not-null": _breaks(
        "the old version assumes every row has a value here; rows written without one break its "
        "reads",
        "keep NOT NULL until no running version depends on it; drop it in a later release",
    ),
    "adding-required-field": _breaks(
        "the old version inserts rows without this column, and every such insert fails",
        "add the column nullable or with a constant DEFAULT, backfill, and require it in a later "
        "release (CHECK ... NOT VALID, then VALIDATE)",
    ),
    "ban-drop-database": _breaks("every version loses its data", "never in a migration"),
    "ban-truncate-cascade": _breaks(
        "it empties every table that references this one too, under both versions, and no "
        "traffic rollback brings the rows back",
        "delete exactly the rows meant, in batches, in a release after the code stops using them",
    ),
    "ban-drop-view": _gone("view"),
    "ban-drop-function": _gone("function"),
    "ban-drop-type": _gone("type"),
    "ban-drop-schema": _gone("schema"),
    "ban-drop-sequence": _gone("sequence"),
    "ban-drop-domain": _gone("domain"),
    # --- both colors stall ---------------------------------------------------------------
    "require-concurrent-index-creation": _locks(
        "a plain CREATE INDEX blocks every write to the table until the index is built",
        "CREATE INDEX CONCURRENTLY in a file of its own (the console runs such a file outside "
        "a transaction)",
    ),
    "require-concurrent-index-deletion": _locks(
        "a plain DROP INDEX takes an ACCESS EXCLUSIVE lock: reads and writes wait",
        "DROP INDEX CONCURRENTLY in a file of its own",
    ),
    "require-concurrent-reindex": _locks(
        "a plain REINDEX blocks writes to the table while it rebuilds",
        "REINDEX ... CONCURRENTLY in a file of its own",
    ),
    "require-concurrent-partition-detach": _locks(
        "detaching a partition without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the parent",
        "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY in a file of its own",
    ),
    "ban-concurrent-index-creation-in-transaction": _locks(
        "CONCURRENTLY cannot run inside a transaction: the migration fails part way",
        "put the CONCURRENTLY statement in a file of its own",
    ),
    "constraint-missing-not-valid": _NOT_VALID,
    "adding-foreign-key-constraint": _locks(
        "checking the existing rows scans the table while writes to both tables are blocked",
        "add the foreign key NOT VALID, and VALIDATE CONSTRAINT in a later file",
    ),
    "adding-field-with-default": _locks(
        "a volatile default (or a generated column) rewrites the whole table under an ACCESS "
        "EXCLUSIVE lock",
        "add the column without that default, backfill it in batches, then set the default",
    ),
    "adding-not-nullable-field": _locks(
        "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock (and the old version "
        "may still write NULLs there)",
        "add CHECK (column IS NOT NULL) NOT VALID, validate it in a later file, then SET NOT NULL "
        "(PostgreSQL then skips the scan)",
    ),
    "adding-serial-primary-key-field": _locks(
        "the primary key's index is built under an ACCESS EXCLUSIVE lock: reads and writes wait",
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX",
    ),
    "adding-primary-key-constraint": _locks(
        "the primary key's index is built under an ACCESS EXCLUSIVE lock: reads and writes wait",
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX",
    ),
    "disallowed-unique-constraint": _locks(
        "the unique index is built while writes to the table are blocked",
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX",
    ),
    "ban-create-domain-with-constraint": _locks(
        "every column using the domain is checked while the tables are locked",
        "put the check on the columns as NOT VALID constraints and validate them later",
    ),
    "ban-alter-domain-with-add-constraint": _locks(
        "every column using the domain is checked while the tables are locked",
        "put the check on the columns as NOT VALID constraints and validate them later",
    ),
    "require-timeout-settings": _LOCK_TIMEOUT,
    "require-lock-timeout": _LOCK_TIMEOUT,
    "require-statement-timeout": _STATEMENT_TIMEOUT,
    # --- advice: harmless to the running versions ------------------------------------------
    "ban-char-field": RuleMeaning(
        ADVICE,
        "harmless to the running versions: char(n) pads with spaces, a schema wart only",
        "text, or varchar(n) where a length limit is meant",
    ),
    "prefer-robust-stmts": RuleMeaning(
        ADVICE,
        "harmless to the running versions, but a file that stops part way cannot simply be run "
        "again",
        "IF EXISTS / IF NOT EXISTS on each statement, so a rerun after a failure succeeds",
    ),
}

_ADVICE_WHY = "does not affect the running versions; it makes the schema or the file sturdier"
_UNCLASSIFIED_WHY = (
    "a squawk rule this console does not classify: read squawk's message and judge whether "
    "the old version keeps working and whether the table is locked"
)


@dataclass(frozen=True)
class Finding:
    file: str
    """The migration file's name."""
    line: int
    """1-based."""
    rule: str
    kind: str
    """breaks-old-version | locks-table | advice | unreviewed."""
    message: str
    why: str
    instead: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def kind_title(self) -> str:
        return KIND_TITLES[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "where": self.where, "kind_title": self.kind_title}


@dataclass(frozen=True)
class LintReport:
    files: tuple[str, ...]
    findings: tuple[Finding, ...]

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def breaking(self) -> list[Finding]:
        return self.of_kind(BREAKS)

    @property
    def rollback(self) -> str:
        """What a rollback of this release takes, as far as the migrations decide it."""
        return rollback_words(f.kind for f in self.findings)

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of_kind(kind)) for kind in KIND_TITLES}

    def summary(self) -> str:
        if not self.files:
            return "no migration files to lint"
        counted = self.counts()
        parts = [f"{n} {KIND_TITLES[k]}" for k, n in counted.items() if n]
        said = ", ".join(parts) if parts else "no findings"
        return f"{len(self.files)} file(s) linted: {said}; {self.rollback}"

    def as_dict(self, release: str = "") -> dict[str, Any]:
        """The record kept in the audit, which the rollback assessment reads back."""
        return {
            "release": release,
            "files": list(self.files),
            "counts": self.counts(),
            "rollback": self.rollback,
            "findings": [f.as_dict() for f in self.findings],
        }


def classify(finding: SquawkFinding) -> Finding:
    """What one squawk finding means for a blue/green deployment."""
    name = finding.file.name
    if finding.rule == "syntax-error":
        return Finding(
            name,
            finding.line,
            finding.rule,
            UNREVIEWED,
            finding.message,
            "squawk could not parse this statement, so nothing from here to the end of the "
            "file was judged",
            "fix the syntax (PostgreSQL will refuse it too), or review the rest by hand",
        )
    meaning = RULES.get(finding.rule)
    if meaning is None:
        # squawk's "prefer-*" rules are style; any other rule it adds is shown for review,
        # never taken for harmless.
        advice = finding.rule.startswith("prefer-")
        return Finding(
            name,
            finding.line,
            finding.rule,
            ADVICE if advice else UNREVIEWED,
            finding.message,
            _ADVICE_WHY if advice else _UNCLASSIFIED_WHY,
            finding.help or finding.message,
        )
    return Finding(
        name,
        finding.line,
        finding.rule,
        meaning.kind,
        finding.message,
        meaning.why,
        meaning.instead,
    )


# Statements squawk does not judge at all, found by us so they are never taken for safe.
_UNJUDGED: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (
        re.compile(r"^VACUUM\b(?=.*\bFULL\b)", re.I | re.S),
        "VACUUM FULL",
        "it rewrites the whole table under an ACCESS EXCLUSIVE lock: both colors wait for it",
        "plain VACUUM, or pg_repack outside the deployment",
    ),
    (
        re.compile(r"^CLUSTER\b", re.I),
        "CLUSTER",
        "it rewrites the whole table under an ACCESS EXCLUSIVE lock: both colors wait for it",
        "leave it out of the deployment; pg_repack can reorder a table without the long lock",
    ),
    (
        re.compile(r"^TRUNCATE\b(?!.*\bCASCADE\b)", re.I | re.S),
        "TRUNCATE",
        "it empties the table for the old version too, and moving traffic back cannot bring "
        "the rows back",
        "review by hand; if the old version still needs the rows, delete them in a later release",
    ),
)


def unjudged_statements(name: str, sql: str) -> list[Finding]:
    """VACUUM FULL, CLUSTER and plain TRUNCATE statements, with the line each starts on."""
    found = []
    for statement in split_statements(sql):
        text = statement.text.lstrip()
        for pattern, what, why, instead in _UNJUDGED:
            if pattern.match(text):
                found.append(
                    Finding(
                        name,
                        statement.line,
                        what,
                        UNREVIEWED,
                        f"squawk does not judge {what}; review it by hand",
                        why,
                        instead,
                    )
                )
    return found


def lint_files(files: Sequence[Path], *, pg_version: str = "") -> LintReport:
    """Lint migration files with squawk and classify every finding. Raises ProviderError.

    Each file is linted as the console will run it: inside a transaction, unless it holds a
    statement that cannot run in one (CREATE INDEX CONCURRENTLY, VACUUM).
    """
    texts = {path: _read(path) for path in files}
    outside = [p for p in files if runs_outside_transaction(split_statements(texts[p]))]
    inside = [p for p in files if p not in outside]
    raw = run_squawk(inside, in_transaction=True, pg_version=pg_version)
    raw += run_squawk(outside, in_transaction=False, pg_version=pg_version)
    findings = [classify(f) for f in raw]
    for path in files:
        findings += unjudged_statements(path.name, texts[path])
    order = {path.name: n for n, path in enumerate(files)}
    findings.sort(key=lambda f: (order.get(f.file, len(order)), f.line, f.rule))
    return LintReport(tuple(p.name for p in files), tuple(findings))


def lint_of(record: dict[str, Any]) -> Any:
    """The lint a migrate audit record carries (in the record, or in its plan's data)."""
    return record.get("lint") or ((record.get("plan") or {}).get("data") or {}).get("lint")


def last_lint(records: Iterable[dict[str, Any]], release: str) -> dict[str, Any] | None:
    """The newest lint of at least one file recorded in the audit for `release` (from
    migrate or --lint-only); a lint of nothing pending says nothing and is passed over.
    """
    newest = None
    for record in records:
        lint = lint_of(record)
        if isinstance(lint, dict) and lint.get("release", "") == release and lint.get("files"):
            newest = lint
    return newest


_RAN_FILES = ("started", "succeeded")
"""The outcomes of a migrate run that reached its files (a run that failed part way
recorded "started" first, so the files it may have applied are counted)."""


def applied_lint(
    records: Iterable[dict[str, Any]], release: str, environment: str = ""
) -> dict[str, Any] | None:
    """The lint of every file the migrate runs of `release` ran, merged; None when no
    migrate of this release ran a file.

    This is what the rollback assessment asks: does rolling this release back need a
    database restore. Only runs that applied files answer it: a --lint-only (or a refused
    migrate) changed nothing, and a lint of nothing pending says nothing, so neither may
    make a breaking change that did run look safe.
    """
    files: list[str] = []
    findings: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record.get("action") != "migrate" or record.get("outcome") not in _RAN_FILES:
            continue
        if environment and record.get("environment", environment) != environment:
            continue
        lint = lint_of(record)
        if not isinstance(lint, dict) or lint.get("release", "") != release:
            continue
        ran = [str(f) for f in lint.get("files", [])]
        if not ran:
            continue
        files += [f for f in ran if f not in files]
        for finding in lint.get("findings", []):
            findings.setdefault((finding.get("where", ""), finding.get("rule", "")), finding)
    if not files:
        return None
    kept = list(findings.values())
    return {
        "release": release,
        "files": files,
        "counts": {kind: sum(f.get("kind") == kind for f in kept) for kind in KIND_TITLES},
        "rollback": rollback_words(str(f.get("kind")) for f in kept),
        "findings": kept,
    }


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def lint_pending(ctx: Services) -> tuple[LintReport, dict[str, Any]]:
    """`migrate --lint-only`: lint what migrate would run, and record it with the release.

    When the database cannot be read (a CI machine, say), every file is linted instead,
    and the document says so.
    """
    from pmb_console.errors import ProviderError
    from pmb_console.providers.migrations import Migrator

    migrator = Migrator(ctx.config)
    note = ""
    try:
        files = migrator.pending()
    except ProviderError as exc:
        if not migrator.directory.is_dir():
            raise
        files = migrator.files()
        note = f"the database could not be read ({exc.message}), so every file was linted"
    report = lint_files([f.path for f in files])
    doc = {**report.as_dict(ctx.config.release.version), "note": note}
    ctx.runner.record_event(
        "migration-lint",
        outcome="breaks-old-version" if report.breaking else "ok",
        message=report.summary(),
        release=ctx.config.release.version,
        environment=ctx.config.console.environment,
        lint=doc,
    )
    return report, doc
