"""One hierarchy of errors, so the CLI and the console word every fault the same way.

Each error carries a message (what failed) and a hint (what to do), and the exit code
the CLI contract gives it. Nothing here may contain a secret: callers pass redacted text.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExitCode:
    OK = 0
    FAILED = 1
    USAGE = 2
    REFUSED = 3
    LOCKED = 4
    READ_ONLY = 5


class PmbError(Exception):
    """A foreseeable fault: shown to the operator as words, never as a traceback."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ProviderError(PmbError):
    """A real system (load balancer, database, AWS, an endpoint) failed or is unreachable."""


class NotVerified(PmbError):
    """The change was made but the systems, read back, do not show what was planned."""


class UsageError(PmbError):
    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Problem:
    """One problem found in a config file."""

    file: str
    key: str
    expected: str
    found: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        found = f" (found {self.found})" if self.found else ""
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.expected}{found}"


class ConfigError(PmbError):
    """The config is malformed; every problem is listed, not just the first."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(
            f"config has {len(problems)} {noun}:\n{lines}",
            "fix the keys named above; config.example.toml documents every key",
        )


class Refused(PmbError):
    """A guard failed, or the operator did not confirm."""

    exit_code = ExitCode.REFUSED


class LockHeld(PmbError):
    exit_code = ExitCode.LOCKED


class ReadOnlyRefused(PmbError):
    exit_code = ExitCode.READ_ONLY
