"""Slack: Events API deliveries (JSON `event_callback` envelopes, the `url_verification` check) and form-encoded
slash commands and interactivity payloads (`payload=<json>`), all signed with
`X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret, "v0:<X-Slack-Request-Timestamp>:<body>"))`.

Messages are identified by channel and `ts` (Slack's own message key). Channel events (created, renamed,
(un)archived) ask the conversations sync to read the channel; a deleted channel is a deleted conversation. A slash
command becomes a message too: it is text a user sent in a conversation, addressed to the app. Interactivity
payloads (button clicks, modal submissions) carry UI interactions, not entity state: they stay unmapped. Slack's
verification `token` and a command's `response_url` (a capability to post into the channel) are never copied into
events.

Delivery id: unique per payload. An Events API envelope's `event_id` names one event and is kept on Slack's
retries (which add X-Slack-Retry-Num); slash commands and interactivity payloads carry none, so they are deduplicated
on the body's hash (a resend is the same bytes). Content-Encoding: none documented. Registered by hand (the app's
Event Subscriptions / Slash Commands pages, which show the signing secret).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, WebhookRequest
from connectors.normalize import (
    EventBuilder,
    form_fields,
    json_object,
    json_object_or_none,
    opt_text,
    run_mapper,
    text,
    utc_time,
)
from connectors.providers.slack.mapping import message, message_id, slash_command
from connectors.signatures import check_timestamp, header, utf8_keys, verify_hmac
from events.types import Event

SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
FORM = "application/x-www-form-urlencoded"
SLASH_COMMAND = "slash_command"  # our topic name for a slash command (Slack's body has no type field)


def _v0(digest: bytes) -> str:
    return "v0=" + digest.hex()


def _envelope_event(envelope: dict[str, Any]) -> dict[str, Any]:
    event = envelope.get("event")
    return event if isinstance(event, dict) else {}


def _message(out: EventBuilder, envelope: dict[str, Any], request: WebhookRequest) -> None:
    event = envelope["event"]
    channel = text(event.get("channel"))
    occurred_at = utc_time(event.get("event_ts") or event["ts"])  # for an edit or a deletion: when it happened
    subtype = event.get("subtype")
    if subtype == "message_deleted":
        out.delete("message", message_id(channel, event["deleted_ts"]), occurred_at)
        return
    msg = event["message"] if subtype == "message_changed" else event
    ts = text(msg["ts"])
    entity = message(
        msg,
        channel,
        team_id=envelope.get("team_id"),
        subtype=msg.get("subtype") or subtype,
        channel_type=event.get("channel_type"),
        event_type=event.get("type"),
    )
    out.upsert("message", message_id(channel, ts), occurred_at, entity)


def _slash_command(out: EventBuilder, fields: dict[str, Any], request: WebhookRequest) -> None:
    stamp = header(request.headers, TIMESTAMP_HEADER)  # the body has no time; this one is signed
    sent_at = utc_time(int(stamp)) if stamp else None
    entity = slash_command(fields, sent_at)
    out.upsert("message", f"command:{fields['trigger_id']}", sent_at, entity)


def _channel(out: EventBuilder, envelope: dict[str, Any], request: WebhookRequest) -> None:
    """A channel created, renamed, (un)archived: the events carry part of the channel, so they ask the
    conversations sync to read it whole; a deleted channel is a deletion."""
    event = envelope["event"]
    channel = event["channel"]
    channel_id = text(channel["id"] if isinstance(channel, dict) else channel)
    if event["type"] == "channel_deleted":
        out.delete("conversation", channel_id, utc_time(envelope["event_time"]) if envelope.get("event_time") else None)
    else:
        out.notify("conversation", channel_id, "conversations", event["type"].removeprefix("channel_"))


# topic -> mapper; `message` and `app_mention` are inner event types of an event_callback envelope
TOPICS: dict[str, Callable[[EventBuilder, dict[str, Any], WebhookRequest], None]] = {
    "message": _message,
    "app_mention": _message,  # the same message as seen by the app: same key, same state
    SLASH_COMMAND: _slash_command,
    **{f"channel_{change}": _channel for change in ("created", "rename", "archive", "unarchive", "deleted")},
}


def _form_payload(fields: dict[str, str]) -> dict[str, Any] | None:
    return json_object_or_none(fields["payload"].encode()) if "payload" in fields else None


@dataclass(frozen=True)
class SlackProvider:
    tolerance_s: float | None = 300.0  # Slack: refuse requests more than five minutes old; None disables

    provider: ClassVar[str] = "slack"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json", FORM})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = True
    # the timestamp is kept: a slash command's time comes from it when the delivery is re-run
    kept_headers: ClassVar[frozenset[str]] = frozenset({TIMESTAMP_HEADER, "x-slack-retry-num", "x-slack-retry-reason"})
    topics: ClassVar[frozenset[str]] = frozenset(TOPICS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        timestamp = header(request.headers, TIMESTAMP_HEADER)
        check_timestamp(timestamp, now_s, self.tolerance_s, "X-Slack-Request-Timestamp")
        signature = header(request.headers, SIGNATURE_HEADER)
        message = b"v0:" + timestamp.strip().encode() + b":" + request.body
        verify_hmac(utf8_keys(secrets), message, [signature] if signature else [], _v0, "X-Slack-Signature")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        # event_id is stable across Slack's retries (X-Slack-Retry-Num); commands and interactions have none
        envelope = json_object_or_none(request.body) if request.content_type != FORM else None
        return opt_text(envelope.get("event_id")) if envelope else None

    def topic(self, request: WebhookRequest) -> str:
        if request.content_type == FORM:
            fields = form_fields(request.body)
            payload = _form_payload(fields)
            if payload is not None:
                return text(payload.get("type"))
            return SLASH_COMMAND if "command" in fields else ""
        envelope = json_object_or_none(request.body) or {}
        if envelope.get("type") == "event_callback":
            return text(_envelope_event(envelope).get("type"))
        return text(envelope.get("type"))

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        if request.content_type == FORM:
            return None
        envelope = json_object_or_none(request.body) or {}
        if envelope.get("type") == "url_verification" and isinstance(envelope.get("challenge"), str):
            return Handshake(body=envelope["challenge"].encode(), content_type="text/plain")
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        if topic not in TOPICS:
            raise NormalizeError(f"slack topic {topic!r} has no mapping")
        if request.content_type == FORM:
            body: dict[str, Any] = form_fields(request.body)
        else:
            body = json_object(request.body, f"slack {topic}")
            if not isinstance(body.get("event"), dict):
                raise NormalizeError(f"slack {topic}: not an event_callback envelope (no event object)")
        mapper = TOPICS[topic]
        return run_mapper(ctx, self.provider, topic, lambda out: mapper(out, body, request))
