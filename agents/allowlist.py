"""The actions an agent may issue without a person's approval, when the tenant set `act_without_approval`: none moves
money, and each has caps on its input (tighter than provider.toml's schema). Everything else (a refund, a usage
charge, a stock change ...) waits for approval whatever the setting. Standard library only: the workflow reads it.

Inbound messages (WhatsApp, Telegram, email) reach agents and may carry instructions: this list is what bounds the
damage a prompt injection can do on its own."""

from __future__ import annotations

from typing import Any

# action -> {input field: the most characters (a string) or items (a list) it may hold}
ALLOW_LIST: dict[str, dict[str, int]] = {
    "fluentcrm.add_tag": {"tag": 64},
    "shopify.update_order_tags": {"tags": 10},
    "zoho-crm.update_lead_status": {"status": 60},
}


def allowed_without_approval(action: dict[str, Any]) -> bool:
    """True when the proposed action is on the list and its input within the caps."""
    caps = ALLOW_LIST.get(action.get("action", ""))
    values = action.get("input")
    if caps is None or not isinstance(values, dict):
        return False
    for name, limit in caps.items():
        value = values.get(name)
        if isinstance(value, list) and not all(isinstance(v, str) and len(v) <= 100 for v in value):
            return False
        if not isinstance(value, str | list) or len(value) > limit:
            return False
    return True
