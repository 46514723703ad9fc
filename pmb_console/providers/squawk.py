"""The squawk migration linter, run as its own program.

The squawk-cli package ships a self-contained binary; we run `squawk --reporter json` on
the files and read its findings back. We write no SQL rules of our own where squawk has
one: this module only finds the program, runs it and turns its JSON into value objects.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pmb_console.errors import ProviderError

RUN_LIMIT_S = 60.0
"""squawk takes a few milliseconds a file; a minute means it hangs."""

INSTALL_HINT = "install the linter into the console's environment: pip install squawk-cli"


@dataclass(frozen=True)
class SquawkFinding:
    """One finding as squawk reports it, with the line made 1-based."""

    file: Path
    line: int
    """1-based line of the file (squawk's JSON counts from 0)."""
    rule: str
    message: str
    help: str = ""
    level: str = "Warning"


def find_squawk() -> str:
    """The squawk program: beside this Python first (the venv the console runs in), then PATH.

    Raises ProviderError when neither has one.
    """
    beside = Path(sys.executable).with_name("squawk")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise ProviderError(
            "the migration linter squawk is not installed: no squawk beside "
            f"{sys.executable} nor on PATH",
            INSTALL_HINT,
        )
    return found


def run_squawk(
    files: Sequence[Path], *, in_transaction: bool, pg_version: str = "", program: str = ""
) -> list[SquawkFinding]:
    """Lint `files` in one run of squawk; findings in file then line order.

    `in_transaction` says the files will run inside a transaction (squawk's
    --assume-in-transaction), which changes what it flags: a CREATE INDEX CONCURRENTLY
    cannot run in one, a NOT VALID constraint validated in the same one still blocks.
    Raises ProviderError when squawk is missing or answers something other than findings.
    """
    if not files:
        return []
    argv = [program or find_squawk(), "--reporter", "json"]
    if in_transaction:
        argv.append("--assume-in-transaction")
    if pg_version:
        argv.append(f"--pg-version={pg_version}")
    argv += [str(f) for f in files]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=RUN_LIMIT_S, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ProviderError(f"the migration linter {argv[0]} cannot be run", INSTALL_HINT) from None
    except subprocess.TimeoutExpired:
        raise ProviderError(
            f"squawk did not finish linting {len(files)} file(s) within {RUN_LIMIT_S:.0f} s",
            "run it by hand on the files to see which one it is stuck on",
        ) from None
    # squawk exits 1 when it has findings, so the exit code alone says nothing: the
    # answer is good when stdout is its JSON list.
    try:
        raw = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        raw = None
    if not isinstance(raw, list):
        raise ProviderError(
            f"squawk failed (exit {done.returncode}): {_failure(done.stderr or done.stdout)}",
            "run squawk --reporter json on the migration files by hand to see why",
        )
    by_name = {str(f): Path(f) for f in files}
    findings = [
        SquawkFinding(
            file=by_name.get(str(item.get("file")), Path(str(item.get("file")))),
            line=int(item.get("line", 0)) + 1,
            rule=str(item.get("rule_name", "?")),
            message=str(item.get("message", "")),
            help=str(item.get("help") or ""),
            level=str(item.get("level", "Warning")),
        )
        for item in raw
        if isinstance(item, dict)
    ]
    return sorted(findings, key=lambda f: (str(f.file), f.line))


def _failure(said: str) -> str:
    """squawk's own words when it fails: its message, without the stack trace it appends
    (whose last line, `_start`, says nothing)."""
    lines = [line.strip() for line in said.split("Stack backtrace:", 1)[0].splitlines()]
    words = " ".join(line for line in lines if line)
    if not words:
        return "no message"
    return words if len(words) <= 500 else words[:500] + "…"
