"""Project-management entities beside `Task` (events/entities.py): the containers and people a task lives among in
Plane and Trello (issue 13). Times are UTC; what does not map goes to `provider_data`."""

from __future__ import annotations

from events.entities import Entity, UtcTime


class Project(Entity, frozen=True, kw_only=True):
    """A container of tasks: a Plane project, a Trello board."""

    name: str = ""
    description: str = ""
    identifier: str = ""  # the short key tasks are numbered under (Plane's "WEB" in WEB-12); "" where none
    status: str = ""  # open, closed, archived (the provider's word where it has one)
    url: str | None = None


class TaskList(Entity, frozen=True, kw_only=True):
    """An ordered column of tasks inside a project (a Trello list)."""

    name: str = ""
    project_external_id: str | None = None
    position: float | None = None  # the provider's sort key: lower comes first
    closed: bool = False


class Cycle(Entity, frozen=True, kw_only=True):
    """A time-boxed iteration of a project (a Plane cycle, a sprint)."""

    name: str = ""
    description: str = ""
    project_external_id: str | None = None
    starts_at: UtcTime | None = None
    ends_at: UtcTime | None = None
    status: str = ""


class Member(Entity, frozen=True, kw_only=True):
    """A person who works in a project-management tool (a Trello board member, a Plane workspace member)."""

    name: str = ""
    username: str = ""
    email: str | None = None  # the tools rarely disclose it
    avatar_url: str | None = None
