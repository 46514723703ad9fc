"""The embedded demo stack: blue and green PM Buddy instances, traffic, logs, a temp dir,
the release's git checkout and a GitHub double that vouches for its review and CI.

The console process owns it: `start` brings everything up on 127.0.0.1 at free ports;
`stop` takes everything down — threads joined, ports closed, the temp dir removed — and
is safe to call twice, from a `with` block, from atexit and from a signal handler's path.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

from pmb_console.config import (
    COLORS,
    ColorConfig,
    ColorsConfig,
    Config,
    ConsoleConfig,
    DatabaseConfig,
    DemoTrafficConfig,
    GithubConfig,
    Instance,
    LogsConfig,
    LogSourceConfig,
    PgDumpConfig,
    ReleaseConfig,
    TrafficConfig,
)
from pmb_console.demo.applog import AppLog
from pmb_console.demo.faults import ColorFaults, FaultBoard
from pmb_console.demo.github_double import GithubDouble
from pmb_console.demo.instance import DemoInstance
from pmb_console.demo.release_repo import PREVIOUS, RELEASE, RELEASE_PR, REPO, create_release_repo
from pmb_console.demo.router import health_path, write_weights
from pmb_console.demo.traffic import BalancerChecks, LoadGenerator

VERSIONS = {"blue": PREVIOUS, "green": RELEASE}
GITHUB_TOKEN_ENV = "PMB_DEMO_GITHUB_TOKEN"
"""Not $GITHUB_TOKEN: a token of the user's has no business reaching the double."""
STORM_LINES_PER_SECOND = 1000


class LogStorm:
    """Floods the log of every color whose faults say so, until they stop saying it."""

    TICK_S = 0.1

    def __init__(self, board: FaultBoard, instances: dict[str, list[DemoInstance]]) -> None:
        self.board = board
        self.instances = instances
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-log-storm", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.TICK_S):
            for color in COLORS:
                if not self.board.of(color).log_storm:
                    continue
                per_instance = int(
                    STORM_LINES_PER_SECOND * self.TICK_S / len(self.instances[color])
                )
                for inst in self.instances[color]:
                    inst.log.storm(inst.name, inst.version, per_instance)


class DemoStack:
    """Everything the demo runs besides the console, started and stopped as one."""

    def __init__(self, root: Path | None = None, *, per_color: int = 2, rate: float = 40.0) -> None:
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="pmb-demo-")) if root is None else Path(root)
        self.state_file = self.root / "traffic.json"
        self.state_dir = self.root / "state"
        self.backup_dir = self.root / "backups"
        self.log_files = {c: self.root / "logs" / f"{c}.log" for c in COLORS}
        self.release_dir = self.root / "release"
        self.release_commit: str | None = None
        """The commit tagged v1.1.0; None when git is not on PATH."""
        self.github: GithubDouble | None = None
        self.faults = FaultBoard()
        self.per_color = per_color
        self.rate = rate
        self.instances: dict[str, list[DemoInstance]] = {}
        self._logs: dict[str, AppLog] = {}
        self._parts: list = []
        """What was started, in order; stopped in reverse."""
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    # --- life cycle --------------------------------------------------------------------

    def start(self) -> DemoStack:
        with self._lock:
            if self._started:
                return self
            self._started = True
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for d in (self.state_dir, self.backup_dir, self.log_files["blue"].parent):
            d.mkdir(parents=True, exist_ok=True)
        write_weights(self.state_file, {"blue": 100, "green": 0})
        self.release_commit = create_release_repo(self.release_dir)
        self.github = GithubDouble(REPO, self.release_commit, RELEASE_PR).start()
        self._parts.append(self.github)
        for color in COLORS:
            log = self._logs[color] = AppLog(self.log_files[color])
            self.instances[color] = [
                DemoInstance(
                    f"{color}-{n}", color, VERSIONS[color], self.faults, log, first_of_color=n == 1
                )
                for n in range(1, self.per_color + 1)
            ]
            for inst in self.instances[color]:
                inst.start()
                self._parts.append(inst)
                log.event(
                    "INFO", inst.name, inst.version, f"started, listening on 127.0.0.1:{inst.port}"
                )
        everyone = [i for c in COLORS for i in self.instances[c]]
        checks = BalancerChecks(everyone, health_path(self.state_file))
        checks.start()
        self._parts.append(checks)
        load = LoadGenerator(self.instances, self.state_file, checks, rate=self.rate)
        load.start()
        self._parts.append(load)
        storm = LogStorm(self.faults, self.instances)
        storm.start()
        self._parts.append(storm)
        self.faults.subscribe(self._on_faults)

    def stop(self) -> None:
        """Stop everything that was started and remove the temp dir. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        everyone = [i for c in self.instances.values() for i in c]
        for inst in everyone:
            inst.interrupt()  # a latency spike must not hold the exit up
        # The load first (its requests end), then the checks, then the servers.
        for part in reversed(self._parts):
            try:
                part.stop()
            except Exception:
                pass  # one part failing to stop must not keep the others running
        # An instance taken down by a fault is not in a stopping state; make sure.
        for inst in everyone:
            inst.stop()
        for log in self._logs.values():
            log.close()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the console needs to know ------------------------------------------------

    @property
    def ports(self) -> list[int]:
        return [i.port for c in COLORS for i in self.instances.get(c, [])]

    def config(self) -> Config:
        """The console's config for this stack: the same model production uses."""
        colors = {
            color: ColorConfig(
                version=VERSIONS[color],
                instances=[
                    Instance(
                        name=i.name, health_url=f"{i.url}/healthz", metrics_url=f"{i.url}/metrics"
                    )
                    for i in self.instances[color]
                ],
                base_url=self.instances[color][0].url,
            )
            for color in COLORS
        }
        assert self.github is not None, "start the stack first"
        return Config(
            console=ConsoleConfig(environment="demo", state_dir=self.state_dir, demo=True),
            release=ReleaseConfig(
                version=RELEASE,
                git_dir=str(self.release_dir),
                github=GithubConfig(repo=REPO, api_url=self.github.url, token_env=GITHUB_TOKEN_ENV),
            ),
            colors=ColorsConfig(**colors),
            traffic=TrafficConfig(
                provider="demo", demo=DemoTrafficConfig(state_file=str(self.state_file))
            ),
            database=DatabaseConfig(
                provider="demo",
                pg_dump=PgDumpConfig(backup_dir=str(self.backup_dir)),
                # The release's own, not the working directory's: the demo reads the same
                # wherever it is started.
                migrations_dir=str(self.release_dir / "migrations"),
            ),
            logs=LogsConfig(
                sources=[
                    LogSourceConfig(kind="file", color=c, path=str(self.log_files[c]))
                    for c in COLORS
                ]
            ),
        )

    # --- faults that change the stack itself -------------------------------------------

    def _on_faults(self, color: str, faults: ColorFaults) -> None:
        first = next(i for i in self.instances[color] if i.first_of_color)
        if faults.instance_down and first.listening:
            first.stop()
        elif not faults.instance_down and not first.listening and not self._stopped:
            first.start()
            first.log.event(
                "INFO", first.name, first.version, f"started, listening on 127.0.0.1:{first.port}"
            )
