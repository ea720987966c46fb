"""Discovers provider modules: every module in `connectors/providers/` that defines `CONNECTOR`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from connectors import providers
from connectors.base import Connector


class UnknownProvider(KeyError):
    pass


@cache
def all_connectors() -> dict[str, Connector]:
    found: dict[str, Connector] = {}
    for module_info in pkgutil.iter_modules(providers.__path__):
        module = importlib.import_module(f"{providers.__name__}.{module_info.name}")
        connector = getattr(module, "CONNECTOR", None)
        if connector is not None:
            found[connector.provider] = connector
    return found


def get_connector(provider: str) -> Connector:
    try:
        return all_connectors()[provider]
    except KeyError:
        raise UnknownProvider(provider) from None
