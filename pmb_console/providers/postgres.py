"""Connections to PostgreSQL, shared by every part of the console that talks to it.

The DSN lives in an environment variable the config names; when that variable is empty,
libpq's own conventions (PG* variables, ~/.pgpass) decide. Every error leaving this
module is a ProviderError whose text has been through `redact`: libpq quotes a malformed
DSN back verbatim, password and all.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pmb_console.errors import ProviderError
from pmb_console.providers.base import ProgressFn, no_progress
from pmb_console.redact import redact

# libpq words an authentication refusal in several ways, and gives no SQLSTATE for a
# failed connection; these fragments are how we tell it from "server down".
_AUTH_FAILURES = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
    "does not exist",  # role "x" does not exist / database "x" does not exist
)

AUTH_HINT = (
    "check the user, database and password: the variable named by [database] dsn_env, "
    "or PGUSER / PGDATABASE / PGPASSWORD, or ~/.pgpass"
)


def dsn_from_env(env_name: str) -> str:
    """The DSN held by `env_name`; "" when unset or empty, so libpq's defaults apply."""
    return os.environ.get(env_name, "").strip() if env_name else ""


def parse_dsn(dsn: str) -> dict[str, Any]:
    """The DSN's parameters (URL or key=value form). Raises ProviderError, redacted."""
    try:
        return conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ProviderError(
            f"the database DSN is malformed: {redact(_first_line(str(exc)))}",
            "fix the DSN in the variable named by [database] dsn_env",
        ) from None


def describe(dsn: str) -> str:
    """host:port/dbname for people to read; never the password."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<malformed DSN>"
    host = params.get("host") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    dbname = (
        params.get("dbname")
        or os.environ.get("PGDATABASE")
        or params.get("user")
        or os.environ.get("PGUSER")
        or ""
    )
    return redact(f"{host}:{port}/{dbname}")


def connect(dsn: str, *, autocommit: bool = False, connect_timeout: int = 5) -> psycopg.Connection:
    """Open a connection or raise ProviderError saying why, without the password."""
    where = describe(dsn)
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.OperationalError as exc:
        said = redact(_libpq_reason(str(exc)))
        if any(fragment in said for fragment in _AUTH_FAILURES):
            raise ProviderError(f"database {where} refused the login: {said}", AUTH_HINT) from None
        raise ProviderError(
            f"database {where} is unreachable: {said}",
            "check that PostgreSQL is running and that host and port in the DSN are right",
        ) from None
    except psycopg.ProgrammingError as exc:
        raise ProviderError(
            f"the database DSN is malformed: {redact(_first_line(str(exc)))}",
            "fix the DSN in the variable named by [database] dsn_env",
        ) from None


def child_env_and_dbname(dsn: str) -> tuple[dict[str, str], str]:
    """Environment and --dbname for pg_dump / pg_restore.

    The password goes into the child's environment (PGPASSWORD), never onto its command
    line, where any user on the machine could read it in the process list.
    """
    params = parse_dsn(dsn)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return env, make_conninfo(**params)


def table_row_counts(
    conn: psycopg.Connection, progress: ProgressFn = no_progress
) -> dict[str, int]:
    """Exact row counts of every user table, keyed "schema.table".

    Exact means a full scan of each table, which takes a while on a big database, so each
    table is reported as it is counted.
    """
    tables = conn.execute(
        """
        SELECT n.nspname, c.relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg_toast%'
           AND n.nspname NOT LIKE 'pg_temp%'
         ORDER BY 1, 2
        """
    ).fetchall()
    counts = {}
    for number, (schema, table) in enumerate(tables, start=1):
        progress(f"counting rows: {schema}.{table} ({number} of {len(tables)})", None)
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def _libpq_reason(text: str) -> str:
    """libpq's message without psycopg's "connection failed:" preamble, on one line."""
    for prefix in ("connection failed: ", "connection is bad: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
