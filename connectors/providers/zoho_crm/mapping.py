"""Zoho CRM records -> entities: a Lead (module Leads) -> Lead, a Contact (module Contacts) -> Contact, a Deal
(module Deals) -> Deal (a sales opportunity: Order is a placed purchase, with lines and totals).

Field API names as Zoho CRM API v8 documents them ("Get Records", the Leads and Contacts modules' standard fields).
The provider time of a record's state is its `Modified_Time` (ISO 8601 with the account's offset). Zoho's country is
free text: it becomes Address.country (ISO 3166-1 alpha-2) only when it is a two-letter code, and stays in
provider_data otherwise. `Email_Opt_Out` says only that the person has not opted out, not that they opted in:
accepts_marketing stays False and the flag is kept in provider_data. A deal's `Amount` is a decimal in the org's
currency: the record's `Currency` where the org has several (multi-currency orgs list it), else the connector's
`currency` setting (Get Records names no home currency), else USD.
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, minor, opt_text, text, utc_time
from events.entities import Address, Contact, Deal, Lead

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
DEAL_FIELDS = (
    "id",
    "Deal_Name",
    "Amount",
    "Currency",
    "Stage",
    "Pipeline",
    "Probability",
    "Closing_Date",
    "Type",
    "Lead_Source",
    "Next_Step",
    "Account_Name",
    "Contact_Name",
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


def _lookup_id(value: Any) -> str | None:
    return opt_text(value.get("id")) if isinstance(value, dict) else None


def deal(r: dict[str, Any], home_currency: str = "") -> Deal:
    currency = (text(r.get("Currency")) or home_currency or "USD").upper()
    probability = r.get("Probability")
    return Deal(
        name=text(r.get("Deal_Name")),
        stage=text(r.get("Stage")),
        pipeline=text(r.get("Pipeline")),
        currency=currency,
        amount_minor=minor(r.get("Amount"), currency),
        probability=int(probability) if isinstance(probability, int | float) else None,
        expected_close=opt_text(r.get("Closing_Date")),
        company=_lookup_name(r.get("Account_Name")),
        contact_external_id=_lookup_id(r.get("Contact_Name")),
        owner=_lookup_name(r.get("Owner")) or None,
        provider_data=compact(
            type=r.get("Type"),
            lead_source=r.get("Lead_Source"),
            next_step=r.get("Next_Step"),
            account_id=_lookup_id(r.get("Account_Name")),
            tags=_tags(r),
            created_time=r.get("Created_Time"),
        ),
    )


def _modified(r: dict[str, Any]):
    return utc_time(r[MODIFIED_FIELD]) if r.get(MODIFIED_FIELD) else None


def upsert_lead(out: EventBuilder, r: dict[str, Any]) -> None:
    out.upsert("lead", r["id"], _modified(r), lead(r))


def upsert_contact(out: EventBuilder, r: dict[str, Any]) -> None:
    out.upsert("contact", r["id"], _modified(r), contact(r))


def upsert_deal(out: EventBuilder, r: dict[str, Any]) -> None:
    out.upsert("deal", r["id"], _modified(r), deal(r, text(out.ctx.config.get("currency"))))


MAPPERS = {"lead": upsert_lead, "contact": upsert_contact, "deal": upsert_deal}
FIELDS = {"lead": LEAD_FIELDS, "contact": CONTACT_FIELDS, "deal": DEAL_FIELDS}
