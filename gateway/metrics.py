"""Prometheus metrics of the gateway. No tenant or connector label: both are unbounded."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
