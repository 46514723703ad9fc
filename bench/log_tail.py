"""Benchmark P5: the log tail under a firehose, measured from outside, through a real pty.

A small Textual app (a marker line and the `LogTail`, fed by a `FileLogSource`) runs in
a pseudo-terminal of 160x45. A writer process appends access-log lines to the followed
file at 50,000 lines a second for 10 seconds. Every 200 ms this script presses a key
that changes something visible and times how long the change takes to come out of the
pty (key-to-screen lag); it also samples the app's RSS and CPU.

Runs, side by side:
  idle     no writer, the marker key (the baseline: what Textual itself costs)
  marker   firehose, the marker key, the tail following all the time
  pause    firehose, `space` pausing and resuming the tail itself
  big      firehose with a buffer ten times larger (memory follows the buffer, not time)
  freeze   (only when asked for) as marker, with the app calling gc.freeze() once started

Goals: key lag p99 <= 100 ms under the firehose; RSS flat over the run and set by the
buffer size. Usage:

    .venv/bin/python bench/log_tail.py [--rate 50000] [--seconds 10] [--lines 10000]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS, ROWS = 160, 45
KEY_EVERY = 0.2
KEY_TIMEOUT = 5.0
END_OF_STREAM = "bench-end-of-stream"


# --- the app under test (runs in the pty) ------------------------------------------


def run_app(log_path: str, max_lines: int) -> None:
    gc_pauses = watch_gc()
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    from pmb_console.providers.logs import FileLogSource
    from pmb_console.tui.themes import VARIABLE_DEFAULTS
    from pmb_console.tui.widgets.log_tail import LogTail

    class TailBench(App):
        BINDINGS = [("n", "marker", "marker"), ("z", "forget_gc", "forget startup GCs")]
        CSS = "#marker { height: 1; }"

        def __init__(self) -> None:
            super().__init__()
            self.presses = 0
            self.source = FileLogSource(log_path, "green", "bench.log")

        def get_css_variables(self) -> dict[str, str]:
            return {**super().get_css_variables(), **VARIABLE_DEFAULTS}

        def compose(self) -> ComposeResult:
            yield Static("key KEY0000", id="marker")
            yield LogTail(max_lines)

        def on_mount(self) -> None:
            if os.environ.get("BENCH_GC_FREEZE"):
                import gc

                # What an app can do once started: move its long-lived objects out of
                # the collector's sight, so a full collection scans only what is new.
                self.call_after_refresh(gc.freeze)
            tail = self.query_one(LogTail)
            tail.focus()
            self.source.start(tail.feed)

        def action_marker(self) -> None:
            self.presses += 1
            self.query_one("#marker", Static).update(f"key KEY{self.presses:04d}")

        def action_forget_gc(self) -> None:
            gc_pauses.clear()  # count only the collections of the measured run

        def on_unmount(self) -> None:
            self.source.stop()
            report_path = os.environ.get("BENCH_GC_REPORT")
            if report_path:
                Path(report_path).write_text(" ".join(f"{g}:{ms:.2f}" for g, ms in gc_pauses))

    TailBench().run()


def watch_gc() -> list[tuple[int, float]]:
    """Every garbage collection's generation and pause in ms, recorded as they happen."""
    import gc

    pauses: list[tuple[int, float]] = []
    began = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - began[0]) * 1000))

    gc.callbacks.append(callback)
    return pauses


# --- the writer (its own process) --------------------------------------------------


def run_writer(log_path: str, rate: int, seconds: float) -> None:
    """Append access-log lines at `rate` a second, in 10 ms slices, then an end marker."""
    statuses = ["200"] * 45 + ["404", "302", "503"]
    paths = ["/api/projects", "/api/tasks/17", "/healthz", "/api/users/me", "/static/app.js"]
    written = 0
    started = time.monotonic()
    with open(log_path, "a", encoding="utf-8") as f:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(rate * elapsed)
            if due > written:
                f.write(
                    "".join(
                        f'10.0.{n % 250}.{n % 7} - - [24/Nov/2026:03:12:{n % 60:02d} +0000] "GET '
                        f'{paths[n % 5]} HTTP/1.1" {statuses[n % 48]} {n % 9000} seq={n}\n'
                        for n in range(written, due)
                    )
                )
                f.flush()
                written = due
            time.sleep(0.01)
        f.write(f"{END_OF_STREAM} after {written} lines\n")
    ended = time.monotonic()  # CLOCK_MONOTONIC: comparable with the measuring process's
    print(f"{written} {ended - started:.3f} {ended:.6f}", flush=True)


# --- the measuring side ------------------------------------------------------------


class PtyWatcher:
    """Reads everything the app writes to its terminal and spots expected text in it."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.bytes = 0
        self._expect: list[bytes] = []
        self._seen: dict[bytes, float] = {}
        self._tail = b""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def expect(self, text: bytes) -> None:
        with self._lock:
            self._seen.pop(text, None)
            self._expect.append(text)

    def wait(self, text: bytes, timeout: float) -> float | None:
        """time.monotonic() when `text` came out after `expect(text)`, or None."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while text not in self._seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._expect.remove(text)
                    return None
                self._changed.wait(left)
            return self._seen[text]

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if not ready:
                    continue
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            with self._changed:
                self.bytes += len(chunk)
                window = self._tail + chunk
                for text in list(self._expect):
                    if text in window:
                        self._seen[text] = now
                        self._expect.remove(text)
                        self._changed.notify_all()
                self._tail = window[-64:]


@dataclass
class Result:
    name: str
    lags_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    rss_mb: list[tuple[float, float]] = field(default_factory=list)
    """(seconds into the run, RSS in MB)."""
    peak_mb: float = 0.0
    cpu_percent: float = 0.0
    written: int = 0
    writer_seconds: float = 0.0
    end_to_screen_ms: float | None = None
    terminal_kb_s: float = 0.0
    gc_full: int = 0
    """Full (generation 2) garbage collections during the run."""
    gc_max_ms: float = 0.0
    """The longest garbage-collection pause."""


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def proc_status(pid: int, key: str) -> float:
    """A VmRSS-like field of /proc/PID/status, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_app(log_path: Path, max_lines: int, gc_freeze: bool) -> tuple[int, int]:
    pid, master = pty.fork()
    if pid == 0:  # the child: size its terminal, then become the app
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        os.environ.update(
            TERM="xterm-256color",
            COLORTERM="truecolor",
            BENCH_GC_REPORT=str(log_path.with_name("gc.txt")),
        )
        if gc_freeze:
            os.environ["BENCH_GC_FREEZE"] = "1"
        os.execv(sys.executable, [sys.executable, __file__, "--app", str(log_path), str(max_lines)])
    return pid, master


def stop_app(pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def measure(
    name: str, key: str, rate: int, seconds: float, max_lines: int, gc_freeze: bool = False
) -> Result:
    result = Result(name)
    with tempfile.TemporaryDirectory(prefix="pmb-bench-") as tmp:
        log_path = Path(tmp) / "bench.log"
        log_path.write_text("")
        pid, master = start_app(log_path, max_lines, gc_freeze)
        watcher = PtyWatcher(master)
        try:
            watcher.expect(b"KEY0000")
            if watcher.wait(b"KEY0000", 20) is None:
                raise SystemExit(f"{name}: the app did not draw its first frame")
            time.sleep(0.5)  # the file source has opened the file and sought to its end
            writer = None
            if rate:
                writer = subprocess.Popen(
                    [sys.executable, __file__, "--writer", str(log_path), str(rate), str(seconds)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                watcher.expect(END_OF_STREAM.encode())
            os.write(master, b"z")
            cpu_before, bytes_before, started = cpu_seconds(pid), watcher.bytes, time.monotonic()
            presses, paused, next_sample = 0, False, 1.0
            while (elapsed := time.monotonic() - started) < seconds:
                if key == "space":
                    expected = b"following" if paused else b"PAUSED"
                    paused = not paused
                    sent = b" "
                else:
                    presses += 1
                    expected = b"KEY%04d" % presses
                    sent = b"n"
                watcher.expect(expected)
                pressed = time.monotonic()
                os.write(master, sent)
                seen = watcher.wait(expected, KEY_TIMEOUT)
                if seen is None:
                    result.timeouts += 1
                else:
                    result.lags_ms.append((seen - pressed) * 1000)
                if elapsed >= next_sample:
                    result.rss_mb.append((round(elapsed), proc_status(pid, "VmRSS")))
                    next_sample += 1.0
                time.sleep(max(0.0, KEY_EVERY - (time.monotonic() - pressed)))
            run_time = time.monotonic() - started
            result.cpu_percent = 100 * (cpu_seconds(pid) - cpu_before) / run_time
            result.terminal_kb_s = (watcher.bytes - bytes_before) / run_time / 1024
            if writer is not None:
                out, _ = writer.communicate(timeout=30)
                written, took, ended = out.split()
                result.written, result.writer_seconds = int(written), float(took)
                if paused:  # the end of the stream is held; resume, but its time means nothing
                    os.write(master, b" ")
                seen = watcher.wait(END_OF_STREAM.encode(), 10)
                if seen is not None and not paused:
                    result.end_to_screen_ms = (seen - float(ended)) * 1000
            result.rss_mb.append((round(time.monotonic() - started), proc_status(pid, "VmRSS")))
            result.peak_mb = proc_status(pid, "VmHWM")
        finally:
            os.write(master, b"\x11")  # ctrl+q
            stop_app(pid)
            os.close(master)
            gc_report = log_path.with_name("gc.txt")
            if gc_report.exists():
                pauses = [item.split(":") for item in gc_report.read_text().split()]
                full = [float(ms) for gen, ms in pauses if gen == "2"]
                result.gc_full = len(full)
                result.gc_max_ms = max((float(ms) for _, ms in pauses), default=0.0)
    return result


def pooled(runs: list[Result]) -> Result:
    """Repeated runs of one kind as one: every key press pooled, the last run's memory."""
    last = runs[-1]
    last.lags_ms = [lag for r in runs for lag in r.lags_ms]
    last.timeouts = sum(r.timeouts for r in runs)
    last.cpu_percent = sum(r.cpu_percent for r in runs) / len(runs)
    last.gc_full = sum(r.gc_full for r in runs)
    last.gc_max_ms = max(r.gc_max_ms for r in runs)
    ends = [r.end_to_screen_ms for r in runs if r.end_to_screen_ms is not None]
    last.end_to_screen_ms = max(ends) if ends else None
    return last


COLUMNS_OF_REPORT = (
    f"{'run':<7} {'buffer':>8} {'lines/s':>7} {'keys':>4} {'p50':>5} {'p95':>5} {'p99':>5}"
    f" {'max':>5} {'lost':>4} {'CPU%':>4} {'KB/s':>4}  {'RSS MB, 1 s apart':<33} {'peak':>4}"
    f" {'end→screen':>10} {'full GCs':>8} {'GC max':>6}"
)


def report(results: list[Result], max_lines: int) -> None:
    load = os.getloadavg()[0]
    print(f"\nP5 log tail — pty {COLUMNS}x{ROWS}, a key every {KEY_EVERY * 1000:.0f} ms, ", end="")
    print(f"lags in ms, load average {load:.2f} on {os.cpu_count()} cores")
    print(COLUMNS_OF_REPORT)
    for r in results:
        rate = f"{r.written / r.writer_seconds / 1000:.1f}k" if r.writer_seconds else "0"
        rss = " ".join(f"{mb:.0f}" for _, mb in r.rss_mb)
        end = f"{r.end_to_screen_ms:.0f} ms" if r.end_to_screen_ms is not None else "-"
        buffer = max_lines * 10 if r.name == "big" else max_lines
        lags = [percentile(r.lags_ms, p) for p in (50, 95, 99)] + [max(r.lags_ms, default=0)]
        print(
            f"{r.name:<7} {buffer:>8,} {rate:>7} {len(r.lags_ms):>4} "
            + " ".join(f"{lag:>5.1f}" for lag in lags)
            + f" {r.timeouts:>4} {r.cpu_percent:>4.0f} {r.terminal_kb_s:>4.0f}  {rss:<33}"
            f" {r.peak_mb:>4.0f} {end:>10} {r.gc_full:>8} {r.gc_max_ms:>4.0f}ms"
        )
    idle = next((r for r in results if r.name == "idle" and r.lags_ms), None)
    for r in results:
        if not r.written:
            continue
        p99 = percentile(r.lags_ms, 99)
        verdict = "meets" if p99 <= 100 and not r.timeouts else "MISSES"
        ratio = f" ({p99 / percentile(idle.lags_ms, 99):.1f}x idle)" if idle else ""
        half = r.rss_mb[len(r.rss_mb) // 2][1] if len(r.rss_mb) > 2 else r.rss_mb[-1][1]
        print(
            f"{r.name}: key lag p99 {p99:.1f} ms{ratio} {verdict} the 100 ms goal;"
            f" RSS {r.rss_mb[-1][1] - half:+.1f} MB over the second half"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--app":
        run_app(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        run_writer(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=50_000, help="lines a second (50,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a run (10)")
    parser.add_argument("--lines", type=int, default=10_000, help="the tail's buffer (10,000)")
    parser.add_argument("--runs", default="idle,marker,pause,big", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind, pooled")
    args = parser.parse_args()
    plan = {
        "idle": ("n", 0, args.lines),
        "marker": ("n", args.rate, args.lines),
        "pause": ("space", args.rate, args.lines),
        "big": ("n", args.rate, args.lines * 10),
        "freeze": ("n", args.rate, args.lines),
    }
    results = []
    for name in args.runs.split(","):
        key, rate, lines = plan[name]
        runs = []
        for _ in range(args.repeat):
            print(f"run {name}: {rate:,} lines/s for {args.seconds:g} s, buffer {lines:,}")
            runs.append(measure(name, key, rate, args.seconds, lines, name == "freeze"))
        results.append(pooled(runs))
    report(results, args.lines)


if __name__ == "__main__":
    main()
