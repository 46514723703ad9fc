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
from pmb_console.demo.scratch_db import ScratchDatabase
from pmb_console.demo.stack import DemoStack
from pmb_console.errors import ExitCode, UsageError

DSN_ENV = "PMB_DEMO_DATABASE_URL"
"""Where `--postgres` puts the scratch database's DSN for the pg_dump store to find."""


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
    stack: DemoStack, args: argparse.Namespace, postgres_dsn: str | None = None
) -> Config:
    """The stack's config with the operator's options (read-only, theme, --postgres)."""
    config = stack.config()
    console = config.console.model_copy(
        update={"read_only": bool(getattr(args, "read_only", False))}
        | ({"theme": args.theme} if getattr(args, "theme", None) else {})
    )
    update: dict[str, Any] = {"console": console}
    if postgres_dsn is not None:
        os.environ[DSN_ENV] = postgres_dsn
        update["database"] = config.database.model_copy(
            update={"provider": "pg_dump", "dsn_env": DSN_ENV}
        )
    return config.model_copy(update=update)


def run_demo(args: argparse.Namespace) -> int:
    scenario_name = getattr(args, "scenario", None)
    if scenario_name and scenario_name not in SCENARIOS:
        raise UsageError(
            f"unknown scenario {scenario_name!r}", f"choose one of: {', '.join(SCENARIOS)}"
        )
    from pmb_console.bootstrap import bootstrap

    stack = DemoStack()
    scratch = ScratchDatabase() if getattr(args, "postgres", False) else None
    services = game_day = None
    with stop_on_signals():
        try:
            stack.start()
            dsn = scratch.create() if scratch is not None else None
            services = bootstrap(demo_config(stack, args, dsn))
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
            if scratch is not None:
                scratch.drop()
                os.environ.pop(DSN_ENV, None)
