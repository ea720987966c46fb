"""A bounded in-process cache whose entries expire, evicting the least recently used entry when full: the one
implementation behind the gateway's caches (API keys, webhook routing) and the connector secrets (credentials.py).

Clearing the whole cache when it fills (what the gateway did) lets a flood of distinct unknown keys or connector ids
wipe the entries of every genuine caller, sending each of them back to Postgres at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
MISSING = object()


class ExpiringLru(Generic[V]):
    def __init__(self, max_size: int) -> None:
        self.max_size = max(1, max_size)
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def get(self, key: Hashable) -> V | object:
        """The cached value, or MISSING when absent or expired (a cached None is a value: "known not to exist")."""
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return MISSING
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, value: V, ttl_s: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def pop(self, key: Hashable, _default: object = None) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries
