"""The AsyncAPI 3.0 document of the streams, built from the msgspec schemas of the catalog.

Built directly rather than through FastStream's generator (docs/decisions.md, "AsyncAPI from msgspec"), then checked
with FastStream's own AsyncAPI 3.0 models, the ones `faststream docs serve docs/events/asyncapi.json` loads, so the
document stays viewable with FastStream's tooling.

A stream entry is a Redis field map: the message payload is the msgspec JSON held in field `e`, and the message
headers are the entry's other fields (origin of a replayed copy, error of a dead letter).
"""

from __future__ import annotations

from typing import Any

from consumers.deadletter import DEAD_FIELDS
from events.catalog import catalog_entries, components
from events.codec import EVENT_FIELD
from events.streams import COMMANDS_STREAM, DEFAULT_PARTITIONS, ORIGIN_ID_FIELD, ORIGIN_STREAM_FIELD

DOCUMENT_VERSION = "1.0.0"  # of the streams contract; each message type carries its own version in its tag

_ENTRY = (
    f"A stream entry is a Redis field map; field `{EVENT_FIELD.decode()}` holds the payload as msgspec JSON. "
    "Readers ignore unknown fields, inside the payload and in the entry."
)
_BRACES = "The braces are part of the key (a Redis Cluster hash tag), so the parameter's value includes them."
_ORIGIN_HEADERS = {
    ORIGIN_STREAM_FIELD.decode(): {"type": "string", "description": "the partition stream the event was first on"},
    ORIGIN_ID_FIELD.decode(): {
        "type": "string",
        "description": "its entry id there (the position the group's ordering rule compares)",
    },
}
_DEAD_HEADERS = {
    "group": "the consumer group that gave up",
    "stream": "the stream the entry was read from",
    "entry_id": "its entry id there",
    "error": "the last handler error (at most 4000 characters)",
    "deliveries": "how many times it was delivered (decimal)",
    "dead_at_ms": "when it was dead-lettered (Unix ms)",
}


def asyncapi_document() -> dict[str, Any]:
    names, schemas = components()
    types = catalog_entries()
    events = [p for p in types if p.kind == "event"]
    commands = [p for p in types if p.kind == "command"]
    messages = {p.tag: _type_message(p, names[p.tag]) for p in types}
    any_event = {"anyOf": [_schema_ref(names[p.tag]) for p in events]}
    any_message = {"anyOf": [_schema_ref(names[p.tag]) for p in types]}
    messages["replayed"] = {
        "name": "replayed",
        "title": "A replayed event",
        "summary": "A copy of an event for one group; the group's ordering rule uses its origin position.",
        "contentType": "application/json",
        "payload": any_event,
        "headers": {"type": "object", "properties": _ORIGIN_HEADERS, "required": sorted(_ORIGIN_HEADERS)},
    }
    messages["deadLetter"] = {
        "name": "deadLetter",
        "title": "A dead letter",
        "summary": "An entry a group gave up on, copied whole with the error; redrive moves it to the replay stream.",
        "description": "The payload is the original entry's `e`: an event (or, for the command runner, a command); "
        "an entry dead-lettered because it could not be decoded keeps whatever bytes it had.",
        "contentType": "application/json",
        "payload": any_message,
        "headers": {
            "type": "object",
            "properties": {
                **{
                    name.decode(): {"type": "string", "description": _DEAD_HEADERS.get(name.decode(), "")}
                    for name in DEAD_FIELDS
                },
                **_ORIGIN_HEADERS,
            },
            "required": [name.decode() for name in DEAD_FIELDS],
        },
    }
    channels = {
        "events": _channel(
            "bz:events:{partition}",
            "The event log, one stream per partition",
            f"Partition p = crc32(tenant_id as UTF-8) mod N (N = BIZOSAAS_PARTITIONS, default {DEFAULT_PARTITIONS})"
            ", so one tenant's events stay in order. Legacy types are still in the log and are upcast on read. "
            + _ENTRY,
            [p.tag for p in events],
            partition=_parameter(
                "The partition, in braces: `{3}` gives the key `bz:events:{3}`.",
                [f"{{{p}}}" for p in range(DEFAULT_PARTITIONS)],
            ),
        ),
        "commands": _channel(
            COMMANDS_STREAM,
            "Commands",
            "Written by the gateway (answered 202), carried out by the command runner group. " + _ENTRY,
            [p.tag for p in commands],
        ),
        "replay": _channel(
            "bz:replay:{group}",
            "Replay stream of one consumer group",
            "Entries re-delivered to that group only (replay of a range, dead-letter redrive). " + _ENTRY,
            ["replayed"],
            group=_group_parameter(),
        ),
        "deadLetters": _channel(
            "bz:dead:{group}",
            "Dead letters of one consumer group",
            "Never trimmed automatically: a redrive or an explicit discard ends an entry. " + _ENTRY,
            ["deadLetter"],
            group=_group_parameter(),
        ),
    }
    operations = {
        "publishEvent": _operation(
            "send",
            "events",
            [p.tag for p in events if not p.legacy],
            "Producers (webhook ingestion, connector sync) append events; legacy types are never written any more.",
        ),
        "consumeEvents": _operation(
            "receive",
            "events",
            [p.tag for p in events],
            "Each consumer group reads every partition (XREADGROUP), at least once.",
        ),
        "sendCommand": _operation("send", "commands", [p.tag for p in commands], "The gateway writes commands."),
        "runCommands": _operation("receive", "commands", [p.tag for p in commands], "The command runner group."),
        "replayToGroup": _operation("send", "replay", ["replayed"], "`bizosaas replay` and dead-letter redrive."),
        "consumeReplay": _operation("receive", "replay", ["replayed"], "The group named in the key, only."),
        "deadLetter": _operation(
            "send",
            "deadLetters",
            ["deadLetter"],
            "After max deliveries (BIZOSAAS_MAX_DELIVERIES) the runtime copies the entry here, then acknowledges it.",
        ),
        "inspectDeadLetters": _operation(
            "receive", "deadLetters", ["deadLetter"], "Operators list, redrive or discard (XRANGE; no consumer group)."
        ),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "BizOSaaS event streams",
            "version": DOCUMENT_VERSION,
            "description": "Normalized, versioned events and commands on Redis Streams. Generated by "
            "`bizosaas schemas` from the msgspec Structs in events/; one JSON Schema per type lies "
            "in docs/events/schemas/. Delivery is at least once; every effect is idempotent.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:6379",
                "pathname": "/0",
                "protocol": "redis",
                "description": "The development default; REDIS_URL names the real server.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def check_with_faststream(document: dict[str, Any]) -> None:
    """Raise pydantic.ValidationError when FastStream's AsyncAPI 3.0 models reject the document."""
    from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema

    ApplicationSchema.model_validate(document)


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _type_message(p: Any, name: str) -> dict[str, Any]:
    doc = (p.struct.__doc__ or "").strip()
    message: dict[str, Any] = {
        "name": p.tag,
        "title": name,
        "contentType": "application/json",
        "payload": _schema_ref(name),
    }
    if p.legacy:
        message["summary"] = f"Legacy: still in the log, upcast to {p.upcast_to} on read; no longer written."
        message["tags"] = [{"name": "legacy"}]
    elif doc and not doc.startswith(name + "("):  # msgspec's generated signature is not a description
        message["summary"] = doc.splitlines()[0]
    return message


def _channel(address: str, title: str, description: str, messages: list[str], **parameters: Any) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": address,
        "title": title,
        "description": description,
        "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages},
    }
    if parameters:
        channel["parameters"] = parameters
    return channel


def _parameter(description: str, examples: list[str]) -> dict[str, Any]:
    return {"description": f"{description} {_BRACES}", "examples": examples}


def _group_parameter() -> dict[str, Any]:
    return _parameter(
        "The consumer group, in braces: `{projector}` gives `bz:dead:{projector}`.", ["{projector}", "{indexer}"]
    )


def _operation(action: str, channel: str, messages: list[str], description: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "description": description,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
    }
