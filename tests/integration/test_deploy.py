"""Provision, deploy, smoke and decommission against real processes and servers.

The deploy command is a real program (python) that prints its progress and "deploys" by
writing the version file the instance serves in /healthz; the instances are real HTTP
servers on 127.0.0.1; decommission acts on a real HAProxy through its runtime API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.deploy import (
    DecommissionAction,
    DeployAction,
    ProvisionAction,
    SmokeAction,
)
from pmb_console.actions.traffic import SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.journal import ReleaseJournal
from pmb_console.monitor import MonitorWindow
from pmb_console.providers.base import ColorMetrics
from tests.fixtures.haproxy import Haproxy


class Instance:
    """One instance of a color: /healthz reports the version in its version file."""

    def __init__(self, version_file: Path) -> None:
        self.version_file = version_file
        self.version_in_healthz = True
        """False: /healthz says only ok, and the version is a label of pmb_build_info in /metrics."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                version = (
                    owner.version_file.read_text().strip() if owner.version_file.exists() else ""
                )
                if self.path == "/healthz":
                    said = {"release": {"version": version}} if owner.version_in_healthz else {}
                    body = json.dumps({"status": "ok", **said}).encode()
                    code = 200
                elif self.path == "/metrics":
                    body = f'# TYPE pmb_build_info gauge\npmb_build_info{{commit="abc123",version="{version}"}} 1\n'.encode()
                    code = 200
                elif self.path == "/login":
                    body, code = b"<title>PM Buddy - sign in</title>", 200
                elif self.path == "/api/projects":
                    body, code = b'{"error": "database"}', 500
                else:
                    body, code = b"not found", 404
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    version_file = tmp_path / "green-version"
    version_file.write_text("v1.0.0")
    server = Instance(version_file)
    yield server
    server.close()


def _py(code: str) -> str:
    return json.dumps([sys.executable, "-c", code])


def write_config(
    tmp_path: Path,
    instance: Instance,
    *,
    deploy: str = "",
    provision: str = "",
    timeout: float = 30,
    checks: str = "",
    extra: str = "",
) -> Path:
    deploy = deploy or _py(
        "import sys, pathlib\n"
        "print('applying deployment/pmbuddy-{color}', flush=True)\n"
        f"pathlib.Path({str(instance.version_file)!r}).write_text('{{version}}')\n"
        "print('deployment/pmbuddy-{color} rolled out', flush=True)"
    )
    provision = provision or _py("print('Apply complete! Resources: 3 added')")
    checks = checks or '[ { path = "/login", status = 200, text = "sign in" } ]'
    path = tmp_path / "config.toml"
    path.write_text(f"""
[console]
environment = "test"
operator = "tester"
state_dir = "{tmp_path / "state"}"

[release]
version = "v1.1.0"

[colors.green]
version = "v1.1.0"
base_url = "{instance.url}"
instances = [ {{ name = "green-1", health_url = "{instance.url}/healthz", metrics_url = "{instance.url}/metrics" }} ]

[deploy]
provision_command = {provision}
deploy_command = {deploy}
command_timeout = {timeout}

[smoke]
checks = {checks}
{extra}
""")
    return path


def test_provision_then_deploy_streams_the_output_and_checks_the_version(
    tmp_path: Path, instance: Instance
) -> None:
    ctx = bootstrap(load_config(write_config(tmp_path, instance)))
    seen: list[str] = []
    outcome = ctx.runner.run(
        ProvisionAction("green"), Confirmation.yes(), progress=lambda m, f=None: seen.append(m)
    )
    assert outcome.status == "succeeded", outcome.message
    outcome = ctx.runner.run(
        DeployAction("green"), Confirmation.yes(), progress=lambda m, f=None: seen.append(m)
    )
    assert outcome.status == "succeeded", outcome.message
    assert "green-1 answers and reports v1.1.0 (/healthz release.version)" in outcome.message
    lines = [m for m in seen if m.startswith(("provision:", "deploy:"))]
    assert lines == [
        "provision: Apply complete! Resources: 3 added",
        "deploy: applying deployment/pmbuddy-green",
        "deploy: deployment/pmbuddy-green rolled out",
    ]
    steps = ReleaseJournal.of(ctx).read()["steps"]
    assert steps["provision-green"]["state"] == "done"
    assert steps["deploy-green"]["state"] == "done"
    assert steps["deploy-green"]["evidence"]["outcome"] == "succeeded"


def test_the_version_can_come_from_a_metric_label(tmp_path: Path, instance: Instance) -> None:
    instance.version_in_healthz = False
    ctx = bootstrap(load_config(write_config(tmp_path, instance)))
    bare = ctx.runner.run(DeployAction("green"), Confirmation.yes(), force=True, reason="test")
    assert bare.status == "not-verified"
    assert (
        "green-1: answers but reports no version (release.version not in /healthz)" in bare.message
    )

    cfg = write_config(tmp_path, instance)
    cfg.write_text(
        cfg.read_text().replace("[smoke]", 'version_metric = "pmb_build_info"\n\n[smoke]')
    )
    ctx = bootstrap(load_config(cfg))
    outcome = ctx.runner.run(DeployAction("green"), Confirmation.yes(), force=True, reason="test")
    assert outcome.status == "succeeded", outcome.message
    assert "green-1 answers and reports v1.1.0 (metric pmb_build_info)" in outcome.message


def test_a_deploy_whose_instances_still_run_the_old_version_is_not_verified(
    tmp_path: Path, instance: Instance
) -> None:
    cfg = write_config(tmp_path, instance, deploy=_py("print('nothing changed')"))
    ctx = bootstrap(load_config(cfg))
    ReleaseJournal.of(ctx).mark("provision-green", "done", "tester")
    outcome = ctx.runner.run(DeployAction("green"), Confirmation.yes())
    assert outcome.status == "not-verified"
    assert "green-1: reports v1.0.0 (/healthz release.version), not v1.1.0" in outcome.message
    assert ReleaseJournal.of(ctx).read()["steps"]["deploy-green"]["state"] == "failed"


def test_a_failing_command_fails_the_step_with_its_last_words(
    tmp_path: Path, instance: Instance
) -> None:
    cfg = write_config(
        tmp_path, instance, provision=_py("import sys; print('Error: no credentials'); sys.exit(3)")
    )
    outcome = bootstrap(load_config(cfg)).runner.run(ProvisionAction("green"), Confirmation.yes())
    assert outcome.status == "failed"
    assert "exit 3" in outcome.message and "Error: no credentials" in outcome.message


def test_a_command_past_its_timeout_is_stopped(tmp_path: Path, instance: Instance) -> None:
    cfg = write_config(
        tmp_path,
        instance,
        timeout=0.5,
        provision=_py("import time; print('waiting', flush=True); time.sleep(30)"),
    )
    started = time.monotonic()
    outcome = bootstrap(load_config(cfg)).runner.run(ProvisionAction("green"), Confirmation.yes())
    assert time.monotonic() - started < 10
    assert outcome.status == "failed" and "did not finish within 0.5 s" in outcome.message


def test_deploy_before_provision_is_refused_unless_overridden_with_a_reason(
    tmp_path: Path, instance: Instance
) -> None:
    ctx = bootstrap(load_config(write_config(tmp_path, instance)))
    refused = ctx.runner.run(DeployAction("green"), Confirmation.yes())
    assert (
        refused.status == "refused" and "runbook order: provision-green not done" in refused.message
    )
    assert instance.version_file.read_text() == "v1.0.0"  # nothing ran
    forced = ctx.runner.run(
        DeployAction("green"),
        Confirmation.yes(),
        force=True,
        reason="green was provisioned by the platform team",
    )
    assert forced.status == "succeeded"
    entry = ReleaseJournal.of(ctx).read()["steps"]["deploy-green"]
    assert entry["override"] == "green was provisioned by the platform team"
    assert entry["out_of_order"] == ["provision-green"]
    audited = [r for r in ctx.audit.records() if r.get("action") == "deploy" and r.get("override")]
    assert (
        audited
        and audited[-1]["override"]["reason"] == "green was provisioned by the platform team"
    )


def test_smoke_shows_each_check_and_fails_on_any(tmp_path: Path, instance: Instance) -> None:
    checks = (
        '[ { path = "/login", status = 200, text = "sign in" },'
        ' { path = "/api/projects", status = 200 }, { path = "/healthz", text = "v9" } ]'
    )
    cfg = write_config(tmp_path, instance, checks=checks)
    proc = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(cfg), "smoke", "--color", "green"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1, proc.stderr
    assert "smoke ok   /login: HTTP 200, 'sign in' found" in proc.stderr
    assert "smoke FAIL /api/projects: HTTP 500, expected 200" in proc.stderr
    assert "smoke FAIL /healthz: 'v9' not in the body" in proc.stderr
    assert "2 of 3 smoke checks failed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_smoke_passes_when_every_check_does(tmp_path: Path, instance: Instance) -> None:
    ctx = bootstrap(load_config(write_config(tmp_path, instance)))
    outcome = ctx.runner.run(SmokeAction("green"), Confirmation.yes())
    assert (
        outcome.status == "succeeded" and "1 smoke checks passed against green" in outcome.message
    )
    assert outcome.result["checks"][0]["status"] == 200


# --- decommission against a real HAProxy ------------------------------------------------


def _haproxy_ctx(haproxy: Haproxy, tmp_path: Path, minutes: float):
    path = haproxy.write_pmb_config(tmp_path)
    path.write_text(
        path.read_text()
        + f'\n[release]\nversion = "v1.1.0"\n\n[monitor]\nwindow_minutes = {minutes}\n'
    )
    return path, bootstrap(load_config(path))


def _watched_poll(ctx) -> None:
    """One poll within the thresholds, as the console feeds the window from its metrics pane."""
    MonitorWindow(ctx).observe({"green": ColorMetrics("green", 20.0, 0.001, 120.0)})


def test_decommission_is_refused_while_the_window_runs(haproxy: Haproxy, tmp_path: Path) -> None:
    path, ctx = _haproxy_ctx(haproxy, tmp_path, 60)
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pmb_console",
            "--config",
            str(path),
            "decommission",
            "--color",
            "blue",
            "--confirm",
            "test",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 3
    assert "monitoring window passed: green watched until" in proc.stderr
    assert haproxy.admin_states()["blue"] == 0  # untouched


def test_decommission_after_the_window_takes_blue_out(haproxy: Haproxy, tmp_path: Path) -> None:
    path, ctx = _haproxy_ctx(haproxy, tmp_path, 0.01)
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    _watched_poll(ctx)
    time.sleep(0.7)  # the 0.6 s window closes
    wrong = ctx.runner.run(DecommissionAction("blue"), Confirmation.yes("prod"))
    assert wrong.status == "not-confirmed"
    outcome = ctx.runner.run(DecommissionAction("blue"), Confirmation.yes("test"))
    assert outcome.status == "succeeded", outcome.message
    assert haproxy.weights() == {"blue": 0, "green": 100}
    assert haproxy.admin_states()["blue"] & 1  # in maintenance, set by the runtime API
    assert set(haproxy.requests(10)) == {"green"}
    assert ReleaseJournal.of(ctx).read()["steps"]["decommission-blue"]["state"] == "done"


def test_decommission_overridden_during_the_window_is_recorded(
    haproxy: Haproxy, tmp_path: Path
) -> None:
    _, ctx = _haproxy_ctx(haproxy, tmp_path, 60)
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    outcome = ctx.runner.run(
        DecommissionAction("blue"),
        Confirmation.yes("test"),
        force=True,
        reason="blue's hosts are failing anyway",
    )
    assert outcome.status == "succeeded"
    record = ctx.audit.last(
        lambda r: r.get("action") == "decommission" and r.get("outcome") == "succeeded"
    )
    assert record["override"]["reason"] == "blue's hosts are failing anyway"
    assert record["override"]["guards"][0]["name"] == "monitoring window passed"


def test_decommission_of_the_live_color_is_refused(haproxy: Haproxy, tmp_path: Path) -> None:
    _, ctx = _haproxy_ctx(haproxy, tmp_path, 60)
    outcome = ctx.runner.run(DecommissionAction("blue"), Confirmation.yes("test"))
    assert outcome.status == "refused"
    assert (
        "blue carries no traffic: traffic is blue 100%, green 0%; switch to green first"
        in outcome.message
    )
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_marking_a_step_by_hand_out_of_order_needs_a_reason(
    tmp_path: Path, instance: Instance
) -> None:
    config = write_config(tmp_path, instance)
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "pmb_console",
            "--config",
            str(config),
            "journal",
            "--mark",
            "test-green",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 3
    assert (
        "step test-green cannot be marked done: provision-green, deploy-green, run-migrations are not done"
        in refused.stderr
    )
    marked = subprocess.run(
        [
            sys.executable,
            "-m",
            "pmb_console",
            "--config",
            str(config),
            "journal",
            "--mark",
            "test-green",
            "--reason",
            "smoke-tested by QA by hand",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert marked.returncode == 0, marked.stderr
    assert "[x] 4. Smoke test green — tester" in marked.stdout
    assert "        marked by hand\n" in marked.stdout
    assert (
        "done out of order (provision-green, deploy-green, run-migrations not done then); "
        "override: smoke-tested by QA by hand"
    ) in marked.stdout
    assert "next: 1. Provision green" in marked.stdout
    record = bootstrap(load_config(config)).audit.last(lambda r: r.get("action") == "journal-mark")
    assert record["override"]["out_of_order"] == [
        "provision-green",
        "deploy-green",
        "run-migrations",
    ]
    assert record["reason"] == "smoke-tested by QA by hand"


def test_decommission_runs_the_configured_command_when_there_is_one(
    haproxy: Haproxy, tmp_path: Path
) -> None:
    path, _ = _haproxy_ctx(haproxy, tmp_path, 0.01)
    stopped = tmp_path / "blue-stopped"
    command = _py(
        f"import pathlib; pathlib.Path({str(stopped)!r}).write_text('{{color}}'); print('blue scaled to 0')"
    )
    path.write_text(path.read_text() + f"\n[deploy]\ndecommission_command = {command}\n")
    ctx = bootstrap(load_config(path))
    assert ctx.runner.run(SwitchAction("green"), Confirmation.yes()).status == "succeeded"
    _watched_poll(ctx)
    time.sleep(0.7)
    seen: list[str] = []
    outcome = ctx.runner.run(
        DecommissionAction("blue"),
        Confirmation.yes("test"),
        progress=lambda m, f=None: seen.append(m),
    )
    assert outcome.status == "succeeded", outcome.message
    assert stopped.read_text() == "blue"
    assert "decommission: blue scaled to 0" in seen
    assert haproxy.admin_states()["blue"] == 0  # the command did the work; HAProxy left as it was
