"""Google's money: `*_micros` / `amountMicros` (int64, sent as JSON strings) are millionths of a currency unit
(Pinterest and Snapchat count money in micros too, and use these)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.normalize import minor


def micros_minor(value: Any, currency: str) -> int:
    """Micros (1,000,000 per unit of the currency) in minor units: exactly, rounding half to even."""
    if value in (None, ""):
        return 0
    return minor(Decimal(int(value)) / 1_000_000, currency)


def opt_micros_minor(value: Any, currency: str) -> int | None:
    """Micros in minor units, or None when the field is absent or empty (an unset budget or bid, not a zero)."""
    return micros_minor(value, currency) if value not in (None, "") else None
