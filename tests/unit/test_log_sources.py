"""Log sources against real files and real processes."""

from __future__ import annotations

import calendar
import os
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pmb_console.config import Config, LogsConfig, LogSourceConfig, parse_config
from pmb_console.errors import ConfigError, UsageError
from pmb_console.providers.base import LogLine
from pmb_console.providers.log_merge import TimeMerge
from pmb_console.providers.log_time import LineClock
from pmb_console.providers.logs import (
    CUT_MARK,
    CommandLogSource,
    FileLogSource,
    LineSplitter,
    build_log_sources,
)


class Collector:
    """The emit callback: keeps every line and lets a test wait for the ones it expects."""

    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self._changed = threading.Condition()

    def __call__(self, batch: list[LogLine]) -> None:
        with self._changed:
            self.lines.extend(batch)
            self._changed.notify_all()

    @property
    def texts(self) -> list[str]:
        with self._changed:
            return [line.text for line in self.lines]

    def wait_for(self, predicate, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate([line.text for line in self.lines]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out; lines so far: {[line.text for line in self.lines]}"
                    )
                self._changed.wait(left)
            return [line.text for line in self.lines]

    def wait_for_text(self, text: str, timeout: float = 5.0) -> list[str]:
        return self.wait_for(lambda texts: text in texts, timeout)


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


@pytest.fixture
def follow():
    """Starts sources and always stops them, even when a test fails."""
    started = []

    def start(source):
        collector = Collector()
        source.start(collector)
        started.append(source)
        return collector

    yield start
    for source in started:
        source.stop()


# --- splitting -------------------------------------------------------------------------


def test_splitter_keeps_an_unfinished_line_and_a_split_character_until_the_newline():
    splitter = LineSplitter()
    word = "café ünïcode\n".encode()
    assert splitter.split(word[:4]) == []
    assert splitter.split(word[4:5]) == []  # half of "é"
    assert splitter.split(word[5:] + b"next") == ["café ünïcode"]
    assert splitter.flush() == ["next"]


def test_splitter_replaces_invalid_utf8_and_drops_carriage_returns():
    assert LineSplitter().split(b"bad \xff byte\r\nok\n") == ["bad \ufffd byte", "ok"]


def test_splitter_cuts_a_long_line_and_skips_its_rest():
    splitter = LineSplitter(max_chars=10)
    assert splitter.split(b"x" * 25 + b"\nshort\n") == ["x" * 10 + CUT_MARK, "short"]
    first = splitter.split(b"y" * 100)  # no newline yet: cut as soon as it is too long
    assert first == ["y" * 10 + CUT_MARK]
    assert splitter.split(b"y" * 100) == []
    assert splitter.split(b"yyy\nafter\n") == ["after"]


# --- files -----------------------------------------------------------------------------


def test_file_source_starts_at_the_end_and_streams_appended_lines(tmp_path, follow):
    log = tmp_path / "app.log"
    log.write_text("old line\n")
    source = FileLogSource(str(log), "blue", "app", poll_interval=0.02)
    got = follow(source)
    time.sleep(0.1)
    append(log, "first\nsecond\n")
    got.wait_for(lambda texts: texts[-2:] == ["first", "second"])
    assert "old line" not in got.texts
    line = got.lines[-1]
    assert (line.source, line.color) == ("app", "blue")
    assert abs(line.time - time.time()) < 5


def test_file_source_follows_rotation_by_rename(tmp_path, follow):
    log = tmp_path / "app.log"
    log.write_text("")
    got = follow(FileLogSource(str(log), "green", poll_interval=0.02))
    time.sleep(0.1)
    with open(log, "a") as old:
        old.write("before rotation\n")
        old.flush()
        got.wait_for_text("before rotation")
        os.rename(log, tmp_path / "app.log.1")
        old.write("late write to the old file\n")  # a writer that has not reopened yet
    time.sleep(0.1)
    append(log, "in the new file\n")
    texts = got.wait_for_text("in the new file")
    assert texts.index("late write to the old file") < texts.index("in the new file")
    assert any("rotated" in t for t in texts)


def test_file_source_reads_a_truncated_file_from_the_start(tmp_path, follow):
    log = tmp_path / "app.log"
    log.write_text("")
    got = follow(FileLogSource(str(log), "blue", poll_interval=0.02))
    time.sleep(0.1)
    append(log, "a rather long line before the truncation\n")
    got.wait_for_text("a rather long line before the truncation")
    with open(log, "w") as f:  # copytruncate, as logrotate does it
        f.write("after\n")
    texts = got.wait_for_text("after")
    assert any("truncated" in t for t in texts)


def test_file_source_waits_for_a_file_created_later_and_reads_it_whole(tmp_path, follow):
    log = tmp_path / "later.log"
    got = follow(FileLogSource(str(log), "blue", poll_interval=0.02))
    got.wait_for(lambda texts: any("waiting for" in t for t in texts))
    log.write_text("one\ntwo\n")
    texts = got.wait_for_text("two")
    assert texts[-2:] == ["one", "two"]


def test_file_source_shows_a_line_without_newline_after_a_while(tmp_path, follow):
    log = tmp_path / "app.log"
    log.write_text("")
    got = follow(FileLogSource(str(log), "blue", poll_interval=0.02))
    time.sleep(0.1)
    append(log, "no newline yet")
    got.wait_for_text("no newline yet", timeout=3)


def test_file_source_reports_a_directory_once_instead_of_failing(tmp_path, follow):
    got = follow(FileLogSource(str(tmp_path), "blue", poll_interval=0.02))
    got.wait_for(lambda texts: any("is a directory" in t for t in texts))
    time.sleep(0.3)
    assert sum("is a directory" in t for t in got.texts) == 1


def test_file_source_stop_ends_its_thread(tmp_path):
    source = FileLogSource(str(tmp_path / "x.log"), "blue", poll_interval=0.02)
    source.start(Collector())
    source.stop()
    assert not any(t.name.startswith("log:") and t.is_alive() for t in threading.enumerate())


# --- commands --------------------------------------------------------------------------


def test_command_source_streams_output_and_restarts_with_growing_delay(follow):
    argv = [sys.executable, "-c", "print('hello'); print('world'); raise SystemExit(3)"]
    source = CommandLogSource(argv, "green", "printer", first_delay=0.2, max_delay=0.4)
    got = follow(source)
    texts = got.wait_for(lambda texts: sum("restarting" in t for t in texts) >= 3, timeout=10)
    assert texts[:3] == ["hello", "world", "[source exited 3; restarting in 0.2 s]"]
    notes = [t for t in texts if t.startswith("[")]
    assert notes[:3] == [
        "[source exited 3; restarting in 0.2 s]",
        "[source exited 3; restarting in 0.4 s]",
        "[source exited 3; restarting in 0.4 s]",  # capped at max_delay
    ]
    assert texts.count("hello") >= 3
    assert {line.color for line in got.lines} == {"green"}


def test_command_source_streams_stderr_too(follow):
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('ssh: connect refused\\n')"]
    got = follow(CommandLogSource(argv, "blue", first_delay=5))
    got.wait_for_text("ssh: connect refused")


def test_command_source_says_when_the_program_cannot_start(follow):
    got = follow(CommandLogSource(["/nonexistent/tail-logs"], "blue", first_delay=0.1))
    texts = got.wait_for(lambda texts: len(texts) >= 1)
    assert texts[0].startswith(
        "[cannot start /nonexistent/tail-logs: No such file or directory; restarting in"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes: it runs nothing.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def test_command_source_stop_leaves_no_process_behind(tmp_path, follow):
    pids = tmp_path / "pids"
    # The program starts a child of its own, as `ssh` or a shell pipeline would.
    script = textwrap.dedent(
        f"""
        import subprocess, sys, os, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    source = CommandLogSource([sys.executable, "-c", script], "blue")
    got = Collector()
    source.start(got)
    got.wait_for_text("ready")
    parent, child = (int(p) for p in pids.read_text().split())
    assert _alive(parent) and _alive(child)
    source.stop()
    deadline = time.monotonic() + 3
    while (_alive(parent) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(parent) and not _alive(child)
    assert not any(t.name.startswith("log:") and t.is_alive() for t in threading.enumerate())


def test_command_source_needs_a_program():
    with pytest.raises(UsageError):
        CommandLogSource([], "blue")


# --- from the config -------------------------------------------------------------------


def test_build_log_sources_from_config(tmp_path):
    config = parse_config(
        textwrap.dedent(
            f"""
            [[logs.sources]]
            kind = "file"
            path = "{tmp_path / "blue.log"}"
            color = "blue"
            [[logs.sources]]
            kind = "command"
            command = ["kubectl", "logs", "-f", "deploy/pmb-green"]
            color = "green"
            """
        )
    )
    file_source, command_source = build_log_sources(config)
    assert isinstance(file_source, FileLogSource) and file_source.color == "blue"
    assert file_source.name == "blue.log"
    assert isinstance(command_source, CommandLogSource) and command_source.color == "green"
    assert command_source.argv == ["kubectl", "logs", "-f", "deploy/pmb-green"]


def test_build_log_sources_names_every_missing_key():
    # Loading a config file names these gaps (tests/unit/test_config_meaning.py); a config
    # built in code skips that check, and building the sources still refuses it.
    sources = [
        LogSourceConfig.model_construct(kind="file"),
        LogSourceConfig.model_construct(kind="command"),
    ]
    config = Config.model_construct(
        logs=LogsConfig.model_construct(sources=sources), source="console.toml"
    )
    with pytest.raises(ConfigError) as raised:
        build_log_sources(config)
    keys = [p.key for p in raised.value.problems]
    assert keys == ["logs.sources.0.path", "logs.sources.1.command"]
    assert "console.toml" in str(raised.value)


def test_cloudwatch_source_without_its_module_is_a_clear_error():
    from importlib.util import find_spec

    if find_spec("pmb_console.providers.logs_cloudwatch") is not None:
        pytest.skip("the CloudWatch source exists in this build; its own tests cover it")
    config = parse_config('[[logs.sources]]\nkind = "cloudwatch"\ngroup = "/pmb/app"\n')
    with pytest.raises(UsageError) as raised:
        build_log_sources(config)
    assert "/pmb/app" in raised.value.message and raised.value.hint


# --- the time a line carries ------------------------------------------------------------

READ_AT = calendar.timegm((2026, 11, 25, 1, 33, 8, 0, 0, 0)) + 0.5
"""The moment the lines below were read: 2026-11-25 01:33:08.5 UTC."""
STAMPED = calendar.timegm((2026, 11, 25, 1, 33, 7, 0, 0, 0))
"""01:33:07 UTC that day, the time the lines below carry."""


@pytest.mark.parametrize(
    "line, carried",
    [
        ("2026-11-25T01:33:07.762Z INFO started", STAMPED + 0.762),
        ("2026-11-25T01:33:07Z INFO started", STAMPED),
        ("2026-11-25 03:33:07,762+02:00 INFO python logging", STAMPED + 0.762),
        ("2026-11-24T20:33:07.5-05:00 started", STAMPED + 0.5),
        ("2026-11-25T01:33:07.762123456Z nanoseconds", STAMPED + 0.762123456),
        ("[2026-11-25T01:33:07Z] bracketed", STAMPED),
        ("01:33:07.762Z INFO  green-1 200 GET /boards", STAMPED + 0.762),
        ('10.0.0.1 - - [25/Nov/2026:01:33:07 +0000] "GET / HTTP/1.1" 200 5', STAMPED),
        ('10.0.0.1 - - [25/Nov/2026:03:33:07 +0200] "GET / HTTP/1.1" 200 5', STAMPED),
        ("haproxy[12]: 10.0.0.1:5000 [25/Nov/2026:01:33:07.762] fe be/green-1", STAMPED + 0.762),
    ],
)
def test_a_line_carries_the_time_written_in_it(line, carried):
    assert LineClock().time_of(line, READ_AT) == pytest.approx(carried, abs=1e-6)


@pytest.mark.parametrize(
    "line",
    [
        "GET /boards 200 12ms",
        "",
        "[log group /pmb/app readable again]",
        "2026-13-45T01:33:07Z not a date",
        "25:61:00Z not a time of day",
        "10:00:00:00 a counter, not a time",
        "x" * 200 + " [25/Nov/2026:01:33:07 +0000] too far into the line to look for",
        "[25/Foo/2026:01:33:07 +0000] no such month",
    ],
)
def test_a_line_without_a_time_gets_the_moment_it_was_read(line):
    assert LineClock().time_of(line, READ_AT) == READ_AT


def test_a_time_of_day_just_before_midnight_read_after_it_is_yesterdays():
    just_after_midnight = calendar.timegm((2026, 11, 25, 0, 0, 1, 0, 0, 0))
    at = LineClock().time_of("23:59:59.900Z late line", just_after_midnight)
    assert at == pytest.approx(just_after_midnight - 1.1)


def test_a_time_without_a_zone_is_taken_as_the_nearer_of_utc_and_local_time():
    at = LineClock().time_of("2026-11-25 01:33:07.762 no zone", READ_AT)
    assert at == pytest.approx(STAMPED + 0.762)  # in any local zone, UTC is the near one


def test_file_source_lines_carry_their_own_time_or_the_read_time(tmp_path, follow):
    log = tmp_path / "app.log"
    log.write_text("")
    got = follow(FileLogSource(str(log), "blue", poll_interval=0.02))
    time.sleep(0.1)
    append(log, "2020-01-02T03:04:05.250Z an old line\nno time in this one\n")
    got.wait_for(lambda texts: "no time in this one" in texts)
    stamped, plain = got.lines[-2:]
    assert stamped.time == calendar.timegm((2020, 1, 2, 3, 4, 5, 0, 0, 0)) + 0.25
    assert abs(plain.time - time.time()) < 5


# --- merging sources by time ------------------------------------------------------------


def run(*lines):
    """A source's run: (time, text) pairs as the tail receives them."""
    return [t for t, _ in lines], [text for _, text in lines]


def test_a_drain_merges_the_runs_of_several_sources_by_time():
    merger = TimeMerge(hold=False)
    shown = merger.take(
        {
            "blue": run((1.0, "blue 1"), (3.0, "blue 3"), (5.0, "blue 5")),
            "green": run((2.0, "green 2"), (4.0, "green 4")),
        }
    )
    assert shown == ["blue 1", "green 2", "blue 3", "green 4", "blue 5"]


def test_a_source_keeps_its_own_order_even_when_its_times_do_not_rise():
    merger = TimeMerge(hold=False)
    shown = merger.take(
        {"blue": run((2.0, "b first"), (1.0, "b second")), "green": run((1.5, "g"))}
    )
    assert shown.index("b first") < shown.index("b second")
    assert sorted(shown) == ["b first", "b second", "g"]


def test_a_single_source_is_shown_at_once_in_read_order():
    merger = TimeMerge()
    assert merger.take({"blue": run((2.0, "two"), (1.0, "one"))}) == ["two", "one"]
    assert merger.waiting == 0


def test_a_slower_source_is_caught_within_one_more_drain():
    merger = TimeMerge()
    assert merger.take({"blue": run((1.0, "blue 1"))}) == ["blue 1"]  # one source so far
    # green's lines are read first; blue's earlier line only at the next drain.
    assert merger.take({"green": run((2.0, "green 2"), (9.0, "green 9"))}) == []
    assert merger.waiting == 2
    assert merger.take({"blue": run((1.5, "blue 1.5"), (3.0, "blue 3"))}) == [
        "blue 1.5",
        "green 2",
        "blue 3",
        "green 9",
    ]
    assert merger.waiting == 0


def test_a_line_later_than_the_hold_is_shown_after_what_is_on_screen():
    merger = TimeMerge()
    merger.take({"blue": run((5.0, "blue 5")), "green": run((6.0, "green 6"))})
    assert merger.take({}) == ["blue 5", "green 6"]
    # Two drains late, with an earlier time: shown at the bottom, never above lines shown.
    assert merger.take({"green": run((1.0, "green 1"))}) == []
    assert merger.take({}) == ["green 1"]


def test_without_holding_every_drain_shows_all_it_took():
    merger = TimeMerge(hold=False)
    assert merger.take({"blue": run((1.0, "b1"))}) == ["b1"]
    assert merger.take({"green": run((2.0, "g2")), "blue": run((1.5, "b1.5"))}) == ["b1.5", "g2"]
    assert merger.waiting == 0
