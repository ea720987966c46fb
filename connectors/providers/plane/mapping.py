"""Plane's REST API v1 objects (projects, issues, cycles) -> entities. A webhook's `data` is the same object the API
lists (webhook.py), so both map here: an issue looks the same however it arrived.

An issue's `state` and `assignees` are ids unless the list was asked to expand them (api.py asks for
`expand=state,assignees`); both shapes map, the names where they are known. Plane's `target_date` is a date: the
task is due at its start, UTC.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from connectors.normalize import EventBuilder, compact, opt_text, opt_time, text
from events.entities import Task
from events.entities_work import Cycle, Project

MODIFIED_FIELD = "updated_at"  # ISO 8601 with an offset (Django's, UTC)
TAGS = re.compile(r"<[^>]+>")


def _plain(description_html: Any) -> str:
    """Plane keeps descriptions as HTML; the records and search want the words."""
    return " ".join(html.unescape(TAGS.sub(" ", text(description_html))).split())


def _name_or_id(value: Any, name_field: str) -> str:
    if isinstance(value, dict):
        return text(value.get(name_field) or value.get("id"))
    return text(value)


def _due(value: Any) -> datetime | None:
    if not value:
        return None
    day = datetime.fromisoformat(str(value)[:10])
    return day.replace(tzinfo=UTC)


def _id(value: Any) -> str | None:
    return opt_text(value.get("id") if isinstance(value, dict) else value)


def issue(i: dict[str, Any]) -> Task:
    assignees = [a for a in i.get("assignees") or [] if a]
    state = i.get("state")
    return Task(
        title=text(i.get("name")),
        description=text(i.get("description_stripped")) or _plain(i.get("description_html")),
        status=_name_or_id(state, "name"),
        priority="" if i.get("priority") in (None, "none") else text(i.get("priority")),
        assignee=opt_text(_name_or_id(assignees[0], "display_name")) if assignees else None,
        project=_id(i.get("project")),
        due_at=_due(i.get("target_date")),
        provider_data=compact(
            sequence_id=i.get("sequence_id"),
            state_id=_id(state),
            state_group=state.get("group") if isinstance(state, dict) else None,
            assignee_ids=[_id(a) for a in assignees],
            labels=[_id(label) for label in i.get("labels") or []],
            start_date=opt_text(i.get("start_date")),
            completed_at=opt_text(i.get("completed_at")),
            archived_at=opt_text(i.get("archived_at")),
            parent=_id(i.get("parent")),
        ),
    )


def project(p: dict[str, Any]) -> Project:
    return Project(
        name=text(p.get("name")),
        description=text(p.get("description")),
        identifier=text(p.get("identifier")),
        status="archived" if p.get("archived_at") else "open",
        provider_data=compact(network=p.get("network"), total_members=p.get("total_members")),
    )


def cycle(c: dict[str, Any]) -> Cycle:
    return Cycle(
        name=text(c.get("name")),
        description=text(c.get("description")),
        project_external_id=_id(c.get("project") or c.get("project_id")),
        starts_at=opt_time(c.get("start_date")),
        ends_at=opt_time(c.get("end_date")),
        status=text(c.get("status")).lower(),
        provider_data=compact(
            total_issues=c.get("total_issues"),
            completed_issues=c.get("completed_issues"),
            archived_at=opt_text(c.get("archived_at")),
        ),
    )


# --- the events of one object: kind -> mapper (connectors.normalize.run_mapper) ----------------------------------


def upsert_issue(out: EventBuilder, i: dict[str, Any]) -> None:
    out.upsert("task", i["id"], opt_time(i.get(MODIFIED_FIELD)), issue(i))


def upsert_project(out: EventBuilder, p: dict[str, Any]) -> None:
    out.upsert("project", p["id"], opt_time(p.get(MODIFIED_FIELD)), project(p))


def upsert_cycle(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("cycle", c["id"], opt_time(c.get(MODIFIED_FIELD)), cycle(c))


MAPPERS = {"task": upsert_issue, "project": upsert_project, "cycle": upsert_cycle}
