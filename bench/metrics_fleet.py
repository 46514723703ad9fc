"""A fleet of instances' /metrics endpoints in one process: one asyncio server per port.

Used by the P4 benchmark (bench/metrics_poll.py), which starts it as a separate process so
that serving costs nothing to the poller it measures. Each instance answers ~2.5 KB of
Prometheus text, like a small Python web app's, whose counters grow with time:
~50 requests/s, 1% of them 5xx, durations spread over the histogram.

    python bench/metrics_fleet.py --first-port 20000 --count 1000
prints "ready" on stdout once every port listens, then serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

BOUNDS = (
    "0.005",
    "0.01",
    "0.025",
    "0.05",
    "0.075",
    "0.1",
    "0.25",
    "0.5",
    "0.75",
    "1.0",
    "2.5",
    "5.0",
)
SHARE_BELOW = (0.08, 0.22, 0.45, 0.66, 0.78, 0.86, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
STATUSES = (
    ("200", 0.90),
    ("201", 0.04),
    ("304", 0.03),
    ("404", 0.02),
    ("500", 0.007),
    ("503", 0.003),
)

PROCESS_FAMILIES = """\
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 123456.0
python_gc_objects_collected_total{generation="1"} 23456.0
python_gc_objects_collected_total{generation="2"} 3456.0
# HELP python_info Python platform information
# TYPE python_info gauge
python_info{implementation="CPython",major="3",minor="11",patchlevel="2",version="3.11.2"} 1.0
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 4.12352512e+08
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 8.6470656e+07
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.76400012e+09
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1234.56
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 42.0
"""


def exposition(requests: float) -> str:
    """The body of an instance that has served `requests` requests in all."""
    lines = [
        "# HELP http_requests_total Requests served, by status.",
        "# TYPE http_requests_total counter",
    ]
    for status, share in STATUSES:
        lines.append(
            f'http_requests_total{{method="GET",status="{status}"}} {requests * share:.1f}'
        )
    lines += [
        "# HELP http_request_duration_seconds Time spent serving a request.",
        "# TYPE http_request_duration_seconds histogram",
    ]
    for bound, share in zip(BOUNDS, SHARE_BELOW, strict=True):
        lines.append(
            f'http_request_duration_seconds_bucket{{le="{bound}",method="GET"}} {int(requests * share)}.0'
        )
    lines.append(
        f'http_request_duration_seconds_bucket{{le="+Inf",method="GET"}} {int(requests)}.0'
    )
    lines.append(f'http_request_duration_seconds_count{{method="GET"}} {int(requests)}.0')
    lines.append(f'http_request_duration_seconds_sum{{method="GET"}} {requests * 0.061:.3f}')
    return "\n".join(lines) + "\n" + PROCESS_FAMILIES


class MetricsProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, just enough for GET /metrics."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            body = exposition(50.0 * (time.time() - START) + self.offset).encode()
            head = (
                "HTTP/1.1 200 OK\r\n"
                "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            self.transport.write(head + body)  # type: ignore[attr-defined]


START = time.time()


async def serve(first_port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for i in range(count):
        server = await loop.create_server(
            lambda i=i: MetricsProtocol(offset=1000.0 * i), "127.0.0.1", first_port + i, backlog=64
        )
        servers.append(server)
    print("ready", flush=True)
    # Serve until the parent closes our stdin (it exits, or it is done measuring).
    await loop.run_in_executor(None, sys.stdin.read)
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-port", type=int, default=20000)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(serve(args.first_port, args.count))


if __name__ == "__main__":
    main()
