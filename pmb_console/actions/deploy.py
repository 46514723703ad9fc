"""RUNBOOK §2 actions of their own: provision, deploy, smoke-test and decommission a color.

Provision and deploy run the commands configured in `[deploy]` (terraform, ansible,
kubectl — whatever the team uses), streaming every output line through the progress
callback, then read the color back: every instance answers its health_url, and (deploy)
reports the release's version. Smoke runs the `[smoke]` HTTP checks against the color's
base_url. Decommission takes the old color out once the monitoring window has passed.

Each carries a runbook-order guard: run before the steps ahead of it are done, it is
refused unless overridden with a reason, which the runner records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from pmb_console.actions.base import Action, GuardResult, Plan, Verification
from pmb_console.actions.traffic import describe_weights, other_color, state_from_dict
from pmb_console.errors import ProviderError, UsageError
from pmb_console.providers.base import COLORS, ProgressFn, TrafficState
from pmb_console.redact import redact

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services

OUTPUT_KEPT_LINES = 40
"""The last lines of a command's output kept in the audit record."""


def order_guard(ctx: Services, step_id: str) -> GuardResult:
    """The §2 steps before `step_id` are done or skipped in the release journal."""
    from pmb_console.journal import ReleaseJournal
    from pmb_console.runbook import steps_before

    journal = ReleaseJournal.of(ctx)
    missing = steps_before(step_id, journal.read().get("steps", {}))
    if missing:
        return GuardResult(
            "runbook order", False, f"{', '.join(missing)} not done for release {journal.release}"
        )
    return GuardResult("runbook order", True, f"the steps before {step_id} are done")


def _check_color(color: str) -> None:
    if color not in COLORS:
        raise UsageError(f"unknown color {color!r}", f"one of: {', '.join(COLORS)}")


# --- running a configured command -------------------------------------------------------


def expand(argv: Sequence[str], color: str, version: str) -> list[str]:
    """The command with {color} and {version} filled in."""
    return [arg.replace("{color}", color).replace("{version}", version) for arg in argv]


COMMANDS_DIR = "commands"
"""Under state_dir: each command's output, and the command running now (running.json)."""

POLL_S = 0.05
"""How often the output file is read for new lines."""

KILL_GRACE_S = 5.0
"""After SIGTERM on a timeout, this long before SIGKILL."""


def run_command(
    argv: list[str], timeout: float, progress: ProgressFn, label: str, state_dir: Path
) -> dict[str, Any]:
    """Run `argv`, each output line to `progress` as it comes; ProviderError on failure.

    The output goes to a file under state_dir rather than a pipe, and the command runs in
    its own session: if the console is dropped (an SSH disconnect, kill -9), a terraform
    apply is not cut off by a broken pipe half-way, and `resume` can read what it said
    and whether it is still running. A timeout stops the command's whole process group.
    """
    directory = Path(state_dir) / COMMANDS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    started_at = time.time()
    log_path = directory / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started_at))}-{label}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProviderError(
                f"{label}: cannot start {argv[0]!r}: {exc.strerror or exc}",
                "check the command in [deploy] and that its program is installed",
            ) from None
    running = directory / "running.json"
    running.write_text(
        json.dumps(
            {
                "pid": proc.pid,
                "argv": argv,
                "label": label,
                "log": str(log_path),
                "started_at": started_at,
            }
        )
    )
    tail: list[str] = []

    def said(line: str) -> None:
        nonlocal tail
        line = redact(line)
        tail = (tail + [line])[-OUTPUT_KEPT_LINES:]
        progress(f"{label}: {line}", None)

    timed_out = False
    try:
        with open(log_path, encoding="utf-8", errors="replace") as output:
            partial = ""
            while True:
                exited = proc.poll() is not None
                chunk = output.read()
                lines = (partial + chunk).split("\n")
                partial = lines.pop()
                for line in lines:
                    said(line)
                if exited:
                    if partial:
                        said(partial)
                    break
                if time.monotonic() - started > timeout:
                    timed_out = True
                    _stop_group(proc)
                    continue
                time.sleep(POLL_S)
    finally:
        if proc.poll() is None:  # interrupted (Ctrl+C): do not leave it running unseen
            _stop_group(proc)
        running.unlink(missing_ok=True)
    seconds = round(time.monotonic() - started, 3)
    if timed_out:
        raise ProviderError(
            f"{label}: {argv[0]} did not finish within {timeout:g} s and was stopped",
            "look at its output above; raise [deploy] command_timeout if it is just slow",
        )
    if proc.returncode != 0:
        last = tail[-1] if tail else "no output"
        raise ProviderError(
            f"{label}: {argv[0]} failed (exit {proc.returncode}): {last}",
            f"read the command's output above (kept in {log_path}); nothing else was run",
        )
    return {
        "command": argv,
        "exit": 0,
        "duration_s": seconds,
        "output_tail": tail,
        "log": str(log_path),
    }


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the command and everything it started; SIGKILL if they linger."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(KILL_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def running_command(state_dir: Path) -> dict[str, Any] | None:
    """The command a console started and has not seen end: is it still running, what it said last."""
    try:
        record = json.loads((Path(state_dir) / COMMANDS_DIR / "running.json").read_text())
    except (OSError, ValueError):
        return None
    try:
        lines = Path(record["log"]).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    record["alive"] = _alive(int(record.get("pid", 0)))
    record["last_lines"] = [redact(line) for line in lines[-5:]]
    return record


def forget_command(state_dir: Path) -> None:
    """Drop the record of a command that has ended (its output file is kept)."""
    record = running_command(state_dir)
    if record is not None and not record["alive"]:
        (Path(state_dir) / COMMANDS_DIR / "running.json").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (ended, not yet reaped by a parent that is itself gone) has ended.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


# --- reading the color back -------------------------------------------------------------


def version_in(body: dict[str, Any], dotted: str) -> str | None:
    """The value at a dotted key of a JSON body ("release.version"), as text."""
    value: Any = body
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return None if value is None or isinstance(value, dict | list) else str(value)


def version_from_metrics(text: str, metric: str, label: str) -> str | None:
    """The `label` of the first sample of `metric` in Prometheus text."""
    import re

    pattern = re.compile(rf'^{re.escape(metric)}\{{[^}}]*\b{re.escape(label)}="([^"]*)"', re.M)
    m = pattern.search(text)
    return m.group(1) if m else None


def instance_versions(ctx: Services, color: str) -> list[GuardResult]:
    """Per instance: it answers its health_url, and the version it reports (or why not)."""
    cfg = ctx.config
    color_cfg = cfg.colors.of(color)
    want = cfg.release.version
    if not color_cfg.instances:
        return [
            GuardResult(
                f"{color} instances", False, f"no {color} instances configured ([colors.{color}])"
            )
        ]
    results = []
    for health in ctx.health.check_color(color, color_cfg):
        if not health.ok:
            results.append(
                GuardResult(
                    health.instance, False, f"does not answer: {health.error or health.status}"
                )
            )
            continue
        version = version_in(health.body, cfg.deploy.version_key)
        where = f"/healthz {cfg.deploy.version_key}"
        if version is None and cfg.deploy.version_metric:
            instance = next(i for i in color_cfg.instances if i.name == health.instance)
            version, where = (
                _metric_version(ctx, instance.metrics_url),
                f"metric {cfg.deploy.version_metric}",
            )
        if not want:
            results.append(
                GuardResult(health.instance, True, f"answers (reports {version or 'no version'})")
            )
        elif version is None:
            results.append(
                GuardResult(
                    health.instance,
                    False,
                    f"answers but reports no version "
                    f"({cfg.deploy.version_key} not in /healthz"
                    + (f", no {cfg.deploy.version_metric}" if cfg.deploy.version_metric else "")
                    + ")",
                )
            )
        elif version != want:
            results.append(
                GuardResult(health.instance, False, f"reports {version} ({where}), not {want}")
            )
        else:
            results.append(
                GuardResult(health.instance, True, f"answers and reports {version} ({where})")
            )
    return results


def _metric_version(ctx: Services, url: str) -> str | None:
    if not url:
        return None
    try:
        with httpx.Client(timeout=ctx.config.health.timeout, trust_env=False) as client:
            response = client.get(url)
    except httpx.HTTPError:
        return None
    d = ctx.config.deploy
    return version_from_metrics(response.text, d.version_metric, d.version_label)


# --- provision and deploy ---------------------------------------------------------------


class _ColorAction(Action):
    """An action on one color: the color is checked when the action is built."""

    def __init__(self, color: str = "green") -> None:
        _check_color(color)
        self.color = color

    def params(self) -> dict[str, Any]:
        return {"color": self.color}


class _CommandStep(_ColorAction):
    """A runbook step carried out by a configured command, then read back."""

    step_id = ""
    command_key = ""
    check_version = False

    def _argv(self, ctx: Services) -> list[str]:
        argv = getattr(ctx.config.deploy, self.command_key)
        return expand(argv, self.color, ctx.config.release.version)

    def guards(self, ctx: Services) -> list[GuardResult]:
        argv = self._argv(ctx)
        configured = GuardResult(
            "command configured",
            bool(argv),
            " ".join(argv) if argv else f"[deploy] {self.command_key} is empty",
        )
        return [configured, order_guard(ctx, self.step_id)]

    def plan(self, ctx: Services) -> Plan:
        argv = self._argv(ctx)
        then = (
            "check every instance answers and reports " + ctx.config.release.version
            if self.check_version
            else "check every instance answers its health_url"
        )
        return Plan(
            f"{self.title}: run {' '.join(argv) or '(no command)'}",
            (f"run {' '.join(argv)}", f"{self.color}: {then}"),
            {"command": argv, "color": self.color},
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        if not plan.data["command"]:
            raise UsageError(
                f"[deploy] {self.command_key} is empty", "configure the command in [deploy]"
            )
        return run_command(
            plan.data["command"],
            ctx.config.deploy.command_timeout,
            progress,
            self.name,
            ctx.config.console.state_dir,
        )

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        checks = (
            instance_versions(ctx, self.color)
            if self.check_version
            else [
                GuardResult(h.instance, h.ok, h.describe())
                for h in ctx.health.check_color(self.color, ctx.config.colors.of(self.color))
            ]
        )
        state = {"instances": [c.as_dict() for c in checks]}
        bad = [c for c in checks if not c.ok]
        if not checks or bad:
            said = (
                "; ".join(f"{c.name}: {c.detail}" for c in bad)
                or f"no {self.color} instances configured"
            )
            return Verification(False, said, state)
        return Verification(True, "; ".join(f"{c.name} {c.detail}" for c in checks), state)

    def read_back(self, ctx: Services) -> dict[str, Any]:
        return {"instances": [c.as_dict() for c in instance_versions(ctx, self.color)]}


class ProvisionAction(_CommandStep):
    name = "provision"
    title = "provision a color"
    step_id = "provision-green"
    command_key = "provision_command"


class DeployAction(_CommandStep):
    name = "deploy"
    title = "deploy the release to a color"
    step_id = "deploy-green"
    command_key = "deploy_command"
    check_version = True


# --- smoke tests ----------------------------------------------------------------------


class SmokeAction(_ColorAction):
    """The `[smoke]` checks against a color's base_url; each result shown and recorded."""

    name = "smoke"
    title = "smoke-test a color"
    mutating = False

    def guards(self, ctx: Services) -> list[GuardResult]:
        base = ctx.config.colors.of(self.color).base_url
        checks = ctx.config.smoke.checks
        return [
            GuardResult(
                "base_url configured",
                bool(base),
                base or f"[colors.{self.color}] base_url is empty",
            ),
            GuardResult(
                "checks configured",
                bool(checks),
                f"{len(checks)} check(s)" if checks else "[smoke] checks is empty",
            ),
        ]

    def plan(self, ctx: Services) -> Plan:
        base = ctx.config.colors.of(self.color).base_url.rstrip("/")
        checks = [c.model_dump() for c in ctx.config.smoke.checks]
        steps = tuple(
            f"GET {base}{c['path']}: expect HTTP {c['status']}"
            + (f" and {c['text']!r} in the body" if c["text"] else "")
            for c in checks
        )
        return Plan(
            f"run {len(checks)} smoke check(s) against {self.color} at {redact(base)}",
            steps,
            {"base_url": redact(base), "checks": checks, "color": self.color},
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        base = ctx.config.colors.of(self.color).base_url.rstrip("/")
        results = []
        with httpx.Client(
            timeout=ctx.config.smoke.timeout, trust_env=False, follow_redirects=False
        ) as client:
            for index, check in enumerate(plan.data["checks"]):
                result = smoke_check(client, base, check)
                results.append(result)
                progress(
                    f"smoke {'ok  ' if result['ok'] else 'FAIL'} {result['words']}",
                    (index + 1) / len(plan.data["checks"]),
                )
        return {"checks": results}

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        checks = result["checks"]
        failed = [c for c in checks if not c["ok"]]
        state = {"checks": checks}
        if failed:
            return Verification(
                False,
                f"{len(failed)} of {len(checks)} smoke checks failed: "
                + "; ".join(c["words"] for c in failed),
                state,
            )
        return Verification(True, f"{len(checks)} smoke checks passed against {self.color}", state)


def smoke_check(client: httpx.Client, base: str, check: dict[str, Any]) -> dict[str, Any]:
    """One check: status and text, with what was seen, in words."""
    url = base + check["path"]
    started = time.monotonic()
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        ms = (time.monotonic() - started) * 1000
        said = (
            "no answer in time" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
        )
        return {
            "path": check["path"],
            "ok": False,
            "status": None,
            "ms": round(ms),
            "words": redact(f"{check['path']}: {said} ({ms:.0f} ms)"),
        }
    ms = (time.monotonic() - started) * 1000
    problems = []
    if response.status_code != check["status"]:
        problems.append(f"HTTP {response.status_code}, expected {check['status']}")
    if check["text"] and check["text"] not in response.text:
        problems.append(f"{check['text']!r} not in the body")
    said = "; ".join(problems) or f"HTTP {response.status_code}" + (
        f", {check['text']!r} found" if check["text"] else ""
    )
    return {
        "path": check["path"],
        "ok": not problems,
        "status": response.status_code,
        "ms": round(ms),
        "words": f"{check['path']}: {said} ({ms:.0f} ms)",
    }


# --- decommission ---------------------------------------------------------------------


class DecommissionAction(_ColorAction):
    """Take the old color out once the new one has been watched through its window."""

    name = "decommission"
    title = "decommission a color"
    destructive = True

    def __init__(self, color: str = "blue") -> None:
        super().__init__(color)  # the old color is the one usually retired

    def guards(self, ctx: Services) -> list[GuardResult]:
        from pmb_console.journal import ReleaseJournal
        from pmb_console.monitor import window_status

        status = window_status(ReleaseJournal.of(ctx).read().get("monitor"), time.time())
        state = ctx.router.read()
        carries = state.weights.get(self.color, 0)
        other = other_color(self.color)
        return [
            GuardResult("monitoring window passed", status.passed, status.detail),
            GuardResult(
                f"{self.color} carries no traffic",
                carries == 0,
                f"traffic is {describe_weights(state.weights)}"
                + ("" if carries == 0 else f"; switch to {other} first"),
            ),
            GuardResult(
                f"{other} carries the traffic",
                state.weights.get(other, 0) == 100,
                f"traffic is {describe_weights(state.weights)}",
            ),
        ]

    def _out_state(self, ctx: Services, before: TrafficState) -> TrafficState:
        after = ctx.router.desired(before, {self.color: 0, other_color(self.color): 100})
        if ctx.config.traffic.provider != "haproxy":
            return after
        from dataclasses import replace

        servers = tuple(
            replace(s, admin="maint", weight=0) if s.color == self.color else s
            for s in after.servers
        )
        return TrafficState(after.provider, after.weights, servers, after.detail)

    def plan(self, ctx: Services) -> Plan:
        argv = expand(
            ctx.config.deploy.decommission_command, self.color, ctx.config.release.version
        )
        before = ctx.router.read()
        if argv:
            return Plan(
                f"decommission {self.color}: run {' '.join(argv)}",
                (f"run {' '.join(argv)}", f"check {self.color} still carries no traffic"),
                {"command": argv, "before": before.as_dict(), "after": None},
            )
        after = self._out_state(ctx, before)
        from pmb_console.actions.traffic import change_steps

        steps = change_steps(before, after)
        data = {"command": [], "before": before.as_dict(), "after": after.as_dict()}
        if not ctx.router.differences(before, after):
            return Plan(
                f"{self.color} is already out of the load balancer", data=data, nothing_to_do=True
            )
        return Plan(
            f"decommission {self.color}: take its servers out of the load balancer", steps, data
        )

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        if plan.data["command"]:
            return run_command(
                plan.data["command"],
                ctx.config.deploy.command_timeout,
                progress,
                self.name,
                ctx.config.console.state_dir,
            )
        ctx.router.apply(
            state_from_dict(plan.data["before"]), state_from_dict(plan.data["after"]), progress
        )
        return {}

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        actual = ctx.router.read()
        if plan.data["after"] is not None:
            diffs = ctx.router.differences(actual, state_from_dict(plan.data["after"]))
            if diffs:
                return Verification(False, "; ".join(diffs), actual.as_dict())
        if actual.weights.get(self.color, 0):
            return Verification(
                False,
                f"{self.color} carries traffic again: {describe_weights(actual.weights)}",
                actual.as_dict(),
            )
        return Verification(
            True,
            f"{self.color} is out; traffic {describe_weights(actual.weights)}",
            actual.as_dict(),
        )

    def read_back(self, ctx: Services) -> dict[str, Any]:
        return ctx.router.read().as_dict()
