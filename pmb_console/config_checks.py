"""What the config's values mean, beyond their shape, and where a problem sits in the file.

The checks are pure and light (the switch path loads the config on every start): the
HAProxy runtime API address, PostgreSQL durations, and the keys a chosen provider or log
source kind needs. The providers reuse them for configs built in code. tomllib keeps no
positions, so a problem's line is found again in the text.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from pmb_console.errors import Problem

NEEDS = "config_needs"
"""Error type of a key the chosen provider or source kind needs but the config leaves empty."""


Gaps = list[tuple[str, str]]
"""Keys the chosen provider or source kind needs but the config leaves empty:
(dotted key under the model, what it should hold)."""


def name_gaps(data: Any, handler: Any, gaps_of: Any, because: str) -> Any:
    """The body of a wrap validator: validate as usual, then name every key in
    `gaps_of(model)` as one error carrying each key, so it is reported at its own line.

    When a sibling key is malformed the model cannot be built, so the gaps are looked for
    in the model built without the broken keys: both kinds of problem in one pass.
    """
    try:
        model = handler(data)
    except ValidationError as exc:
        broken = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        if not isinstance(data, dict) or because in broken:
            raise
        try:
            rest = handler({k: v for k, v in data.items() if k not in broken})
        except ValidationError:
            raise exc from None
        gaps = [(k, what) for k, what in gaps_of(rest) if k.split(".")[0] not in broken]
        if not gaps:
            raise
        needs = {"type": _needs(gaps, because), "loc": (), "input": data}
        errors: list[Any] = [_reraisable(err) for err in exc.errors()] + [needs]
        raise ValidationError.from_exception_data(exc.title, errors) from None
    if gaps := gaps_of(model):
        raise _needs(gaps, because)
    return model


def _reraisable(err: Any) -> Any:
    """An error as `from_exception_data` takes it again: ours by its class, the rest as they are."""
    if err["type"] == NEEDS:
        return {**err, "type": PydanticCustomError(NEEDS, err["msg"], err.get("ctx"))}
    return err


def _needs(gaps: Gaps, because: str) -> PydanticCustomError:
    """One error naming every key in `gaps`; `because` is the key that asks for them
    (its line is shown for a gap that is not written at all)."""
    keys = ", ".join(key for key, _ in gaps)
    return PydanticCustomError(
        NEEDS, "needs {keys}", {"keys": keys, "gaps": gaps, "because": because}
    )


def parse_runtime_api(address: str) -> tuple[str, str | tuple[str, int]]:
    """An HAProxy runtime API address: ("unix", path) or ("tcp", (host, port)).

    Raises ValueError for anything else; the HAProxy provider connects to what this returns.
    """
    parts = urlsplit(address)
    if parts.scheme == "unix" and (parts.netloc + parts.path):
        return "unix", parts.netloc + parts.path
    if parts.scheme == "tcp" and parts.hostname:
        try:
            port = parts.port
        except ValueError:
            port = None
        if port:
            return "tcp", (parts.hostname, port)
    raise ValueError('an address like "unix:///run/haproxy/admin.sock" or "tcp://127.0.0.1:9999"')


_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|min|h|d)?\s*")
_MS_PER_UNIT = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_MAX_TIMEOUT_MS = 2**31 - 1  # PostgreSQL's limit for lock_timeout and statement_timeout


def is_postgres_duration(value: str) -> bool:
    """Whether PostgreSQL takes `value` as lock_timeout / statement_timeout: a number
    (milliseconds) or a number with a unit (us, ms, s, min, h, d), 0 to about 24 days."""
    m = _DURATION.fullmatch(value)
    if not m:
        return False
    return float(m.group(1)) * _MS_PER_UNIT.get(m.group(2) or "ms", 1) <= _MAX_TIMEOUT_MS


def check_duration(value: str) -> str:
    if not is_postgres_duration(value):
        raise ValueError(
            'a PostgreSQL duration like "5s", "500ms", "2min" or a number of milliseconds '
            "(units: us, ms, s, min, h, d; at most 24 days)"
        )
    return value


# --- where a problem sits -------------------------------------------------------------


def problems_of(exc: ValidationError, text: str, filename: str) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        if err["type"] == NEEDS:
            problems += _gap_problems(err.get("ctx", {}), loc, text, filename)
            continue
        key = ".".join(loc)
        if err["type"] == "extra_forbidden":
            expected = "unknown key (not one this version knows; check the spelling)"
            found = ""
        elif err["type"] == "missing":
            expected = "required key is missing"
            found = ""
        else:
            error = err.get("ctx", {}).get("error")
            expected = str(error) if err["type"] == "value_error" and error else err["msg"]
            found = repr(err.get("input"))[:80]
        problems.append(Problem(filename, key, expected, found, locate_key(text, loc)))
    return problems


def _gap_problems(
    ctx: dict[str, Any], loc: tuple[str, ...], text: str, filename: str
) -> list[Problem]:
    """One problem per empty key a provider or source kind needs: at the key's own line
    when it is written (empty), else at the line of the key that asks for it."""
    problems = []
    because = locate_key(text, (*loc, ctx["because"])) or locate_key(text, loc)
    for key, expected in ctx["gaps"]:
        full = (*loc, *key.split("."))
        match = _find_line(text, full)
        written = match is not None and match[1] > len(loc) and not match[2]
        line = match[0] if match and written else because
        problems.append(Problem(filename, ".".join(full), expected, "", line))
    return problems


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\"'.-]+)\s*=")


def locate_key(text: str, loc: tuple[str, ...]) -> int | None:
    """Best-effort line of a dotted key in TOML text (tomllib keeps no positions).

    Indexes in `loc` count `[[array]]` tables; the first matching line wins. A key that is
    not written is placed at the deepest line holding it: the key of an inline table or
    array, else its table's header. Returns None when nothing of it is written.
    """
    match = _find_line(text, loc)
    return match[0] if match else None


def _find_line(text: str, loc: tuple[str, ...]) -> tuple[int, int, bool] | None:
    """(line, how many parts of `loc` it matches, whether that line is a table header)."""
    parts = list(loc)
    if not parts:
        return None
    table: list[str] = []
    arrays: dict[tuple[str, ...], int] = {}  # index of the last [[table]] of each name
    best: tuple[int, int, bool] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = [p.strip().strip("\"'") for p in header.group(1).split(".")]
            if line.lstrip().startswith("[["):
                arrays[tuple(names)] = arrays.get(tuple(names), -1) + 1
            table = _with_indexes(names, arrays)
            found, is_header = table, True
        elif key := _KEY.match(line):
            found = table + [p.strip().strip("\"'") for p in key.group(1).split(".")]
            is_header = False
        else:
            continue
        if found == parts:
            return number, len(parts), is_header
        if found == parts[: len(found)] and (best is None or len(found) > best[1]):
            best = (number, len(found), is_header)
    return best


def _with_indexes(names: list[str], arrays: dict[tuple[str, ...], int]) -> list[str]:
    """A table path with the index of each enclosing [[array]] table after its name."""
    out: list[str] = []
    for i, name in enumerate(names):
        out.append(name)
        index = arrays.get(tuple(names[: i + 1]))
        if index is not None:
            out.append(str(index))
    return out
