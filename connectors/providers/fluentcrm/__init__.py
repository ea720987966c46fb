"""FluentCRM (a WordPress plugin): its REST API (api.py: contacts a sync reads, the add_tag action; the WordPress
REST client pieces come from connectors/providers/wordpress/rest.py), mapping.py (contacts -> entities) and no
webhooks (no documented signature; webhook.py refuses every delivery). PROVIDER is what the registry finds."""

from connectors.providers.fluentcrm.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]
