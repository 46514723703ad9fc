"""The embedded demo stack, read the way the console reads it: metrics, router, logs.

Everything here is real: HTTP servers on 127.0.0.1, the load generator's requests, the
scrape metrics source, the action runner switching through the demo router.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time

import httpx
import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.traffic import RollbackAction, SwitchAction
from pmb_console.bootstrap import bootstrap
from pmb_console.demo.controls import GameDay
from pmb_console.demo.stack import DemoStack
from pmb_console.providers.logs import build_log_sources
from pmb_console.providers.metrics import build_metrics_source


def refuses(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def demo_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("demo")]


@pytest.fixture
def stack():
    with DemoStack() as s:
        yield s


@pytest.fixture
def services(stack):
    svc = bootstrap(stack.config())
    yield svc
    svc.close()


async def poll_until(source, predicate, *, polls: int, interval: float = 1.0):
    """Poll like the console does (once a second) until `predicate(figures)` or `polls` run out."""
    figures = None
    for _ in range(polls):
        await asyncio.sleep(interval)
        figures = await source.poll()
        if predicate(figures):
            return figures
    return figures


def rps(figures, color: str) -> float:
    return figures[color].requests_per_second or 0.0


def test_stops_cleanly_no_thread_no_port_no_temp_dir():
    before = set(threading.enumerate())
    stack = DemoStack().start()
    ports = stack.ports
    assert len(ports) == 4 and all(not refuses(p) for p in ports)
    time.sleep(0.5)  # traffic flowing, keep-alive connections open
    stack.stop()

    assert [t.name for t in set(threading.enumerate()) - before] == []
    assert all(refuses(p) for p in ports)
    assert not stack.root.exists()
    stack.stop()  # twice is fine (atexit and finally both call it)


def test_instances_answer_health_and_version(stack):
    for color, version in (("blue", "v1.0.0"), ("green", "v1.1.0")):
        for inst in stack.instances[color]:
            answer = httpx.get(f"{inst.url}/healthz", timeout=2)
            assert answer.status_code == 200
            assert answer.json()["version"] == version


async def test_both_colors_show_traffic_within_3_seconds(stack):
    source = build_metrics_source(stack.config())
    started = time.monotonic()
    try:
        await source.poll()
        figures = await poll_until(
            source, lambda f: rps(f, "blue") > 0 and rps(f, "green") > 0, polls=2
        )
    finally:
        await source.aclose()
    assert time.monotonic() - started < 3
    assert rps(figures, "blue") > 0 and rps(figures, "green") > 0
    assert rps(figures, "blue") > 5 * rps(figures, "green")  # blue is live; green sees only probes


async def test_a_switch_moves_requests_from_blue_to_green(stack, services):
    source = build_metrics_source(stack.config())
    try:
        await source.poll()
        before = await poll_until(source, lambda f: rps(f, "blue") > 0, polls=3)
        outcome = services.runner.run(SwitchAction("green"), Confirmation.yes())
        assert outcome.status == "succeeded", outcome.message
        # The poll right after the switch mixes both sides of it; the next one is all after.
        await source.poll()
        after = await poll_until(source, lambda f: rps(f, "green") > 5 * rps(f, "blue"), polls=4)
    finally:
        await source.aclose()
    assert rps(after, "green") > rps(before, "green") * 5
    assert rps(after, "blue") < rps(before, "blue") / 5


async def test_error_spike_shows_within_two_polls_and_rollback_brings_users_back(stack, services):
    threshold = services.config.metrics.error_rate_threshold
    game_day = GameDay(stack)
    source = build_metrics_source(stack.config())
    try:
        assert services.runner.run(SwitchAction("green"), Confirmation.yes()).ok
        await source.poll()
        await poll_until(source, lambda f: rps(f, "green") > 10, polls=3)
        calm = await poll_until(source, lambda f: True, polls=1)
        assert calm["green"].error_rate < threshold

        said = game_day.inject("green", "error-spike")
        assert "green" in said
        spiked = await poll_until(
            source, lambda f: (f["green"].error_rate or 0) > threshold, polls=2
        )
        assert spiked["green"].error_rate > threshold

        outcome = services.runner.run(RollbackAction(), Confirmation.yes())
        assert outcome.status == "succeeded", outcome.message
        await source.poll()
        back = await poll_until(source, lambda f: rps(f, "blue") > 5 * rps(f, "green"), polls=4)
    finally:
        await source.aclose()
        game_day.close()
    # Users are on blue again, and blue is fine; green stays broken (it is), with only probes.
    assert back["blue"].error_rate < threshold
    assert rps(back, "blue") > 5 * rps(back, "green")


async def test_instance_down_and_back_at_the_same_port(stack):
    game_day = GameDay(stack)
    first = stack.instances["green"][0]
    port = first.port
    source = build_metrics_source(stack.config())
    try:
        game_day.inject("green", "instance-down")
        figures = await source.poll()
        down = [i.name for i in figures["green"].instances if not i.up]
        assert down == [first.name]
        assert refuses(port)
        game_day.clear("green")
        figures = await source.poll()
        assert all(i.up for i in figures["green"].instances)
        assert first.port == port
    finally:
        await source.aclose()
        game_day.close()


def test_latency_spike_slows_the_answers(stack):
    inst = stack.instances["blue"][1]
    with httpx.Client(timeout=5) as client:
        started = time.monotonic()
        client.get(f"{inst.url}/api/projects")
        calm = time.monotonic() - started
        GameDay(stack).inject("blue", "latency-spike")
        started = time.monotonic()
        client.get(f"{inst.url}/api/projects")
        slow = time.monotonic() - started
    assert calm < 0.5 < 0.8 <= slow


def test_health_flapping_alternates_the_answer(stack):
    GameDay(stack).inject("blue", "health-flap")
    inst = stack.instances["blue"][0]
    seen = set()
    deadline = time.monotonic() + 7  # two flapping periods and then some
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline and len(seen) < 2:
            seen.add(client.get(f"{inst.url}/healthz").status_code)
            time.sleep(0.25)
    assert seen == {200, 503}


def test_logs_follow_each_color_and_storm(stack):
    sources = build_log_sources(stack.config())
    lines = []
    lock = threading.Lock()

    def emit(batch):
        with lock:
            lines.extend(batch)

    for source in sources:
        source.start(emit)
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not {"blue", "green"} <= {ln.color for ln in lines}:
            time.sleep(0.1)
        assert {ln.color for ln in lines} >= {"blue", "green"}
        access = [
            ln.text for ln in lines if ln.color == "blue" and re.search(r" blue-\d \d{3} ", ln.text)
        ]
        assert (
            access
            and re.search(r" (GET|POST) /api/\S+ \d+ms ", access[0])
            and "v1.0.0" in access[0]
        )

        GameDay(stack).inject("green", "log-storm")
        with lock:
            lines.clear()
        time.sleep(1.0)
        with lock:
            storm = [ln for ln in lines if ln.color == "green" and " WARN " in ln.text]
        assert len(storm) > 500
    finally:
        for source in sources:
            source.stop()


def test_clear_heals_and_the_banner_says_what_is_on(stack):
    game_day = GameDay(stack)
    assert game_day.banner() is None
    game_day.inject("green", "error-spike")
    game_day.inject("green", "latency-spike")
    assert game_day.banner() == "game day — green: error-spike, latency-spike"
    assert "healed" in game_day.clear()
    assert game_day.banner() is None
    assert "no such fault" in game_day.inject("green", "meteor")
    game_day.close()
