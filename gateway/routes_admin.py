"""Operator routes (/v1/admin/*): stream inspection, replay and dead letters, across tenants. Same semantics as
`bizosaas streams`, `bizosaas replay` and `bizosaas dead-letters`."""

from __future__ import annotations

import msgspec
from aiohttp import web

from gateway.routing import Routes, json_response
from gateway.state import CONFIG, REDIS
from producers.deliveries import DELIVERIES_STREAM
from producers.inspect import overview, stream_info

routes = Routes("admin")


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


def _view(info) -> StreamView:
    groups = [GroupView(g.name, g.lag, g.pending, g.consumers, g.last_delivered_id) for g in info.groups]
    return StreamView(info.stream, info.length, info.first_id, info.last_id, groups)


@routes.route("GET", "/v1/admin/streams", permission="operator",
              summary="Every stream: length, first/last id, groups with lag and pending; dead letters per group",
              response=StreamsOverview)
async def list_streams(request: web.Request) -> web.Response:
    redis = request.app[REDIS]
    infos, dead = await overview(redis, request.app[CONFIG].partitions)
    infos.append(await stream_info(redis, DELIVERIES_STREAM))
    return json_response(StreamsOverview(streams=[_view(i) for i in infos], dead_letters=dead))
