"""WordPress: the REST API v2 (rest.py: application passwords, errors; api.py: posts, pages, comments and users a
sync reads, the create_draft_post action), mapping.py (REST objects -> entities) and no webhooks (core sends none;
webhook.py refuses every delivery). PROVIDER is what the registry finds."""

from connectors.providers.wordpress.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]
