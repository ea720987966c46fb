"""One module per provider; each defines PROVIDER (see connectors.base.Connector)."""
