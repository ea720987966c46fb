"""Tag Manager API v2 objects -> entities: a container -> TagContainer (kind tagmanager_container, keyed by its
containerId), a tag, trigger or variable -> TagManagerItem (kinds tagmanager_tag / _trigger / _variable, keyed by
`{containerId}:{workspaceId}:{id}`: ids repeat across workspaces). Parameters (`[{"type", "key", "value" | "list" |
"map"}]`) become a dict by key. Objects carry no modification time (a `fingerprint` changes with each edit): the
sync keys each state by a hash of the object."""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, text
from events.entities_ads import TagContainer, TagManagerItem

ID_FIELD = {"tagmanager_tag": "tagId", "tagmanager_trigger": "triggerId", "tagmanager_variable": "variableId"}


def object_id(kind: str, obj: dict[str, Any]) -> str:
    if kind == "tagmanager_container":
        return text(obj["containerId"])
    return f"{text(obj['containerId'])}:{text(obj['workspaceId'])}:{text(obj[ID_FIELD[kind]])}"


def _parameters(obj: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for p in obj.get("parameter") or []:
        if isinstance(p, dict) and p.get("key"):
            found[text(p["key"])] = p.get("value", p.get("list", p.get("map")))
    return found


def container(obj: dict[str, Any]) -> TagContainer:
    return TagContainer(
        name=text(obj.get("name")),
        account_id=text(obj.get("accountId")),
        public_id=text(obj.get("publicId")),
        usage_context=[text(u) for u in obj.get("usageContext") or []],
        domains=[text(d) for d in obj.get("domainName") or []],
        provider_data={"path": text(obj.get("path")), "fingerprint": text(obj.get("fingerprint"))},
    )


def item(obj: dict[str, Any]) -> TagManagerItem:
    return TagManagerItem(
        name=text(obj.get("name")),
        type=text(obj.get("type")),
        container_external_id=text(obj.get("containerId")),
        workspace_id=text(obj.get("workspaceId")),
        account_id=text(obj.get("accountId")),
        paused=bool(obj.get("paused", False)),
        firing_trigger_ids=[text(t) for t in obj.get("firingTriggerId") or []],
        parameters=_parameters(obj),
        provider_data={"path": text(obj.get("path")), "fingerprint": text(obj.get("fingerprint"))},
    )


def _mapper(kind: str):
    build = container if kind == "tagmanager_container" else item

    def upsert(out: EventBuilder, obj: dict[str, Any]) -> None:
        out.upsert(kind, obj["id"], None, build(obj))

    return upsert


MAPPERS = {kind: _mapper(kind) for kind in ("tagmanager_container", *ID_FIELD)}
