"""The embedded demo: a living PM Buddy stack for the console, and game-day faults.

`pmb-console demo` (and `pmb-console` with no config) calls `run_demo`. Importing this
package stays cheap, because the provider registry imports `pmb_console.demo.router`
through it even in production.
"""

from __future__ import annotations

import argparse


def run_demo(args: argparse.Namespace) -> int:
    """Start the demo stack, open the console on it, stop everything on the way out."""
    from pmb_console.demo.session import run_demo as run

    return run(args)
