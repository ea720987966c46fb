"""Zoho CRM records (leads, contacts, deals) -> entities: nothing yet. Sync is not built; webhooks are not
registered (provider.toml: registration = "none"), so no payload reaches a mapper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from events.entities import Entity

MODULES: dict[str, Callable[[dict[str, Any]], Entity]] = {}
