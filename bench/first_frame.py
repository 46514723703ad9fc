"""Benchmark P1: the console's first full frame, against a bare Textual app of the same size.

Goal: the console (`pmb-console --config X`, the real program) draws its first full
frame no later than 1.25× a bare Textual app with the same number of widgets (Statics
and a Footer), both started fresh in a 160×45 pseudo-terminal, alternately, in the same
run. "Full frame" means the footer and the runbook panel are on screen (Textual draws
a screen in one update, so two far-apart widgets stand for all of them).

    .venv/bin/python bench/first_frame.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from console_pty import LocalStack, PtyProgram  # noqa: E402

PROGRAM = str(Path(sys.executable).with_name("pmb-console"))
COLS, ROWS = 160, 45

BARE_APP = """
import sys
if sys.argv[1:] == ["--with-console-imports"]:
    # The same modules the console imports before its first frame (config model, wiring,
    # the app): what is left between this and the console is the console's own work.
    import pmb_console.config, pmb_console.bootstrap, pmb_console.tui.app  # noqa
from textual.app import App
from textual.containers import Vertical
from textual.widgets import Footer, Static

class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self):
        with Vertical():
            yield Static("Runbook")
            for i in range({statics}):
                yield Static(f"widget {{i}}")
        yield Footer()

Bare().run()
"""


def count_console_widgets(config: Path) -> int:
    """How many widgets the console's main screen holds, counted through Pilot."""
    from pmb_console.bootstrap import bootstrap
    from pmb_console.config import load_config
    from pmb_console.tui.app import PmbConsoleApp

    async def count() -> int:
        app = PmbConsoleApp(bootstrap(load_config(config)), poll=False)
        async with app.run_test(size=(COLS, ROWS)) as pilot:
            await pilot.pause(0.2)
            return len(list(app.screen.walk_children()))

    return asyncio.run(count())


def first_frame(argv: list[str], markers: tuple[bytes, ...]) -> float:
    program = PtyProgram(argv, COLS, ROWS)
    try:
        return program.wait_for(*markers)
    finally:
        program.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pmb-bench-") as tmp:
        stack = LocalStack(Path(tmp))
        try:
            config = stack.write_config()
            widgets = count_console_widgets(config)
            bare = Path(tmp) / "bare_app.py"
            bare.write_text(BARE_APP.format(statics=max(1, widgets - 3)))
            console_times, bare_times, imports_times = [], [], []
            markers = (b"palette", b"Runbook")
            for _ in range(args.runs):
                bare_times.append(first_frame([sys.executable, str(bare)], markers))
                console_times.append(first_frame([PROGRAM, "--config", str(config)], markers))
                imports_times.append(
                    first_frame([sys.executable, str(bare), "--with-console-imports"], markers)
                )
        finally:
            stack.close()
    console_ms = statistics.median(console_times) * 1000
    bare_ms = statistics.median(bare_times) * 1000
    imports_ms = statistics.median(imports_times) * 1000
    ratio = console_ms / bare_ms

    def runs(times: list[float]) -> list[int]:
        return [round(t * 1000) for t in times]

    print(f"P1 first full frame at {COLS}x{ROWS}, median of {args.runs} runs each, alternating:")
    print(
        f"  bare Textual app ({widgets} widgets):           {bare_ms:6.0f} ms  runs {runs(bare_times)}"
    )
    print(
        f"  bare app + the console's imports:          {imports_ms:6.0f} ms  runs {runs(imports_times)}"
    )
    print(
        f"  pmb-console --config X ({widgets} widgets):     {console_ms:6.0f} ms  runs {runs(console_times)}"
    )
    print(
        f"  ratio console / bare: {ratio:.2f}x   goal <= 1.25x   {'PASS' if ratio <= 1.25 else 'FAIL'}"
    )
    print(
        f"  of which imports: {imports_ms - bare_ms:+.0f} ms; the console's own work: {console_ms - imports_ms:+.0f} ms"
    )
    return 0 if ratio <= 1.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
