"""Slack's hooks into the OAuth2 connect routes (gateway/routes_oauth.py): the install page and oauth.v2.access are
the facts' (slack.com) for every connector, except where api.py's API_BASE points the Web API elsewhere (tests):
the token endpoint is then that API's `oauth.v2.access`. A callback carries nothing to check beyond the platform's
one-time state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import ProviderRefused
from connectors.oauth import api_base_endpoints
from connectors.providers.slack import api
from connectors.registry import get_facts

REFUSED = ProviderRefused


def endpoints(config: Mapping[str, Any], allow_private: bool = False) -> tuple[str, str]:
    """(authorize URL, token URL)."""
    return api_base_endpoints(get_facts("slack"), api.API_BASE, "/oauth.v2.access")
