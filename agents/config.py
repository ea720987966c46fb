"""The agents' settings: each field's default is written here and nowhere else. The gateway's settings (and so the
platform's Settings) are an AgentsConfig; so is the agents' worker. The language model is reached through
RagConfig's `openai_api_key` / `openai_base_url` (OPENAI_API_KEY, OPENAI_BASE_URL: one pair for the deployment):
the run workflow's activities read an AgentRunConfig, both at once (Settings is both)."""

from __future__ import annotations

from dataclasses import dataclass

from rag.config import RagConfig

NO_MODEL = "no language model configured: set OPENAI_BASE_URL (an OpenAI-compatible server) or OPENAI_API_KEY"


@dataclass(frozen=True, kw_only=True)
class AgentsConfig:
    # per tenant, unless the tenant's admin set a lower value (PATCH /v1/agent-limits): these are also the most a
    # tenant may set, so one tenant cannot take the deployment's language model from the others
    agent_daily_token_budget: int = 1_000_000  # tokens (prompt + completion) per UTC day; past it runs are deferred
    agent_max_concurrent_runs: int = 4  # runs of one tenant at once; more wait (deferred) for a free slot
    agent_model: str = "gpt-4o-mini"  # the chat model every specialist runs on (an OpenAI-compatible name)
    agent_max_iter: int = 5  # CrewAI's bound on an agent's reasoning/tool steps per task
    agent_run_timeout_s: float = 300.0  # one crew run (both attempts, when the output needs its repair)
    agent_coalesce_s: float = 30.0  # triggers for one agent x subject within this window become one run
    agent_approval_expiry_s: float = 3 * 86400.0  # an undecided run ends `expired`, nothing issued
    agent_defer_retry_s: float = 60.0  # a deferred run (over budget) asks again this often
    agent_start_in_flight: int = 16  # run requests each worker hands to Temporal at once (the agents group's outbox)
    # US dollars per million tokens, for the cost of a run (the default: gpt-4o-mini's list price)
    agent_price_in_per_mtok_usd: float = 0.15
    agent_price_out_per_mtok_usd: float = 0.60


@dataclass(frozen=True, kw_only=True)
class AgentRunConfig(AgentsConfig, RagConfig):
    """What the run's activities read: the agents' settings and the model's address. Declares nothing of its own."""


def llm_configured(config: AgentRunConfig) -> bool:
    return bool(config.openai_base_url or config.openai_api_key)


def cost_micro_usd(config: AgentsConfig, tokens_in: int, tokens_out: int) -> int:
    """Micro-dollars: a price per million tokens in dollars is a price per token in micro-dollars."""
    return round(tokens_in * config.agent_price_in_per_mtok_usd + tokens_out * config.agent_price_out_per_mtok_usd)
