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
def _packages() -> dict[str, tuple[Provider, ProviderFacts]]:
    found: dict[str, tuple[Provider, ProviderFacts]] = {}
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
            found[provider.provider] = (provider, facts)
    return found


@cache
def all_providers() -> dict[str, Provider]:
    return {name: provider for name, (provider, _) in _packages().items()}


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


def get_api(provider: str):
    """The provider package's `api.py` (read_page, cursor_of, reconciles, MAPPERS and its actions), imported on first
    use; None for a webhooks-only provider. Only syncs and actions call it (never the gateway)."""
    get_provider(provider)  # UnknownProvider for a name that is not a provider package
    try:
        return importlib.import_module(f"{providers.__name__}.{provider}.api")
    except ModuleNotFoundError as exc:
        if exc.name == f"{providers.__name__}.{provider}.api":
            return None
        raise
