"""What the local provider servers of this package share: the failures a test queues for the next requests, the
app that logs every request it answers, and reading HTTP Basic credentials."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web


@dataclass
class TimedRequest:
    """A request a server answered, and when (time.monotonic()): tests measure the gaps a sync leaves."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float


class TimedLog:
    """Mixed into a server dataclass whose `log` holds TimedRequests."""

    log: list[TimedRequest]

    def requests(self, path_end: str | None = None) -> list[TimedRequest]:
        """The requests whose path ends with `path_end` (a trailing slash aside); all of them without one."""
        return [r for r in self.log if path_end is None or r.path.rstrip("/").endswith(path_end)]


class QueuedFailures:
    """Mixed into a server dataclass with a `failures` field: its refusal check pops (status, Retry-After s) off it
    before answering a request."""

    failures: list[tuple[int, float | None]]
    failure_status: ClassVar[int] = 503  # what the provider answers when it is overloaded

    def fail_next(self, count: int, status: int | None = None, retry_after_s: float | None = None) -> None:
        self.failures.extend([(status or self.failure_status, retry_after_s)] * count)


def request_line(request: web.Request, status: int) -> tuple[str, str, dict[str, str], int]:
    return (request.method, request.path, dict(request.query), status)


def timed_request(request: web.Request, status: int) -> TimedRequest:
    return TimedRequest(request.method, request.path, dict(request.query), status, time.monotonic())


def logged_app(
    log: list[Any],
    *middlewares: Any,
    entry: Callable[[web.Request, int], Any] = request_line,
    log_raised: bool = False,
) -> web.Application:
    """An app that appends `entry(request, status)` to `log` for every request it answers, before `middlewares`
    run; `log_raised` logs the requests a handler refuses by raising an HTTP exception too."""

    @web.middleware
    async def logged(request: web.Request, handler):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if log_raised:
                log.append(entry(request, exc.status))
            raise
        log.append(entry(request, response.status))
        return response

    return web.Application(middlewares=[logged, *middlewares])


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """The (user, password) of an `Authorization: Basic` header; None without one or when it does not decode."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password
