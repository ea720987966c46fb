"""Route declarations: each handler is registered with its permission and its msgspec types, so that the
permission check, request decoding and the OpenAPI document all come from one place."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web
from msgspec import Meta

from gateway.body import read_body
from gateway.problems import ProblemError
from gateway.roles import ALL_PERMISSIONS
from gateway.state import CONFIG

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# an RFC 3339 time with an offset (answers are UTC); the format keyword makes the OpenAPI document say so
Timestamp = Annotated[datetime, Meta(tz=True, extra_json_schema={"format": "date-time"})]
Cursor = Annotated[str, Meta(max_length=1000)]  # a list's `next`
ShortText = Annotated[str, Meta(max_length=200)]  # an id or a name in a query parameter
T = TypeVar("T")
JSON_MAX_BYTES = 1024 * 1024  # aiohttp's client_max_size default, which bounded request.read() before


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    permission: str
    summary: str
    tag: str
    body: Any = None  # msgspec type of the JSON request body
    query: Any = None  # msgspec Struct of the query parameters
    response: Any = None  # msgspec type of the JSON response body; None: no body
    status: int = 200
    errors: tuple[int, ...] = ()  # problem statuses besides the ones every route may answer
    request_content_types: tuple[str, ...] = ()  # for raw bodies (webhooks)
    response_content_type: str = "application/json"
    same_body_statuses: tuple[int, ...] = ()  # other statuses answered with the response type, not a problem
    path_schemas: dict[str, dict] = field(default_factory=dict)  # JSON Schema of path parameters (default: string)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)(?::[^}]*)?}", self.path)

    @property
    def template(self) -> str:
        """The path without aiohttp's per-parameter patterns: the OpenAPI path and the metrics label."""
        return re.sub(r"{(\w+):[^}]*}", r"{\1}", self.path)


@dataclass
class Routes:
    tag: str
    specs: list[RouteSpec] = field(default_factory=list)

    def route(self, method: str, path: str, *, permission: str, summary: str, **options: Any):
        if permission not in ALL_PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r} for {method} {path}")

        def register(handler: Handler) -> Handler:
            spec = RouteSpec(method, path, handler, permission, summary, self.tag, **options)
            handler.spec = spec  # type: ignore[attr-defined]  # read by the auth middleware
            self.specs.append(spec)
            return handler

        return register


def spec_of(handler: Any) -> RouteSpec | None:
    return getattr(handler, "spec", None)


_encoder = msgspec.json.Encoder()


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_encoder.encode(value), status=status, content_type="application/json", headers=headers)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


async def read_json(request: web.Request, kind: type[T]) -> T:
    """Every JSON request body is decoded here: size and time bounded, gzip/deflate undone, bytes that are not
    UTF-8 answered 400, an empty body taken as `{}` (valid wherever every field is optional)."""
    raw = await read_body(request, JSON_MAX_BYTES, request.app[CONFIG].body_timeout_s)
    empty = not raw.strip()
    raw = raw if not empty else b"{}"
    try:
        value = msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        if empty:
            raise ProblemError("validation", f"this route needs a JSON body: {exc}") from None
        raise ProblemError("validation", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ProblemError("bad-request", f"the body is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec raises it, not DecodeError, for bytes that are not UTF-8
        raise ProblemError("bad-request", f"the body is not UTF-8 ({exc.reason})") from None
    # Postgres text and jsonb cannot hold NUL: refuse it here rather than fail in the database
    if b"\\u0000" in raw and _has_nul(msgspec.json.decode(raw)):
        raise ProblemError("validation", "strings may not contain NUL (\\u0000) characters")
    return value


def read_query(request: web.Request, kind: type[T]) -> T:
    try:
        return msgspec.convert(dict(request.query), kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None
