"""Restore drills on RDS against moto's server: a scratch instance restored beside
production, read back and deleted, whatever happens in between; production only read.

What AWS shows afterwards is read with a plain boto3 client of the test's own. Faults
moto cannot make (access denied, throttling) come from botocore's Stubber, switched on
at the moment the fault should happen, so everything before it is the real emulator.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from pmb_console import output
from pmb_console.actions.base import Confirmation
from pmb_console.actions.drill import DrillAction, DrillHistory, last_drill
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.providers.aws_rds_drill import scratch_instance_id
from pmb_console.rollback_assessment import assess
from pmb_console.tui.screens.backups import drills_table

pytestmark = pytest.mark.aws

PROD = "pmb-prod"
DSN_ENV = "PMB_TEST_RDS_DRILL_DSN"
SECRET = "not-a-real-drill-password"
PROGRAM = Path(sys.executable).with_name("pmb-console")
RDS_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)$")


# --- the world in the emulator ---------------------------------------------------------


def make_production(aws, instance_id: str = PROD) -> dict[str, Any]:
    """A production instance in its own VPC, subnet group and security group."""
    ec2, rds = aws.client("ec2"), aws.client("rds")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{n}.0/24", AvailabilityZone=f"eu-west-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName="pmb-db", Description="db", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(
        DBSubnetGroupName="pmb-db-subnets", DBSubnetGroupDescription="db", SubnetIds=subnets
    )
    return rds.create_db_instance(
        DBInstanceIdentifier=instance_id,
        DBInstanceClass="db.m5.large",
        Engine="postgres",
        AllocatedStorage=50,
        MasterUsername="pmb",
        MasterUserPassword="not-a-real-secret",
        DBSubnetGroupName="pmb-db-subnets",
        VpcSecurityGroupIds=[group],
    )["DBInstance"]


def take_snapshot(aws, snapshot_id: str, instance_id: str = PROD) -> str:
    aws.client("rds").create_db_snapshot(
        DBInstanceIdentifier=instance_id, DBSnapshotIdentifier=snapshot_id
    )
    return snapshot_id


def instance(aws, instance_id: str) -> dict[str, Any] | None:
    found = [
        i
        for i in aws.client("rds").describe_db_instances()["DBInstances"]
        if i["DBInstanceIdentifier"] == instance_id
    ]
    return found[0] if found else None


def instance_ids(aws) -> list[str]:
    return sorted(
        i["DBInstanceIdentifier"] for i in aws.client("rds").describe_db_instances()["DBInstances"]
    )


def as_production_is(raw: dict[str, Any] | None) -> dict[str, Any]:
    """What must not change on production: identity, state, size, network, endpoint, tags."""
    assert raw is not None, "the production instance is gone"
    keys = (
        "DBInstanceIdentifier",
        "DbiResourceId",
        "DBInstanceStatus",
        "DBInstanceClass",
        "Engine",
        "AllocatedStorage",
        "Endpoint",
        "VpcSecurityGroups",
        "InstanceCreateTime",
        "TagList",
    )
    return {k: raw.get(k) for k in keys} | {"subnets": raw["DBSubnetGroup"]["DBSubnetGroupName"]}


def tags(raw: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get("TagList", [])}


# --- the console's side ----------------------------------------------------------------


def write_config(aws, tmp_path: Path, *, instance_id: str = PROD, drill: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[console]
environment = "production"
operator = "oncall-1"
state_dir = "{tmp_path / "state"}"

[release]
version = "v1.1.0"

[aws]
region = "{aws.region}"
endpoint_url = "{aws.endpoint_url}"

[database]
provider = "rds"
connect_timeout = 2

[database.rds]
instance_id = "{instance_id}"

[database.drill]
smoke_query = "SELECT count(*) > 0 FROM notes"
{drill}
"""
    )
    return path


def services(config: Path):
    return bootstrap(load_config(config))


class Watch:
    """Progress, plus every RDS call the console makes (read off botocore's own events)."""

    def __init__(self, ctx, aws) -> None:
        self.aws = aws
        self.messages: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.scratch: dict[str, Any] | None = None
        """The scratch instance as RDS showed it when the delete phase began."""
        self.on: dict[str, Any] = {}
        """message prefix → callable run when such a message arrives."""
        ctx.snapshots.client.meta.events.register("provide-client-params.rds", self._call)

    def _call(self, model, params, **_: Any) -> None:
        self.calls.append((model.name, params))

    def __call__(self, message: str, fraction: float | None = None) -> None:
        self.messages.append(message)
        if message.startswith("drill delete"):
            scratch = [i for i in instance_ids(self.aws) if i.startswith(f"{PROD}-drill-")]
            self.scratch = instance(self.aws, scratch[0]) if scratch else None
        for prefix, do in self.on.items():
            if message.startswith(prefix):
                do()

    def changed(self, instance_id: str) -> list[str]:
        """Calls that changed the instance `instance_id` (restore, modify, delete, ...)."""
        return [
            name
            for name, params in self.calls
            if not name.startswith(("Describe", "List"))
            and params.get("DBInstanceIdentifier") == instance_id
        ]


def shown(renderable: Any) -> str:
    """A Rich renderable as the console's backup view draws it, in plain text."""
    from rich.console import Console

    console = Console(width=160, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def phases(record: dict[str, Any]) -> list[tuple[str, bool | None]]:
    return [(p["name"], p["ok"]) for p in record["phases"]]


# --- the drill -------------------------------------------------------------------------


def test_a_drill_restores_a_scratch_instance_checks_it_and_deletes_it(moto_aws, tmp_path):
    production = make_production(moto_aws)
    snap = take_snapshot(moto_aws, "pmb-console-nightly")  # newer than the automated one
    before = as_production_is(instance(moto_aws, PROD))
    ctx = services(write_config(moto_aws, tmp_path))
    watch = Watch(ctx, moto_aws)

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes(), progress=watch)

    assert outcome.status == "succeeded", (outcome.message, outcome.hint)
    drill = outcome.verification.state["drill"]
    scratch_id = drill["scratch_instance_id"]
    assert drill["snapshot_id"] == snap and drill["ok"] and drill["scratch_deleted"]
    assert phases(drill) == [
        ("restore", True),
        ("check", True),
        ("smoke", None),
        ("delete", True),
    ]
    smoke = drill["phases"][2]
    assert smoke["skipped"] and "rds_dsn_env" in smoke["detail"]
    assert all(p["duration_s"] >= 0 for p in drill["phases"])
    assert "50 GiB as the snapshot" in drill["phases"][1]["detail"]
    # What AWS showed while the drill ran, and shows now.
    seen = watch.scratch
    assert seen is not None and seen["DBInstanceIdentifier"] == scratch_id
    assert RDS_ID.match(scratch_id) and scratch_id.startswith(f"{PROD}-drill-")
    assert seen["DBInstanceClass"] == production["DBInstanceClass"] == "db.m5.large"
    assert seen["DBSubnetGroup"]["DBSubnetGroupName"] == "pmb-db-subnets"
    assert seen["VpcSecurityGroups"] == production["VpcSecurityGroups"]
    assert tags(seen) | {"pmb-console:drill-run": "?"} == {
        "pmb-console:drill": "true",
        "pmb-console:drill-run": "?",
        "pmb-console:restored-from": snap,
        "release": "v1.1.0",
        "operator": "oncall-1",
    }
    assert instance_ids(moto_aws) == [PROD]  # the scratch instance is gone
    assert as_production_is(instance(moto_aws, PROD)) == before
    assert watch.changed(PROD) == []  # never modified nor deleted, only read
    assert watch.changed(scratch_id) == ["RestoreDBInstanceFromDBSnapshot", "DeleteDBInstance"]
    deleted = next(p for n, p in watch.calls if n == "DeleteDBInstance")
    assert deleted["SkipFinalSnapshot"] is True
    # Progress, phase by phase, with the waits' own words.
    announced = [m.split(" (")[0] for m in watch.messages if m.startswith("drill ")]
    assert announced == ["drill restore", "drill check", "drill smoke", "drill delete"]
    assert f"restore: restoring {snap} into the scratch instance {scratch_id}" in watch.messages
    assert f"delete: deleting the scratch instance {scratch_id}" in watch.messages
    # The history, and everything that reads it, as for a pg_dump drill.
    state_dir = ctx.config.console.state_dir
    assert DrillHistory(state_dir).records() == [drill]
    assert last_drill(state_dir)["run"] == drill["run"]
    said = output.format_drills([drill])
    assert " pass " in said and "· smoke skipped ·" in said and "delete 0.0" in said
    assert " pass" in shown(drills_table([drill]))
    quoted = assess(ctx).drill
    assert quoted.known and quoted.data["duration_s"] == drill["duration_s"]
    assert "the whole drill took" in quoted.answer and "pg_restore" not in quoted.answer
    print("\nphase durations against moto:", {p["name"]: p["duration_s"] for p in drill["phases"]})


def test_the_plan_shows_the_rds_steps_and_a_dry_run_creates_nothing(moto_aws, tmp_path):
    make_production(moto_aws)
    automated = moto_aws.client("rds").describe_db_snapshots()["DBSnapshots"][0]
    ctx = services(write_config(moto_aws, tmp_path))

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes(), dry_run=True)

    assert outcome.status == "dry-run"
    steps = outcome.plan.steps
    assert [s.split(":")[0] for s in steps[:4]] == ["restore", "check", "smoke", "delete"]
    assert (
        f"{automated['DBSnapshotIdentifier']} into a new instance pmb-prod-drill-<time>"
        in (steps[0])
    )
    assert "engine postgres" in steps[1] and "50 GiB" in steps[1]
    assert steps[2].startswith("smoke: skipped (no DSN to reach the scratch instance")
    assert "also when a phase fails" in steps[3]
    assert [g.name for g in outcome.guards if g.ok] == [
        "scratch instance is not production",
        "snapshot to drill",
        "production instance readable",
    ]
    assert instance_ids(moto_aws) == [PROD]


def test_a_drill_of_a_given_automated_snapshot(moto_aws, tmp_path):
    make_production(moto_aws)
    take_snapshot(moto_aws, "pmb-console-newer")
    automated = next(
        s["DBSnapshotIdentifier"]
        for s in moto_aws.client("rds").describe_db_snapshots()["DBSnapshots"]
        if s["SnapshotType"] == "automated"
    )
    ctx = services(write_config(moto_aws, tmp_path))

    outcome = ctx.runner.run(DrillAction(automated), Confirmation.yes())

    assert outcome.status == "succeeded", outcome.message
    drill = outcome.verification.state["drill"]
    assert drill["snapshot_id"] == automated and automated.startswith("rds:")
    assert instance_ids(moto_aws) == [PROD]


def test_a_failed_phase_still_deletes_the_scratch_instance(moto_aws, tmp_path, monkeypatch):
    # The smoke phase really connects to the scratch endpoint moto names, which no DNS
    # resolves: a real failure, after the scratch instance exists.
    make_production(moto_aws)
    before = as_production_is(instance(moto_aws, PROD))
    monkeypatch.setenv(DSN_ENV, f"postgresql://drill:{SECRET}@replaced-by-the-drill/pmbuddy")
    monkeypatch.setenv("PGHOSTADDR", "127.0.0.1")  # must not lead the smoke query elsewhere
    ctx = services(write_config(moto_aws, tmp_path, drill=f'rds_dsn_env = "{DSN_ENV}"'))
    watch = Watch(ctx, moto_aws)

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes(), progress=watch)

    assert outcome.status == "failed" and outcome.exit_code == 1
    (drill,) = DrillHistory(ctx.config.console.state_dir).records()
    scratch_id = drill["scratch_instance_id"]
    assert phases(drill) == [("restore", True), ("check", True), ("smoke", False), ("delete", True)]
    assert outcome.message.startswith(f"drill of {drill['snapshot_id']} failed at the smoke phase")
    assert f"database {scratch_id}.aaaaaaaaaa.eu-west-1.rds.amazonaws.com:5432/pmbuddy" in (
        outcome.message
    )
    assert "unreachable" in outcome.message
    assert f"the scratch instance {scratch_id} was deleted" in outcome.hint
    assert not drill["ok"] and drill["scratch_deleted"]
    assert instance_ids(moto_aws) == [PROD]
    assert as_production_is(instance(moto_aws, PROD)) == before and watch.changed(PROD) == []
    assert last_drill(ctx.config.console.state_dir) is None  # nothing passed to quote
    history = (Path(ctx.config.console.state_dir) / "drills.jsonl").read_text()
    assert SECRET not in history + outcome.message + outcome.hint
    assert "FAIL at smoke" in output.format_drills([drill])


def test_ctrl_c_during_the_drill_still_deletes_the_scratch_instance(moto_aws, tmp_path):
    make_production(moto_aws)
    ctx = services(write_config(moto_aws, tmp_path))
    watch = Watch(ctx, moto_aws)

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    watch.on["drill check"] = ctrl_c

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes(), progress=watch)

    assert outcome.status == "interrupted"
    (drill,) = DrillHistory(ctx.config.console.state_dir).records()
    assert phases(drill) == [("restore", True), ("delete", True)] and not drill["ok"]
    assert instance_ids(moto_aws) == [PROD]


def test_the_snapshot_vanishing_before_the_restore_is_named(moto_aws, tmp_path):
    make_production(moto_aws)
    snap = take_snapshot(moto_aws, "pmb-console-expiring")
    ctx = services(write_config(moto_aws, tmp_path))
    watch = Watch(ctx, moto_aws)
    # Retention (or a colleague) deletes it between the plan and the restore.
    watch.on["drill restore"] = lambda: moto_aws.client("rds").delete_db_snapshot(
        DBSnapshotIdentifier=snap
    )

    outcome = ctx.runner.run(DrillAction(snap), Confirmation.yes(), progress=watch)

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.message == (
        f"drill of {snap} failed at the restore phase: snapshot {snap} does not exist "
        "(RestoreDBInstanceFromDBSnapshot: DBSnapshotNotFound)"
    )
    assert "no scratch instance was created" in outcome.hint
    assert instance_ids(moto_aws) == [PROD]
    (drill,) = DrillHistory(ctx.config.console.state_dir).records()
    assert phases(drill) == [("restore", False)]


def test_a_scratch_id_that_would_be_production_is_refused_even_with_force(moto_aws, tmp_path):
    # A production id that ends the way the drill's own ids do, at the very second the
    # drill runs: trimmed to 63 characters, the scratch id comes out as production's.
    at = datetime(2026, 11, 25, 3, 0, 0, tzinfo=UTC)
    prod = "pmb-production-database-for-the-drill-test-drill-20261125030000"
    assert len(prod) == 63 and scratch_instance_id(prod, at) == prod
    make_production(moto_aws, prod)
    take_snapshot(moto_aws, "pmb-console-x", prod)
    before = as_production_is(instance(moto_aws, prod))
    ctx = services(write_config(moto_aws, tmp_path, instance_id=prod))

    refused = ctx.runner.run(DrillAction(clock=lambda: at), Confirmation.yes())
    forced = ctx.runner.run(
        DrillAction(clock=lambda: at), Confirmation.yes(), force=True, reason="try anyway"
    )

    assert refused.status == "refused" and refused.exit_code == 3
    assert "is the production instance's; this guard cannot be overridden" in refused.message
    assert forced.status == "failed" and forced.message.startswith("drill refused")
    assert instance_ids(moto_aws) == [prod]
    assert as_production_is(instance(moto_aws, prod)) == before
    assert DrillHistory(ctx.config.console.state_dir).records() == []


@pytest.mark.parametrize(
    "production",
    [
        "pmb-prod",
        "PMB-Prod",
        "a" * 63,
        "pmb-db-" + "x" * 34 + "-tail",  # the cut lands just after a hyphen
        "pmb--prod-",
    ],
)
def test_scratch_ids_keep_to_the_rds_rules(production):
    scratch = scratch_instance_id(production, datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC))
    assert RDS_ID.match(scratch) and len(scratch) <= 63, scratch
    assert scratch.endswith("-drill-20261125030405")
    assert scratch != production.lower()


# --- faults moto cannot make: botocore's Stubber, switched on mid-drill ------------------


def test_stubbed_access_denied_on_the_restore_names_the_call(moto_aws, tmp_path):
    make_production(moto_aws)
    snap = take_snapshot(moto_aws, "pmb-console-nightly")
    ctx = services(write_config(moto_aws, tmp_path))
    watch = Watch(ctx, moto_aws)
    stub = Stubber(ctx.snapshots.client)
    stub.add_client_error(
        "restore_db_instance_from_db_snapshot", "AccessDenied", "not authorized", 403
    )
    stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "not found", 404)
    stub.add_response(  # the runner's read-back after the failure: what moto says
        "describe_db_instances",
        {"DBInstances": moto_aws.client("rds").describe_db_instances()["DBInstances"]},
    )
    watch.on["restore: restoring"] = stub.activate

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes(), progress=watch)
    stub.deactivate()

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.message == (
        f"drill of {snap} failed at the restore phase: AWS denied "
        f"RestoreDBInstanceFromDBSnapshot on snapshot {snap}: not authorized"
    )
    assert "rds:RestoreDBInstanceFromDBSnapshot" in outcome.hint
    assert "no scratch instance was created" in outcome.hint
    assert instance_ids(moto_aws) == [PROD]


def test_stubbed_throttled_delete_is_reported_loudly_with_the_instance(moto_aws, tmp_path):
    make_production(moto_aws)
    ctx = services(write_config(moto_aws, tmp_path))
    watch = Watch(ctx, moto_aws)
    stub = Stubber(ctx.snapshots.client)

    def throttle_the_delete() -> None:
        stub.add_client_error("delete_db_instance", "Throttling", "Rate exceeded", 400)
        stub.add_response(  # the runner's read-back: what moto says at that moment
            "describe_db_instances",
            {"DBInstances": moto_aws.client("rds").describe_db_instances()["DBInstances"]},
        )
        stub.activate()

    watch.on["delete: deleting"] = throttle_the_delete

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes(), progress=watch)
    stub.deactivate()

    (drill,) = DrillHistory(ctx.config.console.state_dir).records()
    scratch_id = drill["scratch_instance_id"]
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.message == (
        f"the scratch RDS instance {scratch_id} was NOT deleted: AWS is throttling "
        f"DeleteDBInstance on instance {scratch_id}, still refused after 5 attempts"
    )
    assert f"--db-instance-identifier {scratch_id} --skip-final-snapshot" in outcome.hint
    assert instance_ids(moto_aws) == sorted([PROD, scratch_id])  # left for a person
    assert not drill["ok"] and not drill["scratch_deleted"]
    assert phases(drill)[-1] == ("delete", False)
    assert "FAIL at delete" in output.format_drills([drill])
    assert "FAIL at delete" in shown(drills_table([drill]))
    audited = ctx.audit.records()[-1]
    assert audited["outcome"] == "failed"
    assert audited["state"] == {"drill_instances_left": [scratch_id]}


def test_stubbed_delete_refused_while_the_instance_settles_is_asked_again(moto_aws, tmp_path):
    # RDS refuses to delete an instance in some states (InvalidDBInstanceState): the drill
    # waits until it settles and asks again. Only the delete phase's calls are stubbed.
    make_production(moto_aws)
    ctx = services(write_config(moto_aws, tmp_path))
    watch = Watch(ctx, moto_aws)
    stub = Stubber(ctx.snapshots.client)
    scratch: list[str] = []

    def refuse_once() -> None:
        scratch.extend(i for i in instance_ids(moto_aws) if i != PROD)

        def seen(status: str) -> dict[str, Any]:
            return {
                "DBInstances": [{"DBInstanceIdentifier": scratch[0], "DBInstanceStatus": status}]
            }

        stub.add_client_error("delete_db_instance", "InvalidDBInstanceState", "modifying", 400)
        stub.add_response("describe_db_instances", seen("modifying"))
        stub.add_response("describe_db_instances", seen("available"))
        stub.add_response("delete_db_instance", {"DBInstance": {}})
        stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "gone", 404)
        stub.activate()

    def rds_did_the_stubbed_delete() -> None:
        stub.deactivate()  # the drill's own read-back asks moto again
        moto_aws.client("rds").delete_db_instance(
            DBInstanceIdentifier=scratch[0], SkipFinalSnapshot=True
        )

    watch.on["delete: deleting"] = refuse_once
    watch.on["verifying"] = rds_did_the_stubbed_delete

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes(), progress=watch)

    assert outcome.status == "succeeded", outcome.message
    stub.assert_no_pending_responses()
    deletes = [p for name, p in watch.calls if name == "DeleteDBInstance"]
    assert [p["DBInstanceIdentifier"] for p in deletes] == scratch * 2
    assert all(p["SkipFinalSnapshot"] for p in deletes)
    assert watch.changed(PROD) == [] and instance_ids(moto_aws) == [PROD]


def test_an_unset_smoke_dsn_variable_is_said_before_anything_is_created(
    moto_aws, tmp_path, monkeypatch
):
    monkeypatch.delenv(DSN_ENV, raising=False)
    make_production(moto_aws)
    ctx = services(write_config(moto_aws, tmp_path, drill=f'rds_dsn_env = "{DSN_ENV}"'))

    outcome = ctx.runner.run(DrillAction(), Confirmation.yes())

    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.message == f"[database.drill] rds_dsn_env names {DSN_ENV}, which is not set"
    assert instance_ids(moto_aws) == [PROD]
    assert DrillHistory(ctx.config.console.state_dir).records() == []


# --- the real program ------------------------------------------------------------------


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(PROGRAM)] if PROGRAM.exists() else [sys.executable, "-m", "pmb_console"]
    return subprocess.run(
        [*command, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_the_cli_drill_and_its_history(moto_aws, tmp_path):
    make_production(moto_aws)
    snap = take_snapshot(moto_aws, "pmb-console-nightly")
    config = write_config(moto_aws, tmp_path)

    done = pmb(config, "drill", "--yes")
    history = pmb(config, "drill", "--history")
    as_json = pmb(config, "drill", "--history", "--json")
    missing = pmb(config, "drill", "--snapshot", "no-such-snapshot")

    assert done.returncode == 0, done.stderr
    assert "restore drill done and verified" in done.stdout
    assert "- restore: pmb-console-nightly into a new instance pmb-prod-drill-<time>" in done.stderr
    assert "drill delete (4 of 4)" in done.stderr  # progress throughout
    assert history.returncode == 0 and snap in history.stdout and " pass " in history.stdout
    (record,) = json.loads(as_json.stdout)
    assert record["ok"] and [p["name"] for p in record["phases"]] == [
        "restore",
        "check",
        "smoke",
        "delete",
    ]
    assert missing.returncode == 1 and "no snapshot 'no-such-snapshot' to drill" in missing.stderr
    assert "Traceback" not in done.stderr + missing.stderr
    assert instance_ids(moto_aws) == [PROD]
