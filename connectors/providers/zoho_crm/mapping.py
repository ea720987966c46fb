"""Zoho CRM records -> entities: a Lead (module Leads) -> Lead, a Contact (module Contacts) -> Contact. Deals are not
synced: no platform entity is a sales opportunity (Order is a placed purchase, with lines and totals).

Field API names as Zoho CRM API v8 documents them ("Get Records", the Leads and Contacts modules' standard fields).
The provider time of a record's state is its `Modified_Time` (ISO 8601 with the account's offset). Zoho's country is
free text: it becomes Address.country (ISO 3166-1 alpha-2) only when it is a two-letter code, and stays in
provider_data otherwise. `Email_Opt_Out` says only that the person has not opted out, not that they opted in:
accepts_marketing stays False and the flag is kept in provider_data.
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, opt_text, text, utc_time
from events.entities import Address, Contact, Lead

MODIFIED_FIELD = "Modified_Time"

# the fields a listing asks for (Zoho CRM v8 requires `fields`, at most 50): what the mappers read
LEAD_FIELDS = (
    "id",
    "First_Name",
    "Last_Name",
    "Full_Name",
    "Email",
    "Phone",
    "Mobile",
    "Company",
    "Lead_Status",
    "Lead_Source",
    "Industry",
    "Rating",
    "Designation",
    "Website",
    "Email_Opt_Out",
    "Owner",
    "Tag",
    "Created_Time",
    "Modified_Time",
)
CONTACT_FIELDS = (
    "id",
    "First_Name",
    "Last_Name",
    "Full_Name",
    "Email",
    "Phone",
    "Mobile",
    "Account_Name",
    "Title",
    "Lead_Source",
    "Mailing_Street",
    "Mailing_City",
    "Mailing_State",
    "Mailing_Zip",
    "Mailing_Country",
    "Email_Opt_Out",
    "Owner",
    "Tag",
    "Created_Time",
    "Modified_Time",
)
MAILING = {"line1": "Mailing_Street", "city": "Mailing_City", "region": "Mailing_State", "postal_code": "Mailing_Zip"}


def _lookup_name(value: Any) -> str:
    """A lookup field ({"name", "id"}: Owner, Account_Name) as its name."""
    return text(value.get("name")) if isinstance(value, dict) else text(value)


def _tags(record: dict[str, Any]) -> list[str]:
    return [text(t.get("name")) for t in record.get("Tag") or [] if isinstance(t, dict) and t.get("name")]


def _full_name(record: dict[str, Any]) -> str:
    given = " ".join(p for p in (text(record.get("First_Name")), text(record.get("Last_Name"))) if p)
    return text(record.get("Full_Name")) or given


def lead(r: dict[str, Any]) -> Lead:
    return Lead(
        name=_full_name(r),
        email=opt_text(r.get("Email")),
        phone=opt_text(r.get("Phone") or r.get("Mobile")),
        company=text(r.get("Company")),
        status=text(r.get("Lead_Status")),
        origin=text(r.get("Lead_Source")),
        provider_data=compact(
            first_name=r.get("First_Name"),
            last_name=r.get("Last_Name"),
            mobile=r.get("Mobile"),
            industry=r.get("Industry"),
            rating=r.get("Rating"),
            designation=r.get("Designation"),
            website=r.get("Website"),
            email_opt_out=r.get("Email_Opt_Out") or None,
            owner=_lookup_name(r.get("Owner")) or None,
            tags=_tags(r),
            created_time=r.get("Created_Time"),
        ),
    )


def _country(r: dict[str, Any]) -> str:
    country = text(r.get("Mailing_Country")).strip()
    return country.upper() if len(country) == 2 and country.isalpha() else ""


def _mailing(r: dict[str, Any]) -> Address | None:
    fields = {ours: text(r.get(theirs)) for ours, theirs in MAILING.items()} | {"country": _country(r)}
    return Address(**fields) if any(fields.values()) else None


def contact(r: dict[str, Any]) -> Contact:
    found = _mailing(r)
    return Contact(
        email=opt_text(r.get("Email")),
        phone=opt_text(r.get("Phone") or r.get("Mobile")),
        first_name=text(r.get("First_Name")),
        last_name=text(r.get("Last_Name")),
        company=_lookup_name(r.get("Account_Name")),
        tags=_tags(r),
        addresses=[found] if found else [],
        provider_data=compact(
            mobile=r.get("Mobile"),
            title=r.get("Title"),
            lead_source=r.get("Lead_Source"),
            account_id=r["Account_Name"].get("id") if isinstance(r.get("Account_Name"), dict) else None,
            mailing_country=None if _country(r) else r.get("Mailing_Country"),
            email_opt_out=r.get("Email_Opt_Out") or None,
            owner=_lookup_name(r.get("Owner")) or None,
            created_time=r.get("Created_Time"),
        ),
    )


def _modified(r: dict[str, Any]):
    return utc_time(r[MODIFIED_FIELD]) if r.get(MODIFIED_FIELD) else None


def upsert_lead(out: EventBuilder, r: dict[str, Any]) -> None:
    out.upsert("lead", r["id"], _modified(r), lead(r))


def upsert_contact(out: EventBuilder, r: dict[str, Any]) -> None:
    out.upsert("contact", r["id"], _modified(r), contact(r))


MAPPERS = {"lead": upsert_lead, "contact": upsert_contact}
FIELDS = {"lead": LEAD_FIELDS, "contact": CONTACT_FIELDS}
