"""Google Analytics 4 against a local GA4 (tests/providers/google_analytics_server.py): the configured report by
runReport pages by limit/offset to rowCount, the documented refusals (a bad name, 429 with Retry-After, 5xx, 401);
the report imported through the real Temporal sync workflow and visible over REST, re-read figures replacing their
rows; `create_key_event` through the action workflow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from factories import running, wait_for
from google_support import TIMEOUT_S, api_call, connect, counted, records, served, temporal_sync
from providers.google_analytics_server import GoogleAnalytics

from connectors.base import ProviderBusy, ProviderRefused
from connectors.providers.google_analytics import api
from connectors.registry import get_facts
from connectors.temporal.client import run_action
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

FACTS = get_facts("google-analytics")
REPORT = FACTS.resource("report")


@pytest.fixture
async def ga(monkeypatch):
    async with served(GoogleAnalytics(), monkeypatch) as made:
        yield made


def call_for(ga: GoogleAnalytics, token: str | None = None, **config):
    return api_call(ga, "google-analytics", {"property_id": ga.property_id, **config}, token)


async def test_report_pages_by_offset_and_refusals(ga):
    ga.seed(days=40)  # 40 days x 6 channels; the default window is 30 days back to today: 31 days, 186 rows
    first = await api.read_page(call_for(ga), REPORT, 1)
    sent = ga.requests(":runReport")[-1]
    assert sent.path == f"/v1beta/properties/{ga.property_id}:runReport"
    assert (sent.body["limit"], sent.body["offset"]) == ("100", "0")
    assert [d["name"] for d in sent.body["dimensions"]] == ["date", "sessionDefaultChannelGroup"]
    assert [m["name"] for m in sent.body["metrics"]] == ["sessions", "totalUsers", "keyEvents"]
    start = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    assert sent.body["dateRanges"] == [{"startDate": start, "endDate": "today"}]
    assert (first.total, first.total_pages, len(first.objects)) == (186, 2, 100)
    second = await api.read_page(call_for(ga), REPORT, 2)
    assert ga.requests(":runReport")[-1].body["offset"] == "100" and len(second.objects) == 86
    ids = [o["id"] for o in first.objects + second.objects]
    assert len(set(ids)) == 186 and ids[0] == f"traffic:{start}:Direct"
    assert first.objects[0]["metrics"] == {"sessions": "131", "totalUsers": "110", "keyEvents": "3.5"}
    # a configured report: other names; a name GA4 does not know is its refusal, a malformed one ours
    custom = call_for(ga, dimensions="country", metrics="newUsers", report_name="countries")
    (row,) = (await api.read_page(custom, REPORT, 1)).objects
    assert row["id"] == "countries:DE" and row["metrics"] == {"newUsers": str(10 * 6 * 31)}
    with pytest.raises(ProviderRefused, match=r"INVALID_ARGUMENT.*conversionz"):
        await api.read_page(call_for(ga, metrics="conversionz"), REPORT, 1)
    with pytest.raises(ProviderRefused, match=r"config\.metrics"):
        await api.read_page(call_for(ga, metrics="sessions; DROP"), REPORT, 1)
    ga.fail_next(1, 429, retry_after_s=3)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call_for(ga), REPORT, 1)
    assert busy.value.retry_after_s == 3.0
    ga.fail_next(1, 500)
    with pytest.raises(ProviderBusy, match="INTERNAL"):
        await api.read_page(call_for(ga), REPORT, 1)
    with pytest.raises(ProviderRefused, match="UNAUTHENTICATED"):
        await api.read_page(call_for(ga, token="ya29.unknown"), REPORT, 1)
    with pytest.raises(ProviderRefused, match="PERMISSION_DENIED"):
        await api.read_page(call_for(ga, property_id="999"), REPORT, 1)


async def test_report_imports_through_temporal_and_key_events_are_created(gw, vault, ga, redis, pool, temporal):
    ga.seed(days=3)
    config = {"property_id": ga.property_id, "report_name": "traffic"}
    tenant, key, connector = await connect(gw, vault, ga, "google-analytics", config)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        (run,) = (await temporal_sync(temporal, tenant, connector, "report")).runs
        assert (run.status, run.records) == ("completed", 18), run.error
        held = await wait_for(lambda: counted(gw, key, "report_row", 18), timeout_s=TIMEOUT_S)
        today = datetime.now(UTC).date().isoformat()
        row = held[f"traffic:{today}:Organic Search"]
        assert row["provider"] == "google-analytics" and row["data"]["date"] == today
        assert row["data"]["metrics"] == {"sessions": 100.0, "totalUsers": 80.0, "keyEvents": 2.5}
        assert row["data"]["dimensions"] == {"date": today, "sessionDefaultChannelGroup": "Organic Search"}

        # GA4 settles today's figures later: the next run's state replaces the row (and nothing is deleted)
        ga.visits[0]["sessions"] = 140
        (run,) = (await temporal_sync(temporal, tenant, connector, "report", full=True)).runs
        assert (run.status, run.deleted) == ("completed", 0)
        await wait_for(lambda: _sessions(gw, key, f"traffic:{today}:Organic Search"), 140.0, TIMEOUT_S)

        answer = await run_action(
            temporal, tenant, connector, "create_key_event", {"event_name": "sign_up"}, id=f"action:{uuid.uuid4()}"
        )
        assert answer == {"id": f"properties/{ga.property_id}/keyEvents/1", "event_name": "sign_up"}
        assert ga.key_events["sign_up"]["countingMethod"] == "ONCE_PER_EVENT"


async def _sessions(gw, key: str, row_id: str) -> float:
    return (await records(gw, key, "report_row"))[row_id]["data"]["metrics"]["sessions"]
