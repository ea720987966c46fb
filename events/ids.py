"""Sortable unique ids (ULID layout: 48-bit millisecond time + 80 bits of randomness, Crockford base32)."""

from __future__ import annotations

import hashlib
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# every two-character string: an id is a handful of table lookups, not a divmod per character (that loop was a
# fifth of a webhook's normalization: docs/benchmarks.md, issue 14)
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _encode(value: int, length: int) -> str:
    """The low `length` * 5 bits of `value` as `length` Crockford base32 characters, most significant first."""
    bits = length * 5
    value &= (1 << bits) - 1
    odd = length % 2  # an odd length's first character stands alone
    head = _ALPHABET[value >> (bits - 5)] if odd else ""
    return head + "".join([_PAIRS[(value >> shift) & 1023] for shift in range(bits - 10 - 5 * odd, -1, -10)])


def new_id(at_ms: int | None = None) -> str:
    """A fresh id that sorts by creation time."""
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    return _encode(ms, 10) + _encode(int.from_bytes(os.urandom(10), "big"), 16)


def first_id_at(at_ms: int) -> str:
    """The smallest id made at `at_ms`: every id made earlier sorts before it, every one made then or later not."""
    return _encode(at_ms, 10) + _ALPHABET[0] * 16


def derived_id(key: str, at_ms: int) -> str:
    """The same key always yields the same random part: a repeated delivery maps onto the events it made before."""
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=10).digest(), "big")
    return _encode(at_ms, 10) + _encode(digest, 16)


def opaque_id(prefix: str, *parts: str) -> str:
    """A stable opaque id for a natural key (a projection row keeps its id across rebuilds)."""
    digest = int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=15).digest(), "big")
    return f"{prefix}_{_encode(digest, 24).lower()}"
