"""The console on AWS providers (moto's server), driven through Pilot.

What the operator reads: ALB and Route53 weights in the header, the ALB target health
among the guards of a switch, and an AWS fault in words instead of weights.
"""

from __future__ import annotations

import pytest

from pmb_console.bootstrap import bootstrap
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.fixtures.moto import (
    aws_config,
    listener_weights,
    make_alb,
    make_weighted_records,
    record_weights,
)
from tests.tui.conftest import armed_confirmation, fixed_clock, screen_text, until

pytestmark = pytest.mark.aws

SIZE = (160, 45)


@pytest.fixture
def colors(http_server):
    for name in ("blue-1", "green-1"):
        http_server.route(f"/{name}/healthz", {"status": "ok"})
    return {
        color: {
            "version": "v1.0.0" if color == "blue" else "v1.1.0",
            "instances": [
                {"name": f"{color}-1", "health_url": f"{http_server.url}/{color}-1/healthz"}
            ],
        }
        for color in ("blue", "green")
    }


@pytest.fixture
def services_of(moto_aws, tmp_path, colors):
    made = []

    def make(traffic):
        cfg = aws_config(
            moto_aws, tmp_path, colors=colors, traffic=traffic, health={"timeout": 1.0}
        )
        services = bootstrap(cfg)
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


def alb_traffic(world, **alb):
    return {
        "provider": "alb",
        "alb": {"listener_arn": world.listener_arn, "target_groups": world.target_groups, **alb},
    }


async def shows(pilot, words):
    # Generous: on a busy shared machine the first poll of moto can take seconds.
    await until(pilot, lambda: words in screen_text(pilot.app), within=20, what=repr(words))


async def test_alb_weights_and_target_health_on_the_way_to_a_switch(moto_aws, services_of):
    world = make_alb(moto_aws, targets={"blue": 2, "green": 3})
    app = PmbConsoleApp(services_of(alb_traffic(world)), clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, "LIVE BLUE 100% · green 0%")
        await pilot.press("s")
        await shows(pilot, "all traffic to green")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        text = screen_text(app)
        assert "green target group has healthy targets" in text
        assert "pmb-green: 3 healthy, 0 not healthy of" in text  # the line wraps before "3 targets"
        await armed_confirmation(pilot)
        await pilot.press("tab", "enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
            what="the outcome",
        )
        assert "DONE AND VERIFIED" in screen_text(app)
        await pilot.press("enter")
        await shows(pilot, "LIVE GREEN 100% · blue 0%")
    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 0, "pmb-green": 100}


async def test_route53_weights_are_shown_as_read_from_dns(moto_aws, services_of):
    world = make_weighted_records(moto_aws, weights={"blue": 90, "green": 10})
    traffic = {
        "provider": "route53",
        "route53": {"hosted_zone_id": world.hosted_zone_id, "record_name": world.record_name},
    }
    app = PmbConsoleApp(services_of(traffic), clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, "SPLIT 90/10")
        await shows(pilot, f"clients may keep the old answer for up to {world.ttl} s")
        moto_aws.client("route53").change_resource_record_sets(
            HostedZoneId=world.hosted_zone_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": world.record_name,
                            "Type": "CNAME",
                            "SetIdentifier": color,
                            "Weight": weight,
                            "TTL": world.ttl,
                            "ResourceRecords": [{"Value": f"{color}.lb.example.com"}],
                        },
                    }
                    for color, weight in (("blue", 0), ("green", 100))
                ]
            },
        )
        await shows(pilot, "LIVE GREEN 100% · blue 0%")  # someone else moved it: we say so
    assert record_weights(moto_aws, world.hosted_zone_id) == {"blue": 0, "green": 100}


async def test_a_missing_listener_is_said_instead_of_weights(moto_aws, services_of):
    world = make_alb(moto_aws)
    traffic = alb_traffic(world, listener_arn=world.listener_arn + "0")
    app = PmbConsoleApp(services_of(traffic), clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        said = f"TRAFFIC UNKNOWN: listener {world.listener_arn}0 does not exist"

        # The header wraps the long ARN beside the large UNKNOWN: read the words, not the
        # line breaks nor the large type's glyphs.
        def words() -> str:
            return " ".join(w for w in screen_text(app).split() if w.strip("█▀▄"))

        await until(pilot, lambda: said in words(), within=20, what=said)
        assert "(DescribeListeners: ListenerNotFound)" in screen_text(app)
        assert "weight ?" in screen_text(app)  # the panes are greyed: no weight claimed


async def test_color_panes_show_alb_target_health(moto_aws, services_of):
    world = make_alb(moto_aws, targets={"blue": 2, "green": 0})
    app = PmbConsoleApp(services_of(alb_traffic(world)), clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, "LIVE BLUE")
        await shows(pilot, "2 healthy, 0 not healthy of 2 targets")
        await shows(pilot, "pmb-green: no registered targets · down")
