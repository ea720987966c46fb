"""OAuth2 connect for connectors whose provider authenticates with it (provider.toml: auth.kind = "oauth2").

`GET /v1/connectors/{connector_id}/oauth/authorize` answers 302 to the provider's authorization page with a one-time
`state` and a PKCE challenge (connectors/oauth.py keeps the state in Redis for ten minutes). The provider sends the
user back to `GET /v1/oauth/callback`, which is public (the state is the credential: 256 random bits, usable once);
it consumes the state, exchanges the code at the provider's token endpoint, stores the tokens in Vault and issues a
`connector.connect.v1` command, so the set-up runs again with them (the one started at creation could not call the
API yet: its outcome on the connector says to install the app). The redirect URI is always BIZOSAAS_PUBLIC_URL +
/v1/oauth/callback, never derived from the request's Host.
"""

from __future__ import annotations

import json
import logging

import msgspec
from aiohttp import web

from connectors import oauth
from connectors.registry import UnknownProvider, get_facts, get_oauth_hooks
from db.pool import tenant_transaction
from events.commands import ConnectConnector
from events.errors import PermanentError
from gateway.commands import new_command_fields, record_command, send_command
from gateway.problems import ProblemError
from gateway.roles import PUBLIC
from gateway.routing import Routes, json_response, read_query
from gateway.state import CONFIG, LOG_CONNECTOR, LOG_TENANT, POOL, PUBLISHER, REDIS, SECRETS, principal, tenant_of

log = logging.getLogger("bizosaas.gateway.oauth")
routes = Routes("connectors")

CALLBACK_PATH = "/v1/oauth/callback"


class CallbackQuery(msgspec.Struct):
    state: str = ""  # the one-time state the authorize route made
    code: str = ""  # the authorization code
    error: str | None = None  # the user declined, or the provider refused the request (RFC 6749 4.1.2.1)
    # Zoho: the user's accounts server, whose token endpoint is used if the provider documents it (provider.toml)
    accounts_server: str | None = msgspec.field(default=None, name="accounts-server")
    location: str | None = None  # Zoho: the user's data centre (us, eu, in ...)


class Connected(msgspec.Struct):
    connector_id: str
    status: str  # active: the tokens are stored (in Vault; never shown)
    expires_at: float  # the access token's expiry (unix seconds); it is refreshed before then


def _config(raw) -> dict:
    return raw if isinstance(raw, dict) else json.loads(raw or "{}")


def _token_url(facts, query, values: dict, config: dict, allow_private: bool) -> str:
    """Where the code is exchanged: the connector's own token endpoint after its callback check (provider hooks), or
    the facts' (with a documented token host the callback names, Zoho's accounts server)."""
    if hooks := get_oauth_hooks(facts.provider):
        if check_callback := getattr(hooks, "check_callback", None):  # none: nothing to check beyond the state
            check_callback(query, values, config, allow_private)
        return hooks.endpoints(config, allow_private)[1]
    named = query.get(facts.auth.token_host_param) if facts.auth.token_host_param else None
    return oauth.token_url(facts, named, allow_private)


def redirect_uri(request: web.Request) -> str:
    base = request.app[CONFIG].public_url.rstrip("/")
    if not base:
        raise ProblemError(
            "not-configured",
            "BIZOSAAS_PUBLIC_URL (setting public_url) is not set: OAuth2 needs the platform's public address for "
            f"its redirect URI ({CALLBACK_PATH}), which is never taken from the request",
        )
    return base + CALLBACK_PATH


@routes.route(
    "GET",
    "/v1/connectors/{connector_id}/oauth/authorize",
    permission="connectors:write",
    summary="Start connecting an OAuth2 connector: 302 to the provider's authorization page (state + PKCE S256)",
    status=302,
    errors=(404, 409, 501),
)
async def authorize(request: web.Request) -> web.Response:
    location = await authorization_url(request, request.match_info["connector_id"])
    # a Response, not web.HTTPFound: the error middleware turns raised HTTP exceptions into problems
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


async def authorization_url(request: web.Request, connector_id: str, return_to: str = "") -> str:
    """The provider's authorization page for this connector, with a new one-time state; `return_to` (a portal
    page) makes the callback send the browser back there instead of answering JSON."""
    tenant, app = tenant_of(request), request.app
    async with tenant_transaction(app[POOL], tenant) as conn:
        row = await conn.fetchrow("SELECT provider, config FROM connectors WHERE id = $1", connector_id)
    if row is None:
        raise ProblemError("not-found", "no such connector")
    provider, config = row["provider"], _config(row["config"])
    facts = get_facts(provider)
    if facts.auth.kind != "oauth2":
        raise ProblemError("conflict", f"{provider} does not authenticate with OAuth2 (auth: {facts.auth.kind})")
    callback = redirect_uri(request)
    values = await app[SECRETS].read(tenant, connector_id, fresh=True) or {}
    if not values.get("client_id"):
        raise ProblemError(
            "conflict", f"the connector has no client_id: PATCH /v1/connectors/{connector_id} with secrets.client_id"
        )
    state, challenge = await oauth.begin(
        app[REDIS],
        tenant_id=tenant,
        connector_id=connector_id,
        provider=provider,
        principal=principal(request).subject,
        redirect_uri=callback,
        return_to=return_to,
    )
    base = None
    if hooks := get_oauth_hooks(provider):  # each connector's own authorization page (a Shopify shop's)
        try:
            base, _ = hooks.endpoints(config, app[CONFIG].allow_private_urls)
        except hooks.REFUSED as exc:
            raise ProblemError("conflict", f"{exc}: PATCH /v1/connectors/{connector_id} with a valid config") from None
    return oauth.authorize_url(facts, str(values["client_id"]), callback, state, challenge, base)


@routes.route(
    "GET",
    CALLBACK_PATH,
    permission=PUBLIC,
    summary="Where the provider sends the user back: consumes the state, exchanges the code, stores the tokens",
    query=CallbackQuery,
    response=Connected,
    errors=(400, 404),
)
async def callback(request: web.Request) -> web.Response:
    app, query = request.app, request.query
    read_query(request, CallbackQuery)  # the documented shape; each provider's own parameters are read below
    pending = await oauth.take_state(app[REDIS], query.get("state", ""))
    if pending is None:
        raise ProblemError(
            "oauth-state",
            "the state is unknown, expired or already used; start again at "
            "GET /v1/connectors/{connector_id}/oauth/authorize",
        )
    request[LOG_TENANT], request[LOG_CONNECTOR] = pending.tenant_id, pending.connector_id
    if not pending.return_to:
        return json_response(await _complete(request, pending))
    # started from the portal: back to its page, which says how it went (the reason is in the gateway's log)
    try:
        await _complete(request, pending)
    except ProblemError as exc:
        log.warning("oauth connect from the portal failed: %s", exc.detail, extra={"tenant_id": pending.tenant_id})
        return _back(pending.return_to, "oauth-failed")
    return _back(pending.return_to, "oauth")


def _back(page: str, done: str) -> web.Response:
    return web.Response(status=303, headers={"Location": f"{page}?done={done}", "Cache-Control": "no-store"})


async def _complete(request: web.Request, pending: oauth.PendingAuthorization) -> Connected:
    """Exchange the callback's code and store the tokens (ProblemError: nothing was stored)."""
    app, query = request.app, request.query
    if error := query.get("error"):  # the user declined, or the provider refused the request
        raise ProblemError("bad-request", f"the provider answered {error[:100]!r}; nothing was stored")
    code = query.get("code", "")
    if not code:
        raise ProblemError("bad-request", "the callback carries no code; nothing was stored")
    try:
        facts = get_facts(pending.provider)
    except UnknownProvider:
        raise ProblemError("not-found", "the connector's provider is gone") from None
    allow_private = app[CONFIG].allow_private_urls
    store = app[SECRETS]
    values = await store.read(pending.tenant_id, pending.connector_id, fresh=True)
    async with tenant_transaction(app[POOL], pending.tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT config FROM connectors WHERE id = $1 AND status <> 'disconnected'", pending.connector_id
        )
    if not row or not values or not values.get("client_id"):
        raise ProblemError("not-found", "the connector (or its client credentials) is gone; nothing was stored")
    try:
        url = _token_url(facts, query, values, _config(row["config"]), allow_private)
    except (oauth.TokenHostRefused, ValueError) as exc:  # hooks refuse with a ValueError (Shopify's ShopRefused)
        log.warning("oauth callback refused: %s", exc, extra={"tenant_id": pending.tenant_id})
        raise ProblemError("bad-request", f"{exc}; nothing was sent there, nothing was stored") from None
    try:
        tokens = await oauth.exchange_code(
            url,
            client_id=str(values["client_id"]),
            client_secret=str(values.get("client_secret", "")),
            code=code,
            redirect_uri=pending.redirect_uri,
            verifier=pending.verifier,
            allow_private=allow_private,
            token_auth=facts.auth.token_auth,
        )
        finish = getattr(get_oauth_hooks(facts.provider), "finish", None)
        if finish is not None:  # a provider's step after the exchange (Meta: a long-lived token for the short one)
            tokens = await finish(tokens, values, url, allow_private)
    except PermanentError as exc:  # a refused code or client, a token host that is not public
        log.warning("oauth code exchange refused: %s", exc, extra={"tenant_id": pending.tenant_id})
        raise ProblemError("bad-request", f"{exc}; nothing was stored") from None
    await store.write(pending.tenant_id, pending.connector_id, oauth.stored(values, tokens, url, facts.auth.token_auth))
    config = _config(row["config"])
    command = ConnectConnector(
        connector_id=pending.connector_id,
        provider=pending.provider,
        config=config,
        secrets_path=store.path(pending.tenant_id, pending.connector_id),
        **new_command_fields(pending.tenant_id, pending.principal),
    )
    async with tenant_transaction(app[POOL], pending.tenant_id) as conn:
        await conn.execute(
            "UPDATE connectors SET status = 'active', updated_at = now() WHERE id = $1", pending.connector_id
        )
        await record_command(conn, command)
    await send_command(app[POOL], app[PUBLISHER], command)
    return Connected(pending.connector_id, "active", tokens.expires_at)
