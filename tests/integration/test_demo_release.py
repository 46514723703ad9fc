"""The demo's release: a real git checkout tagged v1.1.0 and a GitHub double on 127.0.0.1.

The checklist is computed by the real checklist code through the demo stack's config, so
what these tests see is what the runbook panel shows a new user on the demo's first screen.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from pmb_console.actions.base import Confirmation
from pmb_console.actions.checklist import run_checklist
from pmb_console.actions.database import SnapshotAction
from pmb_console.bootstrap import bootstrap
from pmb_console.demo.release_repo import AUTHOR, RELEASE_PR, create_release_repo
from pmb_console.demo.stack import GITHUB_TOKEN_ENV, DemoStack
from pmb_console.errors import ProviderError
from pmb_console.providers.git import tag_commit
from pmb_console.providers.github import GithubClient


def refuses(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def git(repo, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def checklist(services) -> dict[str, tuple[str, str]]:
    return {r.id: (r.status, r.detail) for r in run_checklist(services)}


@pytest.fixture
def stack(monkeypatch):
    monkeypatch.delenv(GITHUB_TOKEN_ENV, raising=False)  # the demo needs no token
    with DemoStack() as s:
        yield s


@pytest.fixture
def services(stack):
    svc = bootstrap(stack.config())
    yield svc
    svc.close()


def github(stack) -> GithubClient:
    gh = stack.config().release.github
    return GithubClient(gh.api_url, gh.repo, gh.token_env)


def test_the_demo_opens_on_a_pre_deployment_morning(stack, services):
    sha = stack.release_commit
    assert sha is not None
    items = checklist(services)
    assert items == {
        "reviewed": ("pass", f"#{RELEASE_PR.number} approved by {RELEASE_PR.reviewer}"),
        "ci-green": ("pass", f"3 checks successful on {sha[:12]}"),
        "migrations-tested": ("pass", "no migration files in this release"),
        "snapshot-taken": ("fail", "no snapshot exists"),
        "release-tagged": ("pass", f"v1.1.0 → {sha[:12]}"),
    }
    assert services.config.release.version == stack.config().colors.green.version == "v1.1.0"

    # The engineer's first step (b) leaves nothing on the list to do.
    services.snapshots.pace = (0.02, 0.05)
    outcome = services.runner.run(SnapshotAction("before v1.1.0"), Confirmation.yes())
    assert outcome.ok, outcome.message
    assert {status for status, _ in checklist(services).values()} == {"pass"}


def test_the_double_answers_the_providers_real_calls_without_a_token(stack):
    sha = stack.release_commit
    client = github(stack)
    try:
        assert "Authorization" not in client.client.headers
        [pull] = client.pulls_for_commit(sha)
        assert pull["number"] == RELEASE_PR.number and pull["merged_at"]
        reviews = client.reviews(pull["number"])
        assert [(r["user"]["login"], r["state"]) for r in reviews] == [
            (RELEASE_PR.reviewer, "APPROVED")
        ]
        status = client.combined_status(sha)
        assert status["state"] == "success" and status["statuses"]
        runs = client.check_runs(sha)
        assert runs and all(r["conclusion"] == "success" for r in runs)

        # It vouches for the release commit only, and answers the rest as GitHub would.
        with pytest.raises(ProviderError, match="GitHub has no pmbuddy/pm-buddy/commits/"):
            client.combined_status("0" * 40)
    finally:
        client.close()
    other = GithubClient(stack.github.url, "someone/else", GITHUB_TOKEN_ENV)
    try:
        with pytest.raises(ProviderError, match="GitHub has no someone/else"):
            other.pulls_for_commit(sha)
    finally:
        other.close()


def test_the_tag_names_the_commit_the_double_vouches_for(stack):
    repo = stack.config().release.git_dir
    client = github(stack)
    try:
        [pull] = client.pulls_for_commit(stack.release_commit)
    finally:
        client.close()
    assert tag_commit(repo, "v1.1.0") == stack.release_commit == pull["merge_commit_sha"]
    assert git(repo, "cat-file", "-t", "v1.1.0") == "tag"  # annotated
    assert tag_commit(repo, "v1.0.0") == git(repo, "rev-parse", "v1.1.0^")
    assert f"(#{RELEASE_PR.number})" in git(repo, "log", "-1", "--format=%s", "v1.1.0")
    assert git(repo, "status", "--porcelain") == ""  # the release is checked out
    assert '"1.1.0"' in (stack.release_dir / "pmbuddy" / "__init__.py").read_text()


def test_the_repository_ignores_the_users_git_config_and_writes_none(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    # Another identity, another default branch, and a line git cannot read (which would
    # stop every git command that reads this file).
    gitconfig = (
        "[user]\n\tname = Someone Else\n\temail = else@example.org\n"
        "[init]\n\tdefaultBranch = trunk\n"
        "not a config line\n"
    )
    (home / ".gitconfig").write_text(gitconfig)
    with monkeypatch.context() as user:
        user.setenv("HOME", str(home))
        user.delenv("XDG_CONFIG_HOME", raising=False)
        first = create_release_repo(tmp_path / "one")
        second = create_release_repo(tmp_path / "two")

    assert first is not None and first == second  # fixed identity and times: the same commit
    name, email = AUTHOR
    assert git(tmp_path / "one", "log", "-1", "--format=%an <%ae> %cn <%ce>") == (
        f"{name} <{email}> {name} <{email}>"
    )
    assert git(tmp_path / "one", "symbolic-ref", "--short", "HEAD") == "main"
    assert sorted(p.name for p in home.iterdir()) == [".gitconfig"]
    assert (home / ".gitconfig").read_text() == gitconfig


def test_without_git_the_items_say_so_and_the_rest_works(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no git to be found, as on a bare machine
    monkeypatch.delenv(GITHUB_TOKEN_ENV, raising=False)
    with DemoStack() as stack:
        assert stack.release_commit is None
        services = bootstrap(stack.config())
        try:
            items = checklist(services)
        finally:
            services.close()
        missing = "could not check: git is not installed"
        assert items["release-tagged"] == ("fail", missing)
        assert items["reviewed"] == ("fail", missing)
        assert items["ci-green"] == ("fail", missing)
        assert items["migrations-tested"][0] == "pass"
        assert items["snapshot-taken"] == ("fail", "no snapshot exists")
        assert len(stack.ports) == 4 and not any(refuses(p) for p in stack.ports)


def test_stopping_the_stack_takes_the_double_and_the_checkout_away():
    stack = DemoStack().start()
    port = int(stack.github.url.rsplit(":", 1)[1])
    assert not refuses(port) and (stack.release_dir / ".git").is_dir()
    stack.stop()
    assert refuses(port)
    assert not stack.root.exists()
