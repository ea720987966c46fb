"""The lifecycle events: a connector's set-up, syncs and webhooks, outbound webhook subscriptions and agent runs;
`LIFECYCLE_EVENT_TYPES` lists them (events/types.py adds them to `EVENT_TYPES`)."""

from __future__ import annotations

from typing import Any

from events.entities import UtcTime
from events.types_envelope import Event

# --- connector lifecycle (subject: kind "connector", external_id = the connector instance id) -------------------


class ConnectorConnected(Event, frozen=True, kw_only=True, tag="connector.connected.v1"):
    """The set-up workflow finished: the connection tested, the initial syncs started, webhooks registered where
    the provider's set-up does it."""

    config: dict[str, Any] = {}  # never secrets: those live in Vault
    webhooks: int = 0  # webhooks the set-up registered at the provider
    note: str = ""  # why none were registered, when the set-up registers them (BIZOSAAS_PUBLIC_URL unset ...)


class ConnectStarted(Event, frozen=True, kw_only=True, tag="connector.connect.started.v1"):
    """The set-up workflow started (a first connect, or a new attempt): the connector is `connecting`."""


class ConnectFailed(Event, frozen=True, kw_only=True, tag="connector.connect.failed.v1"):
    """The set-up workflow gave up: `reason` says what a person should fix (never a secret value)."""

    step: str = ""  # test, sync or webhooks
    reason: str = ""


class ConnectorDisconnected(Event, frozen=True, kw_only=True, tag="connector.disconnected.v1"):
    """A disconnect finished (its secrets destroyed): `step` names what it could not do at the provider (webhooks,
    revoke; comma-separated, empty when everything was done) and `reason` why, and what to do by hand."""

    reason: str = ""
    step: str = ""


class SyncStarted(Event, frozen=True, kw_only=True, tag="connector.sync.started.v1"):
    resource: str
    cursor: str | None = None
    run_id: str = ""  # the run (one ConnectorSync run: started, then completed or failed)
    full: bool = False  # a full run (reconciles deletions) or an incremental one


class SyncCompleted(Event, frozen=True, kw_only=True, tag="connector.sync.completed.v1"):
    resource: str
    records: int = 0  # objects listed (a page re-read counts again)
    deleted: int = 0
    cursor: str | None = None
    run_id: str = ""
    full: bool = False
    added: int = 0  # objects of the resource's kind not held before the run
    updated: int = 0  # held before, at an older state


class SyncFailed(Event, frozen=True, kw_only=True, tag="connector.sync.failed.v1"):
    resource: str
    error: str = ""
    retryable: bool = True
    run_id: str = ""
    full: bool = False


class WebhookUnmapped(Event, frozen=True, kw_only=True, tag="connector.webhook.unmapped.v1"):
    """A delivery the normalizer could not map: kept (by raw_ref) and re-runnable after a fix."""

    topic: str = ""
    error: str = ""


class ChangeNotified(Event, frozen=True, kw_only=True, tag="connector.change.notified.v1"):
    """A provider said a record changed but sent only its id (Zoho CRM's notifications): the platform reads it by a
    sync of `resource` soon (the `notifications` group signals that resource's sync). subject: the record."""

    resource: str  # the provider's resource the record is listed in (Leads ...)
    operation: str = ""  # the provider's word for the change (insert, update)


# --- outbound webhooks (subject: kind "hook", external_id = the subscription id; source: "outbound") ------------


class HookDisabled(Event, frozen=True, kw_only=True, tag="hook.disabled.v1"):
    """The dispatcher stopped delivering to a subscription that failed persistently (never its URL or secret)."""

    reason: str = ""
    consecutive_failures: int = 0


# --- agent runs (subject: kind "agent_run", external_id = the run id; source: the trigger's connector, or "agents") --


class AgentRunStarted(Event, frozen=True, kw_only=True, tag="agent.run.started.v1"):
    run_id: str
    agent: str  # an id of agents/catalog
    trigger_id: str = ""  # the event that woke it (or the command that asked for it)
    triggers: int = 1  # how many triggers the coalescing window folded into this run
    inputs: dict[str, Any] = {}  # what the run was given (never secrets)
    subject_kind: str = ""  # the record the run is about (the RunRequest's); empty for a run asked without one
    subject_external_id: str = ""


class AgentRunDeferred(Event, frozen=True, kw_only=True, tag="agent.run.deferred.v1"):
    """The tenant is over its daily token budget or concurrency: the run waits, with the reason."""

    run_id: str
    agent: str
    reason: str


class AgentRunAwaitingApproval(Event, frozen=True, kw_only=True, tag="agent.run.awaiting_approval.v1"):
    run_id: str
    agent: str
    output: dict[str, Any] = {}
    actions: list[dict[str, Any]] = []  # the proposed actions: {action, input, reason}
    citations: list[dict[str, Any]] = []  # records and documents the answer used
    expires_at: UtcTime | None = None


class AgentRunCompleted(Event, frozen=True, kw_only=True, tag="agent.run.completed.v1"):
    run_id: str
    agent: str
    output: dict[str, Any] = {}
    citations: list[dict[str, Any]] = []
    decision: str = ""  # "" (nothing to approve), approved, rejected, expired, auto (allow-listed actions)
    commands: list[str] = []  # ids of the commands the approved actions became
    tokens_in: int = 0
    tokens_out: int = 0
    cost_micro_usd: int = 0  # from the model's token counts and the configured prices
    latency_ms: int = 0


class AgentRunFailed(Event, frozen=True, kw_only=True, tag="agent.run.failed.v1"):
    run_id: str
    agent: str
    error: str  # a reason a person can act on ("no language model configured: set OPENAI_BASE_URL ...")
    tokens_in: int = 0
    tokens_out: int = 0
    cost_micro_usd: int = 0
    latency_ms: int = 0


LIFECYCLE_EVENT_TYPES: tuple[type[Event], ...] = (
    ConnectorConnected,
    ConnectStarted,
    ConnectFailed,
    ConnectorDisconnected,
    SyncStarted,
    SyncCompleted,
    SyncFailed,
    WebhookUnmapped,
    ChangeNotified,
    AgentRunStarted,
    AgentRunDeferred,
    AgentRunAwaitingApproval,
    AgentRunCompleted,
    AgentRunFailed,
    HookDisabled,
)
