"""Google Tag Manager against a local Tag Manager API v2 (tests/providers/google_tag_manager_server.py): listings page
by pageToken, the workspace found by name, the documented refusals; containers, tags, triggers and variables
imported through the real Temporal sync workflow and visible over REST, a deleted tag a tombstone after a full run;
`publish_workspace` (create_version, then publish) through the action workflow, and a workspace that does not
compile published nothing."""

from __future__ import annotations

import uuid

import pytest
from factories import running, wait_for
from google_support import TIMEOUT_S, api_call, connect, counted, deleted_ids, served, temporal_sync
from providers.google_tag_manager_server import TagManager
from temporalio.client import WorkflowFailureError

from connectors.base import ProviderBusy, ProviderRefused
from connectors.providers.google_tag_manager import api
from connectors.registry import get_facts
from connectors.temporal.client import run_action
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

FACTS = get_facts("google-tag-manager")
TAGS = FACTS.resource("tags")


@pytest.fixture
async def gtm(monkeypatch):
    async with served(TagManager(page_size=50), monkeypatch) as made:
        yield made


def config(gtm: TagManager) -> dict:
    return {"account_id": gtm.account_id, "container_id": next(iter(gtm.containers))}


async def test_listings_page_by_token_in_the_default_workspace(gtm):
    gtm.seed(tags=120, triggers=3)
    feature = {"workspaceId": "0", "name": "Feature branch", "containerId": "1001", "accountId": gtm.account_id}
    gtm.workspaces["1001"] = {"0": feature} | gtm.workspaces["1001"]  # listed first: the Default Workspace is chosen
    call = api_call(gtm, "google-tag-manager", config(gtm))
    first = await api.read_page(call, TAGS, 1)
    assert gtm.requests("/workspaces")[-1].path.endswith("/containers/1001/workspaces")
    sent = gtm.requests("/tags")[-1]
    assert sent.path == f"/tagmanager/v2/accounts/{gtm.account_id}/containers/1001/workspaces/1/tags"
    assert len(first.objects) == 50 and first.next_cursor and "pageToken" not in sent.query
    seen, after = [o["id"] for o in first.objects], first.next_cursor
    while after:
        page = await api.read_page(call, TAGS, 2, after=after)
        assert gtm.requests("/tags")[-1].query["pageToken"] == after
        seen, after = seen + [o["id"] for o in page.objects], page.next_cursor
    assert seen == gtm.ids("tags") and len(seen) == 120
    tag = first.objects[0]
    assert tag["id"] == f"1001:1:{tag['tagId']}" and tag["firingTriggerId"]
    gtm.fail_next(1, 429, retry_after_s=2)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call, TAGS, 1)
    assert busy.value.retry_after_s == 2.0
    with pytest.raises(ProviderRefused, match="NOT_FOUND"):
        await api.read_page(api_call(gtm, "google-tag-manager", {**config(gtm), "container_id": "9"}), TAGS, 1)


async def test_imports_through_temporal_then_publishes(gw, vault, gtm, redis, pool, temporal):
    gtm.seed(tags=6, triggers=2, variables=3)
    tenant, key, connector = await connect(gw, vault, gtm, "google-tag-manager", config(gtm))
    container = next(iter(gtm.containers))
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        for resource, count in (("containers", 1), ("tags", 6), ("triggers", 2), ("variables", 3)):
            (run,) = (await temporal_sync(temporal, tenant, connector, resource)).runs
            assert (run.status, run.records) == ("completed", count), run.error
        tags = await wait_for(lambda: counted(gw, key, "tagmanager_tag", 6), timeout_s=TIMEOUT_S)
        one = tags[gtm.ids("tags")[0]]["data"]
        assert one["type"] == "html" and one["parameters"]["html"].startswith("<script>")
        assert one["container_external_id"] == container and one["firing_trigger_ids"]
        held = await wait_for(lambda: counted(gw, key, "tagmanager_container", 1), timeout_s=TIMEOUT_S)
        assert held[container]["data"]["public_id"] == f"GTM-T{container}"
        assert len(await wait_for(lambda: counted(gw, key, "tagmanager_variable", 3), timeout_s=TIMEOUT_S)) == 3

        # a tag deleted in Tag Manager: a tombstone after a full run
        gone = gtm.ids("tags")[-1]
        del gtm.items[(container, "1", "tag")][gone.rsplit(":", 1)[1]]
        (run,) = (await temporal_sync(temporal, tenant, connector, "tags", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 1)
        await wait_for(lambda: deleted_ids(gw, key, "tagmanager_tag"), [gone], TIMEOUT_S)

        # publish: a version of the workspace, then live
        values = {"name": "Add the consent banner", "notes": "from BizOSaaS"}
        answer = await run_action(temporal, tenant, connector, "publish_workspace", values, id=f"action:{uuid.uuid4()}")
        assert answer == {"id": "1", "name": values["name"]}  # ids and what was set: all the history keeps
        assert gtm.live[container] == "1" and len(gtm.versions[container]["1"]["tag"]) == 5
        assert gtm.versions[container]["1"]["description"] == "from BizOSaaS"

        # a workspace that does not compile: no version, nothing published, the action fails with the reason
        gtm.compiler_error = True
        with pytest.raises(WorkflowFailureError):
            await run_action(temporal, tenant, connector, "publish_workspace", values, id=f"action:{uuid.uuid4()}")
        assert list(gtm.versions[container]) == ["1"] and gtm.live[container] == "1"
