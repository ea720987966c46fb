"""The agent run workflow on Temporal (task queue `agents`): workflows.py, activities.py, worker.py, client.py."""
