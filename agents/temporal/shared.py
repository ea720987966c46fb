"""What the run workflow, its activities and its starters share: the task queue, names, and the input and result
dataclasses. Imported inside the workflow sandbox: standard library only. Never a secret in here: Temporal's
history keeps every input and result (the agent's output and proposed actions are there by design — they are also
in the run's events)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

TASK_QUEUE = "agents"
RUN_WORKFLOW = "AgentRun"
TRIGGER_SIGNAL = "trigger"
DECIDE_UPDATE = "decide"
STATE_QUERY = "state"
WORKFLOW_PREFIX = "agent-run:"


def run_id_of(workflow_id: str, temporal_run_id: str) -> str:
    """The agent run's id: its workflow id (which names the tenant) and Temporal's run id, URL-safe and reversible,
    so that an approval can find the workflow from the run id alone and check it belongs to the caller's tenant."""
    key = workflow_id.removeprefix(WORKFLOW_PREFIX).encode()
    return "run_" + base64.urlsafe_b64encode(key).decode().rstrip("=") + "." + temporal_run_id


def workflow_of(run_id: str) -> tuple[str, str, str]:
    """(tenant id, workflow id, Temporal run id) of a run id; ValueError when it is not one of ours."""
    if not run_id.startswith("run_") or "." not in run_id:
        raise ValueError(f"not an agent run id: {run_id!r}")
    encoded, temporal_run_id = run_id.removeprefix("run_").rsplit(".", 1)
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"not an agent run id: {run_id!r}") from None
    tenant_id = key.split(":", 1)[0]
    if not tenant_id or not temporal_run_id:
        raise ValueError(f"not an agent run id: {run_id!r}")
    return tenant_id, WORKFLOW_PREFIX + key, temporal_run_id


@dataclass(frozen=True)
class TriggerIn:
    """One trigger of a run (the start signal, and each later signal of the same coalescing key)."""

    trigger_id: str
    source: str = ""
    prompt: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    more_trigger_ids: list[str] = field(default_factory=list)  # folded triggers (the agents group's outbox row)

    def ids(self) -> list[str]:
        return list(dict.fromkeys([self.trigger_id, *self.more_trigger_ids]))


@dataclass(frozen=True)
class RunInput:
    tenant_id: str
    agent: str
    subject_kind: str = ""
    subject_external_id: str = ""
    pending: list[TriggerIn] = field(default_factory=list)  # triggers carried over continue-as-new


@dataclass(frozen=True)
class Decision:
    approved: bool
    by: str
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    """What the deployment and the tenant's agent_settings say for this run (read by an activity)."""

    coalesce_s: float
    approval_expiry_s: float
    run_timeout_s: float
    defer_retry_s: float
    autonomy: str  # in effect: the tenant's override, else the catalog's
    act_without_approval: bool


@dataclass(frozen=True)
class RunRef:
    tenant_id: str
    agent: str
    run_id: str


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str = ""  # why not: over the daily token budget, or at the concurrency limit


@dataclass(frozen=True)
class PublishInput:
    """One agent.run.* event: its type name and fields (the activity builds the Struct and its idempotency key)."""

    tenant_id: str
    run_id: str
    kind: str  # started | deferred | awaiting_approval | completed | failed
    fields: dict[str, Any] = field(default_factory=dict)
    key_suffix: str = ""  # a second event of one kind in a run (deferred with a new reason)
    source: str = "agents"


@dataclass(frozen=True)
class CrewInput:
    tenant_id: str
    agent: str
    run_id: str
    subject_kind: str = ""
    subject_external_id: str = ""
    prompts: list[str] = field(default_factory=list)  # people's instructions of the coalesced triggers
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CrewResult:
    output: dict[str, Any]
    citations: list[dict[str, Any]] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_micro_usd: int = 0
    error: str = ""  # the output still fails the schema after the repair attempt


@dataclass(frozen=True)
class IssueInput:
    tenant_id: str
    agent: str
    run_id: str
    source: str  # the trigger's connector: the provider's connector to prefer
    actions: list[dict[str, Any]]  # {action, input, reason}
    issued_by: str  # who approved ("agent:<id>" when allow-listed)
    batch: str  # auto | approved: with the run id and the position, the command's id (a retry issues nothing twice)


@dataclass(frozen=True)
class FinishInput:
    tenant_id: str
    agent: str
    run_id: str
    tokens: int
    failed: bool
    latency_ms: int
