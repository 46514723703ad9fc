"""Resume after a drop on RDS: the real program killed with SIGKILL at step 4 of a restore.

How the restore is stopped there for real: the console reaches moto's server through an
HTTP relay (a slow link). The relay forwards every request at once except the one that
renames the restored instance into place: it holds that one unanswered, never passing it
on, and the test kills the console while it waits. RDS then looks as it would after an
SSH drop at that moment: the current instance renamed aside, the restored one beside it
under its temporary name, and nothing answering at the application's endpoint.

Then `pmb-console status`, `resume` and `resume --finish` are run as new processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.database import SnapshotAction
from pmb_console.bootstrap import bootstrap
from pmb_console.config import load_config
from tests.fixtures.http import unblocked
from tests.fixtures.moto import make_alb, make_rds_instance

pytestmark = pytest.mark.aws

WAIT_S = 30.0


class AwsRelay:
    """An HTTP relay in front of moto's server; holds (and drops) the first request that
    `hold_on` picks, given the request's form fields."""

    def __init__(self, target: str, hold_on: Callable[[dict[str, list[str]]], bool]) -> None:
        relay = self
        self.held = threading.Event()
        self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = urllib.parse.parse_qs(body.decode(errors="replace"))
                if not relay.held.is_set() and hold_on(form):
                    relay.held.set()
                    relay.release.wait(WAIT_S)
                    return  # never passed on: the console is killed while it waits
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                request = urllib.request.Request(
                    target + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, got, data = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, got, data = error.code, error.headers, error.read()
                self.send_response(status)
                for key, value in got.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return None

        self.server = unblocked(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def renames_into_place(form: dict[str, list[str]]) -> bool:
    return form.get("Action") == ["ModifyDBInstance"] and form.get("NewDBInstanceIdentifier") == [
        "pmb-prod"
    ]


def takes_the_safety_snapshot(form: dict[str, list[str]]) -> bool:
    return form.get("Action") == ["CreateDBSnapshot"] and "-safety-" in "".join(
        form.get("DBSnapshotIdentifier", [])
    )


@pytest.fixture
def relay(moto_aws, request) -> Iterator[AwsRelay]:
    proxy = AwsRelay(moto_aws.endpoint_url, getattr(request, "param", renames_into_place))
    yield proxy
    proxy.close()


def pmb(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pmb_console", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def write_config(tmp_path: Path, relay: AwsRelay, moto_aws, http_server) -> Path:
    world = make_alb(moto_aws)
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
endpoint_url = "{relay.url}"

[database]
provider = "rds"
[database.rds]
instance_id = "pmb-prod"
"""
    )
    return path


def instances(moto_aws) -> dict[str, dict]:
    listed = moto_aws.client("rds").describe_db_instances()["DBInstances"]
    return {i["DBInstanceIdentifier"]: i for i in listed}


def kill_mid_restore(config: Path, relay: AwsRelay, snapshot_id: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmb_console", "--config", str(config)]
        + ["restore", snapshot_id, "--confirm", "production"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert relay.held.wait(WAIT_S), "the restore never sent the request the relay holds"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def take_snapshot(config: Path) -> str:
    taken = bootstrap(load_config(config)).runner.run(
        SnapshotAction("good data"), Confirmation.yes()
    )
    assert taken.status == "succeeded", taken.message
    return taken.result["snapshot_id"]


def test_killed_at_step_4_of_an_rds_restore_status_and_resume_say_so_and_finish_it(
    moto_aws, relay, http_server, tmp_path
):
    make_rds_instance(moto_aws)
    config = write_config(tmp_path, relay, moto_aws, http_server)
    snapshot_id = take_snapshot(config)

    kill_mid_restore(config, relay, snapshot_id)

    assert "pmb-prod" not in instances(moto_aws)  # the endpoint has no instance behind it
    finish_with = f"pmb-console restore {snapshot_id} --confirm production"

    status = pmb(config, "status")
    assert status.returncode == 1
    assert (
        f"database  restore of {snapshot_id} into pmb-prod in progress at step 4/4 "
        "(rename the restored instance into place); the app's endpoint has no instance: "
        f"finish with `{finish_with}`"
    ) in status.stdout
    doc = json.loads(pmb(config, "status", "--json").stdout)
    assert doc["database"]["pending_restore"]["snapshot_id"] == snapshot_id

    shown = pmb(config, "resume", "--json")
    assert shown.returncode == 1, shown.stderr
    found = json.loads(shown.stdout)
    assert (found["action"], found["state"]) == ("restore", "partial")
    assert found["finding"].startswith(
        f"restore of {snapshot_id} into pmb-prod in progress at step 4/4"
    )
    assert found["finish"] == (
        f"continue the restore of {snapshot_id} from step 4/4, as its journal says ({finish_with})"
    )
    assert "could not be read back" not in pmb(config, "resume").stdout

    finished = pmb(config, "resume", "--finish", "--confirm", "production")

    assert finished.returncode == 0, finished.stdout + finished.stderr
    live = instances(moto_aws)["pmb-prod"]
    tags = moto_aws.client("rds").list_tags_for_resource(ResourceName=live["DBInstanceArn"])
    assert {"Key": "pmb-console:restored-from", "Value": snapshot_id} in tags["TagList"]
    safety = [
        s["DBSnapshotIdentifier"]
        for s in moto_aws.client("rds").describe_db_snapshots()["DBSnapshots"]
        if "-safety-" in s["DBSnapshotIdentifier"]
    ]
    assert len(safety) == 1  # continuing took no second safety snapshot
    assert pmb(config, "resume").stdout == "nothing was interrupted: no action is in flight\n"
    after = json.loads(pmb(config, "status", "--json").stdout)
    assert after["database"]["pending_restore"] is None and not after["errors"]


@pytest.mark.parametrize("relay", [takes_the_safety_snapshot], indirect=True)
def test_killed_while_taking_the_safety_snapshot_resume_says_nothing_was_touched(
    moto_aws, relay, http_server, tmp_path
):
    make_rds_instance(moto_aws)
    config = write_config(tmp_path, relay, moto_aws, http_server)
    snapshot_id = take_snapshot(config)

    kill_mid_restore(config, relay, snapshot_id)

    status = json.loads(pmb(config, "status", "--json").stdout)
    assert status["database"]["pending_restore"] is None and not status["errors"]
    found = json.loads(pmb(config, "resume", "--json").stdout)
    assert found["state"] == "not-started"
    assert found["finding"] == (
        f"no step of the restore of {snapshot_id} was journaled: the console stopped before "
        "it began (while the safety snapshot was taken), so the database was not touched"
    )
    finished = pmb(config, "resume", "--finish", "--confirm", "production")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    live = instances(moto_aws)["pmb-prod"]
    tags = moto_aws.client("rds").list_tags_for_resource(ResourceName=live["DBInstanceArn"])
    assert {"Key": "pmb-console:restored-from", "Value": snapshot_id} in tags["TagList"]
