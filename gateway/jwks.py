"""OIDC bearer JWTs (Authentik or any issuer): RS256 signatures checked against the issuer's JWKS.

The key set is cached for `cache_s` and fetched again when a token names a `kid` it does not hold (key rotation),
at most once per `min_refresh_s` so that random `kid`s cannot make us hammer the issuer. A failed fetch is not
retried before a back-off (min_refresh_s, doubling up to max_backoff_s) has passed: an issuer that is down gets
one request per back-off, not one per incoming token.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jwt

ALGORITHMS = ["RS256"]


class TokenError(Exception):
    """The token is not acceptable; the message is for logs only."""


class JwksVerifier:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        issuer: str,
        audience: str,
        cache_s: float = 3600.0,
        min_refresh_s: float = 10.0,
        leeway_s: float = 30.0,
        max_backoff_s: float = 300.0,
    ) -> None:
        if not issuer:  # without it any issuer trusted by that JWKS's keys would do
            raise ValueError(
                "BIZOSAAS_OIDC_ISSUER must be set when BIZOSAAS_OIDC_JWKS_URL is (JWTs are enabled): "
                "set it to the issuer URL your tokens carry in `iss`"
            )
        self.max_backoff_s, self._backoff_s, self._failed_until = max_backoff_s, 0.0, float("-inf")
        self.session, self.url, self.issuer, self.audience = session, url, issuer, audience
        self.cache_s, self.min_refresh_s, self.leeway_s = cache_s, min_refresh_s, leeway_s
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._miss_refreshed_at = float("-inf")  # the last refresh caused by an unknown kid
        self._lock = asyncio.Lock()

    async def verify(self, token: str, audience: str | None = None) -> dict[str, Any]:
        """The token's claims, or TokenError. `audience` replaces the configured one (an ID token's is the client)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenError(f"algorithm {header.get('alg')!r} is not accepted")
        key = await self._key(str(header.get("kid", "")))
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=(self.audience if audience is None else audience) or None,
                issuer=self.issuer or None,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"{type(exc).__name__}: {exc}") from None

    async def _key(self, kid: str) -> Any:
        now = time.monotonic()
        if kid in self._keys and now - self._fetched_at < self.cache_s:
            return self._keys[kid]
        async with self._lock:
            now = time.monotonic()
            if now < self._failed_until:
                pass  # the last fetch failed: keep what we have until the back-off has passed
            elif now - self._fetched_at >= self.cache_s:
                await self._refresh()
            elif kid not in self._keys and now - self._miss_refreshed_at >= self.min_refresh_s:
                self._miss_refreshed_at = now
                await self._refresh()
        if kid not in self._keys:
            raise TokenError(f"no key {kid!r} in the JWKS")
        return self._keys[kid]

    async def _refresh(self) -> None:
        try:
            async with self.session.get(self.url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                resp.raise_for_status()
                document = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            self._backoff_s = min(self.max_backoff_s, max(self.min_refresh_s, self._backoff_s * 2))
            self._failed_until = time.monotonic() + self._backoff_s
            if not self._keys:
                raise TokenError(f"JWKS {self.url} unavailable: {exc}") from None
            return  # keep the keys we have; try again after the back-off
        keys = {}
        for jwk in document.get("keys", []):
            if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or "kid" not in jwk:
                continue
            keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
        self._keys, self._fetched_at, self._backoff_s = keys, time.monotonic(), 0.0
