"""The war room in the console: two consoles on one PostgreSQL audit database, through Pilot.

Real HAProxy, real PostgreSQL. Bob's console reads the systems only every 30 s, so what
reaches it sooner came through the shared log's live feed (LISTEN/NOTIFY), not its poll.
"""

from __future__ import annotations

import time

import pytest
from psycopg import sql

from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.choosers import TextPromptScreen
from pmb_console.tui.screens.main import MainScreen
from pmb_console.tui.war_room import CONNECTED, LOST
from pmb_console.tui.widgets.audit_feed import AuditFeed
from tests.tui.conftest import console_toml, fixed_clock, screen_text, until

pytestmark = [pytest.mark.haproxy, pytest.mark.postgres]

SIZE = (160, 45)
AUDIT_ENV = "PMB_TEST_AUDIT_URL"


@pytest.fixture
def consoles(haproxy, pg_database, tmp_path, monkeypatch):
    """make(operator, poll_interval) -> Services: one config each, one shared audit database."""
    monkeypatch.setenv(AUDIT_ENV, pg_database.url)
    made = []

    def make(operator: str, interval: float = 0.5):
        text = console_toml(
            haproxy, tmp_path / operator, extra=f'[audit]\ndsn_env = "{AUDIT_ENV}"\n'
        )
        text = text.replace('operator = "tester"', f'operator = "{operator}"')
        text = text.replace("interval = 0.5", f"interval = {interval}")
        path = tmp_path / f"{operator}.toml"
        path.write_text(text, encoding="utf-8")
        services = bootstrap(load_config(path))
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


def feed_text(app) -> str:
    return str(app.screen.query_one(AuditFeed).render())


async def test_a_lock_taken_in_one_console_shows_in_the_other_within_a_second(consoles):
    alice = PmbConsoleApp(consoles("alice"), clock=fixed_clock)
    bob = PmbConsoleApp(consoles("bob", interval=30), clock=fixed_clock)
    async with (
        alice.run_test(size=SIZE, notifications=True) as a,
        bob.run_test(size=SIZE, notifications=True) as b,
    ):
        for pilot in (a, b):
            await until(
                pilot,
                lambda p=pilot: CONNECTED in screen_text(p.app),
                within=15,
                what="the shared log connected",
            )
        await until(b, lambda: "LIVE BLUE" in screen_text(bob), what="bob's first reading")

        await a.press("L")
        await until(a, lambda: isinstance(alice.screen, TextPromptScreen), what="the reason prompt")
        await a.press(*"db", "space", *"upgrade")
        await a.press("enter")
        await until(
            a,
            lambda: "changes locked for everyone but you" in screen_text(alice),
            what="alice told the lock is hers",
        )
        taken = time.monotonic()
        await until(
            b,
            lambda: "alice lock succeeded" in feed_text(bob),
            within=5,
            what="alice's lock in bob's audit feed",
        )
        heard = time.monotonic() - taken
        await until(
            b,
            lambda: "LOCK held by alice" in screen_text(bob),
            within=5,
            what="bob's header naming the holder",
        )
        assert "db upgrade" in screen_text(bob)  # the deliberate lock's reason, for everyone
        # Bob's own poll would not come for 30 s: this came through LISTEN/NOTIFY.
        assert heard < 1.0, f"the record took {heard:.2f} s to reach the other console"


async def test_losing_the_database_refuses_changes_and_recovers(consoles, pg_database):
    app = PmbConsoleApp(consoles("bob"), clock=fixed_clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(
            pilot, lambda: CONNECTED in screen_text(app), within=15, what="the shared log connected"
        )
        await until(pilot, lambda: "LIVE BLUE" in screen_text(app), what="the first reading")
        main = app.screen
        assert isinstance(main, MainScreen)
        assert main.check_action("switch", ()) is True

        name = sql.Identifier(pg_database.name)
        with pg_database.server.admin() as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (pg_database.name,),
            )
        try:
            await until(
                pilot,
                lambda: LOST in screen_text(app),
                within=10,
                what="the header saying the shared log is lost",
            )
            assert main.check_action("switch", ()) is None  # greyed in the footer
            assert main.check_action("lock", ()) is None
            await pilot.press("s")  # greyed: nothing happens
            await pilot.pause(0.2)
            assert app.screen is main
            main.action_switch()  # what the command palette runs: refused, in words
            await until(
                pilot,
                lambda: (
                    "changes refused: the shared audit log cannot be"
                    in " ".join(screen_text(app).split())
                ),
                what="the refusal in words",
            )
            assert app.screen is main  # no chooser: nothing was started
        finally:
            with pg_database.server.admin() as admin:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))

        await until(
            pilot,
            lambda: CONNECTED in screen_text(app),
            within=20,
            what="the shared log reconnected",
        )
        assert main.check_action("switch", ()) is True
