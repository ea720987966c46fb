"""Where a Shopify connector's shop is, checked before anything (an access token, a client secret, an authorization
code) is sent there, and the OAuth2 pieces that depend on it.

The `shop` config field is the shop's URL, `https://<name>.myshopify.com`. Its host must match Shopify's documented
pattern for shop domains, `^[a-z0-9][a-z0-9-]*\\.myshopify\\.com$` (shopify.dev, "Authorization code grant": "verify
that the shop parameter is a valid shop hostname"), with https and no path; a custom domain (shop.example.com) is
refused, since the Admin API and OAuth live on the myshopify.com domain only. With allow_private (development and
tests, as connectors/oauth.py does for Zoho's token hosts) a loopback origin is admitted too.

Shopify's OAuth callback carries `hmac`: hex HMAC-SHA256, keyed with the app's client secret, of the other query
parameters sorted by name and joined as `k=v&k=v` (shopify.dev, "Verify a request": remove `hmac`, sort, join, hash).
`verify_callback` checks it and that the callback's `shop` is the connector's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

SHOP_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
AUTHORIZE_PATH = "/admin/oauth/authorize"
TOKEN_PATH = "/admin/oauth/access_token"


class ShopRefused(ValueError):
    """The shop is not a Shopify shop domain: nothing is sent there."""


def shop_origin(value: Any, allow_private: bool = False) -> str:
    """`https://<name>.myshopify.com` for a valid shop (a bare shop domain is accepted too), or with allow_private a
    loopback origin (`http://127.0.0.1:<port>`); raises ShopRefused otherwise."""
    raw = str(value or "").strip().rstrip("/")
    if raw and "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        host, port = (parts.hostname or ""), parts.port
    except ValueError:
        raise ShopRefused(f"shop {value!r} is not a URL") from None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ShopRefused(f"shop {value!r}: give the shop's address only, https://<name>.myshopify.com")
    if parts.scheme == "https" and SHOP_PATTERN.match(host) and port is None and raw.lower() == raw:
        return f"https://{host}"
    if allow_private and parts.scheme in ("http", "https") and host in LOOPBACK_HOSTS:
        return f"{parts.scheme}://{parts.netloc}"
    raise ShopRefused(
        f"shop {value!r} is not a Shopify shop address: it must be https://<name>.myshopify.com (lower-case letters, "
        "digits and hyphens; a custom domain does not serve the Admin API)"
    )


def oauth_endpoints(config: Mapping[str, Any], allow_private: bool = False) -> tuple[str, str]:
    """(authorize URL, token URL) of the connector's shop."""
    origin = shop_origin(config.get("shop"), allow_private)
    return origin + AUTHORIZE_PATH, origin + TOKEN_PATH


def callback_hmac(query: Mapping[str, str], client_secret: str) -> str:
    """The hex HMAC-SHA256 Shopify puts in the callback's `hmac`: over the other parameters, sorted, `k=v&...`."""
    message = "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k not in ("hmac", "signature"))
    return hmac.new(client_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_callback(
    query: Mapping[str, str], client_secret: str, config: Mapping[str, Any], allow_private: bool = False
) -> None:
    """Raise ShopRefused unless the callback is signed with the client secret and names the connector's shop."""
    given = str(query.get("hmac") or "")
    if not client_secret or not given:
        raise ShopRefused("the callback carries no hmac (or the connector has no client secret)")
    expected = callback_hmac(query, client_secret)
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise ShopRefused("the callback's hmac does not match the app's client secret")
    origin = shop_origin(config.get("shop"), allow_private)
    named = str(query.get("shop") or "")
    if named and urlsplit(origin).netloc != named.strip().lower():
        raise ShopRefused(f"the callback names shop {named!r}, not the connector's")
