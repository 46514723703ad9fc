"""The demo router behaves like a real one for the action layer: live reads, verified changes."""

from __future__ import annotations

import json
import os
import time

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.traffic import SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.demo.controls import GameDay
from pmb_console.demo.router import DemoRouter, read_weights, write_weights
from pmb_console.demo.stack import DemoStack
from pmb_console.errors import ProviderError, UsageError


@pytest.fixture
def stack():
    with DemoStack() as s:
        yield s


def test_read_is_live_from_the_state_file(stack):
    router = DemoRouter(stack.config())
    state = router.read()
    assert state.live == "blue" and state.weights == {"blue": 100, "green": 0}
    assert [s.name for s in state.servers] == ["blue-1", "blue-2", "green-1", "green-2"]
    write_weights(stack.state_file, {"blue": 0, "green": 100})  # another console moved traffic
    assert router.read().live == "green"


def test_switch_through_the_runner_is_verified_and_audited(stack):
    services = bootstrap(stack.config())
    outcome = services.runner.run(SwitchAction("green", 25), Confirmation.yes())
    assert outcome.status == "succeeded", outcome.message
    assert read_weights(stack.state_file) == {"blue": 75, "green": 25}
    assert services.router.read().live == "split"
    assert services.audit.last(lambda r: r["action"] == "switch")["outcome"] == "succeeded"


def test_apply_refuses_when_traffic_moved_under_it(stack):
    router = DemoRouter(stack.config())
    current = router.read()
    desired = router.desired(current, {"blue": 0, "green": 100})
    write_weights(stack.state_file, {"blue": 50, "green": 50})
    with pytest.raises(ProviderError, match="traffic moved"):
        router.apply(current, desired, lambda *_: None)
    assert read_weights(stack.state_file) == {"blue": 50, "green": 50}


def test_weights_must_add_up(stack):
    router = DemoRouter(stack.config())
    current = router.read()
    with pytest.raises(ProviderError, match="summing to 100"):
        router.apply(current, router.desired(current, {"blue": 60, "green": 60}), lambda *_: None)


def test_differences_name_what_was_not_applied(stack):
    router = DemoRouter(stack.config())
    current = router.read()
    desired = router.desired(current, {"blue": 0, "green": 100})
    diffs = router.differences(current, desired)
    assert "green traffic: planned 100%, read back 0%" in diffs


def test_missing_or_damaged_state_file_is_said_in_words(stack):
    router = DemoRouter(stack.config())
    stack.state_file.write_text("{not json")
    with pytest.raises(ProviderError, match="cannot be read") as damaged:
        router.read()
    assert damaged.value.hint
    os.unlink(stack.state_file)
    with pytest.raises(ProviderError, match="does not exist"):
        router.read()


def test_no_state_file_configured_is_a_usage_error(stack):
    cfg = stack.config()
    cfg = cfg.model_copy(
        update={"traffic": cfg.traffic.model_copy(update={"demo": type(cfg.traffic.demo)()})}
    )
    with pytest.raises(UsageError, match="state_file"):
        DemoRouter(cfg)


def test_balancer_takes_a_down_instance_out_and_guards_say_so(stack):
    router = DemoRouter(stack.config())
    assert all(c.ok for c in router.guards("green"))
    game_day = GameDay(stack)
    game_day.inject("green", "instance-down")
    deadline = time.monotonic() + 5  # two failed checks a second apart
    while time.monotonic() < deadline:
        if {s.name: s.operational for s in router.read().servers}["green-1"] == "down":
            break
        time.sleep(0.2)
    servers = {s.name: s.operational for s in router.read().servers}
    assert servers["green-1"] == "down" and servers["green-2"] == "up"
    assert json.loads((stack.root / "lb-health.json").read_text())["green-1"] == "down"
    check = router.guards("green")[0]
    assert check.ok and "green-1 down" in check.detail  # one left in rotation is enough
    game_day.close()
