"""End-to-end wall time of `pmb-console switch --to COLOR --yes` against a live HAProxy.

Side by side in the same run, a minimal Python script makes the same runtime-API calls
(read for the router's guard, for the plan, again under the lock, before sending; the
line of `set` that adds traffic, the line that takes it away; read back) and
nothing else: no config, no health check, no audit. The ratio of the medians says what
pmb-console's own overhead costs an operator at 3 a.m.; the target is 3 or less.

    .venv/bin/python bench/switch_haproxy.py [--runs 20] [--json]

Each round switches to green and back to blue with each program, so every run makes a
real change. A pmb-console run that does not exit 0 (done and verified) stops the bench.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.haproxy import BACKEND, ColorServer, Haproxy  # noqa: E402

MINIMAL = """\
import socket, sys

def send(line):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(SOCKET)
        s.sendall(line.encode() + b"\\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()

SOCKET, target = sys.argv[1], sys.argv[2]
other = "blue" if target == "green" else "green"
for _ in range(4):  # router guard, plan, plan again under the lock, check before sending
    send("show servers state BACKEND")
send(f"set server BACKEND/{target} state ready; set server BACKEND/{target} weight 100")
send(f"set server BACKEND/{other} weight 0")
state = send("show servers state BACKEND")  # read back
""".replace("BACKEND", BACKEND)


def pmb_console_program() -> str:
    local = ROOT / ".venv" / "bin" / "pmb-console"
    found = str(local) if local.exists() else shutil.which("pmb-console")
    if not found:
        sys.exit("pmb-console is not installed: run `make test` or `pip install -e .` first")
    return found


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return elapsed


def heavy_imports(program: str, config: Path) -> list[str]:
    """Which heavy libraries a `switch --dry-run` imports (none should be)."""
    python = Path(program).with_name("python")
    code = (
        "import sys; from pmb_console.cli import main; "
        f"main(['switch', '--to', 'green', '--dry-run', '--config', {str(config)!r}]); "
        "heavy = [m for m in ('textual', 'boto3', 'botocore', 'psycopg') if m in sys.modules]; "
        "print('HEAVY:' + ','.join(heavy))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    marked = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")]
    if not marked:
        return ["? (the check did not run: " + done.stderr.strip()[-200:] + ")"]
    return [m for m in marked[-1].removeprefix("HEAVY:").split(",") if m]


IMPORT_PROBES = {
    "python startup": "pass",
    "import pmb_console.config (pydantic)": "import pmb_console.config",
    "import httpx (health checks)": "import httpx",
    "import the whole switch path": (
        "import pmb_console.cli, pmb_console.bootstrap, pmb_console.actions.traffic, "
        "pmb_console.providers.haproxy, pmb_console.providers.health, pmb_console.output"
    ),
}
"""Where pmb-console's time goes: each probe is a fresh interpreter, timed whole."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=20, help="rounds; each times 2 runs per program"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--program",
        help="the pmb-console to time (default: .venv's); e.g. one installed with only the "
        "runtime dependencies, which lacks the test tools that make `import httpx` slower",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pmbbench-"))
    servers = {color: ColorServer(color) for color in ("blue", "green")}
    proxy = Haproxy(servers, work, work)
    try:
        config = proxy.write_pmb_config(work)
        minimal = work / "minimal_switch.py"
        minimal.write_text(MINIMAL)
        program = args.program or pmb_console_program()
        pmb = {c: [program, "switch", "--to", c, "--yes", "--config", str(config)] for c in servers}
        base = {c: [sys.executable, str(minimal), str(proxy.socket_path), c] for c in servers}
        pmb_times, base_times = [], []
        timed(pmb["green"]), timed(pmb["blue"])  # warm the page cache, not measured
        for _ in range(args.runs):
            for color in ("green", "blue"):
                pmb_times.append(timed(pmb[color]))
                base_times.append(timed(base[color]))
        if proxy.weights() != {"blue": 100, "green": 0}:
            sys.exit(f"HAProxy ended at {proxy.weights()}, not blue: the runs did not switch")
        imports = heavy_imports(program, config)
        python = str(Path(program).with_name("python"))
        probes = {
            name: statistics.median(
                timed([python, "-c", code]) for _ in range(max(5, args.runs // 2))
            )
            for name, code in IMPORT_PROBES.items()
        }
    finally:
        proxy.stop()
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    pmb_median, base_median = statistics.median(pmb_times), statistics.median(base_times)
    result = {
        "runs_each": len(pmb_times),
        "pmb_console_median_ms": round(pmb_median * 1000, 1),
        "minimal_script_median_ms": round(base_median * 1000, 1),
        "ratio": round(pmb_median / base_median, 2),
        "target_ratio": 3.0,
        "pmb_console_min_ms": round(min(pmb_times) * 1000, 1),
        "minimal_script_min_ms": round(min(base_times) * 1000, 1),
        "heavy_imports": imports,
        "breakdown_median_ms": {name: round(t * 1000, 1) for name, t in probes.items()},
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"runs each:            {result['runs_each']}")
        print(
            f"pmb-console switch:   median {result['pmb_console_median_ms']} ms "
            f"(min {result['pmb_console_min_ms']})"
        )
        print(
            f"minimal script:       median {result['minimal_script_median_ms']} ms "
            f"(min {result['minimal_script_min_ms']})"
        )
        print(f"ratio:                {result['ratio']} (target <= 3)")
        print(f"heavy imports:        {', '.join(imports) or 'none (no textual, boto3, psycopg)'}")
        print("breakdown (fresh interpreter each, median):")
        for name, ms in result["breakdown_median_ms"].items():
            print(f"  {name:40} {ms} ms")
        print(f"load average:         {result['load_average']} on {result['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
