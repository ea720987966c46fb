"""Prometheus metrics of the gateway. No tenant or connector label: both are unbounded.

With `bizosaas gateway --processes N` the supervisor gives its children a fresh PROMETHEUS_MULTIPROC_DIR
(prometheus-client's own variable, read by the library when it is imported): every process writes its values to
files there, and `/metrics`, whichever process answers, sums them all. A Gauge added to the gateway must say how
processes combine (`multiprocess_mode=`); a Counter or Histogram needs nothing.
"""

from __future__ import annotations

import functools
import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess

REQUESTS = Counter(
    "bizosaas_gateway_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "bizosaas_gateway_request_seconds",
    "Time to answer a request",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
# topic: one of the provider's mapped topics or `other` (connectors.ingest.topic_label): never a value from a request
WEBHOOKS = Counter(
    "bizosaas_gateway_webhooks_total",
    "Webhook deliveries by provider, topic and outcome",
    ["provider", "topic", "outcome"],
)
BODY_TIMEOUTS = Counter(
    "bizosaas_gateway_body_timeouts_total",
    "Requests answered 408 because their body did not arrive within BIZOSAAS_BODY_TIMEOUT_S",
)


@functools.cache
def scraped() -> CollectorRegistry:
    """What `/metrics` answers: this process's registry, or every gateway process's values in multiprocess mode."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry
