"""RUNBOOK §1 checked for real: a git repository with tags, and a local server that
answers like GitHub's REST API (recorded shapes)."""

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from pmb_console.actions.checklist import backup_status, run_checklist, sign_off
from pmb_console.bootstrap import bootstrap
from pmb_console.cli import main
from pmb_console.config import Config
from pmb_console.errors import ReadOnlyRefused
from pmb_console.providers.base import SnapshotInfo

REPO = "acme/pm-buddy"


@pytest.fixture
def release_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*a):
        return subprocess.run(
            ["git", "-C", str(repo), *a], check=True, capture_output=True, text=True
        )

    git("init", "-q")
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "release",
    )
    git("tag", "v1.1.0")
    sha = git("rev-parse", "HEAD").stdout.strip()
    return repo, sha


def make_ctx(tmp_path, repo, github_url, migrations=None, *, read_only=False):
    cfg = Config.model_validate(
        {
            "console": {
                "environment": "production",
                "state_dir": str(tmp_path / "state"),
                "operator": "alice",
                "read_only": read_only,
            },
            "release": {
                "version": "v1.1.0",
                "git_dir": str(repo),
                "github": {"repo": REPO, "api_url": github_url, "token_env": "PMB_TEST_GH_TOKEN"},
            },
            "database": {
                "provider": "demo",
                "migrations_dir": str(migrations or tmp_path / "no-migrations"),
            },
        }
    )
    return bootstrap(cfg)


def github_answers(server, sha, *, approved=True, ci="success", run_conclusion="success"):
    server.route(
        f"/repos/{REPO}/commits/{sha}/pulls", [{"number": 42, "merged_at": "2026-11-23T10:00:00Z"}]
    )
    reviews = [{"user": {"login": "bob"}, "state": "CHANGES_REQUESTED"}]
    if approved:
        reviews.append({"user": {"login": "bob"}, "state": "APPROVED"})
    server.route(f"/repos/{REPO}/pulls/42/reviews", reviews)
    server.route(
        f"/repos/{REPO}/commits/{sha}/status",
        {"state": ci, "statuses": [{"context": "lint", "state": ci}]},
    )
    server.route(
        f"/repos/{REPO}/commits/{sha}/check-runs",
        {
            "total_count": 1,
            "check_runs": [{"name": "e2e", "status": "completed", "conclusion": run_conclusion}],
        },
    )


def by_id(results):
    return {r.id: r for r in results}


def test_review_ci_and_tag_pass_from_real_answers(tmp_path, release_repo, http_server, monkeypatch):
    repo, sha = release_repo
    monkeypatch.setenv("PMB_TEST_GH_TOKEN", "ghp_secret")
    github_answers(http_server, sha)
    results = by_id(run_checklist(make_ctx(tmp_path, repo, http_server.url)))
    assert (
        results["release-tagged"].status == "pass" and sha[:12] in results["release-tagged"].detail
    )
    assert results["reviewed"].status == "pass" and "bob" in results["reviewed"].detail
    assert results["ci-green"].status == "pass"
    assert results["migrations-tested"].status == "pass"  # no migration files in this release
    assert any(h.get("Authorization") == "Bearer ghp_secret" for _, h in http_server.requests)


def test_changes_requested_after_approval_and_pending_ci_fail(tmp_path, release_repo, http_server):
    repo, sha = release_repo
    github_answers(http_server, sha, approved=False, ci="pending", run_conclusion="failure")
    results = by_id(run_checklist(make_ctx(tmp_path, repo, http_server.url)))
    assert results["reviewed"].status == "fail" and "no approval" in results["reviewed"].detail
    assert results["ci-green"].status == "fail"
    assert (
        "lint: pending" in results["ci-green"].detail
        and "e2e: failure" in results["ci-green"].detail
    )


def test_missing_tag_fails_tag_review_and_ci(tmp_path, release_repo, http_server):
    repo, sha = release_repo
    subprocess.run(["git", "-C", str(repo), "tag", "-d", "v1.1.0"], check=True, capture_output=True)
    results = by_id(run_checklist(make_ctx(tmp_path, repo, http_server.url)))
    assert (
        results["release-tagged"].status == "fail"
        and "does not exist" in results["release-tagged"].detail
    )
    assert results["ci-green"].status == "fail" and "tag is missing" in results["ci-green"].detail


def test_sign_off_is_audited_with_the_operator_and_counts(tmp_path, release_repo, http_server):
    repo, sha = release_repo
    github_answers(http_server, sha, approved=False)
    ctx = make_ctx(tmp_path, repo, http_server.url)
    sign_off(ctx, "reviewed", "approved in the release meeting")
    results = by_id(run_checklist(ctx))
    assert (
        results["reviewed"].status == "signed-off" and results["reviewed"].signed_off_by == "alice"
    )
    record = ctx.audit.records()[-1]
    assert (
        record["action"] == "checklist-signoff"
        and record["item"] == "reviewed"
        and record["operator"] == "alice"
    )


def test_sign_off_is_refused_in_read_only_and_nothing_is_recorded(
    tmp_path, release_repo, http_server
):
    # A read-only console, or a browser spectator of `serve`, must not vouch for anything.
    repo, sha = release_repo
    github_answers(http_server, sha, approved=False)
    ctx = make_ctx(tmp_path, repo, http_server.url, read_only=True)
    with pytest.raises(ReadOnlyRefused) as refused:
        sign_off(ctx, "reviewed", "approved in the release meeting")
    assert refused.value.exit_code == 5
    assert "read-only" in refused.value.message
    assert ctx.audit.records() == []
    assert by_id(run_checklist(ctx))["reviewed"].status == "fail"


def test_migrations_tested_needs_the_same_checksums_elsewhere(tmp_path, release_repo, http_server):
    repo, _ = release_repo
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "001_add.sql").write_text("ALTER TABLE t ADD COLUMN c int;\n")
    ctx = make_ctx(tmp_path, repo, http_server.url, mig)
    assert by_id(run_checklist(ctx))["migrations-tested"].status == "fail"
    import hashlib

    sha = hashlib.sha256((mig / "001_add.sql").read_bytes()).hexdigest()
    ctx.audit.append(
        {
            "time": datetime.now(UTC).isoformat(),
            "action": "migrate",
            "outcome": "succeeded",
            "environment": "staging",
            "plan": {"data": {"files": [{"name": "001_add.sql", "sha256": sha}]}},
        }
    )
    assert by_id(run_checklist(ctx))["migrations-tested"].status == "pass"
    (mig / "001_add.sql").write_text("ALTER TABLE t ADD COLUMN c bigint;\n")
    assert by_id(run_checklist(ctx))["migrations-tested"].status == "fail"


def test_backup_age_against_the_limit():
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    snap = lambda hours: SnapshotInfo(f"s{hours}", now - timedelta(hours=hours))  # noqa: E731
    assert backup_status([], 24, now) == (False, "no snapshot exists")
    ok, why = backup_status([snap(30), snap(3)], 24, now)
    assert ok and "s3" in why
    ok, why = backup_status([snap(30)], 24, now)
    assert not ok and "30.0 h old" in why


def test_check_cli_exit_code_and_json(tmp_path, release_repo, http_server, capsys):
    repo, sha = release_repo
    github_answers(http_server, sha)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'''[console]
state_dir = "{tmp_path / "state"}"
[release]
version = "v1.1.0"
git_dir = "{repo}"
[release.github]
repo = "{REPO}"
api_url = "{http_server.url}"
[database]
provider = "pg_dump"
migrations_dir = "{tmp_path / "none"}"
[database.pg_dump]
backup_dir = "{tmp_path / "backups"}"
''')
    code = main(["check", "--json", "--config", str(cfg)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["ok"] is False  # no snapshot has been taken
    assert {i["id"]: i["status"] for i in doc["items"]}["snapshot-taken"] == "fail"
    assert (
        main(
            [
                "check",
                "--config",
                str(cfg),
                "--sign-off",
                "snapshot-taken",
                "--reason",
                "RDS automated backup at 02:00",
            ]
        )
        == 0
    )
    assert "signed off" in capsys.readouterr().out
