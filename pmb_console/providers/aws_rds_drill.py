"""A restore drill's scratch instance on RDS: restored from a snapshot, read back, deleted.

RDS restores a snapshot only into a new instance, so a drill builds one beside production
with production's class and network (the same settings a real restore gives, so the drill
takes as long as a real restore would), reads it back, and deletes it without a final
snapshot. The scratch instance's id is the production id plus "-drill-" and a time stamp,
and it is tagged as a drill with its run, so an instance left behind is easy to find and
safe to delete. Nothing here ever modifies or deletes the production instance: every
call that changes something names the scratch id, which is refused if it is production's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pmb_console.errors import ProviderError
from pmb_console.providers.aws import error_code
from pmb_console.providers.aws_rds import (
    _STUCK,
    TAG_OPERATOR,
    TAG_RELEASE,
    TAG_RESTORED_FROM,
    RdsSnapshotStore,
    _settings_of,
    _suffixed,
)
from pmb_console.providers.base import ProgressFn, no_progress

TAG_DRILL = "pmb-console:drill"
TAG_DRILL_RUN = "pmb-console:drill-run"


def scratch_instance_id(instance_id: str, when: datetime) -> str:
    """`<instance>-drill-<UTC time>`, a valid RDS identifier of at most 63 characters."""
    return _suffixed(instance_id, f"drill-{when:%Y%m%d%H%M%S}").lower()


def same_instance(one: str, other: str) -> bool:
    """RDS identifiers are case-insensitive (RDS keeps them in lower case)."""
    return one.strip().lower() == other.strip().lower()


def delete_by_hand(instance_id: str) -> str:
    return (
        f"delete it by hand: aws rds delete-db-instance --db-instance-identifier {instance_id} "
        f"--skip-final-snapshot (it is tagged {TAG_DRILL}=true)"
    )


class RdsScratchInstance:
    """One drill's scratch instance. `created` says whether this drill made it (and must
    delete it): an instance it did not make is never deleted."""

    def __init__(self, store: RdsSnapshotStore, instance_id: str, run: str) -> None:
        if same_instance(instance_id, store.instance_id):
            raise ProviderError(
                f"the drill's scratch instance {instance_id} would be the production instance",
                "a drill never restores into, modifies or deletes [database.rds] instance_id",
            )
        self.store = store
        self.instance_id = instance_id
        self.run = run
        self.created = False

    def describe(self) -> dict[str, Any] | None:
        return self.store._describe_instance(self.instance_id)

    def production(self) -> dict[str, Any] | None:
        """The production instance as RDS says now (read only)."""
        return self.store._describe_instance(self.store.instance_id)

    def settings(self) -> dict[str, Any]:
        """Class, subnet group, security groups, parameter group, port: production's."""
        return _settings_of(self.production() or {})

    def restore(
        self, snapshot_id: str, progress: ProgressFn = no_progress, *, release: str = ""
    ) -> dict[str, Any]:
        """Restore the snapshot into the scratch instance and wait until it is available."""
        tags = {
            TAG_DRILL: "true",
            TAG_DRILL_RUN: self.run,
            TAG_RESTORED_FROM: snapshot_id,
            TAG_RELEASE: release or "unknown",
            TAG_OPERATOR: self.store.operator,
        }
        settings = self.settings()
        progress(f"restoring {snapshot_id} into the scratch instance {self.instance_id}", None)
        try:
            self.store.api.call(
                "restore_db_instance_from_db_snapshot",
                f"snapshot {snapshot_id}",
                DBInstanceIdentifier=self.instance_id,
                DBSnapshotIdentifier=snapshot_id,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                **settings,
            )
        except ProviderError:
            # A call that timed out may still have created it: RDS's word decides.
            self.created = self._ours_exists()
            raise
        self.created = True
        return self.store._wait_available(self.instance_id, progress)

    def _ours_exists(self) -> bool:
        try:
            found = self.describe()
        except ProviderError:
            return False
        tags = {t["Key"]: t["Value"] for t in (found or {}).get("TagList", [])}
        return tags.get(TAG_DRILL_RUN) == self.run

    def delete(self, progress: ProgressFn = no_progress) -> None:
        """Delete the scratch instance (no final snapshot) and wait until RDS no longer lists it."""
        if same_instance(self.instance_id, self.store.instance_id):  # belt and braces
            raise ProviderError(f"refusing to delete the production instance {self.instance_id}")
        progress(f"deleting the scratch instance {self.instance_id}", None)
        if not self._request_delete():
            # RDS refuses to delete an instance in some states (still being created, say):
            # wait until it settles, then ask again.
            self.store._wait(
                self.describe,
                lambda i: i is None or i["DBInstanceStatus"] in _SETTLED,
                lambda i: (
                    f"{self.instance_id}: {i['DBInstanceStatus'] if i else 'gone'}, "
                    "waiting to delete it"
                ),
                progress,
            )
            self._request_delete(retry=False)
        self.store._wait_gone(self.instance_id, progress)

    def _request_delete(self, *, retry: bool = True) -> bool:
        """True when RDS took the request (or the instance is already going or gone)."""
        try:
            self.store.client.delete_db_instance(
                DBInstanceIdentifier=self.instance_id,
                SkipFinalSnapshot=True,
                DeleteAutomatedBackups=True,
            )
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc)
            if code.endswith(("NotFound", "NotFoundFault")):
                return True
            if code == "InvalidDBInstanceState" and retry:
                found = self.describe()
                return found is None or found["DBInstanceStatus"] == "deleting"
            raise self.store.api.translate(
                exc, "delete_db_instance", f"instance {self.instance_id}"
            ) from None
        return True


def drill_instances_left(store: RdsSnapshotStore) -> list[str]:
    """Scratch instances of the production instance's drills that RDS still lists."""
    # Every scratch id is the same trimmed base and "-drill-", then the time stamp.
    any_time = datetime(2000, 1, 1, tzinfo=UTC)
    prefix = scratch_instance_id(store.instance_id, any_time).rsplit("-", 1)[0] + "-"
    return sorted(
        raw["DBInstanceIdentifier"]
        for page in store.api.pages("describe_db_instances", "the drill's scratch instances")
        for raw in page.get("DBInstances", [])
        if raw["DBInstanceIdentifier"].startswith(prefix)
        and {t["Key"]: t["Value"] for t in raw.get("TagList", [])}.get(TAG_DRILL) == "true"
    )


# States from which RDS accepts a delete (or from which nothing more will happen by itself).
_SETTLED = {"available", "stopped", "deleting", *_STUCK}


def check_restored(instance: dict[str, Any] | None, snapshot: dict[str, Any] | None) -> list[str]:
    """What is wrong with the restored scratch instance, read back, against its snapshot."""
    if instance is None:
        return ["the scratch instance is not listed by RDS"]
    name = instance["DBInstanceIdentifier"]
    problems = []
    if instance.get("DBInstanceStatus") != "available":
        problems.append(f"{name} is {instance.get('DBInstanceStatus')}, not available")
    if snapshot is None:
        problems.append("the snapshot is no longer listed: nothing to compare with")
    else:
        for key, what in (("Engine", "engine"), ("AllocatedStorage", "allocated storage (GiB)")):
            if instance.get(key) != snapshot.get(key):
                problems.append(
                    f"{name}'s {what} is {instance.get(key)!r}, the snapshot's {snapshot.get(key)!r}"
                )
    if not (instance.get("Endpoint") or {}).get("Address"):
        problems.append(f"{name} has no endpoint address")
    return problems
