"""Does holding lines for one more drain keep the log tail in time order? Measured.

Two files are written at once, line by line, each line stamped with the moment it was
written (as the demo's instances do); two `FileLogSource`s follow them with their default
polling, and a loop takes what they read every 50 ms, as the log tail does, merging it
with `TimeMerge` with and without the hold. Reported: how many adjacent lines on screen
are shown below a line that happened after them, how far back the worst one is, and how
long lines waited between being read and being shown.

    .venv/bin/python bench/log_merge_hold.py [--rate 200] [--seconds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from pmb_console.providers.base import LogLine
from pmb_console.providers.log_merge import TimeMerge
from pmb_console.providers.logs import FileLogSource

DRAIN_INTERVAL = 0.05  # as the log tail's


def stamp(at: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1e6) % 1_000_000:06d}Z"
    )


def write(paths: list[Path], rate: int, seconds: float, stop: threading.Event) -> None:
    """`rate` lines a second into each file, in 10 ms slices, alternating between files."""
    files = [open(path, "a", encoding="utf-8", buffering=1) for path in paths]
    started, written = time.monotonic(), 0
    try:
        while (elapsed := time.monotonic() - started) < seconds and not stop.is_set():
            due = int(rate * elapsed)
            for n in range(written, due):
                for index, f in enumerate(files):
                    f.write(f"{stamp(time.time())} file {index} line {n}\n")
            written = due
            time.sleep(0.01)
    finally:
        for f in files:
            f.close()


def measure(hold: bool, rate: int, seconds: float) -> str:
    with tempfile.TemporaryDirectory(prefix="pmb-merge-") as tmp:
        paths = [Path(tmp) / "blue.log", Path(tmp) / "green.log"]
        for path in paths:
            path.write_text("")
        inbox: list[tuple[str, list[float], list[float]]] = []
        lock = threading.Lock()

        def feed(lines: list[LogLine]) -> None:
            read = time.time()
            with lock:
                inbox.append((lines[0].source, [line.time for line in lines], [read] * len(lines)))

        sources = [
            FileLogSource(str(path), color)
            for path, color in zip(paths, ("blue", "green"), strict=True)
        ]
        for source in sources:
            source.start(feed)
        time.sleep(0.3)
        stop = threading.Event()
        writer = threading.Thread(target=write, args=(paths, rate, seconds, stop))
        writer.start()
        merger: TimeMerge[tuple[float, float]] = TimeMerge(hold=hold)
        shown: list[tuple[float, float, float]] = []  # (line time, read, shown)
        while writer.is_alive() or inbox or merger.waiting:
            time.sleep(DRAIN_INTERVAL)
            with lock:
                batches, inbox[:] = list(inbox), []
            runs: dict[object, tuple[list[float], list[tuple[float, float]]]] = {}
            for source, times, reads in batches:
                run = runs.setdefault(source, ([], []))
                run[0].extend(times)
                run[1].extend(zip(times, reads, strict=True))
            now = time.time()
            shown.extend((at, read, now) for at, read in merger.take(runs))
            if not writer.is_alive() and not batches:
                shown.extend((at, read, now) for at, read in merger.flush())
        for source in sources:
            source.stop()
    # Out of place: a line shown below one that happened after it; by how much.
    backwards, latest = [], float("-inf")
    for at, _, _ in shown:
        if at < latest:
            backwards.append(latest - at)
        latest = max(latest, at)
    waits = sorted(s - r for _, r, s in shown)
    p99 = waits[int(0.99 * (len(waits) - 1))] * 1000 if waits else 0.0
    return (
        f"hold={'one drain' if hold else 'none':<9} lines {len(shown):>6}  out of place "
        f"{len(backwards):>5} ({100 * len(backwards) / max(1, len(shown)):.1f}%)  worst "
        f"{max(backwards, default=0) * 1000:5.1f} ms back  read→shown p99 {p99:5.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=200, help="lines a second per file")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    for hold in (False, True):
        print(measure(hold, args.rate, args.seconds), flush=True)


if __name__ == "__main__":
    main()
