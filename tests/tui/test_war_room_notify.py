"""A webhook that fails is shown in the console; the switch it was told about still succeeds.

Real HAProxy, a real local webhook server answering 500, the real app through Pilot.
"""

from __future__ import annotations

import pytest

from pmb_console.tui.app import PmbConsoleApp
from pmb_console.tui.screens.run_progress import RunProgressScreen
from tests.integration.test_notify import WEBHOOK_ENV, Webhook
from tests.tui.conftest import fixed_clock, screen_text, until

pytestmark = pytest.mark.haproxy


async def test_a_failing_webhook_is_shown_and_the_switch_succeeds(
    console_services, haproxy, monkeypatch
):
    hook = Webhook("error")
    monkeypatch.setenv(WEBHOOK_ENV, hook.url)
    try:
        services = console_services(
            extra=f'[notify]\nwebhook_env = "{WEBHOOK_ENV}"\ntimeout = 1.0\n'
        )
        app = PmbConsoleApp(services, clock=fixed_clock)
        async with app.run_test(size=(160, 45), notifications=True) as pilot:
            await until(pilot, lambda: "LIVE BLUE 100%" in screen_text(app), what="the reading")
            await pilot.press("s")
            await until(pilot, lambda: "all traffic to green" in screen_text(app), what="chooser")
            await pilot.press("enter")
            await pilot.pause(0.4)  # past the confirmation's arming delay
            await pilot.press("tab", "enter")
            await until(
                pilot,
                lambda: isinstance(app.screen, RunProgressScreen) and app.screen.done,
                what="the outcome",
            )
            assert "DONE AND VERIFIED" in screen_text(app)
            await pilot.press("enter")
            await until(
                pilot,
                lambda: "the webhook answered HTTP 500" in screen_text(app),
                what="the failed notification told",
            )
            assert "s3cr3t" not in screen_text(app)  # the webhook URL is a secret
        assert haproxy.weights() == {"blue": 0, "green": 100}
        assert len(hook.posts) == 2  # it was tried for the start and for the end
    finally:
        hook.close()
