"""What the release journal costs a switch: the runner with and without its listener.

Two runners on the same live HAProxy, one following the release journal (as every
console and CLI run does) and one not, take turns switching traffic, so both see the
same load on the machine. Printed: each runner's median and p90 per switch, the ratio
of the medians, and the listener's own time per audited record.

    .venv/bin/python bench/runbook_journal.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pmb_console.actions.base import Confirmation  # noqa: E402
from pmb_console.actions.runner import ActionRunner  # noqa: E402
from pmb_console.actions.traffic import SwitchAction  # noqa: E402
from pmb_console.bootstrap import Services  # noqa: E402
from pmb_console.journal import follow_runner  # noqa: E402
from tests.fixtures.haproxy import ColorServer, Haproxy  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    servers = {c: ColorServer(c) for c in ("blue", "green")}
    work = Path(tempfile.mkdtemp())
    proxy = Haproxy(servers, work, Path(tempfile.mkdtemp(prefix="pmbb-")))
    listener_ms: list[float] = []
    try:
        runners = {}
        for label, follow in (("with journal", True), ("without journal", False)):
            ctx = Services(proxy.pmb_config(work / label.replace(" ", "_")))
            runner = ActionRunner(ctx)
            if follow:
                follow_runner(ctx, runner)
                inner = runner.listeners[0]

                def timed(record, inner=inner):
                    started = time.perf_counter()
                    inner(record)
                    listener_ms.append((time.perf_counter() - started) * 1000)

                runner.listeners[0] = timed
            runners[label] = runner
        times: dict[str, list[float]] = {label: [] for label in runners}
        turn = 0
        for _ in range(args.runs):
            for label, runner in runners.items():
                turn += 1
                target = "green" if turn % 2 else "blue"
                started = time.perf_counter()
                outcome = runner.run(SwitchAction(target), Confirmation.yes())
                times[label].append((time.perf_counter() - started) * 1000)
                if outcome.status != "succeeded":
                    sys.exit(f"switch failed: {outcome.message}")
    finally:
        proxy.stop()
        for server in servers.values():
            server.stop()
    base = statistics.median(times["without journal"])
    for label, values in times.items():
        median = statistics.median(values)
        print(
            f"{label:16s} median {median:6.2f} ms   p90 {percentile(values, 0.9):6.2f} ms   "
            f"ratio {median / base:4.2f}"
        )
    print(
        f"listener per record: median {statistics.median(listener_ms):.2f} ms, "
        f"p90 {percentile(listener_ms, 0.9):.2f} ms ({len(listener_ms)} records)"
    )


if __name__ == "__main__":
    main()
