"""What workflows, activities and their starters share: the task queue, workflow ids and the input and result
dataclasses (ids and counts only: never a secret, a config value or a payload, since Temporal's history keeps
them). Imported inside the workflow sandbox: standard library only."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

TASK_QUEUE = "connectors"
SYNC_WORKFLOW = "ConnectorSync"
CONNECT_WORKFLOW = "ConnectorConnect"
ACTION_WORKFLOW = "ConnectorAction"
SCHEDULED_SYNC_WORKFLOW = "ConnectorScheduledSync"
DISCONNECT_WORKFLOW = "ConnectorDisconnect"
SYNC_NOW_SIGNAL = "sync_now"
USAGE_PUSH_WORKFLOW = "UsagePush"
# the one Temporal Schedule of the platform's usage push to Lago (connectors/usage_push.py); its action's workflow id
# is the same, suffixed by Temporal with the tick's time
USAGE_PUSH_SCHEDULE = "usage-push"


def sync_workflow_id(connector_id: str, resource: str) -> str:
    """One workflow per connector x resource: a second request joins it instead of running alongside."""
    return f"sync:{connector_id}:{resource}"


def connect_workflow_id(connector_id: str) -> str:
    return f"connect:{connector_id}"


def schedule_id(connector_id: str) -> str:
    """One Temporal Schedule per connector: it starts ConnectorScheduledSync, which signal-with-starts each
    resource's `sync:{connector}:{resource}` as a sync command does."""
    return f"schedule:{connector_id}"


def action_workflow_id(command_id: str) -> str:
    """Derived from the command: a redelivered command finds its workflow and starts nothing new."""
    return f"action:{command_id}"


def disconnect_workflow_id(command_id: str) -> str:
    """Derived from the disconnect command: a redelivered command waits for its workflow instead of a second one."""
    return f"disconnect:{command_id}"


def schedule_offset_s(connector_id: str, interval_s: int) -> int:
    """The phase of a connector's schedule inside its interval (stable per connector), so that connectors created
    together do not all sync at the same second."""
    return zlib.crc32(connector_id.encode()) % max(interval_s, 1)


@dataclass(frozen=True)
class SyncNow:
    """The signal: run (again) as soon as the current run ends; `full` reconciles deletions."""

    full: bool = False


@dataclass(frozen=True)
class SyncInput:
    tenant_id: str
    connector_id: str
    resource: str
    full: bool = False
    pending: bool = False  # a run is requested (set by the starter; carried over continue-as-new)
    run_id: str | None = None  # the run in progress, carried over continue-as-new
    max_attempts: int = 10  # per activity (pages retry with back-off, a provider's Retry-After honoured)
    max_history: int = 2_000  # events; past this the workflow continues as new (so does Temporal's suggestion)


@dataclass(frozen=True)
class BeginInput:
    tenant_id: str
    connector_id: str
    resource: str
    run_id: str
    full: bool = False


@dataclass(frozen=True)
class RunInput:
    tenant_id: str
    connector_id: str
    resource: str
    run_id: str


@dataclass(frozen=True)
class FailInput:
    tenant_id: str
    connector_id: str
    resource: str
    run_id: str
    error: str
    retryable: bool


@dataclass(frozen=True)
class StepResult:
    done: bool
    page: int
    records: int


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # completed | failed
    records: int = 0
    deleted: int = 0
    error: str = ""


@dataclass(frozen=True)
class SyncResult:
    runs: list[RunResult] = field(default_factory=list)


@dataclass(frozen=True)
class ConnectorRef:
    tenant_id: str
    connector_id: str


@dataclass(frozen=True)
class ActionInput:
    """An action's input is the caller's (a product id and a quantity), never a credential."""

    tenant_id: str
    connector_id: str
    action: str
    input: dict[str, Any] = field(default_factory=dict)
    command_id: str = ""  # the connector.action.v1 command whose status records the outcome ("": none)


@dataclass(frozen=True)
class SyncAllInput:
    """Request a sync of every resource (the schedule's ticks are incremental, the connect's first ones full)."""

    tenant_id: str
    connector_id: str
    full: bool = False


@dataclass(frozen=True)
class CommandOutcome:
    """A command's final status, recorded by the workflow that carried it out."""

    tenant_id: str
    command_id: str
    status: str  # completed | failed
    reason: str = ""
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class UsagePushInput:
    """The billing Lago connector's id (BIZOSAAS_BILLING_CONNECTOR): its tenant is looked up, its key read in Vault."""

    connector_id: str


@dataclass(frozen=True)
class UsagePushResult:
    tenants: int
    events: int


@dataclass(frozen=True)
class SetupOutcome:
    """Where a connector's set-up stands, published as an event for its owner (connector.connect.started, .failed,
    connector.connected). `reason` is an error message or a note, never a secret."""

    tenant_id: str
    connector_id: str
    attempt: str  # the set-up workflow's run id: a retried activity publishes its event once
    status: str  # connecting | failed | connected
    step: str = ""  # failed: test, sync or webhooks
    reason: str = ""  # failed: what to fix; connected: why no webhooks were registered, if so
    webhooks: int = 0  # connected: registered at the provider


@dataclass(frozen=True)
class WebhooksResult:
    registered: int
    note: str = ""  # why none were registered


@dataclass(frozen=True)
class DisconnectInput:
    """A disconnect's steps at the provider: unregister the set-up's webhooks, revoke the OAuth2 grant, then destroy
    every version of the connector's secrets (in that order: the first two need them)."""

    tenant_id: str
    connector_id: str
    max_attempts: int = 4  # per provider step (1 + 2 + 4 s of back-off): a provider that is down delays little


@dataclass(frozen=True)
class DisconnectResult:
    done: list[str] = field(default_factory=list)  # what each step did, in words (never a secret)
    failed: list[str] = field(default_factory=list)  # the steps not done at the provider: webhooks, revoke
    problems: list[str] = field(default_factory=list)  # for each, why and what to do by hand
