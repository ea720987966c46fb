"""Old event versions that stay readable forever, and the upcasters that turn them into the current version.

`commerce.order.upserted.v1` carried money as the provider's decimal strings ("29.35"), which lost the currency's
exponent and could not be summed exactly; v2 carries integer minor units. Events in the log keep their v1 bytes;
`codec.decode_event` upcasts them on read.
"""

from __future__ import annotations

from collections.abc import Callable

from msgspec import Struct, structs

from events.entities import Entity, Order, OrderLine
from events.money import to_minor
from events.types import Event, OrderDeleted, OrderUpserted


class OrderLineV1(Struct, frozen=True, kw_only=True, omit_defaults=True):
    external_id: str = ""
    sku: str = ""
    name: str = ""
    quantity: int = 1
    price: str = "0"  # unit price, decimal string


class OrderV1(Entity, frozen=True, kw_only=True):
    number: str = ""
    status: str = ""
    currency: str = "USD"
    total: str = "0"  # decimal string
    customer_email: str | None = None
    line_items: list[OrderLineV1] = []


class OrderUpsertedV1(Event, frozen=True, kw_only=True, tag="commerce.order.upserted.v1"):
    data: OrderV1


class OrderDeletedV1(Event, frozen=True, kw_only=True, tag="commerce.order.deleted.v1"):
    data: OrderV1 | None = None


def _order_v1_to_v2(old: OrderV1) -> Order:
    lines = [
        OrderLine(
            external_id=line.external_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            unit_price_minor=to_minor(line.price, old.currency),
            total_minor=to_minor(line.price, old.currency) * line.quantity,
        )
        for line in old.line_items
    ]
    return Order(
        number=old.number,
        status=old.status,
        currency=old.currency,
        total_minor=to_minor(old.total, old.currency),
        subtotal_minor=sum(line.total_minor for line in lines),
        customer_email=old.customer_email,
        line_items=lines,
        provider_data=old.provider_data,
    )


def _envelope(event: Event) -> dict:
    fields = structs.asdict(event)
    fields.pop("data", None)
    return fields


def upcast_order_upserted_v1(event: OrderUpsertedV1) -> OrderUpserted:
    return OrderUpserted(**_envelope(event), data=_order_v1_to_v2(event.data))


def upcast_order_deleted_v1(event: OrderDeletedV1) -> OrderDeleted:
    data = _order_v1_to_v2(event.data) if event.data is not None else None
    return OrderDeleted(**_envelope(event), data=data)


# old type -> (the next version, the function that makes it); codec follows the chain to a current type
UPCASTERS: dict[type[Event], tuple[type[Event], Callable[[Event], Event]]] = {
    OrderUpsertedV1: (OrderUpserted, upcast_order_upserted_v1),
    OrderDeletedV1: (OrderDeleted, upcast_order_deleted_v1),
}
LEGACY_EVENT_TYPES: tuple[type[Event], ...] = tuple(UPCASTERS)
