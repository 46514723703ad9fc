"""The Route53 router against moto's server: two weighted records, one change batch."""

from __future__ import annotations

import pytest
from botocore.stub import ANY, Stubber

from pmb_console.errors import ConfigError, ProviderError
from pmb_console.providers.aws_route53 import Route53Router
from pmb_console.providers.base import no_progress
from tests.fixtures.moto import aws_config, make_weighted_records, record_weights

pytestmark = pytest.mark.aws


def router_for(moto_aws, tmp_path, world, **section):
    r53 = {"hosted_zone_id": world.hosted_zone_id, "record_name": world.record_name, **section}
    cfg = aws_config(moto_aws, tmp_path, traffic={"provider": "route53", "route53": r53})
    return Route53Router(cfg, poll_interval=0.01, insync_timeout=5)


def switch(router, weights):
    current = router.read()
    desired = router.desired(current, weights)
    steps = []
    router.apply(current, desired, lambda message, fraction=None: steps.append(message))
    return desired, steps


def test_read_shows_weights_records_and_ttl(moto_aws, tmp_path):
    world = make_weighted_records(moto_aws, ttl=60)
    state = router_for(moto_aws, tmp_path, world).read()

    assert (state.weights, state.live) == ({"blue": 100, "green": 0}, "blue")
    assert [(s.name, s.color, s.weight) for s in state.servers] == [
        ("blue", "blue", 100),
        ("green", "green", 0),
    ]
    assert state.servers[0].detail == "CNAME blue.lb.example.com, TTL 60 s"
    assert state.detail == "clients may keep the old answer for up to 60 s (the record's TTL)"


def test_switch_upserts_both_weights_and_reads_back(moto_aws, tmp_path):
    world = make_weighted_records(moto_aws)
    router = router_for(moto_aws, tmp_path, world)

    desired, steps = switch(router, {"blue": 0, "green": 100})

    assert record_weights(moto_aws, world.hosted_zone_id) == {"blue": 0, "green": 100}
    assert router.differences(router.read(), desired) == []
    assert "Route53 change INSYNC on every name server" in steps
    assert steps[-1] == (
        "Route53 weights set; clients may keep the old answer for up to 60 s (the record's TTL)"
    )
    records = moto_aws.client("route53").list_resource_record_sets(
        HostedZoneId=world.hosted_zone_id
    )
    green = next(r for r in records["ResourceRecordSets"] if r.get("SetIdentifier") == "green")
    assert (green["TTL"], green["ResourceRecords"]) == (60, [{"Value": "green.lb.example.com"}])


def test_rollback_and_gradual_weights(moto_aws, tmp_path):
    world = make_weighted_records(moto_aws)
    router = router_for(moto_aws, tmp_path, world)

    switch(router, {"blue": 90, "green": 10})
    assert record_weights(moto_aws, world.hosted_zone_id) == {"blue": 90, "green": 10}
    assert router.read().live == "split"

    switch(router, {"blue": 100, "green": 0})
    assert record_weights(moto_aws, world.hosted_zone_id) == {"blue": 100, "green": 0}


def test_all_zero_weights_read_as_an_even_split(moto_aws, tmp_path):
    world = make_weighted_records(moto_aws, weights={"blue": 0, "green": 0})
    assert router_for(moto_aws, tmp_path, world).read().weights == {"blue": 50, "green": 50}


def test_missing_set_identifier_is_named(moto_aws, tmp_path):
    world = make_weighted_records(moto_aws)
    router = router_for(moto_aws, tmp_path, world, set_identifiers={"blue": "blue", "green": "grn"})

    with pytest.raises(ProviderError) as caught:
        router.read()
    assert (
        "has no weighted record with set identifier 'grn' (set identifiers found: blue, green)"
        in (caught.value.message)
    )


def test_missing_hosted_zone_is_named(moto_aws, tmp_path):
    world = make_weighted_records(moto_aws)
    router = router_for(moto_aws, tmp_path, world, hosted_zone_id="ZNOSUCHZONE")

    with pytest.raises(ProviderError) as caught:
        router.read()
    assert caught.value.message.startswith("hosted zone ZNOSUCHZONE does not exist")
    assert "[traffic.route53] hosted_zone_id" in caught.value.hint


def test_empty_config_keys_are_config_errors(moto_aws, tmp_path):
    # Loading a config file names these gaps (tests/unit/test_config_meaning.py); a config
    # built in code skips that check, and the router still refuses it.
    cfg = aws_config(moto_aws, tmp_path)
    cfg = cfg.model_copy(update={"traffic": cfg.traffic.model_copy(update={"provider": "route53"})})
    with pytest.raises(ConfigError) as caught:
        Route53Router(cfg)
    assert [p.key for p in caught.value.problems] == [
        "traffic.route53.hosted_zone_id",
        "traffic.route53.record_name",
    ]


# --- what moto cannot show: botocore's Stubber stands in for Route53 ----------------------


def stubbed(moto_aws, tmp_path):
    world = make_weighted_records(moto_aws)
    router = router_for(moto_aws, tmp_path, world)
    records = router.client.list_resource_record_sets(
        HostedZoneId=world.hosted_zone_id,
        StartRecordName=world.record_name,
        StartRecordType="CNAME",
    )
    return (
        router,
        Stubber(router.client),
        {
            "ResourceRecordSets": records["ResourceRecordSets"],
            "IsTruncated": False,
            "MaxItems": "100",
        },
    )


def change_info(status):
    from datetime import UTC, datetime

    return {"ChangeInfo": {"Id": "/change/C1", "Status": status, "SubmittedAt": datetime.now(UTC)}}


def test_stubbed_pending_change_is_waited_for_with_progress(moto_aws, tmp_path):
    router, stub, records = stubbed(moto_aws, tmp_path)
    stub.add_response("list_resource_record_sets", records)
    stub.add_response(
        "change_resource_record_sets",
        change_info("PENDING"),
        {"HostedZoneId": router.zone_id, "ChangeBatch": ANY},
    )
    stub.add_response("get_change", change_info("PENDING"), {"Id": "/change/C1"})
    stub.add_response("get_change", change_info("INSYNC"), {"Id": "/change/C1"})
    steps = []
    current = router.desired(router.read(), {"blue": 100, "green": 0})
    with stub:
        router.apply(
            current,
            router.desired(current, {"blue": 0, "green": 100}),
            lambda m, f=None: steps.append(m),
        )
    stub.assert_no_pending_responses()
    pending = [s for s in steps if s.startswith("Route53 change PENDING on the name servers")]
    assert len(pending) == 2
    assert "Route53 change INSYNC on every name server" in steps


def test_stubbed_change_that_never_syncs_is_reported(moto_aws, tmp_path):
    router, stub, records = stubbed(moto_aws, tmp_path)
    router.insync_timeout = 0.05
    current = router.read()
    stub.add_response("list_resource_record_sets", records)
    stub.add_response("change_resource_record_sets", change_info("PENDING"))
    for _ in range(50):
        stub.add_response("get_change", change_info("PENDING"))
    with stub, pytest.raises(ProviderError) as caught:
        router.apply(current, router.desired(current, {"blue": 0, "green": 100}), no_progress)
    assert caught.value.message.startswith(
        "Route53 accepted the change but it is still PENDING after"
    )
    assert "run status" in caught.value.hint


def test_stubbed_throttled_change_changes_nothing(moto_aws, tmp_path):
    router, stub, records = stubbed(moto_aws, tmp_path)
    current = router.read()
    stub.add_response("list_resource_record_sets", records)
    stub.add_client_error("change_resource_record_sets", "Throttling", "Rate exceeded", 400)
    with stub, pytest.raises(ProviderError) as caught:
        router.apply(current, router.desired(current, {"blue": 0, "green": 100}), no_progress)
    assert caught.value.message.startswith(
        "AWS is throttling ChangeResourceRecordSets on CNAME app.example.com."
    )
    assert router.read().weights == {"blue": 100, "green": 0}
