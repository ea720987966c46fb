"""Discovers provider packages: every package in `connectors/providers/` whose `__init__` defines `PROVIDER`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from connectors import providers
from connectors.base import Provider


class UnknownProvider(KeyError):
    pass


@cache
def all_providers() -> dict[str, Provider]:
    found: dict[str, Provider] = {}
    for module_info in pkgutil.iter_modules(providers.__path__):
        if not module_info.ispkg:
            continue
        package = importlib.import_module(f"{providers.__name__}.{module_info.name}")
        provider = getattr(package, "PROVIDER", None)
        if provider is not None:
            found[provider.provider] = provider
    return found


def get_provider(provider: str) -> Provider:
    try:
        return all_providers()[provider]
    except KeyError:
        raise UnknownProvider(provider) from None
