"""The ALB router against moto's server: weights, target health, switch and read-back."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from pmb_console.errors import ConfigError, ProviderError
from pmb_console.providers.aws import make_client
from pmb_console.providers.aws_alb import AlbRouter
from pmb_console.providers.base import no_progress
from tests.fixtures.moto import aws_config, listener_weights, make_alb

pytestmark = pytest.mark.aws


def router_for(moto_aws, tmp_path, world, **alb):
    section = {"listener_arn": world.listener_arn, "target_groups": world.target_groups, **alb}
    cfg = aws_config(moto_aws, tmp_path, traffic={"provider": "alb", "alb": section})
    return AlbRouter(cfg)


def switch(router, weights):
    current = router.read()
    desired = router.desired(current, weights)
    steps = []
    router.apply(current, desired, lambda message, fraction=None: steps.append(message))
    return desired, steps


def test_read_shows_weights_and_target_health(moto_aws, tmp_path):
    world = make_alb(moto_aws, targets={"blue": 2, "green": 0})
    state = router_for(moto_aws, tmp_path, world).read()

    assert state.weights == {"blue": 100, "green": 0}
    assert state.live == "blue"
    blue, green = state.servers
    assert (blue.name, blue.color, blue.weight, blue.operational) == ("pmb-blue", "blue", 100, "up")
    assert blue.detail == "2 healthy, 0 not healthy of 2 targets"
    assert (green.name, green.operational, green.detail) == (
        "pmb-green",
        "down",
        "no registered targets",
    )
    assert "stickiness" in state.detail and "300 s" in state.detail


def test_switch_rewrites_only_the_weights(moto_aws, tmp_path):
    world = make_alb(moto_aws)
    router = router_for(moto_aws, tmp_path, world)

    desired, steps = switch(router, {"blue": 0, "green": 100})

    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 0, "pmb-green": 100}
    listener = moto_aws.client("elbv2").describe_listeners(ListenerArns=[world.listener_arn])[
        "Listeners"
    ][0]
    forward = listener["DefaultActions"][0]["ForwardConfig"]
    assert forward["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 300}
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert router.differences(router.read(), desired) == []
    assert steps[-1] == "ALB listener now forwards blue 0% / green 100%"


def test_rollback_returns_traffic_to_blue(moto_aws, tmp_path):
    world = make_alb(moto_aws)
    router = router_for(moto_aws, tmp_path, world)
    switch(router, {"blue": 0, "green": 100})

    switch(router, {"blue": 100, "green": 0})

    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 100, "pmb-green": 0}
    assert router.read().live == "blue"


def test_gradual_weight_splits_traffic(moto_aws, tmp_path):
    world = make_alb(moto_aws)
    router = router_for(moto_aws, tmp_path, world)

    switch(router, {"blue": 75, "green": 25})

    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 75, "pmb-green": 25}
    state = router.read()
    assert (state.live, state.weights) == ("split", {"blue": 75, "green": 25})


def test_weights_not_in_percent_are_read_as_shares(moto_aws, tmp_path):
    world = make_alb(moto_aws, weights={"blue": 1, "green": 3})
    assert router_for(moto_aws, tmp_path, world).read().weights == {"blue": 25, "green": 75}


def test_guard_fails_when_receiving_group_has_no_healthy_targets(moto_aws, tmp_path):
    world = make_alb(moto_aws, targets={"blue": 2, "green": 0})
    router = router_for(moto_aws, tmp_path, world)

    [green] = router.guards("green")
    [blue] = router.guards("blue")

    assert not green.ok and green.detail == "pmb-green: no registered targets"
    assert blue.ok and blue.detail == "pmb-blue: 2 healthy, 0 not healthy of 2 targets"
    assert router.healthy_targets("blue") == 2


def test_listener_forwarding_elsewhere_is_reported_not_guessed(moto_aws, tmp_path):
    world = make_alb(moto_aws)
    elb = moto_aws.client("elbv2")
    elb.modify_listener(
        ListenerArn=world.listener_arn,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": world.target_groups["blue"]}],
    )
    router = router_for(moto_aws, tmp_path, world)

    with pytest.raises(ProviderError) as caught:
        router.read()
    assert (
        "forwards to pmb-blue, not to exactly the configured blue and green" in caught.value.message
    )
    with pytest.raises(ProviderError):
        switch(router, {"blue": 0, "green": 100})
    assert (
        elb.describe_listeners(ListenerArns=[world.listener_arn])["Listeners"][0]["DefaultActions"][
            0
        ]["TargetGroupArn"]
        == world.target_groups["blue"]
    )


def test_missing_listener_names_the_config_key(moto_aws, tmp_path):
    world = make_alb(moto_aws)
    router = router_for(moto_aws, tmp_path, world, listener_arn=world.listener_arn + "0")

    with pytest.raises(ProviderError) as caught:
        router.read()
    assert "does not exist (DescribeListeners: ListenerNotFound)" in caught.value.message
    assert "[traffic.alb] listener_arn" in caught.value.hint


def test_missing_target_group_is_named(moto_aws, tmp_path):
    world = make_alb(moto_aws)
    # A group in use cannot be deleted, so the config names one that never existed.
    groups = {**world.target_groups, "green": world.target_groups["green"][:-4] + "beef"}
    router = router_for(moto_aws, tmp_path, world, target_groups=groups)

    with pytest.raises(ProviderError) as caught:
        router.guards("green")
    assert "target group" in caught.value.message and "does not exist" in caught.value.message


def test_empty_config_keys_are_config_errors(moto_aws, tmp_path):
    # Loading a config file names these gaps (tests/unit/test_config_meaning.py); a config
    # built in code skips that check, and the router still refuses it.
    cfg = aws_config(moto_aws, tmp_path)
    cfg = cfg.model_copy(update={"traffic": cfg.traffic.model_copy(update={"provider": "alb"})})
    with pytest.raises(ConfigError) as caught:
        AlbRouter(cfg)
    keys = [p.key for p in caught.value.problems]
    assert keys == [
        "traffic.alb.listener_arn",
        "traffic.alb.target_groups.blue",
        "traffic.alb.target_groups.green",
    ]


def test_unreachable_endpoint_is_worded(tmp_path, moto_aws):
    world = make_alb(moto_aws)
    cfg = aws_config(
        moto_aws,
        tmp_path,
        traffic={
            "provider": "alb",
            "alb": {"listener_arn": world.listener_arn, "target_groups": world.target_groups},
        },
    )
    dead = cfg.aws.model_copy(update={"endpoint_url": "http://127.0.0.1:9"})
    router = AlbRouter(cfg, client=make_client(dead, "elbv2", max_attempts=1))

    with pytest.raises(ProviderError) as caught:
        router.read()
    assert "cannot reach the AWS endpoint for DescribeListeners" in caught.value.message


# --- faults moto cannot produce: botocore's Stubber stands in for AWS -------------------


def stubbed(moto_aws, tmp_path):
    router = router_for(moto_aws, tmp_path, make_alb(moto_aws))
    return router, Stubber(router.client)


def test_stubbed_throttling_beyond_retries_changes_nothing(moto_aws, tmp_path):
    router, stub = stubbed(moto_aws, tmp_path)
    current = router.read()
    stub.add_client_error("describe_listeners", "Throttling", "Rate exceeded", 400)
    with stub, pytest.raises(ProviderError) as caught:
        router.apply(current, router.desired(current, {"blue": 0, "green": 100}), no_progress)
    assert caught.value.message.startswith("AWS is throttling DescribeListeners on listener arn:")
    assert "wait a minute" in caught.value.hint
    assert router.read().weights == {"blue": 100, "green": 0}


def test_stubbed_expired_token(moto_aws, tmp_path):
    router, stub = stubbed(moto_aws, tmp_path)
    stub.add_client_error(
        "describe_listeners",
        "ExpiredToken",
        "The security token included in the request is expired",
        400,
    )
    with stub, pytest.raises(ProviderError) as caught:
        router.read()
    assert "AWS credentials have expired (DescribeListeners" in caught.value.message
    assert "refresh them" in caught.value.hint


def test_stubbed_access_denied_names_call_and_resource(moto_aws, tmp_path):
    router, stub = stubbed(moto_aws, tmp_path)
    stub.add_client_error("describe_listeners", "AccessDenied", "User is not authorized", 403)
    with stub, pytest.raises(ProviderError) as caught:
        router.read()
    assert f"AWS denied DescribeListeners on listener {router.listener_arn}" in caught.value.message
    assert "elasticloadbalancing:DescribeListeners" in caught.value.hint


def test_stubbed_server_error_on_modify_leaves_weights(moto_aws, tmp_path):
    router, stub = stubbed(moto_aws, tmp_path)
    current = router.read()
    listener = router.client.describe_listeners(ListenerArns=[router.listener_arn])
    stub.add_response("describe_listeners", {"Listeners": listener["Listeners"]})
    stub.add_client_error("modify_listener", "InternalFailure", "Internal failure", 500)
    with stub, pytest.raises(ProviderError) as caught:
        router.apply(current, router.desired(current, {"blue": 0, "green": 100}), no_progress)
    assert caught.value.message.startswith("AWS answered 500 InternalFailure to ModifyListener")
    assert listener_weights(moto_aws, router.listener_arn) == {"pmb-blue": 100, "pmb-green": 0}


def test_a_password_in_the_endpoint_url_is_never_printed(tmp_path, moto_aws):
    world = make_alb(moto_aws)
    cfg = aws_config(
        moto_aws,
        tmp_path,
        traffic={
            "provider": "alb",
            "alb": {"listener_arn": world.listener_arn, "target_groups": world.target_groups},
        },
    )
    leaky = cfg.aws.model_copy(update={"endpoint_url": "http://proxy:hunter2@127.0.0.1:9"})
    router = AlbRouter(cfg, client=make_client(leaky, "elbv2", max_attempts=1))

    with pytest.raises(ProviderError) as caught:
        router.read()
    assert "cannot reach the AWS endpoint" in caught.value.message
    assert "hunter2" not in str(caught.value)
