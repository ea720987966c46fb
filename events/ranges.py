"""A range of a stream, for operators: bounds given by entry id or time, narrowed by tenant and event type.

One definition for everything that reads a range: stream inspection and replay (producers/inspect.py,
producers/replay.py), the archive read past Redis retention (db/archive.py), the operator routes (gateway) and the
CLI (`bizosaas streams`, `bizosaas replay`). Pure: the Redis and SQL reads that apply it live with their clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from events import codec


def position_from(value: str, *, end: bool = False) -> tuple[int, int]:
    """A range bound given as a stream id ('1700000000000-0' or '1700000000000'), an RFC 3339 time, '-' or '+'."""
    if value in ("-", ""):
        return (0, 0)
    if value == "+":
        return (2**63 - 1, 2**63 - 1)
    if value.replace("-", "").isdigit() and value.count("-") <= 1:
        ms, _, seq = value.partition("-")
        return (int(ms), int(seq) if seq else (2**63 - 1 if end else 0))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither a stream id (1700000000000-0) nor an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset; write it as 2026-01-31T12:00:00Z")
    ms = int(moment.timestamp() * 1000)
    return (ms, 2**63 - 1) if end else (ms, 0)


@dataclass(frozen=True)
class RangeFilter:
    start: tuple[int, int] = (0, 0)
    end: tuple[int, int] = (2**63 - 1, 2**63 - 1)
    tenant: str | None = None
    types: frozenset[str] = frozenset()

    def admits(self, raw: bytes) -> bool:
        if self.tenant is None and not self.types:
            return True
        head = codec.head(raw)
        if self.tenant is not None and head.tenant_id != self.tenant:
            return False
        # a filter on a type also admits its older versions, which readers upcast to it
        return not self.types or head.type in self.types or codec.CURRENT_TYPE.get(head.type) in self.types
