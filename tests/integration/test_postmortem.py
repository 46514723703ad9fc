"""The post-mortem of a scripted deploy and rollback against a real HAProxy."""

import re

from pmb_console.cli import main


def test_postmortem_lists_every_action_in_order_with_operator_and_outcome(
    haproxy, tmp_path, capsys
):
    cfg = str(haproxy.write_pmb_config(tmp_path))
    assert main(["switch", "--to", "green", "--yes", "--config", cfg]) == 0
    haproxy.servers["blue"].health = "fail"
    assert main(["rollback", "--yes", "--config", cfg]) == 3  # blue unhealthy: refused
    assert (
        main(["rollback", "--yes", "--force", "--reason", "green is on fire", "--config", cfg]) == 0
    )
    capsys.readouterr()

    assert main(["postmortem", "--config", cfg]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if re.match(r"\| \d{4}-", line)]
    assert [(r.split("|")[3].strip(), r.split("|")[4].strip()) for r in rows] == [
        ("switch", "succeeded"),
        ("monitoring window", "opened"),  # from the release journal: the audit has no record
        ("rollback", "refused"),
        ("rollback", "succeeded"),
        ("monitoring window", "did not pass"),
    ]
    actions = [r for r in rows if "| monitoring window |" not in r]
    assert all("| tester |" in r for r in actions)
    assert "**override**: green is on fire" in actions[2]
    assert "read back live blue" in actions[2]
    assert "window ended early: traffic rolled back" in rows[4]
    assert "1 guard overrides" in text
    # The guards that let an action through are listed too, by name.
    assert "guards passed: green healthy" in actions[0], actions[0]
    assert "failed guards: blue healthy" in actions[1]


def test_postmortem_of_an_empty_log_says_so(haproxy, tmp_path, capsys):
    cfg = str(haproxy.write_pmb_config(tmp_path))
    assert main(["postmortem", "--config", cfg]) == 0
    assert "No actions were recorded" in capsys.readouterr().out


def test_postmortem_shows_the_monitoring_window_opening_and_passing(haproxy, tmp_path, capsys):
    import time

    from pmb_console.bootstrap import bootstrap
    from pmb_console.config import load_config
    from pmb_console.monitor import MonitorWindow
    from pmb_console.providers.base import ColorMetrics

    path = haproxy.write_pmb_config(tmp_path)
    path.write_text(
        path.read_text() + '\n[release]\nversion = "v1.1.0"\n\n[monitor]\nwindow_minutes = 0.01\n'
    )
    cfg = str(path)
    assert main(["switch", "--to", "green", "--yes", "--config", cfg]) == 0
    window = MonitorWindow(bootstrap(load_config(path)))
    window.observe({"green": ColorMetrics("green", 20.0, 0.001, 120.0)})
    time.sleep(0.7)  # the 0.6 s window closes, watched
    window.observe({"green": ColorMetrics("green", 20.0, 0.001, 120.0)})
    capsys.readouterr()

    assert main(["postmortem", "--config", cfg]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if re.match(r"\| \d{4}-", line)]
    assert [(r.split("|")[3].strip(), r.split("|")[4].strip()) for r in rows] == [
        ("switch", "succeeded"),
        ("monitoring window", "opened"),
        ("monitoring window", "passed"),
    ]
    assert "window of 0.01 min opened by the switch" in rows[1]
    assert "window passed at" in rows[2] and "without a breach" in rows[2]
    assert text.startswith("# Post-mortem — ")
