"""The log tail widget, driven through Pilot in a tiny app that hosts only it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult

from pmb_console.providers.base import LogLine
from pmb_console.providers.logs import FileLogSource
from pmb_console.tui.themes import VARIABLE_DEFAULTS
from pmb_console.tui.widgets.log_tail import DRAIN_INTERVAL, LogTail

SIZE = (80, 12)  # 11 rows of lines and the status row


class TailApp(App):
    def __init__(self, max_lines: int = 1_000) -> None:
        super().__init__()
        self.max_lines = max_lines

    def get_css_variables(self) -> dict[str, str]:
        return {**super().get_css_variables(), **VARIABLE_DEFAULTS}

    def compose(self) -> ComposeResult:
        yield LogTail(self.max_lines)

    def on_mount(self) -> None:
        self.query_one(LogTail).focus()


def lines(texts, color="blue"):
    now = time.time()
    return [LogLine(now, "app", color, text) for text in texts]


def numbered(start, stop, color="blue"):
    return lines([f"line {n}" for n in range(start, stop)], color)


def screen_rows(tail: LogTail) -> list[str]:
    """What the widget draws, row by row."""
    return [tail.render_line(y).text.rstrip() for y in range(tail.size.height)]


def shown_texts(tail: LogTail) -> list[str]:
    """The log lines on screen, without their color tags and without the status row."""
    return [row[6:] for row in screen_rows(tail)[:-1] if row]


def status(tail: LogTail) -> str:
    return screen_rows(tail)[-1]


def posted(seen, kind):
    """Messages of a kind, once each (the hook sees a message at every node it bubbles to)."""
    return [m for m in {id(m): m for m in seen}.values() if isinstance(m, kind)]


async def drained(pilot) -> None:
    await pilot.pause(DRAIN_INTERVAL * 3)


async def test_lines_fed_from_another_thread_appear_tagged_with_their_color():
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        feeder = threading.Thread(
            target=tail.feed,
            args=(lines(["blue says hi"], "blue") + lines(["green says hi"], "green"),),
        )
        feeder.start()
        feeder.join()
        await drained(pilot)
        rows = screen_rows(tail)
        assert rows[:3] == ["blue  blue says hi", "green green says hi", ""]
        assert "following" in rows[-1] and "2 lines" in rows[-1]


async def test_lines_from_several_sources_are_shown_in_time_order():
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        tail.feed([LogLine(2.0, "b", "green", "second"), LogLine(4.0, "b", "green", "fourth")])
        tail.feed([LogLine(1.0, "a", "blue", "first"), LogLine(3.0, "a", "blue", "third")])
        await drained(pilot)
        assert shown_texts(tail) == ["first", "second", "third", "fourth"]


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


async def test_a_file_source_feeds_the_tail(tmp_path):
    """The whole path: a real file, its reader thread, the inbox, the screen."""
    path = tmp_path / "green.log"
    path.write_text("")
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        source = FileLogSource(str(path), "green", poll_interval=0.02)
        source.start(tail.feed)
        try:
            await pilot.pause(0.1)
            append(path, '10.0.0.1 - - "GET /api/projects HTTP/1.1" 200 512\n')
            for _ in range(50):
                await pilot.pause(0.05)
                if shown_texts(tail):
                    break
            assert shown_texts(tail) == ['10.0.0.1 - - "GET /api/projects HTTP/1.1" 200 512']
        finally:
            source.stop()


async def test_two_files_written_out_of_read_order_are_shown_in_time_order(tmp_path):
    """Real files and their reader threads: green's lines are written (and read) before
    blue's, but the lines interleave in time, and the pane shows them as they happened."""
    blue_log, green_log = tmp_path / "blue.log", tmp_path / "green.log"
    blue_log.write_text("")
    green_log.write_text("")
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        sources = [
            FileLogSource(str(blue_log), "blue", poll_interval=0.02),
            FileLogSource(str(green_log), "green", poll_interval=0.02),
        ]
        for source in sources:
            source.start(tail.feed)
        try:
            await pilot.pause(0.1)  # both sources are at the end of their files
            append(green_log, "".join(f"01:33:07.{ms}Z green {ms}\n" for ms in (200, 400, 600)))
            append(blue_log, "".join(f"01:33:07.{ms}Z blue {ms}\n" for ms in (100, 300, 500)))
            for _ in range(50):
                await pilot.pause(0.05)
                if len(shown_texts(tail)) == 6:
                    break
            assert shown_texts(tail) == [
                "01:33:07.100Z blue 100",
                "01:33:07.200Z green 200",
                "01:33:07.300Z blue 300",
                "01:33:07.400Z green 400",
                "01:33:07.500Z blue 500",
                "01:33:07.600Z green 600",
            ]
            assert [row[:5] for row in screen_rows(tail)[:6]] == ["blue ", "green"] * 3
        finally:
            for source in sources:
                source.stop()


async def test_error_lines_and_5xx_are_highlighted_and_others_are_not():
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        tail.feed(
            lines(
                [
                    '10.0.0.1 - - "GET /api HTTP/1.1" 200 512',
                    '10.0.0.1 - - "GET /api HTTP/1.1" 503 19',
                    "ERROR database timeout",
                    "Traceback (most recent call last):",
                    "WARNING slow query",
                    "request took 503 ms",
                ]
            )
        )
        await drained(pilot)
        error = tail.get_component_rich_style("log-tail--error")
        warning = tail.get_component_rich_style("log-tail--warning")

        def text_style(y):
            return list(tail.render_line(y).__iter__())[1].style

        styles = [text_style(y) for y in range(6)]
        assert [s.color == error.color and s.bgcolor == error.bgcolor for s in styles] == [
            False,
            True,
            True,
            True,
            False,
            False,
        ]
        assert styles[4].color == warning.color


async def test_terminal_escapes_in_a_line_are_not_drawn():
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        tail.feed(lines(["\x1b[31mred\x1b[0m\tand a bell\x07"]))
        await drained(pilot)
        assert shown_texts(tail) == ["red    and a bell\ufffd"]


async def test_filter_shows_matching_lines_and_counts_them():
    app = TailApp()
    seen = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        tail = app.query_one(LogTail)
        tail.feed(lines(["GET /a 200", "ERROR boom", "GET /b 200", "error lower", "GET /c 200"]))
        await drained(pilot)
        assert tail.set_filter("error") is True  # all lowercase: case-insensitive
        await pilot.pause()
        assert shown_texts(tail) == ["ERROR boom", "error lower"]
        assert "filter /error/ · 2 of 5 lines" in status(tail)
        tail.set_filter("ERROR")  # a capital: case-sensitive
        tail.feed(lines(["ERROR again", "GET /d 200"]))
        await drained(pilot)
        assert shown_texts(tail) == ["ERROR boom", "ERROR again"]
        tail.set_filter("")
        await pilot.pause()
        assert len(shown_texts(tail)) == 7
        filtered = [m.pattern for m in posted(seen, LogTail.Filtered)]
        assert filtered == ["error", "ERROR", ""]


async def test_an_invalid_regex_is_reported_and_the_previous_filter_stays():
    app = TailApp()
    seen = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        tail = app.query_one(LogTail)
        tail.feed(lines(["GET /a 200", "ERROR boom"]))
        await drained(pilot)
        tail.set_filter("ERROR")
        assert tail.set_filter("(unclosed") is False
        await pilot.pause()
        invalid = posted(seen, LogTail.FilterInvalid)
        assert [(m.pattern, "missing )" in m.error) for m in invalid] == [("(unclosed", True)]
        assert "not a valid regex" in status(tail)
        assert shown_texts(tail) == ["ERROR boom"]
        assert tail.filter_pattern == "ERROR"


async def test_space_pauses_the_screen_and_counts_the_lines_held():
    app = TailApp()
    seen = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        tail = app.query_one(LogTail)
        tail.feed(numbered(0, 5))
        await drained(pilot)
        await pilot.press("space")
        before = screen_rows(tail)[:-1]
        tail.feed(numbered(5, 30))
        await drained(pilot)
        assert screen_rows(tail)[:-1] == before
        assert "PAUSED · 25 lines held" in status(tail)
        await pilot.press("space")
        assert shown_texts(tail)[-1] == "line 29"
        assert "following" in status(tail)
        changes = [(m.paused, m.held) for m in posted(seen, LogTail.PauseChanged)]
        assert changes == [(True, 0), (False, 25)]


async def test_scrolling_back_holds_the_view_and_end_follows_again():
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        tail.feed(numbered(0, 100))
        await drained(pilot)
        assert shown_texts(tail)[-1] == "line 99"
        await pilot.press("pageup")
        assert shown_texts(tail)[-1] == "line 89"  # a page is the 11 rows less one
        await pilot.press("up", "up", "down")
        assert shown_texts(tail)[-1] == "line 88"
        tail.feed(numbered(100, 120))
        await drained(pilot)
        assert shown_texts(tail)[-1] == "line 88"
        assert "SCROLLED · 31 newer lines below" in status(tail)
        await pilot.press("end")
        assert shown_texts(tail)[-1] == "line 119"
        assert "following" in status(tail)
        await pilot.press("home")
        assert shown_texts(tail)[0] == "line 0"


async def test_end_resumes_a_paused_tail():
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        await pilot.press("space")
        tail.feed(numbered(0, 3))
        await drained(pilot)
        assert shown_texts(tail) == []
        await pilot.press("end")
        assert not tail.paused
        assert shown_texts(tail) == ["line 0", "line 1", "line 2"]


async def test_the_buffer_is_bounded_and_keeps_the_newest_lines():
    app = TailApp(max_lines=50)
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        for start in range(0, 1_000, 100):
            tail.feed(numbered(start, start + 100))
        await drained(pilot)
        assert "50 lines" in status(tail)
        await pilot.press("home")
        assert shown_texts(tail)[0] == "line 950"
        await pilot.press("space")  # lines held while paused are bounded too
        tail.feed(numbered(1_000, 2_000))
        await drained(pilot)
        assert "1,000 lines held" in status(tail)
        await pilot.press("space")
        await pilot.press("home")
        assert shown_texts(tail)[0] == "line 1950"


async def test_the_mouse_wheel_scrolls_and_a_smaller_terminal_still_shows_the_newest():
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        tail.feed(numbered(0, 100))
        await drained(pilot)
        tail.post_message(events.MouseScrollUp(tail, 5, 5, 0, -1, 0, False, False, False))
        await pilot.pause()
        assert shown_texts(tail)[-1] == "line 96"
        tail.post_message(events.MouseScrollDown(tail, 5, 5, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert tail.following
        await pilot.resize_terminal(80, 6)
        await pilot.pause()
        assert shown_texts(tail) == [f"line {n}" for n in range(95, 100)]
