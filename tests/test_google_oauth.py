"""One Google OAuth2 for the four Google providers: each provider.toml's [auth] is Google's (the shared client's
GOOGLE_AUTH: authorization and token endpoints, offline access with consent, space-separated scopes), only the scopes
differ; the connect route sends the user to Google's authorization page with them and PKCE."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from oauth_server import CLIENT_ID, CLIENT_SECRET

from connectors.providers.google_common.client import GOOGLE_AUTH
from connectors.registry import all_providers, get_facts

GOOGLE = sorted(p for p in all_providers() if p.startswith("google-"))
SCOPES = {
    "google-ads": ["https://www.googleapis.com/auth/adwords"],
    "google-analytics": [
        "https://www.googleapis.com/auth/analytics.readonly",
        "https://www.googleapis.com/auth/analytics.edit",  # create_key_event
    ],
    "google-merchant": ["https://www.googleapis.com/auth/content"],
    "google-tag-manager": [
        "https://www.googleapis.com/auth/tagmanager.readonly",
        "https://www.googleapis.com/auth/tagmanager.edit.containerversions",
        "https://www.googleapis.com/auth/tagmanager.publish",
    ],
}


@pytest.mark.parametrize("provider", GOOGLE)
def test_every_google_provider_authorizes_with_google(provider):
    auth = msgspec.structs.asdict(get_facts(provider).auth)
    assert {k: auth[k] for k in GOOGLE_AUTH} == GOOGLE_AUTH
    assert auth["scopes"] == SCOPES[provider]
    assert not auth["token_host_param"] and not auth["token_hosts"]  # one token endpoint for every account


async def test_the_connect_route_sends_the_user_to_google(make_gateway):
    assert "google-ads" in GOOGLE
    gw = await make_gateway(public_url="https://bizosaas.example.com")
    _, key = await gw.create_tenant()
    body = {
        "provider": "google-ads",
        "name": "ads",
        "config": {"customer_id": "123-456-7890"},
        "secrets": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "developer_token": "dev"},
    }
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    connector = (await resp.json())["id"]
    resp = await gw.get(f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(key), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert (params["access_type"], params["prompt"], params["response_type"]) == ("offline", "consent", "code")
    assert params["scope"] == "https://www.googleapis.com/auth/adwords" and params["client_id"] == CLIENT_ID
    assert params["code_challenge_method"] == "S256" and len(params["state"]) >= 32
    assert params["redirect_uri"] == "https://bizosaas.example.com/v1/oauth/callback"
