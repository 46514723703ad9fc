"""The console's restore drill of a 100,000-row database beside the same work done by hand.

By hand is the floor: `pg_dump -Fc` of the database, then `pg_restore --clean --if-exists
--jobs 2` of that file into a scratch database, nothing else. The console does the same
through its ActionRunner, in process as the console does it: a snapshot (guards, plan,
lock, audit, row counts in pg_dump's own transaction snapshot, sha256, manifest), then a
drill (guards including the production check, checksum, pg_restore, row counts against
the manifest, smoke query, drill history). The goal: the console's dump + drill within
1.1× of dump + restore by hand. The drill alone beside pg_restore alone is printed too.

    .venv/bin/python bench/drill.py [--rows 100000] [--runs 7] [--json]

Runs alternate between the two ways, so both see the same cache and load; the figures
are medians. Needs the PostgreSQL that `make test` starts (PG* variables or 127.0.0.1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from pmb_console.actions.base import Confirmation  # noqa: E402
from pmb_console.actions.database import SnapshotAction  # noqa: E402
from pmb_console.actions.drill import DrillAction  # noqa: E402
from pmb_console.bootstrap import bootstrap  # noqa: E402
from pmb_console.config import parse_config  # noqa: E402

GOAL = 1.1
PROD_ENV, DRILL_ENV = "PMB_BENCH_DATABASE_URL", "PMB_BENCH_DRILL_URL"


def server_params() -> dict[str, str]:
    params = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "") or os.environ.get("USER", "postgres"),
    }
    return params


def admin(params: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(make_conninfo(**params, dbname="postgres"), autocommit=True)


def make_database(params: dict[str, str], name: str) -> str:
    with admin(params) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(**params, dbname=name)


def drop_database(params: dict[str, str], name: str) -> None:
    with admin(params) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def fill(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE issues (id int PRIMARY KEY, key text NOT NULL, summary text, "
            "status text, created_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO issues (id, key, summary, status) SELECT g, 'PMB-' || g, "
            "md5(g::text) || ' ' || repeat('words ', 20), (ARRAY['To Do','Doing','Done'])[1 + g %% 3] "
            "FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text)")
        conn.execute(
            "INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 500) g"
        )
        conn.execute("VACUUM ANALYZE")
        size = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
        print(f"database: {rows:,} issues + 500 users, {size[0] if size else '?'}", file=sys.stderr)


def by_hand(prod: str, scratch: str, workdir: Path) -> tuple[float, float]:
    """pg_dump then pg_restore, nothing else: (dump seconds, restore seconds)."""
    dump = workdir / "by-hand.dump"
    started = time.perf_counter()
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", f"--dbname={prod}"], check=True)
    dumped = time.perf_counter()
    subprocess.run(
        ["pg_restore", "--clean", "--if-exists", "--jobs=2", f"--dbname={scratch}", str(dump)],
        check=True,
    )
    restored = time.perf_counter()
    dump.unlink()
    return dumped - started, restored - dumped


PHASES: dict[str, list[float]] = {}
"""Each drill phase's durations, as the drill history records them."""


def console(ctx) -> tuple[float, float]:
    """The console's snapshot then its drill of that snapshot: (snapshot s, drill s)."""
    started = time.perf_counter()
    taken = ctx.runner.run(SnapshotAction("bench"), Confirmation.yes())
    snapped = time.perf_counter()
    if taken.status != "succeeded":
        sys.exit(f"snapshot failed: {taken.message}")
    drilled = ctx.runner.run(DrillAction(taken.result["snapshot_id"]), Confirmation.yes())
    done = time.perf_counter()
    if drilled.status != "succeeded":
        sys.exit(f"drill failed: {drilled.message}")
    for phase in drilled.result["phases"]:
        PHASES.setdefault(phase["name"], []).append(phase["duration_s"])
    ctx.snapshots.delete(taken.result["snapshot_id"])  # keep the backup dir from growing
    return snapped - started, done - snapped


def config_for(workdir: Path) -> str:
    return f"""
[console]
environment = "bench"
operator = "bench"
state_dir = "{workdir / "state"}"
[database]
provider = "pg_dump"
dsn_env = "{PROD_ENV}"
migrations_dir = "{workdir}"
[database.pg_dump]
backup_dir = "{workdir / "backups"}"
jobs = 2
[database.drill]
target_dsn_env = "{DRILL_ENV}"
smoke_query = "SELECT EXISTS (SELECT 1 FROM issues WHERE key = 'PMB-1')"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    params = server_params()
    tag = uuid.uuid4().hex[:8]
    prod_name, scratch_name = f"pmb_bench_prod_{tag}", f"pmb_bench_scratch_{tag}"
    try:
        prod = make_database(params, prod_name)
        scratch = make_database(params, scratch_name)
        fill(prod, args.rows)
        os.environ[PROD_ENV], os.environ[DRILL_ENV] = prod, scratch
        with tempfile.TemporaryDirectory(prefix="pmb-bench-drill-") as tmp:
            workdir = Path(tmp)
            ctx = bootstrap(parse_config(config_for(workdir), "bench"))
            console(ctx)  # warm: imports, the first connection, the page cache
            by_hand(prod, scratch, workdir)
            PHASES.clear()
            hand: list[tuple[float, float]] = []
            ours: list[tuple[float, float]] = []
            for _ in range(args.runs):
                hand.append(by_hand(prod, scratch, workdir))
                ours.append(console(ctx))
    finally:
        drop_database(params, prod_name)
        drop_database(params, scratch_name)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    figures = {
        "rows": args.rows,
        "runs": args.runs,
        "by_hand_dump_s": median([d for d, _ in hand]),
        "by_hand_restore_s": median([r for _, r in hand]),
        "by_hand_total_s": median([d + r for d, r in hand]),
        "console_snapshot_s": median([s for s, _ in ours]),
        "console_drill_s": median([d for _, d in ours]),
        "console_total_s": median([s + d for s, d in ours]),
    }
    figures["ratio_total"] = figures["console_total_s"] / figures["by_hand_total_s"]
    # Each console run beside the by-hand run just before it: a load that drifts over the
    # bench (other work on the machine) weighs on both sides of each pair alike.
    figures["ratio_paired"] = median(
        [(s + d) / (hd + hr) for (hd, hr), (s, d) in zip(hand, ours, strict=True)]
    )
    figures["ratio_drill_vs_restore"] = figures["console_drill_s"] / figures["by_hand_restore_s"]
    figures["drill_phases_s"] = {name: median(values) for name, values in PHASES.items()}
    figures["goal"] = GOAL
    figures["met"] = figures["ratio_total"] <= GOAL
    if args.json:
        print(
            json.dumps(
                {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
                default=str,
            )
        )
    else:
        print(f"{args.rows:,} rows, median of {args.runs} runs each, alternating")
        print(
            f"  by hand   pg_dump {figures['by_hand_dump_s']:.3f} s + pg_restore "
            f"{figures['by_hand_restore_s']:.3f} s = {figures['by_hand_total_s']:.3f} s"
        )
        print(
            f"  console   snapshot {figures['console_snapshot_s']:.3f} s + drill "
            f"{figures['console_drill_s']:.3f} s = {figures['console_total_s']:.3f} s"
        )
        print(
            f"  ratio     {figures['ratio_total']:.2f}× of the medians, {figures['ratio_paired']:.2f}× "
            f"median of pairs (goal ≤ {GOAL}×: {'met' if figures['met'] else 'NOT met'})"
        )
        print(
            f"  drill alone vs pg_restore alone {figures['ratio_drill_vs_restore']:.2f}×; its phases: "
            + ", ".join(f"{n} {v:.3f} s" for n, v in figures["drill_phases_s"].items())
        )
    return 0 if figures["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
