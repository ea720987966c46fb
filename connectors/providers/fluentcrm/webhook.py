"""FluentCRM webhooks: none. Its outgoing webhooks document no signature scheme (which header carries the "secret
key", how a delivery is signed), so every delivery is refused; contacts arrive by sync."""

from connectors.base import NoWebhooks

WEBHOOKS = NoWebhooks("fluentcrm", "webhooks are not supported (no documented signature)")
