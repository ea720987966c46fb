"""Merchant API products -> entities: the product as a commerce Product (kind product), and its status as a
ProductStatus (kind product_status), both keyed by the product's id (`{contentLanguage}~{feedLabel}~{offerId}`, the
last part of its `name`).

Attributes are read from `productAttributes` (Merchant API v1; v1beta called them `attributes`, read too). Prices are
`{"amountMicros", "currencyCode"}`: micros to minor units exactly. A status's destinations are its reporting
contexts (SHOPPING_ADS, FREE_LISTINGS ...) with the countries approved, pending and disapproved; issues keep
Google's severity in lower case (disapproved, demoted, not_impacted). The time of a state is the product's
`productStatus.lastUpdateDate` when given.
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, opt_text, opt_time, text
from connectors.providers.google_common.micros import micros_minor
from events.entities import Product
from events.entities_ads import DestinationStatus, ProductIssue, ProductStatus


def product_id(obj: dict[str, Any]) -> str:
    return text(obj["name"]).rsplit("/", 1)[-1]


def _attributes(obj: dict[str, Any]) -> dict[str, Any]:
    found = obj.get("productAttributes") or obj.get("attributes") or {}
    return found if isinstance(found, dict) else {}


def product(obj: dict[str, Any], default_currency: str = "") -> Product:
    a = _attributes(obj)
    price = a.get("salePrice") or a.get("price") or {}
    currency = (text(price.get("currencyCode")) or default_currency or "USD").upper()
    return Product(
        name=text(a.get("title")),
        sku=text(obj.get("offerId")),
        status=text(a.get("availability")).lower(),
        currency=currency,
        price_minor=micros_minor(price.get("amountMicros"), currency),
        description=text(a.get("description")),
        categories=[text(a["googleProductCategory"])] if a.get("googleProductCategory") else [],
        url=opt_text(a.get("link")),
        provider_data=compact(
            brand=a.get("brand"),
            gtins=a.get("gtins"),
            condition=a.get("condition"),
            image_link=a.get("imageLink"),
            content_language=obj.get("contentLanguage"),
            feed_label=obj.get("feedLabel"),
            data_source=obj.get("dataSource"),
        ),
    )


def _destinations(status: dict[str, Any]) -> list[DestinationStatus]:
    found = []
    for d in status.get("destinationStatuses") or []:
        for word, key in (("approved", "approvedCountries"), ("pending", "pendingCountries")):
            if d.get(key):
                found.append(
                    DestinationStatus(destination=text(d.get("reportingContext")), status=word, countries=d[key])
                )
        if d.get("disapprovedCountries"):
            found.append(
                DestinationStatus(
                    destination=text(d.get("reportingContext")),
                    status="disapproved",
                    countries=d["disapprovedCountries"],
                )
            )
    return found


def _issues(status: dict[str, Any]) -> list[ProductIssue]:
    return [
        ProductIssue(
            code=text(i.get("code")),
            severity=text(i.get("severity")).lower(),
            description=text(i.get("description") or i.get("detail")),
            attribute=opt_text(i.get("attribute")),
            destination=opt_text(i.get("reportingContext")),
        )
        for i in status.get("itemLevelIssues") or []
    ]


def product_status(obj: dict[str, Any]) -> ProductStatus:
    status, a = obj.get("productStatus") or {}, _attributes(obj)
    destinations = _destinations(status)
    return ProductStatus(
        product_external_id=product_id(obj),
        offer_id=text(obj.get("offerId")),
        title=text(a.get("title")),
        link=opt_text(a.get("link")),
        approved=any(d.status == "approved" for d in destinations),
        destinations=destinations,
        issues=_issues(status),
        expires=opt_text(status.get("googleExpirationDate")),
        provider_data=compact(created=status.get("creationDate"), updated=status.get("lastUpdateDate")),
    )


def _updated(obj: dict[str, Any]):
    return opt_time((obj.get("productStatus") or {}).get("lastUpdateDate"))


def upsert_product(out: EventBuilder, obj: dict[str, Any]) -> None:
    out.upsert("product", obj["id"], _updated(obj), product(obj, text(out.ctx.config.get("currency"))))


def upsert_status(out: EventBuilder, obj: dict[str, Any]) -> None:
    out.upsert("product_status", obj["id"], _updated(obj), product_status(obj))


MAPPERS = {"product": upsert_product, "product_status": upsert_status}
