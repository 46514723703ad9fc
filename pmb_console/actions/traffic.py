"""Traffic actions: switch to a color, roll back, and the status document.

Deciding is pure (`plan_switch`, the router's `desired`); doing is the router's `apply`;
verifying reads the load balancer back and compares it with the plan. The runner does
the rest (read-only check, confirmation, lock, audit).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pmb_console.actions.base import Action, GuardResult, Plan, Verification
from pmb_console.errors import PmbError, Refused, UsageError
from pmb_console.providers.base import COLORS, ProgressFn, ServerState, TrafficState

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services


def other_color(color: str) -> str:
    return COLORS[1] if color == COLORS[0] else COLORS[0]


def plan_switch(state: TrafficState, target: str, weight: int = 100) -> dict[str, int]:
    """The percent of traffic each color gets once `target` has `weight` percent of it."""
    check_switch_params(target, weight)
    if state.servers and not any(s.color == target for s in state.servers):
        raise UsageError(
            f"{target} has nothing to send traffic to: no {target} servers at the load balancer",
            f"configure {target}'s servers under [traffic]",
        )
    return {target: weight, other_color(target): 100 - weight}


def check_switch_params(target: str, weight: int) -> None:
    """Raise UsageError for a color that is not one, or a weight outside 1..100."""
    if target not in COLORS:
        raise UsageError(f"unknown color {target!r}", f"switch to one of: {', '.join(COLORS)}")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
        raise UsageError(
            f"--weight must be a whole percentage from 1 to 100, got {weight!r}",
            "e.g. --weight 10 sends a tenth of the traffic to the target color",
        )


def state_from_dict(data: dict[str, Any]) -> TrafficState:
    """Rebuild a TrafficState from its `as_dict()` form (as kept in a plan)."""
    servers = tuple(ServerState(**s) for s in data.get("servers", ()))
    return TrafficState(data["provider"], dict(data["weights"]), servers, data.get("detail", ""))


def describe_weights(weights: dict[str, Any]) -> str:
    return ", ".join(f"{c} {weights.get(c)}%" for c in COLORS)


def change_steps(before: TrafficState, after: TrafficState) -> tuple[str, ...]:
    """Per server, in words: what the change does to it."""
    was = {s.name: s for s in before.servers}
    steps = []
    for want in after.servers:
        have = was.get(want.name)
        if have is None:
            continue
        if have.admin != want.admin:
            steps.append(f"{want.name} ({want.color}): state {have.admin} -> {want.admin}")
        if have.weight != want.weight:
            steps.append(f"{want.name} ({want.color}): weight {have.weight} -> {want.weight}")
    return tuple(steps)


def target_guards(ctx: Services, color: str) -> list[GuardResult]:
    """Before `color` receives traffic: its instances' health, and the router's own checks."""
    checks = [GuardResult(c.name, c.ok, c.detail) for c in ctx.router.guards(color)]
    return health_guards(ctx, color) + checks


def health_guards(ctx: Services, color: str) -> list[GuardResult]:
    """One guard per instance of `color`: its health_url answers 2xx within the timeout."""
    color_cfg = ctx.config.colors.of(color)
    if not color_cfg.instances:
        return [
            GuardResult(
                f"{color} healthy",
                False,
                f"no {color} instances are configured ([colors.{color}] instances), "
                "so their health cannot be checked",
            )
        ]
    guards = []
    for result in ctx.health.check_color(color, color_cfg):
        if result.ok:
            detail = f"HTTP {result.status} in {result.latency_ms:.0f} ms"
        else:
            detail = f"{result.error or f'HTTP {result.status}'} ({result.latency_ms:.0f} ms, {result.url})"
        guards.append(GuardResult(f"{result.instance} healthy", result.ok, detail))
    return guards


class _TrafficAction(Action):
    """Moving traffic to a color: shared by switch and rollback."""

    def _plan_to(self, ctx: Services, target: str, weight: int) -> Plan:
        before = ctx.router.read()
        after = ctx.router.desired(before, plan_switch(before, target, weight))
        data = {
            "before": before.as_dict(),
            "after": after.as_dict(),
            "target": target,
            "weight": weight,
        }
        if not ctx.router.differences(before, after):
            return Plan(
                f"traffic is already {describe_weights(after.weights)}; nothing to change",
                data=data,
                nothing_to_do=True,
            )
        summary = (
            f"{self.title}: {describe_weights(before.weights)} -> {describe_weights(after.weights)}"
        )
        return Plan(summary, change_steps(before, after), data)

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        before = state_from_dict(plan.data["before"])
        after = state_from_dict(plan.data["after"])
        ctx.router.apply(before, after, progress)
        return {}

    def verify(self, ctx: Services, plan: Plan, result: dict[str, Any]) -> Verification:
        planned = state_from_dict(plan.data["after"])
        actual = ctx.router.read()
        diffs = ctx.router.differences(actual, planned)
        if not diffs:
            # The weights are right; is the color now carrying traffic still able to? (An
            # ALB switch can leave the receiving target group with no healthy targets.)
            target = plan.data.get("target")
            failing = [c for c in ctx.router.guards(target) if not c.ok] if target else []
            if failing:
                return Verification(
                    False,
                    f"{describe_weights(actual.weights)} as planned, but after the switch "
                    + "; ".join(f"{c.name}: {c.detail}" for c in failing),
                    actual.as_dict(),
                )
            return Verification(
                True, f"{describe_weights(actual.weights)} as planned", actual.as_dict()
            )
        detail = (
            f"planned {describe_weights(planned.weights)}, read back {describe_weights(actual.weights)}"
            f" ({'; '.join(diffs)}); someone or something else may have changed the load balancer"
        )
        return Verification(False, detail, actual.as_dict())

    def read_back(self, ctx: Services) -> dict[str, Any]:
        return ctx.router.read().as_dict()


class SwitchAction(_TrafficAction):
    name = "switch"
    title = "switch traffic"

    def __init__(self, target: str, weight: int = 100) -> None:
        check_switch_params(target, weight)  # a usage error before anything is read
        self.target = target
        self.weight = weight

    def params(self) -> dict[str, Any]:
        return {"to": self.target, "weight": self.weight}

    def guards(self, ctx: Services) -> list[GuardResult]:
        return target_guards(ctx, self.target)

    def plan(self, ctx: Services) -> Plan:
        return self._plan_to(ctx, self.target, self.weight)


ROLLBACK_TARGET = "rollback target"


def rollback_target(records: list[dict[str, Any]]) -> tuple[str | None, str]:
    """The color live before the last verified switch or rollback, and why (or why not)."""
    for record in reversed(records):
        if (
            record.get("action") not in ("switch", "rollback")
            or record.get("outcome") != "succeeded"
        ):
            continue
        plan = record.get("plan") or {}
        before = (plan.get("data") or {}).get("before") or {}
        live = before.get("live")
        when = f"{record['action']} at {record.get('time', '?')} by {record.get('operator', '?')}"
        if live in COLORS:
            return live, f"{live} was live before the {when}"
        return (
            None,
            f"before the last verified {when}, traffic was {live or 'unknown'}, not one color",
        )
    return None, "the audit log holds no verified switch or rollback"


SWITCH_INSTEAD = (
    "switch traffic to the color you want instead "
    "(s in the console, `pmb-console switch --to blue|green` on the command line)"
)
"""What to do when there is nothing to roll back to, worded for the console and the CLI alike."""


class RollbackAction(_TrafficAction):
    name = "rollback"
    title = "roll back traffic"

    def params(self) -> dict[str, Any]:
        return {}

    def _target(self, ctx: Services) -> tuple[str | None, str]:
        return rollback_target(ctx.audit.records())

    def guards(self, ctx: Services) -> list[GuardResult]:
        target, why = self._target(ctx)
        if target is None:
            return [GuardResult(ROLLBACK_TARGET, False, f"{why}; {SWITCH_INSTEAD}")]
        return [GuardResult(ROLLBACK_TARGET, True, why), *target_guards(ctx, target)]

    def plan(self, ctx: Services) -> Plan:
        target, why = self._target(ctx)
        if target is None:
            return Plan(
                f"cannot roll back: {why}; {SWITCH_INSTEAD}",
                data={"target": None},
            )
        return self._plan_to(ctx, target, 100)

    def execute(self, ctx: Services, plan: Plan, progress: ProgressFn) -> dict[str, Any]:
        if plan.data.get("target") is None:
            raise Refused(plan.summary, SWITCH_INSTEAD)
        return super().execute(ctx, plan, progress)


# --- status ----------------------------------------------------------------------------


def read_status(ctx: Services) -> dict[str, Any]:
    """The document `status --json` prints: live color, weights, health, lock, errors.

    Each part is read on its own, so an unreachable load balancer still leaves the
    health of the instances to see (and is named in "errors").
    """
    errors: list[str] = []
    status: dict[str, Any] = {
        "live": "unknown",
        "weights": {c: None for c in COLORS},
        "health": {},
        "lock": None,
        "traffic": None,
        "provider": ctx.config.traffic.provider,
        "errors": errors,
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        health = {
            c: pool.submit(ctx.health.check_color, c, ctx.config.colors.of(c)) for c in COLORS
        }
        try:
            state = ctx.router.read()
        except PmbError as exc:
            errors.append(_error_line("traffic", exc))
        else:
            status.update(live=state.live, weights=dict(state.weights), traffic=state.as_dict())
        for color, future in health.items():
            results = future.result()
            status["health"][color] = {
                "ok": bool(results) and all(r.ok for r in results),
                "instances": [
                    {
                        "name": r.instance,
                        "ok": r.ok,
                        "status": r.status,
                        "error": r.error,
                        "latency_ms": round(r.latency_ms, 1),
                    }
                    for r in results
                ],
            }
    try:
        holder = ctx.lock.holder()
    except PmbError as exc:
        errors.append(_error_line("lock", exc))
    else:
        status["lock"] = asdict(holder) if holder else None
    status["database"] = _database_status(ctx, errors)
    return status


def _database_status(ctx: Services, errors: list[str]) -> dict[str, Any] | None:
    """A restore the store journaled and did not finish (RDS), with how to finish it.

    Said among the errors too: mid-restore the app's endpoint may have no instance."""
    from pmb_console.providers import registry

    provider = ctx.config.database.provider
    if not registry.load(registry.SNAPSHOTS, provider, "database").journals_restores:
        return None
    try:
        journaled = ctx.snapshots.journaled_restore()
    except PmbError as exc:
        errors.append(_error_line("database", exc))
        return {"pending_restore": None}
    if journaled is None or journaled["finished"]:
        return {"pending_restore": None}
    from pmb_console.recovery import pending_restore_line

    line = pending_restore_line(ctx, journaled)
    errors.append(f"database: {line}")
    return {"pending_restore": {**journaled, "line": line}}


def _error_line(part: str, exc: PmbError) -> str:
    return f"{part}: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")
