"""HMAC-SHA256 webhook signatures, shared by the provider modules.

Every scheme here is "encode(HMAC-SHA256(key, message)) equals one of the signatures the request carries" (SHA-1
for Trello), with several keys allowed (secret rotation: any match passes). Comparison is constant-time. Error
messages go to logs: they name the header and the reason, never a secret and never the expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Sequence

from connectors.base import SignatureError

Encoder = Callable[[bytes], str]


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def hexdigest(digest: bytes) -> str:
    return digest.hex()


def utf8_keys(secrets: Sequence[str]) -> list[bytes]:
    """Secrets used as keys exactly as the provider shows them (WooCommerce, Shopify, Stripe, Slack)."""
    keys = [s.encode() for s in secrets if s]
    if not keys:
        raise SignatureError("no webhook secret is configured for this connector")
    return keys


def verify_hmac(
    keys: Iterable[bytes], message: bytes, signatures: Sequence[str], encode: Encoder, what: str, digest: str = "sha256"
) -> None:
    """Pass when encode(HMAC-<digest>(key, message)) equals one of `signatures` for one of `keys` (SHA-256 unless
    the provider's scheme names another: Trello's is SHA-1)."""
    if not signatures:
        raise SignatureError(f"{what}: no signature")
    given = [s.strip().encode() for s in signatures]
    for key in keys:
        expected = encode(hmac.new(key, message, digest).digest()).encode()
        # compare against every candidate: the position of a match says nothing about the expected value
        if any([hmac.compare_digest(expected, candidate) for candidate in given]):  # noqa: C419 - a list: no short cut
            return
    raise SignatureError(f"{what}: none of the {len(given)} signature(s) matches a configured secret")


def check_timestamp(value: str | None, now_s: float, tolerance_s: float | None, what: str) -> int:
    """The signed unix timestamp, refused when it is more than `tolerance_s` from now (None: no limit)."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 12):
        raise SignatureError(f"{what}: missing or not a unix timestamp")
    timestamp = int(value)
    age_s = now_s - timestamp
    if tolerance_s is not None and abs(age_s) > tolerance_s:
        when = f"{age_s:.0f} s old" if age_s >= 0 else f"{-age_s:.0f} s in the future"
        raise SignatureError(f"{what}: {timestamp} is {when}, beyond the {tolerance_s:g} s tolerance")
    return timestamp


def header(headers, name: str) -> str | None:
    """A header by its lower-case name (the request's mapping is case-insensitive or has lower-case keys)."""
    value = headers.get(name)
    return value if value else None


def b64_secret_keys(secrets: Sequence[str], prefix: str) -> list[bytes]:
    """Secrets serialized as base64 behind a prefix (Standard Webhooks' `whsec_...`); the prefix is optional."""
    keys = []
    for secret in secrets:
        raw = secret[len(prefix) :] if secret.startswith(prefix) else secret
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue  # a malformed secret cannot match; another one may
        if key:
            keys.append(key)
    if not keys:
        raise SignatureError(f"no usable webhook secret is configured (expected base64, optionally {prefix}...)")
    return keys


def verify_body_b64(headers, body: bytes, secrets: Sequence[str], name: str, label: str) -> None:
    """base64(HMAC-SHA256(secret, raw body)) in header `name`: WooCommerce's and Shopify's scheme."""
    signature = header(headers, name)
    verify_hmac(utf8_keys(secrets), body, [signature] if signature else [], b64, label)


STANDARD_WEBHOOKS_PREFIX = "whsec_"


def new_standard_webhooks_secret() -> str:
    """A Standard Webhooks signing secret: 32 random bytes (the specification asks for 24 to 64), base64 behind
    `whsec_`."""
    return STANDARD_WEBHOOKS_PREFIX + b64(secrets.token_bytes(32))


def standard_webhooks_signature(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header we send: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` for each
    secret, space-separated (during a rotation's overlap the old secret signs too; a receiver accepts either)."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    keys = b64_secret_keys(secrets_, STANDARD_WEBHOOKS_PREFIX)
    return " ".join("v1," + b64(hmac.new(key, message, hashlib.sha256).digest()) for key in keys)


def verify_token(given: str | None, tokens: Sequence[str], what: str) -> None:
    """Pass when `given` equals one of `tokens` (a shared secret sent as is: Telegram's
    X-Telegram-Bot-Api-Secret-Token, Meta's hub.verify_token), compared in constant time against every one."""
    if not given:
        raise SignatureError(f"{what}: none given")
    candidate = given.encode()
    expected = [t.encode() for t in tokens if t]
    if not expected:
        raise SignatureError(f"{what}: no secret is configured for this connector")
    if not any([hmac.compare_digest(candidate, token) for token in expected]):  # noqa: C419 - no short cut
        raise SignatureError(f"{what}: matches no configured secret")
