"""One module per provider; each defines CONNECTOR (see connectors.base.Connector)."""
