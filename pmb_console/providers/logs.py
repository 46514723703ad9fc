"""Log sources: files followed like `tail -F`, and programs whose output is streamed.

Each source reads in a background thread of its own and hands batches of `LogLine` to
the `emit` callback it was started with; each line carries the time written at its start
(or in its access-log bracket) when it has one, else the moment it was read, and the
console's log tail merges the sources by those times. Whatever a
source has to say about itself (a file rotated, a program exited) arrives as a line in
brackets, in the same stream, so the operator sees it where they are already looking.

Kind "cloudwatch" lives in `logs_cloudwatch` and is imported only when configured, so a
console that follows files never imports boto3.
"""

from __future__ import annotations

import importlib
import os
import select
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable

from pmb_console.config import Config, LogSourceConfig
from pmb_console.errors import ConfigError, Problem, UsageError
from pmb_console.providers.base import LogLine, LogSource
from pmb_console.providers.log_time import LineClock

Emit = Callable[[list[LogLine]], None]

MAX_LINE_CHARS = 4_000
"""Longer lines are cut: nobody reads past this on a terminal, and memory stays bounded."""
CUT_MARK = " [… line cut]"
READ_CHUNK = 1 << 20
EMIT_BATCH = 200
"""Lines handed over at once: well under the garbage collector's 700-allocation step."""
PARTIAL_WAIT = 1.0
"""Seconds a line without its newline waits for the rest before it is shown as it is."""


class LineSplitter:
    """Turns a byte stream into lines of text: UTF-8 with replacement, cut at a bound.

    The unfinished tail of the stream is kept as bytes until its newline arrives, so a
    character split across two reads is decoded whole. A line longer than the bound is
    cut, and the rest of it is skipped until its newline.
    """

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        self.max_chars = max_chars
        self._partial = b""
        self._skipping = False
        self.partial_since = 0.0
        """time.monotonic() when the unfinished line began; 0 when there is none."""

    def split(self, data: bytes) -> list[str]:
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            self._skipping = False
            data = data[newline + 1 :]
        buffer = self._partial + data if self._partial else data
        last = buffer.rfind(b"\n")
        if last < 0:
            self._keep_partial(buffer)
            return self._cut_partial()
        self._partial = b""
        self.partial_since = 0.0
        self._keep_partial(buffer[last + 1 :])
        lines = buffer[:last].decode("utf-8", "replace").split("\n")
        return [self._tidy(line) for line in lines] + self._cut_partial()

    def flush(self) -> list[str]:
        """The unfinished line as it is (a file rotated, a program ended, it waited long)."""
        if not self._partial:
            return []
        text = self._tidy(self._partial.decode("utf-8", "replace"))
        self._partial = b""
        self.partial_since = 0.0
        return [text]

    def _keep_partial(self, rest: bytes) -> None:
        if rest and not self._partial:
            self.partial_since = time.monotonic()
        self._partial = rest

    def _cut_partial(self) -> list[str]:
        # Four bytes per character at most: past that the line is too long whatever it holds.
        if len(self._partial) <= 4 * self.max_chars:
            return []
        head = self._partial[: 4 * self.max_chars].decode("utf-8", "replace")
        self._partial = b""
        self.partial_since = 0.0
        self._skipping = True
        return [head[: self.max_chars] + CUT_MARK]

    def _tidy(self, line: str) -> str:
        if line.endswith("\r"):
            line = line[:-1]
        if len(line) > self.max_chars:
            return line[: self.max_chars] + CUT_MARK
        return line


class _ThreadedSource(LogSource):
    """A source whose reading happens in one daemon thread, stopped through an event."""

    def __init__(self, color: str, name: str) -> None:
        self.color = color
        self.name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit = _discard
        self._clock = LineClock()

    def start(self, emit: Emit) -> None:
        if self._thread is not None:
            raise RuntimeError(f"log source {self.name} is already started")
        self._emit = emit
        self._thread = threading.Thread(target=self._run, name=f"log:{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Wake the reader thread out of whatever it is waiting on."""

    def _send(self, texts: list[str]) -> None:
        now = time.time()
        time_of = self._clock.time_of
        # In small batches: a LogLine is then gone before the garbage collector's next
        # pass, where thousands built into one list would be promoted to its oldest
        # generation and make the full collections (long pauses in the UI) frequent.
        for start in range(0, len(texts), EMIT_BATCH):
            self._emit(
                [
                    LogLine(time_of(text, now), self.name, self.color, text)
                    for text in texts[start : start + EMIT_BATCH]
                ]
            )

    def _say(self, text: str) -> None:
        """A line from the console itself about this source, at the moment it is said."""
        self._emit([LogLine(time.time(), self.name, self.color, f"[{text}]")])


def _discard(lines: list[LogLine]) -> None:
    return None


class FileLogSource(_ThreadedSource):
    """Follows a file like `tail -F`.

    Starts at the end of an existing file; a file that does not exist yet is waited for
    and read from its beginning once it appears. A rotation (the path now names another
    file) is followed after the old file has been read to its end; a truncation (the file
    shrank under us) is read again from the start.
    """

    def __init__(
        self,
        path: str,
        color: str,
        name: str = "",
        *,
        poll_interval: float = 0.1,
        max_line_chars: int = MAX_LINE_CHARS,
    ) -> None:
        super().__init__(color, name or path)
        self.path = os.path.expanduser(path)
        self.poll_interval = poll_interval
        self._splitter = LineSplitter(max_line_chars)
        self._fd: int | None = None
        self._problem = ""

    def _run(self) -> None:
        try:
            self._open(at_end=True)
            if self._fd is None and not self._problem:
                self._say(f"waiting for {self.path} to appear")
            while not self._stopping.is_set():
                if self._read_available():
                    continue
                self._check_path()
                if (
                    self._splitter.partial_since
                    and time.monotonic() - self._splitter.partial_since > PARTIAL_WAIT
                ):
                    self._send(self._splitter.flush())
                self._stopping.wait(self.poll_interval)
            self._send(self._splitter.flush())
        finally:
            self._close()

    def _read_available(self) -> bool:
        """Read what the file holds now; True when there may be more to read at once."""
        if self._fd is None:
            return False
        try:
            data = os.read(self._fd, READ_CHUNK)
        except OSError as exc:
            self._report(f"cannot read {self.path}: {exc.strerror}")
            self._close()
            return False
        self._send(self._splitter.split(data))
        return len(data) == READ_CHUNK

    def _check_path(self) -> None:
        """At the end of what we have: did the path move on, or the file shrink?"""
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated away and not yet replaced: keep reading the old file
        except OSError as exc:
            self._report(f"cannot read {self.path}: {exc.strerror}")
            return
        if self._fd is None:
            self._open(at_end=False)
            if self._fd is not None:
                self._say(f"{self.path} appeared; following it")
            return
        ours = os.fstat(self._fd)
        if (named.st_ino, named.st_dev) != (ours.st_ino, ours.st_dev):
            while self._read_available():
                pass  # the last lines written to the old file before it moved
            self._send(self._splitter.flush())
            self._close()
            self._open(at_end=False)
            self._say(f"{self.path} was rotated; following the new file")
        elif named.st_size < os.lseek(self._fd, 0, os.SEEK_CUR):
            os.lseek(self._fd, 0, os.SEEK_SET)
            self._send(self._splitter.flush())
            self._say(f"{self.path} was truncated; reading it from the start")

    def _open(self, at_end: bool) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._report(f"cannot open {self.path}: {exc.strerror}")
            return
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            self._report(f"cannot follow {self.path}: it is a directory")
            return
        if at_end:
            os.lseek(fd, 0, os.SEEK_END)
        self._fd = fd
        self._problem = ""

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _report(self, problem: str) -> None:
        # Said once, not on every poll; said again only if it changes.
        if problem != self._problem:
            self._problem = problem
            self._say(f"{problem}; retrying")


class CommandLogSource(_ThreadedSource):
    """Streams a program's output (e.g. `ssh host tail -F ...`, `kubectl logs -f ...`).

    stderr is streamed with stdout, so the reason a program fails ("Connection refused")
    is in front of the operator. When the program exits it is started again after a
    delay that doubles on each quick exit (first_delay .. max_delay) and resets once a
    run has lasted `stable_after` seconds. Each program runs in a process group of its
    own, so `stop()` ends it and everything it started.
    """

    def __init__(
        self,
        argv: list[str],
        color: str,
        name: str = "",
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        stable_after: float = 10.0,
        max_line_chars: int = MAX_LINE_CHARS,
    ) -> None:
        if not argv:
            raise UsageError("a command log source needs a program to run", "set command = [...]")
        super().__init__(color, name or os.path.basename(argv[0]))
        self.argv = list(argv)
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable_after = stable_after
        self.max_line_chars = max_line_chars
        self._process: subprocess.Popen[bytes] | None = None
        self._process_lock = threading.Lock()

    def _run(self) -> None:
        delay = self.first_delay
        while not self._stopping.is_set():
            started = time.monotonic()
            ended = self._run_once()
            if self._stopping.is_set():
                break
            if time.monotonic() - started >= self.stable_after:
                delay = self.first_delay
            self._say(f"{ended}; restarting in {_seconds(delay)}")
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, self.max_delay)

    def _run_once(self) -> str:
        """Run the program to its end, streaming its lines; say how it ended."""
        with self._process_lock:
            if self._stopping.is_set():
                return "stopped"
            try:
                process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                return f"cannot start {self.argv[0]}: {exc.strerror or exc}"
            self._process = process
        splitter = LineSplitter(self.max_line_chars)
        assert process.stdout is not None
        fd = process.stdout.fileno()
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    if process.poll() is not None:
                        break  # it exited but something it started holds the pipe open
                    if (
                        splitter.partial_since
                        and time.monotonic() - splitter.partial_since > PARTIAL_WAIT
                    ):
                        self._send(splitter.flush())
                    continue
                data = os.read(fd, READ_CHUNK)
                if not data:
                    break
                self._send(splitter.split(data))
            self._send(splitter.flush())
        finally:
            self._end_process(process)
        return _exit_words(process.returncode)

    def _interrupt(self) -> None:
        with self._process_lock:
            process = self._process
        if process is not None:
            _kill_group(process, signal.SIGTERM)

    def _end_process(self, process: subprocess.Popen[bytes]) -> None:
        """Leave nothing behind: the program and whatever it started."""
        _kill_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            _kill_group(process, signal.SIGKILL)
            process.wait()
        _kill_group(process, signal.SIGKILL)  # stragglers that ignored SIGTERM
        assert process.stdout is not None
        process.stdout.close()
        with self._process_lock:
            self._process = None


def _kill_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def _exit_words(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"source killed by {name}"
    return f"source exited {returncode}"


def _seconds(delay: float) -> str:
    return f"{delay:g} s"


# --- from the config -------------------------------------------------------------------

CLOUDWATCH_MODULE = "pmb_console.providers.logs_cloudwatch"


def build_log_sources(config: Config) -> list[LogSource]:
    """The configured `[[logs.sources]]`, not yet started; raises ConfigError naming every gap."""
    # The config names these gaps when it is loaded; a config built in code is checked here.
    problems = [
        Problem(config.source, f"logs.sources.{index}.{key}", what)
        for index, source in enumerate(config.logs.sources)
        for key, what in source.gaps()
    ]
    if problems:
        raise ConfigError(problems)
    return [_build(source, config) for source in config.logs.sources]


def _build(source: LogSourceConfig, config: Config) -> LogSource:
    if source.kind == "file":
        return FileLogSource(source.path, source.color, os.path.basename(source.path))
    if source.kind == "command":
        return CommandLogSource(source.command, source.color)
    try:
        module = importlib.import_module(CLOUDWATCH_MODULE)
    except ModuleNotFoundError as exc:
        missing = (
            "this build of pmb-console has no CloudWatch log source"
            if exc.name == CLOUDWATCH_MODULE
            else f"it needs {exc.name}, which is not installed"
        )
        raise UsageError(
            f"cannot follow the CloudWatch log group {source.group}: {missing}",
            'follow it with kind = "command" (e.g. ["aws", "logs", "tail", "--follow", "GROUP"]) meanwhile',
        ) from None
    return module.CloudWatchLogSource(source, config)
