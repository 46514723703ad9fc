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
        ("rollback", "refused"),
        ("rollback", "succeeded"),
    ]
    assert all("| tester |" in r for r in rows)
    assert "**override**: green is on fire" in rows[2]
    assert "read back live blue" in rows[2]
    assert "1 guard overrides" in text


def test_postmortem_of_an_empty_log_says_so(haproxy, tmp_path, capsys):
    cfg = str(haproxy.write_pmb_config(tmp_path))
    assert main(["postmortem", "--config", cfg]) == 0
    assert "No actions were recorded" in capsys.readouterr().out
