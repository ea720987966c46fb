"""Shopify's hooks into the OAuth2 connect routes (gateway/routes_oauth.py): every shop has its own authorize and
token URLs (shop.py fills them after checking the shop against Shopify's pattern), and its callback is signed
(`hmac`) and names the shop, both checked before the code is exchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.providers.shopify.shop import ShopRefused, oauth_endpoints, verify_callback

REFUSED = ShopRefused  # what the hooks raise for a shop or a callback that is not the connector's


def endpoints(config: Mapping[str, Any], allow_private: bool = False) -> tuple[str, str]:
    """(authorize URL, token URL) of the connector's shop."""
    return oauth_endpoints(config, allow_private)


def check_callback(
    query: Mapping[str, str], secrets: Mapping[str, Any], config: Mapping[str, Any], allow_private: bool = False
) -> None:
    verify_callback(query, str(secrets.get("client_secret") or ""), config, allow_private)
