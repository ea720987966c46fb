"""Trello against its local server (tests/providers/trello_server.py): the documented request shapes (the key and
token in the Authorization header only), card pages by `before`, refusals and overload; X-Trello-Webhook over the
body and the callback URL; the gateway's answer to Trello's HEAD check; and a connector end to end on the real
Temporal dev server, OpenBao, Redis and Postgres: the set-up registers a webhook per board (Trello checks the URL
with HEAD first), imports boards, lists, members and cards, a signed action makes the cards sync again, a deleted
card becomes a tombstone, create_card runs through POST /v1/connectors/{id}/actions/{action}, a board made after
the set-up gets its webhook on the schedule's next tick, and a disconnect deletes the webhooks at Trello."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from factories import running, served, wait_for
from gateway_helpers import Gateway, disconnect_done, setup_done
from pm_helpers import (
    TIMEOUT_S,
    at_least,
    command,
    done,
    groups,
    issue,
    records,
)
from providers.trello_server import TrelloAccount
from temporal_history import history_text
from temporalio.client import Client
from webhook_support import ctx, fixture, request, vectors

from connectors.base import ApiCall, ProviderBusy, ProviderRefused, SignatureError
from connectors.credentials import VaultSecrets
from connectors.providers.trello import api as trello_api
from connectors.registry import get_facts, get_provider
from connectors.sync_deps import SyncDeps
from connectors.temporal.shared import (
    SCHEDULED_SYNC_WORKFLOW,
    TASK_QUEUE,
    SyncAllInput,
    connect_workflow_id,
    sync_workflow_id,
)
from connectors.temporal.worker import build_worker
from events.types import ChangeNotified, TaskDeleted
from producers.publisher import Publisher

TRELLO = get_facts("trello")


@pytest.fixture
async def trello(monkeypatch):
    async with served(TrelloAccount()) as made:
        monkeypatch.setattr(trello_api, "API_BASE", made.url + "/1/")
        yield made


def call_for(trello: TrelloAccount, **secrets: str) -> ApiCall:
    given = {"api_key": trello.api_key, "api_token": trello.api_token, "api_secret": trello.api_secret, **secrets}
    return ApiCall(TRELLO, {}, given, allow_private=True)


async def test_cards_page_by_before_board_by_board_and_the_key_never_rides_in_a_url(trello):
    first_board = trello.seed(boards=1)[0]
    cards = trello.seed(lists=1, cards=150)[1:]
    trello.seed(boards=1)  # no cards
    resource = TRELLO.resource("cards")
    page = await trello_api.read_page(call_for(trello), resource, 1)
    assert [c["id"] for c in page.objects] == sorted(cards, reverse=True)[:100]  # newest first
    assert page.objects[0]["list_name"] == trello.lists[trello.cards[cards[0]]["idList"]]["name"]
    assert page.next_cursor == f"{first_board}|{min(c['id'] for c in page.objects)}"
    second = await trello_api.read_page(call_for(trello), resource, 2, after=page.next_cursor)
    assert len(second.objects) == 50 and trello.log[-1][2]["before"] == page.next_cursor.split("|")[1]
    third = await trello_api.read_page(call_for(trello), resource, 3, after=second.next_cursor)
    assert third.objects == [] and third.next_cursor is None  # the last board has none: the listing ends
    for _, _, query, _ in trello.log:
        assert not {"key", "token"} & set(query) and trello.api_token not in str(query)
    members = await trello_api.read_page(call_for(trello), TRELLO.resource("members"), 1)
    assert [m["id"] for m in members.objects] == [trello.me["id"]]  # once, though on both boards


async def test_refusals_name_the_fix_and_overload_is_transient(trello):
    with pytest.raises(ProviderRefused, match=r"key or the token was refused \(HTTP 401 invalid token\)"):
        await trello_api.test_connection(call_for(trello, api_token="ATTAwrong0123456789"))
    trello.fail_next(1, 429, retry_after_s=2)
    with pytest.raises(ProviderBusy, match="HTTP 429 Rate limit exceeded") as busy:
        await trello_api.read_page(call_for(trello), TRELLO.resource("boards"), 1)
    assert busy.value.retry_after_s == 2
    with pytest.raises(ProviderRefused, match="list_id must be a Trello id"):
        await trello_api.create_card(call_for(trello), "../members/me", "x")
    with pytest.raises(ProviderRefused, match="no api_secret"):
        await trello_api.register_webhooks(call_for(trello, api_secret=""), "https://example.com/hook", "s")


def test_the_signature_covers_the_callback_url_and_an_action_asks_for_a_sync():
    provider = get_provider("trello")
    (vector, _) = vectors("trello")["derived_vectors"]
    body = fixture("trello", vector["body_file"])
    signed = request(body, {"X-Trello-Webhook": vector["expected_X-Trello-Webhook"]})
    with pytest.raises(SignatureError, match="callback URL is not known"):
        provider.verify(signed, [vector["secret"]], 0)
    at_url = dataclasses.replace(signed, url=vector["callback_url"])
    provider.verify(at_url, [vector["secret"]], 0)
    with pytest.raises(SignatureError):
        provider.verify(dataclasses.replace(at_url, url=vector["callback_url"] + "/"), [vector["secret"]], 0)
    assert provider.topic(at_url) == "updateCard"
    assert provider.delivery_id(at_url) == "5b4a39281706f5e4d3c2b1a0:5a0b1c2d3e4f5a6b7c8d9e0f"
    (hint,) = provider.normalize(ctx(), "updateCard", at_url)
    assert isinstance(hint, ChangeNotified) and (hint.resource, hint.operation) == ("cards", "updateCard")
    assert (hint.subject.kind, hint.subject.external_id) == ("task", "5f1e2d3c4b5a69788796a5b4")
    for action, key, value, expected in (
        ("updateList", "list", {"id": "l" * 24}, ("task_list", "l" * 24, "lists")),
        ("addMemberToBoard", "idMember", "m" * 24, ("member", "m" * 24, "members")),
        ("updateBoard", "board", {"id": "b" * 24}, ("project", "b" * 24, "boards")),
    ):
        other = request(json.dumps({"action": {"id": "a" * 24, "type": action, "data": {key: value}}}).encode())
        (notified,) = provider.normalize(ctx(), provider.topic(other), other)
        assert (notified.subject.kind, notified.subject.external_id, notified.resource) == expected
    gone = request(fixture("trello", "deleteCard.json"))
    (deleted,) = provider.normalize(ctx(), provider.topic(gone), gone)
    assert isinstance(deleted, TaskDeleted) and deleted.subject.external_id == "5f1e2d3c4b5a69788796a5b4"


@pytest.fixture
async def public_worker(temporal_server, pool, redis, vault, gw: Gateway):
    """The connectors' worker with BIZOSAAS_PUBLIC_URL = the test gateway's address (Trello checks and delivers to
    it): a Temporal client and that URL."""
    client = await Client.connect(temporal_server.url)
    deps = SyncDeps(pool, Publisher(redis), VaultSecrets(vault.addr, vault.token), allow_private=True)
    public_url = str(gw.make_url("/")).rstrip("/")
    async with build_worker(client, deps, public_url=public_url):
        yield client, public_url


async def test_the_gateway_answers_trellos_head_check_for_a_connector_only(gw: Gateway):
    _, key = await gw.create_tenant()
    made = await gw.create_connector(key, "trello", {}, {"api_key": "k", "api_token": "t", "api_secret": "s"})
    assert (await gw.head(f"/v1/webhooks/{made['id']}")).status == 200
    assert (await gw.head("/v1/webhooks/con_nobody")).status == 404


async def test_set_up_registers_board_webhooks_that_sync_cards_and_disconnect_deletes_them(
    gw: Gateway, trello, redis, pool, vault, public_worker
):
    temporal, public_url = public_worker
    board = trello.seed(boards=1)[0]
    todo, doing = trello.seed(lists=2)
    cards = trello.seed(cards=3)
    trello.seed(members=1)
    secrets = VaultSecrets(vault.addr, vault.token)
    tenant, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal)):
        given = {"api_key": trello.api_key, "api_token": trello.api_token, "api_secret": trello.api_secret}
        made = await gw.create_connector(key, "trello", {}, given)
        connector_id = made["id"]
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer
        assert answer["health"]["webhooks_registered"] == 1
        (webhook,) = trello.webhooks.values()
        assert (webhook["idModel"], webhook["callbackURL"]) == (board, f"{public_url}/v1/webhooks/{connector_id}")
        assert webhook["callbackURL"] == made["webhook_url"]
        assert (await secrets.read(tenant, connector_id, fresh=True))["webhook_secret"] == trello.api_secret

        tasks = await wait_for(lambda: at_least(records(gw, key, "task"), 3), timeout_s=TIMEOUT_S)
        assert set(tasks) == set(cards) and {t["data"]["status"] for t in tasks.values()} == {"List 3"}
        assert set(await wait_for(lambda: at_least(records(gw, key, "task_list"), 2), timeout_s=TIMEOUT_S)) == {
            todo,
            doing,
        }
        assert set(await wait_for(lambda: at_least(records(gw, key, "member"), 2), timeout_s=TIMEOUT_S)) == set(
            trello.ids("members")
        )
        assert list(await records(gw, key, "project")) == [board]

        # a card moved at Trello: the signed action makes the cards sync, and the record follows
        moved = trello.change("cards", cards[0], idList=todo, name="Moved to To Do")
        data = {"card": {"id": moved["id"], "name": moved["name"], "idList": todo}, "old": {"idList": doing}}
        assert await trello.deliver("updateCard", data, board, secret="not-the-app-secret") == [401]
        assert await trello.deliver("updateCard", data, board) == [200]
        await wait_for(lambda: _task(gw, key, cards[0]), ("Moved to To Do", "List 2"), timeout_s=TIMEOUT_S)

        # a card deleted at Trello: a tombstone at once
        trello.delete("cards", cards[1])
        assert await trello.deliver("deleteCard", {"card": {"id": cards[1]}}, board) == [200]

        async def tombstones():
            return sorted(i for i, r in (await records(gw, key, "task", deleted=True)).items() if r["deleted"])

        assert await wait_for(tombstones, timeout_s=TIMEOUT_S) == [cards[1]]

        # create_card through the actions route: the card is at Trello, the command shows it
        route = f"/v1/connectors/{connector_id}/actions/create_card"
        command_id = await issue(gw, key, route, {"list_id": doing, "name": "From BizOSaaS", "pos": "top"})
        assert await wait_for(lambda: done(gw, key, command_id), timeout_s=TIMEOUT_S) == "completed"
        result = (await command(gw, key, command_id))["result"]
        assert trello.cards[result["id"]]["name"] == "From BizOSaaS" and trello.cards[result["id"]]["idList"] == doing

        # a board made after the set-up gets its webhook on the schedule's next tick, and a tick makes no duplicate
        later = trello.seed(boards=1)[0]
        tick = SyncAllInput(tenant, connector_id)
        for n in (1, 2):
            await temporal.execute_workflow(
                SCHEDULED_SYNC_WORKFLOW,
                tick,
                id=f"tick-{n}-{connector_id}",
                task_queue=TASK_QUEUE,
                execution_timeout=timedelta(seconds=TIMEOUT_S),
            )
            assert sorted(w["idModel"] for w in trello.webhooks.values()) == sorted([board, later])
        health = (await (await gw.get(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).json())["health"]
        assert health["webhooks_registered"] == 2

        assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204
        outcome = await wait_for(lambda: disconnect_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert outcome["status"] == "completed" and "unregistered 2 webhook(s)" in outcome["reason"], outcome
    assert trello.webhooks == {}

    for workflow_id in (connect_workflow_id(connector_id), sync_workflow_id(connector_id, "cards")):
        history = await history_text(temporal, workflow_id)
        assert connector_id in history
        for secret in (trello.api_key, trello.api_token, trello.api_secret):
            assert secret not in history


async def _task(gw: Gateway, key: str, card_id: str) -> tuple[str, str]:
    data = (await records(gw, key, "task"))[card_id]["data"]
    return data["title"], data["status"]
