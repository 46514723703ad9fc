"""The console's "nothing to do" goes through the runner like the CLI's: audited, and the
runbook step it finds already done is marked done with why. Real HAProxy, through Pilot."""

from __future__ import annotations

import pytest

from pmb_console.actions.traffic import SwitchAction
from pmb_console.journal import ReleaseJournal
from pmb_console.tui.app import PmbConsoleApp
from tests.tui.conftest import fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy


async def test_a_switch_with_traffic_already_there_is_recorded(console_services, haproxy):
    # Traffic moved to green outside the console (by hand on the load balancer).
    haproxy.command("set server pmbuddy/green weight 100; set server pmbuddy/blue weight 0")
    services = console_services()
    app = PmbConsoleApp(services, clock=fixed_clock)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: "LIVE GREEN" in screen_text(app), what="green live")
        await app.flows.guarded(SwitchAction("green"))
        await until(
            pilot,
            lambda: any(
                r.get("action") == "switch" and r.get("outcome") == "nothing-to-do"
                for r in services.audit.records()
            ),
            what="the nothing-to-do recorded",
        )
    step = ReleaseJournal.of(services).read()["steps"]["switch-traffic"]
    assert step["state"] == "done"
    assert step["evidence"]["outcome"] == "nothing to do"
    assert "traffic is already" in step["evidence"]["message"]
    # Found there, not moved: no verified switch, so no monitoring window was opened.
    assert not (ReleaseJournal.of(services).read().get("monitor") or {}).get("started_at")
