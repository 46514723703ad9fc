"""The real `pmb-console` program on AWS providers (moto's server): what an operator types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.moto import listener_weights, make_alb, make_rds_instance

pytestmark = pytest.mark.aws

PROGRAM = Path(sys.executable).with_name("pmb-console")


def pmb(*args: str, config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if not PROGRAM.exists():
        pytest.skip(f"the pmb-console program is not installed beside {sys.executable}")
    base = {k: v for k, v in os.environ.items() if k != "PMB_CONSOLE_CONFIG"}
    done = subprocess.run(
        [str(PROGRAM), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env if env is not None else base,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def config(moto_aws, http_server, tmp_path) -> Path:
    world = make_alb(moto_aws, targets={"blue": 2, "green": 1})
    make_rds_instance(moto_aws)
    for name in ("blue-1", "green-1"):
        http_server.route(f"/{name}/healthz", {"status": "ok"})
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[console]
environment = "production"
operator = "oncall-1"
state_dir = "{tmp_path / "state"}"

[colors.blue]
instances = [ {{ name = "blue-1", health_url = "{http_server.url}/blue-1/healthz" }} ]
[colors.green]
instances = [ {{ name = "green-1", health_url = "{http_server.url}/green-1/healthz" }} ]

[traffic]
provider = "alb"
[traffic.alb]
listener_arn = "{world.listener_arn}"
target_groups = {{ blue = "{world.target_groups["blue"]}", green = "{world.target_groups["green"]}" }}

[aws]
region = "{moto_aws.region}"
endpoint_url = "{moto_aws.endpoint_url}"

[database]
provider = "rds"
[database.rds]
instance_id = "pmb-prod"
"""
    )
    return path


def test_status_switch_and_rollback_on_an_alb(moto_aws, config):
    listener = json.loads(pmb("status", "--json", config=config).stdout)["traffic"]
    assert listener["weights"] == {"blue": 100, "green": 0}
    assert [(s["name"], s["detail"]) for s in listener["servers"]] == [
        ("pmb-blue", "2 healthy, 0 not healthy of 2 targets"),
        ("pmb-green", "1 healthy, 0 not healthy of 1 targets"),
    ]

    switched = pmb("switch", "--to", "green", "--yes", config=config)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert listener_weights(moto_aws, _arn(config)) == {
        "pmb-blue": 0,
        "pmb-green": 100,
    }

    rolled_back = pmb("rollback", "--yes", config=config)
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    assert listener_weights(moto_aws, _arn(config)) == {"pmb-blue": 100, "pmb-green": 0}


def test_snapshot_and_snapshots_on_rds(moto_aws, config):
    taken = pmb("snapshot", "--label", "before v1.1.0", "--yes", config=config)
    assert taken.returncode == 0, taken.stdout + taken.stderr

    listed = json.loads(pmb("snapshots", "--json", config=config).stdout)

    ours = [s for s in listed if s["label"] == "before v1.1.0"]
    assert len(ours) == 1 and ours[0]["kind"] == "manual" and ours[0]["size_bytes"] == 20 * 1024**3
    assert ours[0]["manifest"]["expired"] is False
    assert any(s["kind"] == "automated" for s in listed)


def test_no_credentials_is_named_without_a_traceback(moto_aws, config, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k != "PMB_CONSOLE_CONFIG"
    }
    empty = tmp_path / "no-aws-config"
    empty.write_text("")
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
    )

    done = pmb("switch", "--to", "green", "--yes", config=config, env=env)

    assert done.returncode == 1
    assert "no usable AWS credentials" in done.stdout + done.stderr
    assert listener_weights(moto_aws, _arn(config)) == {"pmb-blue": 100, "pmb-green": 0}


def _arn(config: Path) -> str:
    import tomllib

    return tomllib.loads(config.read_text())["traffic"]["alb"]["listener_arn"]
