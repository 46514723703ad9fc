"""Resume after a drop: read every system back, then say what became of the action in flight.

A console killed mid-action (kill -9, an SSH drop) leaves the runner's in-flight record
behind (state.Journal) and a "started" line in the audit with no outcome. On the next
start, before anything is shown as fact:

1. `read_systems` reads the load balancer, both colors' health and the database back;
2. `find_interrupted` compares the action's plan with what was read and says, in words,
   whether it finished, never took effect, is half-made, or is still running without
   the console (a pg_restore outlives the console that started it);
3. `acknowledge` writes the "interrupted" outcome to the audit with what was read back
   and where it differs from the plan, so the audit never disagrees with the systems
   without saying so;
4. the operator chooses: `finish` (run the action again to its planned end) or `go_back`
   (to the state before it) — each is an ordinary action through the runner — or
   `dismiss` (leave the systems as they are; recorded).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pmb_console.actions.base import Action
from pmb_console.errors import PmbError, Refused
from pmb_console.journal import ReleaseJournal, step_for
from pmb_console.providers.base import COLORS, ProgressFn, no_progress
from pmb_console.runbook import DONE

if TYPE_CHECKING:
    from pmb_console.actions.base import Confirmation
    from pmb_console.actions.runner import ConfirmFn, Outcome
    from pmb_console.bootstrap import Services

FINISHED, NOT_STARTED, PARTIAL, STILL_RUNNING, UNKNOWN = (
    "finished",
    "not-started",
    "partial",
    "still-running",
    "unknown",
)


def read_systems(ctx: Services) -> dict[str, Any]:
    """Traffic, health of both colors and the database, each read on its own.

    A part that cannot be read is named in "errors" rather than stopping the others:
    a load balancer that is down must not hide the database.
    """
    errors: list[str] = []
    systems: dict[str, Any] = {"traffic": None, "health": {}, "database": None, "errors": errors}

    def traffic() -> None:
        try:
            systems["traffic"] = ctx.router.read().as_dict()
        except PmbError as exc:
            errors.append(f"traffic: {_said(exc, 'reading the load balancer')}")

    def health(color: str) -> None:
        results = ctx.health.check_color(color, ctx.config.colors.of(color))
        systems["health"][color] = {r.instance: r.ok for r in results}

    def database() -> None:
        try:
            if ctx.config.database.provider == "pg_dump":
                systems["database"] = read_database(ctx)
            elif ctx.snapshots.journals_restores:
                systems["database"] = {"journaled_restore": ctx.snapshots.journaled_restore()}
        except PmbError as exc:
            errors.append(f"database: {_said(exc, 'reading the database')}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [
            pool.submit(traffic),
            pool.submit(database),
            *(pool.submit(health, c) for c in COLORS),
        ]:
            future.result()
    return systems


def read_database(ctx: Services) -> dict[str, Any]:
    """Any pg_restore still connected to the database, else the row count of every table.

    While a pg_restore runs, counting would queue behind its locks and prove nothing, so
    it is not tried; and every read gives up on a lock after READ_LOCK_TIMEOUT rather than
    hold the operator up.
    """
    import psycopg

    from pmb_console.errors import ProviderError
    from pmb_console.providers.postgres import connect, dsn_from_env, table_row_counts

    dsn = dsn_from_env(ctx.config.database.dsn_env)
    with connect(dsn, autocommit=True, connect_timeout=ctx.config.database.connect_timeout) as conn:
        conn.execute(f"SET lock_timeout = '{READ_LOCK_TIMEOUT}'")
        restores = conn.execute(
            "SELECT pid, backend_start::text, coalesce(wait_event_type, ''), coalesce(wait_event, '')"
            " FROM pg_stat_activity WHERE application_name = 'pg_restore' AND datname = current_database()"
        ).fetchall()
        running = [
            {"pid": pid, "since": since, "waiting": f"{kind} {event}".strip()}
            for pid, since, kind, event in restores
        ]
        if running:
            return {"row_counts": None, "restores_running": running}
        try:
            counts = table_row_counts(conn)
        except psycopg.errors.LockNotAvailable:
            raise ProviderError(
                f"a table is locked by another session for more than {READ_LOCK_TIMEOUT}, "
                "so its rows cannot be counted now",
                "look at pg_stat_activity for what holds it, then read back again",
            ) from None
    return {"row_counts": counts, "restores_running": []}


READ_LOCK_TIMEOUT = "2s"


def _said(exc: PmbError, doing: str) -> str:
    """An error's message; one without a message still says what failed."""
    return exc.message or f"{doing} failed ({type(exc).__name__}, with no message)"


def pending_restore_line(ctx: Services, journaled: dict[str, Any]) -> str:
    """A journaled restore not finished, in words, with the command that finishes it."""
    return (
        f"{journaled['said']}: finish with "
        f"`pmb-console restore {journaled['snapshot_id']} --confirm {ctx.config.console.environment}`"
    )


@dataclass
class Interrupted:
    """An action whose console stopped mid-way, and what the systems now say about it."""

    record: dict[str, Any]
    """The runner's in-flight record: action, run_id, operator, time, pid, plan."""
    systems: dict[str, Any]
    state: str
    """finished | not-started | partial | still-running | unknown."""
    finding: str
    """What the systems say, in words."""
    finish: Action | None = None
    finish_words: str = ""
    go_back: Action | None = None
    go_back_words: str = ""
    differences: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return self.record.get("action", "?")

    @property
    def run_id(self) -> str:
        return self.record.get("run_id", "")

    def headline(self) -> str:
        r = self.record
        return (
            f"INTERRUPTED: {self.action} started {str(r.get('time', '?'))[:19].replace('T', ' ')} by "
            f"{r.get('operator', '?')} (pid {r.get('pid', '?')}, run {self.run_id}) did not finish"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "run_id": self.run_id,
            "operator": self.record.get("operator"),
            "started": self.record.get("time"),
            "pid": self.record.get("pid"),
            "plan": self.record.get("plan"),
            "state": self.state,
            "finding": self.finding,
            "differences": self.differences,
            "finish": self.finish_words,
            "go_back": self.go_back_words,
            "systems": self.systems,
        }


def find_interrupted(ctx: Services, systems: dict[str, Any] | None = None) -> Interrupted | None:
    """The action left in flight by a console that is gone, judged against the systems now."""
    record = ctx.journal.in_flight()
    if record is None:
        return None
    systems = systems if systems is not None else read_systems(ctx)
    judge = {
        "switch": _judge_traffic,
        "rollback": _judge_traffic,
        "restore": _judge_restore,
        "provision": _judge_command,
        "deploy": _judge_command,
    }.get(record.get("action", ""), _judge_other)
    return judge(ctx, record, systems)


def _plan_data(record: dict[str, Any]) -> dict[str, Any]:
    return (record.get("plan") or {}).get("data") or {}


def _judge_traffic(ctx: Services, record: dict[str, Any], systems: dict[str, Any]) -> Interrupted:
    from pmb_console.actions.traffic import SwitchAction, describe_weights, state_from_dict

    data = _plan_data(record)
    now = systems.get("traffic")
    if now is None or not data.get("after"):
        return Interrupted(
            record,
            systems,
            UNKNOWN,
            "traffic could not be read back: "
            + "; ".join(systems.get("errors", []))
            + "; nothing can be said about the switch",
        )
    before, after, actual = (state_from_dict(d) for d in (data["before"], data["after"], now))
    to_plan = ctx.router.differences(actual, after)
    to_before = ctx.router.differences(actual, before)
    target, weight = data["target"], int(data.get("weight", 100))
    back = before.live if before.live in COLORS else None
    go_back = SwitchAction(back) if back else None
    go_back_words = (
        f"switch traffic back to {back} (as before: {describe_weights(before.weights)})"
        if back
        else f"before it traffic was {before.live}; choose a color with switch"
    )
    reads = f"traffic reads {describe_weights(actual.weights)}"
    if not to_plan:
        return Interrupted(
            record,
            systems,
            FINISHED,
            f"the change was made: {reads}, as planned; only its verification was lost",
            None,
            "nothing to finish: the systems already show the plan",
            go_back,
            go_back_words,
        )
    finish = SwitchAction(target, weight)
    finish_words = f"switch {target} to {weight}% ({describe_weights(after.weights)})"
    if not to_before:
        return Interrupted(
            record,
            systems,
            NOT_STARTED,
            f"the change never took effect: {reads}, as before the action",
            finish,
            finish_words,
            None,
            "nothing to undo: the systems show the state before",
            to_plan,
        )
    return Interrupted(
        record,
        systems,
        PARTIAL,
        f"the change is half-made: {reads}; planned {describe_weights(after.weights)}, "
        f"before {describe_weights(before.weights)}",
        finish,
        finish_words,
        go_back,
        go_back_words,
        to_plan,
    )


def _judge_restore(ctx: Services, record: dict[str, Any], systems: dict[str, Any]) -> Interrupted:
    from pmb_console.actions.database import RestoreAction

    snapshot_id = (record.get("params") or {}).get("snapshot_id", "")
    db = systems.get("database")
    if db is not None and "journaled_restore" in db:
        return _judge_journaled_restore(ctx, record, systems, snapshot_id, db["journaled_restore"])
    if db is None:
        errors = [e for e in systems.get("errors", []) if e.startswith("database: ")]
        why = "; ".join(errors) or (
            f"resume reads back only a pg_dump database or a journaled restore, "
            f"not the {ctx.config.database.provider} store"
        )
        return Interrupted(
            record,
            systems,
            UNKNOWN,
            f"the database could not be read back: {why}; look at it, then run the restore "
            "again if it is still wanted",
        )
    running = db["restores_running"]
    if running:
        waits = ", ".join(
            f"pid {r['pid']}" + (f" waiting on {r['waiting']}" if r["waiting"] else "")
            for r in running
        )
        return Interrupted(
            record,
            systems,
            STILL_RUNNING,
            f"a pg_restore is still connected to the database ({waits}): the restore goes "
            "on without the console; wait for it to end, then read back again",
            None,
            "wait: it is still running",
            None,
            "wait: it is still running",
        )
    snapshot = ctx.snapshots.get(snapshot_id)
    safety = _safety_snapshot(ctx, snapshot_id, str(record.get("time", "")))
    go_back = RestoreAction(safety.id) if safety else None
    go_back_words = (
        f"restore the safety snapshot {safety.id} taken just before"
        if safety
        else "no safety snapshot was completed, so the restore never began to change the database"
    )
    if snapshot is None:
        return Interrupted(
            record,
            systems,
            UNKNOWN,
            f"snapshot {snapshot_id} is no longer listed",
            None,
            "",
            go_back,
            go_back_words,
        )
    from pmb_console.providers.pg_dump import row_count_mismatches

    expected = snapshot.manifest.get("table_row_counts", {})
    mismatches = row_count_mismatches(expected, db["row_counts"])
    if not mismatches:
        return Interrupted(
            record,
            systems,
            FINISHED,
            f"the database holds snapshot {snapshot_id}'s row counts in all {len(expected)} "
            "tables: the restore looks finished",
            None,
            "nothing to finish: the row counts match the snapshot",
            go_back,
            go_back_words,
            [],
        )
    state = PARTIAL if safety else NOT_STARTED
    said = (
        "the database does not hold the snapshot's row counts: the restore stopped part-way"
        if safety
        else "no safety snapshot was completed, so the restore had not started"
    )
    return Interrupted(
        record,
        systems,
        state,
        f"{said} ({'; '.join(mismatches[:3])})",
        RestoreAction(snapshot_id),
        f"restore {snapshot_id} again from the start",
        go_back,
        go_back_words,
        mismatches,
    )


def _judge_journaled_restore(
    ctx: Services,
    record: dict[str, Any],
    systems: dict[str, Any],
    snapshot_id: str,
    journaled: dict[str, Any] | None,
) -> Interrupted:
    """A store that journals each step of a restore (RDS): its journal, read back live,
    says how far the restore got; finishing it is the same restore, which continues."""
    from pmb_console.actions.database import RestoreAction
    from pmb_console.audit import parse_time

    env = ctx.config.console.environment
    again = f"pmb-console restore {snapshot_id} --confirm {env}"
    if journaled is not None and not journaled["finished"]:
        pending = journaled["snapshot_id"]
        finish = RestoreAction(pending)
        finish_words = (
            f"continue the restore of {pending} from step {journaled['step']}/"
            f"{journaled['steps']}, as its journal says "
            f"(pmb-console restore {pending} --confirm {env})"
        )
        safety = journaled.get("safety_snapshot_id")
        go_back_words = "not while it is half-made: finish it first; then, to go back, " + (
            f"restore the safety snapshot {safety} taken before it"
            if safety
            else "restore the safety snapshot taken before it (pmb-console snapshots)"
        )
        if pending != snapshot_id:
            return Interrupted(
                record,
                systems,
                UNKNOWN,
                f"{journaled['said']}; that is not the restore of {snapshot_id} "
                "that was interrupted, which could not have begun while it was pending",
                finish,
                finish_words,
                None,
                go_back_words,
            )
        return Interrupted(
            record,
            systems,
            PARTIAL,
            journaled["said"],
            finish,
            finish_words,
            None,
            go_back_words,
        )
    try:
        run_started = parse_time(str(record.get("time", ""))).timestamp() - 1
        ended = (
            journaled is not None
            and journaled["snapshot_id"] == snapshot_id
            and parse_time(str(journaled.get("finished_at") or "")).timestamp() >= run_started
        )
    except ValueError:
        ended = False
    if ended and journaled is not None:
        safety = journaled.get("safety_snapshot_id")
        return Interrupted(
            record,
            systems,
            FINISHED,
            f"{journaled['said']}; only its verification was lost",
            None,
            "nothing to finish: the journal and RDS show every step done",
            RestoreAction(safety) if safety else None,
            f"restore the safety snapshot {safety} taken just before"
            if safety
            else "no safety snapshot is recorded for it",
        )
    return Interrupted(
        record,
        systems,
        NOT_STARTED,
        f"no step of the restore of {snapshot_id} was journaled: the console stopped before "
        "it began (while the safety snapshot was taken), so the database was not touched",
        RestoreAction(snapshot_id),
        f"restore {snapshot_id} from the start ({again})",
        None,
        "nothing to undo: the database was not touched",
    )


def _safety_snapshot(ctx: Services, snapshot_id: str, started_iso: str):
    from pmb_console.audit import parse_time

    try:
        started = parse_time(started_iso)
    except ValueError:
        return None
    for snap in ctx.snapshots.list():
        if snap.kind == "safety" and snap.created_at >= started and snapshot_id in snap.label:
            return snap
    return None


def _judge_command(ctx: Services, record: dict[str, Any], systems: dict[str, Any]) -> Interrupted:
    """A provision or deploy: is its command still running, and does the color answer as planned?"""
    from pmb_console.actions.deploy import (
        DeployAction,
        ProvisionAction,
        instance_versions,
        running_command,
    )

    action_cls = DeployAction if record.get("action") == "deploy" else ProvisionAction
    color = (record.get("params") or {}).get("color", "green")
    command = running_command(ctx.config.console.state_dir)
    said = ""
    if command is not None:
        last = command["last_lines"][-1] if command["last_lines"] else "no output yet"
        said = f"`{' '.join(command['argv'])}` (pid {command['pid']}) last said: {last}"
        if command["alive"]:
            return Interrupted(
                record,
                systems,
                STILL_RUNNING,
                f"the command is still running without the console: {said}; its output goes on "
                f"in {command['log']}; wait for it to end, then read back again",
                None,
                "wait: it is still running",
                None,
                "wait: it is still running",
            )
    checks = instance_versions(ctx, color)
    if action_cls is DeployAction:
        answers = all(c.ok for c in checks)
    else:  # provisioned instances need only answer; the version comes with the deploy
        answers = bool(checks) and not any(
            c.detail.startswith(("does not answer", "no ")) for c in checks
        )
    ended = f"the command has ended ({said}); " if said else "the command is no longer running; "
    instances = "; ".join(f"{c.name} {c.detail}" for c in checks)
    finish = action_cls(color)
    if answers:
        return Interrupted(
            record,
            systems,
            FINISHED,
            f"{ended}{color}: {instances}",
            None,
            "nothing to finish: the color answers as the step expects",
            None,
            "no undo: run the previous release's deploy to go back",
        )
    return Interrupted(
        record,
        systems,
        PARTIAL,
        f"{ended}but {color} is not as planned: {instances}",
        finish,
        f"run {record.get('action')} for {color} again",
        None,
        "no undo: run the previous release's deploy to go back",
        [f"{c.name}: {c.detail}" for c in checks if not c.ok],
    )


def _judge_other(ctx: Services, record: dict[str, Any], systems: dict[str, Any]) -> Interrupted:
    return Interrupted(
        record,
        systems,
        UNKNOWN,
        f"{record.get('action')} was interrupted; compare its plan with the systems below "
        "and run it again if it is still wanted",
    )


def acknowledge(ctx: Services, found: Interrupted) -> bool:
    """Write the interrupted outcome and what was read back to the audit.

    Once per state: read again later (a pg_restore that has since ended), a new reading
    is written too, so the audit follows the systems rather than the first impression.
    False when this reading was already recorded.
    """
    run_id = found.run_id
    if run_id and ctx.audit.last(
        lambda r: (
            r.get("run_id") == run_id
            and r.get("outcome") == "interrupted"
            and r.get("interrupted_state") == found.state
        )
    ):
        return False
    ctx.runner.record_event(
        found.action,
        run_id=run_id,
        params=found.record.get("params", {}),
        environment=ctx.config.console.environment,
        outcome="interrupted",
        message=f"{found.action} interrupted: its console (pid {found.record.get('pid')}) stopped; "
        f"read back: {found.finding}",
        interrupted_state=found.state,
        differences=found.differences,
        state=found.systems.get("traffic") or {},
        systems=found.systems,
        started_by=found.record.get("operator"),
    )
    step = step_for(found.record, ctx.config)
    if found.state == FINISHED and step:
        # The systems show the step carried out, even though its console never saw the end.
        ReleaseJournal.of(ctx).mark(
            step,
            DONE,
            ctx.config.console.operator,
            {"outcome": "interrupted", "message": f"read back as finished: {found.finding}"},
            allow_out_of_order=True,
        )
    return True


def settle(
    ctx: Services,
    found: Interrupted,
    choice: str,
    confirmation: Confirmation | ConfirmFn,
    *,
    reason: str = "",
    progress: ProgressFn | None = None,
) -> Outcome | None:
    """Act on the operator's choice: finish, go-back or dismiss (`progress`: the console's screen)."""
    acknowledge(ctx, found)
    if found.state != STILL_RUNNING:
        from pmb_console.actions.deploy import forget_command

        forget_command(ctx.config.console.state_dir)
    if choice == "dismiss":
        ctx.journal.finish()
        ctx.runner.record_event(
            found.action,
            run_id=found.run_id,
            outcome="dismissed",
            environment=ctx.config.console.environment,
            message=f"interrupted {found.action} left as read back: {found.finding}",
        )
        return None
    action = {"finish": found.finish, "go-back": found.go_back}.get(choice)
    if choice not in ("finish", "go-back"):
        raise Refused(f"no choice {choice!r}", "finish, go-back or dismiss")
    if action is None:
        words = found.finish_words if choice == "finish" else found.go_back_words
        raise Refused(
            f"nothing to {choice.replace('-', ' ')}: {words}",
            "dismiss it to clear the interrupted action (pmb-console resume --dismiss)",
        )
    # The in-flight record stays until the chosen action starts (the runner then replaces
    # it): a choice refused or not confirmed leaves the interruption to be shown again.
    outcome = ctx.runner.run(
        action,
        confirmation,
        reason=reason or f"{choice} the interrupted {found.action} (run {found.run_id})",
        progress=progress or no_progress,
    )
    if outcome.status == "nothing-to-do":
        ctx.journal.finish()
    return outcome


def format_interrupted(found: Interrupted | None) -> str:
    """The text `pmb-console resume` prints."""
    if found is None:
        return "nothing was interrupted: no action is in flight"
    lines = [found.headline(), f"  what the systems say now: {found.finding}"]
    traffic = found.systems.get("traffic")
    if traffic:
        w = traffic.get("weights", {})
        lines.append(
            f"  traffic: live {traffic.get('live')} (blue {w.get('blue')}% · green {w.get('green')}%)"
        )
    for error in found.systems.get("errors", []):
        lines.append(f"  could not read: {error}")
    for diff in found.differences[:5]:
        lines.append(f"  differs from the plan: {diff}")
    lines.append(
        f"  finish:  {found.finish_words or 'not offered'}"
        + ("" if found.finish else " (nothing to run)")
    )
    lines.append(
        f"  go back: {found.go_back_words or 'not offered'}"
        + ("" if found.go_back else " (nothing to run)")
    )
    lines.append("  choose: pmb-console resume --finish | --go-back | --dismiss")
    return "\n".join(lines)
