"""The email connector end to end on the real Temporal dev server, OpenBao, Redis and Postgres, with Dovecot as its
IMAP server and aiosmtpd as its SMTP server (tests/mail_servers.py): the set-up logs in to both and imports the
mailbox (a bounce included), a sync after new mail reads only what came after the `<UIDVALIDITY>:<UID>`
checkpoint, `send_email` runs through the action route and the SMTP server holds the message, and the password is
in no workflow history (payloads decoded), event, command answer or log line."""

from __future__ import annotations

import json
import logging

import pytest
from factories import running, wait_for
from gateway_helpers import Gateway, setup_done
from pm_helpers import TIMEOUT_S, at_least, command, done, groups, issue, records
from temporal_history import history_text
from temporalio.client import Client
from test_email import DSN, mail, our_logs

from connectors.credentials import VaultSecrets
from connectors.providers.email import smtp
from connectors.sync_deps import SyncDeps
from connectors.temporal.shared import action_workflow_id, connect_workflow_id, sync_workflow_id
from connectors.temporal.worker import build_worker
from events import codec
from events.streams import stream_for_tenant
from producers.publisher import Publisher


@pytest.fixture
async def worker(temporal_server, pool, redis, vault, mail_cert, monkeypatch):
    monkeypatch.setattr(smtp, "CA_FILE", mail_cert.cert)
    client = await Client.connect(temporal_server.url)
    deps = SyncDeps(pool, Publisher(redis), VaultSecrets(vault.addr, vault.token), allow_private=True)
    async with build_worker(client, deps):
        yield client


async def _runs(gw: Gateway, key: str, connector_id: str, n: int) -> list[dict] | None:
    resp = await gw.get(f"/v1/connectors/{connector_id}/syncs", headers=gw.bearer(key))
    runs = [r for r in (await resp.json())["items"] if r["status"] != "running"]
    return runs if len(runs) >= n else None


async def test_connect_imports_the_mailbox_a_sync_reads_only_new_mail_and_send_email_delivers(
    gw: Gateway, dovecot, smtp_server, redis, pool, worker, caplog
):
    caplog.set_level(logging.DEBUG)
    dovecot.clear()
    dovecot.append(mail(1), DSN)
    tenant, key = await gw.create_tenant()
    config = {
        "from_address": "support@acme.test",
        "smtp_host": smtp_server.host,
        "smtp_port": smtp_server.port,
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "templates": json.dumps({"thanks": {"subject": "Thanks, {{name}}", "text": "We got it, {{name}}."}}),
    }
    async with running(redis, groups(pool, redis, worker)):
        made = await gw.create_connector(key, "email", config, {"username": dovecot.user, "password": dovecot.password})
        connector_id = made["id"]
        answer = await wait_for(lambda: setup_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert answer["health"]["setup"]["status"] == "connected", answer

        held = await wait_for(lambda: at_least(records(gw, key, "message"), 2), timeout_s=TIMEOUT_S)
        by_subject = {r["data"]["provider_data"]["subject"]: r for r in held.values()}
        assert by_subject["Question 1"]["data"]["sender"] == "customer1@example.test"
        bounce = by_subject["Undelivered Mail Returned to Sender"]["data"]["provider_data"]
        assert bounce["bounce"] is True and bounce["failed_recipients"] == ["gone@example.test"]

        # new mail, then "sync now": the run reads only what came after the checkpoint
        dovecot.append(mail(2))
        await issue(gw, key, f"/v1/connectors/{connector_id}/sync", {"resources": ["messages"]})
        runs = await wait_for(lambda: _runs(gw, key, connector_id, 2), timeout_s=TIMEOUT_S)
        newest = runs[0]
        assert (newest["status"], newest["full"], newest["records"], newest["added"]) == ("completed", False, 1, 1)
        assert runs[1]["records"] == 2
        held = await wait_for(lambda: at_least(records(gw, key, "message"), 3), timeout_s=TIMEOUT_S)
        assert len(held) == 3

        # a reply from a template through the action route
        route = f"/v1/connectors/{connector_id}/actions/send_email"
        body = {"to": ["customer1@example.test"], "template": "thanks", "variables": {"name": "Ana"}}
        command_id = await issue(gw, key, route, {**body, "in_reply_to": "<m1@example.test>"})
        assert await wait_for(lambda: done(gw, key, command_id), timeout_s=TIMEOUT_S) == "completed"
        result = (await command(gw, key, command_id))["result"]
        (envelope,) = smtp_server.handler.received
        assert envelope.rcpt_tos == ["customer1@example.test"] and set(result) == {"id", "template"}
        assert f"Message-ID: {result['id']}".encode() in envelope.content
        assert b"Subject: Thanks, Ana" in envelope.content and b"In-Reply-To: <m1@example.test>" in envelope.content

    histories = [
        await history_text(worker, workflow_id)
        for workflow_id in (
            connect_workflow_id(connector_id),
            sync_workflow_id(connector_id, "messages"),
            action_workflow_id(command_id),
        )
    ]
    assert connector_id in histories[0] and "Ana" in histories[2]  # payloads are readable: the check can fail
    published = b"".join(f[codec.EVENT_FIELD] for _, f in await redis.xrange(stream_for_tenant(tenant)))
    for text in (*histories, published.decode(), json.dumps(result), json.dumps(answer), our_logs(caplog)):
        assert dovecot.password not in text
