"""Event types: one frozen Struct per type, tagged by its dotted, versioned name.

Entity events come in pairs (`<domain>.<kind>.upserted.vN` / `.deleted.vN`) and are declared with
`entity_events`; lifecycle events are written out. `EVENT_TYPES` lists every current type, and `legacy.py` holds the
old versions that are still readable through upcasters.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from events.entities import (
    Campaign,
    Comment,
    Company,
    Contact,
    Deal,
    Entity,
    Invoice,
    Lead,
    Message,
    Order,
    Payment,
    Post,
    Product,
    Segment,
    Subscription,
    Task,
    UtcTime,
)
from events.entities_messaging import Conversation, MessageTemplate
from events.entities_work import Cycle, Member, Project, TaskList
from events.knowledge import KnowledgeDocument

# the field's meaning travels with the schema catalog (docs/events/schemas/*.json: its `description`)
RawRef = Annotated[
    str | None,
    Meta(
        description=(
            "Where the original payload is kept: the id of the platform's delivery record (dlv_..., "
            "GET /v1/deliveries/{id}) on every event built from a webhook delivery, mapped or unmapped; absent when "
            "the event has no stored payload. Never the provider's own id (that is subject.external_id)."
        )
    ),
]


class Subject(Struct, frozen=True, kw_only=True):
    kind: str  # singular, lower-case entity kind: order, contact, post ...
    external_id: str  # the provider's id, as a string


class Event(Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    """The envelope every event shares."""

    id: str  # sortable unique id (events.ids)
    tenant_id: str
    source: str  # the connector instance that produced it
    provider: str = ""  # woocommerce, shopify ... (kept here so consumers need no lookup)
    subject: Subject
    occurred_at: UtcTime  # provider time of this state
    recorded_at: UtcTime
    correlation_id: str | None = None
    causation_id: str | None = None
    raw_ref: RawRef = None  # where the original payload is kept: the delivery record (dlv_...)

    def __post_init__(self) -> None:
        # times are UTC everywhere: an offset given by a provider is converted, never dropped
        for name in ("occurred_at", "recorded_at"):
            value = getattr(self, name)
            if value.utcoffset() != UTC.utcoffset(None):
                msgspec.structs.force_setattr(self, name, value.astimezone(UTC))

    @property
    def type(self) -> str:
        return type(self).__struct_config__.tag


class EntityUpserted(Event, frozen=True, kw_only=True):
    data: Entity


class EntityDeleted(Event, frozen=True, kw_only=True):
    data: Entity | None = None


def entity_events(domain: str, kind: str, entity: type[Entity], version: int = 1, noun: str = "") -> tuple[type, type]:
    """The upserted/deleted pair for one entity kind; `noun` names it in the type tag where the kind alone would
    clash with another domain's (ads.campaign is kind ad_campaign: marketing.campaign holds `campaign`)."""
    name = "".join(part.capitalize() for part in kind.split("_"))
    upserted = msgspec.defstruct(
        f"{name}Upserted",
        [("data", entity)],
        bases=(EntityUpserted,),
        tag=f"{domain}.{noun or kind}.upserted.v{version}",
        frozen=True,
        kw_only=True,
        module=__name__,
    )
    deleted = msgspec.defstruct(
        f"{name}Deleted",
        [("data", entity | None, None)],
        bases=(EntityDeleted,),
        tag=f"{domain}.{noun or kind}.deleted.v{version}",
        frozen=True,
        kw_only=True,
        module=__name__,
    )
    upserted.kind = deleted.kind = kind
    return upserted, deleted


ContactUpserted, ContactDeleted = entity_events("crm", "contact", Contact)
CompanyUpserted, CompanyDeleted = entity_events("crm", "company", Company)
LeadUpserted, LeadDeleted = entity_events("crm", "lead", Lead)
DealUpserted, DealDeleted = entity_events("crm", "deal", Deal)
TagUpserted, TagDeleted = entity_events("crm", "tag", Segment)
ListUpserted, ListDeleted = entity_events("crm", "list", Segment)
CampaignUpserted, CampaignDeleted = entity_events("marketing", "campaign", Campaign)
# v2: money became integer minor units (v1 carried decimal strings; see events/legacy.py)
OrderUpserted, OrderDeleted = entity_events("commerce", "order", Order, version=2)
ProductUpserted, ProductDeleted = entity_events("commerce", "product", Product)
PostUpserted, PostDeleted = entity_events("cms", "post", Post)
PageUpserted, PageDeleted = entity_events("cms", "page", Post)
CommentUpserted, CommentDeleted = entity_events("cms", "comment", Comment)
MessageUpserted, MessageDeleted = entity_events("messaging", "message", Message)
InvoiceUpserted, InvoiceDeleted = entity_events("billing", "invoice", Invoice)
SubscriptionUpserted, SubscriptionDeleted = entity_events("billing", "subscription", Subscription)
PaymentUpserted, PaymentDeleted = entity_events("billing", "payment", Payment)
TaskUpserted, TaskDeleted = entity_events("work", "task", Task)
DocumentUpserted, DocumentDeleted = entity_events("knowledge", "document", KnowledgeDocument)
# --- project management (issue 13)
ProjectUpserted, ProjectDeleted = entity_events("work", "project", Project)
TaskListUpserted, TaskListDeleted = entity_events("work", "task_list", TaskList)
CycleUpserted, CycleDeleted = entity_events("work", "cycle", Cycle)
MemberUpserted, MemberDeleted = entity_events("work", "member", Member)
WORK_EVENT_TYPES: tuple[type[Event], ...] = (
    ProjectUpserted,
    ProjectDeleted,
    TaskListUpserted,
    TaskListDeleted,
    CycleUpserted,
    CycleDeleted,
    MemberUpserted,
    MemberDeleted,
)

# --- advertising and analytics (issue 13): events/entities_ads.py; tags by noun, kinds unique across domains
from events.entities_ads import (  # noqa: E402 - kept with its block (others add blocks after Document's)
    Ad,
    AdCampaign,
    AdGroup,
    AdPerformance,
    ProductStatus,
    ReportRow,
    TagContainer,
    TagManagerItem,
)

AdCampaignUpserted, AdCampaignDeleted = entity_events("ads", "ad_campaign", AdCampaign, noun="campaign")
AdGroupUpserted, AdGroupDeleted = entity_events("ads", "ad_group", AdGroup)
AdUpserted, AdDeleted = entity_events("ads", "ad", Ad)
AdPerformanceUpserted, AdPerformanceDeleted = entity_events("ads", "ad_performance", AdPerformance, noun="performance")
ReportRowUpserted, ReportRowDeleted = entity_events("analytics", "report_row", ReportRow)
TagContainerUpserted, TagContainerDeleted = entity_events(
    "tagmanager", "tagmanager_container", TagContainer, noun="container"
)
TagManagerTagUpserted, TagManagerTagDeleted = entity_events("tagmanager", "tagmanager_tag", TagManagerItem, noun="tag")
TagTriggerUpserted, TagTriggerDeleted = entity_events(
    "tagmanager", "tagmanager_trigger", TagManagerItem, noun="trigger"
)
TagVariableUpserted, TagVariableDeleted = entity_events(
    "tagmanager", "tagmanager_variable", TagManagerItem, noun="variable"
)
ProductStatusUpserted, ProductStatusDeleted = entity_events("merchant", "product_status", ProductStatus)
ADS_EVENT_TYPES: tuple[type[Event], ...] = (
    AdCampaignUpserted,
    AdCampaignDeleted,
    AdGroupUpserted,
    AdGroupDeleted,
    AdUpserted,
    AdDeleted,
    AdPerformanceUpserted,
    AdPerformanceDeleted,
    ReportRowUpserted,
    ReportRowDeleted,
    TagContainerUpserted,
    TagContainerDeleted,
    TagManagerTagUpserted,
    TagManagerTagDeleted,
    TagTriggerUpserted,
    TagTriggerDeleted,
    TagVariableUpserted,
    TagVariableDeleted,
    ProductStatusUpserted,
    ProductStatusDeleted,
)

# --- messaging (issue 13)
ConversationUpserted, ConversationDeleted = entity_events("messaging", "conversation", Conversation)
MessageTemplateUpserted, MessageTemplateDeleted = entity_events("messaging", "message_template", MessageTemplate)
MESSAGING_EVENT_TYPES: tuple[type[Event], ...] = (
    ConversationUpserted,
    ConversationDeleted,
    MessageTemplateUpserted,
    MessageTemplateDeleted,
)


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


ENTITY_EVENT_TYPES: tuple[type[Event], ...] = (
    ContactUpserted,
    ContactDeleted,
    CompanyUpserted,
    CompanyDeleted,
    LeadUpserted,
    LeadDeleted,
    DealUpserted,
    DealDeleted,
    TagUpserted,
    TagDeleted,
    ListUpserted,
    ListDeleted,
    CampaignUpserted,
    CampaignDeleted,
    OrderUpserted,
    OrderDeleted,
    ProductUpserted,
    ProductDeleted,
    PostUpserted,
    PostDeleted,
    PageUpserted,
    PageDeleted,
    CommentUpserted,
    CommentDeleted,
    MessageUpserted,
    MessageDeleted,
    InvoiceUpserted,
    InvoiceDeleted,
    SubscriptionUpserted,
    SubscriptionDeleted,
    PaymentUpserted,
    PaymentDeleted,
    TaskUpserted,
    TaskDeleted,
    DocumentUpserted,
    DocumentDeleted,
    *WORK_EVENT_TYPES,
    *ADS_EVENT_TYPES,
    *MESSAGING_EVENT_TYPES,
)
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
EVENT_TYPES: tuple[type[Event], ...] = ENTITY_EVENT_TYPES + LIFECYCLE_EVENT_TYPES

# kind -> upserted type, for connectors that build events from a kind name
UPSERTED_BY_KIND: dict[str, type[EntityUpserted]] = {
    t.kind: t for t in ENTITY_EVENT_TYPES if issubclass(t, EntityUpserted)
}
DELETED_BY_KIND: dict[str, type[EntityDeleted]] = {
    t.kind: t for t in ENTITY_EVENT_TYPES if issubclass(t, EntityDeleted)
}
