"""A workflow's history as text a test can search for secrets: every payload decoded.

`WorkflowHistory.to_json()` keeps payloads base64-encoded, so `secret not in history.to_json()` holds even when a
secret is in an activity's input: a check that cannot fail. Here every payload's `data` is decoded first."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from temporalio.client import Client


async def history_text(client: Client, workflow_id: str) -> str:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found: list[str] = []
    _walk(json.loads(history.to_json()), found)
    return "\n".join(found)


def _walk(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                found.append(_decoded(value))
            else:
                _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)
    elif isinstance(node, str):
        found.append(node)


def _decoded(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return data
