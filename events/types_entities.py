"""The entity events: an upserted/deleted pair per entity kind (`<domain>.<kind>.upserted.vN` / `.deleted.vN`),
declared with `entity_events`, one block per family; `ENTITY_EVENT_TYPES` lists them all (events/types.py adds them to
`EVENT_TYPES`)."""

from __future__ import annotations

from events.entities import (
    Campaign,
    Comment,
    Company,
    Contact,
    Deal,
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
)
from events.entities_ads import (
    Ad,
    AdCampaign,
    AdGroup,
    AdPerformance,
    ProductStatus,
    ReportRow,
    TagContainer,
    TagManagerItem,
)
from events.entities_messaging import Conversation, MessageTemplate
from events.entities_work import Cycle, Member, Project, TaskList
from events.knowledge import KnowledgeDocument
from events.types_envelope import Event, entity_events

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
