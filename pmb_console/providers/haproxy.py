"""HAProxy through its runtime API: read the backend's servers live, set weights and states.

The runtime API takes one command line per connection (several commands joined by ";")
and closes the connection once it has answered every one; each answer ends with an
empty line. A change goes out in at most two lines: first every server that must carry
more traffic is made ready and given its weight, and only once HAProxy has accepted all
of that do the others lose theirs. HAProxy carries on past a refused command within a
line, so one line holding both halves could lower the live color after refusing to
raise the new one (a backend with a static `balance` algorithm does exactly that), and
leave nothing serving. Between the two lines, for about a millisecond, both colors
carry traffic; both passed the health guard.

Weights set through the runtime API are lost when HAProxy reloads its config unless a
server-state file is used, so nothing here is cached: `read` asks every time.
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass, replace

from pmb_console.config import Config, HaproxyConfig
from pmb_console.config_checks import parse_runtime_api
from pmb_console.errors import ProviderError, UsageError
from pmb_console.providers.base import (
    COLORS,
    ProgressFn,
    RouterCheck,
    ServerState,
    TrafficRouter,
    TrafficState,
)

MAX_WEIGHT = 256
"""HAProxy accepts absolute weights from 0 to 256."""

# Admin state bits of `show servers state` (srv_admin_state), from HAProxy's server.h.
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # forced, inherited, config, DNS, hostname
_DRAIN_BITS = 0x08 | 0x10  # forced, inherited

# Operational states (srv_op_state).
_OPERATIONAL = {0: "down", 1: "starting", 2: "up", 3: "stopping"}

_CONFIG_HINT = "check [traffic.haproxy] in the config"


# --- the runtime API -------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeAddress:
    """Where the runtime API listens: a unix socket path, or a TCP host and port."""

    family: int
    target: str | tuple[str, int]
    text: str

    @classmethod
    def parse(cls, address: str) -> RuntimeAddress:
        # The config checks the same rule when it is loaded (parse_runtime_api).
        try:
            scheme, target = parse_runtime_api(address)
        except ValueError as exc:
            raise UsageError(
                f"[traffic.haproxy] runtime_api {address!r} is not an address pmb-console understands",
                f"write {exc}",
            ) from None
        if isinstance(target, str):
            return cls(socket.AF_UNIX, target, address)
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        return cls(family, target, address)


class RuntimeApi:
    """A client of HAProxy's runtime API: one connection per command line."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = RuntimeAddress.parse(address)
        self.timeout = timeout

    def send(self, commands: list[str]) -> list[str]:
        """Send the commands in one line; return one answer per command (stripped).

        Raises ProviderError when HAProxy cannot be reached or does not answer in time.
        """
        line = "; ".join(commands) + "\n"
        raw = self._exchange(line.encode())
        answers = _split_answers(raw.decode("utf-8", "replace"))
        if len(answers) < len(commands):
            raise ProviderError(
                f"HAProxy at {self.address.text} answered {len(answers)} of {len(commands)} commands",
                "HAProxy may have stopped or restarted mid-command; run status to see the state",
            )
        return answers[: len(commands)]

    def _exchange(self, payload: bytes) -> bytes:
        where = self.address.text
        try:
            deadline = time.monotonic() + self.timeout
            with socket.socket(self.address.family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.address.target)
                sock.sendall(payload)
                chunks = []
                # The timeout bounds the whole answer, not each read: a peer that trickles
                # bytes must not hold an operator past it.
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    sock.settimeout(left)
                return b"".join(chunks)
        except FileNotFoundError:
            raise ProviderError(
                f"the HAProxy runtime API socket {self.address.target} does not exist",
                "is HAProxy running? The path must match its `stats socket` line; " + _CONFIG_HINT,
            ) from None
        except ConnectionRefusedError:
            raise ProviderError(
                f"HAProxy refused the connection to its runtime API at {where}",
                "HAProxy is not running or not listening there; " + _CONFIG_HINT,
            ) from None
        except PermissionError:
            raise ProviderError(
                f"no permission to open the HAProxy runtime API at {where}",
                "run as a user allowed by the socket's mode/user/group in HAProxy's `stats socket` line",
            ) from None
        except TimeoutError:
            raise ProviderError(
                f"HAProxy's runtime API at {where} did not answer within {self.timeout:g} s",
                "HAProxy may be overloaded or the address is not its runtime API; "
                "raise [traffic.haproxy] timeout only if it is merely slow",
            ) from None
        except OSError as exc:
            raise ProviderError(
                f"cannot talk to HAProxy's runtime API at {where}: {exc.strerror or exc}",
                _CONFIG_HINT,
            ) from None


def _split_answers(text: str) -> list[str]:
    """Each command's answer ends with an empty line; an empty answer is just that line."""
    answers: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line == "":
            answers.append("\n".join(current))
            current = []
        else:
            current.append(line)
    return answers


# --- the router ------------------------------------------------------------------------


class HaproxyRouter(TrafficRouter):
    """One HAProxy backend whose servers belong to the blue or the green color."""

    name = "haproxy"

    def __init__(self, config: Config) -> None:
        self.settings: HaproxyConfig = config.traffic.haproxy
        self.backend = self.settings.backend
        self.api = RuntimeApi(self.settings.runtime_api, self.settings.timeout)
        by_color = {str(color): names for color, names in self.settings.servers.items()}
        self.colors = {name: color for color in COLORS for name in by_color.get(color, [])}
        """Each configured server's color."""

    # reading ----------------------------------------------------------------------------

    def read(self) -> TrafficState:
        rows = self._server_rows()
        missing = [name for name in self.colors if name not in rows]
        if missing:
            raise ProviderError(
                f"HAProxy backend {self.backend!r} has no server "
                + ", ".join(f"{n!r} ({self.colors[n]})" for n in missing)
                + f"; it has: {', '.join(rows) or 'no servers'}",
                "fix [traffic.haproxy] servers to name the backend's servers",
            )
        servers = tuple(
            _server_state(name, color, rows[name]) for name, color in self.colors.items()
        )
        others = [name for name in rows if name not in self.colors]
        detail = f"not configured, ignored: {', '.join(others)}" if others else ""
        return TrafficState(self.name, traffic_percent(servers), servers, detail)

    def _server_rows(self) -> dict[str, dict[str, str]]:
        (answer,) = self.api.send([f"show servers state {self.backend}"])
        lines = answer.splitlines()
        header = next((line for line in lines if line.startswith("# ")), None)
        if header is None:
            raise ProviderError(self._rejection(answer, "show servers state"), _hint_for(answer))
        names = header[2:].split()
        rows = {}
        for line in lines:
            fields = line.split()
            if line.startswith("#") or len(fields) != len(names):
                continue  # the format version line, the header
            row = dict(zip(names, fields, strict=True))
            if row.get("be_name") == self.backend:
                rows[row["srv_name"]] = row
        return rows

    def _rejection(self, answer: str, command: str) -> str:
        said = answer.strip().splitlines()[0] if answer.strip() else "nothing"
        if said.startswith(("Can't find backend", "No such backend")):
            return f"HAProxy has no backend {self.backend!r} (it said: {said})"
        return f"HAProxy refused `{command}`: {said}"

    def guards(self, target: str) -> list[RouterCheck]:
        """HAProxy's own health checks: a target server it holds down would get no traffic.

        A server in maintenance passes: its health is only known once it is made ready.
        """
        servers = [s for s in self.read().servers if s.color == target]
        down = [s for s in servers if s.operational in ("down", "stopping")]
        if down:
            said = ", ".join(f"{s.name} is {s.operational}" for s in down)
            return [RouterCheck(f"HAProxy sees {target} up", False, f"HAProxy's checks say {said}")]
        states = ", ".join(f"{s.name} {s.operational}" for s in servers)
        return [RouterCheck(f"HAProxy sees {target} up", True, states)]

    # deciding ---------------------------------------------------------------------------

    def desired(self, current: TrafficState, weights: dict[str, int]) -> TrafficState:
        return desired_state(current, weights)

    # doing ------------------------------------------------------------------------------

    def apply(self, current: TrafficState, desired: TrafficState, progress: ProgressFn) -> None:
        # Check the servers still exist before sending anything: HAProxy carries on past a
        # failed command in a line, so an unknown server would leave a half-made change.
        present = self._server_rows()
        missing = [s.name for s in desired.servers if s.name not in present]
        if missing:
            raise ProviderError(
                f"HAProxy backend {self.backend!r} has no server {', '.join(map(repr, missing))}; "
                "nothing was changed",
                "fix [traffic.haproxy] servers, or check whether HAProxy's config was reloaded",
            )
        grow, shrink = change_commands(self.backend, current, desired)
        if not grow and not shrink:
            progress("HAProxy already shows the planned weights", 1.0)
            return
        if grow:
            progress(f"HAProxy: {len(grow)} change(s) that add traffic", None)
            self._send_changes(grow, "nothing was taken from the servers that carry traffic now")
        if shrink:
            progress(f"HAProxy: {len(shrink)} change(s) that take traffic away", None)
            self._send_changes(shrink, "the new servers already carry traffic; run status")
        progress("HAProxy accepted the change", 1.0)

    def _send_changes(self, commands: list[str], consequence: str) -> None:
        answers = self.api.send(commands)
        failures = [(cmd, ans) for cmd, ans in zip(commands, answers, strict=True) if ans.strip()]
        if failures:
            said = "; ".join(f"`{cmd}`: {ans.strip().splitlines()[0]}" for cmd, ans in failures)
            raise ProviderError(
                f"HAProxy refused part of the change ({said}); {consequence}",
                _hint_for(failures[0][1]),
            )


def _hint_for(answer: str) -> str:
    if "Permission denied" in answer:
        return "the runtime API socket needs `level admin` in HAProxy's `stats socket` line"
    if "No such server" in answer:
        return "fix [traffic.haproxy] servers to name the backend's servers"
    if "static LB algorithm" in answer:
        return "use a dynamic `balance` algorithm (roundrobin, leastconn) in that backend"
    if "No such backend" in answer or "Can't find backend" in answer:
        return "fix [traffic.haproxy] backend to name a backend of HAProxy's config"
    return _CONFIG_HINT


def _server_state(name: str, color: str, row: dict[str, str]) -> ServerState:
    admin_bits = int(row.get("srv_admin_state", "0"))
    if admin_bits & _MAINT_BITS:
        admin = "maint"
    elif admin_bits & _DRAIN_BITS:
        admin = "drain"
    else:
        admin = "ready"
    operational = _OPERATIONAL.get(int(row.get("srv_op_state", "-1")), "unknown")
    if admin == "maint" and operational == "down":
        operational = "stopped"  # taken out by an operator, not failed by a check
    address = f"{row.get('srv_addr', '?')}:{row.get('srv_port', '?')}"
    return ServerState(name, color, int(row.get("srv_uweight", "0")), admin, operational, address)


# --- pure helpers (tested without HAProxy) ---------------------------------------------


def carrying_weight(server: ServerState) -> int:
    """The weight that really draws traffic: none in maintenance or drain."""
    return server.weight if server.admin == "ready" else 0


def traffic_percent(servers: tuple[ServerState, ...] | list[ServerState]) -> dict[str, int]:
    """Each color's share of the carrying weight, as integers summing to 100 (or all 0).

    A color that carries any weight at all shows at least 1%, so a trickle is never
    reported as nothing.
    """
    totals = {color: 0 for color in COLORS}
    for server in servers:
        totals[server.color] = totals.get(server.color, 0) + carrying_weight(server)
    whole = sum(totals.values())
    if whole == 0:
        return {color: 0 for color in COLORS}
    first, second = COLORS
    share = (200 * totals[first] + whole) // (2 * whole)  # round half up, in integers
    if 0 < totals[first] < whole:
        share = min(max(share, 1), 99)
    return {first: share, second: 100 - share}


def desired_state(current: TrafficState, weights: dict[str, int]) -> TrafficState:
    """The servers' weights and states that give exactly `weights` percent of traffic.

    Colors with different server counts are balanced through the least common multiple
    of the counts (see server_weights). Servers that must carry traffic are made ready.
    """
    percent = {color: int(weights.get(color, 0)) for color in COLORS}
    if any(p < 0 or p > 100 for p in percent.values()) or sum(percent.values()) != 100:
        raise UsageError(
            f"traffic weights must be 0..100 percent and sum to 100, got {percent}",
            "ask for the target color's share, e.g. --weight 25",
        )
    counts = {color: sum(1 for s in current.servers if s.color == color) for color in COLORS}
    for color in COLORS:
        if percent[color] and not counts[color]:
            raise UsageError(
                f"cannot send {percent[color]}% of traffic to {color}: it has no servers configured",
                "list its servers in [traffic.haproxy] servers",
            )
    weights_left = server_weights(percent, counts)  # consumed in server order
    servers = []
    for server in current.servers:
        weight = weights_left[server.color].pop(0)
        servers.append(replace(server, weight=weight, admin="ready" if weight else server.admin))
    return TrafficState(current.provider, percent, tuple(servers), current.detail)


def server_weights(percent: dict[str, int], counts: dict[str, int]) -> dict[str, list[int]]:
    """Each color's server weights (0..256) that traffic_percent reads back as `percent`.

    Every color's total weight is its percent times one common factor, so the shares are
    exact. Equal weights within a color are preferred (readable, and each server gets its
    share); when the ratio needs more than 256 per server, a color's total is spread as
    evenly as integers allow, and a tiny share may leave some of its servers at 0.
    """
    used = [c for c in COLORS if counts[c]]
    lcm = math.lcm(*(counts[c] for c in used)) if used else 1
    # With factor = lcm, each color's total is divisible by its count: equal weights.
    equal = {c: (percent[c] * lcm // counts[c] if counts[c] else 0) for c in COLORS}
    if max(equal.values()) > MAX_WEIGHT:
        divisor = math.gcd(*equal.values())
        equal = {c: w // divisor for c, w in equal.items()}
    if max(equal.values()) <= MAX_WEIGHT:
        scale = max(1, 100 // max(equal.values()))  # 100 rather than 1 when it fits
        return {c: [equal[c] * scale] * counts[c] for c in COLORS}
    factor = min(MAX_WEIGHT * counts[c] // percent[c] for c in COLORS if percent[c])
    return {c: _spread(percent[c] * factor, counts[c]) for c in COLORS}


def _spread(total: int, count: int) -> list[int]:
    base, extra = divmod(total, count)
    return [base + 1] * extra + [base] * (count - extra)


def change_commands(
    backend: str, current: TrafficState, desired: TrafficState
) -> tuple[list[str], list[str]]:
    """The runtime-API commands that turn `current` into `desired`, as two lines.

    The first line makes servers ready and raises weights; the second lowers weights and
    parks servers. Sent in that order, no moment leaves the backend with less capacity
    than before, and a refusal of the first line leaves the live color untouched.
    """
    now = {s.name: s for s in current.servers}
    readies: list[str] = []
    raises: list[str] = []
    lowers: list[str] = []
    parks: list[str] = []
    for want in desired.servers:
        have = now.get(want.name)
        target = f"{backend}/{want.name}"
        if have is None or have.admin != want.admin:
            (readies if want.admin == "ready" else parks).append(
                f"set server {target} state {want.admin}"
            )
        if have is None or have.weight != want.weight:
            grows = have is None or want.weight > have.weight
            (raises if grows else lowers).append(f"set server {target} weight {want.weight}")
    return readies + raises, lowers + parks
