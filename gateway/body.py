"""Reading request bodies: bounded in size and in time, content codings decoded here.

The server's automatic decompression is off (app.py): it decoded gzip before any size cap, and the webhook reader
then took Content-Length (compressed) bytes of the decoded stream. Here the body is read as sent, under the cap and
within `body_timeout_s` (a client that declares 100 bytes and sends 10 gets 408, not a connection held forever),
then each coding is undone with the decoded size capped too, so a decompression bomb stops at the cap (413).
Inflating at most `cap` bytes costs a few milliseconds: done on the loop.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web

from gateway import metrics
from gateway.problems import ProblemError

DECODABLE = frozenset({"gzip", "deflate"})  # what decode() can undo; a route may accept fewer


def content_codings(request: web.Request) -> list[str]:
    """The codings of Content-Encoding in the order they were applied, identity left out."""
    values = request.headers.getall("Content-Encoding", [])
    found = [part.strip().lower() for value in values for part in value.split(",")]
    return [c for c in found if c and c != "identity"]


def check_codings(codings: list[str], accepted: frozenset[str], sender: str) -> None:
    for coding in codings:
        if coding not in accepted or coding not in DECODABLE:
            hint = f"; {sender} may send {', '.join(sorted(accepted))}" if accepted else ""
            raise ProblemError("unsupported-media-type", f"{sender} does not send Content-Encoding {coding}{hint}")


async def read_raw(request: web.Request, cap: int, timeout_s: float) -> bytes:
    """The body as sent, at most `cap` bytes (413 beyond), arriving within `timeout_s` (408 otherwise)."""
    if (request.content_length or 0) > cap:
        raise ProblemError("payload-too-large", f"bodies are limited to {cap} bytes")
    if request.content.is_eof():  # all of it has arrived (a small body comes with its headers): nothing to time
        return await _read(request, cap)
    try:
        async with asyncio.timeout(timeout_s):
            return await _read(request, cap)
    except TimeoutError:
        metrics.BODY_TIMEOUTS.inc()
        raise ProblemError("request-timeout", f"the body did not arrive within {timeout_s:g} s") from None


async def _read(request: web.Request, cap: int) -> bytes:
    length = request.content_length
    if length is not None:  # checked against the cap; aiohttp delivers no more than this
        try:
            return await request.content.readexactly(length) if length else b""
        except asyncio.IncompleteReadError:
            raise ProblemError("bad-request", "the body is shorter than its Content-Length") from None
    chunks, size = [], 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > cap:
            raise ProblemError("payload-too-large", f"bodies are limited to {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode(raw: bytes, codings: list[str], cap: int) -> bytes:
    """Undo the codings (last applied first), every intermediate result at most `cap` bytes."""
    for coding in reversed(codings):
        raw = _inflate(raw, coding, cap)
    return raw


def _inflate(data: bytes, coding: str, cap: int) -> bytes:
    if coding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    else:  # HTTP's deflate is zlib-wrapped, but some senders send a raw deflate stream
        wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, cap + 1)  # never more than cap + 1 bytes, whatever the ratio
    except zlib.error as exc:
        raise ProblemError("bad-request", f"the {coding} body does not decode: {exc}") from None
    if len(out) > cap:
        raise ProblemError("payload-too-large", f"bodies are limited to {cap} bytes once decoded")
    if not inflater.eof or inflater.unused_data:
        raise ProblemError("bad-request", f"the {coding} body is truncated or has trailing data")
    return out


async def read_body(
    request: web.Request, cap: int, timeout_s: float, accepted: frozenset[str] = DECODABLE, sender: str = "this route"
) -> bytes:
    """The decoded body: codings checked (415), read under the cap and the timeout, decoded under the cap."""
    codings = content_codings(request)
    check_codings(codings, accepted, sender)
    return decode(await read_raw(request, cap, timeout_s), codings, cap)
