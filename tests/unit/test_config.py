"""The config names every problem, with file, line and key, in one pass."""

from pathlib import Path

import pytest

from pmb_console.cli import main
from pmb_console.config import Config, find_config, load_config, parse_config
from pmb_console.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def problems_of(text: str) -> list:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.toml")
    return info.value.problems


def test_the_example_config_is_valid_and_keeps_the_contract_keys():
    cfg = load_config(EXAMPLE)
    assert cfg.console.environment == "production"
    assert cfg.traffic.provider == "haproxy"
    assert cfg.traffic.haproxy.servers == {"blue": ["blue-1"], "green": ["green-1"]}
    assert cfg.colors.green.instances[0].metrics_url.endswith("/metrics")
    assert cfg.database.dsn_env == "PMB_DATABASE_URL"
    assert cfg.backup.retention_days == 30 and cfg.backup.max_age_hours == 24
    assert cfg.audit.dsn_env == ""


def test_malformed_toml_names_the_line():
    [p] = problems_of('[console]\nenvironment = "prod\n')
    assert p.line == 2 and p.file == "cfg.toml"
    assert "TOML" in p.expected


def test_every_problem_is_reported_with_key_and_line():
    text = """[console]
environment = "production"
read_only = "sometimes"
opertor = "me"

[traffic]
provider = "f5"

[traffic.haproxy]
timeout = -1
"""
    found = {p.key: p for p in problems_of(text)}
    assert set(found) == {
        "console.read_only",
        "console.opertor",
        "traffic.provider",
        "traffic.haproxy.timeout",
    }
    assert found["console.read_only"].line == 3
    assert found["console.opertor"].line == 4 and "unknown key" in found["console.opertor"].expected
    assert found["traffic.provider"].line == 7 and "'f5'" in found["traffic.provider"].found
    assert found["traffic.haproxy.timeout"].line == 10


def test_missing_required_key_is_named():
    text = '[colors.blue]\ninstances = [ { health_url = "http://x/healthz" } ]\n'
    [p] = problems_of(text)
    assert p.key == "colors.blue.instances.0.name"
    assert "missing" in p.expected
    assert p.line == 2


def test_unknown_top_level_section_is_an_error_not_ignored():
    [p] = problems_of('[trafic]\nprovider = "haproxy"\n')
    assert p.key == "trafic" and p.line == 1


def test_config_search_order(tmp_path, monkeypatch):
    env_file = tmp_path / "env.toml"
    monkeypatch.setenv("PMB_CONSOLE_CONFIG", str(env_file))
    assert find_config("explicit.toml") == Path("explicit.toml")
    assert find_config(None) == env_file
    monkeypatch.delenv("PMB_CONSOLE_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_config(None) is None
    default = tmp_path / ".config" / "pmb-console" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("")
    assert find_config(None) == default


def test_state_dir_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = Config.model_validate({"console": {"state_dir": "~/state"}})
    assert cfg.console.state_dir == tmp_path / "state"


def test_config_check_exits_2_naming_every_problem(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[console]\nread_only = 3\n[metrics]\nintervall = 2\n")
    assert main(["config-check", "--config", str(bad)]) == 2
    said = capsys.readouterr().err
    assert f"{bad}:2: console.read_only" in said
    assert f"{bad}:4: metrics.intervall" in said
    assert "Traceback" not in said


def test_config_check_accepts_the_example(capsys):
    assert main(["config-check", "--config", str(EXAMPLE)]) == 0
    assert "ok" in capsys.readouterr().out


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["status", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def _missing_keys(model, data, prefix=""):
    from pydantic import BaseModel

    missing = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        path = f"{prefix}{name}"
        if not isinstance(data, dict) or name not in data:
            missing.append(path)
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            missing += _missing_keys(annotation, data[name], path + ".")
    return missing


def test_the_example_documents_every_key():
    import tomllib

    data = tomllib.loads(EXAMPLE.read_text())
    assert _missing_keys(Config, data) == []
