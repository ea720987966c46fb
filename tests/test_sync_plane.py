"""Plane against its local server (tests/providers/plane_server.py): the documented request shapes, refusals and
overload; its webhooks (X-Plane-Signature) mapped like the API's objects; and a connector end to end on the real
Temporal dev server, OpenBao, Redis and Postgres: connect imports projects, issues and cycles, a signed webhook
updates an issue's record, the update_issue action changes Plane through POST /v1/connectors/{id}/actions/{action},
and a full sync turns an issue deleted at Plane into a tombstone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from factories import running, served, wait_for
from gateway_helpers import Gateway, setup_done
from pm_helpers import TIMEOUT_S, at_least, command, done, groups, issue, records
from providers.plane_server import MEMBERS, STATES, PlaneWorkspace
from temporal_history import history_text
from webhook_support import ctx, fixture, request

from connectors import sync_pages
from connectors.base import ApiCall, ProviderBusy, ProviderRefused, SignatureError
from connectors.providers.plane import api as plane_api
from connectors.registry import get_facts, get_provider
from connectors.temporal.shared import connect_workflow_id, sync_workflow_id
from events.types import ProjectDeleted, TaskUpserted

PLANE = get_facts("plane")
SECRET = "plane_webhook_secret_from_the_csv"


@pytest.fixture
async def plane():
    async with served(PlaneWorkspace()) as made:
        yield made


def call_for(plane: PlaneWorkspace, key: str | None = None, slug: str | None = None) -> ApiCall:
    config = {"api_url": plane.url, "workspace_slug": slug or plane.slug}
    return ApiCall(PLANE, config, {"api_key": key or plane.api_key}, allow_private=True)


async def test_issues_page_by_cursor_project_by_project_with_their_state_names(plane):
    first_project, _, third_project = plane.seed(projects=3)
    plane.seed(issues=130)  # into the newest project; the first gets two, the second none
    plane.issues.update({i: {**plane.issues[i], "project": first_project} for i in plane.ids("issues")[:2]})
    issues = PLANE.resource("issues")
    page = await plane_api.read_page(call_for(plane), issues, 1)
    assert [o["id"] for o in page.objects] == plane.ids("issues")[:2] and page.next_cursor.endswith("|")
    assert page.objects[0]["state"]["name"] == "Backlog"  # expanded
    assert plane.log[-1][2] == {"per_page": "100", "expand": "state,assignees"}
    # the next project has no issues: the page goes on to the third, then Plane's own cursor within it
    second = await plane_api.read_page(call_for(plane), issues, 2, after=page.next_cursor)
    assert len(second.objects) == 100 and second.next_cursor == f"{third_project}|100:1:0"
    third = await plane_api.read_page(call_for(plane), issues, 3, after=second.next_cursor)
    assert len(third.objects) == 28 and third.next_cursor is None and sync_pages.last_page(issues, 3, third)
    assert plane.log[-1][2]["cursor"] == "100:1:0"


async def test_refusals_name_the_fix_and_overload_is_transient(plane):
    projects = PLANE.resource("projects")
    with pytest.raises(ProviderRefused, match=r"API key was refused \(HTTP 401 Given API token is not valid\)"):
        await plane_api.test_connection(call_for(plane, key="plane_api_wrong"))
    with pytest.raises(ProviderRefused, match="workspace_slug"):
        await plane_api.test_connection(call_for(plane, slug="someone-else"))
    plane.fail_next(1, 429, retry_after_s=3)
    with pytest.raises(ProviderBusy) as busy:
        await plane_api.read_page(call_for(plane), projects, 1)
    assert busy.value.retry_after_s == 3
    plane.fail_next(1, 503)
    with pytest.raises(ProviderBusy, match="HTTP 503"):
        await plane_api.read_page(call_for(plane), projects, 1)
    with pytest.raises(ProviderRefused, match="project_id must be a Plane id"):
        await plane_api.create_issue(call_for(plane), "../../members", "x")
    with pytest.raises(plane_api.PageCursorGone):  # a project deleted during the run: its pages are read again
        await plane_api.read_page(
            call_for(plane), PLANE.resource("issues"), 2, after="00000000-0000-0000-0000-00000000dead|"
        )


def test_webhooks_verify_over_the_raw_bytes_and_map_like_the_api():
    provider = get_provider("plane")
    body = fixture("plane", "issue.update.json")
    signed = request(body, {"X-Plane-Signature": "", "X-Plane-Event": "issue", "X-Plane-Delivery": "d-1"})
    with pytest.raises(SignatureError, match="no signature"):
        provider.verify(signed, [SECRET], 0)
    assert provider.topic(signed) == "issue.update" and provider.delivery_id(signed) is None
    (event,) = provider.normalize(ctx(), "issue.update", signed)
    assert isinstance(event, TaskUpserted) and event.subject.external_id == "8a3b1c2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    task = event.data
    assert (task.title, task.priority, task.status) == (
        "Ship the webhook receiver",
        "high",
        task.provider_data["state_id"],
    )
    assert task.description == "Verify the signature first" and task.project == "22b6fc9c-1849-45da-b103-52a3e3a6b4c1"
    assert task.due_at == datetime(2023, 11, 3, tzinfo=UTC)
    assert event.occurred_at == datetime(2023, 10, 25, 6, 44, 48, 543685, tzinfo=UTC)
    gone = request(fixture("plane", "project.delete.json"), {"X-Plane-Event": "project"})
    (deleted,) = provider.normalize(ctx(), provider.topic(gone), gone)
    assert isinstance(deleted, ProjectDeleted) and deleted.subject.external_id == "22b6fc9c-1849-45da-b103-52a3e3a6b4c1"
    past_tense = request(body.replace(b'"action": "update"', b'"action": "updated"'), {"X-Plane-Event": "issue"})
    assert provider.topic(past_tense) == "issue.update"


async def test_connect_imports_the_workspace_a_webhook_and_an_action_update_it_and_deletions_become_tombstones(
    gw: Gateway, plane, redis, pool, temporal
):
    plane.seed(projects=2)
    issue_ids = plane.seed(issues=3, cycles=1)[:3]
    _, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal)):
        made = await gw.create_connector(
            key,
            "plane",
            {"api_url": plane.url, "workspace_slug": plane.slug},
            {"api_key": plane.api_key, "webhook_secret": SECRET},
        )
        connector_id = made["id"]
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        tasks = await wait_for(lambda: at_least(records(gw, key, "task"), 3), timeout_s=TIMEOUT_S)
        assert set(tasks) == set(issue_ids)
        one = tasks[issue_ids[0]]["data"]
        assert (one["status"], one["assignee"], one["priority"]) == ("Backlog", MEMBERS[0]["display_name"], "medium")
        assert set(await wait_for(lambda: at_least(records(gw, key, "project"), 2), timeout_s=TIMEOUT_S)) == set(
            plane.ids("projects")
        )
        assert list(await wait_for(lambda: at_least(records(gw, key, "cycle"), 1), timeout_s=TIMEOUT_S)) == plane.ids(
            "cycles"
        )

        # a webhook Plane signs with the secret it showed: the record follows; a wrong secret is refused
        changed = plane._expanded(plane.change("issues", issue_ids[1], name="Renamed in Plane"), {"state"})
        assert await plane.deliver(made["webhook_url"], "wrong", "issue", "update", changed) == 401
        assert await plane.deliver(made["webhook_url"], SECRET, "issue", "update", changed) == 200
        await wait_for(lambda: _title(gw, key, issue_ids[1]), "Renamed in Plane", timeout_s=TIMEOUT_S)

        # the update_issue action changes the issue at Plane; its command shows Plane's answer
        route = f"/v1/connectors/{connector_id}/actions/update_issue"
        project = plane.issues[issue_ids[2]]["project"]
        body = {"project_id": project, "issue_id": issue_ids[2], "state": STATES[2]["id"], "priority": "urgent"}
        command_id = await issue(gw, key, route, body)
        assert await wait_for(lambda: done(gw, key, command_id), timeout_s=TIMEOUT_S) == "completed"
        result = (await command(gw, key, command_id))["result"]
        assert result["id"] == issue_ids[2] and plane.issues[issue_ids[2]]["state"] == STATES[2]["id"]
        assert plane.issues[issue_ids[2]]["priority"] == "urgent"
        assert [r[0] for r in plane.log if r[1].endswith(f"/issues/{issue_ids[2]}/")] == ["PATCH"]

        # deleted at Plane; a full sync of the issues: a tombstone, the others kept
        plane.delete("issues", issue_ids[0])
        await issue(gw, key, f"/v1/connectors/{connector_id}/sync", {"resources": ["issues"], "full": True})

        async def tombstones():
            held = await records(gw, key, "task", deleted=True)
            return sorted(i for i, r in held.items() if r["deleted"])

        assert await wait_for(tombstones, timeout_s=TIMEOUT_S) == [issue_ids[0]]

    for workflow_id in (connect_workflow_id(connector_id), sync_workflow_id(connector_id, "issues")):
        history = await history_text(temporal, workflow_id)
        assert connector_id in history and plane.api_key not in history and SECRET not in history


async def _title(gw: Gateway, key: str, issue_id: str) -> str:
    return (await records(gw, key, "task"))[issue_id]["data"]["title"]
