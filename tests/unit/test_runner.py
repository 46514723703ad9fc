"""The ActionRunner's contract, driven with a small action over a real file.

The action sets a value in a file and reads it back, so every stage (guards, plan,
confirmation, lock, execute, verify, audit) acts on something real.
"""

import json
import multiprocessing
from pathlib import Path

import pytest

from pmb_console.actions.base import Action, Confirmation, GuardResult, Plan, Verification
from pmb_console.bootstrap import bootstrap
from pmb_console.config import Config
from pmb_console.errors import ProviderError
from pmb_console.locking import FileLock, LockHolder


class SetValue(Action):
    name = "set-value"
    title = "Set the value"

    def __init__(
        self, path: Path, value: str, *, healthy=True, fail=None, tamper=None, destructive=False
    ):
        self.path, self.value, self.healthy, self.fail, self.tamper = (
            path,
            value,
            healthy,
            fail,
            tamper,
        )
        self.destructive = destructive

    def params(self):
        return {"value": self.value}

    def guards(self, ctx):
        return [
            GuardResult("target healthy", self.healthy, "answers" if self.healthy else "HTTP 503")
        ]

    def plan(self, ctx):
        before = self.path.read_text() if self.path.exists() else ""
        return Plan(
            f"value {before!r} -> {self.value!r}",
            (f"write {self.value} over {before}",),
            {"before": before, "after": self.value},
            nothing_to_do=before == self.value,
        )

    def execute(self, ctx, plan, progress):
        progress("writing", 0.5)
        if self.fail is not None:
            raise self.fail
        self.path.write_text(self.tamper or self.value)
        return {"written": True}

    def verify(self, ctx, plan, result):
        now = self.path.read_text()
        return Verification(now == plan.data["after"], f"read back {now!r}", {"value": now})

    def read_back(self, ctx):
        return {"value": self.path.read_text() if self.path.exists() else None}


@pytest.fixture
def ctx(tmp_path):
    cfg = Config.model_validate(
        {
            "console": {
                "state_dir": str(tmp_path / "state"),
                "operator": "alice",
                "environment": "staging",
            }
        }
    )
    return bootstrap(cfg)


@pytest.fixture
def target(tmp_path):
    p = tmp_path / "value"
    p.write_text("blue")
    return p


def audit(ctx):
    return ctx.audit.records()


def test_confirmed_action_runs_verifies_and_is_audited(ctx, target):
    seen = []
    out = ctx.runner.run(
        SetValue(target, "green"), Confirmation.yes(), progress=lambda m, f: seen.append(m)
    )
    assert out.status == "succeeded" and out.exit_code == 0
    assert target.read_text() == "green"
    assert "writing" in seen
    started, done = audit(ctx)
    assert started["outcome"] == "started" and done["outcome"] == "succeeded"
    assert done["operator"] == "alice" and done["params"] == {"value": "green"}
    assert done["state"] == {"value": "green"} and done["duration_s"] >= 0
    assert done["guards"] == [{"name": "target healthy", "ok": True, "detail": "answers"}]
    assert ctx.journal.in_flight() is None


def test_failed_guard_refuses_and_changes_nothing(ctx, target):
    out = ctx.runner.run(SetValue(target, "green", healthy=False), Confirmation.yes())
    assert out.status == "refused" and out.exit_code == 3
    assert "HTTP 503" in out.message
    assert target.read_text() == "blue"
    assert audit(ctx)[-1]["outcome"] == "refused"


def test_force_needs_a_reason(ctx, target):
    out = ctx.runner.run(SetValue(target, "green", healthy=False), Confirmation.yes(), force=True)
    assert out.exit_code == 2
    assert target.read_text() == "blue"


def test_override_with_reason_is_recorded(ctx, target):
    out = ctx.runner.run(
        SetValue(target, "green", healthy=False),
        Confirmation.yes(),
        force=True,
        reason="health endpoint is known broken",
    )
    assert out.status == "succeeded"
    done = audit(ctx)[-1]
    assert done["override"]["reason"] == "health endpoint is known broken"
    assert done["override"]["guards"][0]["name"] == "target healthy"


def test_read_only_refuses_with_5(ctx, target):
    ro = bootstrap(
        ctx.config.model_copy(
            update={"console": ctx.config.console.model_copy(update={"read_only": True})}
        )
    )
    out = ro.runner.run(SetValue(target, "green"), Confirmation.yes())
    assert out.status == "read-only" and out.exit_code == 5
    assert target.read_text() == "blue"


def test_not_confirmed_changes_nothing(ctx, target):
    out = ctx.runner.run(SetValue(target, "green"), Confirmation(False))
    assert out.exit_code == 3 and target.read_text() == "blue"


def test_destructive_action_needs_the_environment_name(ctx, target):
    wrong = ctx.runner.run(
        SetValue(target, "green", destructive=True), Confirmation.yes("production")
    )
    assert wrong.exit_code == 3 and "staging" in wrong.hint and target.read_text() == "blue"
    right = ctx.runner.run(SetValue(target, "green", destructive=True), Confirmation.yes("staging"))
    assert right.status == "succeeded" and target.read_text() == "green"


def test_dry_run_shows_the_plan_and_changes_nothing(ctx, target):
    out = ctx.runner.run(SetValue(target, "green"), Confirmation.yes(), dry_run=True)
    assert out.status == "dry-run" and out.plan.data == {"before": "blue", "after": "green"}
    assert target.read_text() == "blue"


def test_nothing_to_do_is_not_a_change(ctx, target):
    out = ctx.runner.run(SetValue(target, "blue"), Confirmation.yes())
    assert out.status == "nothing-to-do" and out.exit_code == 0


def _hold_lock(state_dir, ready, release):
    lock = FileLock(Path(state_dir))
    with lock.hold(LockHolder("bob", "war-room-2", 4242, "restore", "2026-11-24T03:00:00+00:00")):
        ready.set()
        release.wait(10)


def test_lock_held_by_another_console_refuses_with_4_naming_the_holder(ctx, target):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(
        target=_hold_lock, args=(ctx.config.console.state_dir, ready, release)
    )
    other.start()
    try:
        assert ready.wait(10)
        assert ctx.lock.holder().operator == "bob"
        out = ctx.runner.run(SetValue(target, "green"), Confirmation.yes())
        assert out.status == "locked" and out.exit_code == 4
        assert "bob" in out.message and "restore" in out.message
        assert target.read_text() == "blue"
    finally:
        release.set()
        other.join(10)
    assert ctx.lock.holder() is None


def test_provider_failure_is_recorded_with_the_state_read_back(ctx, target):
    out = ctx.runner.run(
        SetValue(target, "green", fail=ProviderError("socket refused", "start haproxy")),
        Confirmation.yes(),
    )
    assert out.status == "failed" and out.exit_code == 1 and out.hint == "start haproxy"
    done = audit(ctx)[-1]
    assert done["outcome"] == "failed" and done["state"] == {"value": "blue"}


def test_read_back_that_differs_is_not_verified(ctx, target):
    out = ctx.runner.run(SetValue(target, "green", tamper="purple"), Confirmation.yes())
    assert out.status == "not-verified" and out.exit_code == 1
    assert "purple" in out.message


def test_ctrl_c_during_execute_is_recorded_as_interrupted(ctx, target):
    out = ctx.runner.run(SetValue(target, "green", fail=KeyboardInterrupt()), Confirmation.yes())
    assert out.status == "interrupted" and out.exit_code == 1
    done = audit(ctx)[-1]
    assert done["outcome"] == "interrupted" and done["state"] == {"value": "blue"}
    assert ctx.journal.in_flight() is None


def test_an_unexpected_error_is_recorded_not_raised(ctx, target):
    out = ctx.runner.run(
        SetValue(target, "green", fail=ZeroDivisionError("boom")), Confirmation.yes()
    )
    assert out.status == "failed" and "ZeroDivisionError" in out.message


def test_listeners_hear_every_record(ctx, target):
    heard = []
    ctx.runner.listeners.append(heard.append)
    ctx.runner.run(SetValue(target, "green"), Confirmation.yes())
    assert [r["outcome"] for r in heard] == ["started", "succeeded"]


def test_audit_log_is_jsonl_and_redacts_secrets(ctx, target):
    ctx.runner.record_event("note", message="dsn postgresql://app:hunter2@db/pm")
    raw = (ctx.config.console.state_dir / "audit.jsonl").read_text()
    assert "hunter2" not in raw
    assert json.loads(raw.splitlines()[-1])["action"] == "note"


def test_the_metrics_at_the_decision_point_are_recorded(ctx, target):
    ctx.metrics_snapshot = lambda: {"green": {"error_rate": 0.07, "p95_ms": 812.0}}
    ctx.runner.run(SetValue(target, "green"), Confirmation.yes())
    assert ctx.audit.records()[-1]["metrics"]["green"]["error_rate"] == 0.07


def test_a_change_made_elsewhere_while_confirming_refuses(ctx, target):
    def confirm_while_someone_else_acts(preview):
        target.write_text("green")  # another console switched meanwhile
        return Confirmation.yes()

    out = ctx.runner.run(SetValue(target, "purple"), confirm_while_someone_else_acts)
    assert out.status == "refused" and "changed since the plan" in out.message
    assert target.read_text() == "green"


def test_guards_are_checked_again_when_the_confirmation_was_left_open(ctx, target, monkeypatch):
    import pmb_console.actions.runner as runner_module

    action = SetValue(target, "green")

    def confirm_slowly(preview):
        action.healthy = False  # the target went unhealthy while the dialog was open
        monkeypatch.setattr(runner_module, "GUARDS_STALE_AFTER_S", -1.0)
        return Confirmation.yes()

    out = ctx.runner.run(action, confirm_slowly)
    assert out.status == "refused" and "HTTP 503" in out.message
    assert target.read_text() == "blue"


def test_a_non_exclusive_action_runs_while_another_console_holds_the_lock(ctx, target):
    class ScratchWork(SetValue):
        exclusive = False

    ready, release = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(
        target=_hold_lock, args=(ctx.config.console.state_dir, ready, release)
    )
    other.start()
    try:
        assert ready.wait(10)
        assert (
            ctx.runner.run(ScratchWork(target, "green"), Confirmation.yes()).status == "succeeded"
        )
        assert ctx.runner.run(SetValue(target, "blue"), Confirmation.yes()).status == "locked"
    finally:
        release.set()
        other.join(10)


def test_a_non_exclusive_action_leaves_an_interrupted_switchs_record_alone(ctx, target):
    """A drill beside a rollback must neither overwrite nor clear the record `resume` reads:
    here a console killed mid-switch (its pid gone) left one, and a drill then runs."""

    class ScratchWork(SetValue):
        name = "scratch-work"
        exclusive = False

    killed = {"action": "switch", "run": "r-killed", "pid": 2**22 + 12345, "plan": {}}
    ctx.journal.start(killed)
    seen: dict = {}

    class Watching(ScratchWork):
        def execute(self, c, plan, progress):
            seen["during"] = c.journal.in_flight()
            return super().execute(c, plan, progress)

    assert ctx.runner.run(Watching(target, "green"), Confirmation.yes()).status == "succeeded"
    assert seen["during"]["run"] == "r-killed"
    assert ctx.journal.in_flight()["run"] == "r-killed"
