"""Errors as RFC 9457 `application/problem+json`, each with a stable `type` that clients may branch on."""

from __future__ import annotations

import msgspec
from aiohttp import web

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:bizosaas:problem:"

# slug -> (status, title): the complete list of problem types the gateway answers with
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "The request is malformed"),
    "validation": (422, "The request does not match the schema"),
    "unauthenticated": (401, "Authentication is required"),
    "invalid-signature": (401, "The webhook signature is not valid"),
    "forbidden": (403, "The caller's role does not allow this"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "The request conflicts with the resource's state"),
    "quota-exceeded": (409, "A limit of the tenant's plan is reached"),
    "request-timeout": (408, "The body did not arrive in time"),
    "payload-too-large": (413, "The body is larger than allowed"),
    "unsupported-media-type": (415, "The content type or encoding is not accepted"),
    "rate-limited": (429, "Too many requests"),
    "personal-agent-off": (409, "The tenant turned its personal agent off"),
    "token-budget": (429, "The tenant's daily token budget for its agents is spent"),
    "oauth-state": (400, "The OAuth state is unknown, expired or already used"),
    "internal": (500, "Internal error"),
    "not-configured": (501, "The platform is not configured for this (a setting is missing)"),
    "unavailable": (503, "A backing service is unavailable"),
    "storage-full": (503, "The event store refuses writes for now (memory limit)"),
}


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[str] = []


class ProblemError(Exception):
    """Raised anywhere in a handler; the error middleware turns it into a problem response."""

    def __init__(
        self, slug: str, detail: str = "", *, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        super().__init__(f"{slug}: {detail}")
        self.slug, self.detail, self.headers, self.errors = slug, detail, headers or {}, errors or []

    @property
    def status(self) -> int:
        return PROBLEM_TYPES[self.slug][0]


_encode = msgspec.json.Encoder().encode


def problem_response(
    slug: str, detail: str = "", headers: dict[str, str] | None = None, errors: list[str] | None = None
) -> web.Response:
    status, title = PROBLEM_TYPES[slug]
    body = Problem(type=TYPE_BASE + slug, title=title, status=status, detail=detail, errors=errors or [])
    return web.Response(status=status, body=_encode(body), content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def slug_for_status(status: int) -> str:
    for slug, (code, _) in PROBLEM_TYPES.items():
        if code == status:
            return slug
    return "bad-request" if status < 500 else "internal"
