"""Trello's REST API 1 objects -> entities: a board is a `project`, a list a `task_list`, a card a `task`, a board
member a `member`. Only the sync maps them: a webhook names the object an action touched with a few of its fields,
so it asks for a sync instead (webhook.py).

A card's status is the name of the list it is in (api.py adds `list_name` from its board's lists: "To Do", "Done"),
or "archived" for a closed card; its assignee is its first member's id.
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, opt_text, opt_time, text
from events.entities import Task
from events.entities_work import Member, Project, TaskList

MODIFIED_FIELD = "dateLastActivity"  # boards and cards; lists and members carry no time


def card(c: dict[str, Any]) -> Task:
    members = [m for m in c.get("idMembers") or [] if m]
    return Task(
        title=text(c.get("name")),
        description=text(c.get("desc")),
        status="archived" if c.get("closed") else text(c.get("list_name") or c.get("idList")),
        assignee=opt_text(members[0]) if members else None,
        project=opt_text(c.get("idBoard")),
        due_at=opt_time(c.get("due")),
        provider_data=compact(
            list_id=c.get("idList"),
            member_ids=members,
            labels=[text(label.get("name") or label.get("color")) for label in c.get("labels") or []],
            due_complete=c.get("dueComplete") or None,
            short_url=c.get("shortUrl"),
            number=c.get("idShort"),
        ),
    )


def board(b: dict[str, Any]) -> Project:
    return Project(
        name=text(b.get("name")),
        description=text(b.get("desc")),
        status="closed" if b.get("closed") else "open",
        url=opt_text(b.get("url") or b.get("shortUrl")),
        provider_data=compact(organization_id=b.get("idOrganization")),
    )


def trello_list(values: dict[str, Any]) -> TaskList:
    pos = values.get("pos")
    return TaskList(
        name=text(values.get("name")),
        project_external_id=opt_text(values.get("idBoard")),
        position=float(pos) if isinstance(pos, int | float) and not isinstance(pos, bool) else None,
        closed=bool(values.get("closed")),
    )


def member(m: dict[str, Any]) -> Member:
    return Member(
        name=text(m.get("fullName")),
        username=text(m.get("username")),
        avatar_url=opt_text(m.get("avatarUrl")),
        provider_data=compact(board_ids=m.get("board_ids")),
    )


# --- the events of one object: kind -> mapper (connectors.normalize.run_mapper) ----------------------------------


def upsert_card(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("task", c["id"], opt_time(c.get(MODIFIED_FIELD)), card(c))


def upsert_board(out: EventBuilder, b: dict[str, Any]) -> None:
    out.upsert("project", b["id"], opt_time(b.get(MODIFIED_FIELD)), board(b))


def upsert_list(out: EventBuilder, values: dict[str, Any]) -> None:
    out.upsert("task_list", values["id"], None, trello_list(values))


def upsert_member(out: EventBuilder, m: dict[str, Any]) -> None:
    out.upsert("member", m["id"], None, member(m))


MAPPERS = {"task": upsert_card, "project": upsert_board, "task_list": upsert_list, "member": upsert_member}
