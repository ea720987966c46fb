"""Meta Ads webhooks ("Webhooks for Ad Accounts"): Meta POSTs `{"object": "ad_account", "entry": [{"id": <ad account
id>, "time", "changes": [{"field": "in_process_ad_objects" | "with_issues_ad_objects", "value": {"id": <the ad
object's id>, "level": "CAMPAIGN" | "AD_SET" | "AD", "status_name" or "error_code", "error_summary" ...}}]}]}` to the
app's Callback URL, signed with X-Hub-Signature-256; the Callback URL is checked with the hub.challenge GET. Both are
Meta's, shared with WhatsApp (connectors/providers/meta_common/hub.py).

A notification names an object and what happened to it, not its state: it is a hint. Each change becomes a
`connector.change.notified.v1` for the object's resource (campaigns, adsets, ads), and the notifications group starts
that resource's sync, which reads the object as it is now (Trello's and Zoho's notifications do the same).
Topic: the first change's field. Delivery id: none is sent (the body's hash). Registered by hand (App Dashboard >
Webhooks > Ad Account).
"""

from __future__ import annotations

from typing import Any

from connectors.base import NormalizeError
from connectors.normalize import EventBuilder, text
from connectors.providers.meta_common.hub import GraphWebhooks

FIELDS = frozenset({"in_process_ad_objects", "with_issues_ad_objects"})
LEVELS = {"CAMPAIGN": ("ad_campaign", "campaigns"), "AD_SET": ("ad_group", "adsets"), "AD": ("ad", "ads")}


def _hint(out: EventBuilder, value: dict[str, Any]) -> None:
    level = text(value.get("level")).upper()
    if level not in LEVELS:
        raise NormalizeError(f"ad object level {level!r} is not one of {sorted(LEVELS)}")
    kind, resource = LEVELS[level]
    out.notify(kind, value["id"], resource, "update")


WEBHOOKS = GraphWebhooks("meta-ads", "ad_account", dict.fromkeys(FIELDS, _hint))
