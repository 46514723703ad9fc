"""Database snapshots on RDS: take, list, expire, delete, and restore by renaming.

RDS cannot restore a snapshot into an existing instance. So a restore builds a new
instance from the snapshot, waits until it is available, then renames the current
instance aside and the restored one into its place: the application's endpoint (derived
from the instance identifier) then points at the restored data, and the old instance
is kept, untouched, until someone deletes it.

That is four steps over many minutes, so each step is written to a small journal under
`[console] state_dir` before and after it runs, with the state read back from RDS. A
restore interrupted anywhere (an SSH drop, throttling, Ctrl+C) is visible through
`pending_restore()` and continued by `resume_restore()`, which asks RDS what already
happened rather than trusting the journal alone.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pmb_console.config import Config
from pmb_console.errors import ConfigError, PmbError, Problem, ProviderError
from pmb_console.providers.aws import AwsApi, error_code, make_client
from pmb_console.providers.base import (
    ProgressFn,
    RestoreResult,
    SnapshotInfo,
    SnapshotStore,
    StoreCheck,
    no_progress,
)

GIB = 1024**3
TAG_RELEASE, TAG_OPERATOR, TAG_LABEL, TAG_KIND = (
    "release",
    "operator",
    "pmb-console:label",
    "pmb-console:kind",
)
TAG_RESTORED_FROM = "pmb-console:restored-from"

# RDS instance states a wait can never get out of by itself.
_STUCK = {
    "failed",
    "incompatible-restore",
    "incompatible-network",
    "incompatible-parameters",
    "storage-full",
    "inaccessible-encryption-credentials",
    "restore-error",
}
_SNAPSHOT_FAILED = {"failed", "error"}

STEPS = ("restore", "wait-restored", "rename-current-aside", "rename-restored-into-place")
STEP_WORDS = {
    "restore": "restore the snapshot into a new instance",
    "wait-restored": "wait until the restored instance is available",
    "rename-current-aside": "rename the current instance aside",
    "rename-restored-into-place": "rename the restored instance into place",
}


@dataclass
class RestorePlan:
    """One restore as the journal keeps it."""

    snapshot_id: str
    instance_id: str
    restored_id: str
    aside_id: str
    operator: str
    started_at: str
    settings: dict[str, Any] = field(default_factory=dict)
    """Network and class of the current instance, given to the restored one."""
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished_at: str = ""
    safety_snapshot_id: str = ""
    """The safety snapshot taken before step 1: continuing the restore takes no other."""

    def done(self, step: str) -> bool:
        return bool(self.steps.get(step, {}).get("done_at"))

    @property
    def next_step(self) -> str:
        return next((s for s in STEPS if not self.done(s)), "")


class RestoreJournal:
    """`rds-restore.json` in the state dir, replaced atomically on every write."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "rds-restore.json"

    def load(self) -> RestorePlan | None:
        try:
            return RestorePlan(**json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise ProviderError(
                f"the RDS restore journal {self.path} cannot be read: {exc}",
                "look at the instances in RDS, then move the file aside",
            ) from None

    def save(self, plan: RestorePlan) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan.__dict__, indent=2, default=str))
        os.replace(tmp, self.path)


class RdsSnapshotStore(SnapshotStore):
    name = "rds"
    journals_restores = True

    def __init__(
        self,
        config: Config,
        *,
        client: Any = None,
        poll_interval: float = 15.0,
        timeout: float = 4 * 3600.0,
    ) -> None:
        rds = config.database.rds
        if not rds.instance_id:
            raise ConfigError(
                [Problem(config.source, "database.rds.instance_id", "the RDS instance identifier")]
            )
        self.instance_id = rds.instance_id
        self.prefix = _identifier(rds.snapshot_prefix or "pmb-console")
        self.release = config.release.version
        self.operator = config.console.operator
        self.retention_days = config.backup.retention_days
        self.region = config.aws.region
        self.journal = RestoreJournal(config.console.state_dir)
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._aws = config.aws
        self._client = client
        self._api: AwsApi | None = None
        self._safety_before: dict[str, str] = {}
        """Safety snapshots taken for restores not yet journaled, by snapshot restored."""

    @property
    def api(self) -> AwsApi:
        if self._api is None:
            client = self._client or make_client(self._aws, "rds")
            self._api = AwsApi(client, "check [database.rds] instance_id in the config")
        return self._api

    @property
    def client(self) -> Any:
        """The boto3 rds client (tests attach botocore's Stubber to it)."""
        return self.api.client

    def describe_target(self) -> str:
        where = f" in {self.region}" if self.region else ""
        return f"RDS instance {self.instance_id}{where}"

    # --- listing -----------------------------------------------------------------------

    def list(self) -> builtins.list[SnapshotInfo]:
        """Manual and automated snapshots of the instance, newest first."""
        snapshots = [
            self._info(raw)
            for page in self.api.pages(
                "describe_db_snapshots",
                f"snapshots of {self.instance_id}",
                DBInstanceIdentifier=self.instance_id,
            )
            for raw in page.get("DBSnapshots", [])
        ]
        return sorted(snapshots, key=lambda s: s.created_at, reverse=True)

    def get(self, snapshot_id: str) -> SnapshotInfo | None:
        raw = self._describe_snapshot(snapshot_id)
        return self._info(raw) if raw else None

    def expired(self, retention_days: int | None = None) -> builtins.list[SnapshotInfo]:
        """Snapshots this console took that are older than the retention period.

        Automated snapshots are left to RDS's own backup retention, and manual snapshots
        someone else took (without our prefix) are theirs to keep: `_info` marks only ours
        prunable, and the backup policy's one rule does the rest.
        """
        from pmb_console.backup_policy import expired_snapshots

        days = self.retention_days if retention_days is None else retention_days
        return expired_snapshots(self.list(), days)

    # --- taking and deleting -----------------------------------------------------------

    def create(
        self, label: str, progress: ProgressFn = no_progress, kind: str = "manual"
    ) -> SnapshotInfo:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        middle = "-safety" if kind == "safety" else ""
        snapshot_id = _suffixed(f"{self.prefix}{middle}", stamp, limit=255)
        taken = 1
        while self._describe_snapshot(snapshot_id) is not None:  # two in one second
            taken += 1
            snapshot_id = _suffixed(f"{self.prefix}{middle}", f"{stamp}-{taken}", limit=255)
        tags = {
            TAG_RELEASE: self.release or "unknown",
            TAG_OPERATOR: self.operator,
            TAG_KIND: kind,
        }
        if label:
            tags[TAG_LABEL] = label[:256]
        source = self._snapshot_source(kind)
        progress(f"creating snapshot {snapshot_id} of {source}", 0.0)
        self.api.call(
            "create_db_snapshot",
            f"instance {source}",
            DBInstanceIdentifier=source,
            DBSnapshotIdentifier=snapshot_id,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        raw = self._wait(
            lambda: self._describe_snapshot(snapshot_id),
            lambda s: s is not None and s["Status"] == "available",
            lambda s: f"snapshot {snapshot_id}: {_snapshot_progress(s)}",
            progress,
            failed=lambda s: s is not None and s["Status"] in _SNAPSHOT_FAILED,
        )
        return self._info(raw)

    def _snapshot_source(self, kind: str) -> str:
        """The instance a snapshot is taken of: ours, except for a safety copy mid-restore.

        Continuing a restore that stopped after the current instance was renamed aside,
        the data as it was before the restore lives in the aside instance: that is what
        a safety snapshot must hold.
        """
        pending = self.pending_restore() if kind == "safety" else None
        if (
            pending is not None
            and self._describe_instance(self.instance_id) is None
            and self._describe_instance(pending.aside_id) is not None
        ):
            return pending.aside_id
        return self.instance_id

    def delete(self, snapshot_id: str) -> None:
        raw = self._describe_snapshot(snapshot_id)
        if raw is None:
            raise ProviderError(
                f"snapshot {snapshot_id} does not exist", "run snapshots to list them"
            )
        if raw.get("SnapshotType") == "automated":
            raise ProviderError(
                f"snapshot {snapshot_id} is an automated snapshot",
                "RDS deletes automated snapshots itself after the instance's backup retention period",
            )
        self.api.call(
            "delete_db_snapshot", f"snapshot {snapshot_id}", DBSnapshotIdentifier=snapshot_id
        )
        left = self._describe_snapshot(snapshot_id)
        if left is not None and left.get("Status") != "deleting":
            raise ProviderError(
                f"snapshot {snapshot_id} is still {left.get('Status')} after being deleted",
                "look at it in RDS; run snapshots to read the list again",
            )

    # --- restoring ---------------------------------------------------------------------

    def check(self, snapshot_id: str) -> builtins.list[str]:
        problems = []
        raw = self._describe_snapshot(snapshot_id)
        if raw is None:
            problems.append(f"snapshot {snapshot_id} does not exist")
        else:
            if raw["Status"] != "available":
                problems.append(f"snapshot {snapshot_id} is {raw['Status']}, not available")
            if raw.get("DBInstanceIdentifier") != self.instance_id:
                problems.append(
                    f"snapshot {snapshot_id} is of instance {raw.get('DBInstanceIdentifier')}, "
                    f"not {self.instance_id}"
                )
        pending = self.pending_restore()
        if pending and pending.snapshot_id != snapshot_id:
            problems.append(
                f"an interrupted restore from {pending.snapshot_id} is in the journal "
                f"(next step: {pending.next_step}); finish it first"
            )
        if pending is None:
            # Mid-restore the instance may be renamed aside; continuing needs no check of it.
            problems.extend(self._instance_problems())
        return problems

    def guards(self) -> builtins.list[StoreCheck]:
        pending = self.pending_restore()
        if pending is not None:
            # Not a failure: the restore action continues it; anything else meets the
            # instance as it is (possibly renamed aside) and says so.
            return [
                StoreCheck(
                    "interrupted RDS restore",
                    True,
                    f"a restore of {pending.instance_id} from {pending.snapshot_id} stopped before "
                    f"step {pending.next_step}; restore {pending.snapshot_id} again to continue it",
                )
            ]
        problems = self._instance_problems()
        detail = "; ".join(problems) or f"{self.instance_id} is available"
        return [StoreCheck("RDS instance available", not problems, detail)]

    def _instance_problems(self) -> builtins.list[str]:
        current = self._describe_instance(self.instance_id)
        if current is None:
            return [f"instance {self.instance_id} does not exist"]
        if current["DBInstanceStatus"] != "available":
            return [f"instance {self.instance_id} is {current['DBInstanceStatus']}"]
        return []

    INTEGRITY = "the snapshot is available and of the configured instance"

    def restore_steps(self, snapshot: SnapshotInfo | str) -> tuple[str, ...]:
        """What `restore` will do, in words, for plans and confirmation screens."""
        snapshot_id = snapshot if isinstance(snapshot, str) else snapshot.id
        steps = (
            f"restore {snapshot_id} into a new instance beside {self.instance_id} "
            "(same class, subnet group, security groups, parameter group, port)",
            "wait until the new instance is available",
            f"rename {self.instance_id} aside to {self.instance_id}-before-<time> (kept, not deleted)",
            f"rename the new instance to {self.instance_id}: the endpoint then serves the restored data",
        )
        pending = self.pending_restore()
        if pending is None or pending.snapshot_id != snapshot_id:
            return steps
        return tuple(
            f"{words} (done before the interruption)" if pending.done(step) else words
            for step, words in zip(STEPS, steps, strict=True)
        )

    def pending_restore(self) -> RestorePlan | None:
        """The restore that was started and not finished, if any."""
        plan = self.journal.load()
        return plan if plan is not None and not plan.finished_at else None

    def journaled_restore(self) -> dict[str, Any] | None:
        plan = self.journal.load()
        if plan is None:
            return None
        # A finished restore is history: RDS is asked only about one still under way.
        instances = {} if plan.finished_at else self._instances_state(plan)
        serving = instances.get(plan.instance_id, "available") != "absent"
        step = plan.next_step
        number = STEPS.index(step) + 1 if step else len(STEPS)
        if plan.finished_at:
            said = (
                f"the restore of {plan.snapshot_id} into {plan.instance_id} finished at "
                f"{plan.finished_at}; the instance before it is kept as {plan.aside_id}"
            )
        else:
            endpoint = (
                "the app's endpoint has no instance"
                if not serving
                else f"the app's endpoint is served by {plan.instance_id} "
                + ("(the restored data)" if plan.done("rename-current-aside") else "(as before)")
            )
            said = (
                f"restore of {plan.snapshot_id} into {plan.instance_id} in progress at step "
                f"{number}/{len(STEPS)} ({STEP_WORDS[step]}); {endpoint}"
            )
        return {
            "snapshot_id": plan.snapshot_id,
            "target": plan.instance_id,
            "started_at": plan.started_at,
            "operator": plan.operator,
            "finished": bool(plan.finished_at),
            "finished_at": plan.finished_at,
            "step": number,
            "steps": len(STEPS),
            "step_name": step,
            "endpoint_has_instance": serving,
            "instances": instances,
            "safety_snapshot_id": plan.safety_snapshot_id,
            "said": said,
        }

    def continued_safety(self, snapshot_id: str) -> str:
        pending = self.pending_restore()
        if pending is None or pending.snapshot_id != snapshot_id or not pending.safety_snapshot_id:
            return ""
        raw = self._describe_snapshot(pending.safety_snapshot_id)
        return pending.safety_snapshot_id if raw and raw["Status"] == "available" else ""

    def safety_taken(self, snapshot_id: str, safety_snapshot_id: str) -> None:
        pending = self.pending_restore()
        if pending is not None and pending.snapshot_id == snapshot_id:
            pending.safety_snapshot_id = safety_snapshot_id  # its first one is gone or unknown
            self.journal.save(pending)
        else:
            self._safety_before[snapshot_id] = safety_snapshot_id

    def restore(self, snapshot_id: str, progress: ProgressFn = no_progress) -> RestoreResult:
        """Restore into a new instance and rename it into place; continues a pending one."""
        pending = self.pending_restore()
        if pending is not None:
            if pending.snapshot_id != snapshot_id:
                raise ProviderError(
                    f"an interrupted restore of {pending.instance_id} from {pending.snapshot_id} "
                    f"is in the journal (next step: {pending.next_step})",
                    f"continue it first: restore {pending.snapshot_id} again",
                )
            return self.resume_restore(progress)
        problems = self.check(snapshot_id)
        if problems:
            raise ProviderError(
                "cannot restore: " + "; ".join(problems), "run snapshots to choose another"
            )
        current = self._describe_instance(self.instance_id) or {}
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        plan = RestorePlan(
            snapshot_id=snapshot_id,
            instance_id=self.instance_id,
            restored_id=_suffixed(self.instance_id, f"restore-{stamp}"),
            aside_id=_suffixed(self.instance_id, f"before-{stamp}"),
            operator=self.operator,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            settings=_settings_of(current),
            safety_snapshot_id=self._safety_before.pop(snapshot_id, ""),
        )
        self.journal.save(plan)
        return self._carry_out(plan, progress)

    def resume_restore(self, progress: ProgressFn = no_progress) -> RestoreResult:
        plan = self.pending_restore()
        if plan is None:
            raise ProviderError("no interrupted RDS restore in the journal", "nothing to continue")
        progress(f"continuing the restore from {plan.snapshot_id} at step {plan.next_step}", None)
        return self._carry_out(plan, progress)

    def _carry_out(self, plan: RestorePlan, progress: ProgressFn) -> RestoreResult:
        started = time.monotonic()
        do = {
            "restore": self._restore_to_new,
            "wait-restored": self._wait_restored,
            "rename-current-aside": self._rename_current_aside,
            "rename-restored-into-place": self._rename_restored_into_place,
        }
        for number, step in enumerate(STEPS, start=1):
            if plan.done(step):
                continue
            plan.steps[step] = {"started_at": _now()}
            self.journal.save(plan)

            def told(message: str, fraction: float | None = None, n: int = number) -> None:
                progress(f"step {n}/{len(STEPS)}: {message}", fraction)

            try:
                do[step](plan, told)
            except PmbError as exc:
                raise ProviderError(
                    f"restore stopped at step {number} ({step}): {exc.message}",
                    f"{exc.hint}; then run restore {plan.snapshot_id} again to continue",
                ) from None
            plan.steps[step].update(done_at=_now(), state=self._instances_state(plan))
            self.journal.save(plan)
        plan.finished_at = _now()
        self.journal.save(plan)
        return RestoreResult(
            snapshot_id=plan.snapshot_id,
            duration_s=time.monotonic() - started,
            detail=(
                f"{plan.instance_id} now runs from snapshot {plan.snapshot_id}; the previous "
                f"instance is kept as {plan.aside_id} (delete it once the restore is verified)"
            ),
        )

    def _restore_to_new(self, plan: RestorePlan, progress: ProgressFn) -> None:
        if self._describe_instance(plan.restored_id) is not None:
            progress(f"{plan.restored_id} already exists (restore was started before)", None)
            return
        progress(f"restoring {plan.snapshot_id} into new instance {plan.restored_id}", None)
        self.api.call(
            "restore_db_instance_from_db_snapshot",
            f"snapshot {plan.snapshot_id}",
            DBInstanceIdentifier=plan.restored_id,
            DBSnapshotIdentifier=plan.snapshot_id,
            Tags=[
                {"Key": TAG_RESTORED_FROM, "Value": plan.snapshot_id},
                {"Key": TAG_OPERATOR, "Value": plan.operator},
            ],
            **plan.settings,
        )

    def _wait_restored(self, plan: RestorePlan, progress: ProgressFn) -> None:
        self._wait_available(plan.restored_id, progress)

    def _rename_current_aside(self, plan: RestorePlan, progress: ProgressFn) -> None:
        if self._describe_instance(plan.aside_id) is None:
            progress(f"renaming {plan.instance_id} to {plan.aside_id}", None)
            self._rename(plan.instance_id, plan.aside_id)
        self._wait_available(plan.aside_id, progress)
        self._wait_gone(plan.instance_id, progress)

    def _rename_restored_into_place(self, plan: RestorePlan, progress: ProgressFn) -> None:
        if self._describe_instance(plan.restored_id) is not None:
            progress(f"renaming {plan.restored_id} to {plan.instance_id}", None)
            self._rename(plan.restored_id, plan.instance_id)
        restored = self._wait_available(plan.instance_id, progress)
        tags = {t["Key"]: t["Value"] for t in restored.get("TagList", [])}
        if TAG_RESTORED_FROM in tags and tags[TAG_RESTORED_FROM] != plan.snapshot_id:
            raise ProviderError(
                f"{plan.instance_id} was restored from {tags[TAG_RESTORED_FROM]}, "
                f"not {plan.snapshot_id}",
                "look at the instances in RDS before doing anything else",
            )

    def _rename(self, old: str, new: str) -> None:
        self.api.call(
            "modify_db_instance",
            f"instance {old}",
            DBInstanceIdentifier=old,
            NewDBInstanceIdentifier=new,
            ApplyImmediately=True,
        )

    def _instances_state(self, plan: RestorePlan) -> dict[str, str]:
        """Status of each instance the restore touches, as RDS says now."""
        state = {}
        for instance in (plan.instance_id, plan.restored_id, plan.aside_id):
            raw = self._describe_instance(instance)
            state[instance] = raw["DBInstanceStatus"] if raw else "absent"
        return state

    # --- reading one thing -------------------------------------------------------------

    def _describe_instance(self, instance_id: str) -> dict[str, Any] | None:
        return self._describe_one(
            "describe_db_instances",
            f"instance {instance_id}",
            "DBInstances",
            DBInstanceIdentifier=instance_id,
        )

    def _describe_snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        return self._describe_one(
            "describe_db_snapshots",
            f"snapshot {snapshot_id}",
            "DBSnapshots",
            DBSnapshotIdentifier=snapshot_id,
        )

    def _describe_one(self, operation: str, resource: str, key: str, **params: Any) -> Any:
        try:
            found = getattr(self.client, operation)(**params).get(key, [])
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc).endswith(("NotFound", "NotFoundFault")):
                return None  # absence is an answer here, not a fault
            raise self.api.translate(exc, operation, resource) from None
        return found[0] if found else None

    # --- waiting -----------------------------------------------------------------------

    def _wait_available(self, instance_id: str, progress: ProgressFn) -> dict[str, Any]:
        return self._wait(
            lambda: self._describe_instance(instance_id),
            lambda i: i is not None and i["DBInstanceStatus"] == "available",
            lambda i: f"{instance_id}: {i['DBInstanceStatus'] if i else 'not there yet'}",
            progress,
            failed=lambda i: i is not None and i["DBInstanceStatus"] in _STUCK,
        )

    def _wait_gone(self, instance_id: str, progress: ProgressFn) -> None:
        self._wait(
            lambda: self._describe_instance(instance_id),
            lambda i: i is None,
            lambda i: f"{instance_id}: still answering as {i['DBInstanceStatus'] if i else '?'}",
            progress,
        )

    def _wait(
        self,
        read: Callable[[], Any],
        ready: Callable[[Any], bool],
        describe: Callable[[Any], str],
        progress: ProgressFn,
        failed: Callable[[Any], bool] = lambda _: False,
    ) -> Any:
        started = time.monotonic()
        while True:
            seen = read()
            if ready(seen):
                return seen
            if failed(seen):
                raise ProviderError(f"{describe(seen)}", "look at the RDS events for the reason")
            waited = time.monotonic() - started
            if waited >= self.timeout:
                raise ProviderError(
                    f"gave up waiting after {waited:.0f} s: {describe(seen)}",
                    "RDS may still be working on it; read the state again later",
                )
            progress(f"{describe(seen)} ({waited:.0f} s)", _fraction(seen))
            time.sleep(self.poll_interval)

    # --- shaping -----------------------------------------------------------------------

    def _ours(self, snapshot_id: str, snapshot_type: str) -> bool:
        """A manual snapshot this console took (its id carries our prefix)."""
        ours = snapshot_id.lower().startswith(self.prefix.lower() + "-")
        return snapshot_type != "automated" and ours

    def _info(self, raw: dict[str, Any]) -> SnapshotInfo:
        tags = {t["Key"]: t["Value"] for t in raw.get("TagList", [])}
        created = raw.get("SnapshotCreateTime") or datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        kind = raw.get("SnapshotType", "manual")
        if kind == "manual" and tags.get(TAG_KIND) == "safety":
            kind = "safety"
        age = datetime.now(UTC) - created
        return SnapshotInfo(
            id=raw["DBSnapshotIdentifier"],
            created_at=created,
            label=tags.get(TAG_LABEL, ""),
            database=raw.get("DBInstanceIdentifier", ""),
            size_bytes=int(raw.get("AllocatedStorage", 0)) * GIB,
            kind=kind,
            status=raw.get("Status", "?"),
            manifest={
                "release": tags.get(TAG_RELEASE, ""),
                "operator": tags.get(TAG_OPERATOR, ""),
                "engine": f"{raw.get('Engine', '')} {raw.get('EngineVersion', '')}".strip(),
                "allocated_storage_gib": int(raw.get("AllocatedStorage", 0)),
                "age_hours": round(age.total_seconds() / 3600, 1),
            },
            prunable=self._ours(raw["DBSnapshotIdentifier"], raw.get("SnapshotType", "manual")),
        )


def _settings_of(instance: dict[str, Any]) -> dict[str, Any]:
    """What the restored instance copies from the current one, so the app can reach it."""
    settings: dict[str, Any] = {}
    if instance.get("DBInstanceClass"):
        settings["DBInstanceClass"] = instance["DBInstanceClass"]
    subnet_group = (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    if subnet_group:
        settings["DBSubnetGroupName"] = subnet_group
    groups = [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])]
    if groups:
        settings["VpcSecurityGroupIds"] = groups
    parameter_groups = instance.get("DBParameterGroups", [])
    if parameter_groups:
        settings["DBParameterGroupName"] = parameter_groups[0]["DBParameterGroupName"]
    for key in ("MultiAZ", "PubliclyAccessible"):
        if key in instance:
            settings[key] = bool(instance[key])
    port = (instance.get("Endpoint") or {}).get("Port")
    if port:
        settings["Port"] = int(port)
    return settings


def _snapshot_progress(raw: dict[str, Any] | None) -> str:
    if raw is None:
        return "not listed yet"
    percent = raw.get("PercentProgress")
    return f"{raw['Status']}, {percent}%" if percent is not None else raw["Status"]


def _fraction(raw: Any) -> float | None:
    if isinstance(raw, dict) and raw.get("PercentProgress") is not None:
        return float(raw["PercentProgress"]) / 100
    return None


def _identifier(text: str) -> str:
    """A valid RDS identifier: letters, digits, single hyphens, starting with a letter."""
    text = re.sub(r"[^A-Za-z0-9-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-")
    return text if text[:1].isalpha() else f"pmb-{text}".rstrip("-")


def _suffixed(base: str, suffix: str, limit: int = 63) -> str:
    """`base-suffix` within RDS's length limit, trimming the base (the suffix is what is unique)."""
    base = _identifier(base)[: max(1, limit - len(suffix) - 1)].rstrip("-")
    return _identifier(f"{base}-{suffix}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
