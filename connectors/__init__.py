"""Connectors: one package per provider (signature, normalization, mapping; later REST sync), found by the registry;
the normalizer runner (ingest.py) and connector credentials in Vault (credentials.py)."""
