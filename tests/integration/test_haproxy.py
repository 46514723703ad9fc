"""The HAProxy provider against a real haproxy process and real traffic through it."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from pmb_console.errors import ConfigError, ProviderError, UsageError
from pmb_console.providers.base import TrafficState, no_progress
from pmb_console.providers.haproxy import HaproxyRouter, RuntimeAddress

pytestmark = pytest.mark.haproxy

MAINT = 0x01  # HAProxy's "forced maintenance" admin bit
DRAIN = 0x08


def router_for(haproxy, tmp_path: Path, **overrides: str) -> HaproxyRouter:
    return HaproxyRouter(haproxy.pmb_config(tmp_path, **overrides))


def switch(router: HaproxyRouter, weights: dict[str, int]) -> TrafficState:
    current = router.read()
    desired = router.desired(current, weights)
    router.apply(current, desired, no_progress)
    return desired


def test_read_shows_blue_live(haproxy, tmp_path):
    state = router_for(haproxy, tmp_path).read()

    assert state.live == "blue"
    assert state.weights == {"blue": 100, "green": 0}
    by_name = {s.name: s for s in state.servers}
    assert (by_name["blue"].weight, by_name["blue"].admin, by_name["blue"].operational) == (
        100,
        "ready",
        "up",
    )
    assert by_name["green"].weight == 0
    assert haproxy.requests(10) == {"blue": 10}


def test_switch_moves_real_traffic_and_reads_back_exactly(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path)

    desired = switch(router, {"blue": 0, "green": 100})

    assert haproxy.weights() == {"blue": 0, "green": 100}
    assert router.differences(router.read(), desired) == []
    assert haproxy.requests(10) == {"green": 10}


def test_split_weights_share_real_traffic(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path)

    switch(router, {"blue": 75, "green": 25})

    assert router.read().weights == {"blue": 75, "green": 25}
    assert router.read().live == "split"
    seen = haproxy.requests(100)
    assert set(seen) == {"blue", "green"}
    assert 15 <= seen["green"] <= 35, seen  # weighted roundrobin: about a quarter


def test_a_server_in_maintenance_carries_nothing_and_is_made_ready(haproxy, tmp_path):
    haproxy.command("set server pmbuddy/green weight 100; set server pmbuddy/green state maint")
    router = router_for(haproxy, tmp_path)
    before = router.read()
    assert {s.name: s.admin for s in before.servers}["green"] == "maint"
    assert before.weights == {"blue": 100, "green": 0}  # green's weight 100 carries no traffic

    desired = switch(router, {"blue": 0, "green": 100})

    assert haproxy.admin_states()["green"] & MAINT == 0
    assert router.differences(router.read(), desired) == []
    assert haproxy.requests(6) == {"green": 6}


def test_drain_is_read_as_drain_and_carries_no_weight(haproxy, tmp_path):
    haproxy.command("set server pmbuddy/green weight 50; set server pmbuddy/green state drain")
    state = router_for(haproxy, tmp_path).read()

    assert {s.name: s.admin for s in state.servers}["green"] == "drain"
    assert state.weights == {"blue": 100, "green": 0}


def test_guard_fails_when_haproxy_holds_a_target_server_down(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path)
    assert [c.ok for c in router.guards("green")] == [True]

    haproxy.command("set server pmbuddy/green health down")  # as a failing check would

    (check,) = router.guards("green")
    assert not check.ok and "green is down" in check.detail
    assert {s.name: s.operational for s in router.read().servers}["green"] == "down"


def test_weights_set_behind_our_back_are_read_live(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path)
    assert router.read().live == "blue"

    haproxy.command("set server pmbuddy/green weight 100")

    assert router.read().weights == {"blue": 50, "green": 50}


def test_tcp_runtime_api(color_servers, tmp_path):
    # A second HAProxy whose runtime API listens on TCP instead of a unix socket.
    from tests.fixtures.haproxy import HAPROXY, Haproxy

    if HAPROXY is None:
        pytest.skip("haproxy is not installed")
    port = _free_port()

    class TcpHaproxy(Haproxy):
        def _config(self) -> str:
            return (
                super()
                ._config()
                .replace(
                    f"stats socket {self.socket_path} mode 600 level admin",
                    f"stats socket ipv4@127.0.0.1:{port} level admin\n"
                    f"    stats socket {self.socket_path} mode 600 level admin",
                )
            )

    proxy = TcpHaproxy(color_servers, tmp_path, tmp_path)
    try:
        router = router_for(proxy, tmp_path, runtime_api=f'"tcp://127.0.0.1:{port}"')
        switch(router, {"blue": 0, "green": 100})
        assert proxy.weights() == {"blue": 0, "green": 100}
    finally:
        proxy.stop()


# --- faults: each one a clear ProviderError, and traffic unchanged ----------------------


def assert_unchanged(haproxy) -> None:
    assert haproxy.weights() == {"blue": 100, "green": 0}
    assert haproxy.requests(4) == {"blue": 4}


def test_socket_missing(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path, runtime_api=f'"unix://{tmp_path}/nowhere.sock"')

    with pytest.raises(ProviderError) as err:
        router.read()

    assert "does not exist" in err.value.message and "nowhere.sock" in err.value.message
    assert "stats socket" in err.value.hint
    assert_unchanged(haproxy)


def test_connection_refused(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path, runtime_api=f'"tcp://127.0.0.1:{_free_port()}"')

    with pytest.raises(ProviderError) as err:
        router.read()

    assert "refused" in err.value.message
    assert_unchanged(haproxy)


def test_stale_unix_socket_is_refused(haproxy, tmp_path):
    stale = tmp_path / "stale.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(stale))
    listener.close()  # the file stays, nobody listens: what a crashed HAProxy leaves

    with pytest.raises(ProviderError) as err:
        router_for(haproxy, tmp_path, runtime_api=f'"unix://{stale}"').read()

    assert "refused" in err.value.message


def test_silent_past_the_timeout(haproxy, tmp_path):
    # A real listener that accepts and never answers (a wrong port, a hung process).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    port = listener.getsockname()[1]
    try:
        router = router_for(
            haproxy, tmp_path, runtime_api=f'"tcp://127.0.0.1:{port}"', timeout="0.3"
        )
        with pytest.raises(ProviderError) as err:
            router.read()
    finally:
        for conn, _ in accepted:
            conn.close()
        listener.close()

    assert "did not answer within 0.3 s" in err.value.message
    assert_unchanged(haproxy)


def test_a_trickling_answer_is_cut_at_the_timeout(haproxy, tmp_path):
    # A real listener that answers one byte every 50 ms and never finishes.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        with conn:
            for _ in range(60):  # gives up after 3 s, so a regression fails rather than hangs
                if stop.wait(0.05):
                    return
                try:
                    conn.sendall(b"#")
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    port = listener.getsockname()[1]
    started = time.monotonic()
    try:
        router = router_for(
            haproxy, tmp_path, runtime_api=f'"tcp://127.0.0.1:{port}"', timeout="0.3"
        )
        with pytest.raises(ProviderError) as err:
            router.read()
    finally:
        stop.set()
        listener.close()

    assert time.monotonic() - started < 1.5
    assert "did not answer within 0.3 s" in err.value.message


def test_unknown_backend(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path, backend='"nope"')

    with pytest.raises(ProviderError) as err:
        router.read()

    assert "no backend 'nope'" in err.value.message
    assert "[traffic.haproxy] backend" in err.value.hint
    assert_unchanged(haproxy)


def test_configured_server_missing_from_the_backend(haproxy, tmp_path):
    router = router_for(haproxy, tmp_path, servers='{ blue = ["blue"], green = ["green-9"] }')

    with pytest.raises(ProviderError) as err:
        router.read()

    assert "no server 'green-9' (green)" in err.value.message
    assert "it has: blue, green" in err.value.message
    assert_unchanged(haproxy)


def test_unknown_server_at_apply_changes_nothing(haproxy, tmp_path):
    """A plan naming a server HAProxy does not have (its config was reloaded since)."""
    router = router_for(haproxy, tmp_path)
    current = router.read()
    ghost = current.servers[1].__class__("green-9", "green", 0)
    current = TrafficState(current.provider, current.weights, (*current.servers, ghost))
    desired = router.desired(current, {"blue": 0, "green": 100})

    with pytest.raises(ProviderError) as err:
        router.apply(current, desired, no_progress)

    assert "no server 'green-9'" in err.value.message and "nothing was changed" in err.value.message
    assert_unchanged(haproxy)


def test_refusal_from_haproxy_is_reported_with_its_words(haproxy, tmp_path):
    # The fixture's second socket is at `level operator`: HAProxy reads but refuses changes.
    router = router_for(haproxy, tmp_path, runtime_api=f'"unix://{haproxy.operator_socket_path}"')
    current = router.read()

    with pytest.raises(ProviderError) as err:
        router.apply(current, router.desired(current, {"blue": 0, "green": 100}), no_progress)

    assert "HAProxy refused part of the change" in err.value.message
    assert "level admin" in err.value.hint
    assert_unchanged(haproxy)


def test_a_static_algorithm_refusing_the_new_weight_leaves_the_live_color_serving(
    color_servers, tmp_path
):
    # HAProxy refuses runtime weights under `balance static-rr`; it must not get as far as
    # taking blue's weight away (one line with both halves would: HAProxy carries on).
    from tests.fixtures.haproxy import HAPROXY, Haproxy

    if HAPROXY is None:
        pytest.skip("haproxy is not installed")

    class StaticHaproxy(Haproxy):
        def _config(self) -> str:
            return super()._config().replace("balance roundrobin", "balance static-rr")

    proxy = StaticHaproxy(color_servers, tmp_path, tmp_path)
    try:
        router = router_for(proxy, tmp_path)
        with pytest.raises(ProviderError) as err:
            switch(router, {"blue": 0, "green": 100})
        assert "static LB algorithm" in err.value.message
        assert "nothing was taken" in err.value.message
        assert "dynamic `balance` algorithm" in err.value.hint
        assert proxy.requests(4) == {"blue": 4}
    finally:
        proxy.stop()


def test_bad_runtime_api_address_is_a_usage_error(haproxy, tmp_path):
    with pytest.raises(ConfigError) as err:  # named when the config is loaded
        router_for(haproxy, tmp_path, runtime_api='"/run/haproxy.sock"')
    [problem] = err.value.problems
    assert problem.key == "traffic.haproxy.runtime_api" and "unix://" in problem.expected
    with pytest.raises(UsageError) as err:  # and by the provider, for a config built in code
        RuntimeAddress.parse("/run/haproxy.sock")
    assert "unix:///" in err.value.hint


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
