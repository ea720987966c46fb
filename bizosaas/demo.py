"""The demo data of `bizosaas dev`: a demo tenant, a demo shop connector, and (--demo) one connector per provider
fed the real provider payloads in tests/fixtures/webhooks/, signed as each provider signs, through the public
webhook route — so records, deliveries and metrics are non-empty on first look. The demo shop's store is a local
WooCommerce (the tests' tests/providers/woocommerce_server.py, seeded with a few dozen orders, products and
customers) which the shop connector imports on connect, through the temporal-worker; without the repository's
tests/ there is no store and so no demo shop (a connector whose store cannot be reached would only retry its
connect until it gave up).

Everything goes through the running gateway's HTTP API, as a user's integration would. What was created is saved in
the data folder (the API key and the webhook secrets included: mode 0600, development only) and reused next time; a
replay of a fixture uses a delivery id of its own that is stable across runs, so running --demo again publishes
nothing new (the gateway dedupes it).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO_TESTS = Path(__file__).resolve().parent.parent / "tests"  # the repo's, when installed editable (make dev)
FIXTURES = REPO_TESTS / "fixtures" / "webhooks"
STORE_MODULE = REPO_TESTS / "providers" / "woocommerce_server.py"  # the local WooCommerce the tests use
STORE_SEED = {"orders": 36, "products": 24, "customers": 30}  # fixed: every run serves the same objects
PROVIDERS = ("woocommerce", "shopify", "stripe", "slack", "standard-webhooks")
SAMPLE_ORDER = (
    '{"id":1001,"status":"processing","currency":"EUR","total":"42.00","date_modified_gmt":"2026-01-01T12:00:00"}'
)


class DemoError(RuntimeError):
    pass


def _call(
    method: str, url: str, key: str | None = None, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {"body": raw.decode(errors="replace")[:200]}


def _save(path: Path, value: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds an API key or webhook secrets
    with os.fdopen(fd, "w") as out:
        json.dump(value, out, indent=1)


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def demo_tenant(base: str, data: Path, env: dict[str, str]) -> dict:
    """The saved demo tenant while its API key still works here, else a new one."""
    saved = _load(data / "demo-tenant.json")
    if saved.get("api_key") and _call("GET", f"{base}/v1/connectors?limit=1", saved["api_key"])[0] == 200:
        return saved
    result = subprocess.run(
        [sys.executable, "-m", "bizosaas", "tenant", "create", "demo", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise DemoError(f"could not create the demo tenant: {result.stdout.strip()} {result.stderr[-300:]}")
    tenant = json.loads(result.stdout)
    _save(data / "demo-tenant.json", tenant)
    return tenant


# what a demo connector's form needs besides its webhook secret. The demo shop's store_url is the local store's
# (start_store); the placeholder stays only on --demo's webhooks-only `demo-woocommerce` (its syncs fail).
DEMO_FIELDS: dict[str, tuple[dict, dict]] = {  # provider -> (config, secrets besides webhook_secret)
    "woocommerce": (
        {"store_url": "http://127.0.0.1:9/demo-shop"},
        {"consumer_key": "ck_demo", "consumer_secret": "cs_demo"},
    ),
    # webhooks only: the demo has no Shopify to sync from (its connect fails, saying the access token is missing)
    "shopify": ({"shop": "https://demo-shop.myshopify.com"}, {}),
}


def start_store(step: Callable[[str, str], None], port: int = 0) -> str | None:
    """Serve the tests' local WooCommerce (tests/providers/woocommerce_server.py) from a thread of this process,
    seeded with STORE_SEED; answers its URL, or None (and says why) when the repository's tests/ is not here."""
    if not STORE_MODULE.is_file():
        step(
            "demo",
            f"no local WooCommerce and so no demo shop: {STORE_MODULE} is missing (it needs the repository, installed "
            "editable)",
        )
        return None
    spec = importlib.util.spec_from_file_location("bizosaas_demo_woocommerce_server", STORE_MODULE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    tests_dir = str(STORE_MODULE.parent.parent)  # it imports its helpers as the tests do: `providers.server_support`
    sys.path.insert(0, tests_dir)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(tests_dir)
    extra = DEMO_FIELDS["woocommerce"][1]
    store = module.WooCommerceStore(consumer_key=extra["consumer_key"], consumer_secret=extra["consumer_secret"])
    store.seed(**STORE_SEED)
    started: list[str] = []
    ready = threading.Event()

    def serve() -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        runner = web.AppRunner(store.app(), access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", port)
        loop.run_until_complete(site.start())
        started.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, name="demo-woocommerce", daemon=True).start()  # ends with the process
    if not ready.wait(15):
        raise DemoError("the local WooCommerce store did not start")
    store.url = started[0]
    counts = ", ".join(f"{n} {resource}" for resource, n in STORE_SEED.items())
    step("demo", f"local WooCommerce on {store.url} ({counts}; from {STORE_MODULE.relative_to(REPO_TESTS.parent)})")
    return store.url


def connector(
    base: str, data: Path, key: str, provider: str, name: str, secret: str, config: dict | None = None
) -> dict | None:
    """The saved connector `name` while it exists (and is not disconnected), else a new one; None when the gateway
    does not know `provider`. `config` (the demo shop's store URL) is set on a saved connector when it differs,
    and a full sync requested then (the store's address changes from run to run)."""
    path = data / "demo-connectors.json"
    saved = _load(path)
    found = saved.get(name)
    defaults, extra_secrets = DEMO_FIELDS.get(provider, ({}, {}))
    config = {**defaults, **(config or {})}
    if found:
        status, current = _call("GET", f"{base}/v1/connectors/{found['id']}", key)
        if status == 200 and current["status"] != "disconnected":
            if current["config"] != {**current["config"], **config}:
                _reconfigure(base, key, found["id"], {**current["config"], **config})
            return {**found, "webhook_url": current["webhook_url"]}  # the gateway's port may have changed
    body = json.dumps(
        {"provider": provider, "name": name, "config": config, "secrets": {**extra_secrets, "webhook_secret": secret}}
    ).encode()
    status, reply = _call("POST", f"{base}/v1/connectors", key, body, {"Content-Type": "application/json"})
    if status == 422 and "unknown provider" in json.dumps(reply):
        return None
    if status != 201:
        raise DemoError(f"POST /v1/connectors ({provider}) answered {status}: {reply}")
    saved[name] = {"id": reply["id"], "provider": provider, "webhook_url": reply["webhook_url"], "secret": secret}
    _save(path, saved)
    return saved[name]


def _reconfigure(base: str, key: str, connector_id: str, config: dict) -> None:
    json_type = {"Content-Type": "application/json"}
    body = json.dumps({"config": config}).encode()
    status, reply = _call("PATCH", f"{base}/v1/connectors/{connector_id}", key, body, json_type)
    if status != 200:
        raise DemoError(f"PATCH /v1/connectors/{connector_id} answered {status}: {reply}")
    status, reply = _call("POST", f"{base}/v1/connectors/{connector_id}/sync", key, b'{"full": true}', json_type)
    if status != 202:
        raise DemoError(f"POST /v1/connectors/{connector_id}/sync answered {status}: {reply}")


def demo_shop(base: str, data: Path, key: str, store_url: str) -> dict:
    """The demo WooCommerce connector of the local store at `store_url`: it imports the store's history (the connect
    command's initial sync, or a full sync when an existing connector is pointed at this run's store)."""
    shop = connector(base, data, key, "woocommerce", "demo-shop", secrets.token_urlsafe(24), {"store_url": store_url})
    if shop is None:
        raise DemoError("the gateway has no woocommerce provider")
    return shop


def webhook_command(shop: dict) -> str:
    """A copy-paste shell command that signs SAMPLE_ORDER as WooCommerce does and posts it (needs openssl)."""
    return (
        f"  body={shlex.quote(SAMPLE_ORDER)}\n"
        f"  curl -s -X POST {shop['webhook_url']} -H 'Content-Type: application/json' \\\n"
        f"    -H 'X-WC-Webhook-Topic: order.updated' -H \"X-WC-Webhook-Delivery-ID: $(date +%s%N)\" \\\n"
        f'    -H "X-WC-Webhook-Signature: $(printf \'%s\' "$body" | openssl dgst -sha256 '
        f'-hmac {shlex.quote(shop["secret"])} -binary | base64)" \\\n'
        f'    -d "$body"'
    )


# --- signing each fixture as its provider does (tests/fixtures/webhooks/<provider>/SOURCE.md) -----------------------


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _woocommerce(stem: str, body: bytes, secret: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    resource, _, event = stem.partition(".")
    return body, {
        "X-WC-Webhook-Source": "https://demo-shop.example/",
        "X-WC-Webhook-Topic": stem,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": "1",
        "X-WC-Webhook-Delivery-ID": delivery,
        "X-WC-Webhook-Signature": base64.b64encode(_mac(secret.encode(), body)).decode(),
    }


def _shopify(stem: str, body: bytes, secret: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    return body, {
        "X-Shopify-Topic": stem.replace("-", "/", 1),
        "X-Shopify-Shop-Domain": "demo.myshopify.com",
        "X-Shopify-API-Version": "2024-01",
        "X-Shopify-Webhook-Id": delivery,
        "X-Shopify-Hmac-Sha256": base64.b64encode(_mac(secret.encode(), body)).decode(),
    }


def _stripe(stem: str, body: bytes, secret: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    # the fixtures' event ids are all zeroed: give each its own, as Stripe would (the id is the delivery identity)
    event = json.loads(body)
    body = body.replace(json.dumps(event["id"]).encode(), json.dumps(f"evt_{delivery}").encode(), 1)
    now = int(time.time())
    v1 = _mac(secret.encode(), f"{now}.".encode() + body).hex()
    return body, {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": f"t={now},v1={v1}"}


def _slack(stem: str, body: bytes, secret: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    payload = json.loads(body)
    if payload.get("type") != "url_verification":  # the fixture is an inner event: deliver it in its envelope
        payload = {
            "token": "demo",
            "team_id": "T0DEMO",
            "api_app_id": "A0DEMO",
            "event": payload,
            "type": "event_callback",
            "event_id": f"Ev{delivery}",
            "event_time": int(float(payload["ts"])),
        }
        body = json.dumps(payload).encode()
    now = int(time.time())
    v0 = _mac(secret.encode(), f"v0:{now}:".encode() + body).hex()
    return body, {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": f"v0={v0}"}


SIGNERS: dict[str, Callable[[str, bytes, str, str], tuple[bytes, dict[str, str]]]] = {
    "woocommerce": _woocommerce,
    "shopify": _shopify,
    "stripe": _stripe,
    "slack": _slack,
}


def run_demo(base: str, data: Path, key: str, step: Callable[[str, str], None]) -> None:
    if not FIXTURES.is_dir():
        step("demo", f"skipped: no fixture webhooks at {FIXTURES} (--demo needs the repository, installed editable)")
        return
    for provider in PROVIDERS:
        files = sorted(p for p in (FIXTURES / provider).glob("*.json") if p.name != "vectors.json")
        if provider not in SIGNERS or not files:
            step("demo", f"{provider}: skipped (no payload fixtures, only signature vectors)")
            continue
        made = connector(base, data, key, provider, f"demo-{provider}", "whsec_" + secrets.token_urlsafe(24))
        if made is None:
            step("demo", f"{provider}: skipped (the gateway has no {provider} provider yet)")
            continue
        for path in files:
            step("demo", f"{provider} {path.stem}: {_replay(made, path)}")


def _replay(made: dict, path: Path) -> str:
    delivery = "demo" + hashlib.sha256(f"{made['id']}:{path.name}".encode()).hexdigest()[:20]
    body, headers = SIGNERS[made["provider"]](path.stem, path.read_bytes(), made["secret"], delivery)
    status, reply = _call("POST", made["webhook_url"], None, body, {"Content-Type": "application/json", **headers})
    if status == 404 and not reply.get("type", "").endswith("not-found"):
        return "skipped (the gateway has no webhook route)"
    if status >= 300:
        return f"answered {status}: {reply.get('detail') or reply}"
    if "outcome" not in reply:
        return "handshake answered"
    if reply.get("duplicate"):
        return "already replayed (duplicate delivery: nothing new published)"
    return f"{reply['outcome']} ({reply['events']} event(s))"
