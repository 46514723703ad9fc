"""One demo session: start the stack, open the console on it, always take it all down.

The console sees the demo only through its config (a `demo` traffic provider, a `demo`
or `pg_dump` snapshot store, `file` log sources, instance URLs) and the `DemoControls`
it is handed: the same code paths as production.

SIGTERM and SIGHUP (an SSH session dropping) end the session the way Ctrl+C would, so
the `finally` below runs; atexit is the last net for anything else.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pmb_console.config import Config
from pmb_console.demo.controls import GameDay
from pmb_console.demo.scenario import SCENARIOS
from pmb_console.demo.scratch_db import DemoPostgres
from pmb_console.demo.stack import DemoStack
from pmb_console.errors import ExitCode, UsageError

DSN_ENV = "PMB_DEMO_DATABASE_URL"
"""Where `--postgres` puts the scratch database's DSN for the pg_dump store to find."""
DRILL_DSN_ENV = "PMB_DEMO_DRILL_URL"
"""Where `--postgres` puts the drill target's DSN ([database.drill] target_dsn_env)."""
DRILL_SMOKE_QUERY = "SELECT count(*) FROM issues JOIN projects ON projects.id = issues.project_id"
"""A restored demo database answers with its issues that still find their project."""


class DemoStopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: leave the console as Ctrl+C would, then clean up."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; tests may run us elsewhere
        return

    def stop(signum: int, frame: Any) -> None:
        # Once is enough: a second signal must not interrupt the cleanup it started.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise DemoStopped(signal.Signals(signum).name)

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def demo_config(
    stack: DemoStack,
    args: argparse.Namespace,
    postgres_dsn: str | None = None,
    drill_dsn: str | None = None,
) -> Config:
    """The stack's config with the operator's options (read-only, theme, --postgres).

    With `--postgres`, the pg_dump store on `postgres_dsn` and drills into `drill_dsn`.
    """
    config = stack.config()
    console = config.console.model_copy(
        update={"read_only": bool(getattr(args, "read_only", False))}
        | ({"theme": args.theme} if getattr(args, "theme", None) else {})
    )
    update: dict[str, Any] = {"console": console}
    if postgres_dsn is not None:
        os.environ[DSN_ENV] = postgres_dsn
        database: dict[str, Any] = {"provider": "pg_dump", "dsn_env": DSN_ENV}
        if drill_dsn is not None:
            os.environ[DRILL_DSN_ENV] = drill_dsn
            database["drill"] = config.database.drill.model_copy(
                update={"target_dsn_env": DRILL_DSN_ENV, "smoke_query": DRILL_SMOKE_QUERY}
            )
        update["database"] = config.database.model_copy(update=database)
    return config.model_copy(update=update)


def run_demo(args: argparse.Namespace) -> int:
    scenario_name = getattr(args, "scenario", None)
    if scenario_name and scenario_name not in SCENARIOS:
        raise UsageError(
            f"unknown scenario {scenario_name!r}", f"choose one of: {', '.join(SCENARIOS)}"
        )
    from pmb_console.bootstrap import bootstrap

    stack = DemoStack()
    postgres = DemoPostgres() if getattr(args, "postgres", False) else None
    services = game_day = None
    with stop_on_signals():
        try:
            stack.start()
            if postgres is not None:
                postgres.create()
                config = demo_config(stack, args, postgres.database.dsn, postgres.drill_target.dsn)
            else:
                config = demo_config(stack, args)
            services = bootstrap(config)
            record = services.runner.record_event
            scenario = None
            if scenario_name:
                scenario = SCENARIOS[scenario_name](
                    stack.state_file, stack.faults, services.audit, record=record
                )
            game_day = GameDay(stack, scenario=scenario, record=record).start()

            from pmb_console.tui.app import run_console

            return run_console(services, demo=game_day)
        except DemoStopped:
            return ExitCode.OK  # asked to stop, and stopped cleanly
        finally:
            if game_day is not None:
                game_day.close()
            if services is not None:
                services.close()
            stack.stop()
            if postgres is not None:
                postgres.drop()
                os.environ.pop(DSN_ENV, None)
                os.environ.pop(DRILL_DSN_ENV, None)
