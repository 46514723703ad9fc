"""Benchmark P6: bytes per second the idle dashboard writes to its terminal at 160×45.

Goal: <= 2 KB/s. The real program (`pmb-console --config X`) runs in a pseudo-terminal
against two local instances serving /healthz and /metrics at a steady rate, with the
demo router holding the weights still. After it settles (first frame, first polls, the
sparklines' first bucket), every byte it writes is counted for a while: what an SSH
session or a shared screen carries while nobody touches the keyboard.

    .venv/bin/python bench/idle_bytes.py [--settle 12] [--seconds 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from console_pty import LocalStack, PtyProgram  # noqa: E402

PROGRAM = str(Path(sys.executable).with_name("pmb-console"))
COLS, ROWS = 160, 45
GOAL_BYTES_PER_S = 2048


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=12.0, help="seconds before counting")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds counted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pmb-bench-") as tmp:
        stack = LocalStack(Path(tmp))
        program = None
        try:
            program = PtyProgram([PROGRAM, "--config", str(stack.write_config())], COLS, ROWS)
            program.wait_for(b"palette", b"LIVE")
            program.read_for(args.settle)
            per_second = []
            for _ in range(int(args.seconds)):
                per_second.append(program.read_for(1.0))
        finally:
            if program is not None:
                program.stop()
            stack.close()
    rate = sum(per_second) / len(per_second)
    print(
        f"P6 idle dashboard at {COLS}x{ROWS}, {len(per_second)} s counted after {args.settle:.0f} s settling:"
    )
    print(f"  bytes each second: {per_second}")
    print(
        f"  mean {rate:,.0f} B/s, max {max(per_second):,} B/s   goal <= {GOAL_BYTES_PER_S:,} B/s   "
        f"{'PASS' if rate <= GOAL_BYTES_PER_S else 'FAIL'}"
    )
    return 0 if rate <= GOAL_BYTES_PER_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
