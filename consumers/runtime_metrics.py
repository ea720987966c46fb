"""Prometheus metrics of the stream runtime (the metrics group's own counter is in consumers/metrics.py). No tenant
label anywhere: tenants are unbounded."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PROCESSED = Counter("bizosaas_consumer_processed_total", "Entries handled and acknowledged", ["group"])
FAILED = Counter("bizosaas_consumer_failed_total", "Entries whose handler raised (left pending for retry)", ["group"])
DEAD_LETTERED = Counter("bizosaas_consumer_dead_lettered_total", "Entries moved to the dead-letter stream", ["group"])
RECLAIMED = Counter("bizosaas_consumer_reclaimed_total", "Pending entries claimed from idle consumers", ["group"])
INFRA_ERRORS = Counter(
    "bizosaas_consumer_infra_errors_total", "Redis/Postgres errors that caused a back-off", ["group"]
)
BATCH_SECONDS = Histogram(
    "bizosaas_consumer_batch_seconds",
    "Time to handle and acknowledge one batch",
    ["group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAG = Gauge("bizosaas_consumer_lag", "Entries in the stream not yet delivered to the group", ["group", "stream"])
PENDING = Gauge("bizosaas_consumer_pending", "Entries delivered to the group but not acknowledged", ["group", "stream"])
DEAD_LETTERS = Gauge("bizosaas_dead_letters", "Entries waiting in the group's dead-letter stream", ["group"])
