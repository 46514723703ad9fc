"""Config provider names → provider classes, imported lazily.

`pmb-console status` on HAProxy must never import boto3: each entry is a module path and
a class name, imported only when that provider is configured.
"""

from __future__ import annotations

import importlib
from typing import Any

from pmb_console.errors import UsageError

TRAFFIC = {
    "haproxy": ("pmb_console.providers.haproxy", "HaproxyRouter"),
    "alb": ("pmb_console.providers.aws_alb", "AlbRouter"),
    "route53": ("pmb_console.providers.aws_route53", "Route53Router"),
    "demo": ("pmb_console.demo.router", "DemoRouter"),
}

SNAPSHOTS = {
    "pg_dump": ("pmb_console.providers.pg_dump", "PgDumpSnapshotStore"),
    "rds": ("pmb_console.providers.aws_rds", "RdsSnapshotStore"),
    "demo": ("pmb_console.demo.snapshots", "DemoSnapshotStore"),
}


def load(table: dict[str, tuple[str, str]], name: str, kind: str) -> Any:
    try:
        module_name, class_name = table[name]
    except KeyError:
        raise UsageError(
            f"unknown {kind} provider {name!r}", f"choose one of: {', '.join(table)}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the {kind} provider {name!r} is not available: {exc}",
            "this build of pmb-console does not include it yet",
        ) from None
    return getattr(module, class_name)
