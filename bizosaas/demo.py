"""The demo data of `bizosaas dev`: a demo tenant, a demo shop connector, and (--demo) one connector per provider
fed the real provider payloads in tests/fixtures/webhooks/, signed as each provider signs, through the public
webhook route — so records, deliveries and metrics are non-empty on first look.

Everything goes through the running gateway's HTTP API, as a user's integration would. What was created is saved in
the data folder (the API key and the webhook secrets included: mode 0600, development only) and reused next time; a
replay of a fixture uses a delivery id of its own that is stable across runs, so running --demo again publishes
nothing new (the gateway dedupes it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "webhooks"  # the repo (editable install)
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


# what a demo connector's form needs besides its webhook secret. The demo shop's API is not served yet: its sync
# fails until a local WooCommerce server backs `bizosaas dev --demo` (the connectors issue).
DEMO_FIELDS: dict[str, tuple[dict, dict]] = {  # provider -> (config, secrets besides webhook_secret)
    "woocommerce": (
        {"store_url": "http://127.0.0.1:9/demo-shop"},
        {"consumer_key": "ck_demo", "consumer_secret": "cs_demo"},
    ),
}


def connector(base: str, data: Path, key: str, provider: str, name: str, secret: str) -> dict | None:
    """The saved connector `name` while it exists, else a new one; None when the gateway does not know `provider`."""
    path = data / "demo-connectors.json"
    saved = _load(path)
    found = saved.get(name)
    if found:
        status, current = _call("GET", f"{base}/v1/connectors/{found['id']}", key)
        if status == 200:
            return {**found, "webhook_url": current["webhook_url"]}  # the gateway's port may have changed
    config, extra_secrets = DEMO_FIELDS.get(provider, ({}, {}))
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


def demo_shop(base: str, data: Path, key: str) -> dict:
    shop = connector(base, data, key, "woocommerce", "demo-shop", secrets.token_urlsafe(24))
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
