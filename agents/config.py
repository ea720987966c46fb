"""The agents' settings: each field's default is written here and nowhere else. The gateway's settings (and so the
platform's Settings) are an AgentsConfig; so will be the agents' worker and consumer group."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class AgentsConfig:
    # per tenant, unless the tenant's admin set a lower value (PATCH /v1/agent-limits): these are also the most a
    # tenant may set, so one tenant cannot take the deployment's language model from the others
    agent_daily_token_budget: int = 1_000_000  # tokens (prompt + completion) per UTC day; past it runs are deferred
    agent_max_concurrent_runs: int = 4  # runs of one tenant at once; more wait (deferred) for a free slot
