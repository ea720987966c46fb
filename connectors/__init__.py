"""Connectors: one module per provider (signature, normalization, later REST sync), found by the registry."""
