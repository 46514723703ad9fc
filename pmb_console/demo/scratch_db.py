"""`pmb-console demo --postgres`: scratch PostgreSQL databases, created and dropped by the demo.

PostgreSQL is found the way libpq finds it (PG* variables, .pgpass). The demo's database
gets a unique name, a small PM Buddy schema with a few thousand rows; a second, empty
one beside it is the restore drill's target. Both are dropped with FORCE when the demo
ends, so the real pg_dump snapshot store and its drill have something to work on and
nothing is left behind.
"""

from __future__ import annotations

import secrets

from psycopg import sql
from psycopg.conninfo import make_conninfo

from pmb_console.errors import ProviderError
from pmb_console.providers.postgres import connect

_SCHEMA = """
CREATE TABLE projects (id serial PRIMARY KEY, key text UNIQUE NOT NULL, name text NOT NULL);
CREATE TABLE issues (
    id serial PRIMARY KEY,
    project_id integer NOT NULL REFERENCES projects (id),
    key text NOT NULL,
    summary text NOT NULL,
    status text NOT NULL
);
INSERT INTO projects (key, name) VALUES
    ('PMB', 'PM Buddy'), ('WEB', 'Website'), ('OPS', 'Operations'), ('MOB', 'Mobile app');
INSERT INTO issues (project_id, key, summary, status)
SELECT n % 4 + 1, 'PMB-' || n, 'Issue ' || n,
       (ARRAY['To Do', 'In Progress', 'In Review', 'Done'])[n % 4 + 1]
FROM generate_series(1, 5000) AS n;
"""


class ScratchDatabase:
    """A database that exists only while the demo runs."""

    def __init__(
        self, connect_timeout: int = 5, *, prefix: str = "pmb_demo_", schema: str = _SCHEMA
    ) -> None:
        self.name = f"{prefix}{secrets.token_hex(4)}"
        self.connect_timeout = connect_timeout
        self.schema = schema
        """SQL run once the database exists; "" leaves it empty."""
        self.created = False

    @property
    def dsn(self) -> str:
        """The scratch database; everything else comes from libpq's PG* variables."""
        return make_conninfo("", dbname=self.name)

    def create(self) -> str:
        """Create and fill the database; returns its DSN. Raises ProviderError with a hint."""
        try:
            with self._admin() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
            self.created = True
            if self.schema:
                with connect(self.dsn, connect_timeout=self.connect_timeout) as conn:
                    conn.execute(self.schema)
        except ProviderError as exc:
            self.drop()
            raise ProviderError(
                f"`demo --postgres` needs PostgreSQL: {exc.message}",
                "set PGHOST, PGPORT, PGUSER (and PGPASSWORD or .pgpass) for a role that may "
                "create databases, or run the demo without --postgres",
            ) from None
        except Exception as exc:  # psycopg's own errors: no privilege, a full disk
            self.drop()
            raise ProviderError(
                f"cannot create the demo's scratch database {self.name}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}",
                "the PostgreSQL role needs CREATEDB; or run the demo without --postgres",
            ) from None
        return self.dsn

    def drop(self) -> None:
        """Drop the database if this demo created it; never raises."""
        if not self.created:
            return
        try:
            with self._admin() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.name)
                    )
                )
            self.created = False
        except Exception:
            pass  # the demo is ending anyway; a leftover pmb_demo_* database is harmless

    def _admin(self):
        """A connection to the server's default database, for CREATE/DROP DATABASE."""
        try:
            return connect("", autocommit=True, connect_timeout=self.connect_timeout)
        except ProviderError:
            # libpq's default database is the user's own, which may not exist.
            return connect("dbname=postgres", autocommit=True, connect_timeout=self.connect_timeout)


class DemoPostgres:
    """The demo's database and the restore drill's target beside it, made and dropped together."""

    def __init__(self, connect_timeout: int = 5) -> None:
        self.database = ScratchDatabase(connect_timeout)
        self.drill_target = ScratchDatabase(connect_timeout, prefix="pmb_demo_drill_", schema="")
        """Empty: a drill's pg_restore fills it, and it is never the demo's database."""

    def create(self) -> None:
        """Create both, or neither. Raises ProviderError with a hint."""
        self.database.create()
        try:
            self.drill_target.create()
        except BaseException:
            self.database.drop()
            raise

    def drop(self) -> None:
        """Drop whichever this demo created; never raises."""
        self.drill_target.drop()
        self.database.drop()
