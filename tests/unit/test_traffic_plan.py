"""Deciding a switch is pure: plan_switch, the HAProxy weights, rollback's target. No I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmb_console.actions.traffic import plan_switch, rollback_target
from pmb_console.errors import UsageError
from pmb_console.providers.base import ServerState, TrafficState
from pmb_console.providers.haproxy import (
    MAX_WEIGHT,
    change_commands,
    desired_state,
    traffic_percent,
)


def state(blue: list[tuple[int, str]], green: list[tuple[int, str]]) -> TrafficState:
    """A TrafficState from (weight, admin) per server of each color."""
    servers = tuple(
        ServerState(f"{color}-{i}", color, weight, admin)
        for color, members in (("blue", blue), ("green", green))
        for i, (weight, admin) in enumerate(members, start=1)
    )
    return TrafficState("haproxy", traffic_percent(servers), servers)


BLUE_LIVE = state([(100, "ready")], [(0, "ready")])


# --- plan_switch -------------------------------------------------------------------------


def test_full_switch_gives_everything_to_the_target():
    assert plan_switch(BLUE_LIVE, "green") == {"green": 100, "blue": 0}


def test_partial_switch_leaves_the_rest_to_the_other_color():
    assert plan_switch(BLUE_LIVE, "green", 10) == {"green": 10, "blue": 90}


@pytest.mark.parametrize("target", ["red", "", "Blue"])
def test_unknown_color_is_a_usage_error(target):
    with pytest.raises(UsageError, match="unknown color"):
        plan_switch(BLUE_LIVE, target)


@pytest.mark.parametrize("weight", [0, -5, 101, 50.5, "50", True])
def test_weight_outside_1_to_100_is_a_usage_error(weight):
    with pytest.raises(UsageError, match="--weight"):
        plan_switch(BLUE_LIVE, "green", weight)


def test_a_color_without_servers_cannot_receive_traffic():
    only_blue = state([(100, "ready")], [])
    with pytest.raises(UsageError, match="no green servers"):
        plan_switch(only_blue, "green")


# --- traffic_percent ---------------------------------------------------------------------


def test_percent_ignores_servers_in_maintenance_or_drain():
    s = state([(100, "ready"), (100, "maint")], [(100, "drain"), (50, "ready")])
    assert s.weights == {"blue": 67, "green": 33}


def test_no_carrying_weight_means_no_traffic():
    assert state([(0, "ready")], [(100, "maint")]).weights == {"blue": 0, "green": 0}
    assert state([(0, "ready")], [(100, "maint")]).live == "none"


def test_a_trickle_is_never_rounded_away():
    s = state([(256, "ready")] * 3, [(1, "ready")])
    assert s.weights == {"blue": 99, "green": 1}
    assert s.live == "split"


# --- desired weights ---------------------------------------------------------------------


def test_one_server_each_gets_readable_weights():
    after = desired_state(BLUE_LIVE, {"blue": 0, "green": 100})
    assert {s.name: s.weight for s in after.servers} == {"blue-1": 0, "green-1": 100}


def test_uneven_server_counts_use_the_lcm():
    current = state([(100, "ready")] * 2, [(0, "ready")] * 3)
    after = desired_state(current, {"blue": 50, "green": 50})
    weights = {s.name: s.weight for s in after.servers}
    assert weights == {"blue-1": 150, "blue-2": 150, "green-1": 100, "green-2": 100, "green-3": 100}
    assert traffic_percent(after.servers) == {"blue": 50, "green": 50}


def test_target_servers_in_maint_or_drain_are_made_ready_others_left_alone():
    current = state([(100, "ready"), (0, "maint")], [(100, "maint"), (0, "drain")])
    after = desired_state(current, {"blue": 0, "green": 100})
    admin = {s.name: s.admin for s in after.servers}
    assert admin == {"blue-1": "ready", "blue-2": "maint", "green-1": "ready", "green-2": "ready"}


def test_weights_must_sum_to_100():
    with pytest.raises(UsageError, match="sum to 100"):
        desired_state(BLUE_LIVE, {"blue": 50, "green": 60})


@given(
    n_blue=st.integers(1, 12),
    n_green=st.integers(1, 12),
    green=st.integers(0, 100),
    blue_admin=st.sampled_from(["ready", "maint", "drain"]),
)
def test_desired_weights_read_back_as_exactly_the_plan(n_blue, n_green, green, blue_admin):
    current = state([(37, blue_admin)] * n_blue, [(0, "maint")] * n_green)
    wanted = {"blue": 100 - green, "green": green}

    after = desired_state(current, wanted)

    assert all(0 <= s.weight <= MAX_WEIGHT for s in after.servers)
    assert traffic_percent(after.servers) == wanted
    assert after.weights == wanted
    for s in after.servers:
        if s.weight:
            assert s.admin == "ready"
    for color in ("blue", "green"):
        mine = [s.weight for s in after.servers if s.color == color]
        assert max(mine) - min(mine) <= 1  # a color's share is spread evenly


def test_a_tiny_share_over_many_servers_is_still_exact():
    # 1% over four green servers against one blue at most 256 cannot give every green
    # server a weight: the share goes to as few as it needs, and reads back as 1%.
    current = state([(100, "ready")], [(0, "ready")] * 4)
    after = desired_state(current, {"blue": 99, "green": 1})
    assert [s.weight for s in after.servers] == [198, 1, 1, 0, 0]
    assert traffic_percent(after.servers) == {"blue": 99, "green": 1}


# --- the commands sent -------------------------------------------------------------------


def test_commands_add_traffic_first_then_take_it_away():
    current = state([(100, "ready")], [(0, "maint")])
    after = desired_state(current, {"blue": 0, "green": 100})
    assert change_commands("be", current, after) == (
        ["set server be/green-1 state ready", "set server be/green-1 weight 100"],
        ["set server be/blue-1 weight 0"],
    )


def test_a_split_that_only_moves_weight_between_colors():
    current = state([(100, "ready")], [(0, "ready")])
    after = desired_state(current, {"blue": 75, "green": 25})
    assert change_commands("be", current, after) == (
        ["set server be/green-1 weight 25"],
        ["set server be/blue-1 weight 75"],
    )


def test_nothing_to_send_when_already_there():
    unchanged = desired_state(BLUE_LIVE, {"blue": 100, "green": 0})
    assert change_commands("be", BLUE_LIVE, unchanged) == ([], [])


# --- rollback's target -------------------------------------------------------------------


def record(action, outcome, before_live):
    plan = {"summary": "", "steps": [], "data": {"before": {"live": before_live}}}
    return {"action": action, "outcome": outcome, "plan": plan, "time": "t", "operator": "op"}


def test_rollback_goes_to_the_color_live_before_the_last_verified_switch():
    records = [
        record("switch", "succeeded", "green"),
        record("switch", "succeeded", "blue"),
        record("switch", "not-verified", "green"),  # not verified: does not count
        record("switch", "started", "green"),
        record("snapshot", "succeeded", None),
    ]
    assert rollback_target(records)[0] == "blue"


def test_a_rollback_counts_as_a_switch():
    records = [record("switch", "succeeded", "blue"), record("rollback", "succeeded", "green")]
    assert rollback_target(records)[0] == "green"


def test_rollback_target_unknown_without_history():
    target, why = rollback_target([record("switch", "failed", "blue")])
    assert target is None and "no verified switch" in why


def test_rollback_refuses_when_traffic_was_split_before():
    target, why = rollback_target([record("switch", "succeeded", "split")])
    assert target is None and "split" in why
