"""The arithmetic behind the panes' figures: parsing, counter deltas, p95, pooling, words."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmb_console.config import MetricsConfig
from pmb_console.providers.base import ColorMetrics
from pmb_console.providers.metrics import breaches
from pmb_console.providers.metrics_math import (
    INF,
    Deltas,
    MetricNames,
    MetricsFormatError,
    Scrape,
    counter_delta,
    deltas,
    parse_focused,
    parse_reference,
    pool_buckets,
    pool_color,
    quantile,
)

NAMES = MetricNames()
PARSERS = [parse_reference, parse_focused]

EXPOSITION = """\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="GET",status="200"} 900.0
http_requests_total{method="GET",status="503"} 100.0
# HELP http_request_duration_seconds Durations.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1",method="GET"} 500.0
http_request_duration_seconds_bucket{le="0.5",method="GET"} 900.0
http_request_duration_seconds_bucket{le="1.0",method="GET"} 1000.0
http_request_duration_seconds_bucket{le="+Inf",method="GET"} 1000.0
http_request_duration_seconds_count{method="GET"} 1000.0
http_request_duration_seconds_sum{method="GET"} 120.0
# TYPE process_open_fds gauge
process_open_fds 12.0
"""


def scrape(requests: dict[str, float], buckets: dict[float, float], at: float) -> Scrape:
    return Scrape(
        requests={(("status", s),): v for s, v in requests.items()},
        buckets={(): buckets},
        at=at,
    )


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize("parse", PARSERS)
def test_both_parsers_read_the_two_families(parse):
    s = parse(EXPOSITION, NAMES)
    assert s.requests == {
        (("method", "GET"), ("status", "200")): 900.0,
        (("method", "GET"), ("status", "503")): 100.0,
    }
    assert s.buckets == {(("method", "GET"),): {0.1: 500.0, 0.5: 900.0, 1.0: 1000.0, INF: 1000.0}}


@pytest.mark.parametrize("parse", PARSERS)
def test_a_declared_counter_without_samples_is_an_idle_instance_not_an_error(parse):
    # prometheus_client shows a labelled counter's HELP/TYPE before its first request.
    s = parse("# HELP http_requests_total x\n# TYPE http_requests_total counter\n", NAMES)
    assert s.requests == {}


@pytest.mark.parametrize("parse", PARSERS)
def test_a_body_without_the_requests_counter_says_which_name_was_expected(parse):
    with pytest.raises(MetricsFormatError, match="no http_requests_total in the metrics"):
        parse("# TYPE other counter\nother_total 3\n", NAMES)


@pytest.mark.parametrize("parse", PARSERS)
def test_nan_counter_is_an_error(parse):
    with pytest.raises(MetricsFormatError, match="NaN"):
        parse('http_requests_total{status="200"} NaN\n', NAMES)


@pytest.mark.parametrize("parse", PARSERS)
def test_histogram_without_inf_bucket_is_an_error(parse):
    text = 'http_requests_total{status="200"} 1\nhttp_request_duration_seconds_bucket{le="0.1"} 1\n'
    with pytest.raises(MetricsFormatError, match=r"\+Inf"):
        parse(text, NAMES)


@pytest.mark.parametrize("parse", PARSERS)
def test_garbage_in_our_family_is_an_error(parse):
    with pytest.raises(MetricsFormatError, match="not Prometheus text"):
        parse('http_requests_total{status="200" 12\n', NAMES)


def test_reference_parser_rejects_html():
    with pytest.raises(MetricsFormatError):
        parse_reference("<html><body>502 Bad Gateway</body></html>\n", NAMES)


@pytest.mark.parametrize("parse", PARSERS)
def test_configured_names_without_total_suffix(parse):
    names = MetricNames(requests="app_hits", status_label="code", duration="app_latency")
    text = (
        "# TYPE app_hits counter\n"
        'app_hits_total{code="500"} 4\n'
        "# TYPE app_latency histogram\n"
        'app_latency_bucket{le="+Inf"} 4\n'
    )
    s = parse(text, names)
    assert s.requests == {(("code", "500"),): 4.0}
    assert s.buckets == {(): {INF: 4.0}}


# Generated expositions: the focused parser must read exactly what the reference reads.

label_values = st.text(
    alphabet=st.sampled_from(list('abcXYZ019 _-.,:;={}"\\\n/é')), min_size=0, max_size=12
)
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "1e3", "2.5E+2", "+Inf"]),
)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def expositions(draw) -> str:
    lines = []
    if draw(st.booleans()):
        lines += [
            "# HELP http_requests_total Requests \\\\ served.",
            "# TYPE http_requests_total counter",
        ]
    statuses = draw(
        st.lists(st.sampled_from(["200", "404", "500", "503", "5xx"]), min_size=1, unique=True)
    )
    for status in statuses:
        extra = draw(label_values)
        ts = f" {draw(st.integers(min_value=0, max_value=2**40))}" if draw(st.booleans()) else ""
        labels = [f'status="{status}"', f'path="{escape(extra)}"']
        if draw(st.booleans()):
            labels.reverse()
        lines.append(f"http_requests_total{{{','.join(labels)}}} {draw(numbers)}{ts}")
    if draw(st.booleans()):
        lines.append(f'other_metric{{a="{escape(draw(label_values))}"}} {draw(numbers)}')
    if draw(st.booleans()):
        lines.append("# TYPE http_request_duration_seconds histogram")
        bounds = draw(
            st.lists(st.sampled_from(["0.005", "0.1", "0.25", "1", "2.5e0"]), unique=True)
        )
        for bound in [*bounds, "+Inf"]:
            lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {draw(numbers)}')
        lines.append(f"http_request_duration_seconds_count {draw(numbers)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expositions())
def test_focused_parser_agrees_with_prometheus_client(text):
    try:
        expected = parse_reference(text, NAMES)
    except MetricsFormatError:
        return  # e.g. a counter of +Inf is fine for both, but nothing to compare if invalid
    assert parse_focused(text, NAMES) == expected


@st.composite
def damaged_expositions(draw) -> str:
    """A valid exposition with a few characters deleted, inserted or replaced."""
    text = draw(expositions())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "replace"]))
        char = draw(st.sampled_from(list('{}="\\ ,\n\t_#+-.0eINa<')))
        if edit == "delete":
            text = text[:at] + text[at + 1 :]
        elif edit == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_expositions())
def test_damaged_text_fails_in_words_and_never_reads_differently(text):
    outcomes = []
    for parse in PARSERS:
        try:
            outcomes.append(parse(text, NAMES))
        except MetricsFormatError as exc:
            assert str(exc)
            outcomes.append(None)
    reference, focused = outcomes
    # Either may refuse what the other accepts (prometheus_client is lax: it takes a
    # float timestamp, keeps the first of several values; the focused parser skips
    # other families unread). A refusal is an error on the instance's row, which is
    # safe; reading different figures from the same text would not be.
    if reference is not None and focused is not None:
        assert focused == reference


# --- counters and deltas ---------------------------------------------------------------


def test_counter_delta_grows_resets_and_starts():
    assert counter_delta(100.0, 130.0) == 30.0
    assert counter_delta(100.0, 7.0) == 7.0  # restarted from zero and counted 7 since
    assert counter_delta(None, 1.0) == 1.0  # the first 5xx of an instance: a new series


def test_deltas_give_rate_error_share_and_bucket_increase():
    before = scrape({"200": 1000, "500": 10}, {0.1: 800, 0.5: 1000, INF: 1010}, at=100.0)
    after = scrape({"200": 1190, "500": 20}, {0.1: 900, 0.5: 1190, INF: 1210}, at=102.0)
    d = deltas(before, after, "status")
    assert d.seconds == 2.0
    assert d.requests == 200
    assert d.errors == 10
    assert d.requests_per_second == 100.0
    assert d.error_rate == 0.05
    assert d.buckets == {0.1: 100, 0.5: 190, INF: 200}


def test_process_restart_counts_from_zero_not_negative():
    before = scrape({"200": 5000, "503": 50}, {0.1: 4000, INF: 5050}, at=0.0)
    after = scrape({"200": 30, "503": 10}, {0.1: 20, INF: 40}, at=1.0)
    d = deltas(before, after, "status")
    assert d.requests == 40
    assert d.errors == 10
    assert d.buckets == {0.1: 20, INF: 40}


def test_5xx_class_label_counts_as_errors():
    before = scrape({"2xx": 0, "5xx": 0}, {INF: 0}, at=0.0)
    after = scrape({"2xx": 90, "5xx": 10}, {INF: 100}, at=1.0)
    assert deltas(before, after, "status").error_rate == 0.1


# --- quantiles and pooling -------------------------------------------------------------


def test_quantile_interpolates_within_the_bucket_like_histogram_quantile():
    # 100 requests: 50 under 0.1 s, 40 in (0.1, 0.5], 10 in (0.5, 1.0].
    buckets = {0.1: 50, 0.5: 90, 1.0: 100, INF: 100}
    # rank 95 falls in (0.5, 1.0], 5 of its 10 requests in: 0.5 + 0.5 * 5/10.
    assert quantile(0.95, buckets) == pytest.approx(0.75)
    # rank 25 falls in the first bucket, which starts at 0.
    assert quantile(0.25, buckets) == pytest.approx(0.05)


def test_quantile_in_the_inf_bucket_answers_the_highest_finite_bound():
    assert quantile(0.95, {0.1: 10, 0.5: 50, INF: 100}) == 0.5


def test_quantile_of_nothing_is_unknown():
    assert quantile(0.95, {0.1: 0, INF: 0}) is None
    assert quantile(0.95, {}) is None


def test_pooled_p95_is_not_the_average_of_instance_p95s():
    fast = Deltas(seconds=1, requests=900, errors=0, buckets={0.1: 900, 1.0: 900, INF: 900})
    slow = Deltas(seconds=1, requests=100, errors=50, buckets={0.1: 0, 1.0: 100, INF: 100})
    figures = pool_color([fast, slow])
    assert figures.requests_per_second == 1000
    # Pooled share: 50 errors in 1,000 requests, not the mean of 0% and 50%.
    assert figures.error_rate == pytest.approx(0.05)
    # Rank 950 of the pooled histogram lies in (0.1, 1.0], 50 of its 100 requests in.
    assert figures.p95_ms == pytest.approx(550.0)


def test_pool_keeps_only_bounds_every_instance_has():
    assert pool_buckets([{0.1: 5, 0.5: 8, INF: 10}, {0.5: 3, INF: 4}]) == {0.5: 11, INF: 14}


def test_a_color_with_no_intervals_has_no_figures():
    figures = pool_color([])
    assert (figures.requests_per_second, figures.error_rate, figures.p95_ms) == (None, None, None)


def test_a_color_with_no_requests_has_a_rate_of_zero_and_no_error_share():
    idle = Deltas(seconds=1, requests=0, errors=0, buckets={INF: 0})
    figures = pool_color([idle])
    assert figures.requests_per_second == 0
    assert figures.error_rate is None
    assert figures.p95_ms is None


# --- breaches in words -----------------------------------------------------------------


def test_breaches_are_said_in_words():
    cfg = MetricsConfig(error_rate_threshold=0.02, p95_threshold_ms=500)
    cm = ColorMetrics("green", requests_per_second=120, error_rate=0.072, p95_ms=812.4)
    assert breaches(cm, cfg) == ["error rate 7.2% > 2.0%", "p95 812 ms > 500 ms"]


def test_within_thresholds_or_unknown_is_no_breach():
    cfg = MetricsConfig()
    assert breaches(ColorMetrics("blue", 10, 0.01, 120), cfg) == []
    assert breaches(ColorMetrics("blue", None, None, None), cfg) == []
    assert not math.isnan(cfg.error_rate_threshold)
