"""What the ad platforms' mappings (meta_ads, pinterest, snapchat) read the same way: a status through the
platform's table of words, else lower-cased; the account's currency, which each api.py adds to every object as
`account_currency`; an ISO 8601 time's date as written (with the account's offset, so the account's day). And the
upserts of objects under their `id`, which google_ads shares too."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.normalize import EventBuilder, Mapper, opt_text, text
from events.entities import Entity


def status(value: Any, statuses: Mapping[str, str]) -> str:
    """The platform's word for a status (`statuses`: ACTIVE -> enabled ...); one not in the table lower-cased."""
    return statuses.get(text(value), text(value).lower())


def account_currency(obj: dict[str, Any]) -> str:
    return text(obj.get("account_currency")).upper()


def local_date(value: Any) -> str | None:
    """An ISO 8601 time with the account's offset (2026-03-01T00:00:00-0800): its date there."""
    return opt_text(value)[:10] if value else None


def upserters(**entities: Callable[[dict[str, Any]], Entity]) -> dict[str, Mapper]:
    """kind -> a mapper that upserts the object as that kind under its `id`, its entity made by `entities[kind]`,
    at the time of the read (no modification time is taken from the object)."""

    def upserter(kind: str, entity: Callable[[dict[str, Any]], Entity]) -> Mapper:
        def upsert(out: EventBuilder, obj: dict[str, Any]) -> None:
            out.upsert(kind, obj["id"], None, entity(obj))

        return upsert

    return {kind: upserter(kind, entity) for kind, entity in entities.items()}
