"""Wiring in one place: config → providers → ActionRunner.

Providers are built on first use, so a command pays only for what it touches. Tests
hand in a real local server through the config, or (for a fault that cannot be produced)
a fake provider through the `overrides` argument.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from pmb_console.audit import AuditLog, LocalAuditLog
from pmb_console.config import Config
from pmb_console.errors import ProviderError
from pmb_console.locking import FileLock, Lock
from pmb_console.providers import registry
from pmb_console.providers.base import SnapshotStore, TrafficRouter
from pmb_console.state import Journal


class Services:
    def __init__(self, config: Config, **overrides: Any) -> None:
        self.config = config
        self.metrics_snapshot: Callable[[], dict[str, Any]] | None = None
        """Set by the console: the latest metrics of both colors, recorded with every action."""
        for name, value in overrides.items():
            setattr(self, name, value)

    def shared_dsn(self) -> str:
        """The war room's database, when [audit] dsn_env is set; "" for local files."""
        name = self.config.audit.dsn_env
        if not name:
            return ""
        import os

        dsn = os.environ.get(name, "").strip()
        if not dsn:
            raise ProviderError(
                f"[audit] dsn_env names {name}, which is not set",
                f"export {name}=postgresql://... (the shared audit database), or empty dsn_env",
            )
        return dsn

    @cached_property
    def audit(self) -> AuditLog:
        dsn = self.shared_dsn()
        if dsn:
            from pmb_console.providers.pg_shared import PgAuditLog

            return PgAuditLog(dsn, self.config.database.connect_timeout)
        return LocalAuditLog(self.config.console.state_dir)

    @cached_property
    def lock(self) -> Lock:
        dsn = self.shared_dsn()
        if dsn:
            from pmb_console.providers.pg_shared import PgLock

            return PgLock(dsn, self.config.database.connect_timeout)
        return FileLock(self.config.console.state_dir)

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.config.console.state_dir)

    @cached_property
    def router(self) -> TrafficRouter:
        cls = registry.load(registry.TRAFFIC, self.config.traffic.provider, "traffic")
        return cls(self.config)

    @cached_property
    def snapshots(self) -> SnapshotStore:
        cls = registry.load(registry.SNAPSHOTS, self.config.database.provider, "database")
        return cls(self.config)

    @cached_property
    def health(self):
        from pmb_console.providers.health import HealthChecker

        return HealthChecker(self.config.health.timeout)

    @cached_property
    def runner(self):
        from pmb_console.actions.runner import ActionRunner
        from pmb_console.journal import follow_runner

        runner = ActionRunner(self)
        follow_runner(
            self, runner
        )  # the release journal marks each runbook step an action carries out
        if self.notifier is not None:
            runner.listeners.append(
                self.notifier
            )  # posts from its own thread: never holds an action up
        return runner

    @cached_property
    def notifier(self):
        from pmb_console.notify import build_notifier

        return build_notifier(self.config)

    def close(self) -> None:
        for name in ("router", "health", "notifier"):
            obj = self.__dict__.get(name)
            if obj is not None and hasattr(obj, "close"):
                obj.close()


def bootstrap(config: Config, **overrides: Any) -> Services:
    return Services(config, **overrides)
