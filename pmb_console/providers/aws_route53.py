"""Traffic by weighted DNS: two Route53 records of one name, one per color.

A switch UPSERTs both weights in one change batch (so no resolver ever sees a moment
with both at 0 or both at full weight), waits until Route53 says the change is INSYNC
on its name servers, and reads the records back. INSYNC is not the end of it: resolvers
and clients may keep the old answer for up to the record's TTL, and the console says so.

Weights: Route53 takes 0..255 per record; we write the percentage itself (0..100).
When every weight is 0 Route53 answers with all records equally, so that reads as 50/50.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from itertools import takewhile
from typing import Any

from pmb_console.config import Config
from pmb_console.errors import ConfigError, Problem, ProviderError
from pmb_console.providers.aws import AwsApi, make_client
from pmb_console.providers.base import (
    COLORS,
    ProgressFn,
    ServerState,
    TrafficRouter,
    TrafficState,
)


class Route53Router(TrafficRouter):
    name = "route53"
    SUPPORTS_WEIGHTS = True

    def __init__(
        self,
        config: Config,
        *,
        client: Any = None,
        poll_interval: float = 5.0,
        insync_timeout: float = 300.0,
    ) -> None:
        r53 = config.traffic.route53
        identifiers: dict[str, str] = {str(k): v for k, v in r53.set_identifiers.items()}
        problems = []
        if not r53.hosted_zone_id:
            problems.append(
                Problem(config.source, "traffic.route53.hosted_zone_id", "the hosted zone id")
            )
        if not r53.record_name:
            problems.append(
                Problem(config.source, "traffic.route53.record_name", "the record clients resolve")
            )
        for color in COLORS:
            if not identifiers.get(color):
                problems.append(
                    Problem(
                        config.source,
                        f"traffic.route53.set_identifiers.{color}",
                        f"the SetIdentifier of the {color} record",
                    )
                )
        if problems:
            raise ConfigError(problems)
        self.zone_id = r53.hosted_zone_id.split("/")[-1]
        self.record_name = _fqdn(r53.record_name)
        self.record_type = r53.record_type.upper()
        self.set_identifiers = {c: identifiers[c] for c in COLORS}
        self.poll_interval = poll_interval
        self.insync_timeout = insync_timeout
        self._aws = config.aws
        self._client = client
        self._api: AwsApi | None = None

    @property
    def api(self) -> AwsApi:
        if self._api is None:
            client = self._client or make_client(self._aws, "route53")
            self._api = AwsApi(
                client, "check [traffic.route53] hosted_zone_id and record_name in the config"
            )
        return self._api

    @property
    def client(self) -> Any:
        """The boto3 route53 client (tests attach botocore's Stubber to it)."""
        return self.api.client

    @property
    def _label(self) -> str:
        return f"{self.record_type} {self.record_name} in hosted zone {self.zone_id}"

    # --- reading -----------------------------------------------------------------------

    def read(self) -> TrafficState:
        records = self.records()
        raw = {color: int(records[color].get("Weight", 0)) for color in COLORS}
        servers = tuple(self._server(color, records[color]) for color in COLORS)
        return TrafficState(self.name, _percentages(raw), servers, self._ttl_note(records))

    def records(self) -> dict[str, dict[str, Any]]:
        """The weighted record of each color, as Route53 holds it now."""
        by_identifier: dict[str, dict[str, Any]] = {}
        for page in self.api.pages(
            "list_resource_record_sets",
            f"hosted zone {self.zone_id}",
            HostedZoneId=self.zone_id,
            StartRecordName=self.record_name,
            StartRecordType=self.record_type,
        ):
            listed = page.get("ResourceRecordSets", [])
            ours = list(takewhile(self._is_ours, listed))
            by_identifier.update((r["SetIdentifier"], r) for r in ours if "SetIdentifier" in r)
            if len(ours) < len(listed):
                break  # records come sorted by name and type: the rest are not ours
        missing = [c for c in COLORS if self.set_identifiers[c] not in by_identifier]
        if missing:
            found = ", ".join(sorted(by_identifier)) or "none"
            raise ProviderError(
                f"{self._label} has no weighted record with set identifier "
                + " or ".join(repr(self.set_identifiers[c]) for c in missing)
                + f" (set identifiers found: {found})",
                "check [traffic.route53] record_name, record_type and set_identifiers",
            )
        records = {c: by_identifier[self.set_identifiers[c]] for c in COLORS}
        unweighted = [c for c in COLORS if "Weight" not in records[c]]
        if unweighted:
            raise ProviderError(
                f"the {' and '.join(unweighted)} record of {self._label} is not a weighted record",
                "both colors' records must use the weighted routing policy",
            )
        return records

    def _is_ours(self, record: dict[str, Any]) -> bool:
        return _fqdn(record.get("Name", "")) == self.record_name and record.get("Type") == (
            self.record_type
        )

    def _server(self, color: str, record: dict[str, Any]) -> ServerState:
        health_check = record.get("HealthCheckId", "")
        return ServerState(
            name=record["SetIdentifier"],
            color=color,
            weight=int(record["Weight"]),
            admin="ready",
            operational="unknown" if health_check else "no-check",
            detail=_describe_record(record),
        )

    def _ttl_note(self, records: dict[str, dict[str, Any]]) -> str:
        ttls = [int(r["TTL"]) for r in records.values() if "TTL" in r]
        if ttls:
            return f"clients may keep the old answer for up to {max(ttls)} s (the record's TTL)"
        return "clients may keep the old answer for up to the alias target's TTL"

    # --- changing ----------------------------------------------------------------------

    def desired(self, current: TrafficState, weights: dict[str, int]) -> TrafficState:
        percent = {color: int(weights.get(color, 0)) for color in COLORS}
        servers = tuple(replace(s, weight=percent[s.color]) for s in current.servers)
        return replace(current, weights=percent, servers=servers)

    def apply(self, current: TrafficState, desired: TrafficState, progress: ProgressFn) -> None:
        weights = {color: int(desired.weights.get(color, 0)) for color in COLORS}
        if not any(weights.values()):
            raise ProviderError(
                "refusing to set both Route53 weights to 0: Route53 then answers with both records",
                "give at least one color a weight above 0",
            )
        records = self.records()
        changes = []
        for color in COLORS:
            record = copy.deepcopy(records[color])
            record["Weight"] = weights[color]
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
        progress(f"Route53: weights blue {weights['blue']} / green {weights['green']}", None)
        answer = self.api.call(
            "change_resource_record_sets",
            self._label,
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": "pmb-console traffic switch", "Changes": changes},
        )
        self._wait_insync(answer["ChangeInfo"], progress)
        # The action's verify reads the records back; what the operator needs now is
        # how long the old answer may live on in resolvers.
        progress(f"Route53 weights set; {self._ttl_note(records)}", 1.0)

    def _wait_insync(self, change: dict[str, Any], progress: ProgressFn) -> None:
        started = time.monotonic()
        change_id = change["Id"]
        status = change.get("Status", "PENDING")
        while status != "INSYNC":
            waited = time.monotonic() - started
            if waited >= self.insync_timeout:
                raise ProviderError(
                    f"Route53 accepted the change but it is still {status} after {waited:.0f} s",
                    "it finishes on its own; run status to read the weights back",
                )
            progress(f"Route53 change {status} on the name servers ({waited:.0f} s)", None)
            time.sleep(self.poll_interval)
            status = self.api.call("get_change", f"change {change_id}", Id=change_id)["ChangeInfo"][
                "Status"
            ]
        progress("Route53 change INSYNC on every name server", None)


def _describe_record(record: dict[str, Any]) -> str:
    if "AliasTarget" in record:
        return f"alias {record['AliasTarget'].get('DNSName', '?')}"
    values = ", ".join(v["Value"] for v in record.get("ResourceRecords", []))
    words = f"{record.get('Type', '')} {values}, TTL {record.get('TTL', '?')} s"
    if record.get("HealthCheckId"):
        words += f", health check {record['HealthCheckId']}"
    return words


def _percentages(raw: dict[str, int]) -> dict[str, int]:
    total = sum(raw.values())
    if total <= 0:
        return {"blue": 50, "green": 50}  # Route53 answers equally when every weight is 0
    blue = round(100 * raw["blue"] / total)
    return {"blue": blue, "green": 100 - blue}


def _fqdn(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."
