"""Traffic on an Application Load Balancer: the forward weights of one listener.

The listener's default action forwards to the two target groups of `[traffic.alb]`
with weights. A switch rewrites those weights and nothing else: stickiness, the other
actions of the listener, its port, protocol and certificates stay as they are. A
listener that does not forward to exactly the two configured target groups is reported
as it is, never guessed at.

Weights: ALB takes 0..999 per target group; we write the percentage itself (0..100),
so what the console shows is what the listener holds.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from pmb_console.config import Config
from pmb_console.errors import ConfigError, Problem, ProviderError
from pmb_console.providers.aws import AwsApi, make_client
from pmb_console.providers.base import (
    COLORS,
    ProgressFn,
    RouterCheck,
    ServerState,
    TrafficRouter,
    TrafficState,
)

_HEALTHY = "healthy"


@dataclass(frozen=True)
class TargetHealth:
    """The targets of one target group, counted by the state ALB reports."""

    total: int
    healthy: int
    by_state: dict[str, int]

    def describe(self) -> str:
        if not self.total:
            return "no registered targets"
        others = ", ".join(
            f"{n} {state}" for state, n in sorted(self.by_state.items()) if state != _HEALTHY
        )
        unhealthy = self.total - self.healthy
        words = f"{self.healthy} healthy, {unhealthy} not healthy of {self.total} targets"
        return f"{words} ({others})" if others else words


class AlbRouter(TrafficRouter):
    name = "alb"
    SUPPORTS_WEIGHTS = True

    def __init__(self, config: Config, *, client: Any = None) -> None:
        alb = config.traffic.alb
        groups: dict[str, str] = {str(k): v for k, v in alb.target_groups.items()}
        problems = []
        if not alb.listener_arn:
            problems.append(
                Problem(config.source, "traffic.alb.listener_arn", "the ARN of the ALB listener")
            )
        for color in COLORS:
            if not groups.get(color):
                problems.append(
                    Problem(
                        config.source,
                        f"traffic.alb.target_groups.{color}",
                        f"the ARN of the {color} target group",
                    )
                )
        if problems:
            raise ConfigError(problems)
        self.listener_arn = alb.listener_arn
        self.target_groups = {c: groups[c] for c in COLORS}
        self._aws = config.aws
        self._client = client
        self._api: AwsApi | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def api(self) -> AwsApi:
        if self._api is None:
            client = self._client or make_client(self._aws, "elbv2")
            self._api = AwsApi(
                client, "check [traffic.alb] listener_arn and target_groups in the config"
            )
        return self._api

    @property
    def client(self) -> Any:
        """The boto3 elbv2 client (tests attach botocore's Stubber to it)."""
        return self.api.client

    @property
    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self.api  # noqa: B018 -- build the client once, before two threads want it
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="alb-read")
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # --- reading -----------------------------------------------------------------------

    def read(self) -> TrafficState:
        listener = self._describe_listener()
        raw = self._forward_weights(listener)
        stickiness = (
            self._forward_action(listener)
            .get("ForwardConfig", {})
            .get("TargetGroupStickinessConfig", {})
        )
        # Both groups asked at once: a rollback reads the ALB three times, and each
        # read would otherwise wait for two round trips to AWS one after the other.
        health = dict(zip(COLORS, self._pool.map(self.target_health, COLORS), strict=True))
        servers = tuple(self._server(color, raw[color], health[color]) for color in COLORS)
        detail = ""
        if stickiness.get("Enabled"):
            detail = (
                "target group stickiness is on: clients already bound to a group stay on it "
                f"for up to {stickiness.get('DurationSeconds', '?')} s"
            )
        return TrafficState(self.name, _percentages(raw), servers, detail)

    def target_health(self, color: str) -> TargetHealth:
        arn = self.target_groups[color]
        answer = self.api.call("describe_target_health", f"target group {arn}", TargetGroupArn=arn)
        by_state: dict[str, int] = {}
        for described in answer.get("TargetHealthDescriptions", []):
            state = described.get("TargetHealth", {}).get("State", "unknown")
            by_state[state] = by_state.get(state, 0) + 1
        total = sum(by_state.values())
        return TargetHealth(total, by_state.get(_HEALTHY, 0), by_state)

    def healthy_targets(self, color: str) -> int:
        """Targets of `color`'s target group that ALB calls healthy right now."""
        return self.target_health(color).healthy

    def guards(self, target: str) -> list[RouterCheck]:
        # An ALB forwards to a target group with no healthy target all the same (it
        # fails open); a switch onto one would serve errors, so it is checked, not hoped.
        health = self.target_health(target)
        group = _target_group_name(self.target_groups[target])
        return [
            RouterCheck(
                f"{target} target group has healthy targets",
                health.healthy > 0,
                f"{group}: {health.describe()}",
            )
        ]

    # --- changing ----------------------------------------------------------------------

    def desired(self, current: TrafficState, weights: dict[str, int]) -> TrafficState:
        percent = {color: int(weights.get(color, 0)) for color in COLORS}
        servers = tuple(replace(s, weight=percent[s.color]) for s in current.servers)
        return replace(current, weights=percent, servers=servers)

    def apply(self, current: TrafficState, desired: TrafficState, progress: ProgressFn) -> None:
        listener = self._describe_listener()
        self._forward_weights(listener)  # still forwarding to exactly our two groups?
        raw = {color: int(desired.weights.get(color, 0)) for color in COLORS}
        if not any(raw.values()):
            raise ProviderError(
                "refusing to set every ALB weight to 0: the listener would serve no one",
                "give at least one color a weight above 0",
            )
        by_arn = {self.target_groups[c]: raw[c] for c in COLORS}
        actions = [_reweighted(action, by_arn) for action in listener["DefaultActions"]]
        progress(f"ALB listener: forward blue {raw['blue']} / green {raw['green']}", None)
        answer = self.api.call(
            "modify_listener",
            f"listener {self.listener_arn}",
            ListenerArn=self.listener_arn,
            DefaultActions=actions,
        )
        # ModifyListener answers with the listener as AWS now holds it: a read-back that
        # costs no extra round trip (the action's verify reads everything again anyway).
        for listener in answer.get("Listeners", [])[:1]:
            now = _percentages(self._forward_weights(listener))
            progress(f"ALB listener now forwards blue {now['blue']}% / green {now['green']}%", 1.0)

    # --- the listener ------------------------------------------------------------------

    def _describe_listener(self) -> dict[str, Any]:
        answer = self.api.call(
            "describe_listeners", f"listener {self.listener_arn}", ListenerArns=[self.listener_arn]
        )
        listeners = answer.get("Listeners", [])
        if not listeners:
            raise ProviderError(
                f"listener {self.listener_arn} does not exist",
                "check [traffic.alb] listener_arn in the config",
            )
        return listeners[0]

    def _forward_action(self, listener: dict[str, Any]) -> dict[str, Any]:
        forwards = [a for a in listener.get("DefaultActions", []) if a.get("Type") == "forward"]
        if len(forwards) != 1:
            kinds = (
                ", ".join(a.get("Type", "?") for a in listener.get("DefaultActions", [])) or "none"
            )
            raise ProviderError(
                f"listener {self.listener_arn} has no single forward default action (actions: {kinds})",
                "make its default action forward to the blue and green target groups",
            )
        return forwards[0]

    def _forward_weights(self, listener: dict[str, Any]) -> dict[str, int]:
        """Raw weight per color; ProviderError unless it forwards to exactly our two groups."""
        action = self._forward_action(listener)
        groups = action.get("ForwardConfig", {}).get("TargetGroups")
        if not groups and action.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        found = {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups or []}
        wanted = set(self.target_groups.values())
        if set(found) != wanted or len(groups or []) != 2:
            names = ", ".join(_target_group_name(arn) for arn in found) or "nothing"
            raise ProviderError(
                f"listener {self.listener_arn} forwards to {names}, not to exactly the "
                "configured blue and green target groups",
                "fix the listener's default action (forward to both groups with weights), "
                "or [traffic.alb] target_groups in the config",
            )
        return {color: found[self.target_groups[color]] for color in COLORS}

    def _server(self, color: str, weight: int, health: TargetHealth) -> ServerState:
        return ServerState(
            name=_target_group_name(self.target_groups[color]),
            color=color,
            weight=weight,
            admin="ready",
            operational="up" if health.healthy else "down",
            detail=health.describe(),
        )


def _reweighted(action: dict[str, Any], weight_by_arn: dict[str, int]) -> dict[str, Any]:
    """The same action, with only the forward weights changed."""
    action = copy.deepcopy(action)
    if action.get("Type") == "forward":
        forward = action.setdefault("ForwardConfig", {})
        for group in forward.get("TargetGroups", []):
            group["Weight"] = weight_by_arn[group["TargetGroupArn"]]
        # With two groups in ForwardConfig, a top-level TargetGroupArn is refused.
        action.pop("TargetGroupArn", None)
    oidc = action.get("AuthenticateOidcConfig")
    if oidc is not None and "ClientSecret" not in oidc:
        # describe_listeners never returns the secret; this keeps the one AWS holds.
        oidc["UseExistingClientSecret"] = True
    return action


def _percentages(raw: dict[str, int]) -> dict[str, int]:
    total = sum(raw.values())
    if total <= 0:
        return {color: 0 for color in COLORS}
    blue = round(100 * raw["blue"] / total)
    return {"blue": blue, "green": 100 - blue}


def _target_group_name(arn: str) -> str:
    """arn:...:targetgroup/pmb-blue/0123abcd → pmb-blue."""
    if ":targetgroup/" in arn:
        return arn.split(":targetgroup/", 1)[1].split("/", 1)[0]
    return arn
