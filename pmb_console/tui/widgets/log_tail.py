"""The log tail: the newest lines of every log source, fast enough for a firehose.

Stock `Log` and `RichLog` could not keep up with tens of thousands of lines a second
without freezing or eating the keyboard (measured: see the project's facts file), so
this widget keeps each line as a (color, text) pair in a bounded deque and draws only
the rows on screen, one plain segment each. Pairs of strings are not tracked by the
garbage collector, so a full buffer costs a collection nothing to scan, where objects
kept per line (RichLog's way) made collections the cause of long stalls. Sources call
`feed()` from their own threads; the UI takes what arrived every 50 ms, so the screen
is redrawn at most about twenty times a second however fast lines come. Each take merges
the lines of all sources by the time each line carries (`providers.log_merge`); lines
already on screen are never re-sorted, so a line that comes late with an earlier time
is shown at the bottom, after them.

The bottom row says what the tail is doing (following, paused with N lines held,
scrolled back, the filter and how many lines match), so a paused screen can never be
mistaken for a quiet system.
"""

from __future__ import annotations

import re
import threading
from collections import deque

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from pmb_console.providers.base import LogLine
from pmb_console.providers.log_merge import TimeMerge

DRAIN_INTERVAL = 0.05
"""Seconds between two takes of the inbox: at most this late, at most 20 redraws a second."""
SCROLL_STEP = 3

ERROR_LINE = re.compile(
    r"\b(?:ERROR|FATAL|CRITICAL|PANIC)\b|Traceback \(most recent call last\)"
    r'|"\s5\d\d\s|\bstatus[=:]\s*"?5\d\d\b'
)
"""Errors, tracebacks, and 5xx answers in access logs ("GET / HTTP/1.1" 503 ...)."""
WARNING_LINE = re.compile(r"\bWARN(?:ING)?\b")
TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
"""Colour codes and the like (kubectl and many loggers colour their output)."""
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Drawn as they are, escapes and control characters would corrupt the screen."""


Entry = tuple[str, str]
"""(color, text) of one line, as kept."""


class LineBuffer:
    """A bounded run of lines numbered from the first ever added.

    Numbers stay with their lines as old ones fall off the front, so a scrolled-back
    screen keeps showing the same lines while new ones arrive.
    """

    def __init__(self, max_lines: int) -> None:
        self._lines: deque[Entry] = deque(maxlen=max_lines)
        self.added = 0
        """Lines ever added; the newest line is number added - 1."""

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def first(self) -> int:
        """Number of the oldest line still held."""
        return self.added - len(self._lines)

    def extend(self, lines: list[Entry]) -> None:
        self._lines.extend(lines)
        self.added += len(lines)

    def get(self, number: int) -> Entry | None:
        index = number - self.first
        if 0 <= index < len(self._lines):
            return self._lines[index]
        return None

    def __iter__(self):
        return iter(self._lines)


class LogTail(Widget, can_focus=True):
    """A bounded, filterable, pausable tail of log lines from any number of sources."""

    BINDINGS = [
        Binding("space", "toggle_pause", "Pause logs", id="logs.pause"),
        Binding("end", "follow", "Follow", id="logs.follow"),
        Binding("up", "older(1)", "Older", show=False, id="logs.up"),
        Binding("down", "newer(1)", "Newer", show=False, id="logs.down"),
        Binding("pageup", "older_page", "Page up", show=False, id="logs.pageup"),
        Binding("pagedown", "newer_page", "Page down", show=False, id="logs.pagedown"),
        Binding("home", "oldest", "Oldest", show=False, id="logs.home"),
    ]

    DEFAULT_CSS = """
    LogTail {
        height: 1fr;
        background: $surface;
        color: $foreground;
    }
    LogTail:focus {
        background-tint: $foreground 4%;
    }
    LogTail > .log-tail--blue { color: $blue-color; text-style: bold; }
    LogTail > .log-tail--green { color: $green-color; text-style: bold; }
    LogTail > .log-tail--lb { color: $accent; }
    LogTail > .log-tail--db { color: $secondary; }
    LogTail > .log-tail--other { color: $foreground-muted; }
    LogTail > .log-tail--error { color: $text-error; background: $error 15%; }
    LogTail > .log-tail--warning { color: $text-warning; }
    LogTail > .log-tail--status { color: $foreground; background: $panel; }
    LogTail > .log-tail--paused { color: $text; background: $warning; text-style: bold; }
    LogTail > .log-tail--scrolled { color: $text; background: $accent; }
    LogTail > .log-tail--invalid { color: $text-error; background: $panel; text-style: bold; }
    """

    COMPONENT_CLASSES = {
        "log-tail--blue",
        "log-tail--green",
        "log-tail--lb",
        "log-tail--db",
        "log-tail--other",
        "log-tail--error",
        "log-tail--warning",
        "log-tail--status",
        "log-tail--paused",
        "log-tail--scrolled",
        "log-tail--invalid",
    }

    class PauseChanged(Message):
        """The tail was paused or resumed."""

        def __init__(self, log_tail: LogTail, paused: bool, held: int) -> None:
            super().__init__()
            self.log_tail = log_tail
            self.paused = paused
            self.held = held
            """Lines that arrived while paused (when resuming: the ones now shown)."""

    class Filtered(Message):
        """A new filter is in force; an empty pattern shows every line."""

        def __init__(self, log_tail: LogTail, pattern: str, matching: int) -> None:
            super().__init__()
            self.log_tail = log_tail
            self.pattern = pattern
            self.matching = matching

    class FilterInvalid(Message):
        """A filter was refused because it is not a valid regular expression."""

        def __init__(self, log_tail: LogTail, pattern: str, error: str) -> None:
            super().__init__()
            self.log_tail = log_tail
            self.pattern = pattern
            self.error = error

    def __init__(
        self,
        max_lines: int = 10_000,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._all = LineBuffer(max_lines)
        self._shown = self._all
        """The lines the filter lets through (the same buffer when there is no filter)."""
        self._inbox: deque[tuple[tuple[str, str], list[float], list[Entry]]] = deque()
        """Batches fed and not yet taken: their source, each line's time, the lines."""
        self._merge: TimeMerge[Entry] = TimeMerge()
        self._inbox_lines = 0
        self._inbox_lock = threading.Lock()
        self._arrived = 0
        """Lines fed since the last drain, including any the bounded inbox let go."""
        self._held: deque[Entry] = deque(maxlen=max_lines)
        self._held_count = 0
        self._paused = False
        self._top: int | None = None
        """Number of the line on the top row when scrolled back; None while following."""
        self._filter: re.Pattern[str] | None = None
        self._filter_error = ""
        self._styles_memo: dict[str, Style] = {}

    # --- the API -------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def held(self) -> int:
        """Lines that arrived while paused, not yet shown."""
        return self._held_count

    @property
    def following(self) -> bool:
        return self._top is None and not self._paused

    @property
    def filter_pattern(self) -> str:
        return self._filter.pattern if self._filter else ""

    def feed(self, lines: list[LogLine]) -> None:
        """Hand in new lines; safe to call from any thread, cheap enough for any rate.

        A source's lines keep the order it read them in; the lines of several sources
        are merged by their times when the UI takes them. The inbox is bounded like the
        buffer: if the UI stalls, the oldest batches go first.
        """
        if not lines:
            return
        # Taken apart here, in the source's thread: the LogLines die at once instead of
        # living until the next drain (long enough to be promoted to the oldest GC generation).
        entries = [(line.color, line.text) for line in lines]
        times = [line.time for line in lines]
        source = (lines[0].source, lines[0].color)
        with self._inbox_lock:
            self._inbox.append((source, times, entries))
            self._inbox_lines += len(entries)
            self._arrived += len(entries)
            while self._inbox_lines - len(self._inbox[0][2]) >= self.max_lines:
                self._inbox_lines -= len(self._inbox.popleft()[2])

    def set_filter(self, pattern: str) -> bool:
        """Show only lines matching a regular expression (case-insensitive unless it has
        a capital letter); an empty pattern shows every line. An invalid pattern is
        reported (FilterInvalid and the status row) and the previous filter stays."""
        if not pattern:
            self._filter = None
            self._filter_error = ""
            self._shown = self._all
        else:
            flags = 0 if any(c.isupper() for c in pattern) else re.IGNORECASE
            try:
                compiled = re.compile(pattern, flags)
            except re.error as exc:
                self._filter_error = f"filter {pattern!r} is not a valid regex: {exc}"
                self.post_message(self.FilterInvalid(self, pattern, str(exc)))
                self._refresh_status()
                return False
            self._filter = compiled
            self._filter_error = ""
            self._shown = LineBuffer(self.max_lines)
            self._shown.extend([entry for entry in self._all if compiled.search(entry[1])])
        self._top = None
        self.post_message(self.Filtered(self, pattern, len(self._shown)))
        self.refresh()
        return True

    def toggle_pause(self) -> None:
        """Pause (the screen holds still, new lines are counted) or resume."""
        if self._paused:
            self._paused = False
            held, self._held_count = self._held_count, 0
            self._take(list(self._held))
            self._held.clear()
            self.post_message(self.PauseChanged(self, False, held))
            self.refresh()
        else:
            self._paused = True
            self.post_message(self.PauseChanged(self, True, 0))
            self._refresh_status()

    def follow(self) -> None:
        """Back to the newest line, following; resumes a paused tail."""
        if self._paused:
            self.toggle_pause()
        self._top = None
        self.refresh()

    # --- keys ----------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.toggle_pause()

    def action_follow(self) -> None:
        self.follow()

    def action_older(self, rows: int) -> None:
        self._show_from(self._top_line() - rows)

    def action_newer(self, rows: int) -> None:
        self._show_from(self._top_line() + rows)

    def action_older_page(self) -> None:
        self.action_older(max(1, self._rows() - 1))

    def action_newer_page(self) -> None:
        self.action_newer(max(1, self._rows() - 1))

    def action_oldest(self) -> None:
        self._show_from(self._shown.first)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_older(SCROLL_STEP)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_newer(SCROLL_STEP)

    # --- taking lines in -------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(DRAIN_INTERVAL, self._drain, name="log-tail-drain")

    def _drain(self) -> None:
        with self._inbox_lock:
            if not self._inbox and not self._merge.waiting:
                return
            batches = list(self._inbox)
            self._inbox.clear()
            self._inbox_lines = 0
            arrived, self._arrived = self._arrived, 0
        runs: dict[object, tuple[list[float], list[Entry]]] = {}
        for source, times, batch in batches:
            run = runs.get(source)
            if run is None:
                runs[source] = (times, batch)
            else:
                run[0].extend(times)
                run[1].extend(batch)
        # In time order across sources; only what is not on screen yet is merged: lines
        # already shown are never re-sorted into the past (see TimeMerge).
        entries = self._merge.take(runs)
        if self._paused:
            self._held.extend(entries)
            self._held_count += arrived
            self._refresh_status()
            return
        if not entries:
            return  # held for the next drain
        top_before = self._top_line()
        self._take(entries)
        if self._top is None or self._top_line() != top_before:
            self.refresh()
        else:
            self._refresh_status()  # scrolled back: only "N newer lines" changed

    def _take(self, entries: list[Entry]) -> None:
        self._all.extend(entries)
        if self._filter is not None:
            search = self._filter.search
            self._shown.extend([entry for entry in entries if search(entry[1])])

    # --- scrolling -------------------------------------------------------------------

    def _rows(self) -> int:
        """Rows for lines: all but the status row."""
        return max(0, self.size.height - 1)

    def _newest_top(self) -> int:
        return max(self._shown.first, self._shown.added - self._rows())

    def _top_line(self) -> int:
        if self._top is None:
            return self._newest_top()
        return min(max(self._top, self._shown.first), self._newest_top())

    def _show_from(self, top: int) -> None:
        newest = self._newest_top()
        top = max(self._shown.first, top)
        # Scrolling down onto the newest line follows again, as in a pager's F mode.
        self._top = None if top >= newest else top
        self.refresh()

    # --- drawing ---------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_memo.clear()

    def _style(self, name: str) -> Style:
        style = self._styles_memo.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                # Not partial: the full style blends translucent backgrounds ($error 15%).
                style = self.get_component_rich_style(f"log-tail--{name}")
            self._styles_memo[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        rows = self._rows()
        if y >= rows:
            return self._status_strip(width)
        line = self._shown.get(self._top_line() + y)
        if line is None:
            return Strip.blank(width, self._style("base"))
        return self._line_strip(line, width)

    def _line_strip(self, entry: Entry, width: int) -> Strip:
        color, line = entry
        tag_style = self._style(color if color in _TAGGED else "other")
        text = _printable(line[: 2 * width])
        if ERROR_LINE.search(line):
            text_style = self._style("error")
        elif WARNING_LINE.search(line):
            text_style = self._style("warning")
        else:
            text_style = self._style("base")
        segments = [Segment(f"{color[:5]:<5} ", tag_style), Segment(text, text_style)]
        return Strip(segments).adjust_cell_length(width, text_style)

    def _status_strip(self, width: int) -> Strip:
        segments = [Segment(" " + self._mode_words() + " ", self._style(self._mode_style()))]
        if self._filter_error:
            segments.append(Segment(f" {self._filter_error} ", self._style("invalid")))
        elif self._filter is not None:
            segments.append(
                Segment(
                    f" filter /{self._filter.pattern}/ · {len(self._shown):,} of {len(self._all):,} lines ",
                    self._style("status"),
                )
            )
        else:
            segments.append(Segment(f" {len(self._all):,} lines ", self._style("status")))
        return Strip(segments).adjust_cell_length(width, self._style("status"))

    def _mode_words(self) -> str:
        if self._paused:
            return f"PAUSED · {self._held_count:,} lines held · space resumes"
        if self._top is not None:
            newer = self._shown.added - self._top_line() - self._rows()
            return f"SCROLLED · {max(0, newer):,} newer lines below · end follows"
        return "following"

    def _mode_style(self) -> str:
        if self._paused:
            return "paused"
        return "scrolled" if self._top is not None else "status"

    def _refresh_status(self) -> None:
        if self.size.height:
            self.refresh(Region(0, self.size.height - 1, self.size.width, 1))


_TAGGED = frozenset({"blue", "green", "lb", "db", "other"})


def _printable(text: str) -> str:
    if "\t" in text:
        text = text.expandtabs(4)
    if text.isprintable():
        return text
    return CONTROL.sub("\ufffd", TERMINAL_ESCAPE.sub("", text))
