"""Service hygiene: health, readiness, metrics without tenant labels, problem+json everywhere, and JSON logs that
carry the request id, tenant and connector but never a secret or a payload."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

import pytest
from factories import wait_for
from gateway_helpers import ADMIN_TOKEN, Gateway
from webhook_support import connector_body, fixture, woocommerce_headers

from bizosaas.logs import JsonFormatter
from bizosaas.servers import free_port
from rag.local_model import PACKAGED

SECRET = "hygiene-webhook-secret"


async def test_health_readiness_and_unready_vault(gw: Gateway, make_gateway):
    assert await (await gw.get("/healthz")).json() == {"status": "ok"}

    async def search_state():
        return (await (await gw.get("/readyz")).json())["search"]

    await wait_for(search_state, "ready", timeout_s=180)  # the local model loads at start (once per process)
    ready = await gw.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "redis": True, "postgres": True, "vault": True, "search": "ready"}
    no_vault = await make_gateway(vault_addr=f"http://127.0.0.1:{free_port()}")
    resp = await no_vault.get("/readyz")
    assert resp.status == 503 and (await resp.json())["vault"] is False and (await resp.json())["redis"] is True


async def test_errors_are_problem_json_with_stable_types(gw: Gateway):
    resp = await gw.get("/v1/nowhere")
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    assert (await resp.json())["type"] == "urn:bizosaas:problem:not-found"
    resp = await gw.put("/v1/tenants")
    assert resp.status == 405 and "POST" in resp.headers["Allow"]
    assert (await resp.json())["type"] == "urn:bizosaas:problem:method-not-allowed"
    _, key = await gw.create_tenant()
    resp = await gw.post("/v1/api-keys", data=b"{not json", headers=gw.bearer(key))
    assert resp.status == 400 and (await resp.json())["type"] == "urn:bizosaas:problem:bad-request"


async def test_metrics_and_logs_carry_no_tenant_label_no_secret_and_no_payload(
    gw: Gateway, redis, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="bizosaas")
    tenant, key = await gw.create_tenant()
    resp = await gw.post(
        "/v1/connectors",
        headers=gw.bearer(key),
        json=connector_body("woocommerce", SECRET, "shop"),
    )
    connector = (await resp.json())["id"]
    body = fixture("woocommerce", "order.created.json")
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Delivery-ID": "m1",
        "X-Request-Id": "req-abc-123",
        **woocommerce_headers(body, SECRET, 0),
    }
    resp = await gw.post(f"/v1/webhooks/{connector}", data=body, headers=headers)
    assert resp.status == 200 and resp.headers["X-Request-Id"] == "req-abc-123"
    bad = {**headers, **woocommerce_headers(body, "not-the-secret", 0), "X-Request-Id": "req-bad"}
    assert (await gw.post(f"/v1/webhooks/{connector}", data=body, headers=bad)).status == 401

    metrics = await (await gw.get("/metrics")).text()
    assert (
        'bizosaas_gateway_webhooks_total{outcome="published",provider="woocommerce",topic="order.created"}' in metrics
    )
    assert 'route="/v1/webhooks/{connector_id}"' in metrics and 'status="401"' in metrics
    assert tenant not in metrics and connector not in metrics

    formatter = JsonFormatter()
    lines = [
        formatter.format(r) for r in caplog.records if r.name.startswith(("bizosaas.gateway", "bizosaas.connectors"))
    ]
    webhook_line = next(line for line in lines if '"request_id": "req-abc-123"' in line)
    assert f'"tenant_id": "{tenant}"' in webhook_line and f'"connector_id": "{connector}"' in webhook_line
    refused = next(line for line in lines if "webhook refused" in line)
    assert f'"connector_id": "{connector}"' in refused
    everything = "\n".join(lines)
    for secret in (SECRET, key, "not-the-secret", "john.doe@example.com", "969 Market"):
        assert secret not in everything


async def test_values_postgres_or_redis_cannot_take_are_4xx_not_5xx(gw: Gateway, redis):
    """Regressions schemathesis found: NUL characters, and stream ids past 64 bits."""
    _, key = await gw.create_tenant()
    resp = await gw.post(
        "/v1/agents/helper/runs",
        data=b'{"prompt": "a\\u0000b"}',
        headers={**gw.bearer(key), "Content-Type": "application/json"},
    )
    assert resp.status == 422
    assert (await gw.get("/v1/records/order", params={"source": "a\x00b"}, headers=gw.bearer(key))).status == 400
    assert (await gw.get("/v1/connectors/con%00x", headers=gw.bearer(key))).status == 400
    operator = gw.bearer(ADMIN_TOKEN)
    assert (
        await gw.get("/v1/admin/dead-letters/projector", params={"start": "9" * 20}, headers=operator)
    ).status == 422
    assert (
        await gw.get(
            "/v1/admin/streams/bz:commands/events", params={"start": "47789720220050646942-1"}, headers=operator
        )
    ).status == 422


async def test_vector_search_answers_503_until_the_model_has_loaded_and_keyword_search_never_waits(
    make_gateway, rag_db, tmp_path
):
    # a real slow load: the model file is a pipe, and the loader reads it whole (as it reads every model file), so
    # the load lasts until this test writes the model's bytes into it
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(PACKAGED / "tokenizer.json", model_dir / "tokenizer.json")
    pipe = model_dir / "model.onnx"
    os.mkfifo(pipe)
    gw = await make_gateway(rag_embedder="local", rag_local_model_dir=str(model_dir))
    fed = False
    try:
        _, key = await gw.create_tenant("slowload")
        auth = gw.bearer(key)
        ready = await gw.get("/readyz")
        assert ready.status == 200 and (await ready.json())["search"] == "loading"
        for mode in ("vector", "hybrid"):
            resp = await gw.get("/v1/search", params={"q": "refund", "mode": mode}, headers=auth)
            assert resp.status == 503 and resp.content_type == "application/problem+json", mode
            assert int(resp.headers["Retry-After"]) > 0
            assert "mode=keyword" in (await resp.json())["detail"]
        keyword = await gw.get("/v1/search", params={"q": "refund", "mode": "keyword"}, headers=auth)
        assert keyword.status == 200 and await keyword.json() == {"items": [], "next": None}

        await asyncio.to_thread(pipe.write_bytes, (PACKAGED / "model.onnx").read_bytes())
        fed = True

        async def search_state():
            return (await (await gw.get("/readyz")).json())["search"]

        await wait_for(search_state, "ready", timeout_s=180)
        for mode in ("vector", "hybrid"):
            resp = await gw.get("/v1/search", params={"q": "refund", "mode": mode}, headers=auth)
            assert resp.status == 200, await resp.text()
    finally:
        if not fed:  # never leave the loader's thread blocked on the pipe: an empty model fails its load instead
            try:
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: the loader has not opened it yet; without the file, its open fails
                pipe.unlink()
