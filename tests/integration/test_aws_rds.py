"""The RDS snapshot store against moto's server: snapshot, list, retention, restore."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import ANY, Stubber

from pmb_console.errors import ConfigError, ProviderError
from pmb_console.providers.aws_rds import RdsSnapshotStore
from tests.fixtures.moto import aws_config, make_rds_instance

pytestmark = pytest.mark.aws


def store_for(moto_aws, tmp_path, instance_id="pmb-prod", **rds):
    cfg = aws_config(
        moto_aws,
        tmp_path,
        database={"provider": "rds", "rds": {"instance_id": instance_id, **rds}},
        release={"version": "v1.1.0"},
    )
    return RdsSnapshotStore(cfg, poll_interval=0.01, timeout=5)


def tags_of(moto_aws, arn):
    listed = moto_aws.client("rds").list_tags_for_resource(ResourceName=arn)["TagList"]
    return {t["Key"]: t["Value"] for t in listed}


def instance_ids(moto_aws):
    return sorted(
        i["DBInstanceIdentifier"]
        for i in moto_aws.client("rds").describe_db_instances()["DBInstances"]
    )


def test_create_tags_the_snapshot_and_waits_until_available(moto_aws, tmp_path):
    make_rds_instance(moto_aws)
    store = store_for(moto_aws, tmp_path)
    steps = []

    info = store.create("before v1.1.0", lambda m, f=None: steps.append(m))

    assert info.id.startswith("pmb-console-") and info.status == "available"
    raw = moto_aws.client("rds").describe_db_snapshots(DBSnapshotIdentifier=info.id)["DBSnapshots"][
        0
    ]
    assert raw["SnapshotType"] == "manual" and raw["DBInstanceIdentifier"] == "pmb-prod"
    tags = tags_of(moto_aws, raw["DBSnapshotArn"])
    assert (tags["release"], tags["operator"]) == ("v1.1.0", "oncall-1")
    assert info.label == "before v1.1.0"
    assert steps[0] == f"creating snapshot {info.id} of pmb-prod"


def test_list_shows_manual_and_automated_with_age_and_size(moto_aws, tmp_path):
    make_rds_instance(moto_aws)  # moto takes an automated snapshot at creation
    store = store_for(moto_aws, tmp_path)
    taken = store.create("nightly")
    safety = store.create("", kind="safety")

    listed = store.list()

    kinds = {s.id: s.kind for s in listed}
    assert kinds[taken.id] == "manual" and kinds[safety.id] == "safety"
    assert "automated" in kinds.values()
    assert all(s.size_bytes == 20 * 1024**3 for s in listed)
    assert all(0 <= s.manifest["age_hours"] < 1 for s in listed)
    assert [s.created_at for s in listed] == sorted((s.created_at for s in listed), reverse=True)
    assert all(s.created_at.tzinfo is not None for s in listed)


def test_retention_lists_only_our_old_manual_snapshots_and_deletes_them(moto_aws, tmp_path):
    make_rds_instance(moto_aws)
    store = store_for(moto_aws, tmp_path)
    ours = store.create("old")
    rds = moto_aws.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="pmb-prod", DBSnapshotIdentifier="dba-handmade")

    assert store.expired(30) == []  # taken just now
    expired = store.expired(0)  # every snapshot is older than zero days
    assert [s.id for s in expired] == [ours.id]

    store.delete(ours.id)

    left = {
        s["DBSnapshotIdentifier"]
        for s in rds.describe_db_snapshots(DBInstanceIdentifier="pmb-prod")["DBSnapshots"]
    }
    assert ours.id not in left and "dba-handmade" in left


def test_automated_snapshots_are_not_deleted(moto_aws, tmp_path):
    make_rds_instance(moto_aws)
    store = store_for(moto_aws, tmp_path)
    automated = next(s for s in store.list() if s.kind == "automated")

    with pytest.raises(ProviderError) as caught:
        store.delete(automated.id)
    assert "is an automated snapshot" in caught.value.message
    assert store.get(automated.id) is not None


def test_restore_renames_the_restored_instance_into_place(moto_aws, tmp_path):
    original = make_rds_instance(moto_aws)
    store = store_for(moto_aws, tmp_path)
    snapshot = store.create("good data")
    steps = []

    result = store.restore(snapshot.id, lambda m, f=None: steps.append(m))

    plan = json.loads((tmp_path / "rds-restore.json").read_text())
    assert instance_ids(moto_aws) == sorted(["pmb-prod", plan["aside_id"]])
    live = moto_aws.client("rds").describe_db_instances(DBInstanceIdentifier="pmb-prod")[
        "DBInstances"
    ][0]
    assert tags_of(moto_aws, live["DBInstanceArn"])["pmb-console:restored-from"] == snapshot.id
    aside = moto_aws.client("rds").describe_db_instances(DBInstanceIdentifier=plan["aside_id"])[
        "DBInstances"
    ][0]
    assert aside["DbiResourceId"] == original["DbiResourceId"]  # the old instance, kept
    assert live["DBInstanceClass"] == original["DBInstanceClass"]
    assert plan["finished_at"] and all(plan["steps"][s]["done_at"] for s in plan["steps"])
    assert plan["steps"]["rename-restored-into-place"]["state"] == {
        "pmb-prod": "available",
        plan["restored_id"]: "absent",
        plan["aside_id"]: "available",
    }
    assert store.pending_restore() is None
    assert snapshot.id in result.detail and plan["aside_id"] in result.detail
    assert [s.split(":")[0] for s in steps if s.startswith("step")][:1] == ["step 1/4"]
    assert len(store.restore_steps(snapshot.id)) == len(plan["steps"]) == 4


def test_interrupted_restore_is_seen_and_continued(moto_aws, tmp_path):
    make_rds_instance(moto_aws)
    store = store_for(moto_aws, tmp_path)
    snapshot = store.create("good data")

    def ctrl_c_at_rename(message, fraction=None):
        if "renaming pmb-prod to" in message:
            raise KeyboardInterrupt  # as an SSH drop or Ctrl+C would, mid-restore

    with pytest.raises(KeyboardInterrupt):
        store.restore(snapshot.id, ctrl_c_at_rename)

    pending = store_for(moto_aws, tmp_path).pending_restore()
    assert pending is not None and pending.next_step == "rename-current-aside"
    assert pending.snapshot_id == snapshot.id
    assert "pmb-prod" in instance_ids(moto_aws) and pending.restored_id in instance_ids(moto_aws)
    other = store.create("another")
    assert any("interrupted restore" in p for p in store.check(other.id))
    with pytest.raises(ProviderError):
        store.restore(other.id)

    store_for(moto_aws, tmp_path).resume_restore()

    assert instance_ids(moto_aws) == sorted(["pmb-prod", pending.aside_id])
    live = moto_aws.client("rds").describe_db_instances(DBInstanceIdentifier="pmb-prod")[
        "DBInstances"
    ][0]
    assert tags_of(moto_aws, live["DBInstanceArn"])["pmb-console:restored-from"] == snapshot.id
    assert store.pending_restore() is None


def test_check_names_what_makes_a_restore_unsafe(moto_aws, tmp_path):
    make_rds_instance(moto_aws)
    make_rds_instance(moto_aws, "pmb-staging")
    store = store_for(moto_aws, tmp_path)
    staging = store_for(moto_aws, tmp_path, instance_id="pmb-staging").create("staging")

    assert store.check("no-such-snapshot") == ["snapshot no-such-snapshot does not exist"]
    assert store.check(staging.id) == [
        f"snapshot {staging.id} is of instance pmb-staging, not pmb-prod"
    ]
    with pytest.raises(ProviderError) as caught:
        store.restore("no-such-snapshot")
    assert "cannot restore: snapshot no-such-snapshot does not exist" in caught.value.message
    assert instance_ids(moto_aws) == ["pmb-prod", "pmb-staging"]


def test_missing_instance_is_named(moto_aws, tmp_path):
    store = store_for(moto_aws, tmp_path, instance_id="pmb-gone")
    with pytest.raises(ProviderError) as caught:
        store.create("x")
    assert (
        caught.value.message
        == "instance pmb-gone does not exist (CreateDBSnapshot: DBInstanceNotFound)"
    )
    assert "[database.rds] instance_id" in caught.value.hint


def test_empty_instance_id_is_a_config_error(moto_aws, tmp_path):
    # Loading a config file names the gap (tests/unit/test_config_meaning.py); a config
    # built in code skips that check, and the store still refuses it.
    cfg = aws_config(moto_aws, tmp_path, database={"provider": "rds", "rds": {"instance_id": "x"}})
    rds = cfg.database.rds.model_copy(update={"instance_id": ""})
    cfg = cfg.model_copy(update={"database": cfg.database.model_copy(update={"rds": rds})})
    with pytest.raises(ConfigError):
        RdsSnapshotStore(cfg)


# --- what moto cannot show: botocore's Stubber stands in for RDS --------------------------


def test_stubbed_snapshot_in_progress_is_reported_until_available(moto_aws, tmp_path):
    make_rds_instance(moto_aws)
    store = store_for(moto_aws, tmp_path)
    stub = Stubber(store.client)
    now = datetime.now(UTC)

    def snapshot(status, percent):
        return {
            "DBSnapshots": [
                {
                    "DBSnapshotIdentifier": "s",
                    "DBInstanceIdentifier": "pmb-prod",
                    "Status": status,
                    "PercentProgress": percent,
                    "SnapshotType": "manual",
                    "SnapshotCreateTime": now,
                    "AllocatedStorage": 20,
                }
            ]
        }

    stub.add_client_error("describe_db_snapshots", "DBSnapshotNotFound", "no such snapshot", 404)
    stub.add_response(
        "create_db_snapshot",
        {"DBSnapshot": {}},
        {"DBInstanceIdentifier": "pmb-prod", "DBSnapshotIdentifier": ANY, "Tags": ANY},
    )
    stub.add_response("describe_db_snapshots", snapshot("creating", 0))
    stub.add_response("describe_db_snapshots", snapshot("creating", 40))
    stub.add_response("describe_db_snapshots", snapshot("available", 100))
    seen = []
    with stub:
        info = store.create("x", lambda m, f=None: seen.append((m.split(" (")[0], f)))
    snapshot_id = seen[0][0].split()[2]
    assert seen[1:] == [
        (f"snapshot {snapshot_id}: creating, 0%", 0.0),
        (f"snapshot {snapshot_id}: creating, 40%", 0.4),
    ]
    assert info.status == "available"


def test_stubbed_expired_token_while_listing(moto_aws, tmp_path):
    store = store_for(moto_aws, tmp_path)
    stub = Stubber(store.client)
    stub.add_client_error("describe_db_snapshots", "ExpiredTokenException", "expired", 400)
    with stub, pytest.raises(ProviderError) as caught:
        store.list()
    assert (
        caught.value.message
        == "AWS credentials have expired (DescribeDBSnapshots on snapshots of pmb-prod)"
    )


def test_stubbed_access_denied_names_the_iam_action(moto_aws, tmp_path):
    store = store_for(moto_aws, tmp_path)
    stub = Stubber(store.client)
    stub.add_client_error("describe_db_snapshots", "DBSnapshotNotFound", "no such snapshot", 404)
    stub.add_client_error("create_db_snapshot", "AccessDenied", "not authorized", 403)
    with stub, pytest.raises(ProviderError) as caught:
        store.create("x")
    assert (
        caught.value.message == "AWS denied CreateDBSnapshot on instance pmb-prod: not authorized"
    )
    assert "rds:CreateDBSnapshot on instance pmb-prod" in caught.value.hint


def test_guards_name_the_instance_state_and_an_interrupted_restore(moto_aws, tmp_path):
    make_rds_instance(moto_aws)
    store = store_for(moto_aws, tmp_path)
    [ready] = store.guards()
    assert (ready.name, ready.ok, ready.detail) == (
        "RDS instance available",
        True,
        "pmb-prod is available",
    )
    snapshot = store.create("good data")

    def ctrl_c_at_rename_into_place(message, fraction=None):
        if message.startswith("step 4/4"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.restore(snapshot.id, ctrl_c_at_rename_into_place)

    assert "pmb-prod" not in instance_ids(moto_aws)  # renamed aside, restored not yet in place
    [interrupted] = store.guards()
    assert interrupted.name == "interrupted RDS restore"
    assert f"restore {snapshot.id} again to continue it" in interrupted.detail
    assert store.check(snapshot.id) == []  # continuing needs no check of the absent instance
    pending = store.pending_restore()
    safety = store.create("before continuing", kind="safety")
    assert safety.database == pending.aside_id  # the data as it was before the restore
    store.restore(snapshot.id)  # the same restore again continues it
    assert "pmb-prod" in instance_ids(moto_aws) and store.pending_restore() is None
