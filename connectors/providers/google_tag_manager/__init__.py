"""Google Tag Manager: OAuth2 (the shared Google client, connectors/providers/google_common/), an account's containers
and the tags, triggers and variables of one container's workspace read by the Tag Manager API v2 (api.py,
mapping.py), and the `publish_workspace` action (create_version, then publish). Tag Manager sends no webhooks.
PROVIDER is what the registry finds."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks(
    "google-tag-manager", "Google Tag Manager sends no webhooks; its containers are read on a schedule"
)

__all__ = ["PROVIDER"]
