"""config-check finds what the config means, not only its shape: a value the provider
cannot use, a key the chosen provider needs, a server claimed by both colors. Every
problem in one pass, each with file, line and key, before any command touches a system."""

import psycopg
import pytest

from pmb_console.cli import main
from pmb_console.config import parse_config
from pmb_console.config_checks import is_postgres_duration
from pmb_console.errors import ConfigError


def problems_of(text: str) -> dict:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.toml")
    return {p.key: p for p in info.value.problems}


def test_an_unusable_runtime_api_address_is_named():
    found = problems_of(
        '[traffic]\nprovider = "haproxy"\n[traffic.haproxy]\nruntime_api = "bogus://x"\n'
    )
    p = found["traffic.haproxy.runtime_api"]
    assert p.line == 4 and "'bogus://x'" in p.found
    assert "unix://" in p.expected and "tcp://" in p.expected
    assert set(found) == {"traffic.haproxy.runtime_api"}


@pytest.mark.parametrize(
    "address", ["unix:///run/haproxy/admin.sock", "tcp://127.0.0.1:9999", "tcp://[::1]:9999"]
)
def test_runtime_api_addresses_haproxy_understands_pass(address):
    cfg = parse_config(f'[traffic.haproxy]\nruntime_api = "{address}"\n')
    assert cfg.traffic.haproxy.runtime_api == address


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1", "tcp://host:notaport", "unix://", "/run/haproxy.sock"]
)
def test_runtime_api_addresses_haproxy_cannot_use_are_refused(address):
    assert "traffic.haproxy.runtime_api" in problems_of(
        f'[traffic.haproxy]\nruntime_api = "{address}"\n'
    )


def test_timeouts_that_are_not_postgresql_durations_are_named():
    found = problems_of(
        '[database]\nlock_timeout = "five seconds"\nmigrations_dir = "m"\nstatement_timeout = "5 minutes"\n'
    )
    assert set(found) == {"database.lock_timeout", "database.statement_timeout"}
    assert found["database.lock_timeout"].line == 2
    assert found["database.statement_timeout"].line == 4
    assert '"5s"' in found["database.lock_timeout"].expected
    assert "'five seconds'" in found["database.lock_timeout"].found


DURATIONS = [
    "5s", "500ms", "2min", "5000", "0", "1h", "1d", "250us", "5 s", "1.5s", " 5s ",
    "five seconds", "5 minutes", "5sec", "5S", "", "-1", "s", "5m", "1.5.5s", "25d",
]  # fmt: skip


def test_the_duration_check_agrees_with_postgresql(pg_server):
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as conn:
        for value in DURATIONS:
            for setting in ("lock_timeout", "statement_timeout"):
                try:
                    with conn.transaction():
                        conn.execute("SELECT set_config(%s, %s, true)", (setting, value))
                    accepted = True
                except psycopg.errors.InvalidParameterValue:
                    accepted = False
                assert is_postgres_duration(value) == accepted, (setting, value)


def test_log_sources_missing_what_their_kind_needs_are_named_at_their_own_lines():
    text = """[[logs.sources]]
kind = "file"
path = "/var/log/blue.log"

[[logs.sources]]
kind = "file"
color = "green"

[[logs.sources]]
kind = "command"
command = []

[[logs.sources]]
kind = "cloudwatch"
"""
    found = problems_of(text)
    assert set(found) == {"logs.sources.1.path", "logs.sources.2.command", "logs.sources.3.group"}
    assert found["logs.sources.1.path"].line == 6  # its kind line: the path is missing
    assert found["logs.sources.2.command"].line == 11
    assert found["logs.sources.3.group"].line == 14
    assert 'kind = "file"' in found["logs.sources.1.path"].expected


def test_a_server_under_both_colors_is_named():
    found = problems_of(
        '[traffic.haproxy]\nbackend = "app"\nservers = { blue = ["s1", "s2"], green = ["s2"] }\n'
    )
    p = found["traffic.haproxy.servers"]
    assert p.line == 3 and "s2" in p.expected and "both" in p.expected


def test_alb_without_its_listener_and_target_groups_is_named():
    found = problems_of(
        '[traffic]\nprovider = "alb"\n[traffic.alb]\ntarget_groups = { blue = "arn:tg/blue" }\n'
    )
    assert set(found) == {"traffic.alb.listener_arn", "traffic.alb.target_groups.green"}
    assert found["traffic.alb.listener_arn"].line == 2  # provider = "alb" asks for it
    assert found["traffic.alb.target_groups.green"].line == 4
    assert 'provider = "alb"' in found["traffic.alb.listener_arn"].expected


def test_route53_without_zone_record_or_identifiers_is_named():
    text = '[traffic]\nprovider = "route53"\n[traffic.route53]\nhosted_zone_id = ""\nset_identifiers = { blue = "b" }\n'
    found = problems_of(text)
    assert set(found) == {
        "traffic.route53.hosted_zone_id",
        "traffic.route53.record_name",
        "traffic.route53.set_identifiers.green",
    }
    assert found["traffic.route53.hosted_zone_id"].line == 4
    assert found["traffic.route53.record_name"].line == 2


def test_rds_without_an_instance_is_named():
    found = problems_of('[database]\nprovider = "rds"\n')
    assert set(found) == {"database.rds.instance_id"}
    assert found["database.rds.instance_id"].line == 2


def test_keys_of_a_provider_not_chosen_may_stay_empty():
    cfg = parse_config(
        '[traffic]\nprovider = "haproxy"\n[traffic.alb]\nlistener_arn = ""\n[database]\ndsn_env = ""\n'
    )
    assert cfg.traffic.provider == "haproxy" and cfg.database.provider == "pg_dump"


CONFIG_WITH_EVERYTHING_WRONG = """[console]
read_only = "sometimes"

[traffic]
provider = "alb"

[traffic.haproxy]
runtime_api = "bogus://x"
servers = { blue = ["s1"], green = ["s1"] }

[database]
provider = "rds"
lock_timeout = "five seconds"

[[logs.sources]]
kind = "command"
"""


def test_config_check_names_shape_and_meaning_problems_in_one_pass(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG_WITH_EVERYTHING_WRONG)
    assert main(["config-check", "--config", str(bad)]) == 2
    said = capsys.readouterr().err
    for line, key in [
        (2, "console.read_only"),
        (5, "traffic.alb.listener_arn"),
        (5, "traffic.alb.target_groups.blue"),
        (8, "traffic.haproxy.runtime_api"),
        (9, "traffic.haproxy.servers"),
        (12, "database.rds.instance_id"),
        (13, "database.lock_timeout"),
        (16, "logs.sources.0.command"),
    ]:
        assert f"{bad}:{line}: {key}:" in said, key
    assert "Traceback" not in said


def test_every_command_refuses_the_config_before_touching_anything(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[traffic]\nprovider = "haproxy"\n[traffic.haproxy]\nruntime_api = "bogus://x"\n'
    )
    assert main(["switch", "--to", "green", "--yes", "--config", str(bad)]) == 2
    said = capsys.readouterr().err
    assert f"{bad}:4: traffic.haproxy.runtime_api:" in said
