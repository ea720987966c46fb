"""A connector's config and secrets checked against its provider's declared fields (provider.toml): the create and
update routes (and so the portal's connect form) answer the same problems."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.facts import ProviderFacts, field_problems
from connectors.public_http import NotPublicAddress, check_public_url
from gateway.problems import ProblemError
from gateway.state import CONFIG


async def check_fields(
    request: web.Request,
    facts: ProviderFacts,
    config: dict[str, Any] | None,
    secrets: dict[str, str] | None,
    update: bool = False,
) -> None:
    """400 naming every bad field (provider.toml's form), including a URL the platform would fetch that is not a
    public address (connectors/public_http.py; BIZOSAAS_ALLOW_PRIVATE_URLS admits private ones in development)."""
    errors = [f"{p.field}: {p.message}" for p in field_problems(facts, config, secrets, update)]
    allow_private = request.app[CONFIG].allow_private_urls
    for f in facts.config_fields:
        value = (config or {}).get(f.name)
        if (
            f.fetched
            and isinstance(value, str)
            and value
            and not any(e.startswith(f"config.{f.name}:") for e in errors)
        ):
            try:
                await check_public_url(value, allow_private)
            except (NotPublicAddress, ValueError) as exc:
                errors.append(f"config.{f.name}: {exc}")
    if errors:
        raise ProblemError("validation", f"{facts.provider}: {errors[0]}", errors=errors)
