"""One JSON request to a provider's API, through `public_session` (public addresses only, unless the call allows
private ones), for the providers whose answers are a JSON body whatever the status (Meta's Graph API, Slack's Web
API, Telegram's Bot API): each provider's api.py turns the `Answer` into a page, a result or its own failure.

A connection failure is a TransientError named by `what` and the exception's type only: aiohttp's messages can name
the URL, and Telegram's carries the bot token in its path, so no URL reaches a message, a log line or a workflow's
history from here. A non-public address stays NotPublicAddress (permanent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from connectors.base import ApiCall
from connectors.public_http import public_session, refused_address
from events.errors import TransientError

TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=15)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any  # the parsed JSON, or None when the body was not JSON

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None


async def request_json(call: ApiCall, method: str, url: str, what: str, **kwargs: Any) -> Answer:
    """`method url` with aiohttp's keyword arguments (headers, params, json, data); `what` names the request in
    errors ("Slack conversations.list"), never the URL."""
    try:
        async with (
            public_session(call.allow_private, timeout=TIMEOUT) as session,
            session.request(method, url, **kwargs) as response,
        ):
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            return Answer(response.status, dict(response.headers), body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        refused = refused_address(exc)
        if refused is not None:
            raise refused from None
        raise TransientError(f"{what}: {type(exc).__name__}, try later") from None


async def bearer_json(
    call: ApiCall,
    token: Callable[[str | None], Awaitable[str]],
    method: str,
    url: str,
    what: str,
    refused: Callable[[Answer], bool],
    **kwargs: Any,
) -> Answer:
    """`request_json` with `Authorization: Bearer <token(None)>`, repeated once with `token(<the refused one>)` when
    `refused(answer)` says the provider refused the token and the call has a token source to ask for a new one (an
    OAuth2 connector's: connectors/access_tokens.py). The caller judges the answer it gets."""
    given = dict(kwargs.pop("headers", None) or {})

    async def send(held: str) -> Answer:
        headers = {**given, "Authorization": f"Bearer {held}"}
        return await request_json(call, method, url, what, headers=headers, **kwargs)

    held = await token(None)
    answer = await send(held)
    if refused(answer) and call.access_token is not None:
        answer = await send(await token(held))
    return answer
