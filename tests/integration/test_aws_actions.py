"""Switch, rollback, snapshot and restore through the ActionRunner on AWS providers.

Everything goes through `bootstrap(config).runner.run(...)`, as the CLI and the console
do, and is asserted by reading AWS state back through boto3.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.stub import Stubber

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import (
    PruneSnapshotsAction,
    RestoreAction,
    SnapshotAction,
    list_snapshots,
)
from pmb_console.actions.traffic import RollbackAction, SwitchAction
from pmb_console.backup_policy import backup_policy
from pmb_console.bootstrap import bootstrap
from pmb_console.errors import ExitCode
from tests.fixtures.moto import (
    REGION,
    aws_config,
    listener_weights,
    make_alb,
    make_rds_instance,
    make_weighted_records,
    record_weights,
)

pytestmark = pytest.mark.aws


@pytest.fixture
def colors(http_server):
    """Both colors' health endpoints answering 200, on a real local HTTP server."""
    for name in ("blue-1", "green-1"):
        http_server.route(f"/{name}/healthz", {"status": "ok"})
    return {
        color: {
            "instances": [
                {"name": f"{color}-1", "health_url": f"{http_server.url}/{color}-1/healthz"}
            ]
        }
        for color in ("blue", "green")
    }


def services_for(moto_aws, tmp_path, colors, **sections):
    ctx = bootstrap(aws_config(moto_aws, tmp_path, colors=colors, **sections))
    return ctx


def run(ctx, action, typed=""):
    return ctx.runner.run(action, Confirmation.yes(typed))


def alb_services(moto_aws, tmp_path, colors, world):
    alb = {"listener_arn": world.listener_arn, "target_groups": world.target_groups}
    return services_for(moto_aws, tmp_path, colors, traffic={"provider": "alb", "alb": alb})


def test_alb_switch_and_rollback_through_the_runner(moto_aws, tmp_path, colors):
    world = make_alb(moto_aws)
    ctx = alb_services(moto_aws, tmp_path, colors, world)

    switched = run(ctx, SwitchAction("green"))

    assert switched.status == "succeeded", switched.message
    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 0, "pmb-green": 100}
    assert "green target group has healthy targets" in [g.name for g in switched.guards]

    rolled_back = run(ctx, RollbackAction())

    assert rolled_back.status == "succeeded", rolled_back.message
    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 100, "pmb-green": 0}
    outcomes = [
        (r["action"], r["outcome"]) for r in ctx.audit.records() if r["outcome"] != "started"
    ]
    assert outcomes == [("switch", "succeeded"), ("rollback", "succeeded")]


def test_alb_gradual_weight_through_the_runner(moto_aws, tmp_path, colors):
    world = make_alb(moto_aws)
    ctx = alb_services(moto_aws, tmp_path, colors, world)

    outcome = run(ctx, SwitchAction("green", weight=10))

    assert outcome.status == "succeeded", outcome.message
    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 90, "pmb-green": 10}
    assert outcome.verification.state["live"] == "split"


def test_alb_switch_to_a_group_without_healthy_targets_is_refused(moto_aws, tmp_path, colors):
    world = make_alb(moto_aws, targets={"blue": 2, "green": 0})
    ctx = alb_services(moto_aws, tmp_path, colors, world)

    outcome = run(ctx, SwitchAction("green"))

    assert (outcome.status, outcome.exit_code) == ("refused", ExitCode.REFUSED)
    assert (
        "green target group has healthy targets: pmb-green: no registered targets"
        in outcome.message
    )
    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 100, "pmb-green": 0}


def test_stubbed_throttling_fails_the_switch_with_words_and_changes_nothing(
    moto_aws, tmp_path, colors
):
    """moto never throttles: botocore's Stubber answers the listener read with Throttling."""
    world = make_alb(moto_aws)
    ctx = alb_services(moto_aws, tmp_path, colors, world)
    client = ctx.router.client
    health = client.describe_target_health(TargetGroupArn=world.target_groups["green"])
    stub = Stubber(client)
    stub.add_response(
        "describe_target_health", {"TargetHealthDescriptions": health["TargetHealthDescriptions"]}
    )
    stub.add_client_error("describe_listeners", "Throttling", "Rate exceeded", 400)

    with stub:
        outcome = run(ctx, SwitchAction("green"))

    assert (outcome.status, outcome.exit_code) == ("failed", ExitCode.FAILED)
    assert outcome.message.startswith("AWS is throttling DescribeListeners")
    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 100, "pmb-green": 0}


def test_route53_switch_and_rollback_through_the_runner(moto_aws, tmp_path, colors):
    world = make_weighted_records(moto_aws, ttl=300)
    r53 = {"hosted_zone_id": world.hosted_zone_id, "record_name": world.record_name}
    ctx = services_for(moto_aws, tmp_path, colors, traffic={"provider": "route53", "route53": r53})

    switched = run(ctx, SwitchAction("green"))

    assert switched.status == "succeeded", switched.message
    assert record_weights(moto_aws, world.hosted_zone_id) == {"blue": 0, "green": 100}
    assert "up to 300 s" in switched.verification.state["detail"]

    rolled_back = run(ctx, RollbackAction())

    assert rolled_back.status == "succeeded", rolled_back.message
    assert record_weights(moto_aws, world.hosted_zone_id) == {"blue": 100, "green": 0}


def test_rds_snapshot_and_restore_through_the_runner(moto_aws, tmp_path, colors):
    make_rds_instance(moto_aws)
    ctx = services_for(
        moto_aws, tmp_path, colors, database={"provider": "rds", "rds": {"instance_id": "pmb-prod"}}
    )
    rds = moto_aws.client("rds")

    taken = run(ctx, SnapshotAction("before v1.1.0"))

    assert taken.status == "succeeded", taken.message
    snapshot_id = taken.result["snapshot_id"]
    assert rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0][
        "Status"
    ] == ("available")

    wrong_name = run(ctx, RestoreAction(snapshot_id), typed="staging")
    assert wrong_name.status == "not-confirmed"

    restored = run(ctx, RestoreAction(snapshot_id), typed="production")

    assert restored.status == "succeeded", restored.message
    instances = {i["DBInstanceIdentifier"]: i for i in rds.describe_db_instances()["DBInstances"]}
    assert "pmb-prod" in instances and len(instances) == 2
    tags = rds.list_tags_for_resource(ResourceName=instances["pmb-prod"]["DBInstanceArn"])[
        "TagList"
    ]
    assert {"Key": "pmb-console:restored-from", "Value": snapshot_id} in tags
    safety = restored.result["safety_snapshot_id"]
    safety_of = rds.describe_db_snapshots(DBSnapshotIdentifier=safety)["DBSnapshots"][0]
    assert safety_of["DBInstanceIdentifier"] == "pmb-prod"  # taken before the restore began


def test_alb_switch_is_not_verified_when_the_receiving_group_loses_its_targets(
    moto_aws, tmp_path, colors
):
    """Target health is read again after the switch, not only before it.

    The group's targets are deregistered through real boto3 right after our change,
    standing in for an autoscaler or another operator emptying green mid-switch.
    """
    from pmb_console.providers.aws_alb import AlbRouter

    world = make_alb(moto_aws)
    ctx = alb_services(moto_aws, tmp_path, colors, world)
    real_router = ctx.router
    elb = moto_aws.client("elbv2")
    green = world.target_groups["green"]

    class EmptiedAfterApply(AlbRouter):
        def apply(self, current, desired, progress):
            super().apply(current, desired, progress)
            targets = elb.describe_target_health(TargetGroupArn=green)["TargetHealthDescriptions"]
            elb.deregister_targets(TargetGroupArn=green, Targets=[t["Target"] for t in targets])

    ctx.router = EmptiedAfterApply(ctx.config)
    real_router.close()
    out = run(ctx, SwitchAction("green"))
    assert out.status == "not-verified" and out.exit_code == ExitCode.FAILED
    assert "after the switch" in out.message and "green" in out.message
    assert listener_weights(moto_aws, world.listener_arn) == {"pmb-blue": 0, "pmb-green": 100}


def back_date(snapshot_id, days):
    """Make moto report a snapshot as taken `days` ago.

    RDS sets a snapshot's creation time itself and moto offers no call to change it, so
    the test moves it back in the emulator's own record (the server runs in this process);
    the console then reads it over HTTP like any other snapshot.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.rds.models import rds_backends

    snapshot = rds_backends[DEFAULT_ACCOUNT_ID][REGION].database_snapshots[snapshot_id]
    snapshot.created = snapshot.created - timedelta(days=days)


def snapshot_ids(moto_aws):
    listed = moto_aws.client("rds").describe_db_snapshots(DBInstanceIdentifier="pmb-prod")
    return {s["DBSnapshotIdentifier"]: s["SnapshotType"] for s in listed["DBSnapshots"]}


def test_rds_prune_deletes_only_our_own_expired_snapshots(moto_aws, tmp_path, colors):
    """Automated snapshots are RDS's to expire and a DBA's hand-made one is theirs to keep."""
    make_rds_instance(moto_aws)  # moto takes an automated snapshot at creation
    ctx = services_for(
        moto_aws, tmp_path, colors, database={"provider": "rds", "rds": {"instance_id": "pmb-prod"}}
    )
    rds = moto_aws.client("rds")
    [automated] = [i for i, kind in snapshot_ids(moto_aws).items() if kind == "automated"]
    old_ours = run(ctx, SnapshotAction("last month")).result["snapshot_id"]
    rds.create_db_snapshot(DBInstanceIdentifier="pmb-prod", DBSnapshotIdentifier="dba-handmade")
    for snapshot_id, days in ((automated, 40), (old_ours, 35), ("dba-handmade", 33)):
        back_date(snapshot_id, days)
    new_ours = run(ctx, SnapshotAction("today")).result["snapshot_id"]

    listed = {s.id: s for s in list_snapshots(ctx)}
    assert [i for i, s in listed.items() if s.manifest["expired"]] == [old_ours]
    policy = backup_policy(list(listed.values()), max_age_hours=24, retention_days=30)
    assert [s.id for s in policy.expired] == [old_ours]

    pruned = run(ctx, PruneSnapshotsAction())

    assert pruned.status == "succeeded", pruned.message
    assert pruned.result["deleted"] == [old_ours]
    assert set(snapshot_ids(moto_aws)) == {automated, "dba-handmade", new_ours}
    again = run(ctx, PruneSnapshotsAction())
    assert again.status == "nothing-to-do", again.message


def safety_snapshots(moto_aws):
    """Every safety snapshot, of whichever instance (mid-restore ours is renamed aside)."""
    listed = moto_aws.client("rds").describe_db_snapshots()["DBSnapshots"]
    return [s["DBSnapshotIdentifier"] for s in listed if "-safety-" in s["DBSnapshotIdentifier"]]


def test_continuing_an_interrupted_rds_restore_takes_no_second_safety_snapshot(
    moto_aws, tmp_path, colors
):
    """Stopped at step 4 the endpoint has no instance: continuing must not wait for a snapshot."""
    make_rds_instance(moto_aws)
    rds_section = {"provider": "rds", "rds": {"instance_id": "pmb-prod"}}
    ctx = services_for(moto_aws, tmp_path, colors, database=rds_section)
    snapshot_id = run(ctx, SnapshotAction("good data")).result["snapshot_id"]

    def ctrl_c_at_rename_into_place(message, fraction=None):
        if message.startswith("step 4/4"):
            raise KeyboardInterrupt

    stopped = ctx.runner.run(
        RestoreAction(snapshot_id),
        Confirmation.yes("production"),
        progress=ctrl_c_at_rename_into_place,
    )
    assert stopped.status == "interrupted"
    instances = {
        i["DBInstanceIdentifier"]
        for i in moto_aws.client("rds").describe_db_instances()["DBInstances"]
    }
    assert "pmb-prod" not in instances  # renamed aside; the restored one not yet in place
    [first_safety] = safety_snapshots(moto_aws)

    again = services_for(moto_aws, tmp_path, colors, database=rds_section)  # a new console
    preview = again.runner.preview(RestoreAction(snapshot_id))
    said = []
    continued = again.runner.run(
        RestoreAction(snapshot_id),
        Confirmation.yes("production"),
        progress=lambda m, f=None: said.append(m),
    )

    assert continued.status == "succeeded", continued.message
    assert safety_snapshots(moto_aws) == [first_safety]
    assert continued.result["safety_snapshot_id"] == first_safety
    assert any(
        first_safety in step and "no new safety snapshot" in step for step in preview.plan.steps
    )
    assert said[0] == (
        f"no new safety snapshot: continuing the interrupted restore of {snapshot_id}, "
        f"whose safety snapshot {first_safety} holds the database as it was before"
    )
    instances = {
        i["DBInstanceIdentifier"]
        for i in moto_aws.client("rds").describe_db_instances()["DBInstances"]
    }
    assert "pmb-prod" in instances
