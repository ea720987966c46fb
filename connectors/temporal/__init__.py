"""Connector work on Temporal: `workflows.py` (deterministic, no I/O; the sandbox re-imports it, so it imports only
`shared.py`), `activities.py` (all I/O: Postgres, Redis, Vault, the provider's API), `worker.py` (both on task queue
`connectors`), `client.py` (signal-with-start, for the command runners). Inputs, results and histories carry ids
only; activities read credentials from Vault themselves. Never imported by the gateway."""
