"""FluentCRM contacts (its REST API calls them subscribers) -> Contact. Tags become Contact.tags (their titles), lists
stay in provider_data; `accepts_marketing` is FluentCRM's `subscribed` status. A tag -> Segment (kind `tag`), a list
-> Segment (kind `list`), an email campaign -> Campaign. FluentCRM's times (`created_at`, `updated_at`,
`scheduled_at`) are the site's local time without an offset: kept as given in provider_data, never used as UTC."""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, address, compact, opt_text, text
from events.entities import Campaign, Contact, Segment

ADDRESS_FIELDS = {
    "line1": "address_line_1",
    "line2": "address_line_2",
    "city": "city",
    "region": "state",
    "postal_code": "postal_code",
    "country": "country",
}


def _titles(items: Any) -> list[str]:
    return [text(i.get("title")) for i in items or [] if isinstance(i, dict) and i.get("title")]


def contact(s: dict[str, Any]) -> Contact:
    found = address(s, ADDRESS_FIELDS)
    return Contact(
        email=opt_text(s.get("email")),
        phone=opt_text(s.get("phone")),
        first_name=text(s.get("first_name")),
        last_name=text(s.get("last_name")),
        tags=_titles(s.get("tags")),
        addresses=[found] if found else [],
        accepts_marketing=s.get("status") == "subscribed",
        provider_data=compact(
            status=s.get("status"),
            contact_type=s.get("contact_type"),
            lists=_titles(s.get("lists")),
            tag_slugs=[text(t.get("slug")) for t in s.get("tags") or [] if isinstance(t, dict) and t.get("slug")],
            user_id=opt_text(s.get("user_id") or None),  # the WordPress user, when linked
            company_id=opt_text(s.get("company_id") or None),
            source=s.get("source"),
            created_at_local=s.get("created_at"),
            last_activity_local=s.get("last_activity"),
        ),
    )


def upsert_subscriber(out: EventBuilder, s: dict[str, Any]) -> None:
    out.upsert("contact", s["id"], None, contact(s))  # local times only: the provider time is the read


def segment(s: dict[str, Any]) -> Segment:
    """A tag or a list (the same fields; a list also says whether contacts may pick it themselves)."""
    public = s.get("is_public")
    return Segment(
        name=text(s.get("title")),
        slug=text(s.get("slug")),
        description=text(s.get("description")),
        provider_data=compact(
            is_public=str(public) == "1" if public is not None else None,
            created_at_local=s.get("created_at"),
            updated_at_local=s.get("updated_at"),
        ),
    )


def campaign(c: dict[str, Any]) -> Campaign:
    recipients = c.get("recipients_count")
    return Campaign(
        name=text(c.get("title")),
        status=text(c.get("status")),
        channel="email",  # FluentCRM's campaigns are emails (SMS campaigns are another module)
        subject=text(c.get("email_subject")),
        recipients=int(recipients) if str(recipients or "").isdigit() else None,
        provider_data=compact(
            slug=c.get("slug"),
            pre_header=c.get("email_pre_header") or None,
            template_id=opt_text(c.get("template_id") or None),
            utm_campaign=c.get("utm_campaign") or None,
            scheduled_at_local=c.get("scheduled_at"),
            created_at_local=c.get("created_at"),
            updated_at_local=c.get("updated_at"),
        ),
    )


def upsert_tag(out: EventBuilder, s: dict[str, Any]) -> None:
    out.upsert("tag", s["id"], None, segment(s))


def upsert_list(out: EventBuilder, s: dict[str, Any]) -> None:
    out.upsert("list", s["id"], None, segment(s))


def upsert_campaign(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("campaign", c["id"], None, campaign(c))


MAPPERS = {"contact": upsert_subscriber, "tag": upsert_tag, "list": upsert_list, "campaign": upsert_campaign}
