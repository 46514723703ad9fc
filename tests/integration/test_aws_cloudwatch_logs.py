"""The CloudWatch log source against moto's server: each event once, in order, paged."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.stub import Stubber

from pmb_console.config import LogSourceConfig
from pmb_console.providers.logs_cloudwatch import CloudWatchLogSource
from tests.fixtures.moto import aws_config

pytestmark = pytest.mark.aws

GROUP = "/pmb/app"


class Collected:
    """What the source emitted, with a way to wait for it (the source runs in a thread)."""

    def __init__(self):
        self.lines = []
        self._changed = threading.Condition()

    def __call__(self, batch):
        with self._changed:
            self.lines.extend(batch)
            self._changed.notify_all()

    def wait_for(self, count, timeout=10.0):
        """The messages emitted so far (without the time and stream each line starts with)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.lines) >= count, timeout)
        return [message(line.text) for line in self.lines]


def message(text):
    """A line as shown is "01:33:07.762Z stream message"; the console's own lines are in []."""
    return text if text.startswith("[") else text.split(" ", 2)[2]


def utc_time_of_day(ms):
    return time.strftime("%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def put(moto_aws, stream, messages, at_ms):
    logs = moto_aws.client("logs")
    try:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": at_ms + i, "message": m} for i, m in enumerate(messages)],
    )


def source_for(moto_aws, tmp_path, start, **options):
    section = {"kind": "cloudwatch", "color": "green", "group": GROUP}
    section.update({k: options.pop(k) for k in ("stream_prefix", "filter_pattern") if k in options})
    cfg = aws_config(moto_aws, tmp_path)
    options.setdefault("poll_interval", 0.02)
    return CloudWatchLogSource(LogSourceConfig(**section), cfg, start_time=start, **options)


@pytest.fixture
def group(moto_aws):
    moto_aws.client("logs").create_log_group(logGroupName=GROUP)
    return GROUP


@pytest.fixture
def running():
    started = []
    yield started.append
    for source in started:
        source.stop()


def test_events_are_emitted_once_in_order_across_pages(moto_aws, tmp_path, group, running):
    now_ms = int(time.time() * 1000)
    put(moto_aws, "pmb-green-1", ["before the console started"], now_ms - 60_000)
    put(moto_aws, "pmb-green-1", [f"green-1 line {i}" for i in range(5)], now_ms)
    put(moto_aws, "pmb-green-2", [f"green-2 line {i}" for i in range(5)], now_ms + 100)
    source = source_for(moto_aws, tmp_path, start=now_ms / 1000 - 1, page_size=3)
    seen = Collected()

    source.start(seen)
    running(source)
    texts = seen.wait_for(10)
    time.sleep(0.2)  # several more rounds over the same window

    assert seen.wait_for(11, timeout=0.1) == (
        [f"green-1 line {i}" for i in range(5)] + [f"green-2 line {i}" for i in range(5)]
    )
    assert texts[0] == "green-1 line 0"
    assert seen.lines[0].text == f"{utc_time_of_day(now_ms)} pmb-green-1 green-1 line 0"
    assert {(line.source, line.color) for line in seen.lines} == {("app", "green")}
    assert seen.lines[0].time == pytest.approx(now_ms / 1000)


def test_new_events_are_followed(moto_aws, tmp_path, group, running):
    now_ms = int(time.time() * 1000)
    source = source_for(moto_aws, tmp_path, start=now_ms / 1000 - 1)
    seen = Collected()
    source.start(seen)
    running(source)
    put(moto_aws, "s", ["first"], now_ms)
    assert seen.wait_for(1) == ["first"]

    put(moto_aws, "s", ["second", "third"], now_ms + 10)

    assert seen.wait_for(3) == ["first", "second", "third"]


def test_stream_prefix_and_filter_pattern_narrow_what_is_followed(
    moto_aws, tmp_path, group, running
):
    now_ms = int(time.time() * 1000)
    put(moto_aws, "pmb-green-1", ["GET /healthz 200", "POST /api 500 ERROR"], now_ms)
    put(moto_aws, "pmb-blue-1", ["GET /api 500 ERROR"], now_ms)
    source = source_for(
        moto_aws,
        tmp_path,
        start=now_ms / 1000 - 1,
        stream_prefix="pmb-green",
        filter_pattern="ERROR",
    )
    lines = source.poll_once()
    assert [message(line.text) for line in lines] == ["POST /api 500 ERROR"]
    assert source.poll_once() == []  # seen already: not again


def test_missing_group_is_said_once_and_retried(moto_aws, tmp_path, running):
    source = source_for(moto_aws, tmp_path, start=time.time(), max_backoff=0.05)
    seen = Collected()
    source.start(seen)
    running(source)
    seen.wait_for(1)
    time.sleep(0.3)

    moto_aws.client("logs").create_log_group(logGroupName=GROUP)
    put(moto_aws, "s", ["hello"], int(time.time() * 1000))
    texts = seen.wait_for(3)

    assert texts[0].startswith(
        "[log group /pmb/app does not exist (FilterLogEvents: ResourceNotFoundException)"
    )
    assert texts[1:] == ["[/pmb/app readable again]", "hello"]


def test_stop_ends_the_thread(moto_aws, tmp_path, group):
    source = source_for(moto_aws, tmp_path, start=time.time(), poll_interval=30)
    source.start(Collected())
    time.sleep(0.1)
    begun = time.monotonic()
    source.stop()
    assert time.monotonic() - begun < 2 and not source._thread.is_alive()


def test_stubbed_throttling_backs_off_and_says_so_once(moto_aws, tmp_path):
    """moto never throttles: botocore's Stubber answers ThrottlingException twice."""
    source = source_for(moto_aws, tmp_path, start=time.time(), max_backoff=0.05)
    stub = Stubber(source.client)
    stub.add_client_error("filter_log_events", "ThrottlingException", "Rate exceeded", 400)
    stub.add_client_error("filter_log_events", "ThrottlingException", "Rate exceeded", 400)
    event = {
        "eventId": "e1",
        "timestamp": int(time.time() * 1000),
        "message": "after the storm\n",
        "logStreamName": "s",
        "ingestionTime": int(time.time() * 1000),
    }
    stub.add_response("filter_log_events", {"events": [event]})
    seen = Collected()
    with stub:
        source.start(seen)
        texts = seen.wait_for(3)
        source.stop()

    assert texts[:3] == [
        "[CloudWatch is throttling /pmb/app; backing off (up to 0.05 s between tries)]",
        "[/pmb/app readable again]",
        "after the storm",
    ]


def test_the_configured_source_is_built_from_logs_sources(moto_aws, tmp_path, group, running):
    from pmb_console.providers.logs import build_log_sources

    cfg = aws_config(
        moto_aws,
        tmp_path,
        logs={"sources": [{"kind": "cloudwatch", "color": "blue", "group": GROUP}]},
    )
    [source] = build_log_sources(cfg)
    assert isinstance(source, CloudWatchLogSource)
    seen = Collected()
    source.start(seen)
    running(source)
    put(moto_aws, "s", ["from the config"], int(time.time() * 1000) + 50)
    assert seen.wait_for(1) == ["from the config"]
    assert seen.lines[0].color == "blue"
