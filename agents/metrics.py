"""The agent runs' Prometheus metrics, per agent and never per tenant (a label per tenant would grow without bound).
Recorded by the run workflow's activities, served by `bizosaas temporal-worker`'s /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RUNS = Counter("bizosaas_agent_runs_total", "Agent runs that ended, by agent and outcome", ["agent", "outcome"])
TOKENS = Counter("bizosaas_agent_tokens_total", "Model tokens used by agent runs", ["agent", "direction"])
LATENCY = Histogram(
    "bizosaas_agent_run_seconds",
    "From a run's start (after coalescing and admission) to its crew's answer",
    ["agent"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
