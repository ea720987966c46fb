"""WordPress webhooks: none. WordPress core sends no webhooks (plugins such as WP Webhooks do, each its own way), so
the connector has no webhook secret and every delivery is refused; posts, pages, comments and users arrive by sync."""

from connectors.base import NoWebhooks

WEBHOOKS = NoWebhooks("wordpress", "WordPress core sends no webhooks")
