"""One package per provider (the directory name is the provider name with underscores): `webhook.py` (signature,
delivery id, topic, handshake, normalize), `mapping.py` (the provider's objects -> entities, shared with a sync), and
`__init__.py` defining PROVIDER (see connectors.base.Provider), which the registry finds."""
