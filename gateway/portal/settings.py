"""Which sign-ins this gateway offers, from its settings (gateway/config.py)."""

from __future__ import annotations

from gateway.config import GatewayConfig


def oidc_enabled(config: GatewayConfig) -> bool:
    return bool(
        config.oidc_authorization_url and config.oidc_token_url and config.oidc_client_id and config.oidc_jwks_url
    )
