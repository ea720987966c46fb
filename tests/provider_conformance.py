"""One conformance suite every provider package passes (modelled on eventsourcing's abstract test case that every
persistence backend subclasses): `ProviderConformance` holds the tests, a subclass per provider in
tests/test_provider_conformance.py names the provider and fills in the hooks for its local server.

What every provider is held to:
- its facts (provider.toml) load and agree with its code (`check_facts`, also run by tests/test_provider_facts.py);
- its api module has what connectors/sync.py and the action activity call, a mapper for every resource's kind;
- every declared resource pages through the local provider server to the end, by the sync's own page loop
  (`connectors.sync_pages.read_page` / `last_page`): the loop ends, ids are unique, the count is the server's;
- every object the sync maps survives the stream codec (events.codec encode -> decode_event, equal);
- every declared action, with an input its schema admits, changes the local server's state;
- every signature vector in tests/fixtures/webhooks/<provider>/vectors.json verifies (a negative one is refused, a
  tampered body is refused).
A webhook-only provider (no resources) runs the facts and vector checks; the others are skipped with a reason.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import jsonschema
import pytest
from webhook_support import request

from connectors import sync_pages
from connectors.base import ApiCall, IngestContext, SignatureError, WebhookRequest
from connectors.facts import Action, Resource, base_url
from connectors.normalize import run_mapper
from connectors.registry import all_providers, get_api, get_facts, get_provider
from events import codec
from events.types import UPSERTED_BY_KIND

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "webhooks"
RECEIVED_AT_S = 1_767_225_600  # 2026-01-01T00:00:00Z
SUPPORTED_PAGINATION = ("page", "cursor")  # what connectors/sync.py pages through


def check_facts(provider: str) -> None:
    """A provider package's facts load and agree with its code (every provider, webhook-only ones too)."""
    facts = get_facts(provider)
    assert facts.provider == provider == all_providers()[provider].provider
    assert facts.docs.startswith("https://")
    names = [f.name for f in facts.config_fields + facts.credential_fields]
    assert len(names) == len(set(names)), "a field is declared twice"
    if facts.webhooks.registration == "by_hand":  # the secret the provider shows signs every delivery
        secret = next(f for f in facts.credential_fields if f.name == "webhook_secret")
        assert secret.required and secret.secret
    if facts.webhooks.registration == "by_setup":  # set-up registers them; a secret given means "added by hand"
        secret = next(f for f in facts.credential_fields if f.name == "webhook_secret")
        assert not secret.required and secret.secret
        api = get_api(provider)
        assert callable(api.register_webhooks) and callable(api.unregister_webhooks)
    assert all(f.secret for f in facts.credential_fields), "credentials live in Vault: every one is secret"
    declared = {f.name for f in facts.credential_fields}
    if facts.auth.kind == "basic":
        assert {facts.auth.username_field, facts.auth.password_field} <= declared
    if facts.auth.kind == "api_key":
        assert facts.auth.key_field in declared
    for resource in facts.resources:
        assert resource.kind in UPSERTED_BY_KIND, f"{resource.name} maps to an unknown record kind {resource.kind}"
        assert 1 <= resource.page_size <= 100
        assert bool(resource.since_param) == bool(resource.cursor_field), resource.name
    for action in facts.actions:
        jsonschema.Draft202012Validator.check_schema(action.input_schema)
    if facts.auth.kind == "oauth2":  # connectors/oauth.py: the flow and the refresh need these
        assert facts.auth.authorize_url.startswith("https://") and facts.auth.token_url.startswith("https://")
        assert facts.auth.scopes and all(facts.auth.scopes)
        assert {"client_id", "client_secret"} <= declared
        assert bool(facts.auth.token_host_param) == bool(facts.auth.token_hosts)
        assert all(h.startswith("https://") and urlsplit(h).path == "" for h in facts.auth.token_hosts)
        if facts.auth.token_hosts:  # the default token endpoint is one of the documented hosts
            origin = urlsplit(facts.auth.token_url)
            assert f"{origin.scheme}://{origin.netloc}" in facts.auth.token_hosts
    if facts.api is not None:
        sample = {f.name: "https://shop.example.com/" for f in facts.config_fields if f.kind == "url"}
        sample |= {f.name: f.choices[0] for f in facts.config_fields if f.kind == "choice" and f.required}
        sample |= {f.name: "sample" for f in facts.config_fields if f.kind == "text" and f.required}  # a workspace
        filled = base_url(facts, sample)
        assert filled.startswith(("https://", *sample.values())), filled
    # a URL the platform fetches is a config field of kind url (connector validation checks its address)
    assert all(f.kind == "url" for f in facts.config_fields if f.fetched)
    if facts.rest_hooks is not None:  # BizOSaaS as the source: every route named is one the gateway serves
        from gateway.app import ROUTE_MODULES

        served = {f"{spec.method} {spec.template}" for module in ROUTE_MODULES for spec in module.routes.specs}
        hooks = facts.rest_hooks
        for route in (hooks.event_types, hooks.subscribe, hooks.unsubscribe, hooks.sample):
            assert route in served, f"{provider}: rest_hooks names {route!r}, which the gateway does not serve"
        assert facts.webhooks.registration == "none", "a REST-hook subscriber sends nothing to a webhook URL"


@dataclass(frozen=True)
class SignedVector:
    """A delivery as the gateway would build it from a vector, the secrets to verify with, and when."""

    name: str
    request: WebhookRequest
    secrets: list[str]
    now_s: float
    valid: bool = True


def vectors_file(provider: str) -> Path:
    return FIXTURES / provider / "vectors.json"


def load_vectors(provider: str) -> dict[str, Any]:
    return json.loads(vectors_file(provider).read_text())


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def body_file_vectors(
    provider: str,
    headers: Callable[[dict[str, Any]], dict[str, str]],
    secret: str = "secret",
    lists: tuple[str, ...] = ("derived_vectors", "negative_vectors"),
    now_s: Callable[[dict[str, Any]], float] = lambda v: time.time(),
    url: str | None = None,
) -> list[SignedVector]:
    """The vectors of `lists` whose body is a fixture file (`body_file`), each with the headers `headers` makes of
    it, sent to the vector's `url` where the signature covers it, signed with its `secret`; valid unless it says
    `expected_valid: false`."""
    found = []
    vectors = load_vectors(provider)
    for v in (v for name in lists for v in vectors[name]):
        delivery = request(fixture(provider, v["body_file"]), headers(v))
        if url is not None:
            delivery = replace(delivery, url=v[url])
        found.append(SignedVector(v["body_file"], delivery, [v[secret]], now_s(v), v.get("expected_valid", True)))
    return found


def conformance_cases(base: type | None = None) -> list[type]:
    """Every concrete case (one naming its `provider`) below `base`, through intermediate family bases."""
    found = []
    for cls in (base or ProviderConformance).__subclasses__():
        found += ([cls] if "provider" in vars(cls) else []) + conformance_cases(cls)
    return found


class ProviderConformance:
    """Subclass with `provider` set; a provider with resources also names its local server (`server_type`) and
    implements the hooks its server does not answer the usual way."""

    provider: ClassVar[str]
    pages_seeded: ClassVar[float] = 2.5  # objects seeded per resource, in pages of its page_size
    server_type: ClassVar[Callable[[], Any] | None] = None  # the local provider server; None: webhooks only
    api_base: ClassVar[tuple[ModuleType, str] | None] = None  # (api module, path on the server) for its API_BASE

    # --- hooks ------------------------------------------------------------------------------------------------

    def new_server(self) -> Any:
        """The local provider server (an object with `app()` and a settable `url`); None: webhooks only."""
        return None if self.server_type is None else self.server_type()

    def prepare(self, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the provider's api module at the server where its URL is not in the config (Stripe)."""
        if self.api_base is not None:
            module, path = self.api_base
            monkeypatch.setattr(module, "API_BASE", server.url + path)

    def call(self, server: Any) -> ApiCall:
        raise NotImplementedError

    def seed(self, server: Any, resource: Resource, count: int) -> None:
        """`count` more objects of the resource (most servers seed by resource name)."""
        server.seed(**{resource.name: count})

    def server_ids(self, server: Any, resource: Resource) -> list[str]:
        """The ids of the resource's objects the server would list."""
        return [str(i) for i in server.ids(resource.name)]

    def action_input(self, server: Any, action: Action) -> dict[str, Any]:
        raise NotImplementedError

    def action_applied(self, server: Any, action: Action, input: dict[str, Any], result: dict[str, Any]) -> bool:
        raise NotImplementedError

    def tampered(self, delivery: WebhookRequest) -> WebhookRequest:
        """The delivery changed where its proof covers it (a signature covers the body's bytes)."""
        return request(delivery.body + b" ", dict(delivery.headers), delivery.content_type)

    def signed_vectors(self) -> list[SignedVector]:
        """Every vector of tests/fixtures/webhooks/<provider>/vectors.json as a delivery."""
        return []

    # --- fixtures ---------------------------------------------------------------------------------------------

    @property
    def facts(self):
        return get_facts(self.provider)

    @pytest.fixture
    async def server(self, monkeypatch):
        from factories import local_http_server

        made = self.new_server()
        if made is None:
            pytest.skip(f"{self.provider} declares no resources: webhooks only")
        async with local_http_server(made.app()) as url:
            made.url = url
            self.prepare(made, monkeypatch)
            yield made

    # --- the tests --------------------------------------------------------------------------------------------

    def test_the_facts_load_and_agree_with_the_code(self):
        check_facts(self.provider)

    def test_the_api_module_has_what_syncs_and_actions_call(self):
        api, facts = get_api(self.provider), self.facts
        assert api is not None or not facts.resources, "resources are read by an api module"
        assert api is None or facts.api is not None, "an api module needs [api] in provider.toml (its base URL)"
        if api is None:
            assert not facts.actions, "actions run through the api module"
            return
        # an api module without resources (Telegram: actions and webhook registration only) still has what the set-up
        # calls; the sync's names only where there is something to sync
        assert facts.resources or facts.actions or facts.webhooks.registration == "by_setup", "an api for nothing"
        for name in (
            "test_connection",
            *(("read_page", "cursor_of", "reconciles", "MAPPERS") if facts.resources else ()),
        ):
            assert hasattr(api, name), f"{self.provider}'s api module has no {name}"
        for resource in facts.resources:
            assert resource.pagination in SUPPORTED_PAGINATION, resource.name
            assert resource.kind in api.MAPPERS, f"{resource.name}: no mapper for {resource.kind}"
        for action in facts.actions:
            assert callable(getattr(api, action.name, None)), f"action {action.name} has no function"

    async def test_every_resource_pages_to_the_end(self, server):
        api, call = get_api(self.provider), self.call(server)
        await api.test_connection(call)
        for resource in self.facts.resources:
            count = int(resource.page_size * self.pages_seeded)
            self.seed(server, resource, count)
            expected = self.server_ids(server, resource)
            assert len(expected) >= count
            seen: list[str] = []
            after, number, bound = None, 0, math.ceil(len(expected) / resource.page_size) + 1
            while True:
                number += 1
                assert number <= bound, f"{resource.name}: the page loop does not end ({number} pages)"
                page = await sync_pages.read_page(api, call, resource, number, None, None, after)
                assert len(page.objects) <= resource.page_size
                seen += [str(o["id"]) for o in page.objects]
                if sync_pages.last_page(resource, number, page):
                    break
                after = page.next_cursor
            assert len(seen) == len(set(seen)), f"{resource.name}: an id was listed twice"
            assert sorted(seen) == sorted(expected), f"{resource.name}: listed {len(seen)} of {len(expected)}"

    async def test_every_mapped_object_round_trips_through_the_stream_codec(self, server):
        api, call = get_api(self.provider), self.call(server)
        for resource in self.facts.resources:
            self.seed(server, resource, 3)
            page = await sync_pages.read_page(api, call, resource, 1, None, None, None)
            assert page.objects, resource.name
            for obj in page.objects:
                version = sync_pages.version_of(api, resource, obj)
                ctx = IngestContext(
                    tenant_id="tenant-conformance",
                    connector_id="con_conformance",
                    delivery_id=f"sync:{resource.name}:{obj['id']}:{version}",
                    received_at=datetime.fromtimestamp(RECEIVED_AT_S, UTC),
                    config=dict(call.config),
                )
                mapper = api.MAPPERS[resource.kind]
                events = run_mapper(ctx, self.provider, resource.name, lambda out, o=obj, m=mapper: m(out, o), False)
                assert events, f"{resource.name} {obj['id']}: no events"
                assert (events[0].subject.kind, events[0].subject.external_id) == (resource.kind, str(obj["id"]))
                assert all(e.raw_ref is None for e in events)
                for event in events:
                    assert codec.decode_event(codec.encode(event)) == event

    async def test_every_action_changes_the_server(self, server):
        api, call = get_api(self.provider), self.call(server)
        if not self.facts.actions:
            pytest.skip(f"{self.provider} declares no actions")
        for action in self.facts.actions:
            given = self.action_input(server, action)
            jsonschema.validate(given, action.input_schema)
            result = await getattr(api, action.name)(call, **given)
            assert isinstance(result, dict) and "id" in result, "an action answers the provider's object"
            assert self.action_applied(server, action, given, result), f"{action.name} changed nothing"

    def test_every_signature_vector_verifies(self):
        provider = get_provider(self.provider)
        signed = self.signed_vectors()
        if not vectors_file(self.provider).exists():
            assert not signed
            pytest.skip(f"no tests/fixtures/webhooks/{self.provider}/vectors.json")
        assert signed, "vectors.json exists: the subclass must turn its vectors into deliveries"
        for vector in signed:
            if vector.valid:
                provider.verify(vector.request, vector.secrets, vector.now_s)
                tampered = self.tampered(vector.request)
                with pytest.raises(SignatureError):
                    provider.verify(tampered, vector.secrets, vector.now_s)
            else:
                with pytest.raises(SignatureError):
                    provider.verify(vector.request, vector.secrets, vector.now_s)
