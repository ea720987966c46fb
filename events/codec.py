"""Encoding events to stream entries and back: one decoder per stream, built once, validation at this boundary.

A stream entry is a field map; the event itself is msgspec JSON under `e`. Replayed and dead-lettered copies add
fields (see `consumers`), and unknown fields inside an event are ignored so that older readers tolerate newer writers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import msgspec

from events.commands import COMMAND_TYPES, Command
from events.errors import PermanentError
from events.legacy import LEGACY_EVENT_TYPES, UPCASTERS
from events.types import EVENT_TYPES, Event

EVENT_FIELD = b"e"

_event_decoder = msgspec.json.Decoder(Union[EVENT_TYPES + LEGACY_EVENT_TYPES])  # type: ignore[valid-type]  # noqa: UP007 - built from a tuple
_command_decoder = msgspec.json.Decoder(Union[COMMAND_TYPES])  # type: ignore[valid-type]  # noqa: UP007 - built from a tuple
_encoder = msgspec.json.Encoder()


class Head(msgspec.Struct):
    """The few envelope fields inspection and replay filter on, read without decoding the entity."""

    type: Any = ""
    id: Any = ""
    tenant_id: Any = ""
    occurred_at: Any = ""


_head_decoder = msgspec.json.Decoder(Head)


class EventDecodeError(PermanentError, ValueError):
    """An entry that is not a valid event; the message names the event type, its id and the offending field."""


def encode(message: Event | Command) -> bytes:
    return _encoder.encode(message)


def entry_fields(event: Event) -> dict[bytes, bytes]:
    return {EVENT_FIELD: _encoder.encode(event)}


def head(raw: bytes) -> Head:
    try:
        return _head_decoder.decode(raw)
    except msgspec.DecodeError:
        return Head()


def _describe(raw: bytes, error: Exception) -> str:
    h = head(raw)
    what = f"event {h.type or '<no type>'} (id {h.id or '?'})"
    return f"{what}: {error}"


def upcast(event: Event) -> Event:
    while (step := UPCASTERS.get(type(event))) is not None:
        event = step[1](event)
    return event


def _current_tag(cls: type) -> str:
    while cls in UPCASTERS:
        cls = UPCASTERS[cls][0]
    return cls.__struct_config__.tag


# every type name ever written -> the name readers see it as today
CURRENT_TYPE: dict[str, str] = {
    cls.__struct_config__.tag: _current_tag(cls) for cls in EVENT_TYPES + LEGACY_EVENT_TYPES
}


def decode_event(raw: bytes) -> Event:
    """Decode one event and upcast it to the current version of its type."""
    try:
        return upcast(_event_decoder.decode(raw))
    except (msgspec.DecodeError, ValueError) as exc:  # ValidationError is a DecodeError; upcasters raise ValueError
        raise EventDecodeError(_describe(raw, exc)) from None


def decode_entry(fields: dict[bytes, bytes], decode: Callable[[bytes], Any] | None = None) -> Any:
    """The message of a stream entry: its `e` field through `decode` (decode_event unless given)."""
    raw = fields.get(EVENT_FIELD)
    if raw is None:
        names = sorted(f.decode(errors="replace") if isinstance(f, bytes) else str(f) for f in fields)
        raise EventDecodeError(f"stream entry has no {EVENT_FIELD.decode()!r} field (fields: {names})")
    return (decode or decode_event)(raw)


def decode_command(raw: bytes) -> Command:
    try:
        return _command_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        h = head(raw)
        raise EventDecodeError(f"command {h.type or '<no type>'} (id {h.id or '?'}): {exc}") from None
