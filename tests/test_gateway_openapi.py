"""The OpenAPI document is true: it documents every route the gateway serves, and schemathesis, generating requests
from it against a real `bizosaas gateway` process, finds no 5xx and no response that breaks the document."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from conftest import bizosaas_command
from factories import local_http_server, wait_for
from gateway_helpers import ADMIN_TOKEN, Gateway
from llm_server import LLMServer

from bizosaas.servers import PORT_TAKEN, free_port
from gateway.portal import page_routes

MAX_EXAMPLES = 8  # per operation and mode: enough to walk every parameter, small enough for a fast suite


async def test_every_served_route_is_documented_and_nothing_else(gw: Gateway):
    doc = await (await gw.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    served = set()
    routes = list(gw.client.server.app.router.routes())
    for route in routes:
        if route.method == "HEAD" and any(
            r.method == "GET" and r.resource is route.resource and r.handler is route.handler for r in routes
        ):
            continue  # aiohttp's own HEAD beside a GET (add_get); a HEAD route of its own (Trello's) is documented
        path = re.sub(r"{(\w+):[^}]*}", r"{\1}", route.resource.canonical)
        served.add((route.method.lower(), path))
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    # the portal's HTML pages are no API: docs/gateway.md names them (tests/test_repo.py), the OpenAPI document not
    pages = {(method.lower(), path) for method, path in page_routes()}
    assert pages <= served
    assert served - pages == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"] and op["summary"] and op["operationId"], (method, path)
            params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path)), (method, path)
            if op.get("security"):
                assert {"401", "403", "429"} <= set(op["responses"]), (method, path)


@pytest.fixture
async def llm_url():
    """A language model that answers anything (the personal agent's chat streams instead of answering 503)."""
    server = LLMServer()
    server.rule("", text="An answer.")
    async with local_http_server(server.app()) as base:
        yield f"{base}/v1"


@pytest.fixture
async def served_gateway(migrated, vault, redis, admin, llm_url, tmp_path: Path):
    """`bizosaas gateway` in its own process, as in production."""
    env = migrated.env(
        OPENAI_BASE_URL=llm_url,
        BIZOSAAS_ADMIN_TOKEN=ADMIN_TOKEN,
        VAULT_ADDR=vault.addr,
        VAULT_TOKEN=vault.token,
        BIZOSAAS_TENANT_BURST="100000",
        BIZOSAAS_KEY_BURST="100000",
    )
    # a free port can be taken by another program before the gateway binds it; then a /readyz answer would come
    # from that program, so readiness is the gateway's own "listening" line, and a taken port means a new one
    for attempt in range(3):
        port = free_port()
        log_path = tmp_path / f"gateway-{attempt}.log"
        with open(log_path, "wb") as log:  # noqa: ASYNC230 - set-up, before the gateway runs
            proc = subprocess.Popen(  # noqa: ASYNC220 - the gateway under test
                [*bizosaas_command(), "gateway", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if await _listening(proc, log_path):
            break
    else:
        pytest.fail(f"three free ports were taken before the gateway bound them; see {log_path}")
    url = f"http://127.0.0.1:{port}"
    try:
        key = await _tenant_key(url)
        yield url, key, log_path
    finally:
        proc.terminate()
        proc.wait(10)


async def _listening(proc: subprocess.Popen, log_path: Path) -> bool:
    """True once the gateway logged that it listens; False if it exited because its port was taken."""
    listening = await wait_for(
        lambda: asyncio.to_thread(lambda: "gateway listening" in log_path.read_text() or proc.poll() is not None),
        timeout_s=120,
    )
    output = log_path.read_text()  # noqa: ASYNC240 - a short file, once
    if proc.poll() is None and listening:
        return True
    if any(marker in output.lower() for marker in PORT_TAKEN):
        return False
    pytest.fail(f"the gateway did not start; see {log_path}: {output[-3000:]}")


async def _tenant_key(url: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/tenants", json={"name": "fuzz"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as resp,
    ):
        assert resp.status == 201, await resp.text()
        return (await resp.json())["api_key"]


def schemathesis(url: str, token: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error,status_code_conformance,"
            "content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "30",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(served_gateway):
    url, key, log = served_gateway
    tenant_run = await asyncio.to_thread(schemathesis, url, key, "--exclude-path-regex", "^/v1/(admin/|tenants$)")
    assert tenant_run.returncode == 0, tenant_run.stdout[:8000] + tenant_run.stderr[-2000:]
    operator_run = await asyncio.to_thread(
        schemathesis, url, ADMIN_TOKEN, "--include-path-regex", "^/v1/(admin|tenants)"
    )
    assert operator_run.returncode == 0, operator_run.stdout[-6000:] + operator_run.stderr[-2000:]
    ours = [line for line in log.read_text().splitlines() if '"logger": "bizosaas' in line]
    assert ours and not [line for line in ours if '"level": "error"' in line]
