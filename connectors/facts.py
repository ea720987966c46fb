"""A provider's facts as data: `connectors/providers/<provider>/provider.toml`, read with tomllib into these Structs.

The file says what a person and the platform need to know without reading code: how it authenticates, where its API
lives (a URL template filled from the connector's config), which resources sync and how they page, which topics its
webhooks carry and how they are registered, which actions it offers with their input schema, and the fields a
connect form asks for (which are secret). Code lives in the package's `webhook.py`, `mapping.py` and `api.py`, and
only where the provider needs it.

Validation of a connector's config and secrets against these fields is here too, so the gateway's create route and
the set-up workflow answer the same thing: each bad field by name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

AuthKind = Literal["none", "api_key", "basic", "oauth2"]
# page: page/per_page with a total-pages header; link: the next URL in a Link header; cursor: the last id seen
# (`starting_after`); token: a next-page token in the body; offset: offset/limit
Pagination = Literal["page", "link", "cursor", "token", "offset"]
FieldKind = Literal["text", "url", "secret", "email", "number", "choice"]


class Field(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str  # as the provider's documentation spells it (store_url, consumer_key ...)
    label: str
    kind: FieldKind = "text"
    required: bool = True
    secret: bool = False  # stored in Vault only; never shown again, logged, or carried in an event or a workflow
    help: str = ""
    choices: list[str] = []  # for kind = "choice"
    # a URL the platform will fetch: only public addresses (BIZOSAAS_ALLOW_PRIVATE_URLS admits others in development)
    fetched: bool = False


class Revoke(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a disconnect revokes the OAuth2 grant the platform obtained (connectors/oauth_tokens.py `revoke`). The
    request goes to the origin of the token endpoint that issued the tokens (Vault's `oauth_token_url`: Zoho's data
    centre, the Shopify shop), so a token only ever goes back where it came from."""

    method: Literal["POST", "DELETE"] = "POST"
    path: str  # below that origin
    # refresh_token: the refresh token when there is one (revoking it ends its access tokens too), else the access one
    token: Literal["refresh_token", "access_token"] = "refresh_token"
    query_param: str = ""  # the token is sent as this query parameter (Zoho: `token`) ...
    header: str = ""  # ... or in this header (Shopify: X-Shopify-Access-Token)


class Auth(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: AuthKind
    username_field: str = ""  # basic: the credential fields sent as user and password
    password_field: str = ""
    header: str = ""  # api_key: the header carrying it ("Authorization: Bearer" when empty)
    key_field: str = ""
    authorize_url: str = ""  # oauth2
    token_url: str = ""
    scopes: list[str] = []
    scope_separator: str = " "  # RFC 6749 joins scopes with spaces; some providers (Zoho) with commas
    # how the client authenticates at the token endpoint (RFC 6749 2.3.1): its id and secret in the form body
    # (client_secret_post), or in an HTTP Basic Authorization header (client_secret_basic: Pinterest requires it)
    token_auth: Literal["post", "basic"] = "post"
    authorize_params: dict[str, str] = {}  # sent with every authorization request (access_type = "offline" ...)
    # a callback query parameter naming the accounts server whose token endpoint serves this user (Zoho's
    # `accounts-server`): token_url's origin is replaced by it, but only by one of `token_hosts` (scheme and host as
    # documented by the provider); a token is never sent anywhere else
    token_host_param: str = ""
    token_hosts: list[str] = []
    revoke: Revoke | None = None  # oauth2: None when the provider offers no way to revoke a grant by API


class Resource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str  # the provider's name for the collection (orders, products ...)
    kind: str  # the platform's record kind it maps to (order, product, contact ...)
    path: str  # below the API base URL
    pagination: Pagination
    page_size: int = 100
    total_pages_header: str = ""  # pagination = "page"
    since_param: str = ""  # the query parameter for "changed since" (incremental sync); empty: every sync is full
    cursor_field: str = ""  # the object's field whose greatest value becomes the checkpoint
    deleted_since: bool = False  # the provider lists deletions; otherwise deletions come from full reconciliation
    # what the checkpoint is: "time", the greatest modification time seen (read again from a second before it);
    # "position", the provider's own ordered position of the last object read (IMAP's `<UIDVALIDITY>:<UID>`),
    # handed back as `since` as it is, with no time window: the next run reads what came after it
    checkpoint: Literal["time", "position"] = "time"


class Action(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    title: str
    input_schema: dict[str, Any]  # JSON Schema of the action's input


class Webhooks(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # by_hand: the user pastes the webhook URL at the provider and gives us the secret it shows (required then);
    # by_setup: the set-up workflow registers them and stores their secret; none: the provider sends no webhooks.
    # The topics are the provider code's own table (webhook.py), not repeated here.
    registration: Literal["by_hand", "by_setup", "none"] = "by_hand"
    signature: str = ""  # the scheme, in words (header and algorithm)


class Api(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str  # a template over config fields: "{store_url}/wp-json/wc/v3/"
    retry_after_header: str = "Retry-After"  # honoured on 429 and 503
    rate_limit_headers: list[str] = []  # headers the provider reports its remaining budget in


class RestHooks(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """BizOSaaS as the source (Zapier's REST hooks): the platform routes an automation service calls, each
    "METHOD /path" as gateway/routes_hooks.py serves it (the conformance suite checks they exist)."""

    auth: str  # how the caller authenticates, in words
    event_types: str  # the trigger types on offer
    subscribe: str
    subscribe_body: str  # the JSON body, with the caller's placeholders
    unsubscribe: str
    sample: str  # a trigger's sample data
    signature: str  # how deliveries are signed, in words


class ProviderFacts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    provider: str
    title: str
    docs: str  # where these facts come from
    auth: Auth
    api: Api | None = None  # None: webhooks only
    config_fields: list[Field] = []
    credential_fields: list[Field] = []
    resources: list[Resource] = []
    actions: list[Action] = []
    webhooks: Webhooks = Webhooks()
    rest_hooks: RestHooks | None = None  # the platform's outbound webhooks as this provider subscribes to them

    def resource(self, name: str) -> Resource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(f"{self.provider} has no resource {name!r}; it has {[r.name for r in self.resources]}")


def load_facts(path: Path) -> ProviderFacts:
    """Read and check a provider.toml; the error names the file and the offending key."""
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), ProviderFacts)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from None


class FieldProblem(msgspec.Struct, frozen=True):
    field: str  # "config.store_url", "secrets.consumer_key"
    message: str


def field_problems(
    facts: ProviderFacts, config: dict[str, Any] | None, secrets: dict[str, str] | None, update: bool = False
) -> list[FieldProblem]:
    """What is wrong with a connector's config and secrets, one problem per field (empty: nothing). None skips a
    part (an update that leaves it as it is). An update's secrets are checked as given: the others stay in Vault."""
    problems = []
    for where, declared, given, complete in (
        ("config", facts.config_fields, config, True),
        ("secrets", facts.credential_fields, secrets, not update),
    ):
        if given is None:
            continue
        known = {f.name for f in declared}
        problems += [
            FieldProblem(f"{where}.{name}", f"unknown field; {facts.provider} takes {sorted(known) or 'none'}")
            for name in sorted(set(given) - known)
        ]
        for f in declared:
            value = given.get(f.name)
            if value in (None, ""):
                if f.required and complete:
                    problems.append(FieldProblem(f"{where}.{f.name}", f"required: {f.label}"))
                continue
            if message := _kind_problem(f, value):
                problems.append(FieldProblem(f"{where}.{f.name}", message))
    return problems


def _kind_problem(f: Field, value: Any) -> str | None:
    if f.kind == "number":
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "must be a number"
    if not isinstance(value, str):
        return "must be a string"
    if f.kind == "url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "must be an http(s) URL with a host, e.g. https://shop.example.com"
    if f.kind == "email" and "@" not in value:
        return "must be an email address"
    if f.kind == "choice" and value not in f.choices:
        return f"must be one of {f.choices}"
    return None


def base_url(facts: ProviderFacts, config: dict[str, Any]) -> str:
    """The API's base URL for one connector (its config fills the template), always ending in '/'."""
    if facts.api is None:
        raise ValueError(f"{facts.provider} has no API to call (webhooks only)")
    filled = facts.api.base_url.format(**{k: str(v).rstrip("/") for k, v in config.items()})
    return filled if filled.endswith("/") else filled + "/"
