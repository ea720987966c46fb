"""Discovers provider packages: every package in `connectors/providers/` whose `__init__` defines `PROVIDER`, with
its facts (`provider.toml` beside it)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from connectors import providers
from connectors.base import Provider
from connectors.facts import ProviderFacts, load_facts


class UnknownProvider(KeyError):
    pass


@cache
def _packages() -> dict[str, tuple[Provider, ProviderFacts, str]]:
    """provider name -> (its Provider, its facts, its package's module name: `zoho-crm` lives in `zoho_crm`)."""
    found: dict[str, tuple[Provider, ProviderFacts, str]] = {}
    for module_info in pkgutil.iter_modules(providers.__path__):
        if not module_info.ispkg:
            continue
        package = importlib.import_module(f"{providers.__name__}.{module_info.name}")
        provider = getattr(package, "PROVIDER", None)
        if provider is not None:
            facts = load_facts(Path(package.__file__).parent / "provider.toml")
            if facts.provider != provider.provider:
                raise ValueError(
                    f"{package.__name__}: provider.toml names {facts.provider!r}, the code {provider.provider!r}"
                )
            found[provider.provider] = (provider, facts, package.__name__)
    return found


@cache
def all_providers() -> dict[str, Provider]:
    return {name: found[0] for name, found in _packages().items()}


def get_provider(provider: str) -> Provider:
    try:
        return all_providers()[provider]
    except KeyError:
        raise UnknownProvider(provider) from None


def get_facts(provider: str) -> ProviderFacts:
    try:
        return _packages()[provider][1]
    except KeyError:
        raise UnknownProvider(provider) from None


def get_oauth_hooks(provider: str):
    """The provider package's `oauth_hooks.py` (per-connector authorize and token URLs, a callback check where the
    callback carries more to check than the platform's state, a `finish` where the tokens need one), or None
    when the facts' URLs serve every connector (Zoho). The OAuth2 connect routes call it."""
    try:
        module = f"{_packages()[provider][2]}.oauth_hooks"
    except KeyError:
        raise UnknownProvider(provider) from None
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def get_api(provider: str):
    """The provider package's `api.py` (read_page, cursor_of, reconciles, MAPPERS and its actions), imported on first
    use; None for a webhooks-only provider. Only syncs and actions call it (never the gateway)."""
    try:
        module = f"{_packages()[provider][2]}.api"
    except KeyError:
        raise UnknownProvider(provider) from None
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
