"""WordPress REST API v2 objects (posts, pages, comments, users) -> entities. Read with `context=edit`, so `raw`
fields (the stored title, the editor's content) and private ones (a comment author's email, a user's email) are
there; without it (a reader with fewer rights) the rendered values are used."""

from __future__ import annotations

import html
from typing import Any

from connectors.normalize import EventBuilder, compact, opt_text, opt_time, text
from events.entities import Comment, Contact, Post

MODIFIED_FIELD = "modified_gmt"  # UTC without an offset; `modified` is the site's local time


def _rendered(value: Any, raw_first: bool = False) -> str:
    """A `{"raw", "rendered"}` field: the raw value when asked for and present, else the rendered one."""
    if not isinstance(value, dict):
        return text(value)
    if raw_first and value.get("raw") is not None:
        return text(value["raw"])
    return text(value.get("rendered"))


def post(p: dict[str, Any]) -> Post:
    """A post or a page (the event's kind says which). Drafts have no date_gmt (not scheduled yet)."""
    return Post(
        title=_rendered(p.get("title"), raw_first=True) or html.unescape(_rendered(p.get("title"))),
        slug=text(p.get("slug")),
        status=text(p.get("status")),
        content=_rendered(p.get("content")),
        excerpt=_rendered(p.get("excerpt")),
        author=text(p.get("author") or ""),
        url=opt_text(p.get("link")),
        published_at=opt_time(p.get("date_gmt")) if p.get("status") in ("publish", "private") else None,
        provider_data=compact(
            type=p.get("type"),
            parent=p.get("parent") or None,
            categories=p.get("categories"),
            tags=p.get("tags"),
            sticky=p.get("sticky") or None,
            format=p.get("format") if p.get("format") not in (None, "standard") else None,
            template=p.get("template"),
            scheduled_at=text(p.get("date_gmt")) if p.get("status") == "future" else None,
        ),
    )


def comment(c: dict[str, Any]) -> Comment:
    return Comment(
        post_external_id=opt_text(c.get("post") or None),
        author_name=text(c.get("author_name")),
        author_email=opt_text(c.get("author_email")),
        content=_rendered(c.get("content")),
        status=text(c.get("status")),  # approved, hold (context=edit lists both)
        provider_data=compact(
            parent=c.get("parent") or None,
            author=c.get("author") or None,  # a registered user's id
            author_url=c.get("author_url"),
            date_gmt=text(c.get("date_gmt")),
            type=c.get("type") if c.get("type") not in (None, "comment") else None,
        ),
    )


def user(u: dict[str, Any]) -> Contact:
    return Contact(
        email=opt_text(u.get("email")),
        first_name=text(u.get("first_name")),
        last_name=text(u.get("last_name")),
        provider_data=compact(
            username=u.get("username"),
            name=u.get("name"),
            nickname=u.get("nickname"),
            roles=u.get("roles"),
            url=u.get("url"),
            registered_date=u.get("registered_date"),
        ),
    )


# --- the events of one resource: kind -> mapper ------------------------------------------------------------------


def upsert_post(out: EventBuilder, p: dict[str, Any]) -> None:
    out.upsert("post", p["id"], opt_time(p.get(MODIFIED_FIELD)), post(p))


def upsert_page(out: EventBuilder, p: dict[str, Any]) -> None:
    out.upsert("page", p["id"], opt_time(p.get(MODIFIED_FIELD)), post(p))


def upsert_comment(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("comment", c["id"], None, comment(c))  # no modification time: when it was read


def upsert_user(out: EventBuilder, u: dict[str, Any]) -> None:
    out.upsert("contact", u["id"], None, user(u))  # no modification time: when it was read


MAPPERS = {"post": upsert_post, "page": upsert_page, "comment": upsert_comment, "contact": upsert_user}
