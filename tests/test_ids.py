"""Ids are part of stored data: a redelivered webhook must derive the ids its first delivery did, and a projection
row keeps its opaque id across rebuilds, so the encoding may never change. The vectors below were computed with the
first implementation (a divmod per character)."""

from __future__ import annotations

import random

from events.ids import _ALPHABET, _encode, derived_id, new_id, opaque_id


def test_derived_and_opaque_ids_are_what_they_always_were():
    assert derived_id("con_1:dlv-42:0", 1_700_000_000_000) == "01HF7YAT007RKBWQFPB05Y8XCH"
    assert opaque_id("rec", "t1", "order", "1001") == "rec_g0cza2psy72a6qkqn8esp5kt"
    assert _encode(2**130 - 1, 26) == "Z" * 26
    assert _encode(12345, 7) == "0000C1S"


def test_encode_matches_base32_digit_by_digit():
    rng = random.Random(7)
    for length in (1, 2, 7, 10, 16, 24, 26):
        for _ in range(500):
            value = rng.getrandbits(140)
            digits, rest = [], value
            for _ in range(length):
                rest, digit = divmod(rest, 32)
                digits.append(_ALPHABET[digit])
            assert _encode(value, length) == "".join(reversed(digits))


def test_new_ids_sort_by_time():
    assert new_id(1_000) < new_id(2_000) < new_id(1_700_000_000_000)
    assert len(new_id()) == 26
