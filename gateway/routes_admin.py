"""Operator routes (/v1/admin/*): stream inspection, replay and dead letters, across tenants. Same semantics as
`bizosaas streams`, `bizosaas replay` and `bizosaas dead-letters` (the same producers functions underneath)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from events.codec import EVENT_FIELD, EventDecodeError, decode_command
from events.deliveries import decode_record
from events.ranges import RangeFilter, position_from
from events.streams import COMMANDS_STREAM, DELIVERIES_STREAM, all_event_streams, parse_id, replay_stream
from gateway.problems import ProblemError
from gateway.routing import Routes, ShortText, Timestamp, json_response, read_json, read_query
from gateway.state import ARCHIVE, CONFIG, REDIS
from producers.deadletters import discard, list_dead, redrive
from producers.inspect import decoded, overview, scan_range
from producers.replay import UnknownGroup, replay

routes = Routes("admin")

GroupName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
_GROUP_STREAM = re.compile(r"^bz:(?:replay|dead):\{[a-z0-9][a-z0-9_-]{0,63}\}$")


class GroupView(msgspec.Struct):
    name: str
    lag: int | None  # None when Redis cannot tell (after deletions in the stream)
    pending: int
    consumers: int
    last_delivered_id: str


class StreamView(msgspec.Struct):
    stream: str
    length: int
    first_id: str | None
    last_id: str | None
    groups: list[GroupView]


class StreamsOverview(msgspec.Struct):
    streams: list[StreamView]
    dead_letters: dict[str, int]  # group -> entries in its dead-letter stream


class RangeQuery(msgspec.Struct):
    # a stream id (1700000000000-0) or an RFC 3339 time; '-' and '+' are the ends
    start: Annotated[str, Meta(max_length=64)] = "-"
    end: Annotated[str, Meta(max_length=64)] = "+"
    tenant: ShortText | None = None
    type: ShortText | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class StreamEntry(msgspec.Struct):
    id: str  # the entry id in the stream
    event: dict[str, Any]  # decoded (or the decoding error and the first raw bytes)


class EntryList(msgspec.Struct):
    items: list[StreamEntry]
    next: str | None  # pass as `start` for the next page


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    group: GroupName
    start: Annotated[str, Meta(max_length=64)]
    end: Annotated[str, Meta(max_length=64)] = "+"
    tenant: ShortText | None = None
    types: list[str] = []


class ReplayResult(msgspec.Struct):
    group: str
    stream: str
    queued: int


class DeadLetterView(msgspec.Struct):
    id: str
    stream: str  # where it was read when the group gave up
    entry_id: str
    error: str
    deliveries: int
    dead_at: Timestamp
    event: dict[str, Any]


class DeadLetterList(msgspec.Struct):
    items: list[DeadLetterView]
    next: str | None


class DeadLetterQuery(msgspec.Struct):
    start: Annotated[str, Meta(pattern=r"^(-|\d{1,19}(-\d{1,19})?)$")] = "-"  # a dead-letter id, or '-'
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class DeadLetterAction(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["redrive", "discard"] = "redrive"
    ids: list[str] | None = None  # redrive: all when omitted; discard: required


class DeadLetterResult(msgspec.Struct):
    action: str
    count: int


def _view(info) -> StreamView:
    groups = [GroupView(g.name, g.lag, g.pending, g.consumers, g.last_delivered_id) for g in info.groups]
    return StreamView(info.stream, info.length, info.first_id, info.last_id, groups)


@routes.route(
    "GET",
    "/v1/admin/streams",
    permission="operator",
    summary="Every stream: length, first/last id, groups with lag and pending; dead letters per group",
    response=StreamsOverview,
)
async def list_streams(request: web.Request) -> web.Response:
    return json_response(await streams_overview(request.app))


async def streams_overview(app: web.Application) -> StreamsOverview:
    """What `bizosaas streams` prints (the JSON route and the operator console)."""
    infos, dead = await overview(app[REDIS], app[CONFIG].partitions)
    return StreamsOverview(streams=[_view(i) for i in infos], dead_letters=dead)


def _decoder(stream: str, partitions: int):
    if stream in all_event_streams(partitions) or _GROUP_STREAM.match(stream):
        return decoded
    if stream == COMMANDS_STREAM:
        return lambda fields: _builtins(decode_command, fields)
    if stream == DELIVERIES_STREAM:  # the record without its body (a payload is shown by GET /v1/deliveries/{id})
        return lambda fields: {k: v for k, v in _builtins(decode_record, fields).items() if k != "body"}
    raise ProblemError("not-found", f"no platform stream {stream!r}")


def _builtins(decode, fields: dict) -> dict:
    raw = fields.get(EVENT_FIELD, b"")
    try:
        return msgspec.to_builtins(decode(raw), builtin_types=())
    except EventDecodeError as exc:
        return {"error": str(exc), "raw": raw[:2000].decode(errors="replace")}


def _range(start: str, end: str) -> tuple[tuple[int, int], tuple[int, int]]:
    try:
        bounds = position_from(start), position_from(end, end=True)
    except ValueError as exc:
        raise ProblemError("validation", str(exc)) from None
    if any(part >= 2**64 or part < 0 for bound in bounds for part in bound):
        raise ProblemError("validation", "a stream id is two unsigned 64-bit numbers")
    return bounds


@routes.route(
    "GET",
    "/v1/admin/streams/{stream:[^/]+}/events",
    permission="operator",
    summary="Entries of one stream, decoded: a range by id or time, filtered by tenant and type",
    query=RangeQuery,
    response=EntryList,
)
async def stream_events(request: web.Request) -> web.Response:
    query = read_query(request, RangeQuery)
    return json_response(await stream_range(request.app, request.match_info["stream"], query))


async def stream_range(app: web.Application, stream: str, query: RangeQuery) -> EntryList:
    """A page of one stream's entries, decoded, within the range and filters (the JSON route and the console)."""
    decode = _decoder(stream, app[CONFIG].partitions)
    start, end = _range(query.start, query.end)
    flt = RangeFilter(start, end, query.tenant, frozenset([query.type] if query.type else []))
    if stream == DELIVERIES_STREAM:  # msgpack records have no event head to filter on
        flt = RangeFilter(start, end)
    items: list[StreamEntry] = []
    next_start = None
    async for entry_id, fields in scan_range(app[REDIS], stream, flt, page=min(query.limit * 2, 1000)):
        if len(items) == query.limit:
            ms, seq = parse_id(items[-1].id)
            next_start = f"{ms}-{seq + 1}"
            break
        items.append(StreamEntry(id=entry_id, event=decode(fields)))
    return EntryList(items=items, next=next_start)


@routes.route(
    "POST",
    "/v1/admin/replay",
    permission="operator",
    summary="Re-deliver a range of the event log (Redis, then the Postgres archive) to one group",
    body=ReplayRequest,
    response=ReplayResult,
)
async def post_replay(request: web.Request) -> web.Response:
    return json_response(await replay_range(request.app, await read_json(request, ReplayRequest)))


async def replay_range(app: web.Application, body: ReplayRequest) -> ReplayResult:
    """Queue a range for one group (the JSON route and the console; `bizosaas replay` calls producers' replay)."""
    start, end = _range(body.start, body.end)
    flt = RangeFilter(start, end, body.tenant, frozenset(body.types))
    archive = await app[ARCHIVE].reader()
    try:
        queued = await replay(app[REDIS], body.group, flt, app[CONFIG].partitions, archive)
    except UnknownGroup as exc:
        raise ProblemError("bad-request", str(exc)) from None
    return ReplayResult(group=body.group, stream=replay_stream(body.group), queued=queued)


def _group(request: web.Request) -> str:
    return group_named(request.match_info["group"])


def group_named(group: str) -> str:
    """A consumer group's name as streams spell them, or 404."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", group):
        raise ProblemError("not-found", "no such group")
    return group


@routes.route(
    "GET",
    "/v1/admin/dead-letters/{group}",
    permission="operator",
    summary="A group's dead letters with their errors, oldest first",
    query=DeadLetterQuery,
    response=DeadLetterList,
)
async def get_dead_letters(request: web.Request) -> web.Response:
    return json_response(await dead_letter_page(request.app, _group(request), read_query(request, DeadLetterQuery)))


async def dead_letter_page(app: web.Application, group: str, query: DeadLetterQuery) -> DeadLetterList:
    """A page of a group's dead letters (the JSON route and the console)."""
    letters = await list_dead(app[REDIS], group, start=query.start, count=query.limit + 1)
    items = [
        DeadLetterView(
            id=d.id,
            stream=d.stream,
            entry_id=d.entry_id,
            error=d.error,
            deliveries=d.deliveries,
            dead_at=datetime.fromtimestamp(d.dead_at_ms / 1000, UTC),
            event=decoded(d.fields),
        )
        for d in letters[: query.limit]
    ]
    next_start = None
    if len(letters) > query.limit:
        next_start = letters[query.limit].id
    return DeadLetterList(items=items, next=next_start)


@routes.route(
    "POST",
    "/v1/admin/dead-letters/{group}",
    permission="operator",
    summary="Redrive a group's dead letters (all, or the given ids) through its replay stream, or discard",
    body=DeadLetterAction,
    response=DeadLetterResult,
)
async def post_dead_letters(request: web.Request) -> web.Response:
    body = await read_json(request, DeadLetterAction)
    return json_response(await act_on_dead_letters(request.app, _group(request), body))


async def act_on_dead_letters(app: web.Application, group: str, body: DeadLetterAction) -> DeadLetterResult:
    """Redrive (all, or some) or discard (some) of a group's dead letters (the JSON route and the console)."""
    redis = app[REDIS]
    if body.action == "redrive":
        count = await redrive(redis, group, body.ids)
    elif not body.ids:
        raise ProblemError("validation", "discard needs the ids of the dead letters to drop")
    else:
        count = await discard(redis, group, body.ids)
    return DeadLetterResult(action=body.action, count=count)
