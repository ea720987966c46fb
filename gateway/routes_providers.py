"""The providers a connector can be made for, with what a connect form needs: the config and credential fields
(which are secret), the resources that sync, the actions, how webhooks are registered. All from each provider's
`provider.toml` (connectors/facts.py); nothing here is written twice."""

from __future__ import annotations

import msgspec
from aiohttp import web

from connectors.facts import Action, Field, ProviderFacts, RestHooks
from connectors.registry import all_providers, get_facts
from gateway.routing import Routes, json_response

routes = Routes("connectors")


class ResourceView(msgspec.Struct):
    name: str
    kind: str  # the record kind it syncs into
    incremental: bool  # only what changed since the last sync is read
    deletions: str  # "listed" (the provider says what was deleted) or "reconciliation" (a full sync finds them)


class WebhooksView(msgspec.Struct):
    registration: str  # by_hand | by_setup | none
    topics: list[str]
    signature: str


class ProviderView(msgspec.Struct):
    provider: str
    title: str
    docs: str
    auth: str  # none | api_key | basic | oauth2
    resources: list[ResourceView]
    actions: list[Action]
    config_fields: list[Field]
    credential_fields: list[Field]
    webhooks: WebhooksView
    scopes: list[str] = []  # oauth2: what the user is asked to grant
    rest_hooks: RestHooks | None = None  # zapier: the outbound webhook routes it subscribes through


class ProviderList(msgspec.Struct):
    items: list[ProviderView]
    next: str | None = None  # every provider fits one page; the field keeps the list shape of every route


def provider_view(facts: ProviderFacts, topics: frozenset[str]) -> ProviderView:
    return ProviderView(
        provider=facts.provider,
        title=facts.title,
        docs=facts.docs,
        auth=facts.auth.kind,
        resources=[
            ResourceView(r.name, r.kind, bool(r.since_param), "listed" if r.deleted_since else "reconciliation")
            for r in facts.resources
        ],
        actions=list(facts.actions),
        config_fields=list(facts.config_fields),
        credential_fields=list(facts.credential_fields),
        webhooks=WebhooksView(facts.webhooks.registration, sorted(topics), facts.webhooks.signature),
        scopes=list(facts.auth.scopes),
        rest_hooks=facts.rest_hooks,
    )


def provider_views() -> list[ProviderView]:
    return [provider_view(get_facts(name), p.topics) for name, p in sorted(all_providers().items())]


@routes.route(
    "GET",
    "/v1/providers",
    permission="connectors:read",
    summary="Every provider with its capabilities and the fields its connect form asks for",
    response=ProviderList,
)
async def list_providers(request: web.Request) -> web.Response:
    return json_response(ProviderList(items=provider_views()))
