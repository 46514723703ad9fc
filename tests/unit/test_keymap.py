"""The [keymap] check without textual: what config-check and the console both say."""

from __future__ import annotations

import subprocess
import sys

from pmb_console.cli import main
from pmb_console.keymap import check_keymap


def said(keymap: dict[str, str]) -> list[str]:
    return [str(p) for p in check_keymap(keymap).problems]


def test_a_move_to_a_free_key_is_applied_and_slash_is_named_as_textual_names_it():
    check = check_keymap({"rollback": "ctrl+r", "filter_logs": "f"})
    assert check.applied == {"rollback": "ctrl+r", "filter_logs": "f"}
    assert check.problems == ()
    assert check_keymap({"help": "?"}).problems == ()  # its own key: no collision with itself
    assert check_keymap({"pause_logs": "/", "filter_logs": "f"}).applied == {
        "pause_logs": "slash",
        "filter_logs": "f",
    }


def test_an_unknown_id_is_named_with_the_ids_there_are():
    check = check_keymap({"rolback": "ctrl+r"})
    assert check.applied == {}
    assert str(check.problems[0]).startswith("[keymap] rolback: no such key id")
    assert "rollback" in check.problems[0].what


def test_two_actions_on_one_key_keep_their_own_keys():
    assert said({"rollback": "s"}) == [
        "[keymap] rollback: s is also switch's key; rollback stays on r"
    ]
    assert check_keymap({"rollback": "x", "switch": "x"}).applied == {}
    # a swap is no collision
    assert check_keymap({"rollback": "s", "switch": "r"}).applied == {
        "rollback": "s",
        "switch": "r",
    }
    # rollback gives r up, smoke takes it, rollback is refused s and comes back to r:
    # smoke's move is refused too, so r still rolls back
    check = check_keymap({"rollback": "s", "smoke": "r"})
    assert check.applied == {}
    assert "[keymap] smoke: r is also rollback's key; smoke stays on t" in map(str, check.problems)


def test_a_key_the_console_uses_elsewhere_is_refused():
    assert said({"rollback": "ctrl+p"}) == [
        "[keymap] rollback: ctrl+p is used for the command palette; rollback stays on r"
    ]


def test_demo_keys_count_as_taken():
    check = check_keymap({"rollback": "x"}, [("demo-color", "x")])
    assert check.applied == {}
    assert "x is also demo-color's key" in check.problems[0].what


def test_config_check_names_keymap_problems_and_exits_2(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[keymap]\nrolback = "ctrl+r"\nrollback = "s"\n')
    assert main(["config-check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: keymap.rolback: no such key id" in err
    assert f"{path}: keymap.rollback: s is also switch's key; rollback stays on r" in err


def test_the_key_table_loads_without_textual():
    code = "import sys, pmb_console.keymap; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
