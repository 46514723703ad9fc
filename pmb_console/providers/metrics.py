"""Metrics for the blue and green panes: pick a source, and say breaches in words.

    source = build_metrics_source(config)      # scrape or prometheus, from [metrics] source
    figures = await source.poll()              # {"blue": ColorMetrics, "green": ColorMetrics}
    breaches(figures["green"], config.metrics) # ["error rate 7.2% > 2.0%", ...]
    await source.aclose()

The sources live in metrics_scrape.py and metrics_prometheus.py, the arithmetic in
metrics_math.py; each is imported only when configured.
"""

from __future__ import annotations

from pmb_console.config import Config, MetricsConfig
from pmb_console.providers.base import ColorMetrics, MetricsSource


def build_metrics_source(config: Config) -> MetricsSource:
    """The source `[metrics] source` names."""
    if config.metrics.source == "prometheus":
        from pmb_console.providers.metrics_prometheus import PrometheusMetricsSource

        return PrometheusMetricsSource(config)
    from pmb_console.providers.metrics_scrape import ScrapeMetricsSource

    return ScrapeMetricsSource(config)


def percent(share: float) -> str:
    """A share as the panes print it: one decimal, more only when it would read as 0.0%."""
    value = share * 100.0
    return f"{value:.2f}%" if 0 < value < 0.1 else f"{value:.1f}%"


def breaches(cm: ColorMetrics, metrics_cfg: MetricsConfig) -> list[str]:
    """The thresholds a color is over, in words; empty when it is within them (or unknown)."""
    said = []
    if cm.error_rate is not None and cm.error_rate > metrics_cfg.error_rate_threshold:
        said.append(
            f"error rate {percent(cm.error_rate)} > {percent(metrics_cfg.error_rate_threshold)}"
        )
    if cm.p95_ms is not None and cm.p95_ms > metrics_cfg.p95_threshold_ms:
        said.append(f"p95 {cm.p95_ms:.0f} ms > {metrics_cfg.p95_threshold_ms:.0f} ms")
    return said
