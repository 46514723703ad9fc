"""The runbook engine's pure parts and its journal file: order, overrides, the window, breaches."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmb_console.actions.checklist import CheckResult
from pmb_console.actions.deploy import expand, version_from_metrics, version_in
from pmb_console.config import Config, MetricsConfig
from pmb_console.errors import Refused, UsageError
from pmb_console.journal import ReleaseJournal, new_color
from pmb_console.monitor import ERROR_RATE, P95, BreachDetector, window_status
from pmb_console.providers.base import ColorMetrics
from pmb_console.rollback_assessment import _loss_from_counters
from pmb_console.runbook import (
    DEPLOY_ORDER,
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    build_view,
    format_runbook,
    next_step,
    states_of,
)


@pytest.fixture
def journal(tmp_path: Path) -> ReleaseJournal:
    return ReleaseJournal(tmp_path, "v1.1.0", "test")


def test_a_new_release_has_every_step_pending(journal: ReleaseJournal) -> None:
    views = build_view(journal.read())
    assert set(states_of(views).values()) == {PENDING}
    assert next_step(views).id == "provision-green"


def test_steps_done_in_order_need_no_override(journal: ReleaseJournal) -> None:
    journal.mark("provision-green", DONE, "ana", "terraform applied")
    entry = journal.mark(
        "deploy-green", DONE, "ana", {"outcome": "succeeded", "message": "green runs v1.1.0"}
    )
    assert "out_of_order" not in entry
    views = build_view(journal.read())
    by_id = {v.id: v for v in views}
    assert by_id["deploy-green"].state == DONE
    assert by_id["deploy-green"].by == "ana"
    assert by_id["deploy-green"].evidence == "succeeded: green runs v1.1.0"
    assert next_step(views).id == "run-migrations"


def test_a_step_out_of_order_is_refused_without_a_reason(journal: ReleaseJournal) -> None:
    with pytest.raises(Refused) as caught:
        journal.mark("switch-traffic", DONE, "ana")
    assert "provision-green" in caught.value.message and "test-green" in caught.value.message
    assert journal.read()["steps"] == {}  # nothing was written


def test_a_step_out_of_order_with_a_reason_records_the_override(journal: ReleaseJournal) -> None:
    entry = journal.mark("run-migrations", DONE, "ana", override="no migrations in this release")
    assert entry["out_of_order"] == ["provision-green", "deploy-green"]
    view = {v.id: v for v in build_view(journal.read())}["run-migrations"]
    assert view.override == "no migrations in this release"
    text = format_runbook(build_view(journal.read()))
    assert (
        "done out of order (provision-green, deploy-green not done then); "
        "override: no migrations in this release"
    ) in text
    assert journal.events()[-1]["override"] == "no migrations in this release"


def test_an_action_that_jumped_the_order_without_an_override_says_so(
    journal: ReleaseJournal,
) -> None:
    journal.mark(
        "switch-traffic",
        DONE,
        "ana",
        {"outcome": "succeeded", "message": "switched"},
        allow_out_of_order=True,
    )
    text = format_runbook(build_view(journal.read()))
    assert "test-green not done then); no override recorded" in text


def test_skipped_steps_count_as_settled_for_the_order(journal: ReleaseJournal) -> None:
    journal.mark("provision-green", "skipped", "ana", override="green already exists")
    entry = journal.mark("deploy-green", DONE, "ana")
    assert "out_of_order" not in entry


def test_unknown_steps_and_states_are_usage_errors(journal: ReleaseJournal) -> None:
    with pytest.raises(UsageError):
        journal.mark("deploy-purple", DONE, "ana")
    with pytest.raises(UsageError):
        journal.mark("deploy-green", "finished", "ana")


def test_the_checklist_results_and_the_running_action_show_in_the_view(
    journal: ReleaseJournal,
) -> None:
    checks = [
        CheckResult("reviewed", "Changes reviewed", "pass", "#12 approved by bo"),
        CheckResult("ci-green", "CI", "fail", "build pending"),
        CheckResult("migrations-tested", "Migrations", "signed-off", "ran by hand", "cy"),
    ]
    views = {v.id: v for v in build_view(journal.read(), checks, running_action="smoke")}
    assert views["reviewed"].state == DONE and views["reviewed"].evidence == "#12 approved by bo"
    assert views["ci-green"].state == FAILED
    assert views["migrations-tested"].state == DONE and views["migrations-tested"].by == "cy"
    assert views["test-green"].state == RUNNING


def test_a_damaged_journal_file_is_an_error_in_words(journal: ReleaseJournal) -> None:
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text("{not json")
    with pytest.raises(Exception) as caught:
        journal.read()
    assert "cannot be read" in str(caught.value)


def test_the_release_color_is_the_one_configured_with_its_version() -> None:
    cfg = Config.model_validate(
        {"release": {"version": "v2"}, "colors": {"blue": {"version": "v2"}}}
    )
    assert new_color(cfg) == "blue"
    assert new_color(Config()) == "green"


# --- the window --------------------------------------------------------------------------


def _window(**extra) -> dict:
    return {
        "color": "green",
        "started_at": 1000.0,
        "ends_at": 1000.0 + 3600,
        "minutes": 60,
        "breaches": [],
        "polls": 0,
        "ended": None,
        **extra,
    }


def test_window_counts_down_then_passes_only_if_someone_watched() -> None:
    assert window_status(None, 0).state == "not-started"
    watching = window_status(_window(), 1000.0 + 600)
    assert watching.state == "watching" and watching.countdown() == "green watched: 50:00 left"
    unwatched = window_status(_window(), 5000.0)
    assert unwatched.state == "unwatched" and "no metrics poll was observed" in unwatched.detail
    seen = [[1000.0 + 30, 1000.0 + 1800], [1000.0 + 1900, 1000.0 + 3590]]
    passed = window_status(_window(polls=120, watched=seen), 5000.0)
    assert passed.passed and "without a breach (120 polls)" in passed.detail


def test_a_window_with_a_stretch_nobody_watched_does_not_pass() -> None:
    one_poll = window_status(_window(polls=1, watched=[[1015.0, 1015.0]]), 5000.0)
    assert one_poll.state == "unwatched" and not one_poll.passed
    assert "nobody watched it from 00:16:55 UTC to 01:16:40 UTC" in one_poll.detail
    gap = [[1000.0, 2000.0], [2400.0, 4600.0]]  # 400 s unseen in the middle
    middle = window_status(_window(polls=90, watched=gap), 5000.0)
    assert "nobody watched it from 00:33:20 UTC to 00:40:00 UTC" in middle.detail
    late = window_status(_window(polls=3, watched=[[4700.0, 4800.0]]), 5000.0)
    assert late.state == "unwatched"  # polls after the end say nothing of the hour before
    never = window_status(_window(), 5000.0)
    assert "no metrics poll was observed in it" in never.detail


def test_a_breach_or_a_rollback_means_the_window_did_not_pass() -> None:
    breached = window_status(
        _window(polls=5, breaches=[{"at": 1200.0, "words": "green p95 900 ms > 500 ms"}]), 9000.0
    )
    assert breached.state == "breached" and "green p95 900 ms > 500 ms" in breached.detail
    ended = window_status(
        _window(polls=5, ended={"at": 1300.0, "why": "traffic rolled back"}), 9000.0
    )
    assert ended.state == "ended" and not ended.passed


def _cm(error_rate=None, p95=None) -> ColorMetrics:
    return ColorMetrics("green", 10.0, error_rate, p95)


def test_a_breach_needs_n_consecutive_polls_over_the_threshold() -> None:
    detector = BreachDetector(MetricsConfig(error_rate_threshold=0.02, p95_threshold_ms=500), 3)
    assert detector.observe(_cm(0.05, 100)) == []
    assert detector.observe(_cm(0.05, 100)) == []
    assert detector.observe(_cm(0.01, 100)) == []  # back under: the count starts again
    assert detector.observe(_cm(0.05, 100)) == []
    assert detector.observe(_cm(0.05, 100)) == []
    [breach] = detector.observe(_cm(0.07, 100))
    assert breach.metric == ERROR_RATE and breach.polls == 3
    assert breach.words == "green error rate 7.0% > 2.0% for 3 consecutive polls"


def test_a_gap_in_the_figures_neither_hides_nor_makes_a_breach() -> None:
    detector = BreachDetector(MetricsConfig(p95_threshold_ms=500), 2)
    assert detector.observe(_cm(p95=800)) == []
    assert detector.observe(_cm()) == []  # no figure this poll
    [breach] = detector.observe(_cm(p95=900))
    assert (
        breach.metric == P95 and breach.words == "green p95 900 ms > 500 ms for 2 consecutive polls"
    )


# --- reading versions and commands ---------------------------------------------------------


def test_versions_are_read_from_json_or_a_metric_label() -> None:
    assert version_in({"release": {"version": "v1.1.0"}}, "release.version") == "v1.1.0"
    assert version_in({"release": "v1"}, "release.version") is None
    assert version_in({}, "version") is None
    text = '# TYPE pmb_build_info gauge\npmb_build_info{commit="abc",version="v1.1.0"} 1\n'
    assert version_from_metrics(text, "pmb_build_info", "version") == "v1.1.0"
    assert version_from_metrics(text, "pmb_build", "version") is None


def test_commands_get_the_color_and_version_filled_in() -> None:
    assert expand(["kubectl", "apply", "-f", "{color}.yaml", "--v={version}"], "green", "v2") == [
        "kubectl",
        "apply",
        "-f",
        "green.yaml",
        "--v=v2",
    ]


def test_the_loss_estimate_adds_the_counters_since_the_snapshot() -> None:
    part = _loss_from_counters(
        "loss", {"public.items": [10, 2, 0]}, {"public.items": [15, 5, 1], "public.new": [4, 0, 0]}
    )
    assert part.data["inserted"] == 9 and part.data["updated"] == 3 and part.data["deleted"] == 1
    assert part.answer.startswith(
        "about 13 row writes since the snapshot: 9 inserted, 3 updated, 1 deleted"
    )


def test_counters_that_went_down_are_said_to_be_reset() -> None:
    part = _loss_from_counters("loss", {"public.items": [100, 0, 0]}, {"public.items": [3, 0, 0]})
    assert part.data["inserted"] == 3 and "statistics were reset for public.items" in part.answer


def test_deploy_order_is_the_runbook_section_2() -> None:
    assert DEPLOY_ORDER == (
        "provision-green",
        "deploy-green",
        "run-migrations",
        "test-green",
        "switch-traffic",
        "monitor",
        "decommission-blue",
    )
