"""Zapier: here BizOSaaS is the source. Zapier's REST hooks subscribe a target URL to a tenant's event types through
the platform's own outbound webhooks (`POST /v1/hooks`, `DELETE /v1/hooks/{id}`, `GET /v1/hooks/sample` for a
trigger's sample data; provider.toml's [rest_hooks] names them) with a tenant API key. Zapier sends nothing to a
connector's webhook URL, so PROVIDER refuses every delivery. PROVIDER is what the registry finds."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks(
    "zapier", "Zapier subscribes to BizOSaaS events through POST /v1/hooks (REST hooks) and sends nothing here"
)

__all__ = ["PROVIDER"]
