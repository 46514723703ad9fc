"""Issues into PM Buddy's PostgreSQL: idempotent upserts keyed on the JIRA key, in batches.

The table and column names come from `[jira] target_table` and `[jira] target_columns`.
The default schema, for the README:

    CREATE TABLE issues (
        key          text PRIMARY KEY,          -- the JIRA key, e.g. PMB-12
        summary      text NOT NULL,
        description  text NOT NULL DEFAULT '',  -- Markdown converted from ADF
        type         text NOT NULL,             -- PM Buddy type, e.g. STORY
        status       text NOT NULL,             -- PM Buddy column title
        assignees    text[] NOT NULL DEFAULT '{}',  -- PM Buddy user emails
        story_points numeric
    );

The key column needs a PRIMARY KEY or UNIQUE constraint: a rerun then updates each
issue instead of adding it twice. Rows that would not change are not rewritten.
PostgreSQL's text type rejects NUL characters, so they are stripped from every value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pmb_console.config import Config, JiraColumnsConfig
from pmb_console.errors import ProviderError, UsageError
from pmb_console.providers.postgres import connect, describe, dsn_from_env
from pmb_console.redact import redact

DEFAULT_SCHEMA_SQL = """\
CREATE TABLE IF NOT EXISTS {table} (
    {key} text PRIMARY KEY,
    {summary} text NOT NULL,
    {description} text NOT NULL DEFAULT '',
    {type} text NOT NULL,
    {status} text NOT NULL,
    {assignees} text[] NOT NULL DEFAULT '{{}}',
    {story_points} numeric
)"""

COLUMN_ORDER = ("key", "summary", "description", "type", "status", "assignees", "story_points")


@dataclass(frozen=True)
class PmbIssue:
    """One issue as PM Buddy stores it."""

    key: str
    summary: str
    description: str
    type: str
    status: str
    assignees: tuple[str, ...] = ()
    story_points: float | None = None

    def row(self) -> tuple[object, ...]:
        return (
            _clean(self.key),
            _clean(self.summary),
            _clean(self.description),
            _clean(self.type),
            _clean(self.status),
            [_clean(a) for a in self.assignees],
            self.story_points,
        )


def _clean(text: str) -> str:
    return text.replace("\x00", "")


class IssueWriter:
    """Writes into one target table. Raises ProviderError, its text redacted."""

    def __init__(
        self, dsn: str, table: str, columns: JiraColumnsConfig, connect_timeout: int = 5
    ) -> None:
        self.where = describe(dsn)
        self.table_name = table
        self.table = sql.Identifier(*[part for part in table.split(".") if part])
        self.columns = [getattr(columns, name) for name in COLUMN_ORDER]
        self.conn = connect(dsn, connect_timeout=connect_timeout)
        names = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in self.columns[1:]
        )
        changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(
                sql.SQL("{}.{}").format(self.table, sql.Identifier(c)) for c in self.columns[1:]
            ),
            sql.SQL(", ").join(
                sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in self.columns[1:]
            ),
        )
        self.upsert_sql = sql.SQL(
            "INSERT INTO {table} ({names}) VALUES ({values}) "
            "ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {changed}"
        ).format(
            table=self.table,
            names=names,
            values=sql.SQL(", ").join(sql.Placeholder() * len(self.columns)),
            key=sql.Identifier(self.columns[0]),
            updates=updates,
            changed=changed,
        )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> IssueWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def problems(self) -> list[str]:
        """What keeps the target table from taking the issues; empty when it is ready."""
        schema, _, name = self.table_name.rpartition(".")
        try:
            with self.conn.transaction():
                found = self.conn.execute(
                    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s)"
                    " AND a.attnum > 0 AND NOT a.attisdropped",
                    [self.table_name],
                ).fetchall()
                if not found:
                    return [f"table {self.table_name} does not exist in {self.where}"]
                have = {row[0] for row in found}
                missing = [c for c in self.columns if c not in have]
                problems = [f"column {c} is missing from {self.table_name}" for c in missing]
                unique = self.conn.execute(
                    "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                    " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s)"
                    " AND i.indisunique AND i.indnatts = 1 AND a.attname = %s",
                    [self.table_name, self.columns[0]],
                ).fetchone()
                if not missing and unique is None:
                    problems.append(
                        f"{self.table_name}.{self.columns[0]} has no PRIMARY KEY or UNIQUE "
                        "constraint, so a rerun would duplicate issues"
                    )
                return problems
        except psycopg.Error as exc:
            raise self._error("could not inspect", exc) from None

    def upsert(self, issues: Sequence[PmbIssue]) -> None:
        """Write one batch in one transaction: all of it, or none of it."""
        if not issues:
            return
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.executemany(self.upsert_sql, [issue.row() for issue in issues])
        except psycopg.Error as exc:
            raise self._error("could not write issues into", exc) from None

    def present(self, keys: Sequence[str]) -> int:
        """How many of `keys` the table holds."""
        query = sql.SQL("SELECT count(*) FROM {} WHERE {} = ANY(%s)").format(
            self.table, sql.Identifier(self.columns[0])
        )
        try:
            with self.conn.transaction():
                row = self.conn.execute(query, [list(keys)]).fetchone()
        except psycopg.Error as exc:
            raise self._error("could not read back", exc) from None
        return int(row[0]) if row else 0

    def create_default_table(self) -> None:
        """Create the default schema (for tests and a first try on an empty database)."""
        names = dict(zip(COLUMN_ORDER, map(sql.Identifier, self.columns), strict=True))
        statement = sql.SQL(DEFAULT_SCHEMA_SQL).format(table=self.table, **names)
        try:
            with self.conn.transaction():
                self.conn.execute(statement)
        except psycopg.Error as exc:
            raise self._error("could not create the table in", exc) from None

    def _error(self, doing: str, exc: psycopg.Error) -> ProviderError:
        said = redact(" ".join(str(exc).split()))[:300]
        return ProviderError(
            f"{doing} {self.table_name} in {self.where}: {said}",
            "check [jira] target_table and target_columns against PM Buddy's schema",
        )


def open_writer(config: Config) -> IssueWriter:
    """The writer for `[jira] target_*`. The DSN must be named explicitly: a migration
    never writes into whatever database libpq's defaults happen to reach."""
    jira = config.jira
    dsn = dsn_from_env(jira.target_dsn_env)
    if not dsn:
        raise UsageError(
            f"${jira.target_dsn_env or '(none)'} (PM Buddy's database DSN) is not set",
            f"export {jira.target_dsn_env or 'PMB_DATABASE_URL'}=postgresql://USER@HOST/DB, "
            "or name another variable in [jira] target_dsn_env",
        )
    return IssueWriter(dsn, jira.target_table, jira.target_columns, config.database.connect_timeout)
