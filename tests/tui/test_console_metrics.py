"""The panes say when a color's metrics cannot be read at all, and never call it healthy."""

from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from pmb_console.tui.app import PmbConsoleApp
from tests.tui.conftest import console_toml, fixed_clock, screen_text, until


async def test_a_color_whose_instances_all_fail_to_answer_says_so(haproxy, tmp_path):
    green = haproxy.servers["green"]
    toml = console_toml(haproxy, tmp_path / "state").replace(
        f'health_url = "{green.health_url}"',
        f'health_url = "{green.health_url}", metrics_url = "http://127.0.0.1:1/metrics"',
    )
    path = tmp_path / "console.toml"
    path.write_text(toml)
    services = bootstrap(load_config(path))
    app = PmbConsoleApp(services, clock=fixed_clock)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await until(
                pilot,
                lambda: "none of its 1 instance answered" in screen_text(app),
                what="green's pane to say no instance answered",
            )
            text = screen_text(app)
            assert "metrics unavailable: none of its 1 instance answered" in text
            assert "DOWN" in text  # the instance row is greyed with its error
    finally:
        services.close()
