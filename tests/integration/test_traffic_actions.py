"""Switch and rollback through the runner, against a real HAProxy and real health endpoints."""

from __future__ import annotations

import signal
import time

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.traffic import RollbackAction, SwitchAction, read_status
from pmb_console.bootstrap import bootstrap
from pmb_console.config import ColorConfig, ColorsConfig, Instance
from pmb_console.errors import ExitCode
from pmb_console.providers.haproxy import HaproxyRouter
from pmb_console.providers.health import HealthChecker

pytestmark = pytest.mark.haproxy


@pytest.fixture
def services(haproxy, tmp_path):
    ctx = bootstrap(haproxy.pmb_config(tmp_path))
    yield ctx
    ctx.close()


def run(ctx, action, **kwargs):
    return ctx.runner.run(action, Confirmation.yes(), **kwargs)


def last_audit(ctx, action: str) -> dict:
    return [r for r in ctx.audit.records() if r["action"] == action][-1]


def test_switch_moves_real_traffic_and_is_verified_and_audited(haproxy, services):
    assert haproxy.requests(5) == {"blue": 5}

    outcome = run(services, SwitchAction("green"))

    assert outcome.status == "succeeded", outcome.message
    assert outcome.exit_code == ExitCode.OK
    assert haproxy.weights() == {"blue": 0, "green": 100}
    assert haproxy.requests(10) == {"green": 10}
    assert "green 100%" in outcome.message
    assert "green (green): weight 0 -> 100" in outcome.plan.steps
    record = last_audit(services, "switch")
    assert record["outcome"] == "succeeded"
    assert record["state"]["live"] == "green"
    assert record["plan"]["data"]["before"]["live"] == "blue"
    assert [g["name"] for g in record["guards"]] == ["green healthy", "HAProxy sees green up"]


def test_partial_switch_splits_real_traffic(haproxy, services):
    outcome = run(services, SwitchAction("green", weight=25))

    assert outcome.status == "succeeded", outcome.message
    seen = haproxy.requests(100)
    assert 15 <= seen["green"] <= 35 and seen["blue"] + seen["green"] == 100, seen


def test_rollback_returns_traffic_to_the_color_live_before(haproxy, services):
    assert run(services, SwitchAction("green")).status == "succeeded"
    assert haproxy.requests(4) == {"green": 4}

    outcome = run(services, RollbackAction())

    assert outcome.status == "succeeded", outcome.message
    assert haproxy.requests(6) == {"blue": 6}
    assert (
        outcome.guards[0].name == "rollback target"
        and "blue was live before" in outcome.guards[0].detail
    )


def test_rollback_without_history_refuses_and_names_switch(haproxy, services):
    outcome = run(services, RollbackAction())

    assert outcome.status == "refused" and outcome.exit_code == ExitCode.REFUSED
    assert "switch --to" in outcome.message
    assert haproxy.requests(4) == {"blue": 4}


def test_rollback_after_a_canary_split_goes_back_to_the_single_color(haproxy, services):
    assert run(services, SwitchAction("green", weight=10)).status == "succeeded"

    outcome = run(services, RollbackAction())

    assert outcome.status == "succeeded", outcome.message
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_already_there_is_nothing_to_do(haproxy, services):
    outcome = run(services, SwitchAction("blue"))

    assert outcome.status == "nothing-to-do" and outcome.exit_code == ExitCode.OK
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_dry_run_changes_nothing(haproxy, services):
    outcome = run(services, SwitchAction("green"), dry_run=True)

    assert outcome.status == "dry-run"
    assert "green (green): weight 0 -> 100" in outcome.plan.steps
    assert haproxy.weights() == {"blue": 100, "green": 0}


# --- the health guard --------------------------------------------------------------------


def test_failing_health_refuses_with_exit_3_and_traffic_stays(haproxy, color_servers, services):
    color_servers["green"].health = "fail"

    outcome = run(services, SwitchAction("green"))

    assert outcome.status == "refused" and outcome.exit_code == ExitCode.REFUSED
    assert "green healthy" in outcome.message and "HTTP 500" in outcome.message
    assert " ms" in outcome.guards[0].detail
    assert haproxy.requests(5) == {"blue": 5}
    assert last_audit(services, "switch")["outcome"] == "refused"


def test_hanging_health_check_fails_at_the_timeout(haproxy, color_servers, tmp_path):
    color_servers["green"].health = "hang"
    ctx = bootstrap(haproxy.pmb_config(tmp_path, health_timeout="0.3"))
    started = time.monotonic()

    outcome = run(ctx, SwitchAction("green"))

    assert time.monotonic() - started < 3
    assert outcome.status == "refused"
    assert "no answer within 0.3 s" in outcome.message
    assert haproxy.weights() == {"blue": 100, "green": 0}
    ctx.close()


def test_a_target_server_haproxy_holds_down_refuses(haproxy, services):
    haproxy.command("set server pmbuddy/green health down")

    outcome = run(services, SwitchAction("green"))

    assert outcome.status == "refused"
    assert "HAProxy's checks say green is down" in outcome.message
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_a_color_without_instances_fails_the_guard(haproxy, tmp_path):
    cfg = haproxy.pmb_config(tmp_path)
    cfg = cfg.model_copy(update={"colors": ColorsConfig(blue=cfg.colors.blue, green=ColorConfig())})
    ctx = bootstrap(cfg)

    outcome = run(ctx, SwitchAction("green"))

    assert outcome.status == "refused"
    assert "no green instances are configured" in outcome.message
    ctx.close()


def test_force_with_reason_overrides_the_guard_and_is_audited(haproxy, color_servers, services):
    color_servers["green"].health = "fail"

    outcome = run(
        services,
        SwitchAction("green"),
        force=True,
        reason="green health page is broken, app is fine",
    )

    assert outcome.status == "succeeded", outcome.message
    assert haproxy.requests(4) == {"green": 4}
    started = [r for r in services.audit.records() if r.get("outcome") == "started"][-1]
    assert started["override"]["reason"] == "green health page is broken, app is fine"
    assert started["override"]["guards"][0]["name"] == "green healthy"
    assert last_audit(services, "switch")["override"]["reason"].startswith("green health page")


def test_force_without_reason_is_a_usage_error(haproxy, color_servers, services):
    color_servers["green"].health = "fail"

    outcome = run(services, SwitchAction("green"), force=True)

    assert outcome.exit_code == ExitCode.USAGE
    assert haproxy.weights() == {"blue": 100, "green": 0}


def test_read_only_refuses_with_exit_5(haproxy, tmp_path):
    ctx = bootstrap(haproxy.pmb_config(tmp_path, read_only="true"))

    outcome = run(ctx, SwitchAction("green"))

    assert outcome.status == "read-only" and outcome.exit_code == ExitCode.READ_ONLY
    assert haproxy.weights() == {"blue": 100, "green": 0}
    ctx.close()


def test_unreachable_haproxy_fails_with_exit_1_and_a_hint(haproxy, tmp_path):
    ctx = bootstrap(haproxy.pmb_config(tmp_path, runtime_api=f'"unix://{tmp_path}/gone.sock"'))

    outcome = run(ctx, SwitchAction("green"))

    assert outcome.status == "failed" and outcome.exit_code == ExitCode.FAILED
    assert "does not exist" in outcome.message and outcome.hint
    assert haproxy.weights() == {"blue": 100, "green": 0}
    ctx.close()


# --- read back ---------------------------------------------------------------------------


class RacingRouter(HaproxyRouter):
    """The real router, plus a second operator who sets green to 50 right after our change.

    Not a mock: both changes go through HAProxy's real runtime socket; this only fixes the
    moment the other operator acts, between our apply and our verify.
    """

    def apply(self, current, desired, progress):
        super().apply(current, desired, progress)
        self.api.send(["set server pmbuddy/green weight 50", "set server pmbuddy/blue weight 50"])


def test_weights_changed_behind_our_back_are_not_verified(haproxy, tmp_path):
    cfg = haproxy.pmb_config(tmp_path)
    ctx = bootstrap(cfg, router=RacingRouter(cfg))

    outcome = run(ctx, SwitchAction("green"))

    assert outcome.status == "not-verified" and outcome.exit_code == ExitCode.FAILED
    assert "planned blue 0%, green 100%, read back blue 50%, green 50%" in outcome.message
    record = last_audit(ctx, "switch")
    assert record["outcome"] == "not-verified"
    assert record["state"]["weights"] == {"blue": 50, "green": 50}
    ctx.close()


def test_ctrl_c_during_the_switch_is_audited_as_interrupted_with_the_state(haproxy, services):
    def progress(message, fraction=None):
        if message == "HAProxy accepted the change":
            signal.raise_signal(signal.SIGINT)  # a real Ctrl+C, delivered at this moment

    outcome = run(services, SwitchAction("green"), progress=progress)

    assert outcome.status == "interrupted"
    record = last_audit(services, "switch")
    assert record["outcome"] == "interrupted"
    assert record["state"]["weights"] == {"blue": 0, "green": 100}  # read back, not assumed
    assert services.journal.in_flight() is None


# --- status ------------------------------------------------------------------------------


def test_status_reads_traffic_health_and_lock(haproxy, color_servers, services):
    color_servers["green"].health = "fail"

    doc = read_status(services)

    assert doc["live"] == "blue" and doc["weights"] == {"blue": 100, "green": 0}
    assert doc["health"]["blue"]["ok"] is True
    assert doc["health"]["green"]["ok"] is False
    assert doc["health"]["green"]["instances"][0]["status"] == 500
    assert doc["lock"] is None and doc["errors"] == []
    assert doc["provider"] == "haproxy" and doc["traffic"]["servers"][0]["name"] == "blue"


def test_status_without_haproxy_still_shows_health(haproxy, tmp_path):
    ctx = bootstrap(haproxy.pmb_config(tmp_path, runtime_api=f'"unix://{tmp_path}/gone.sock"'))

    doc = read_status(ctx)

    assert doc["live"] == "unknown"
    assert doc["errors"][0].startswith("traffic: the HAProxy runtime API socket")
    assert "does not exist" in doc["errors"][0] and "hint: " in doc["errors"][0]
    assert doc["health"]["blue"]["ok"] and doc["health"]["green"]["ok"]
    ctx.close()


# --- the health checker on its own -------------------------------------------------------


def test_health_checker_names_status_error_and_latency(color_servers):
    checker = HealthChecker(timeout=0.3)
    color_servers["green"].health = "hang"
    try:
        ok = checker.check("blue", Instance(name="b", health_url=color_servers["blue"].health_url))
        hung = checker.check(
            "green", Instance(name="g", health_url=color_servers["green"].health_url)
        )
        refused = checker.check(
            "green", Instance(name="r", health_url="http://127.0.0.1:9/healthz")
        )
        unset = checker.check("green", Instance(name="u"))
        tls_url = color_servers["blue"].health_url.replace("http:", "https:")
        not_tls = checker.check("blue", Instance(name="t", health_url=tls_url))
    finally:
        checker.close()

    assert ok.ok and ok.status == 200 and ok.body["color"] == "blue"
    assert not hung.ok and "no answer within 0.3 s" in hung.error and hung.latency_ms >= 250
    assert not refused.ok and "cannot connect" in refused.error
    assert not unset.ok and unset.error == "no health_url configured"
    assert not not_tls.ok and not_tls.error  # https to a plain-HTTP server: TLS fails, said


def test_instances_of_a_color_are_checked_concurrently(color_servers):
    color_servers["green"].health = "hang"
    url = color_servers["green"].health_url
    color = ColorConfig(instances=[Instance(name=f"g{i}", health_url=url) for i in range(4)])
    checker = HealthChecker(timeout=0.3)
    started = time.monotonic()
    try:
        results = checker.check_color("green", color)
    finally:
        checker.close()

    assert [r.instance for r in results] == ["g0", "g1", "g2", "g3"]
    assert not any(r.ok for r in results)
    assert time.monotonic() - started < 1.0  # four 0.3 s timeouts side by side, not in a row
